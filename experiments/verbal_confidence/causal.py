"""Stages "steering", "patching", "noising", "swap" and "ood" (verbal_confidence.md §6.1–6.5).

Each stage picks its trials from the behaviour table, builds its specs from stored activations,
and runs `interp.sweep` batch by batch; every batch is one committed part, so a killed run
resumes at the batch it was on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import torch
from safetensors.torch import save_file

from experiments.verbal_confidence.context import VerbalConfidenceContext
from interp.analysis import OODStats, length_matched_donors, natural_variation, ood_stats, steering_vector
from interp.errors import ConfigError
from interp.forward import capture
from interp.interventions import CorruptEmbeddings, EmbeddingMeans, MeanAblate, Patch, Steer, embedding_means, interventions
from interp.io import atomic_replace, tensor_name
from interp.prompting import Batch

REGIMES = (("high", "high"), ("high", "low"), ("low", "high"), ("low", "low"))
"""(recipient pool, donor pool) of the 2×2 swap design."""


def rows_of(batch: Batch, ids: Sequence[str], values: torch.Tensor) -> torch.Tensor:
    """The rows of `values` ([len(ids), d]) for the batch's trials, in batch order."""
    where = {trial_id: k for k, trial_id in enumerate(ids)}
    return values[[where[t] for t in batch.trial_ids]]


def _labelled(table: pd.DataFrame, groups: pd.DataFrame) -> pd.DataFrame:
    return table.merge(groups[["trial_id", "group", "selected_by"]], on="trial_id", how="left")


def _test_groups(ctx: VerbalConfidenceContext, pool: pd.DataFrame, n_high: int, n_low: int, key: str, exclude: Iterable[str] = ()) -> pd.DataFrame:
    """High and low trials drawn at random within the top-3 / bottom-3 classes (see `sample`)."""
    selection = ctx.config.selection
    high = ctx.sample(pool, n_high, selection.high_classes, True, f"{key} high", exclude=exclude).assign(group="high")
    low = ctx.sample(pool, n_low, selection.low_classes, False, f"{key} low", exclude=set(exclude) | set(high["trial_id"])).assign(group="low")
    return pd.concat([high, low], ignore_index=True)


def _require(frame: pd.DataFrame, what: str) -> None:
    if frame.empty:
        raise ConfigError(f"{what}: no eligible trials (check the set sizes and the behaviour statuses)")


STORES = {"categorical": "activations", "numeric": "activations_numeric"}
"""The activation store of each steered prompt."""


def steering_roles(ctx: VerbalConfidenceContext, prompt: str) -> list[str]:
    """The steering roles that `prompt`'s template has (the numeric prompt has no FCC)."""
    have = ctx.template(prompt).roles
    return [role for role in ctx.config.steering.roles if role in have]


def steering_vectors(ctx: VerbalConfidenceContext, prompt: str = "categorical") -> tuple[dict[tuple[int, str], torch.Tensor], pd.DataFrame]:
    """v_high per (layer, role) of `prompt` from the H/L vector trials (the highest-ranked
    trials of the two vector classes, §6.1), and the selection table; committed as a part (the
    categorical ones also copied to steering_vectors.safetensors)."""
    spec = ctx.config.steering
    roles = steering_roles(ctx, prompt)
    pool = ctx.eligible("activation", list(spec.roles))
    vector_pool = pool[pool["correct"].fillna(False).astype(bool)] if spec.require_correct else pool
    high = ctx.select(vector_pool, int(spec.n_vector), [spec.vector_high_class], highest=True).assign(group="vector_high")
    low = ctx.select(vector_pool, int(spec.n_vector), [spec.vector_low_class], highest=False, exclude=high["trial_id"]).assign(group="vector_low")
    _require(high, "steering vector (high)")
    _require(low, "steering vector (low)")

    def compute() -> dict[str, torch.Tensor]:
        ids = pool["trial_id"].tolist()
        high_rows = [ids.index(i) for i in high["trial_id"]]
        low_rows = [ids.index(i) for i in low["trial_id"]]
        found = {}
        for layer in ctx.layers("steering"):
            for role in roles:
                acts = ctx.activations(layer, role, ids, store=STORES[prompt])
                found[tensor_name(layer, role)] = steering_vector(acts[high_rows], acts[low_rows], acts, float(spec.fraction))
        return found

    stored = ctx.run.tensor_part("steering", "vectors" if prompt == "categorical" else f"vectors-{prompt}", compute)
    if prompt == "categorical":
        atomic_replace(ctx.run.path / "steering_vectors.safetensors", lambda tmp: save_file(stored, tmp))
    vectors = {(int(k.split("/")[0][1:]), k.split("/", 1)[1]): v for k, v in stored.items()}
    return vectors, pd.concat([high, low], ignore_index=True)


