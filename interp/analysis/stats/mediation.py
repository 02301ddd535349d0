"""Parallel mediation with cluster-robust path tests and a cluster bootstrap (abstention.md §6.5)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from interp.analysis.stats.bootstrap import bootstrap_indices
from interp.analysis.stats.regression import cluster_covariance, fit_logit

__all__ = ["parallel_mediation"]


def _path_fits(frame: pd.DataFrame, x: str, y: str, mediators: Sequence[str], covariates: Sequence[str], clusters=None) -> dict[str, tuple[object, str]]:
    """Each path's statsmodels fit and the coefficient that is the path: total c (logistic
    Y ~ X), direct c′ and b_k (logistic Y ~ X + ΣM_k), a_k (OLS M_k ~ X), all with the covariates;
    standard errors clustered by `clusters` [n] when given."""
    import statsmodels.api as sm

    outcome = frame[y].to_numpy(dtype=np.float64)
    direct = fit_logit(outcome, frame[[x, *mediators, *covariates]], clusters=clusters)
    fits = {"total": (fit_logit(outcome, frame[[x, *covariates]], clusters=clusters), x), "direct": (direct, x)}
    design = sm.add_constant(frame[[x, *covariates]], has_constant="add")
    for m in mediators:
        fits[f"a:{m}"] = (sm.OLS(frame[m].to_numpy(dtype=np.float64), design).fit(**cluster_covariance(clusters)), x)
        fits[f"b:{m}"] = (direct, m)
    return fits


def _effects(fits: dict[str, tuple[object, str]], mediators: Sequence[str]) -> dict[str, float]:
    """The path coefficients of `_path_fits`, and indirect_k = a_k·b_k, proportion_k = indirect_k / c."""
    estimates = {name: float(fit.params[term]) for name, (fit, term) in fits.items()}
    for m in mediators:
        estimates[f"indirect:{m}"] = estimates[f"a:{m}"] * estimates[f"b:{m}"]
        estimates[f"proportion:{m}"] = estimates[f"indirect:{m}"] / estimates["total"]
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
    estimate, ci_low, ci_high, and for the path coefficients (total, direct, a:M, b:M) se and p
    of the statsmodels fit — clustered by `cluster` when given (cov_type="cluster"), else
    model-based; NaN for the indirect effects and proportions (the bootstrap CI is their test).
    `attrs["mediator_correlation"]` holds corr(M_1, M_2) for two mediators.
    """
    columns = [x, y, *mediators, *covariates] + ([cluster] if cluster else [])
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise KeyError(f"columns {missing} are not in the data ({list(data.columns)})")
    frame = data[columns].dropna().reset_index(drop=True)
    groups = None if cluster is None else frame[cluster].to_numpy()
    fits = _path_fits(frame, x, y, mediators, covariates, clusters=groups)
    point = _effects(fits, mediators)
    draws = pd.DataFrame([_effects(_path_fits(frame.iloc[rows], x, y, mediators, covariates), mediators) for rows in bootstrap_indices(len(frame), n_boot, groups, seed)])
    quantiles = [(1 - level) / 2, 1 - (1 - level) / 2]
    rows = []
    for key, value in point.items():
        low, high = np.quantile(draws[key], quantiles)
        fit, term = fits.get(key, (None, None))
        se, p = (float(fit.bse[term]), float(fit.pvalues[term])) if fit is not None else (float("nan"), float("nan"))
        rows.append({"effect": key, "estimate": value, "ci_low": float(low), "ci_high": float(high), "se": se, "p": p})
    table = pd.DataFrame(rows)
    if len(mediators) == 2:
        table.attrs["mediator_correlation"] = float(np.corrcoef(frame[mediators[0]], frame[mediators[1]])[0, 1])
    return table
