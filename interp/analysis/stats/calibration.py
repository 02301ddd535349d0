"""Calibration of confidence against correctness: reliability-diagram data, ECE, Brier and AUROC
(verbal_confidence.md §5)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

__all__ = ["auroc", "brier", "ece", "reliability"]


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
