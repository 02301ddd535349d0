"""Signal detection and paired accuracy tests: d′ and c with the log-linear correction, McNemar
(error_detection.md §5)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

__all__ = ["SDT", "d_prime_contrast", "d_prime_of", "mcnemar", "sdt"]


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


def d_prime_of(yes, label) -> float:
    """SDT d′ of verdicts `yes` [n] (1 = Y) against labels [n] (1 = the answer is correct): hits
    are correct answers endorsed, false alarms wrong answers endorsed; log-linear correction only
    where a rate is 0 or 1. NaN without both correct and wrong answers."""
    yes = np.asarray(yes, dtype=float) == 1
    label = np.asarray(label, dtype=float) == 1
    hits, misses = int((label & yes).sum()), int((label & ~yes).sum())
    false_alarms, rejections = int((~label & yes).sum()), int((~label & ~yes).sum())
    if hits + misses == 0 or false_alarms + rejections == 0:
        return float("nan")
    return sdt(hits, misses, false_alarms, rejections, correction="auto").d_prime


def d_prime_contrast(yes_a, yes_b, label, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> dict[str, float]:
    """Paired contrast of two conditions' verdicts on the same trials (e.g. patching PANL vs
    PANL+1 at one layer): d′_a, d′_b and d′_a − d′_b with a percentile bootstrap CI over trials
    and the two-sided bootstrap p. yes_a, yes_b: [n] verdicts (1 = Y); label: [n] A1 correct."""
    yes_a, yes_b = np.asarray(yes_a, dtype=float) == 1, np.asarray(yes_b, dtype=float) == 1
    label = np.asarray(label, dtype=float) == 1
    if not (yes_a.shape == yes_b.shape == label.shape) or label.ndim != 1:
        raise ValueError(f"yes_a, yes_b and label must be matching [n] arrays, got {yes_a.shape}, {yes_b.shape}, {label.shape}")
    a, b = d_prime_of(yes_a, label), d_prime_of(yes_b, label)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        rows = rng.integers(0, len(label), len(label))
        draws.append(d_prime_of(yes_a[rows], label[rows]) - d_prime_of(yes_b[rows], label[rows]))
    draws = np.asarray(draws)
    draws = draws[np.isfinite(draws)]
    if not len(draws):
        return {"d_prime_a": a, "d_prime_b": b, "difference": a - b, "ci_low": float("nan"), "ci_high": float("nan"), "p": float("nan")}
    low, high = np.quantile(draws, [(1 - level) / 2, 1 - (1 - level) / 2])
    p = min(1.0, 2 * min(float((draws <= 0).mean()), float((draws >= 0).mean())))
    return {"d_prime_a": a, "d_prime_b": b, "difference": a - b, "ci_low": float(low), "ci_high": float(high), "p": p}
