"""K-class readouts over first tokens: the ten verbal-confidence classes at CC, or the digits
0–9 of the minimal and numeric prompts (verbal_confidence.md §5)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from interp.readouts.base import CellMetrics, Columns, Metric, ReadsMetrics, against_clean, aggregations, tensor_columns

__all__ = ["CLASS_METRICS", "ClassReadout", "ClassScores", "class_scores"]


@dataclass
class ClassScores:
    """Scores over K candidate classes.

    Attributes:
        logits: [batch, K] logits of each class's first token.
        probs: [batch, K] softmax over the K class logits.
        argmax: [batch] index of the top class (0-based).
        confidence: [batch] value of the top class (e.g. its midpoint).
        expected: [batch] Σ_k p_k · value_k.
        logit_diff: [batch] z_target − mean of the other K−1 logits.
    """

    logits: torch.Tensor
    probs: torch.Tensor
    argmax: torch.Tensor
    confidence: torch.Tensor
    expected: torch.Tensor
    logit_diff: torch.Tensor


def class_scores(
    logits: torch.Tensor,
    class_token_ids: Sequence[int],
    values: Sequence[float],
    target: torch.Tensor | None = None,
) -> ClassScores:
    """Read K classes from vocabulary logits [batch, vocab] by their first-token ids.

    `values` are the class values (confidence midpoints). The logit difference is
    z_target − mean of the other K−1 class logits, with `target` [batch] the class index to
    hold fixed (verbal_confidence.md §5: y*, the clean run's argmax); default each row's own
    argmax.
    """
    if len(class_token_ids) != len(values):
        raise ValueError(f"{len(class_token_ids)} class token ids but {len(values)} values")
    ids = torch.as_tensor(list(class_token_ids), dtype=torch.long)
    z = logits[:, ids].float()
    probs = z.softmax(-1)
    argmax = z.argmax(-1)
    value = torch.as_tensor(list(values), dtype=z.dtype)
    fixed = argmax if target is None else torch.as_tensor(target, dtype=torch.long).to(z.device)
    top = z.gather(1, fixed[:, None]).squeeze(1)
    others = (z.sum(-1) - top) / (z.shape[-1] - 1)
    return ClassScores(logits=z, probs=probs, argmax=argmax, confidence=value[argmax], expected=probs @ value, logit_diff=top - others)


def _mean(column: str):
    return lambda rows: rows[column].mean()


CLASS_METRICS = CellMetrics(
    aggregations=aggregations({"confidence": "confidence"}, ("confidence", "logit_diff")),
    recovered=(
        Metric("confidence", _mean("confidence"), _mean("clean_confidence")),
        Metric("logit_diff", _mean("logit_diff"), _mean("clean_logit_diff")),
        Metric("change_rate", _mean("changed"), 0.0),
    ),
)
"""Per cell: n, mean clean and intervened confidence, mean Δconfidence and ΔLD with SEMs, and
the change rate; recovery of confidence, LD and change rate."""


@dataclass(frozen=True)
class ClassReadout(ReadsMetrics):
    """The `Readout` of K classes at the last prompt token.

    Columns: argmax, confidence (value of the argmax class), expected, logit_diff (against the
    clean argmax when `clean` is given), probs; against a clean run also changed,
    delta_confidence and delta_logit_diff.

    Attributes:
        token_ids: first token of each class as emitted after the readout prefix.
        values: value of each class (midpoints; digit values for 0–9).
        labels: class names (for tables and figures).
    """

    token_ids: tuple[int, ...]
    values: tuple[float, ...]
    labels: tuple[str, ...] = ()
    clean_columns: tuple[str, ...] = ("argmax", "confidence", "logit_diff")
    columns: tuple[str, ...] = ("argmax", "confidence", "expected", "logit_diff", "changed", "delta_confidence", "delta_logit_diff")
    list_columns: tuple[str, ...] = ("probs",)
    metrics: CellMetrics = CLASS_METRICS

    def scores(self, logits: torch.Tensor, target: torch.Tensor | None = None) -> ClassScores:
        """`class_scores` of [batch, vocab] logits with this readout's tokens and values."""
        return class_scores(logits, self.token_ids, self.values, target)

    def read(self, logits: torch.Tensor, clean: Columns | None = None) -> Columns:
        target = None if clean is None else torch.as_tensor(clean["argmax"])
        columns = tensor_columns(self.scores(logits, target), ("argmax", "confidence", "expected", "logit_diff", "probs"))
        return against_clean(columns, clean, "argmax", ("confidence", "logit_diff"))
