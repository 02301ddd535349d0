"""The papers' statistics, on scikit-learn, statsmodels and scipy: calibration (ECE, Brier, AUROC,
reliability data), variance partitioning with cross-validated ridge, nested logistic regressions
with likelihood-ratio tests, SDT d′ and c, McNemar, implicit thresholds, bootstrap CIs and paired
tests, and parallel mediation. Formulas follow shared/research/*.md §5."""

from interp.analysis.stats.bootstrap import bootstrap_ci, bootstrap_indices, bootstrap_score, paired_bootstrap_test
from interp.analysis.stats.calibration import auroc, brier, ece, reliability
from interp.analysis.stats.mediation import parallel_mediation
from interp.analysis.stats.regression import RIDGE_ALPHAS, Increment, LogitComparison, VariancePartition, cluster_covariance, clustered_slope, convergence_flags, fit_logit, pearson, increment_test, nested_logit, oof_logit, variance_partition
from interp.analysis.stats.sdt import SDT, d_prime_contrast, d_prime_of, mcnemar, sdt
from interp.analysis.stats.thresholds import bandness, implicit_threshold, phase4_policy

__all__ = [
    "RIDGE_ALPHAS",
    "SDT",
    "bandness",
    "Increment",
    "LogitComparison",
    "VariancePartition",
    "auroc",
    "bootstrap_ci",
    "cluster_covariance",
    "convergence_flags",
    "clustered_slope",
    "bootstrap_indices",
    "bootstrap_score",
    "brier",
    "d_prime_contrast",
    "d_prime_of",
    "ece",
    "fit_logit",
    "implicit_threshold",
    "increment_test",
    "mcnemar",
    "nested_logit",
    "oof_logit",
    "paired_bootstrap_test",
    "pearson",
    "parallel_mediation",
    "phase4_policy",
    "reliability",
    "sdt",
    "variance_partition",
]
