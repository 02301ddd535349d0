"""Array-level analysis that never touches a model: linear probes over stored activations,
steering directions, residual geometry (OOD statistics), donor matching for swaps, and the
papers' statistics (`interp.analysis.stats`)."""

from interp.analysis.contrasts import group_contrast, paired_contrasts, recovery_contrasts
from interp.analysis.geometry import OODStats, natural_variation, ood_stats
from interp.analysis.matching import length_matched_donors, quantile_bins
from interp.analysis.probes import CVResult, LinearProbe, cross_validate, evaluate_probes, probe_sweep, read_labels, target_problem, train_probes
from interp.analysis.steering import mean_difference, scale_to_norm, steering_vector

__all__ = [
    "CVResult",
    "LinearProbe",
    "OODStats",
    "cross_validate",
    "evaluate_probes",
    "group_contrast",
    "length_matched_donors",
    "mean_difference",
    "natural_variation",
    "paired_contrasts",
    "ood_stats",
    "probe_sweep",
    "quantile_bins",
    "read_labels",
    "recovery_contrasts",
    "scale_to_norm",
    "steering_vector",
    "target_problem",
    "train_probes",
]
