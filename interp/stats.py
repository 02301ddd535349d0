"""The papers' statistics, on scikit-learn, statsmodels and scipy: calibration (ECE, Brier, AUROC,
reliability data), variance partitioning with cross-validated ridge, nested logistic regressions
with likelihood-ratio tests, SDT d′ and c, McNemar, implicit thresholds, and bootstrap CIs.
Formulas follow shared/research/*.md §5.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

__all__ = [
    "LogitComparison",
    "SDT",
    "VariancePartition",
    "auroc",
    "bootstrap_ci",
    "bootstrap_indices",
    "brier",
    "ece",
    "implicit_threshold",
    "mcnemar",
    "nested_logit",
    "paired_bootstrap_test",
    "parallel_mediation",
    "phase4_policy",
    "reliability",
    "sdt",
    "variance_partition",
]


def _pair(confidence, correct) -> tuple[np.ndarray, np.ndarray]:
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    if confidence.shape != correct.shape or confidence.ndim != 1:
        raise ValueError(f"confidence and correct must be matching [n] arrays, got {confidence.shape} and {correct.shape}")
    if ((confidence < 0) | (confidence > 1)).any():
        raise ValueError("confidence must lie in [0, 1]")
    return confidence, correct


def reliability(confidence, correct, n_bins: int = 10) -> pd.DataFrame:
    """Reliability-diagram data over `n_bins` equal-width bins of [0, 1] (1.0 falls in the last):
    bin_low, bin_high, n, mean_confidence, accuracy (empty bins have n = 0 and NaN means)."""
    confidence, correct = _pair(confidence, correct)
    edges = np.linspace(0, 1, n_bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=False), 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        inside = which == b
        rows.append(
            {
                "bin_low": edges[b],
                "bin_high": edges[b + 1],
                "n": int(inside.sum()),
                "mean_confidence": float(confidence[inside].mean()) if inside.any() else float("nan"),
                "accuracy": float(correct[inside].mean()) if inside.any() else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def ece(confidence, correct, n_bins: int = 10) -> float:
    """Expected calibration error Σ_b (n_b/N)·|acc_b − conf_b| over equal-width bins."""
    table = reliability(confidence, correct, n_bins)
    filled = table[table["n"] > 0]
    return float((filled["n"] / filled["n"].sum() * (filled["accuracy"] - filled["mean_confidence"]).abs()).sum())


def brier(confidence, correct) -> float:
    """Mean squared difference between confidence and correctness."""
    confidence, correct = _pair(confidence, correct)
    return float(np.mean((confidence - correct) ** 2))


def auroc(score, label) -> float:
    """Area under the ROC curve of `score` for binary `label` (Mann–Whitney, ties averaged)."""
    label = np.asarray(label)
    if len(np.unique(label)) != 2:
        raise ValueError("AUROC needs both classes in label")
    return float(roc_auc_score(label, np.asarray(score, dtype=np.float64)))


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


def _logit(y: np.ndarray, X: pd.DataFrame):
    import statsmodels.api as sm

    return sm.Logit(y, sm.add_constant(X, has_constant="add")).fit(disp=0)


def nested_logit(data: pd.DataFrame, outcome: str, base: Sequence[str], added: Sequence[str]) -> LogitComparison:
    """Compare logit(outcome ~ base) with logit(outcome ~ base + added) (abstention.md §5)."""
    missing = [c for c in [outcome, *base, *added] if c not in data.columns]
    if missing:
        raise KeyError(f"columns {missing} are not in the data ({list(data.columns)})")
    frame = data[[outcome, *base, *added]].dropna()
    y = frame[outcome].to_numpy(dtype=np.float64)
    small = _logit(y, frame[list(base)]) if base else _logit(y, frame[[]])
    large = _logit(y, frame[[*base, *added]])
    lr = 2 * (large.llf - small.llf)
    df = len(added)
    z = frame[[*base, *added]]
    standardized = _logit(y, (z - z.mean()) / z.std(ddof=0)).params.drop("const")
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


@dataclass
class SDT:
    """Signal detection: hit and false-alarm rates (after correction), d′ = z(H) − z(F) and
    c = −(z(H) + z(F))/2."""

    hit_rate: float
    false_alarm_rate: float
    d_prime: float
    criterion: float


def sdt(hits: int, misses: int, false_alarms: int, correct_rejections: int, correction: str = "loglinear") -> SDT:
    """d′ and c from counts. correction="loglinear" adds 0.5 to every count (Hautus 1995), so
    rates of 0 or 1 stay finite; "none" uses the raw rates."""
    counts = np.array([hits, misses, false_alarms, correct_rejections], dtype=np.float64)
    if (counts < 0).any() or counts[:2].sum() == 0 or counts[2:].sum() == 0:
        raise ValueError(f"need non-negative counts with signal and noise trials, got {counts.tolist()}")
    if correction == "loglinear":
        counts = counts + 0.5
    elif correction != "none":
        raise ValueError(f"correction must be 'loglinear' or 'none', got {correction!r}")
    h = counts[0] / (counts[0] + counts[1])
    f = counts[2] / (counts[2] + counts[3])
    zh, zf = scipy_stats.norm.ppf(h), scipy_stats.norm.ppf(f)
    return SDT(float(h), float(f), float(zh - zf), float(-(zh + zf) / 2))


def mcnemar(before, after) -> tuple[float, float]:
    """McNemar χ² = (b − c)²/(b + c) without continuity correction (error_detection.md §5) and its
    p-value (χ², 1 df), for paired booleans: b = before wrong & after right, c = the reverse."""
    before, after = np.asarray(before, dtype=bool), np.asarray(after, dtype=bool)
    b = int((~before & after).sum())
    c = int((before & ~after).sum())
    if b + c == 0:
        return 0.0, 1.0
    stat = (b - c) ** 2 / (b + c)
    return float(stat), float(scipy_stats.chi2.sf(stat, 1))


def implicit_threshold(intercept: float, beta_confidence: float, beta_difficulty: float = 0.0, mean_difficulty: float = 0.0) -> tuple[float, float]:
    """T50 = −(β0 + β_D·D̄)/β_C (P(abstain) = 0.5 at mean difficulty) and the policy temperature
    1/|β_C|, in confidence units (abstention.md §5)."""
    if beta_confidence == 0:
        raise ValueError("beta_confidence is 0: no threshold")
    return -(intercept + beta_difficulty * mean_difficulty) / beta_confidence, 1.0 / abs(beta_confidence)


def phase4_policy(intercept: float, beta_threshold: float, beta_confidence: float) -> dict[str, float]:
    """logit P(abstain) = β0 + β_T·T + β_C·C (points) → scale = −β_C/β_T, shift = −β0/β_T,
    temperature = 1/β_T, so P(abstain) = σ((T − shift − scale·C)/temperature)."""
    if beta_threshold == 0:
        raise ValueError("beta_threshold is 0")
    return {"scale": -beta_confidence / beta_threshold, "shift": -intercept / beta_threshold, "temperature": 1.0 / beta_threshold}


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


def _mediation_paths(frame: pd.DataFrame, x: str, y: str, mediators: Sequence[str], covariates: Sequence[str]) -> dict[str, float]:
    import statsmodels.api as sm

    estimates: dict[str, float] = {}
    outcome = frame[y].to_numpy(dtype=np.float64)
    total = _logit(outcome, frame[[x, *covariates]]).params[x]
    direct_fit = _logit(outcome, frame[[x, *mediators, *covariates]]).params
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
