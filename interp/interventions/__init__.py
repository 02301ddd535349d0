"""Interventions: specs as small dataclasses that serialise to JSON (`Steer`, `Patch`,
`MeanAblate`, `CorruptEmbeddings`, `BlockAttention`), one context manager that applies any list
for one forward pass and always removes its hooks (`interventions`), span→span attention
blocking through transformers' `AttentionInterface` that keeps SDPA and sliding windows,
incremental forwards that rerun only the layers and positions a cell changes (`base_run`,
`incremental_logits`), and `sweep` over layers × roles × conditions read by any `Readout`."""

from interp.interventions.apply import InterventionRun, embedding_means, intervened_logits, interventions
from interp.interventions.blocking import LATER, edge_mask, install_blocking, layer_window
from interp.interventions.incremental import BaseRun, Reach, base_run, incremental_logits, reach
from interp.interventions.specs import EVERY_POSITION, BlockAttention, CorruptEmbeddings, EmbeddingMeans, Intervention, MeanAblate, Patch, Steer, spec_from_json, spec_to_json
from interp.interventions.sweep import SpecFactory, sweep

__all__ = [
    "EVERY_POSITION",
    "LATER",
    "BaseRun",
    "BlockAttention",
    "CorruptEmbeddings",
    "EmbeddingMeans",
    "Intervention",
    "InterventionRun",
    "MeanAblate",
    "Patch",
    "Reach",
    "SpecFactory",
    "Steer",
    "base_run",
    "edge_mask",
    "embedding_means",
    "incremental_logits",
    "install_blocking",
    "intervened_logits",
    "interventions",
    "layer_window",
    "reach",
    "spec_from_json",
    "spec_to_json",
    "sweep",
]
