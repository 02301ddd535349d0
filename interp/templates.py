"""The prompt templates of the three papers, in our own wording, with their segment order and
named roles (shared/research/*.md §4). Each class declares the roles it exposes in `roles` and
the role that must be the last prompt token in `last_role`.

Verbal confidence: `ConfidencePhase0Template` (answer + confidence, generated),
`CategoricalConfidenceTemplate` (Phase 1, in `interp.prompts`), `NumericConfidenceTemplate`
(0–100), `MinimalConfidenceTemplate` (one digit 0–9). Error detection: Stage 0 is Phase 0;
`VerificationTemplate` (Y/N at PL), `CorrectionTemplate` (A2 generated after the colon).
Abstention: `MCQTemplate` (phases 1–3, `abstain=True` adds option 5), `ThresholdTemplate`
(phase 4, instructed threshold T).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interp.prompts import (
    ANSWER_BLOCK_ROLES,
    CONFIDENCE_CLASSES,
    CategoricalConfidenceTemplate,
    Segment,
    Template,
    TemplateError,
    answer_block_segments,
    class_list_segments,
    clean_field,
)
from interp.roles import After, Exact, Nth, PromptLast, RoleSpec, Whole, first_token_ids
from interp.trials import Trial

__all__ = [
    "ALL_TEMPLATES",
    "CategoricalConfidenceTemplate",
    "ConfidencePhase0Template",
    "CorrectionTemplate",
    "MCQTemplate",
    "MinimalConfidenceTemplate",
    "NumericConfidenceTemplate",
    "ThresholdTemplate",
    "VerificationTemplate",
]

DIGITS = tuple(str(d) for d in range(10))

class ConfidencePhase0Template(Template):
    """Phase 0 (verbal_confidence.md §3.1): the confidence instruction first, then the question,
    then the assistant turn pre-filled with "Answer:" whose colon (AC) is the last prompt token.
    The model generates the answer, a newline and "Confidence: <class>"."""

    name = "confidence_phase0"
    classes = CONFIDENCE_CLASSES
    last_role = "answer_colon"
    roles: Mapping[str, RoleSpec] = {
        "question": Whole("question"),
        "question_third_token": Nth("question", 2),
        **{f"class_token_{k + 1}": Nth(f"class_label_{k + 1}", 0) for k in range(len(CONFIDENCE_CLASSES))},
        "format_confidence_colon": Exact("format_confidence_colon"),
        "answer_colon": Exact("answer_colon"),
        "prompt_last": PromptLast(),
    }

    def user_segments(self, trial: Trial) -> list[Segment]:
        return [
            (
                None,
                "Answer the question below. Then say how likely it is that your answer is correct, choosing "
                "exactly one category from this list, without any explanation or reasoning:\n",
            ),
            *class_list_segments(self.classes),
            (None, "Reply in this format:\nAnswer: <your answer>\nConfidence"),
            ("format_confidence_colon", ":"),
            (None, " <category>\nGive only the answer and the category name.\nQuestion: "),
            ("question", clean_field(trial, "question", trial.question, multiline=True)),
        ]

    def prefill_segments(self, trial: Trial) -> list[Segment]:
        return [(None, "Answer"), ("answer_colon", ":")]


class NumericConfidenceTemplate(Template):
    """Numeric 0–100 variant (verbal_confidence.md §4): segments 1–4, then a request for an
    integer 0–100 written right after the colon; CC is the last prompt token. Read the first
    digit at CC (`digit_token_ids`) or generate ≤ 4 tokens."""

    name = "confidence_numeric"
    readout_prefix = "Confidence:"
    last_role = "confidence_colon"
    roles: Mapping[str, RoleSpec] = {
        **ANSWER_BLOCK_ROLES,
        "confidence_colon": Exact("confidence_colon"),
        "prompt_last": PromptLast(),
    }

    def user_segments(self, trial: Trial) -> list[Segment]:
        return [
            *answer_block_segments(self, trial, "Below is a question, followed by an answer that you gave to it earlier."),
            (
                None,
                "How likely is it that this answer is correct? Give a whole number from 0 (certainly wrong) to "
                "100 (certainly right), without any explanation. Reply with the word Confidence, a colon, and "
                "the number straight after the colon, with no space.",
            ),
        ]

    def prefill_segments(self, trial: Trial) -> list[Segment]:
        return [(None, "Confidence"), ("confidence_colon", ":")]

    def digit_token_ids(self, tokenizer) -> list[int]:
        """First token of each digit 0–9 straight after the colon; raises if two coincide."""
        return first_token_ids(tokenizer, DIGITS, prefix=self.readout_prefix, separator="")


class MinimalConfidenceTemplate(NumericConfidenceTemplate):
    """Minimal 0–9 variant used for attention blocking: header, question, answer, PANL, one short
    line asking for a single digit; CC is the last prompt token. Digit d ↦ (d + 0.5)/10."""

    name = "confidence_minimal"
    roles: Mapping[str, RoleSpec] = {
        **ANSWER_BLOCK_ROLES,
        "confidence_colon": Exact("confidence_colon"),
        "prompt_last": PromptLast(),
    }

    def user_segments(self, trial: Trial) -> list[Segment]:
        return [
            *answer_block_segments(self, trial, "Below is a question and the answer you gave to it."),
            (None, "Rate how likely it is to be correct with one digit from 0 (surely wrong) to 9 (surely right)."),
        ]


class VerificationTemplate(Template):
    """Error detection Stage 1 (error_detection.md §4): the question (MNLI: premise, hypothesis and
    the three labels), the model's answer A1, PANL, and an instruction to reply Y or N; PL (the
    colon of the pre-filled "Verdict:") is the last prompt token. PANL+9 must fall inside the
    instruction.

    Args:
        other_source: present the answer as another source's instead of the model's own (the
            foil-framing flag of §8).
    """

    name = "verification"
    readout_prefix = "Verdict:"
    last_role = "pl"
    roles: Mapping[str, RoleSpec] = {
        "question": Whole("question"),
        "answer": Whole("answer"),
        "question_third_token": Nth("question", 2),
        "last_answer_token": Nth("answer", -1),
        "panl": Exact("panl"),
        "panl_plus_1": After("panl", 1),
        "panl_plus_9": After("panl", 9, within="instruction"),
        "pl": Exact("pl"),
        "prompt_last": PromptLast(),
    }

    def __init__(self, other_source: bool = False, strip_answer_punctuation: bool = False):
        super().__init__(strip_answer_punctuation)
        self.other_source = other_source

    def question_text(self, trial: Trial) -> str:
        question = clean_field(trial, "question", trial.question, multiline=True)
        if trial.metadata.get("dataset") == "mnli":
            question += "\nAllowed labels: entailment, neutral, contradiction."
        return question

    def user_segments(self, trial: Trial) -> list[Segment]:
        owner = "An answer from another source" if self.other_source else "Your earlier answer"
        return [
            (None, "Question: "),
            ("question", self.question_text(trial)),
            (None, f"\n{owner}: "),
            ("answer", self.answer_text(trial)[0]),
            ("panl", "\n"),
            (
                "instruction",
                "Check whether this answer is correct. Reply with a single letter: Y if it is correct, "
                "N if it is incorrect. Write nothing else.",
            ),
        ]

    def prefill_segments(self, trial: Trial) -> list[Segment]:
        return [(None, "Verdict"), ("pl", ":")]

    def yes_no_token_ids(self, tokenizer) -> list[int]:
        """[id of "Y", id of "N"] as emitted after PL; raises if they coincide."""
        return first_token_ids(tokenizer, ("Y", "N"), prefix=self.readout_prefix, separator=" ")


class CorrectionTemplate(Template):
    """Error detection Stage 2: the question, the model's answer A1, its own verdict V
    (`trial.metadata["verdict"]`, "Y" or "N"), a request for the answer it now believes, and an
    answer label whose colon is the last prompt token; A2 is generated after it."""

    name = "correction"
    last_role = "answer_colon"
    roles: Mapping[str, RoleSpec] = {
        "question": Whole("question"),
        "answer": Whole("answer"),
        "panl": Exact("panl"),
        "verdict": Exact("verdict"),
        "answer_colon": Exact("answer_colon"),
        "prompt_last": PromptLast(),
    }

    def user_segments(self, trial: Trial) -> list[Segment]:
        verdict = trial.metadata.get("verdict")
        if verdict not in ("Y", "N"):
            raise TemplateError(f"trial {trial.id}: metadata['verdict'] must be 'Y' or 'N', got {verdict!r}")
        return [
            (None, "Question: "),
            ("question", clean_field(trial, "question", trial.question, multiline=True)),
            (None, "\nYour earlier answer: "),
            ("answer", self.answer_text(trial)[0]),
            ("panl", "\n"),
            (None, "When asked whether that answer was correct, you replied "),
            ("verdict", verdict),
            (None, ".\nWhat do you now believe the correct answer is? Give only the answer."),
        ]

    def prefill_segments(self, trial: Trial) -> list[Segment]:
        return [(None, "Answer"), ("answer_colon", ":")]


class MCQTemplate(Template):
    """Abstention phases 1–3 (abstention.md §4): an instruction, the question (QLT = its last
    token), options 1–4 one per line from `trial.metadata["options"]` (spans option_1..4), with
    `abstain=True` option 5 to decline; AC (the colon of the pre-filled "Answer:") is the last
    prompt token and the readout site."""

    name = "mcq"
    readout_prefix = "Answer:"
    option_separator = ""
    abstain_text = "I do not know the answer and decline to answer."
    last_role = "answer_colon"

    def __init__(self, abstain: bool = False):
        super().__init__()
        self.abstain = abstain
        self.name = "mcq_abstain" if abstain else "mcq"
        self.roles = {
            "question": Whole("question"),
            "question_last_token": Nth("question", -1),
            **{f"option_{k}": Whole(f"option_{k}") for k in range(1, 5)},
            "answer_colon": Exact("answer_colon"),
            "prompt_last": PromptLast(),
        }

    def options(self, trial: Trial) -> list[str]:
        options = trial.metadata.get("options")
        if options is None or len(options) != 4:
            raise TemplateError(f"trial {trial.id}: metadata['options'] must hold 4 options, got {options!r}")
        return [clean_field(trial, f"option {k}", o) for k, o in enumerate(options, start=1)]

    def option_segments(self, trial: Trial) -> list[Segment]:
        segments: list[Segment] = []
        for k, text in enumerate(self.options(trial), start=1):
            segments += [(None, f"\n{k}. "), (f"option_{k}", text)]
        if self.abstain:
            segments.append((None, f"\n5. {self.abstain_text} Choose 5 if you are not sure of the answer."))
        return segments

    def user_segments(self, trial: Trial) -> list[Segment]:
        count = "1-5" if self.abstain else "1-4"
        return [
            (None, f"Answer the multiple-choice question below with the number of one option ({count}) only.\nQuestion: "),
            ("question", clean_field(trial, "question", trial.question, multiline=True)),
            *self.option_segments(trial),
            (None, "\nReply with the word Answer, a colon, and the option number straight after the colon, with no space."),
        ]

    def prefill_segments(self, trial: Trial) -> list[Segment]:
        return [(None, "Answer"), ("answer_colon", ":")]

    def option_token_ids(self, tokenizer, separator: str | None = None) -> list[int]:
        """First token of each option number ("1"–"4", and "5" with abstain) after AC.

        The default separator is none ("Answer:1"): Qwen and Gemma both split " 1" into a space
        token and the digit, so with a space every option would share its first token (which
        `first_token_ids` refuses)."""
        labels = [str(k) for k in range(1, 6 if self.abstain else 5)]
        sep = self.option_separator if separator is None else separator
        return first_token_ids(tokenizer, labels, prefix=self.readout_prefix, separator=sep)


class ThresholdTemplate(MCQTemplate):
    """Abstention phase 4: the MCQ with option 5, then instructions to choose an answer, rate
    confidence 0–100 (the chance an expert judge calls it correct) and give the answer if that
    confidence is at least T, else 5. T comes from `threshold` or `trial.metadata["threshold"]`.
    The reply has labelled fields Answer / Confidence / Final (see `interp.generation`)."""

    def __init__(self, threshold: int | None = None):
        super().__init__(abstain=True)
        self.name = "mcq_threshold"
        self.threshold = threshold

    def threshold_for(self, trial: Trial) -> int:
        value = self.threshold if self.threshold is not None else trial.metadata.get("threshold")
        if value is None or not 0 <= int(value) <= 100:
            raise TemplateError(f"trial {trial.id}: threshold must be an integer 0-100, got {value!r}")
        return int(value)

    def notes(self, trial: Trial) -> dict[str, Any]:
        return {"threshold": self.threshold_for(trial)}

    def user_segments(self, trial: Trial) -> list[Segment]:
        threshold = self.threshold_for(trial)
        return [
            (None, "Here is a multiple-choice question.\nQuestion: "),
            ("question", clean_field(trial, "question", trial.question, multiline=True)),
            *self.option_segments(trial),
            (
                None,
                "\nFirst choose the option (1-4) you think is right. Then rate your confidence from 0 to 100, "
                "meaning the probability that an expert judge would mark your choice correct. If your "
                f"confidence is at least {threshold}, give your chosen option as the final response; "
                "otherwise give 5.\nReply in this format, each number straight after its colon:\nAnswer:<1-4>\n"
                "Confidence:<0-100>\nFinal:<1-5>",
            ),
        ]


ALL_TEMPLATES: dict[str, Template] = {
    "confidence_phase0": ConfidencePhase0Template(),
    "confidence_categorical": CategoricalConfidenceTemplate(),
    "confidence_numeric": NumericConfidenceTemplate(),
    "confidence_minimal": MinimalConfidenceTemplate(),
    "verification": VerificationTemplate(),
    "correction": CorrectionTemplate(),
    "mcq": MCQTemplate(),
    "mcq_abstain": MCQTemplate(abstain=True),
    "mcq_threshold": ThresholdTemplate(),
}
"""One instance of each template, by name."""
