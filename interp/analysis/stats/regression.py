"""Regressions of the papers on scikit-learn and statsmodels: variance partitioning with
cross-validated ridge (verbal_confidence.md §6.8) and nested logistic regressions with
likelihood-ratio tests, AIC, McFadden R² and standardised betas (error_detection.md §5,
abstention.md §5)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

__all__ = ["RIDGE_ALPHAS", "Increment", "clustered_slope", "pearson", "LogitComparison", "VariancePartition", "cluster_covariance", "convergence_flags", "fit_logit", "increment_test", "nested_logit", "oof_logit", "variance_partition"]

RIDGE_ALPHAS = tuple(10.0**k for k in range(6))
"""Ridge α grid for inner CV, 10⁰–10⁵ (verbal_confidence.md §8)."""


@dataclass
class VariancePartition:
    """Cross-validated R² of activations, baselines and both, and the unique share of the
    activations: r2_unique = max(0, r2_both − r2_base)."""

    r2_act: float
    r2_base: float
    r2_both: float
    r2_unique: float


def _cv_r2(X: np.ndarray, y: np.ndarray, alpha: float | None, cv: int, seed: int) -> float:
    ridge = Ridge(alpha=alpha) if alpha is not None else RidgeCV(alphas=RIDGE_ALPHAS)
    model = Pipeline([("scale", StandardScaler()), ("ridge", ridge)])
    oof = cross_val_predict(model, X, y, cv=KFold(cv, shuffle=True, random_state=seed))
    return float(r2_score(y, oof))


def variance_partition(activations, baselines, target, alpha: float | None = 1.0, cv: int = 5, seed: int = 0) -> VariancePartition:
    """verbal_confidence.md §6.8: three 5-fold ridge models (features z-scored in-fold)
    predicting `target` [n] from activations [n, d], baselines [n, k], and both. `alpha` is the
    ridge α, or None to choose it inside each training fold (RidgeCV over `RIDGE_ALPHAS`, its
    efficient leave-one-out CV; abstention.md §8)."""
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


def fit_logit(y: np.ndarray, X: pd.DataFrame, standardise: bool = False, clusters=None):
    """statsmodels Logit of y [n] on the columns of X plus a constant, fitted quietly; with
    `standardise` every column z-scored first (population SD), with `clusters` [n] standard
    errors clustered by them (cov_type="cluster")."""
    import statsmodels.api as sm

    if standardise:
        X = (X - X.mean()) / X.std(ddof=0)
    return sm.Logit(y, sm.add_constant(X, has_constant="add")).fit(disp=0, **cluster_covariance(clusters))


def convergence_flags(caught: Sequence[warnings.WarningMessage]) -> list[str]:
    """The names of the statsmodels separation and convergence warnings among `caught` (from
    `warnings.catch_warnings(record=True)` around a fit): a non-empty list means its
    coefficients and tests are unreliable."""
    return sorted({type(w.message).__name__ for w in caught if "Separation" in type(w.message).__name__ or "Convergence" in type(w.message).__name__})


def cluster_covariance(clusters=None) -> dict:
    """The statsmodels `fit` options for standard errors clustered by `clusters` [n] (any labels;
    none: the model-based covariance)."""
    if clusters is None:
        return {}
    return {"cov_type": "cluster", "cov_kwds": {"groups": pd.factorize(pd.Series(np.asarray(clusters)))[0]}}


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
    standardized = fit_logit(y, frame[[*base, *added]], standardise=True).params.drop("const")
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


def oof_logit(data: pd.DataFrame, outcome: str, predictors: Sequence[str], cv: int = 5, seed: int = 0) -> np.ndarray:
    """[n] out-of-fold P(outcome = 1) of an unpenalised logistic regression on `predictors`
    (z-scored inside each training fold), stratified `cv`-fold: the out-of-sample scoring of the
    nested models' AUROCs (error_detection.md §5)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    y = data[outcome].to_numpy(dtype=np.float64)
    X = data[list(predictors)].to_numpy(dtype=np.float64)
    model = Pipeline([("scale", StandardScaler()), ("logit", LogisticRegression(C=np.inf, max_iter=5000))])
    splitter = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed)
    return cross_val_predict(model, X, y, cv=splitter, method="predict_proba")[:, 1]


@dataclass
class Increment:
    """Does a score add to a baseline? y ~ B vs y ~ B + s (error_detection.md §5 "probe increment").

    Attributes:
        n, n_positive: rows and outcome-1 rows used (rows with a missing value are left out).
        baseline: the baseline columns used (a column constant on these rows is dropped).
        lr_stat, lr_df, lr_p: the LR test of adding s (in-sample fits).
        auroc_baseline, auroc_full: AUROC of the out-of-fold predictions of B and of B + s.
        auroc_score: AUROC of s alone.
        difference, ci_low, ci_high, p: auroc_full − auroc_baseline with its paired percentile
            bootstrap CI over rows (the out-of-fold predictions held fixed) and bootstrap p.
        comparison: the `LogitComparison` (betas standardised, AIC, McFadden R²).
        status: "ok", or why the test could not be run (then the numbers are NaN).
    """

    n: int
    n_positive: int
    baseline: list[str]
    lr_stat: float = float("nan")
    lr_df: int = 1
    lr_p: float = float("nan")
    auroc_baseline: float = float("nan")
    auroc_full: float = float("nan")
    auroc_score: float = float("nan")
    difference: float = float("nan")
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    p: float = float("nan")
    comparison: LogitComparison | None = None
    status: str = "ok"

    def row(self) -> dict:
        """The flat numbers, for a results table."""
        return {k: v for k, v in self.__dict__.items() if k != "comparison"} | {"baseline": ", ".join(self.baseline)}


