"""The multiple-choice readout at AC (abstention.md §5): option probabilities over the option
number tokens with a calibration temperature, the choice, the abstain option, and per cell the
abstention rate and the accuracy among answered trials."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from interp.readouts.base import CellMetrics, Columns, Metric, ReadsMetrics, against_clean, aggregations, tensor_columns

__all__ = ["OptionReadout", "OptionScores", "fit_temperature", "option_scores"]


@dataclass
class OptionScores:
    """MCQ scores over option first tokens.

    Attributes:
        logits: [batch, K] option logits (K = 4, or 5 with the abstain option).
        probs: [batch, K] softmax(logits / temperature).
        choice: [batch] chosen option, 1-based.
        chosen_confidence: [batch] probability of the choice.
        max_real: [batch] max over options 1–4.
        abstain: [batch] bool, the choice is option 5 (False when K = 4).
        margin: [batch] max_real − P(option 5) (NaN when K = 4).
    """

    logits: torch.Tensor
    probs: torch.Tensor
    choice: torch.Tensor
    chosen_confidence: torch.Tensor
    max_real: torch.Tensor
    abstain: torch.Tensor
    margin: torch.Tensor


def option_scores(logits: torch.Tensor, option_token_ids: Sequence[int], temperature: float = 1.0) -> OptionScores:
    """Option probabilities from vocabulary logits [batch, vocab], calibrated by `temperature`."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    z = logits[:, torch.as_tensor(list(option_token_ids), dtype=torch.long)].float()
    probs = (z / temperature).softmax(-1)
    top = probs.argmax(-1)
    real = probs[:, :4].max(-1).values
    has_abstain = z.shape[-1] == 5
    return OptionScores(
        logits=z,
        probs=probs,
        choice=top + 1,
        chosen_confidence=probs.gather(1, top[:, None]).squeeze(1),
        max_real=real,
        abstain=(top == 4) if has_abstain else torch.zeros_like(top, dtype=torch.bool),
        margin=real - probs[:, 4] if has_abstain else torch.full_like(real, float("nan")),
    )


def fit_temperature(option_logits: torch.Tensor, correct: Sequence[int], bounds: tuple[float, float] = (0.01, 100.0)) -> float:
    """τ* = argmin_τ −Σ log softmax(z/τ)[correct] over a calibration set (abstention.md §5).

    Args:
        option_logits: [n, K] option logits (e.g. `OptionScores.logits` of a 4-way pass).
        correct: [n] correct option per row, 1-based.
        bounds: search interval for τ (searched on a log scale).
    """
    from scipy.optimize import minimize_scalar

    z = torch.as_tensor(option_logits, dtype=torch.float64)
    target = torch.as_tensor(list(correct), dtype=torch.long) - 1
    if z.ndim != 2 or target.shape != (z.shape[0],):
        raise ValueError(f"option_logits must be [n, K] and correct [n]; got {list(z.shape)} and {list(target.shape)}")
    if (target < 0).any() or (target >= z.shape[1]).any():
        raise ValueError(f"correct options must lie in 1..{z.shape[1]}")

    def nll(log_tau: float) -> float:
        return float(-(z / np.exp(log_tau)).log_softmax(-1).gather(1, target[:, None]).sum())

    result = minimize_scalar(nll, bounds=(np.log(bounds[0]), np.log(bounds[1])), method="bounded", options={"xatol": 1e-6})
    return float(np.exp(result.x))


def _answered_accuracy(choice: str, correct: str):
    def accuracy(rows: pd.DataFrame) -> float:
        if correct not in rows.columns:
            return float("nan")
        answered = rows[rows[choice] <= 4]
        return float((answered[choice] == answered[correct].astype(float)).mean()) if len(answered) else float("nan")

    return accuracy


@dataclass(frozen=True)
class OptionReadout(ReadsMetrics):
    """The `Readout` of an MCQ answer at the last prompt token.

    Columns: choice (1-based), chosen_confidence, max_real, abstain, margin, probs, and the raw
    option logits (read by one-pass captures, not kept in sweep tables); against a
    clean run also changed (another option chosen) and delta_max_real. Per cell: the abstention
    rate (clean and intervened), mean Δmax_real, the change rate, and the accuracy among answered
    trials where the rows hold the `correct` column (1-based correct option).

    Attributes:
        token_ids: first tokens of the option numbers ("1"–"4", and "5" for abstain).
        temperature: calibration temperature of the option probabilities.
        correct: the column of sweep rows holding each trial's correct option.
    """

    token_ids: tuple[int, ...]
    temperature: float = 1.0
    correct: str = "correct_option"
    clean_columns: tuple[str, ...] = ("choice", "abstain", "max_real")
    columns: tuple[str, ...] = ("choice", "chosen_confidence", "max_real", "abstain", "margin", "changed", "delta_max_real")
    list_columns: tuple[str, ...] = ("probs",)

    @property
    def metrics(self) -> CellMetrics:
        return CellMetrics(
            aggregations=aggregations({"abstain_rate": "abstain"}, ("max_real",)),
            recovered=(Metric("abstain_rate", lambda rows: rows["abstain"].mean(), lambda rows: rows["clean_abstain"].mean()),),
            extra=lambda rows: {
                "clean_answered_accuracy": _answered_accuracy("clean_choice", self.correct)(rows),
                "answered_accuracy": _answered_accuracy("choice", self.correct)(rows),
            },
        )

    def read(self, logits: torch.Tensor, clean: Columns | None = None) -> Columns:
        scores = option_scores(logits, self.token_ids, self.temperature)
        columns = tensor_columns(scores, ("choice", "chosen_confidence", "max_real", "abstain", "margin", "probs", "logits"))
        return against_clean(columns, clean, "choice", ("max_real",))
