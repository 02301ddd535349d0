"""Readouts from one forward pass: logits at the last prompt token over candidate first tokens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from interp.models import LM
from interp.roles import Batch

__all__ = ["ClassReadout", "class_readout", "last_token_logits"]


@torch.inference_mode()
def last_token_logits(lm: LM, batch: Batch) -> torch.Tensor:
    """Full-vocabulary logits at each row's last prompt token [batch, vocab], fp32 on CPU.

    Needs a left-padded batch (the last prompt token is then the last position of every row),
    so only one position of logits is ever computed (`logits_to_keep=1`).
    """
    if batch.padding_side != "left":
        raise ValueError("last_token_logits needs a left-padded batch (tokenize(..., padding_side='left'))")
    out = lm.model(**batch.model_inputs(lm.device), use_cache=False, logits_to_keep=1)
    return out.logits[:, -1, :].float().cpu()


@dataclass
class ClassReadout:
    """Readout over K candidate classes.

    Attributes:
        logits: [batch, K] logits of each class's first token.
        probs: [batch, K] softmax over the K class logits.
        argmax: [batch] index of the top class (0-based).
        confidence: [batch] value of the top class (e.g. its midpoint).
        expected: [batch] Σ_k p_k · value_k.
        logit_diff: [batch] z_top − mean of the other K−1 logits.
    """

    logits: torch.Tensor
    probs: torch.Tensor
    argmax: torch.Tensor
    confidence: torch.Tensor
    expected: torch.Tensor
    logit_diff: torch.Tensor


def class_readout(logits: torch.Tensor, class_token_ids: Sequence[int], values: Sequence[float]) -> ClassReadout:
    """Read K classes from vocabulary logits [batch, vocab] by their first-token ids.

    `values` are the class values (confidence midpoints). The logit difference uses each row's
    own argmax as the target class (verbal_confidence.md §5 with y* = the clean argmax).
    """
    if len(class_token_ids) != len(values):
        raise ValueError(f"{len(class_token_ids)} class token ids but {len(values)} values")
    ids = torch.as_tensor(list(class_token_ids), dtype=torch.long)
    z = logits[:, ids].float()
    probs = z.softmax(-1)
    argmax = z.argmax(-1)
    value = torch.as_tensor(list(values), dtype=z.dtype)
    top = z.gather(1, argmax[:, None]).squeeze(1)
    others = (z.sum(-1) - top) / (z.shape[-1] - 1)
    return ClassReadout(
        logits=z,
        probs=probs,
        argmax=argmax,
        confidence=value[argmax],
        expected=probs @ value,
        logit_diff=top - others,
    )