def steering(ctx: VerbalConfidenceContext) -> pd.DataFrame:
    """Steering (§6.1): ±α·v at one (layer, role) on high and low test trials, on the categorical
    prompt and — with `steering.numeric` — on the numeric 0–100 prompt (its first digit read at
    CC, vectors from its own residuals); column `prompt` says which."""
    spec = ctx.config.steering
    vectors, vector_trials = steering_vectors(ctx)
    pool = ctx.eligible("activation", list(spec.roles))
    groups = _test_groups(ctx, pool, int(spec.n_test_high), int(spec.n_test_low), "steering", exclude=set(vector_trials["trial_id"]))
    _require(groups, "steering test trials")
    ctx.run.write_table("steering_trials", pd.concat([vector_trials, groups])[["trial_id", "group", "selected_by", "confidence_class", "expected_confidence", "correct"]])
    alphas = {f"{direction}_{alpha:g}": sign * float(alpha) for alpha in spec.alphas for direction, sign in (("toward_high", 1), ("toward_low", -1))}
    frames = []
    for prompt in ["categorical", *(["numeric"] if spec.numeric else [])]:
        prompt_vectors = vectors if prompt == "categorical" else steering_vectors(ctx, prompt)[0]

        def make_specs(batch: Batch, layer: int, role: str, condition: str, prompt_vectors=prompt_vectors):
            return [Steer(layer, role, prompt_vectors[(layer, role)], alpha=alphas[condition])]

        tag = "test" if prompt == "categorical" else f"test-{prompt}"
        table = ctx.sweep_parts("steering", tag, ctx.trials(groups["trial_id"]), prompt, make_specs, ctx.layers("steering"), steering_roles(ctx, prompt), list(alphas))
        frames.append(table.assign(prompt=prompt))
    table = _labelled(pd.concat(frames, ignore_index=True), groups)
    ctx.run.write_table("steering", table)
    return table


def calibration_groups(ctx: VerbalConfidenceContext) -> pd.DataFrame:
    """The calibration trials behind the embedding means and the noising means: n_calibration_high
    from the top-3 classes and n_calibration_low from the bottom-3, drawn at random from the
    calibration set (disjoint from every test set), fill-ins counted; written as the
    calibration table."""
    spec = ctx.config.patching
    pool = ctx.eligible("calibration", list(ctx.config.noising.roles))
    groups = _test_groups(ctx, pool, int(spec.n_calibration_high), int(spec.n_calibration_low), "calibration")
    _require(groups, "calibration trials")
    ctx.run.write_table("calibration", groups[["trial_id", "group", "selected_by", "confidence_class", "expected_confidence"]])
    return groups


def answer_means(ctx: VerbalConfidenceContext, span: str = "answer") -> EmbeddingMeans:
    """Position-specific input-embedding means of `span` (the answer, or the answer colon) over
    the calibration trials."""
    groups = calibration_groups(ctx)
    batches, _ = ctx.batches(ctx.trials(groups["trial_id"]), "categorical")
    return embedding_means(ctx.lm, batches, span)


