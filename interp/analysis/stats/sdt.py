"""Signal detection and paired accuracy tests: d′ and c with the log-linear correction, McNemar
(error_detection.md §5)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

__all__ = ["SDT", "mcnemar", "sdt"]


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
    rates of 0 or 1 stay finite; "auto" does so only when a raw rate is 0 or 1
    (error_detection.md §5); "none" uses the raw rates."""
    counts = np.array([hits, misses, false_alarms, correct_rejections], dtype=np.float64)
    if (counts < 0).any() or counts[:2].sum() == 0 or counts[2:].sum() == 0:
        raise ValueError(f"need non-negative counts with signal and noise trials, got {counts.tolist()}")
    if correction not in ("loglinear", "auto", "none"):
        raise ValueError(f"correction must be 'loglinear', 'auto' or 'none', got {correction!r}")
    extreme = (counts[0] * counts[1] == 0) or (counts[2] * counts[3] == 0)
    if correction == "loglinear" or (correction == "auto" and extreme):
        counts = counts + 0.5
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