def increment_test(data: pd.DataFrame, outcome: str, baseline: Sequence[str], score: str, cv: int = 5, seed: int = 0, n_boot: int = 1000) -> Increment:
    """y ~ B vs y ~ B + s: the LR χ²(1) of the added score (in-sample fits on the out-of-fold
    score), the AUROCs of the two models from `cv`-fold out-of-fold predictions, that of s alone,
    and a paired bootstrap CI of the AUROC gain. Baseline columns constant on the rows are
    dropped (e.g. A1 correctness on the A1-incorrect subset)."""
    from sklearn.metrics import roc_auc_score

    from interp.analysis.stats.bootstrap import bootstrap_indices

    frame = data[[outcome, *baseline, score]].dropna()
    y = frame[outcome].to_numpy(dtype=np.float64)
    used = [c for c in baseline if frame[c].nunique() > 1]
    result = Increment(n=len(frame), n_positive=int(y.sum()), baseline=used)
    if len(frame) == 0 or len(np.unique(y)) < 2:
        result.status = f"outcome {outcome!r} has one class on these rows"
        return result
    if min(int(y.sum()), int(len(y) - y.sum())) < cv:
        result.status = f"smallest class of {outcome!r} has {int(min(y.sum(), len(y) - y.sum()))} rows for {cv} folds"
        return result
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            comparison = nested_logit(frame, outcome, used, [score])
    except Exception as error:  # statsmodels: perfect separation, singular matrix
        result.status = f"logit fit failed: {type(error).__name__}: {error}"[:200]
        return result
    flagged = convergence_flags(caught)
    base_oof = oof_logit(frame, outcome, used, cv, seed) if used else np.full(len(y), y.mean())
    full_oof = oof_logit(frame, outcome, [*used, score], cv, seed)
    s = frame[score].to_numpy(dtype=np.float64)
    truth = y == 1

    def gain(rows: np.ndarray) -> float:
        if truth[rows].all() or not truth[rows].any():
            return float("nan")
        return roc_auc_score(truth[rows], full_oof[rows]) - roc_auc_score(truth[rows], base_oof[rows])

    draws = np.array([gain(rows) for rows in bootstrap_indices(len(y), n_boot, seed=seed)])
    draws = draws[np.isfinite(draws)]
    result.comparison = comparison
    result.lr_stat, result.lr_df, result.lr_p = comparison.lr_stat, comparison.lr_df, comparison.lr_p
    result.auroc_baseline = float(roc_auc_score(truth, base_oof))
    result.auroc_full = float(roc_auc_score(truth, full_oof))
    result.auroc_score = float(roc_auc_score(truth, s))
    result.difference = result.auroc_full - result.auroc_baseline
    result.ci_low, result.ci_high = (float(q) for q in np.quantile(draws, [0.025, 0.975]))
    result.p = min(1.0, 2 * min(float((draws <= 0).mean()), float((draws >= 0).mean())))
    if flagged:
        result.status = f"ok ({', '.join(flagged)}: the LR test is unreliable)"
    return result


def clustered_slope(y, x, clusters, level: float = 0.95) -> dict[str, float]:
    """OLS slope of y [n] on x [n] with standard errors clustered by `clusters` [n] (e.g. the item
    a steered trial belongs to; abstention.md §6.4): slope, its CI and p (statsmodels)."""
    import statsmodels.api as sm

    y, x = np.asarray(y, dtype=np.float64), np.asarray(x, dtype=np.float64)
    options = cluster_covariance(clusters)
    groups = options["cov_kwds"]["groups"]
    if not (len(y) == len(x) == len(groups)):
        raise ValueError(f"y, x and clusters must have the same length, got {len(y)}, {len(x)}, {len(groups)}")
    fit = sm.OLS(y, sm.add_constant(x, has_constant="add")).fit(**options)
    low, high = fit.conf_int(alpha=1 - level)[1]
    return {"slope": float(fit.params[1]), "ci_low": float(low), "ci_high": float(high), "p": float(fit.pvalues[1]), "n_clusters": int(groups.max() + 1)}


def pearson(x, y, level: float = 0.95) -> dict[str, float]:
    """Pearson r of x [n] and y [n] (rows with a NaN left out) with its Fisher-z CI and p
    (scipy); NaN with n < 4 or a constant variable."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    out = {"r": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "p": float("nan"), "n": int(len(x))}
    if len(x) < 4 or np.std(x) == 0 or np.std(y) == 0:
        return out
    fit = scipy_stats.pearsonr(x, y)
    interval = fit.confidence_interval(level)
    return {**out, "r": float(fit.statistic), "ci_low": float(interval.low), "ci_high": float(interval.high), "p": float(fit.pvalue)}
