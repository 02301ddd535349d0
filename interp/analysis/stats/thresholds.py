"""Abstention policies read off fitted logits: the implicit threshold T50 and the Phase-4
scale / shift / temperature (abstention.md §5)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["bandness", "implicit_threshold", "phase4_policy"]


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


def bandness(abstain, confidence, threshold, n_bins: int = 10) -> tuple[float, pd.DataFrame]:
    """Bandness of the Phase-4 surface (abstention.md §6.6, our definition): A[r, t] = abstention
    rate in confidence decile r (quantile bins of `confidence`) at threshold t; SS_conf and SS_T
    are the count-weighted sums of squares of the row and column means around the grand mean;
    bandness = SS_conf / (SS_conf + SS_T) (near 1: horizontal bands, confidence absorbs the
    threshold). Returns (bandness, the surface as a long table: bin, threshold, n, rate, and the
    bin's confidence_low and confidence_high)."""
    frame = pd.DataFrame({"abstain": np.asarray(abstain, dtype=float), "confidence": np.asarray(confidence, dtype=float), "threshold": np.asarray(threshold, dtype=float)}).dropna()
    if frame.empty:
        raise ValueError("bandness: no rows with abstention, confidence and threshold")
    ranks = frame["confidence"].rank(method="first")
    frame["bin"] = pd.qcut(ranks, q=min(n_bins, len(frame)), labels=False)
    grand = frame["abstain"].mean()
    rows = frame.groupby("bin")["abstain"].agg(["mean", "size"])
    columns = frame.groupby("threshold")["abstain"].agg(["mean", "size"])
    ss_conf = float((rows["size"] * (rows["mean"] - grand) ** 2).sum())
    ss_t = float((columns["size"] * (columns["mean"] - grand) ** 2).sum())
    surface = frame.groupby(["bin", "threshold"])["abstain"].agg(n="size", rate="mean").reset_index()
    edges = frame.groupby("bin")["confidence"].agg(confidence_low="min", confidence_high="max")
    surface = surface.merge(edges, left_on="bin", right_index=True)
    total = ss_conf + ss_t
    return (float("nan") if total == 0 else ss_conf / total), surface
