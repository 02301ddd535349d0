"""Helpers every pipeline's report uses: tables read back from the run folder, formatted
numbers, peaks by layer, the paper-vs-ours table, stage times, and which code made which parts."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from interp.io import RunDir, describe_code, markdown_table

__all__ = ["ROLE_LABELS", "code_section", "comparison_section", "fmt", "guarded", "peak", "stage_times_section", "table_or_none", "with_ci"]

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
