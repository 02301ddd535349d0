"""Stage "probes" (error_detection.md §6.3, P3/P4): L2 logistic probes at every (layer, position)
for the verdict, A1 correctness, answer change and A2 correctness on their subsets; the PANL
probe's out-of-fold logit added to the behavioural baseline (LR test, AUROC gain with CI) at the
configured layer and at the best layer; and the PANL score's correlations with behaviour."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from experiments.error_detection.behaviour import auroc_row
from experiments.error_detection.context import BASELINE, ErrorDetectionContext
from interp.analysis import cross_validate, probe_sweep, target_problem
from interp.analysis.stats import increment_test, pearson

TARGETS = (
    ("V", "yes", "all"),
    ("V", "yes", "A1 incorrect"),
    ("A1 correct", "correct", "all"),
    ("answer change", "answer_change", "A1 incorrect"),
    ("A2 correct", "a2_correct", "correctable"),
)
"""(target, detection column, subset) of §6.3; correctable = A1 incorrect and the answer changed."""


DEFINED_BY = {"V": ("vld",), "A1 correct": ("correct",)}
"""Baseline columns left out for a target because they define it: V is the sign of VLD, and A1
correctness is the target itself."""


def baseline_for(target: str, extra: Sequence[str] = ()) -> list[str]:
    """B (§5) for a target: A1 correct + ℓ̄ + confidence + VLD, less the columns that define it."""
    return [c for c in (*BASELINE, *extra) if c not in DEFINED_BY.get(target, ())]


def subset_rows(table: pd.DataFrame, subset: str, column: str) -> pd.DataFrame:
    """The detection rows a target is fitted on: verified trials with a graded A1 (and, for the
    Stage-2 targets, a graded A2), narrowed to `subset`."""
    rows = table[(table["verification_status"] == "ok") & table["correct"].notna() & (table["answers_status"] == "ok")]
    if column in ("answer_change", "a2_correct"):
        rows = rows[rows["correction_status"] == "ok"]
    if subset in ("A1 incorrect", "correctable"):
        rows = rows[~rows["correct"].astype(bool)]
    if subset == "correctable":
        rows = rows[rows["answer_change"].astype(bool)]
    return rows.dropna(subset=[column])


def target_series(table: pd.DataFrame, target: str, column: str, subset: str) -> pd.Series:
    """The 0/1 target of one (target, subset), indexed by trial id."""
    rows = subset_rows(table, subset, column)
    return pd.Series(rows[column].astype(float).to_numpy(), index=rows["trial_id"].to_numpy(), name=f"{target} ({subset})")


def logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 − p)), clipped away from 0 and 1."""
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-9, 1 - 1e-9)
    return np.log(p) - np.log1p(-p)


def oof_score(ctx: ErrorDetectionContext, target: pd.Series, layer: int, role: str = "panl", store: str = "activations") -> pd.Series | None:
    """The out-of-fold probe logit s_i (§5) at (layer, role) for the trials of `target`, or None
    when the target cannot be cross-validated there."""
    values, ids = ctx.store(store).read(layer, role, only_finite=True)
    keep = [k for k, trial in enumerate(ids) if trial in target.index]
    y = target.loc[[ids[k] for k in keep]].to_numpy()
    spec = ctx.config.probes
    if target_problem(y, "logistic", int(spec.cv)):
        return None
    result = cross_validate(values[keep].double().numpy(), y, kind="logistic", cv=int(spec.cv), C=float(spec.C), seed=ctx.seed)
    return pd.Series(logit(result.oof), index=[ids[k] for k in keep], name="score")


