"""Helpers every pipeline's report uses: tables read back from the run folder, formatted
numbers, peaks by layer, the paper-vs-ours table, stage times, and which code made which parts."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from interp.analysis.stats import bootstrap_ci
from interp.io import RunDir, describe_code, markdown_table

__all__ = ["ROLE_LABELS", "code_section", "comparison_section", "contrast_cell", "contrast_table", "fmt", "guarded", "peak", "peak_with_ci", "stage_times_section", "table_or_none", "with_ci"]

ROLE_LABELS = {
    "panl": "PANL",
    "panl_plus_1": "PANL+1",
    "panl_plus_9": "PANL+9",
    "confidence_colon": "CC",
    "format_confidence_colon": "FCC",
    "answer_first_token": "first A",
    "last_answer_token": "last A",
    "answer_colon": "AC",
    "question_third_token": "QTT",
    "question_last_token": "QLT",
    "pl": "PL",
}
"""Short names of the roles, as the papers write them."""


def table_or_none(run: RunDir, name: str) -> pd.DataFrame | None:
    """A table of the run folder, or None if its stage has not run."""
    return run.read_table(name) if run.has_table(name) else None


def guarded(compute: Callable[[], float]) -> float:
    """A statistic, or NaN where the data cannot give one (e.g. AUROC with one class)."""
    try:
        value = compute()
    except ValueError:
        return float("nan")
    return float(value)


def fmt(value: float | None, spec: str = "{:.3f}") -> str:
    """A number for a report cell; "n/a" for None or non-finite."""
    return "n/a" if value is None or not np.isfinite(value) else spec.format(value)


def with_ci(estimate: float, low: float, high: float, spec: str = "{:.3f}") -> str:
    """"0.612 [0.551, 0.671]" — a number and its 95% CI for a report cell ("n/a" when not finite)."""
    if estimate is None or not np.isfinite(estimate):
        return "n/a"
    interval = f" [{fmt(low, spec)}, {fmt(high, spec)}]" if np.isfinite(low) and np.isfinite(high) else " [CI n/a]"
    return spec.format(estimate) + interval


def peak_with_ci(table: pd.DataFrame, value: str, by: str = "role", x: str = "layer", largest: bool = True, n_boot: int = 1000, seed: int = 0) -> str:
    """"PANL +0.120 [0.051, 0.190] at layer 3; ..." — per `by` group, the `x` whose mean `value`
    (rows with status ok) is largest (or smallest), with a bootstrap 95% CI of that mean over
    its trials."""
    ok = table[(table["status"] == "ok") & table[value].notna()]
    parts = []
    for key, rows in ok.groupby(by, sort=False):
        means = rows.groupby(x)[value].mean()
        if means.empty:
            continue
        at = means.idxmax() if largest else means.idxmin()
        values = rows.loc[rows[x] == at, value].to_numpy(float)
        estimate = bootstrap_ci(lambda idx: float(values[idx].mean()), len(values), n_boot=n_boot, seed=seed)
        parts.append(f"{ROLE_LABELS.get(key, key)} {with_ci(*estimate, spec='{:+.3f}')} at {x} {int(at)}")
    return "; ".join(parts) or "n/a"


def contrast_cell(row: pd.Series | dict, spec: str = "{:+.3f}") -> str:
    """"+0.120 [0.051, 0.190], p = 0.004 (n = 16)" for one row of `interp.analysis` contrasts."""
    return f"{with_ci(row['difference'], row['ci_low'], row['ci_high'], spec)}, p = {fmt(row['p'], '{:.3g}')} (n = {int(row['n'])})"


def contrast_table(frame: pd.DataFrame, x: str = "layer") -> str:
    """A markdown table of contrasts: x, a, b, n, mean_a, mean_b, difference [CI], p."""
    if frame.empty:
        return "No contrast could be computed (too few trials in both cells)."
    shown = frame.assign(
        a=frame["a"].map(lambda r: ROLE_LABELS.get(r, r)),
        b=frame["b"].map(lambda r: ROLE_LABELS.get(r, r)),
        difference=[with_ci(d, lo, hi, "{:+.3f}") for d, lo, hi in zip(frame["difference"], frame["ci_low"], frame["ci_high"])],
    )
    keep = [c for c in shown.columns if c not in ("ci_low", "ci_high")]
    return markdown_table(shown[keep])


def peak(summary: pd.DataFrame, value: str, by: str = "role", x: str = "layer", largest: bool = True) -> str:
    """"PANL +0.120 at layer 3; CC ..." — the largest (or smallest) `value` per `by` group."""
    parts = []
    for key, rows in summary.groupby(by, sort=False):
        rows = rows.dropna(subset=[value])
        if rows.empty:
            continue
        best = rows.loc[rows[value].idxmax() if largest else rows[value].idxmin()]
        parts.append(f"{ROLE_LABELS.get(key, key)} {best[value]:+.3f} at {x} {int(best[x])}")
    return "; ".join(parts) or "n/a"


def comparison_section(rows: Sequence[tuple[str, str, str, str]]) -> list[str]:
    """The "Paper vs this run" table from (quantity, paper, ours, stage) rows."""
    if not rows:
        return ["## Paper vs this run", "", "No stage has finished yet.", ""]
    return ["## Paper vs this run", "", markdown_table(pd.DataFrame(list(rows), columns=["quantity", "paper", "ours", "stage"])), ""]


def stage_times_section(run: RunDir) -> list[str]:
    """Seconds, rows and peak GPU memory of each finished stage, in the order they finished."""
    records = sorted(run.stage_records(), key=lambda info: info.get("finished", ""))
    times = [{"stage": info["stage"], "seconds": info.get("seconds"), "rows": info.get("rows"), "peak_gpu_gib": info.get("peak_gpu_gib")} for info in records]
    return ["## Stage times", "", markdown_table(pd.DataFrame(times)), ""] if times else []


def code_section(run: RunDir) -> list[str]:
    """Which code committed which parts, when more than one code did (a run resumed with
    --allow-mixed-code); nothing otherwise."""
    by_code: dict[str, list[str]] = {}
    for path, identity in run.committed_code().items():
        by_code.setdefault(describe_code(identity), []).append(path)
    if len(by_code) < 2:
        return []
    rows = pd.DataFrame([{"code": code, "pieces": len(paths), "e.g.": paths[0]} for code, paths in by_code.items()])
    return ["## Code provenance", "", "This run was resumed with other code (--allow-mixed-code); its pieces came from:", "", markdown_table(rows), ""]
