"""Regressions of the papers on scikit-learn and statsmodels: variance partitioning with
cross-validated ridge (verbal_confidence.md §6.8) and nested logistic regressions with
likelihood-ratio tests, AIC, McFadden R² and standardised betas (error_detection.md §5,
abstention.md §5)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

__all__ = ["LogitComparison", "VariancePartition", "fit_logit", "nested_logit", "variance_partition"]


@dataclass
class VariancePartition:
    """Cross-validated R² of activations, baselines and both, and the unique share of the
    activations: r2_unique = max(0, r2_both − r2_base)."""

    r2_act: float
    r2_base: float
    r2_both: float
    r2_unique: float


def _cv_r2(X: np.ndarray, y: np.ndarray, alpha: float, cv: int, seed: int) -> float:
    model = Pipeline([("scale", StandardScaler()), ("ridge", Ridge(alpha=alpha))])
    oof = cross_val_predict(model, X, y, cv=KFold(cv, shuffle=True, random_state=seed))
    return float(r2_score(y, oof))


def variance_partition(activations, baselines, target, alpha: float = 1.0, cv: int = 5, seed: int = 0) -> VariancePartition:
    """verbal_confidence.md §6.8: three 5-fold ridge models (α = 1, features z-scored in-fold)
    predicting `target` [n] from activations [n, d], baselines [n, k], and both."""
    A = np.asarray(activations, dtype=np.float64)
    B = np.asarray(baselines, dtype=np.float64)
    B = B[:, None] if B.ndim == 1 else B
    y = np.asarray(target, dtype=np.float64)
    if not (A.shape[0] == B.shape[0] == y.shape[0]):
        raise ValueError(f"rows differ: activations {A.shape[0]}, baselines {B.shape[0]}, target {y.shape[0]}")
    r2_act = _cv_r2(A, y, alpha, cv, seed)
    r2_base = _cv_r2(B, y, alpha, cv, seed)
    r2_both = _cv_r2(np.hstack([A, B]), y, alpha, cv, seed)
    return VariancePartition(r2_act, r2_base, r2_both, max(0.0, r2_both - r2_base))


@dataclass
class LogitComparison:
    """Nested logistic regressions: the base and full statsmodels results, the LR test of the
    added terms (statistic, df, p), AIC and McFadden pseudo-R² of each, and the full model's
    standardised betas (every predictor z-scored)."""

    base: object
    full: object
    lr_stat: float
    lr_df: int
    lr_p: float
    aic_base: float
    aic_full: float
    pseudo_r2_base: float
    pseudo_r2_full: float
    standardized_betas: pd.Series


def fit_logit(y: np.ndarray, X: pd.DataFrame):
    """statsmodels Logit of y [n] on the columns of X plus a constant, fitted quietly."""
    import statsmodels.api as sm

    return sm.Logit(y, sm.add_constant(X, has_constant="add")).fit(disp=0)


def nested_logit(data: pd.DataFrame, outcome: str, base: Sequence[str], added: Sequence[str]) -> LogitComparison:
    """Compare logit(outcome ~ base) with logit(outcome ~ base + added) (abstention.md §5)."""
    missing = [c for c in [outcome, *base, *added] if c not in data.columns]
    if missing:
        raise KeyError(f"columns {missing} are not in the data ({list(data.columns)})")
    frame = data[[outcome, *base, *added]].dropna()
    y = frame[outcome].to_numpy(dtype=np.float64)
    small = fit_logit(y, frame[list(base)]) if base else fit_logit(y, frame[[]])
    large = fit_logit(y, frame[[*base, *added]])
    lr = 2 * (large.llf - small.llf)
    df = len(added)
    z = frame[[*base, *added]]
    standardized = fit_logit(y, (z - z.mean()) / z.std(ddof=0)).params.drop("const")
    return LogitComparison(
        base=small,
        full=large,
        lr_stat=float(lr),
        lr_df=df,
        lr_p=float(scipy_stats.chi2.sf(lr, df)),
        aic_base=float(small.aic),
        aic_full=float(large.aic),
        pseudo_r2_base=float(small.prsquared),
        pseudo_r2_full=float(large.prsquared),
        standardized_betas=standardized,
    )
