"""Bootstrap resampling over rows or whole clusters: percentile CIs and the paired test used
for every contrast against a control position."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["bootstrap_ci", "bootstrap_indices", "bootstrap_score", "paired_bootstrap_test"]


def bootstrap_indices(n: int, n_boot: int, clusters: Sequence | None = None, seed: int = 0):
    """Yield `n_boot` resamples of row indices 0..n−1: rows with replacement, or whole clusters
    with replacement when `clusters` [n] is given (every row of a drawn cluster comes along)."""
    rng = np.random.default_rng(seed)
    if clusters is None:
        for _ in range(n_boot):
            yield rng.integers(0, n, n)
        return
    clusters = np.asarray(clusters)
    if clusters.shape != (n,):
        raise ValueError(f"clusters must be [n] = [{n}], got {list(clusters.shape)}")
    members = [np.flatnonzero(clusters == c) for c in np.unique(clusters)]
    for _ in range(n_boot):
        yield np.concatenate([members[i] for i in rng.integers(0, len(members), len(members))])


def bootstrap_ci(
    statistic: Callable[[np.ndarray], float],
    n: int,
    n_boot: int = 2000,
    level: float = 0.95,
    clusters: Sequence | None = None,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(estimate, low, high): percentile bootstrap of `statistic(indices)` over n rows, resampling
    rows or, with `clusters` [n], whole clusters (e.g. items repeated across conditions)."""
    estimate = float(statistic(np.arange(n)))
    draws = [statistic(rows) for rows in bootstrap_indices(n, n_boot, clusters, seed)]
    low, high = np.quantile(draws, [(1 - level) / 2, 1 - (1 - level) / 2])
    return estimate, float(low), float(high)


def paired_bootstrap_test(a, b, n_boot: int = 2000, clusters: Sequence | None = None, level: float = 0.95, seed: int = 0) -> dict[str, float]:
    """Paired comparison of two conditions on the same rows (e.g. PANL vs the PANL+1 control):
    mean of a − b, its percentile CI, and the two-sided bootstrap p = 2·min(P*(d ≤ 0), P*(d ≥ 0))."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a and b must be matching [n] arrays, got {a.shape} and {b.shape}")
    difference = a - b
    draws = np.array([difference[rows].mean() for rows in bootstrap_indices(len(difference), n_boot, clusters, seed)])
    low, high = np.quantile(draws, [(1 - level) / 2, 1 - (1 - level) / 2])
    p = min(1.0, 2 * min(float((draws <= 0).mean()), float((draws >= 0).mean())))
    return {"mean_difference": float(difference.mean()), "ci_low": float(low), "ci_high": float(high), "p": p}


def bootstrap_score(y, prediction, metric: str, n_boot: int = 1000, level: float = 0.95, clusters: Sequence | None = None, seed: int = 0) -> tuple[float, float, float]:
    """(estimate, low, high) of AUROC or R² of `prediction` [n] against `y` [n], with a percentile
    bootstrap over rows (or whole clusters), vectorised over the resamples — the same indices as
    `bootstrap_indices(n, n_boot, clusters, seed)`, so it equals `bootstrap_ci` of
    `sklearn.metrics.roc_auc_score` / `r2_score`. Resamples with one class (AUROC) are left out."""
    from scipy.stats import rankdata

    y, prediction = np.asarray(y, dtype=np.float64), np.asarray(prediction, dtype=np.float64)
    if y.shape != prediction.shape or y.ndim != 1:
        raise ValueError(f"y and prediction must be matching [n] arrays, got {y.shape} and {prediction.shape}")
    if metric not in ("auroc", "r2"):
        raise ValueError(f"metric must be 'auroc' or 'r2', got {metric!r}")

    def scores(rows: np.ndarray) -> np.ndarray:
        target, predicted = y[rows], prediction[rows]
        if metric == "r2":
            residual = ((target - predicted) ** 2).sum(-1)
            total = ((target - target.mean(-1, keepdims=True)) ** 2).sum(-1)
            return np.where(total > 0, 1 - residual / np.where(total > 0, total, 1), np.nan)
        positive = target == 1
        n_pos = positive.sum(-1)
        n_neg = target.shape[-1] - n_pos
        ranks = rankdata(predicted, axis=-1)
        value = ((ranks * positive).sum(-1) - n_pos * (n_pos + 1) / 2) / np.where(n_pos * n_neg > 0, n_pos * n_neg, 1)
        return np.where(n_pos * n_neg > 0, value, np.nan)

    estimate = float(scores(np.arange(len(y))[None])[0])
    draws = [rows for rows in bootstrap_indices(len(y), n_boot, clusters, seed)]
    if clusters is None:
        values = scores(np.stack(draws))
    else:
        values = np.array([scores(rows[None])[0] for rows in draws])
    values = values[np.isfinite(values)]
    if not len(values):
        return estimate, float("nan"), float("nan")
    low, high = np.quantile(values, [(1 - level) / 2, 1 - (1 - level) / 2])
    return estimate, float(low), float(high)