def patching(ctx: VerbalConfidenceContext) -> pd.DataFrame:
    """Corruption + patching (§6.2): the answer's embeddings replaced by calibration means, then
    the clean residual restored at one (layer, role); with `patching.ac_variant` also the AC
    variant, where the answer colon is corrupted too and AC or PANL is restored."""
    spec = ctx.config.patching
    roles, layers = list(spec.roles), ctx.layers("patching")
    corruption = [CorruptEmbeddings(answer_means(ctx))]
    variants = [("answer", "", corruption, roles)]
    if spec.ac_variant:
        variants.append(("answer+AC", "_ac", [*corruption, CorruptEmbeddings(answer_means(ctx, "answer_colon"), span="answer_colon")], ["answer_colon", "panl"]))
    needed = sorted({role for *_, variant_roles in variants for role in variant_roles})
    pool = ctx.eligible("activation", needed)
    test = ctx.sample(pool, int(spec.n_test), ctx.config.selection.high_classes, True, "patching high").assign(group="high")
    _require(test, "patching test trials")
    ids = test["trial_id"].tolist()
    clean = {(layer, role): ctx.activations(layer, role, ids) for layer in layers for role in needed}
    trials = ctx.trials(ids)
    tables, recoveries = [], []
    for variant, suffix, corrupted, variant_roles in variants:

        def make_specs(batch: Batch, layer: int, role: str, condition: str, corrupted=corrupted):
            return [*corrupted, Patch(layer, role, rows_of(batch, ids, clean[(layer, role)]))]

        corrupt = ctx.sweep_parts("patching", f"corrupt{suffix}", trials, "categorical", lambda b, layer, role, c, corrupted=corrupted: list(corrupted), [-1], ["none"], [f"corrupt{suffix}"])
        patched = ctx.sweep_parts("patching", f"patched{suffix}", trials, "categorical", make_specs, layers, variant_roles, [f"patched{suffix}"])
        tables += [corrupt, patched]
        recoveries.append(ctx.readout("categorical").recovery(corrupt, patched).assign(variant=variant))
    table = _labelled(pd.concat(tables, ignore_index=True), test)
    ctx.run.write_table("patching", table)
    ctx.run.write_table("patching_recovery", pd.concat(recoveries, ignore_index=True))
    return table


def noising(ctx: VerbalConfidenceContext) -> pd.DataFrame:
    spec = ctx.config.noising
    roles, layers = list(spec.roles), ctx.layers("noising")
    calibration = calibration_groups(ctx)
    means = {(layer, role): ctx.activations(layer, role, calibration["trial_id"].tolist()).mean(0) for layer in layers for role in roles}
    groups = _test_groups(ctx, ctx.eligible("activation", roles), int(spec.n_test_high), int(spec.n_test_low), "noising")
    _require(groups, "noising test trials")

    def make_specs(batch: Batch, layer: int, role: str, condition: str):
        return [MeanAblate(layer, role, means[(layer, role)])]

    table = ctx.sweep_parts("noising", "test", ctx.trials(groups["trial_id"]), "categorical", make_specs, layers, roles, ["noised"])
    table = _labelled(table, groups)
    ctx.run.write_table("noising", table)
    return table


