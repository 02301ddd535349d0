"""The Y/N verification readout at PL (error_detection.md §3.2, §5): V = argmax over the Y and N
first tokens, VLD = log P(Y) − log P(N) from the full-vocabulary softmax, and per cell the SDT
sensitivity d′ of V against a correctness label held fixed from the clean run."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from interp.analysis.stats.sdt import d_prime_of
from interp.readouts.base import CellMetrics, Columns, Metric, ReadsMetrics, against_clean, aggregations, tensor_columns

__all__ = ["YesNoReadout", "YesNoScores", "d_prime", "yes_no_scores"]


@dataclass
class YesNoScores:
    """Verification scores.

    Attributes:
        yes: [batch] bool, argmax over the Y and N first tokens is Y.
        vld: [batch] log P(Y) − log P(N) from the full-vocabulary softmax.
        p_yes: [batch] P(Y) / (P(Y) + P(N)).
    """

    yes: torch.Tensor
    vld: torch.Tensor
    p_yes: torch.Tensor


def yes_no_scores(logits: torch.Tensor, yes_id: int, no_id: int) -> YesNoScores:
    """Read Y/N from vocabulary logits [batch, vocab]."""
    logp = logits.float().log_softmax(-1)
    y, n = logp[:, yes_id], logp[:, no_id]
    return YesNoScores(yes=y > n, vld=y - n, p_yes=torch.sigmoid(y - n))


d_prime = d_prime_of
"""SDT d′ of verdicts against A1 correctness (`interp.analysis.stats.d_prime_of`)."""


@dataclass(frozen=True)
class YesNoReadout(ReadsMetrics):
    """The `Readout` of a Y/N verdict at the last prompt token.

    Columns: yes, vld, p_yes; against a clean run also changed (the verdict flipped) and
    delta_vld. Per cell: the yes rate, mean ΔVLD, the flip rate, and d′ (clean and intervened)
    against the `label` column of the rows (the A1 correctness of the clean run), whose
    recovery patching reports.

    Attributes:
        yes_id, no_id: first tokens of "Y" and "N" as emitted after the readout prefix.
        label: the column of sweep rows holding the correctness the verdict is scored against.
    """

    yes_id: int
    no_id: int
    label: str = "correct"
    clean_columns: tuple[str, ...] = ("yes", "vld")
    columns: tuple[str, ...] = ("yes", "vld", "p_yes", "changed", "delta_vld")
    list_columns: tuple[str, ...] = ()

    @property
    def token_ids(self) -> tuple[int, int]:
        """(Y, N) first-token ids."""
        return (self.yes_id, self.no_id)

    @property
    def metrics(self) -> CellMetrics:
        label = self.label

        def score(column: str):
            return lambda rows: d_prime(rows[column], _labels(rows, label))

        return CellMetrics(
            aggregations=aggregations({"yes_rate": "yes"}, ("vld",)),
            recovered=(Metric("d_prime", score("yes"), score("clean_yes")), Metric("change_rate", lambda rows: rows["changed"].mean(), 0.0)),
            extra=lambda rows: {"clean_d_prime": score("clean_yes")(rows), "d_prime": score("yes")(rows)},
        )

    def read(self, logits: torch.Tensor, clean: Columns | None = None) -> Columns:
        columns = tensor_columns(yes_no_scores(logits, self.yes_id, self.no_id), ("yes", "vld", "p_yes"))
        return against_clean(columns, clean, "yes", ("vld",))


def _labels(rows: pd.DataFrame, label: str) -> pd.Series:
    if label not in rows.columns:
        raise KeyError(f"d′ needs the label column {label!r} in the sweep rows (columns: {list(rows.columns)})")
    return rows[label].astype(float)
