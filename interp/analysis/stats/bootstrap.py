"""Bootstrap resampling over rows or whole clusters: percentile CIs and the paired test used
for every contrast against a control position."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["bootstrap_ci", "bootstrap_indices", "paired_bootstrap_test"]


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
