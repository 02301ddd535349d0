"""Contrasts of a sweep table with bootstrap CIs, clustered by trial: a position against its
control (PANL vs PANL+1), an edge against its control edge, cross- against same-confidence
swaps, patching recovery at one position against another. Every headline contrast of the
papers is reported through these, never as a bare difference of peaks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from interp.analysis.stats.bootstrap import bootstrap_indices, paired_bootstrap_test

__all__ = ["group_contrast", "paired_contrasts", "recovery_contrasts"]

_COLUMNS = ["a", "b", "n", "mean_a", "mean_b", "difference", "ci_low", "ci_high", "p"]


def _interval(draws: np.ndarray) -> tuple[float, float, float]:
    """Percentile 95% CI and two-sided bootstrap p of the finite draws of a difference."""
    draws = draws[np.isfinite(draws)]
    if not len(draws):
        return float("nan"), float("nan"), float("nan")
    low, high = np.quantile(draws, [0.025, 0.975])
    return float(low), float(high), min(1.0, 2 * min(float((draws <= 0).mean()), float((draws >= 0).mean())))


def _ok(table: pd.DataFrame, value: str) -> pd.DataFrame:
    return table[(table["status"] == "ok") & table[value].notna()]


def paired_contrasts(
    table: pd.DataFrame,
    value: str,
    column: str,
    pairs: Sequence[tuple[str, str]],
    by: Sequence[str] = ("layer", "condition"),
    trial: str = "trial_id",
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """For each group of `by` and each (a, b) of `pairs` (values of `column`, e.g. roles or edges):
    mean `value` of a minus that of b over the trials present in both, with a paired bootstrap
    95% CI over trials and its two-sided p (rows with status "ok" only).

    Returns one row per group and pair: the `by` columns, a, b, n, mean_a, mean_b, difference,
    ci_low, ci_high, p.
    """
    rows = []
    for key, group in _ok(table, value).groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        per_trial = group.groupby([column, trial])[value].mean()
        for a, b in pairs:
            if a not in per_trial.index.get_level_values(0) or b not in per_trial.index.get_level_values(0):
                continue
            first, second = per_trial.loc[a], per_trial.loc[b]
            common = first.index.intersection(second.index)
            if len(common) < 2:
                continue
            test = paired_bootstrap_test(first[common].to_numpy(), second[common].to_numpy(), n_boot=n_boot, seed=seed)
            rows.append(
                {**dict(zip(by, key)), "a": a, "b": b, "n": len(common), "mean_a": float(first[common].mean()), "mean_b": float(second[common].mean()),
                 "difference": test["mean_difference"], "ci_low": test["ci_low"], "ci_high": test["ci_high"], "p": test["p"]}
            )
    return pd.DataFrame(rows, columns=[*by, *_COLUMNS])


def group_contrast(first: pd.Series, second: pd.Series, clusters_first: Sequence, clusters_second: Sequence, n_boot: int = 2000, seed: int = 0) -> dict:
    """mean(first) − mean(second) for two sets of rows that share clusters (e.g. swap recipients
    of a cross- and a same-confidence regime drawn from one pool), with a bootstrap CI that
    resamples whole clusters of the union: every row of a drawn cluster, in either set, comes
    along. Returns n_a, n_b, mean_a, mean_b, difference, ci_low, ci_high, p."""
    a, b = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    ids = np.concatenate([np.asarray(clusters_first, dtype=object), np.asarray(clusters_second, dtype=object)])
    which = np.concatenate([np.zeros(len(a), bool), np.ones(len(b), bool)])
    values = np.concatenate([a, b])
    keys, codes = np.unique(ids.astype(str), return_inverse=True)
    members = [np.flatnonzero(codes == k) for k in range(len(keys))]

    def difference(rows: np.ndarray) -> float:
        picked = np.concatenate([members[k] for k in rows]) if len(rows) else np.array([], int)
        in_a, in_b = picked[~which[picked]], picked[which[picked]]
        return float(values[in_a].mean() - values[in_b].mean()) if len(in_a) and len(in_b) else float("nan")

    estimate = difference(np.arange(len(keys)))
    low, high, p = _interval(np.array([difference(rows) for rows in bootstrap_indices(len(keys), n_boot, None, seed)]))
    return {"n_a": len(a), "n_b": len(b), "mean_a": float(a.mean()), "mean_b": float(b.mean()), "difference": estimate, "ci_low": low, "ci_high": high, "p": p}


def recovery_contrasts(
    corrupt: pd.DataFrame,
    patched: pd.DataFrame,
    pairs: Sequence[tuple[str, str]],
    metric: str = "confidence",
    column: str = "role",
    by: Sequence[str] = ("layer",),
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Patching recovery (M̄_patched − M̄_corrupt)/(M̄_clean − M̄_corrupt) × 100 at a minus at b
    (e.g. PANL vs PANL+1) per group of `by`, over the trials ok in the corrupted run and both
    patched cells, with a bootstrap 95% CI over trials (the ratio recomputed on each resample).

    Returns one row per group and pair: the `by` columns, a, b, n, mean_a, mean_b (the two
    recoveries, %), difference, ci_low, ci_high, p.
    """
    base = _ok(corrupt, metric).drop_duplicates("trial_id").set_index("trial_id")[metric]
    rows = []
    for key, group in _ok(patched, metric).groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        cells = {name: cell.drop_duplicates("trial_id").set_index("trial_id") for name, cell in group.groupby(column)}
        for a, b in pairs:
            if a not in cells or b not in cells:
                continue
            common = cells[a].index.intersection(cells[b].index).intersection(base.index)
            if len(common) < 2:
                continue
            clean = cells[a].loc[common, f"clean_{metric}"].to_numpy(float)
            corrupted = base.loc[common].to_numpy(float)
            at_a, at_b = cells[a].loc[common, metric].to_numpy(float), cells[b].loc[common, metric].to_numpy(float)

            def recoveries(rows: np.ndarray) -> tuple[float, float]:
                gap = clean[rows].mean() - corrupted[rows].mean()
                if gap == 0:
                    return float("nan"), float("nan")
                return 100 * (at_a[rows].mean() - corrupted[rows].mean()) / gap, 100 * (at_b[rows].mean() - corrupted[rows].mean()) / gap

            first, second = recoveries(np.arange(len(common)))
            low, high, p = _interval(np.array([np.subtract(*recoveries(rows)) for rows in bootstrap_indices(len(common), n_boot, None, seed)]))
            rows.append({**dict(zip(by, key)), "a": a, "b": b, "n": len(common), "mean_a": first, "mean_b": second, "difference": first - second, "ci_low": low, "ci_high": high, "p": p})
    return pd.DataFrame(rows, columns=[*by, *_COLUMNS])
