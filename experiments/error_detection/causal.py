"""Stages "patching" (error_detection.md §6.7: the answer's embeddings corrupted to calibration
means, the clean residual restored at one (layer, position), measured in d′) and "noising" (§6.8:
the residual at PANL, LAT or both replaced by the mean of a calibration set balanced over the four
SDT cells). A1 correctness stays fixed from the clean run; each contrast of a position against its
controls at the same layer is a paired bootstrap over trials."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from experiments.error_detection.context import SDT_CELLS, ErrorDetectionContext
from interp.analysis.stats import d_prime_contrast
from interp.errors import ConfigError
from interp.interventions import CorruptEmbeddings, MeanAblate, Patch, embedding_means
from interp.prompting import Batch

JOINT = "last_answer_token+panl"
"""The noising condition that replaces LAT and PANL at the same layer."""


def _labelled(table: pd.DataFrame, groups: pd.DataFrame) -> pd.DataFrame:
    """Sweep rows with the clean run's A1 correctness (`correct`, the label d′ is scored against) and the trial's group."""
    return table.merge(groups[["trial_id", "correct", "group"]].assign(correct=lambda f: f["correct"].astype(float)), on="trial_id", how="left")


def test_trials(ctx: ErrorDetectionContext, n_correct: int, n_wrong: int, key: str, exclude: Sequence[str] = ()) -> pd.DataFrame:
    """`n_correct` A1-correct and `n_wrong` A1-wrong verified trials drawn at random (group
    "correct" / "wrong"); refuses when either group is empty, since d′ needs both."""
    rows = ctx.usable().dropna(subset=["correct"])
    rows = rows.assign(a1=rows["correct"].map(lambda c: "correct" if bool(c) else "wrong"))
    picked = ctx.balanced(rows, {"correct": n_correct, "wrong": n_wrong}, "a1", key, exclude)
    if set(picked["group"]) != {"correct", "wrong"}:
        raise ConfigError(f"{key}: d′ needs A1-correct and A1-wrong trials; the verified trials hold {rows['a1'].value_counts().to_dict()}")
    return picked


def contrasts(table: pd.DataFrame, position: str, controls: Sequence[str], n_boot: int, seed: int, condition: str | None = None) -> pd.DataFrame:
    """Per layer: d′ with `position` intervened minus d′ with each control intervened (control
    "clean": the clean run), on the same trials, with its paired bootstrap CI."""
    ok = table[table["status"] == "ok"]
    if condition is not None:
        ok = ok[ok["condition"] == condition]
    rows = []
    for layer, cell in ok.groupby("layer", sort=True):
        wide = cell.assign(yes=cell["yes"].astype(float)).pivot_table(index="trial_id", columns="role", values="yes", aggfunc="first")
        wide["clean"] = cell.drop_duplicates("trial_id").set_index("trial_id")["clean_yes"].astype(float)
        label = cell.drop_duplicates("trial_id").set_index("trial_id")["correct"]
        for control in controls:
            if position not in wide or control not in wide:
                continue
            both = wide[[position, control]].dropna()
            result = d_prime_contrast(both[position], both[control], label.loc[both.index], n_boot=n_boot, seed=seed)
            rows.append({"layer": layer, "position": position, "control": control, "n": len(both), **result})
    return pd.DataFrame(rows)


def patching(ctx: ErrorDetectionContext) -> pd.DataFrame:
    """Corruption + patching (§6.7): the test set's answer embeddings replaced by position-wise
    means over a disjoint calibration set (d′ must collapse), then the clean residual restored
    at each (layer, position); recovery % of d′ and PANL against PANL+1 / PANL+9 per layer."""
    spec = ctx.config.patching
    test = test_trials(ctx, int(spec.n_correct), int(spec.n_wrong), "patching test")
    calibration = ctx.draw(ctx.usable(), int(spec.n_calibration), "patching calibration", exclude=test["trial_id"])
    if calibration.empty:
        raise ConfigError("patching: no verified trial is left for the calibration set (lower patching.n_correct / n_wrong)")
    ctx.run.write_table("patching_trials", pd.concat([test.assign(role_in="test"), calibration.assign(role_in="calibration", group="calibration")])[["trial_id", "role_in", "group", "correct", "sdt_cell"]])
    batches, _ = ctx.batches(ctx.verification_trials(calibration), "verification")
    corruption = [CorruptEmbeddings(embedding_means(ctx.lm, batches, "answer"))]
    layers, roles = ctx.layers("patching"), list(spec.roles)
    ids = test["trial_id"].tolist()
    clean = {(layer, role): ctx.activations(layer, role, ids) for layer in layers for role in roles}
    where = {trial_id: k for k, trial_id in enumerate(ids)}

    def make_specs(batch: Batch, layer: int, role: str, condition: str):
        return [*corruption, Patch(layer, role, clean[(layer, role)][[where[t] for t in batch.trial_ids]])]

    trials = ctx.verification_trials(test)
    corrupt = _labelled(ctx.sweep_parts("patching", "corrupt", trials, "verification", lambda *_: list(corruption), [-1], ["none"], ["corrupt"]), test)
    patched = _labelled(ctx.sweep_parts("patching", "patched", trials, "verification", make_specs, layers, roles, ["patched"]), test)
    table = pd.concat([corrupt, patched], ignore_index=True)
    ctx.run.write_table("patching", table)
    ctx.run.write_table("patching_recovery", ctx.readout("verification").recovery(corrupt, patched))
    n_boot = int(ctx.config.probes.n_boot)
    ctx.run.write_table("patching_contrasts", contrasts(patched, "panl", ["panl_plus_1", "panl_plus_9"], n_boot, ctx.seed))
    return table


def noising(ctx: ErrorDetectionContext) -> pd.DataFrame:
    """Noising (§6.8): the residual at PANL, at LAT, or at both (same layer) replaced by its mean
    over a calibration set of `n_per_cell` trials from each SDT cell, on test trials disjoint from
    it; d′ per layer, Δd′ against the clean run, and LAT+PANL against LAT alone."""
    spec = ctx.config.noising
    usable = ctx.usable().dropna(subset=["sdt_cell"])
    calibration = ctx.balanced(usable, {cell: int(spec.n_per_cell) for cell in SDT_CELLS}, "sdt_cell", "noising calibration")
    if calibration.empty:
        raise ConfigError("noising: no verified trial for the calibration set")
    test = test_trials(ctx, int(spec.n_correct), int(spec.n_wrong), "noising test", exclude=calibration["trial_id"])
    ctx.run.write_table("noising_trials", pd.concat([test.assign(role_in="test"), calibration.assign(role_in="calibration")])[["trial_id", "role_in", "group", "correct", "sdt_cell"]])
    layers = ctx.layers("noising")
    sites = ("last_answer_token", "panl")
    means = {(layer, role): ctx.activations(layer, role, calibration["trial_id"].tolist()).mean(0) for layer in layers for role in sites}

    def make_specs(batch: Batch, layer: int, role: str, condition: str):
        return [MeanAblate(layer, site, means[(layer, site)]) for site in role.split("+")]

    table = _labelled(ctx.sweep_parts("noising", "test", ctx.verification_trials(test), "verification", make_specs, layers, ["panl", "last_answer_token", JOINT], ["noised"]), test)
    ctx.run.write_table("noising", table)
    summary = ctx.readout("verification").summarise(table)
    summary["delta_d_prime"] = summary["d_prime"] - summary["clean_d_prime"]
    ctx.run.write_table("noising_summary", summary)
    n_boot = int(ctx.config.probes.n_boot)
    against_clean = [contrasts(table, site, ["clean"], n_boot, ctx.seed) for site in ("panl", "last_answer_token", JOINT)]
    ctx.run.write_table("noising_contrasts", pd.concat([*against_clean, contrasts(table, JOINT, ["last_answer_token"], n_boot, ctx.seed)], ignore_index=True))
    return table
