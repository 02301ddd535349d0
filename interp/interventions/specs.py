"""Interventions as small dataclasses that serialise to JSON (saved beside results).

Residual edits (`Steer`, `Patch`, `MeanAblate`) act on the output of decoder layer ℓ — the
residual stream at ℓ, `hidden_states[ℓ+1]` — at one named token per row. `CorruptEmbeddings`
replaces the input embeddings of a span (after Gemma's √d scale). `BlockAttention` removes
(target, source) attention pairs in chosen layers. `interp.interventions.apply` applies them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields

import numpy as np
import torch

from interp.errors import ConfigError

__all__ = [
    "EVERY_POSITION",
    "BlockAttention",
    "CorruptEmbeddings",
    "EmbeddingMeans",
    "Intervention",
    "MeanAblate",
    "Patch",
    "Steer",
    "spec_from_json",
    "spec_to_json",
]

EVERY_POSITION = "*"
"""`Patch` role meaning every position of the row (values [batch, seq, d_model])."""

_INLINE_LIMIT = 65_536


@dataclass
class Steer:
    """Add α·v to the residual at (layer, role) of each row.

    vector: [d_model] (same for every row) or [batch, d_model]. The sum is taken in fp32 and
    rounded to the model's dtype once.
    """

    layer: int
    role: str
    vector: torch.Tensor
    alpha: float = 1.0


@dataclass
class Patch:
    """Replace the residual at (layer, role) with given values.

    values: [batch, d_model] for a single-token role (a row of NaN leaves that row untouched,
    e.g. a donor whose role did not resolve), or [batch, seq, d_model] with
    role=`EVERY_POSITION`.
    """

    layer: int
    role: str
    values: torch.Tensor


@dataclass
class MeanAblate:
    """Replace the residual at (layer, role) with a mean over a calibration set (noising).

    mean: [d_model], or [batch, d_model] for per-row values.
    """

    layer: int
    role: str
    mean: torch.Tensor


@dataclass
class EmbeddingMeans:
    """Position-specific mean input embeddings of a span over a calibration set.

    per_position: [P, d_model] mean at span position j (0 = first span token).
    overall: [d_model] mean over every span token, used beyond position P−1.
    counts: [P] tokens averaged at each position.
    """

    per_position: torch.Tensor
    overall: torch.Tensor
    counts: torch.Tensor


@dataclass
class CorruptEmbeddings:
    """Replace the input embeddings of a span's tokens (or of a single-token role, e.g. the answer
    colon) by position-specific calibration means."""

    means: EmbeddingMeans
    span: str = "answer"


@dataclass
class BlockAttention:
    """Pre-softmax −∞ for every (target, source) token pair in `layers`.

    targets, sources: role or span names (a tuple is their union); targets may be `LATER`
    (every position after the row's last source token). heads: query heads to block (None = all).
    keep_open: (targets, sources) pairs exempted from the block.
    """

    targets: str | tuple[str, ...]
    sources: str | tuple[str, ...]
    layers: tuple[int, ...]
    heads: tuple[int, ...] | None = None
    keep_open: tuple[tuple[str | tuple[str, ...], str | tuple[str, ...]], ...] = ()

    def __post_init__(self) -> None:
        self.layers = tuple(int(layer) for layer in self.layers)
        if not self.layers:
            raise ConfigError("BlockAttention needs at least one layer")
        if self.heads is not None:
            self.heads = tuple(int(head) for head in self.heads)
        self.keep_open = tuple((t, s) for t, s in self.keep_open)


Intervention = Steer | Patch | MeanAblate | CorruptEmbeddings | BlockAttention
RESIDUAL_EDITS = (Steer, Patch, MeanAblate)
"""The specs that edit the residual at one (layer, role)."""


def _tensor_json(value: torch.Tensor) -> dict:
    array = value.detach().float().cpu().numpy()
    out = {
        "shape": list(array.shape),
        "dtype": str(value.dtype).removeprefix("torch."),
        "sha256": hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest(),
    }
    if array.size <= _INLINE_LIMIT:
        out["values"] = array.tolist()
    return out


def _json_value(value):
    if isinstance(value, torch.Tensor):
        return _tensor_json(value)
    if isinstance(value, EmbeddingMeans):
        return {f.name: _json_value(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    return value


def spec_to_json(spec: Intervention) -> dict:
    """A JSON-ready dict of a spec: its type, its scalars, and its tensors (values inline up to
    65,536 numbers; shape, dtype and sha256 always)."""
    return {"type": type(spec).__name__, **{f.name: _json_value(getattr(spec, f.name)) for f in fields(spec)}}


def _tensor_from_json(value: dict, name: str) -> torch.Tensor:
    if "values" not in value:
        raise ConfigError(f"{name} was stored as a digest only ({value['shape']}, sha256 {value['sha256'][:12]}…)")
    return torch.tensor(value["values"], dtype=getattr(torch, value["dtype"]))


def _tupled(value):
    return tuple(_tupled(v) for v in value) if isinstance(value, list) else value


def spec_from_json(data: dict) -> Intervention:
    """Rebuild a spec from `spec_to_json` output (tensors must have been stored inline)."""
    kinds = {cls.__name__: cls for cls in (Steer, Patch, MeanAblate, CorruptEmbeddings, BlockAttention)}
    kind = data.get("type")
    if kind not in kinds:
        raise ConfigError(f"unknown intervention type {kind!r}; known: {sorted(kinds)}")
    args = {k: v for k, v in data.items() if k != "type"}
    for key, value in args.items():
        if isinstance(value, dict) and "sha256" in value:
            args[key] = _tensor_from_json(value, f"{kind}.{key}")
        elif key == "means":
            args[key] = EmbeddingMeans(**{k: _tensor_from_json(v, f"{kind}.means.{k}") for k, v in value.items()})
        elif isinstance(value, list):
            args[key] = _tupled(value)
    return kinds[kind](**args)