def downstream_layer(ctx: ErrorDetectionContext) -> int:
    """The layer of the downstream tests: probes.layer, else half the depth."""
    layer = ctx.config.probes.layer
    return int(ctx.n_layers // 2 if layer is None else layer)


def best_layer(sweep: pd.DataFrame, target: str, role: str = "panl") -> int | None:
    """The layer where the probe named `target` ("V (all)", ...) at `role` scores highest (None if none scored)."""
    rows = sweep[(sweep["name"] == target) & (sweep["role"] == role) & (sweep["status"] == "ok")]
    return None if rows.empty else int(rows.loc[rows["score"].idxmax(), "layer"])


def run(ctx: ErrorDetectionContext) -> pd.DataFrame:
    spec = ctx.config.probes
    table = ctx.detection
    layers = ctx.layers("probes")
    frames = []
    for target, column, subset in TARGETS:
        y = target_series(table, target, column, subset)

        def compute(y: pd.Series = y, target: str = target, subset: str = subset) -> pd.DataFrame:
            found = probe_sweep(ctx.store(), y, kind="logistic", layers=layers, roles=list(spec.roles), cv=int(spec.cv), C=float(spec.C), seed=ctx.seed, progress=False)
            return found.assign(target=target, subset=subset, name=y.name)

        frames.append(ctx.run.part("probes", f"sweep-{target}-{subset}".replace(" ", "_"), compute))
    sweep = pd.concat(frames, ignore_index=True)
    ctx.run.write_table("probes", sweep)
    scores = ctx.run.part("probes", "scores", lambda: panl_scores(ctx, table, sweep))
    ctx.run.write_table("probe_scores", scores)
    ctx.run.write_table("probe_tests", pd.DataFrame(increment_rows(ctx, table, scores)))
    ctx.run.write_table("probe_correlations", correlations(table, scores, downstream_layer(ctx), int(spec.n_boot), ctx.seed))
    return sweep


def panl_scores(ctx: ErrorDetectionContext, table: pd.DataFrame, sweep: pd.DataFrame) -> pd.DataFrame:
    """Out-of-fold PANL scores per target and subset at the configured and the best layer: one
    row per (trial, target, subset, layer_kind) with the layer and the score."""
    frames = []
    for target, column, subset in TARGETS:
        y = target_series(table, target, column, subset)
        name = str(y.name)
        for kind, layer in (("configured", downstream_layer(ctx)), ("best", best_layer(sweep, name))):
            if layer is None or layer not in ctx.store().layers:
                continue
            score = oof_score(ctx, y, layer)
            if score is not None:
                frames.append(pd.DataFrame({"trial_id": score.index, "target": target, "subset": subset, "layer_kind": kind, "layer": layer, "score": score.to_numpy()}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["trial_id", "target", "subset", "layer_kind", "layer", "score"])


def with_score(table: pd.DataFrame, scores: pd.DataFrame, target: str, subset: str, layer_kind: str) -> pd.DataFrame:
    """Detection rows of a target's subset with its out-of-fold PANL score as column `score`."""
    picked = scores[(scores["target"] == target) & (scores["subset"] == subset) & (scores["layer_kind"] == layer_kind)]
    return table.merge(picked[["trial_id", "score", "layer"]], on="trial_id", how="inner")


def increment_rows(ctx: ErrorDetectionContext, table: pd.DataFrame, scores: pd.DataFrame, extra: Sequence[str] = (), label: str = "B", targets: Sequence[tuple[str, str, str]] = TARGETS) -> list[dict]:
    """The probe-increment test (y ~ B + extra vs y ~ B + extra + s) of `targets` at both layers
    (B less the columns that define the target: `baseline_for`)."""
    spec = ctx.config.probes
    out = []
    for target, column, subset in targets:
        for layer_kind in ("configured", "best"):
            rows = with_score(subset_rows(table, subset, column), scores, target, subset, layer_kind)
            if rows.empty:
                out.append({"target": target, "subset": subset, "layer_kind": layer_kind, "baseline_set": label, "status": "no out-of-fold score (target not cross-validatable)"})
                continue
            data = rows.assign(y=rows[column].astype(float), correct=rows["correct"].astype(float))
            result = increment_test(data, "y", baseline_for(target, extra), "score", cv=int(spec.cv), seed=ctx.seed, n_boot=int(spec.n_boot))
            out.append({"target": target, "subset": subset, "layer_kind": layer_kind, "layer": int(rows["layer"].iloc[0]), "baseline_set": label, **result.row()})
    return out


def correlations(table: pd.DataFrame, scores: pd.DataFrame, layer: int, n_boot: int, seed: int) -> pd.DataFrame:
    """Pearson r (95% CI by Fisher z) of the V probe's PANL score at the configured layer with VLD,
    confidence, A1 correctness and ℓ̄, on all trials and within errors; and the AUROC of the score
    for false alarms vs correct rejections."""
    rows = with_score(table, scores, "V", "all", "configured")
    out = []
    for subset, frame in (("all", rows), ("A1 incorrect", rows[~rows["correct"].astype(bool)] if len(rows) else rows)):
        for variable in ("vld", "confidence", "correct", "logprob_mean"):
            fit = pearson(frame["score"].astype(float), frame[variable].astype(float)) if len(frame) else pearson([], [])
            out.append({"variable": variable, "subset": subset, "layer": layer, **fit, "status": "ok" if np.isfinite(fit["r"]) else "constant or too few rows"})
    errors = rows[~rows["correct"].astype(bool)] if len(rows) else rows
    fa_cr = auroc_row("score_auroc_fa_vs_cr", errors["score"].to_numpy(float) if len(errors) else np.array([]), errors["yes"].astype(float).to_numpy() if len(errors) else np.array([]), "A1 incorrect", n_boot, seed)
    out.append({"variable": "V (false alarm vs correct rejection)", "subset": "A1 incorrect", "layer": layer, "n": fa_cr["n"], "r": fa_cr["estimate"], "ci_low": fa_cr["ci_low"], "ci_high": fa_cr["ci_high"], "p": float("nan"), "status": fa_cr["status"], "metric": "auroc"})
    return pd.DataFrame(out)
