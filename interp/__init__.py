"""interp: mechanistic study of LLM confidence.

Load a model (`load_model`), render trials with a paradigm's template into a `Batch` whose
named token roles are resolved per row, capture activations at (layer, role) (`capture`,
`capture_dataset` into an `ActivationStore`), intervene for one forward pass (`interventions`
with `Steer`, `Patch`, `MeanAblate`, `CorruptEmbeddings`, `BlockAttention`), read the last
prompt token with a `Readout`, and sweep grids (`sweep`). Everything else lives in its
subpackage: `interp.models`, `interp.prompting`, `interp.tasks` (datasets, graders, the papers'
templates), `interp.forward`, `interp.interventions`, `interp.readouts`, `interp.analysis`
(probes, steering vectors, statistics), `interp.organisms` (model organisms with a planted
confidence mechanism), `interp.io` and `interp.pipeline`.
"""

from interp.errors import InterpError
from interp.forward import capture, capture_dataset, generate, last_token_logits
from interp.interventions import EVERY_POSITION, LATER, BlockAttention, CorruptEmbeddings, MeanAblate, Patch, Steer, embedding_means, intervened_logits, interventions, layer_window, spec_from_json, spec_to_json, sweep
from interp.io import ActivationStore
from interp.models import LM, load_model, tiny
from interp.organisms import build as _organisms  # noqa: F401  (registers organism-panl / organism-cc with load_model)
from interp.prompting import Batch, Template, Trial, tokenize
from interp.readouts import ClassReadout, OptionReadout, Readout, YesNoReadout

__version__ = "0.1.0"

__all__ = [
    "EVERY_POSITION",
    "LATER",
    "LM",
    "ActivationStore",
    "Batch",
    "BlockAttention",
    "ClassReadout",
    "CorruptEmbeddings",
    "InterpError",
    "MeanAblate",
    "OptionReadout",
    "Patch",
    "Readout",
    "Steer",
    "Template",
    "Trial",
    "YesNoReadout",
    "__version__",
    "capture",
    "capture_dataset",
    "embedding_means",
    "generate",
    "intervened_logits",
    "interventions",
    "last_token_logits",
    "layer_window",
    "load_model",
    "spec_from_json",
    "spec_to_json",
    "sweep",
    "tiny",
    "tokenize",
]
