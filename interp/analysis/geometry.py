"""Where intervened residuals sit relative to clean ones: cosine and norm ratio row by row, and
the natural variation between random pairs of trials that an intervention is judged against
(verbal_confidence.md §6.5)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["OODStats", "natural_variation", "ood_stats"]


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
