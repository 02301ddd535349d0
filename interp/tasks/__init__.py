"""Tasks: datasets (hub when online, local files always) as DataFrames with a status per row,
graders, disjoint seeded trial sets, typed foils (wrong answers of graded plausibility), sentence
embeddings (all-MiniLM-L6-v2, else TF-IDF + SVD), BM25 RAG scores, typed-foil MCQ items, and one module per paradigm holding its templates, readouts
and reply parsers — verbal confidence (`confidence`), verification and correction
(`verification`), multiple choice with abstention (`multiple_choice`)."""

from interp.prompting import Template
from interp.tasks.confidence import CONFIDENCE_CLASSES, DIGIT_VALUES, CategoricalConfidenceTemplate, CompactCategoricalTemplate, CompactPhase0Template, ConfidenceClass, ConfidencePhase0Template, MinimalConfidenceTemplate, NumericConfidenceTemplate, parse_confidence_class, parse_percent
from interp.tasks.datasets import build_mcq_from_triviaqa, dedupe, load_bigmath, load_gsm8k, load_mcq, load_mmlu, load_mnli, load_triviaqa, to_trials
from interp.tasks.demo import demo_trials
from interp.tasks.embeddings import Encoder, embedding_pcs, load_encoder
from interp.tasks.answer_types import ANSWER_TYPES, answer_type
from interp.tasks.foils import FOIL_KINDS, build_foils
from interp.tasks.grading import OPEN_ENDED, Grade, grade_answer, grade_mcq, grade_mnli, grade_numeric, grade_triviaqa, grade_with_judge, hedges, normalize_answer, restates_question
from interp.tasks.loading import DATASETS, load_trials
from interp.tasks.mcq_items import build_typed_mcq, load_typed_mcq
from interp.tasks.multiple_choice import MCQTemplate, ThresholdTemplate, parse_threshold_reply, with_options
from interp.tasks.rag import load_passages, rag_scores
from interp.tasks.sets import assign_sets
from interp.tasks.verification import CorrectionTemplate, VerificationTemplate

TEMPLATES: dict[str, Template] = {
    "confidence_phase0": ConfidencePhase0Template(),
    "confidence_categorical": CategoricalConfidenceTemplate(),
    "confidence_phase0_compact": CompactPhase0Template(),
    "confidence_categorical_compact": CompactCategoricalTemplate(),
    "confidence_numeric": NumericConfidenceTemplate(),
    "confidence_minimal": MinimalConfidenceTemplate(),
    "verification": VerificationTemplate(),
    "correction": CorrectionTemplate(),
    "mcq": MCQTemplate(),
    "mcq_abstain": MCQTemplate(abstain=True),
    "mcq_threshold": ThresholdTemplate(),
}
"""One instance of each paradigm template, by name."""

__all__ = [
    "rag_scores",
    "load_passages",
    "load_typed_mcq",
    "build_typed_mcq",
    "load_encoder",
    "embedding_pcs",
    "Encoder",
    "ANSWER_TYPES",
    "CONFIDENCE_CLASSES",
    "DATASETS",
    "DIGIT_VALUES",
    "FOIL_KINDS",
    "OPEN_ENDED",
    "TEMPLATES",
    "CategoricalConfidenceTemplate",
    "CompactCategoricalTemplate",
    "CompactPhase0Template",
    "ConfidenceClass",
    "ConfidencePhase0Template",
    "CorrectionTemplate",
    "Grade",
    "MCQTemplate",
    "MinimalConfidenceTemplate",
    "NumericConfidenceTemplate",
    "ThresholdTemplate",
    "VerificationTemplate",
    "answer_type",
    "assign_sets",
    "build_foils",
    "build_mcq_from_triviaqa",
    "dedupe",
    "demo_trials",
    "grade_answer",
    "grade_mcq",
    "grade_mnli",
    "grade_numeric",
    "grade_triviaqa",
    "grade_with_judge",
    "hedges",
    "load_bigmath",
    "load_gsm8k",
    "load_mcq",
    "load_mmlu",
    "load_mnli",
    "load_trials",
    "load_triviaqa",
    "normalize_answer",
    "parse_confidence_class",
    "parse_percent",
    "parse_threshold_reply",
    "restates_question",
    "to_trials",
    "with_options",
]