def swap_pools(ctx: VerbalConfidenceContext, pool: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The high and low pools: trials of the top-3 / bottom-3 classes; a pool with fewer than
    `swap.min_pool` members (at most half the trials) is filled in by rank of expected
    confidence, and the high pool leaves the low one at least that many (column selected_by)."""
    spec, selection = ctx.config.swap, ctx.config.selection
    least = min(int(spec.min_pool), len(pool) // 2)
    pools = {}
    for name, classes, highest in (("high", selection.high_classes, True), ("low", selection.low_classes, False)):
        members = int(pool["confidence_class"].isin(classes).sum())
        n = max(members, least) if name == "low" else min(max(members, least), len(pool) - least)
        exclude = pools["high"]["trial_id"] if name == "low" else ()
        pools[name] = ctx.select(pool, n, classes, highest=highest, exclude=exclude).assign(group=name)
        _require(pools[name], f"swap {name} pool")
    return pools


def swap_pairs(ctx: VerbalConfidenceContext) -> pd.DataFrame:
    """Recipient/donor pairs of every regime: recipients drawn from their pool (with replacement
    beyond the pool's size), donors length-matched from the donor pool."""
    spec = ctx.config.swap
    pools = swap_pools(ctx, ctx.eligible("activation", list(spec.roles)))
    rng = np.random.default_rng(ctx.seed)
    n = int(spec.n_recipients)
    frames = []
    for recipient_pool, donor_pool in REGIMES:
        regime = f"{donor_pool}_to_{recipient_pool}"
        source = pools[recipient_pool]
        picks = rng.permutation(len(source))[: min(n, len(source))].tolist()
        picks += rng.integers(0, len(source), max(0, n - len(source))).tolist()
        recipients = source.iloc[picks]
        pairs = length_matched_donors(recipients, pools[donor_pool], n_bins=int(spec.n_bins), seed=int(rng.integers(2**31)))
        pairs.insert(0, "regime", regime)
        pairs.insert(1, "trial_id", [f"{r}#{regime}-{k}" for k, r in enumerate(pairs["recipient"])])
        frames.append(pairs)
    return pd.concat(frames, ignore_index=True)


def swap(ctx: VerbalConfidenceContext) -> pd.DataFrame:
    spec = ctx.config.swap
    roles, layers = list(spec.roles), ctx.layers("swap")
    pairs = ctx.run.part("swap", "pairs", lambda: swap_pairs(ctx))
    all_ids = pairs["trial_id"].tolist()
    donor_values = {(layer, role): ctx.activations(layer, role, pairs["donor"].tolist()) for layer in layers for role in roles}
    frames = []
    for regime, rows in pairs.groupby("regime", sort=False):
        ids = rows["trial_id"].tolist()

        def make_specs(batch: Batch, layer: int, role: str, condition: str):
            return [Patch(layer, role, rows_of(batch, all_ids, donor_values[(layer, role)]))]

        trials = ctx.trials(rows["recipient"], copy_suffix=[t.split("#", 1)[1] for t in ids])
        frames.append(ctx.sweep_parts("swap", regime, trials, "categorical", make_specs, layers, roles, [regime]))
    table = pd.concat(frames, ignore_index=True).merge(pairs, on="trial_id", how="left")
    ctx.run.write_table("swap", table)
    return table


def ood_layer(ctx: VerbalConfidenceContext) -> int:
    """ood.layer, or the layer at 40% of the depth (the paper's 25 of 62)."""
    layer = ctx.config.ood.layer
    return round(0.4 * (ctx.n_layers - 1)) if layer is None else int(layer)


def ood(ctx: VerbalConfidenceContext) -> pd.DataFrame:
    """Where each intervention puts the residual (verbal_confidence.md §6.5), measured by forward
    passes: for steering toward high and low, noising, corrupted answer embeddings, patching (in
    the corrupted run) and swap at (ood layer, role), the residual the model carries at that
    layer and the next, against the clean run's at the same place — cosine and norm ratio —
    beside the natural variation between random pairs of clean trials there."""
    spec = ctx.config.ood
    layer = ood_layer(ctx)
    measured = [m for m in (layer, layer + 1) if m < ctx.n_layers]
    roles = list(spec.roles)
    vectors, _ = steering_vectors(ctx)
    missing = [role for role in roles if (layer, role) not in vectors]
    if missing:
        raise ConfigError(f"ood: layer {layer} × roles {missing} have no steering vector; add them to steering.layers / steering.roles")
    ids = ctx.eligible("activation", roles)["trial_id"].head(int(spec.n_trials)).tolist()
    calibration = calibration_groups(ctx)["trial_id"].tolist()
    means = {role: ctx.activations(layer, role, calibration).nanmean(0) for role in roles}
    embeddings = answer_means(ctx)
    clean = {role: ctx.activations(layer, role, ids) for role in roles}
    alpha = float(spec.alpha)
    kinds = {
        f"steer toward high, alpha {alpha:g}": lambda batch, role: [Steer(layer, role, vectors[(layer, role)], alpha=alpha)],
        f"steer toward low, alpha {alpha:g}": lambda batch, role: [Steer(layer, role, vectors[(layer, role)], alpha=-alpha)],
        "noising (calibration mean)": lambda batch, role: [MeanAblate(layer, role, means[role])],
        "corrupted answer embeddings": lambda batch, role: [CorruptEmbeddings(embeddings)],
        "patching (corrupted run, clean residual restored)": lambda batch, role: [CorruptEmbeddings(embeddings), Patch(layer, role, rows_of(batch, ids, clean[role]))],
    }
    frames = [ctx.run.part("ood", "interventions", lambda: _forward_residuals(ctx, ctx.trials(ids), roles, measured, kinds))]
    pairs = ctx.run.read_table("swap")[["trial_id", "recipient", "donor"]].drop_duplicates("trial_id").head(int(spec.n_trials))
    donors = {role: ctx.activations(layer, role, pairs["donor"].tolist()) for role in roles}
    swap_ids = pairs["trial_id"].tolist()
    swapped = {"swap (donor for recipient)": lambda batch, role: [Patch(layer, role, rows_of(batch, swap_ids, donors[role]))]}
    recipients = ctx.trials(pairs["recipient"], copy_suffix=[t.split("#", 1)[1] for t in swap_ids])
    frames.append(ctx.run.part("ood", "swap", lambda: _forward_residuals(ctx, recipients, roles, measured, swapped)))
    per_trial = pd.concat(frames, ignore_index=True)
    rows = []
    for (kind, role, at), group in per_trial.groupby(["intervention", "role", "layer"], sort=False):
        stats = OODStats(torch.tensor(group["cosine"].to_numpy()), torch.tensor(group["norm_ratio"].to_numpy()))
        rows.append(_ood_row(kind, stats, at, role))
    stored = set(ctx.store().layers)
    for role in roles:
        for at in measured:
            if at in stored:
                rows.append(_ood_row("natural variation (random pairs)", natural_variation(ctx.activations(at, role, ids), int(spec.n_pairs), seed=ctx.seed), at, role))
    table = pd.DataFrame(rows).assign(intervened_layer=layer)
    ctx.run.write_table("ood", table)
    return table


def _forward_residuals(ctx: VerbalConfidenceContext, trials: Sequence, roles: Sequence[str], layers: Sequence[int], kinds: dict) -> pd.DataFrame:
    """For each intervention kind and role: cosine and norm ratio between the residual at `layers`
    × role of each trial in the intervened forward and in the clean one, both captured by
    forward passes."""
    batches, _ = ctx.batches(list(trials), "categorical")
    rows = []
    for batch in batches:
        clean = capture(ctx.lm, batch, layers, roles)
        for kind, make in kinds.items():
            for role in roles:
                with interventions(ctx.lm, batch, make(batch, role)) as run:
                    acts = capture(ctx.lm, batch, layers, [role])
                ok = run.ok() & clean[(layers[0], role)].isfinite().all(-1)
                for at in layers:
                    stats = ood_stats(acts[(at, role)][ok], clean[(at, role)][ok])
                    trial_ids = [t for t, good in zip(batch.trial_ids, ok.tolist()) if good]
                    rows += [
                        {"intervention": kind, "role": role, "layer": at, "trial_id": t, "cosine": float(c), "norm_ratio": float(r)}
                        for t, c, r in zip(trial_ids, stats.cosine, stats.norm_ratio)
                    ]
    return pd.DataFrame(rows, columns=["intervention", "role", "layer", "trial_id", "cosine", "norm_ratio"])


def _ood_row(name: str, stats, layer: int, role: str) -> dict:
    row: dict = {"intervention": name, "layer": layer, "role": role}
    summaries = {"mean": np.mean, "min": np.min, "p1": lambda v: np.percentile(v, 1), "p99": lambda v: np.percentile(v, 99), "max": np.max}
    for key, values in (("cosine", stats.cosine), ("norm_ratio", stats.norm_ratio)):
        values = values.double().numpy()
        values = values[np.isfinite(values)]
        row["n"] = len(values)
        row.update({f"{key}_{label}": float(f(values)) if len(values) else np.nan for label, f in summaries.items()})
    return row
