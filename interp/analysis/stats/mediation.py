"""Parallel mediation with a cluster bootstrap (abstention.md §6.5)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from interp.analysis.stats.bootstrap import bootstrap_indices
from interp.analysis.stats.regression import fit_logit

__all__ = ["parallel_mediation"]


def _mediation_paths(frame: pd.DataFrame, x: str, y: str, mediators: Sequence[str], covariates: Sequence[str]) -> dict[str, float]:
    import statsmodels.api as sm

    estimates: dict[str, float] = {}
    outcome = frame[y].to_numpy(dtype=np.float64)
    total = fit_logit(outcome, frame[[x, *covariates]]).params[x]
    direct_fit = fit_logit(outcome, frame[[x, *mediators, *covariates]]).params
    estimates["total"] = float(total)
    estimates["direct"] = float(direct_fit[x])
    for m in mediators:
        a = sm.OLS(frame[m].to_numpy(dtype=np.float64), sm.add_constant(frame[[x, *covariates]], has_constant="add")).fit().params[x]
        estimates[f"a:{m}"] = float(a)
        estimates[f"b:{m}"] = float(direct_fit[m])
        estimates[f"indirect:{m}"] = float(a * direct_fit[m])
        estimates[f"proportion:{m}"] = float(a * direct_fit[m] / total)
    return estimates


def parallel_mediation(
    data: pd.DataFrame,
    x: str,
    y: str,
    mediators: Sequence[str],
    covariates: Sequence[str] = (),
    cluster: str | None = None,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Parallel mediation of X → Y through mediators M_k (abstention.md §6.5): a_k from OLS
    M_k ~ X (+ covariates), b_k and the direct effect c′ from logistic Y ~ X + ΣM_k, the total c
    from logistic Y ~ X; indirect_k = a_k·b_k, proportion_k = indirect_k / c. Percentile CIs from
    a bootstrap over rows, or over whole clusters (items) when `cluster` names a column.

    Returns one row per effect (total, direct, a:M, b:M, indirect:M, proportion:M) with
    estimate, ci_low, ci_high; `attrs["mediator_correlation"]` holds corr(M_1, M_2) for two.
    """
    columns = [x, y, *mediators, *covariates] + ([cluster] if cluster else [])
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise KeyError(f"columns {missing} are not in the data ({list(data.columns)})")
    frame = data[columns].dropna().reset_index(drop=True)
    point = _mediation_paths(frame, x, y, mediators, covariates)
    groups = None if cluster is None else frame[cluster].to_numpy()
    draws = pd.DataFrame([_mediation_paths(frame.iloc[rows], x, y, mediators, covariates) for rows in bootstrap_indices(len(frame), n_boot, groups, seed)])
    quantiles = [(1 - level) / 2, 1 - (1 - level) / 2]
    rows = []
    for key, value in point.items():
        low, high = np.quantile(draws[key], quantiles)
        rows.append({"effect": key, "estimate": value, "ci_low": float(low), "ci_high": float(high)})
    table = pd.DataFrame(rows)
    if len(mediators) == 2:
        table.attrs["mediator_correlation"] = float(np.corrcoef(frame[mediators[0]], frame[mediators[1]])[0, 1])
    return table
