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
from interp.analysis import length_matched_donors, natural_variation, ood_stats, steering_vector
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


def _test_groups(ctx: VerbalConfidenceContext, pool: pd.DataFrame, n_high: int, n_low: int, exclude: Iterable[str] = ()) -> pd.DataFrame:
    selection = ctx.config.selection
    high = ctx.select(pool, n_high, selection.high_classes, highest=True, exclude=exclude).assign(group="high")
    low = ctx.select(pool, n_low, selection.low_classes, highest=False, exclude=set(exclude) | set(high["trial_id"])).assign(group="low")
    return pd.concat([high, low], ignore_index=True)


def _require(frame: pd.DataFrame, what: str) -> None:
    if frame.empty:
        raise ConfigError(f"{what}: no eligible trials (check the set sizes and the behaviour statuses)")


def steering_vectors(ctx: VerbalConfidenceContext) -> tuple[dict[tuple[int, str], torch.Tensor], pd.DataFrame]:
    """v_high per (layer, role) from the H/L vector trials, and the selection table; committed as
    a part and copied to steering_vectors.safetensors."""
    spec = ctx.config.steering
    roles = list(spec.roles)
    pool = ctx.eligible("activation", roles)
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
                acts = ctx.activations(layer, role, ids)
                found[tensor_name(layer, role)] = steering_vector(acts[high_rows], acts[low_rows], acts, float(spec.fraction))
        return found

    stored = ctx.run.tensor_part("steering", "vectors", compute)
    atomic_replace(ctx.run.path / "steering_vectors.safetensors", lambda tmp: save_file(stored, tmp))
    vectors = {(int(k.split("/")[0][1:]), k.split("/", 1)[1]): v for k, v in stored.items()}
    return vectors, pd.concat([high, low], ignore_index=True)


def steering(ctx: VerbalConfidenceContext) -> pd.DataFrame:
    spec = ctx.config.steering
    vectors, vector_trials = steering_vectors(ctx)
    pool = ctx.eligible("activation", list(spec.roles))
    groups = _test_groups(ctx, pool, int(spec.n_test_high), int(spec.n_test_low), exclude=set(vector_trials["trial_id"]))
    _require(groups, "steering test trials")
    ctx.run.write_table("steering_trials", pd.concat([vector_trials, groups])[["trial_id", "group", "selected_by", "confidence_class", "expected_confidence", "correct"]])
    alphas = {f"{direction}_{alpha:g}": sign * float(alpha) for alpha in spec.alphas for direction, sign in (("toward_high", 1), ("toward_low", -1))}

    def make_specs(batch: Batch, layer: int, role: str, condition: str):
        return [Steer(layer, role, vectors[(layer, role)], alpha=alphas[condition])]

    table = ctx.sweep_parts("steering", "test", ctx.trials(groups["trial_id"]), "categorical", make_specs, ctx.layers("steering"), list(spec.roles), list(alphas))
    table = _labelled(table, groups)
    ctx.run.write_table("steering", table)
    return table


def calibration_groups(ctx: VerbalConfidenceContext, n_high: int, n_low: int) -> pd.DataFrame:
    """High and low trials of the calibration set (top-3 / bottom-3 classes, filled by rank)."""
    groups = _test_groups(ctx, ctx.eligible("calibration"), n_high, n_low)
    _require(groups, "calibration trials")
    return groups


def answer_means(ctx: VerbalConfidenceContext) -> EmbeddingMeans:
    """Position-specific answer-embedding means over the calibration trials."""
    spec = ctx.config.patching
    groups = calibration_groups(ctx, int(spec.n_calibration_high), int(spec.n_calibration_low))
    batches, _ = ctx.batches(ctx.trials(groups["trial_id"]), "categorical")
    return embedding_means(ctx.lm, batches, "answer")


def patching(ctx: VerbalConfidenceContext) -> pd.DataFrame:
    spec = ctx.config.patching
    roles, layers = list(spec.roles), ctx.layers("patching")
    means = answer_means(ctx)
    pool = ctx.eligible("activation", roles)
    test = ctx.select(pool, int(spec.n_test), ctx.config.selection.high_classes, highest=True).assign(group="high")
    _require(test, "patching test trials")
    ids = test["trial_id"].tolist()
    clean = {(layer, role): ctx.activations(layer, role, ids) for layer in layers for role in roles}
    trials = ctx.trials(ids)
    corrupt = ctx.sweep_parts("patching", "corrupt", trials, "categorical", lambda b, layer, role, c: [CorruptEmbeddings(means)], [-1], ["none"], ["corrupt"])

    def make_specs(batch: Batch, layer: int, role: str, condition: str):
        return [CorruptEmbeddings(means), Patch(layer, role, rows_of(batch, ids, clean[(layer, role)]))]

    patched = ctx.sweep_parts("patching", "patched", trials, "categorical", make_specs, layers, roles, ["patched"])
    table = _labelled(pd.concat([corrupt, patched], ignore_index=True), test)
    ctx.run.write_table("patching", table)
    ctx.run.write_table("patching_recovery", ctx.readout("categorical").recovery(corrupt, patched))
    return table


