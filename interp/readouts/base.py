"""The `Readout` protocol: logits at the readout position → per-trial columns, the deltas
against the clean run, and per-cell metrics computed from trial rows.

A readout is what a sweep reads after every intervened forward pass: `read(logits)` on the clean
run, then `read(logits, clean=...)` on each cell, which adds the deltas against that clean run
(e.g. Δconfidence, whether the argmax changed). Its `metrics` turn the rows of a sweep table into
one row per cell (`summarise`) and into patching recovery (`recovery`), for any metric M:

    recovery_M = (M_patched − M_corrupt) / (M_clean − M_corrupt) × 100

With M = change rate the clean value is 0 by definition and this is
(CR_corrupt − CR_patched) / CR_corrupt × 100, as verbal_confidence.md §5 states it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd
import torch

__all__ = ["CellMetrics", "Columns", "Metric", "Readout", "ReadsMetrics", "against_clean", "aggregations", "percent", "tensor_columns"]

Columns = dict[str, np.ndarray]
"""Per-trial readout values, one array of length batch per name."""


@dataclass(frozen=True)
class Metric:
    """A per-cell metric of a sweep table.

    Attributes:
        name: column stem, e.g. "confidence" or "d_prime".
        of: rows of one cell → the metric of the intervened run (reads the readout's columns).
        clean: rows of one cell → the metric of the clean run (reads the `clean_*` columns), or
            a constant where the clean value is fixed by definition (0 for a change rate).
    """

    name: str
    of: Callable[[pd.DataFrame], float]
    clean: Callable[[pd.DataFrame], float] | float


@dataclass(frozen=True)
class CellMetrics:
    """How a readout's trial rows become per-cell numbers.

    Attributes:
        aggregations: pandas named aggregations for `summarise` (output name → (column, function)).
        recovered: the metrics `recovery` reports, in order.
        extra: rows of one cell → more per-cell values for `summarise` (e.g. d′, which needs
            several columns at once); None for none.
    """

    aggregations: Mapping[str, tuple[str, str]]
    recovered: Sequence[Metric] = ()
    extra: Callable[[pd.DataFrame], Mapping[str, float]] | None = field(default=None)

    def summarise(self, table: pd.DataFrame, by: Sequence[str] = ("layer", "role", "condition")) -> pd.DataFrame:
        """One row per cell over rows with status "ok": the aggregations, then the extra metrics."""
        ok = table[table["status"] == "ok"]
        out = ok.groupby(list(by), sort=True).agg(**self.aggregations).reset_index()
        if self.extra is not None and len(out):
            extra = pd.DataFrame([dict(self.extra(rows)) for _, rows in ok.groupby(list(by), sort=True)])
            out = pd.concat([out, extra], axis=1)
        return out

    def recovery(self, corrupt: pd.DataFrame, patched: pd.DataFrame, by: Sequence[str] = ("layer", "role")) -> pd.DataFrame:
        """Patching recovery per cell, as ratios of trial means over the trials that are "ok" in
        both tables (see the module docstring).

        Args:
            corrupt: sweep rows of the corrupted run (one row per trial; its grid columns ignored).
            patched: sweep rows of the patched runs.
            by: the grid columns of `patched` to report per cell.

        Returns:
            One row per cell: n; per metric clean_M (unless fixed by definition), corrupt_M and
            patched_M; then recovery_M per metric (NaN where the denominator is 0).
        """
        base = corrupt[corrupt["status"] == "ok"].drop_duplicates("trial_id").set_index("trial_id")
        rows = []
        for cell, group in patched[patched["status"] == "ok"].groupby(list(by), sort=True):
            group = group[group["trial_id"].isin(base.index)]
            if group.empty:
                continue
            before = base.loc[group["trial_id"]]
            row: dict = {**dict(zip(by, cell if isinstance(cell, tuple) else (cell,))), "n": len(group)}
            recovered = {}
            for metric in self.recovered:
                clean = metric.clean(group) if callable(metric.clean) else float(metric.clean)
                if callable(metric.clean):
                    row[f"clean_{metric.name}"] = clean
                row[f"corrupt_{metric.name}"] = corrupted = metric.of(before)
                row[f"patched_{metric.name}"] = restored = metric.of(group)
                recovered[f"recovery_{metric.name}"] = percent(restored - corrupted, clean - corrupted)
            rows.append({**row, **recovered})
        return pd.DataFrame(rows)


def aggregations(levels: Mapping[str, str], deltas: Sequence[str]) -> dict[str, tuple[str, str]]:
    """The usual per-cell summary: n; per level (output name → column) its clean and intervened
    means; per delta its mean and SEM; and the change rate with its SEM."""
    out: dict[str, tuple[str, str]] = {"n": ("trial_id", "size")}
    for name, column in levels.items():
        out[f"clean_{name}"] = (f"clean_{column}", "mean")
        out[name] = (column, "mean")
    for name in deltas:
        out[f"delta_{name}"] = (f"delta_{name}", "mean")
        out[f"delta_{name}_sem"] = (f"delta_{name}", "sem")
    out["change_rate"] = ("changed", "mean")
    out["change_rate_sem"] = ("changed", "sem")
    return out


def tensor_columns(scores: object, names: Sequence[str]) -> Columns:
    """Columns from the [batch] tensors of a scores dataclass, as numpy arrays."""
    return {name: getattr(scores, name).numpy() for name in names}


def against_clean(columns: Columns, clean: Columns | None, changed: str, deltas: Sequence[str]) -> Columns:
    """`columns` plus, when `clean` is given, "changed" (column `changed` differs from the clean
    run's) and "delta_<name>" (minus the clean run's) for each of `deltas`."""
    if clean is not None:
        columns["changed"] = columns[changed] != clean[changed]
        for name in deltas:
            columns[f"delta_{name}"] = columns[name] - clean[name]
    return columns


def percent(numerator: float, denominator: float) -> float:
    """100 · numerator / denominator, NaN where the denominator is 0 or not finite."""
    return float("nan") if denominator == 0 or not np.isfinite(denominator) else float(100.0 * numerator / denominator)


@runtime_checkable
class Readout(Protocol):
    """Logits at the readout position [batch, vocab] → per-trial columns.

    Attributes:
        token_ids: the candidate first tokens it reads (classes, digits, Y/N, options).
        clean_columns: columns a sweep keeps from the clean run, as `clean_<name>`.
        columns: numeric columns of an intervened run (NaN where a cell did not apply to a row).
        list_columns: list-valued columns of an intervened run (e.g. class probabilities).
        metrics: how trial rows become per-cell metrics and recovery.
    """

    token_ids: tuple[int, ...]
    clean_columns: tuple[str, ...]
    columns: tuple[str, ...]
    list_columns: tuple[str, ...]
    metrics: CellMetrics

    def read(self, logits: torch.Tensor, clean: Columns | None = None) -> Columns:
        """Columns of one run; with `clean` (this readout's columns of the clean run of the same
        batch) also the deltas and changes against it."""
        ...


class ReadsMetrics:
    """Mixin of the readouts: `summarise` and `recovery` through the readout's `metrics`."""

    metrics: CellMetrics

    def summarise(self, table: pd.DataFrame, by: Sequence[str] = ("layer", "role", "condition")) -> pd.DataFrame:
        """Per-cell metrics of a sweep table (see `CellMetrics.summarise`)."""
        return self.metrics.summarise(table, by)

    def recovery(self, corrupt: pd.DataFrame, patched: pd.DataFrame, by: Sequence[str] = ("layer", "role")) -> pd.DataFrame:
        """Patching recovery per cell (see `CellMetrics.recovery`)."""
        return self.metrics.recovery(corrupt, patched, by)
