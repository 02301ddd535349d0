"""Figures every pipeline draws: a score by layer per role, and a grid of by-layer panels with
one line per condition. PNG files, drawn with matplotlib's Agg backend (no screen needed)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

__all__ = ["by_layer_figure", "plot_scores", "save_figure"]


def save_figure(figure, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Lay out, save as PNG and close a figure."""
    figure.tight_layout()
    figure.savefig(path, dpi=dpi)
    plt.close(figure)
    return Path(path)


def plot_scores(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Score by layer, one line per role, with its CI band where the table has ci_low / ci_high
    (PNG); the chance line for AUROC."""
    figure, axis = plt.subplots(figsize=(7, 4))
    for role, rows in table.sort_values("layer").groupby("role", sort=True):
        (line,) = axis.plot(rows["layer"], rows["score"], marker="o", label=role)
        if {"ci_low", "ci_high"} <= set(rows.columns):
            axis.fill_between(rows["layer"], rows["ci_low"], rows["ci_high"], color=line.get_color(), alpha=0.15, linewidth=0)
    metric = table["metric"].iloc[0] if len(table) else "score"
    axis.set_xlabel("layer")
    axis.set_ylabel(f"cross-validated {metric}")
    if metric == "auroc":
        axis.axhline(0.5, color="grey", linewidth=0.8, linestyle="--")
    axis.legend(title="role")
    axis.grid(alpha=0.3)
    return save_figure(figure, path, dpi=120)


def by_layer_figure(
    summary: pd.DataFrame,
    value: str,
    ylabel: str,
    path: str | os.PathLike,
    facet: str = "role",
    line: str = "condition",
    x: str = "layer",
    titles: Mapping[str, str] | None = None,
) -> Path:
    """One panel per `facet` value (at most four per row), one line per `line` value of
    `value` against `x`, with `<value>_sem` error bars where the column exists (PNG)."""
    titles = titles or {}
    facets = list(dict.fromkeys(summary[facet]))
    ncols = min(4, len(facets))
    nrows = -(-len(facets) // ncols)
    figure, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols + 2.2, 3.0 * nrows), squeeze=False, sharey=True)
    for axis, key in zip(axes.flat, facets):
        for label, rows in summary[summary[facet] == key].groupby(line, sort=False):
            rows = rows.sort_values(x)
            sem = rows.get(f"{value}_sem")
            axis.errorbar(rows[x], rows[value], yerr=None if sem is None else sem.fillna(0), marker="o", markersize=3, capsize=2, label=str(label))
        axis.axhline(0, color="grey", linewidth=0.7)
        axis.set_title(titles.get(key, str(key)))
        axis.set_xlabel(x)
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(facets) :]:
        axis.axis("off")
    for row in axes:
        row[0].set_ylabel(ylabel)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="center right", fontsize=7)
    figure.tight_layout(rect=(0, 0, 1 - 2.0 / (3.6 * ncols + 2.2), 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return Path(path)
