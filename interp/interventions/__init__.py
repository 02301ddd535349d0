"""Interventions: specs as small dataclasses that serialise to JSON (`Steer`, `Patch`,
`MeanAblate`, `CorruptEmbeddings`, `BlockAttention`), one context manager that applies any list
for one forward pass and always removes its hooks (`interventions`), span→span attention
blocking through transformers' `AttentionInterface` that keeps SDPA and sliding windows, and
`sweep` over layers × roles × conditions read by any `Readout`."""

from interp.interventions.apply import InterventionRun, embedding_means, intervened_logits, interventions
from interp.interventions.blocking import LATER, edge_mask, install_blocking, layer_window
from interp.interventions.specs import EVERY_POSITION, BlockAttention, CorruptEmbeddings, EmbeddingMeans, Intervention, MeanAblate, Patch, Steer, spec_from_json, spec_to_json
from interp.interventions.sweep import SpecFactory, sweep

__all__ = [
    "EVERY_POSITION",
    "LATER",
    "BlockAttention",
    "CorruptEmbeddings",
    "EmbeddingMeans",
    "Intervention",
    "InterventionRun",
    "MeanAblate",
    "Patch",
    "SpecFactory",
    "Steer",
    "edge_mask",
    "embedding_means",
    "install_blocking",
    "intervened_logits",
    "interventions",
    "layer_window",
    "spec_from_json",
    "spec_to_json",
    "sweep",
]
