"""interp: mechanistic study of LLM confidence.

Load a model (`load_model`), render prompts with named spans (`CategoricalConfidenceTemplate`),
resolve named token roles per row (`tokenize`, `Batch`), capture activations at (layer, role)
(`capture`, `capture_dataset`, `ActivationStore`), intervene for one forward pass
(`interventions` with `Steer`, `Patch`, `MeanAblate`, `CorruptEmbeddings`, `BlockAttention`),
read classes at the last prompt token (`class_readout`) and sweep grids (`sweep`). Datasets
(`load_triviaqa`, ...), graders (`grade_triviaqa`, ...), the papers' templates
(`interp.templates`) and greedy generation with log-probs (`generate`) are the shared task parts.
Tiny offline models of the real architectures come from `interp.models.tiny`.
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
from interp.datasets import (
    build_mcq_from_triviaqa,
    dedupe,
    load_bigmath,
    load_gsm8k,
    load_mcq,
    load_mmlu,
    load_mnli,
    load_triviaqa,
    to_trials,
)
from interp.generation import Generation, generate, logprob_features, parse_confidence_class, parse_percent, parse_threshold_reply
from interp.grading import Grade, grade_mcq, grade_mnli, grade_numeric, grade_triviaqa, grade_with_judge, hedges, normalize_answer
from interp.models import LM, load_model, tiny
from interp.prompts import CONFIDENCE_CLASSES, CategoricalConfidenceTemplate, ConfidenceClass, Rendered, Template, TemplateError
from interp.readout import (
    DIGIT_VALUES,
    ClassReadout,
    OODStats,
    OptionReadout,
    YesNoReadout,
    class_readout,
    fit_temperature,
    last_token_logits,
    natural_variation,
    ood_stats,
    option_readout,
    yes_no_readout,
)
from interp.roles import After, Batch, Exact, Nth, PromptLast, Whole, first_token_ids, tokenize
from interp.steering import mean_difference, scale_to_norm, steering_vector
from interp.store import ActivationStore
from interp.sweep import summarise, sweep
from interp.templates import (
    ALL_TEMPLATES,
    ConfidencePhase0Template,
    CorrectionTemplate,
    MCQTemplate,
    MinimalConfidenceTemplate,
    NumericConfidenceTemplate,
    ThresholdTemplate,
    VerificationTemplate,
)
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
    "load_triviaqa",
    "load_mmlu",
    "load_mnli",
    "load_gsm8k",
    "load_bigmath",
    "load_mcq",
    "build_mcq_from_triviaqa",
    "dedupe",
    "to_trials",
    "Grade",
    "normalize_answer",
    "grade_triviaqa",
    "grade_mcq",
    "grade_mnli",
    "grade_numeric",
    "grade_with_judge",
    "hedges",
    "ALL_TEMPLATES",
    "ConfidencePhase0Template",
    "NumericConfidenceTemplate",
    "MinimalConfidenceTemplate",
    "VerificationTemplate",
    "CorrectionTemplate",
    "MCQTemplate",
    "ThresholdTemplate",
    "Generation",
    "generate",
    "logprob_features",
    "parse_confidence_class",
    "parse_percent",
    "parse_threshold_reply",
    "DIGIT_VALUES",
    "YesNoReadout",
    "yes_no_readout",
    "OptionReadout",
    "option_readout",
    "fit_temperature",
    "__version__",
]
