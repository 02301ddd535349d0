"""interp: mechanistic study of LLM confidence.

Load a model (`load_model`), render prompts with named spans (`CategoricalConfidenceTemplate`),
resolve named token roles per row (`Batch`, `tokenize`), and build tiny offline models of the
real architectures for tests (`interp.models.tiny`).
"""

from interp.models import LM, load_model, tiny
from interp.prompts import CONFIDENCE_CLASSES, CategoricalConfidenceTemplate, ConfidenceClass, Rendered, Template, TemplateError
from interp.roles import After, Batch, Exact, Nth, PromptLast, Whole, first_token_ids, tokenize
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
    "__version__",
]
