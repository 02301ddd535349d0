"""Readouts from one forward pass: logits at the last prompt token over candidate first tokens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from interp.models import LM
from interp.roles import Batch

__all__ = [
    "DIGIT_VALUES",
    "ClassReadout",
    "OODStats",
    "OptionReadout",
    "YesNoReadout",
    "class_readout",
    "fit_temperature",
    "last_token_logits",
    "natural_variation",
    "ood_stats",
    "option_readout",
    "yes_no_readout",
]

DIGIT_VALUES = tuple((d + 0.5) / 10 for d in range(10))
"""Confidence of digit d in the minimal 0–9 prompt: (d + 0.5)/10 (use with `class_readout`)."""


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


@dataclass
class YesNoReadout:
    """Verification readout at PL.

    Attributes:
        yes: [batch] bool, argmax over the Y and N first tokens is Y.
        vld: [batch] log P(Y) − log P(N) from the full-vocabulary softmax.
        p_yes: [batch] P(Y) / (P(Y) + P(N)).
    """

    yes: torch.Tensor
    vld: torch.Tensor
    p_yes: torch.Tensor


def yes_no_readout(logits: torch.Tensor, yes_id: int, no_id: int) -> YesNoReadout:
    """Read Y/N from vocabulary logits [batch, vocab] (error_detection.md §3.2)."""
    logp = logits.float().log_softmax(-1)
    y, n = logp[:, yes_id], logp[:, no_id]
    return YesNoReadout(yes=y > n, vld=y - n, p_yes=torch.sigmoid(y - n))


@dataclass
class OptionReadout:
    """MCQ readout over option first tokens at AC (abstention.md §5).

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


def option_readout(logits: torch.Tensor, option_token_ids: Sequence[int], temperature: float = 1.0) -> OptionReadout:
    """Option probabilities from vocabulary logits [batch, vocab], calibrated by `temperature`."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    z = logits[:, torch.as_tensor(list(option_token_ids), dtype=torch.long)].float()
    probs = (z / temperature).softmax(-1)
    top = probs.argmax(-1)
    real = probs[:, :4].max(-1).values
    has_abstain = z.shape[-1] == 5
    return OptionReadout(
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
        option_logits: [n, K] option logits (e.g. `OptionReadout.logits` of a 4-way pass).
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
