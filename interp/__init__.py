"""interp: mechanistic study of LLM confidence.

Load a model (`load_model`), render prompts with named spans (`CategoricalConfidenceTemplate`),
resolve named token roles per row (`tokenize`, `Batch`), capture activations at (layer, role)
(`capture`, `capture_dataset`, `ActivationStore`), intervene for one forward pass
(`interventions` with `Steer`, `Patch`, `MeanAblate`, `CorruptEmbeddings`, `BlockAttention`),
read classes at the last prompt token (`class_readout`) and sweep grids (`sweep`). Tiny offline
models of the real architectures come from `interp.models.tiny`.
"""

from interp.attention import LATER, layer_window
from interp.capture import capture
from interp.capture_dataset import capture_dataset
from interp.interventions import (
    EVERY_POSITION,
    BlockAttention,
    CorruptEmbeddings,
    EmbeddingMeans,
    InterventionRun,
    MeanAblate,
    Patch,
    Steer,
    embedding_means,
    intervened_logits,
    interventions,
    spec_from_json,
    spec_to_json,
)
from interp.models import LM, load_model, tiny
from interp.prompts import CONFIDENCE_CLASSES, CategoricalConfidenceTemplate, ConfidenceClass, Rendered, Template, TemplateError
from interp.readout import ClassReadout, OODStats, class_readout, last_token_logits, natural_variation, ood_stats
from interp.roles import After, Batch, Exact, Nth, PromptLast, Whole, first_token_ids, tokenize
from interp.steering import mean_difference, scale_to_norm, steering_vector
from interp.store import ActivationStore
from interp.sweep import summarise, sweep
from interp.trials import Trial, demo_trials

__version__ = "0.1.0"

__all__ = [
    "LM",
    "load_model",
    "tiny",
    "Template",
    "TemplateError",
    "Rendered",
    "CategoricalConfidenceTemplate",
    "ConfidenceClass",
    "CONFIDENCE_CLASSES",
    "Batch",
    "tokenize",
    "first_token_ids",
    "Exact",
    "Nth",
    "Whole",
    "After",
    "PromptLast",
    "Trial",
    "demo_trials",
    "capture",
    "capture_dataset",
    "ActivationStore",
    "last_token_logits",
    "class_readout",
    "ClassReadout",
    "ood_stats",
    "natural_variation",
    "OODStats",
    "interventions",
    "intervened_logits",
    "InterventionRun",
    "Steer",
    "Patch",
    "MeanAblate",
    "CorruptEmbeddings",
    "EmbeddingMeans",
    "embedding_means",
    "BlockAttention",
    "LATER",
    "EVERY_POSITION",
    "layer_window",
    "spec_to_json",
    "spec_from_json",
    "mean_difference",
    "scale_to_norm",
    "steering_vector",
    "sweep",
    "summarise",
    "__version__",
]
