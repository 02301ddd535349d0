"""Abstention policies read off fitted logits: the implicit threshold T50 and the Phase-4
scale / shift / temperature (abstention.md §5)."""

from __future__ import annotations

__all__ = ["implicit_threshold", "phase4_policy"]


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
