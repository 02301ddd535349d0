"""Steering directions: a difference of group means (or any direction, e.g. a probe's) scaled
to a fraction of the residual norm at its (layer, role)."""

from __future__ import annotations

import torch

__all__ = ["mean_difference", "scale_to_norm", "steering_vector"]


def _finite_rows(activations: torch.Tensor, name: str) -> torch.Tensor:
    activations = torch.as_tensor(activations).double()
    if activations.ndim != 2:
        raise ValueError(f"{name} must be [n, d_model], got {list(activations.shape)}")
    kept = activations[activations.isfinite().all(-1)]
    if kept.shape[0] == 0:
        raise ValueError(f"{name} has no finite rows")
    return kept


def mean_difference(group_a: torch.Tensor, group_b: torch.Tensor) -> torch.Tensor:
    """mean(group_a) − mean(group_b) [d_model] from activations [n_a, d], [n_b, d] (NaN rows,
    i.e. unresolved roles, are left out)."""
    a, b = _finite_rows(group_a, "group_a"), _finite_rows(group_b, "group_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"groups differ in width: {a.shape[1]} vs {b.shape[1]}")
    return (a.mean(0) - b.mean(0)).float()


def scale_to_norm(direction: torch.Tensor, reference: torch.Tensor, fraction: float = 0.03) -> torch.Tensor:
    """`direction` [d] unit-normalised, times `fraction` of the mean L2 norm of `reference`
    [n, d] (the residuals at the same layer and role)."""
    direction = torch.as_tensor(direction).double()
    norm = direction.norm()
    if not torch.isfinite(norm) or norm == 0:
        raise ValueError("cannot scale a zero or non-finite direction")
    reference = _finite_rows(reference, "reference")
    if reference.shape[1] != direction.shape[0]:
        raise ValueError(f"direction has {direction.shape[0]} dims, reference rows {reference.shape[1]}")
    return (direction / norm * fraction * reference.norm(dim=-1).mean()).float()


def steering_vector(high: torch.Tensor, low: torch.Tensor, reference: torch.Tensor, fraction: float = 0.03) -> torch.Tensor:
    """v_high = mean(high) − mean(low), unit-normalised and scaled to `fraction` of the mean
    residual norm of `reference` (verbal_confidence.md §6.1; −v is v_low)."""
    return scale_to_norm(mean_difference(high, low), reference, fraction)