def noising(ctx: VerbalConfidenceContext) -> pd.DataFrame:
    spec = ctx.config.noising
    roles, layers = list(spec.roles), ctx.layers("noising")
    calibration = calibration_groups(ctx, int(ctx.config.patching.n_calibration_high), int(ctx.config.patching.n_calibration_low))
    calibration = calibration[calibration["trial_id"].isin(ctx.eligible("calibration", roles)["trial_id"])]
    _require(calibration, "noising calibration trials")
    means = {(layer, role): ctx.activations(layer, role, calibration["trial_id"].tolist()).mean(0) for layer in layers for role in roles}
    groups = _test_groups(ctx, ctx.eligible("activation", roles), int(spec.n_test_high), int(spec.n_test_low))
    _require(groups, "noising test trials")

    def make_specs(batch: Batch, layer: int, role: str, condition: str):
        return [MeanAblate(layer, role, means[(layer, role)])]

    table = ctx.sweep_parts("noising", "test", ctx.trials(groups["trial_id"]), "categorical", make_specs, layers, roles, ["noised"])
    table = _labelled(table, groups)
    ctx.run.write_table("noising", table)
    return table


def swap_pools(ctx: VerbalConfidenceContext, pool: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The high and low pools: trials of the top-3 / bottom-3 classes; a pool with fewer than
    `swap.min_pool` members is filled by rank of expected confidence (column selected_by)."""
    spec, selection = ctx.config.swap, ctx.config.selection
    pools = {}
    for name, classes, highest in (("high", selection.high_classes, True), ("low", selection.low_classes, False)):
        members = int(pool["confidence_class"].isin(classes).sum())
        n = max(members, min(int(spec.min_pool), len(pool) // 2))
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
    """Cosine and norm ratio of each intervention's residual at (ood layer, PANL) against the
    clean one, beside the natural variation between random pairs of trials."""
    spec = ctx.config.ood
    layer, role = ood_layer(ctx), "panl"
    pool = ctx.eligible("activation", [role])
    ids = pool["trial_id"].tolist()
    clean = ctx.activations(layer, role, ids)
    alpha = float(spec.alpha)
    vectors, _ = steering_vectors(ctx)
    if (layer, role) not in vectors:
        raise ConfigError(f"ood.layer {layer} is not among the steering layers; add it to steering.layers")
    vector = vectors[(layer, role)]
    patch_spec = ctx.config.patching
    calibration = calibration_groups(ctx, int(patch_spec.n_calibration_high), int(patch_spec.n_calibration_low))
    mean = ctx.activations(layer, role, calibration["trial_id"].tolist()).nanmean(0)
    pairs = ctx.run.read_table("swap")[["trial_id", "recipient", "donor"]].drop_duplicates("trial_id")
    comparisons = {
        f"steer toward high, alpha {alpha:g}": (clean + alpha * vector, clean),
        f"steer toward low, alpha {alpha:g}": (clean - alpha * vector, clean),
        "noising (calibration mean)": (mean.expand_as(clean), clean),
        "corrupted answer embeddings": (_corrupted_residuals(ctx, ids, layer, role), clean),
    }
    comparisons["swap (donor for recipient)"] = (ctx.activations(layer, role, pairs["donor"].tolist()), ctx.activations(layer, role, pairs["recipient"].tolist()))
    rows = [_ood_row("natural variation (random pairs)", natural_variation(clean, int(spec.n_pairs), seed=ctx.seed), layer, role)]
    rows += [_ood_row(name, ood_stats(new, old), layer, role) for name, (new, old) in comparisons.items()]
    table = pd.DataFrame(rows)
    ctx.run.write_table("ood", table)
    return table


def _corrupted_residuals(ctx: VerbalConfidenceContext, ids: list[str], layer: int, role: str) -> torch.Tensor:
    means = answer_means(ctx)
    batches, _ = ctx.batches(ctx.trials(ids), "categorical")
    out = torch.full((len(ids), ctx.lm.d_model), float("nan"))
    where = {t: k for k, t in enumerate(ids)}
    for batch in batches:
        with interventions(ctx.lm, batch, [CorruptEmbeddings(means)]):
            acts = capture(ctx.lm, batch, [layer], [role])[(layer, role)].float()
        out[[where[t] for t in batch.trial_ids]] = acts
    return out


def _ood_row(name: str, stats, layer: int, role: str) -> dict:
    row: dict = {"intervention": name, "layer": layer, "role": role}
    summaries = {"mean": np.mean, "min": np.min, "p1": lambda v: np.percentile(v, 1), "p99": lambda v: np.percentile(v, 99), "max": np.max}
    for key, values in (("cosine", stats.cosine), ("norm_ratio", stats.norm_ratio)):
        values = values.double().numpy()
        values = values[np.isfinite(values)]
        row["n"] = len(values)
        row.update({f"{key}_{label}": float(f(values)) if len(values) else np.nan for label, f in summaries.items()})
    return row
