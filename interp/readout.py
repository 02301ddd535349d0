"""Readouts from one forward pass: logits at the last prompt token over candidate first tokens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from interp.models import LM
from interp.roles import Batch

__all__ = ["ClassReadout", "OODStats", "class_readout", "last_token_logits", "natural_variation", "ood_stats"]


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


def class_readout(
    logits: torch.Tensor,
    class_token_ids: Sequence[int],
    values: Sequence[float],
    target: torch.Tensor | None = None,
) -> ClassReadout:
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
    return ClassReadout(
        logits=z,
        probs=probs,
        argmax=argmax,
        confidence=value[argmax],
        expected=probs @ value,
        logit_diff=top - others,
    )


@dataclass
class OODStats:
    """How far intervened residuals sit from clean ones: cosine [n] and norm ratio ‖h̃‖/‖h‖ [n]."""

    cosine: torch.Tensor
    norm_ratio: torch.Tensor


def ood_stats(intervened: torch.Tensor, clean: torch.Tensor) -> OODStats:
    """Cosine and norm ratio between intervened and clean residuals, row by row ([n, d_model] each)."""
    if intervened.shape != clean.shape:
        raise ValueError(f"intervened {list(intervened.shape)} and clean {list(clean.shape)} residuals differ in shape")
    a, b = intervened.double(), clean.double()
    return OODStats(
        cosine=torch.nn.functional.cosine_similarity(a, b, dim=-1).float(),
        norm_ratio=(a.norm(dim=-1) / b.norm(dim=-1)).float(),
    )


def natural_variation(activations: torch.Tensor, n_pairs: int = 1000, seed: int = 0) -> OODStats:
    """The same statistics between random pairs of distinct trials at one (layer, role)
    ([n, d_model] → n_pairs values), the natural range an intervention is judged against."""
    n = activations.shape[0]
    if n < 2:
        raise ValueError("natural_variation needs at least two trials")
    generator = torch.Generator().manual_seed(seed)
    first = torch.randint(n, (n_pairs,), generator=generator)
    second = (first + torch.randint(1, n, (n_pairs,), generator=generator)) % n
    return ood_stats(activations[first], activations[second])
