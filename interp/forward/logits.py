"""Logits at the readout position: the last prompt token of every row of a left-padded batch,
computed for that one position only (`logits_to_keep=1`)."""

from __future__ import annotations

import torch

from interp.models import LM
from interp.prompting import Batch

__all__ = ["last_token_logits"]


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
