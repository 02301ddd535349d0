"""Stage "behaviour" (error_detection.md §6.1–6.2): A1 → A2 accuracy with McNemar, calibration of
verbal confidence and exp(ℓ̄), SDT of the verdict, and the P2 regressions of V on log-prob,
correctness and confidence. Every number with a bootstrap CI or a test."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from experiments.error_detection.context import SDT_CELLS, ErrorDetectionContext
from interp.analysis.stats import bootstrap_ci, bootstrap_score, ece, increment_test, mcnemar, sdt


def summary_row(quantity: str, estimate: float, low: float = float("nan"), high: float = float("nan"), n: int = 0, subset: str = "all", detail: str = "", status: str = "ok") -> dict:
    """One row of a summary table: a quantity, its estimate and 95% CI, n, and how it was computed."""
    return {"quantity": quantity, "subset": subset, "estimate": float(estimate), "ci_low": float(low), "ci_high": float(high), "n": int(n), "detail": detail, "status": status}


def sdt_counts(correct: Sequence, yes: Sequence) -> dict[str, int]:
    """Trials per SDT cell (§5), each trial counted once."""
    correct, yes = np.asarray(correct, dtype=bool), np.asarray(yes, dtype=bool)
    cells = {"hit": correct & yes, "miss": correct & ~yes, "false alarm": ~correct & yes, "correct rejection": ~correct & ~yes}
    return {name: int(cells[name].sum()) for name in SDT_CELLS}


def sdt_rows(correct: Sequence, yes: Sequence, subset: str, n_boot: int, seed: int) -> list[dict]:
    """d′, c, hit rate, false-alarm rate and errors detected (1 − F) with bootstrap CIs over
    trials; the log-linear correction only where a rate is 0 or 1 (§5). Counts in `detail`."""
    correct, yes = np.asarray(correct, dtype=bool), np.asarray(yes, dtype=bool)
    counts = sdt_counts(correct, yes)
    detail = ", ".join(f"{k} {v}" for k, v in counts.items())
    if counts["hit"] + counts["miss"] == 0 or counts["false alarm"] + counts["correct rejection"] == 0:
        return [summary_row(q, float("nan"), n=len(correct), subset=subset, detail=detail, status="needs correct and wrong answers") for q in ("d_prime", "criterion", "hit_rate", "false_alarm_rate", "errors_detected")]

    def of(rows: np.ndarray):
        c = sdt_counts(correct[rows], yes[rows])
        if c["hit"] + c["miss"] == 0 or c["false alarm"] + c["correct rejection"] == 0:
            return None
        return sdt(c["hit"], c["miss"], c["false alarm"], c["correct rejection"], correction="auto")

    out = []
    for quantity, attribute in (("d_prime", "d_prime"), ("criterion", "criterion"), ("hit_rate", "hit_rate"), ("false_alarm_rate", "false_alarm_rate"), ("errors_detected", None)):
        def statistic(rows: np.ndarray, attribute=attribute) -> float:
            fit = of(rows)
            if fit is None:
                return float("nan")
            return 1 - fit.false_alarm_rate if attribute is None else getattr(fit, attribute)

        estimate, low, high = _nan_ci(statistic, len(correct), n_boot, seed)
        out.append(summary_row(quantity, estimate, low, high, len(correct), subset, detail))
    return out


def _nan_ci(statistic, n: int, n_boot: int, seed: int) -> tuple[float, float, float]:
    """`bootstrap_ci` that ignores resamples where the statistic is undefined."""
    from interp.analysis.stats import bootstrap_indices

    estimate = float(statistic(np.arange(n)))
    draws = np.array([statistic(rows) for rows in bootstrap_indices(n, n_boot, seed=seed)])
    draws = draws[np.isfinite(draws)]
    if not len(draws):
        return estimate, float("nan"), float("nan")
    low, high = np.quantile(draws, [0.025, 0.975])
    return estimate, float(low), float(high)


def auroc_row(quantity: str, score: np.ndarray, label: np.ndarray, subset: str, n_boot: int, seed: int, detail: str = "") -> dict:
    """AUROC of `score` for `label` with its bootstrap CI (a status when one class is missing)."""
    keep = np.isfinite(score) & np.isfinite(label)
    score, label = score[keep], label[keep]
    if len(np.unique(label)) < 2:
        return summary_row(quantity, float("nan"), n=len(label), subset=subset, detail=detail, status="one class only")
    return summary_row(quantity, *bootstrap_score(label, score, "auroc", n_boot=n_boot, seed=seed), n=len(label), subset=subset, detail=detail)


def accuracy_rows(table: pd.DataFrame, n_boot: int, seed: int) -> list[dict]:
    """A1 and A2 accuracy on the trials with both graded, their paired difference and McNemar."""
    both = table[(table["status"] == "ok") & table["a2_correct"].notna()]
    a1, a2 = both["correct"].astype(bool).to_numpy(), both["a2_correct"].astype(bool).to_numpy()
    rows = []
    if not len(both):
        return [summary_row("a1_accuracy", float("nan"), status="no trial has both A1 and A2 graded")]
    for name, values in (("a1_accuracy", a1), ("a2_accuracy", a2)):
        rows.append(summary_row(name, *bootstrap_ci(lambda r, v=values: v[r].mean(), len(values), n_boot=n_boot, seed=seed), n=len(values)))
    difference = a2.astype(float) - a1.astype(float)
    stat, p = mcnemar(a1, a2)
    b, c = int((~a1 & a2).sum()), int((a1 & ~a2).sum())
    rows.append(summary_row("a2_minus_a1", *bootstrap_ci(lambda r: difference[r].mean(), len(difference), n_boot=n_boot, seed=seed), n=len(both), detail=f"McNemar χ² = {stat:.2f}, p = {p:.3g} (b = {b} wrong→right, c = {c} right→wrong)"))
    rows.append(summary_row("mcnemar_chi2", stat, n=len(both), detail=f"p = {p:.3g}"))
    changed = both["answer_change"].astype(bool).to_numpy()
    rows.append(summary_row("answer_change_rate", *bootstrap_ci(lambda r: changed[r].mean(), len(changed), n_boot=n_boot, seed=seed), n=len(both)))
    return rows


def calibration_rows(table: pd.DataFrame, n_boot: int, seed: int) -> list[dict]:
    """AUROC and ECE (10 equal-width bins) of verbal confidence and of exp(ℓ̄) for A1 correctness,
    on every Stage-0 trial with a graded answer and both scores."""
    graded = table[(table["answers_status"] == "ok") & table["correct"].notna()].dropna(subset=["confidence", "logprob_mean"])
    label = graded["correct"].astype(float).to_numpy()
    rows = []
    for name, score in (("confidence", graded["confidence"].to_numpy(float)), ("exp_logprob", np.exp(graded["logprob_mean"].to_numpy(float)))):
        rows.append(auroc_row(f"{name}_auroc", score, label, "stage 0 graded", n_boot, seed))
        if len(label):
            rows.append(summary_row(f"{name}_ece", *bootstrap_ci(lambda r, s=score: ece(s[r], label[r]), len(label), n_boot=n_boot, seed=seed), n=len(label), subset="stage 0 graded"))
    return rows


def regression_rows(table: pd.DataFrame, cv: int, seed: int, n_boot: int) -> list[dict]:
    """The P2 model comparisons of §6.2 (V = Y coded 1): each an LR test with out-of-fold AUROCs
    of both models and the standardised βs of the larger one."""
    data = verified(table).assign(V=lambda f: f["yes"].astype(float), correct=lambda f: f["correct"].astype(float))
    errors = data[data["correct"] == 0]
    comparisons = (
        ("(a) V ~ ℓ̄ + confidence", data, ["logprob_mean"], "confidence", "all"),
        ("(b) V ~ ℓ̄ + A1 correct + confidence", data, ["logprob_mean", "correct"], "confidence", "all"),
        ("(c) V ~ confidence + ℓ̄", errors, ["confidence"], "logprob_mean", "A1 incorrect"),
    )
    rows = []
    for name, frame, base, added, subset in comparisons:
        result = increment_test(frame, "V", base, added, cv=cv, seed=seed, n_boot=n_boot)
        row = {"model": name, "subset": subset, "added": added, **result.row()}
        if result.comparison is not None:
            row.update({f"beta_{k}": float(v) for k, v in result.comparison.standardized_betas.items()})
        rows.append(row)
    return rows


def verified(table: pd.DataFrame) -> pd.DataFrame:
    """Trials with a verdict, a graded A1 and the baseline scores."""
    rows = table[(table["verification_status"] == "ok") & table["correct"].notna() & table["answers_status"].eq("ok")]
    return rows.dropna(subset=["logprob_mean", "confidence", "vld"])


def run(ctx: ErrorDetectionContext) -> pd.DataFrame:
    table = ctx.detection
    n_boot, seed = int(ctx.config.probes.n_boot), ctx.seed
    rows = accuracy_rows(table, n_boot, seed) + calibration_rows(table, n_boot, seed)
    data = verified(table)
    rows += sdt_rows(data["correct"].astype(bool), data["yes"].astype(bool), "verified", n_boot, seed)
    errors = data[~data["correct"].astype(bool)]
    label = errors["yes"].astype(float).to_numpy()
    rows.append(auroc_row("v_auroc_logprob_errors", errors["logprob_mean"].to_numpy(float), label, "A1 incorrect", n_boot, seed, "P2 (c): ℓ̄ alone"))
    rows.append(auroc_row("v_auroc_confidence_errors", errors["confidence"].to_numpy(float), label, "A1 incorrect", n_boot, seed, "P2 (c): confidence alone"))
    summary = pd.DataFrame(rows)
    ctx.run.write_table("regressions", pd.DataFrame(regression_rows(table, int(ctx.config.probes.cv), seed, n_boot)))
    ctx.run.write_table("behaviour_summary", summary)
    return summary
