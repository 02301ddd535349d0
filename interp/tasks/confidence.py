"""The verbal-confidence paradigm (verbal_confidence.md §3–§5): the ten confidence classes, the
Phase-0 answer prompt, the Phase-1 categorical prompt read at CC, the numeric 0–100 and minimal
0–9 variants, their readouts, and the parsers of the generated confidence replies.

The wording is the project's own; the segment order and named positions follow the spec's §4.
Shared segments 1–4 (header, question, answer, PANL) and their roles are used by every readout
prompt.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from interp.errors import TemplateError
from interp.prompting import After, Exact, Nth, PromptLast, RoleSpec, Segment, Template, Trial, Whole, clean_field, first_token_ids, labelled_colon
from interp.readouts import ClassReadout

__all__ = [
    "ANSWER_BLOCK_ROLES",
    "INSTRUCTION_ROLES",
    "CONFIDENCE_CLASSES",
    "DIGITS",
    "DIGIT_VALUES",
    "CategoricalConfidenceTemplate",
    "CompactCategoricalTemplate",
    "CompactPhase0Template",
    "ConfidenceReadoutTemplate",
    "ConfidenceClass",
    "ConfidencePhase0Template",
    "MinimalConfidenceTemplate",
    "NumericConfidenceTemplate",
    "answer_block_segments",
    "class_of",
    "example_confidence",
    "class_instruction_segments",
    "class_list_segments",
    "parse_confidence_class",
    "parse_percent",
]

DIGITS = tuple(str(d) for d in range(10))
EXAMPLE_CONFIDENCE = "confidence"
"""Metadata key of a worked example's confidence in [0, 1]; each template writes it in its own
format (class label, 0–100, digit)."""
DIGIT_VALUES = tuple((d + 0.5) / 10 for d in range(10))
"""Confidence of digit d in the minimal 0–9 prompt: (d + 0.5)/10 (verbal_confidence.md §8)."""


@dataclass(frozen=True)
class ConfidenceClass:
    """One verbal confidence class: label and probability range [low, high)."""

    label: str
    low: float
    high: float

    @property
    def midpoint(self) -> float:
        return round((self.low + self.high) / 2, 10)


CONFIDENCE_CLASSES: tuple[ConfidenceClass, ...] = tuple(
    ConfidenceClass(label, k / 10, (k + 1) / 10)
    for k, label in enumerate(
        (
            "No chance",
            "Really unlikely",
            "Chances are slight",
            "Unlikely",
            "Less than even",
            "Better than even",
            "Likely",
            "Very good chance",
            "Highly likely",
            "Almost certain",
        )
    )
)


def class_of(value: float, classes: Sequence[ConfidenceClass] = CONFIDENCE_CLASSES) -> ConfidenceClass:
    """The class whose range holds `value` (1.0 falls in the last)."""
    for cls in classes:
        if cls.low <= value < cls.high:
            return cls
    return classes[-1]


def example_confidence(trial: Trial) -> float:
    """A worked example's confidence (metadata["confidence"]); a TemplateError names it if missing."""
    value = trial.metadata.get(EXAMPLE_CONFIDENCE)
    if value is None or not 0 <= float(value) <= 1:
        raise TemplateError(f"worked example {trial.id}: metadata['{EXAMPLE_CONFIDENCE}'] must be a confidence in [0, 1], got {value!r}")
    return float(value)


ANSWER_BLOCK_ROLES: Mapping[str, RoleSpec] = {
    "question": Whole("question"),
    "answer": Whole("answer"),
    "question_third_token": Nth("question", 2),
    "answer_colon": Exact("answer_colon"),
    "answer_first_token": Nth("answer", 0),
    "last_answer_token": Nth("answer", -1),
    "panl": Exact("panl"),
    "panl_plus_1": After("panl", 1),
}
"""Roles of segments 1–4 (question, answer, PANL) shared by the readout prompts."""

INSTRUCTION_ROLES: Mapping[str, RoleSpec] = {
    **{f"class_token_{k + 1}": Nth(f"class_label_{k + 1}", 0) for k in range(len(CONFIDENCE_CLASSES))},
    "format_confidence_colon": Exact("format_confidence_colon"),
}
"""Roles inside the confidence instruction: each class label's first token and the format line's colon (FCC)."""


def answer_block_segments(template: Template, trial: Trial, header: str) -> list[Segment]:
    """Segments 1–4 of the readout prompts: header, question, answer label + colon + answer
    (as `template.answer_text` inserts it), and the post-answer newline (PANL)."""
    return [
        (None, f"{header}\nQuestion: "),
        ("question", clean_field(trial, "question", trial.question, multiline=True)),
        (None, "\nAnswer"),
        ("answer_colon", ":"),
        (None, " "),
        ("answer", template.answer_text(trial)[0]),
        ("panl", "\n"),
    ]


def class_list_segments(classes: Sequence[ConfidenceClass]) -> list[Segment]:
    """One line per class, "- <label> (<low>-<high>%)", the labels as spans class_label_k."""
    segments: list[Segment] = []
    for k, cls in enumerate(classes, start=1):
        segments += [
            (None, "- "),
            (f"class_label_{k}", cls.label),
            (None, f" ({round(cls.low * 100)}-{round(cls.high * 100)}%)\n"),
        ]
    return segments


def class_instruction_segments(classes: Sequence[ConfidenceClass]) -> list[Segment]:
    """The categorical instruction (verbal_confidence.md §4 segments 5–7): the request, the ten
    classes with ranges (spans class_label_k), the format line (span format_confidence_colon)
    and the reminder."""
    segments: list[Segment] = [
        (
            None,
            "How likely is it that this answer is correct? Choose exactly one category from the "
            "list below, without any explanation or reasoning.\n",
        ),
        *class_list_segments(classes),
    ]
    segments += [
        (None, "Reply in this format:\nConfidence"),
        ("format_confidence_colon", ":"),
        (None, " <category>\nGive only the category name."),
    ]
    return segments


class ConfidenceReadoutTemplate(Template):
    """Base of the Phase-1 readout prompts (verbal_confidence.md §4): segments 1–4 (a header, the
    question, the answer label, colon and the model's answer, PANL), then the paradigm's request,
    and the assistant turn pre-filled with "Confidence:" whose colon (CC) is the last prompt token.

    Roles: question, answer (spans); question_third_token, answer_colon, answer_first_token,
    last_answer_token, panl, panl_plus_1, confidence_colon, prompt_last; subclasses add theirs.
    `strip_answer_punctuation` as in `Template`.
    """

    header = ""
    readout_prefix = "Confidence:"
    last_role = "confidence_colon"
    roles: Mapping[str, RoleSpec] = {**ANSWER_BLOCK_ROLES, "confidence_colon": Exact("confidence_colon"), "prompt_last": PromptLast()}

    def request_segments(self) -> list[Segment]:
        """What the prompt asks for after PANL."""
        raise NotImplementedError

    def example_segments(self) -> list[Segment]:
        """Worked examples before the prompt, compact: "Question: …\nAnswer: …\nConfidence:…"
        (the full instruction appears once, in the final prompt, so PANL still precedes it)."""
        return [
            (None, f"Question: {clean_field(e, 'question', e.question, multiline=True)}\nAnswer: {self.answer_text(e)[0]}\nConfidence:{self.completion(e)}\n\n")
            for e in self.examples
        ]

    def user_segments(self, trial: Trial) -> list[Segment]:
        return [*answer_block_segments(self, trial, self.header), *self.request_segments()]

    def prefill_segments(self, trial: Trial) -> list[Segment]:
        return labelled_colon("Confidence", "confidence_colon")


class CategoricalConfidenceTemplate(ConfidenceReadoutTemplate):
    """Phase-1 categorical confidence prompt (verbal_confidence.md §4, our wording): after PANL the
    instruction listing the ten classes, a format line whose colon is FCC, and a reminder. Adds
    the roles class_token_1..10 and format_confidence_colon."""

    name = "confidence_categorical"
    header = "Below is a question, followed by an answer that you gave to it earlier."
    classes = CONFIDENCE_CLASSES
    roles: Mapping[str, RoleSpec] = {**ConfidenceReadoutTemplate.roles, **INSTRUCTION_ROLES}

    def request_segments(self) -> list[Segment]:
        return class_instruction_segments(self.classes)

    def completion(self, trial: Trial) -> str:
        return self.readout_separator + class_of(example_confidence(trial), self.classes).label

    def class_token_ids(self, tokenizer, separator: str | None = None) -> list[int]:
        """First token of each class label as emitted after CC; raises if any two coincide."""
        sep = self.readout_separator if separator is None else separator
        return first_token_ids(tokenizer, [c.label for c in self.classes], prefix=self.readout_labels_after(), separator=sep)

    def readout(self, tokenizer, separator: str | None = None) -> ClassReadout:
        """The ten classes at CC, valued at their midpoints."""
        ids = tuple(self.class_token_ids(tokenizer, separator))
        return ClassReadout(ids, tuple(c.midpoint for c in self.classes), tuple(c.label for c in self.classes))


class ConfidencePhase0Template(Template):
    """Phase 0 (verbal_confidence.md §3.1): the confidence instruction first, then the question,
    then the assistant turn pre-filled with "Answer:" whose colon (AC) is the last prompt token.
    The model generates the answer, a newline and "Confidence: <class>". Worked examples (for base
    models) come after the instruction, in the reply's own format."""

    name = "confidence_phase0"
    classes = CONFIDENCE_CLASSES
    examples_lead = False
    last_role = "answer_colon"
    roles: Mapping[str, RoleSpec] = {
        "question": Whole("question"),
        "question_third_token": Nth("question", 2),
        **INSTRUCTION_ROLES,
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
            (None, " <category>\nGive only the answer and the category name.\n"),
            *self.example_segments(),
            (None, "Question: "),
            ("question", clean_field(trial, "question", trial.question, multiline=True)),
        ]

    def prefill_segments(self, trial: Trial) -> list[Segment]:
        return labelled_colon("Answer", "answer_colon")

    def completion(self, trial: Trial) -> str:
        return f" {clean_field(trial, 'answer', trial.answer)}\nConfidence: {class_of(example_confidence(trial), self.classes).label}"

    def example_segments(self) -> list[Segment]:
        """Worked examples after the instruction, each "Question: …\nAnswer: …\nConfidence: …"."""
        return [(None, f"Question: {clean_field(e, 'question', e.question, multiline=True)}\nAnswer:{self.completion(e)}\n\n") for e in self.examples]


def compact_class_segments(classes: Sequence[ConfidenceClass], lead: str) -> list[Segment]:
    """A one-line class list, "<lead>Classes: <label>, …, <label>.\nFormat: <lead>Confidence: <category>",
    the labels as spans class_label_k and the format colon as format_confidence_colon."""
    segments: list[Segment] = [(None, "Classes: ")]
    for k, cls in enumerate(classes, start=1):
        segments += [(f"class_label_{k}", cls.label), (None, ", " if k < len(classes) else ".\n")]
    return [*segments, (None, f"Format: {lead}Confidence"), ("format_confidence_colon", ":"), (None, " <category>")]


class CompactCategoricalTemplate(CategoricalConfidenceTemplate):
    """The categorical readout in a compact wording for small trained models (the organisms):
    every role of `CategoricalConfidenceTemplate` — question, answer, PANL, PANL+1, the ten class
    labels, FCC, CC — with the class list and format line first, as in `CompactPhase0Template`,
    so that only "Rate it." separates PANL from CC."""

    name = "confidence_categorical_compact"
    header = ""

    def user_segments(self, trial: Trial) -> list[Segment]:
        return [*compact_class_segments(self.classes, ""), *answer_block_segments(self, trial, self.header), *self.request_segments()]

    def request_segments(self) -> list[Segment]:
        return [(None, "Rate it.")]


class CompactPhase0Template(ConfidencePhase0Template):
    """Phase 0 in the compact wording of `CompactCategoricalTemplate`: the class list and format
    line, the question, and "Answer:" (AC, the last token); same roles as the full template."""

    name = "confidence_phase0_compact"

    def user_segments(self, trial: Trial) -> list[Segment]:
        return [
            *compact_class_segments(self.classes, "Answer, "),
            *self.example_segments(),
            (None, "\nQuestion: "),
            ("question", clean_field(trial, "question", trial.question, multiline=True)),
        ]


class NumericConfidenceTemplate(ConfidenceReadoutTemplate):
    """Numeric 0–100 variant (verbal_confidence.md §4): after PANL a request for an integer 0–100
    written right after the colon. Read the first digit at CC (`digit_token_ids`) or generate
    ≤ 4 tokens."""

    name = "confidence_numeric"
    header = "Below is a question, followed by an answer that you gave to it earlier."
    readout_separator = ""

    def request_segments(self) -> list[Segment]:
        return [
            (
                None,
                "How likely is it that this answer is correct? Give a whole number from 0 (certainly wrong) to "
                "100 (certainly right), without any explanation. Reply with the word Confidence, a colon, and "
                "the number straight after the colon, with no space.",
            )
        ]

    def completion(self, trial: Trial) -> str:
        return str(round(100 * example_confidence(trial)))

    def digit_token_ids(self, tokenizer, separator: str | None = None) -> list[int]:
        """First token of each digit 0–9 after the colon (straight after it by default); raises if
        two coincide."""
        sep = self.readout_separator if separator is None else separator
        return first_token_ids(tokenizer, DIGITS, prefix=self.readout_labels_after(), separator=sep)

    def readout(self, tokenizer, separator: str | None = None) -> ClassReadout:
        """The first digit at CC, digit d valued (d + 0.5)/10 (`DIGIT_VALUES`)."""
        return ClassReadout(tuple(self.digit_token_ids(tokenizer, separator)), DIGIT_VALUES, DIGITS)


class MinimalConfidenceTemplate(NumericConfidenceTemplate):
    """Minimal 0–9 variant used for attention blocking: after PANL one short line asking for a
    single digit, so very few tokens separate PANL and CC. Digit d ↦ (d + 0.5)/10."""

    name = "confidence_minimal"
    header = "Below is a question and the answer you gave to it."

    def request_segments(self) -> list[Segment]:
        return [(None, "Rate how likely it is to be correct with one digit from 0 (surely wrong) to 9 (surely right).")]

    def completion(self, trial: Trial) -> str:
        return str(min(9, int(10 * example_confidence(trial))))


def parse_confidence_class(text: str, classes: Sequence[ConfidenceClass] = CONFIDENCE_CLASSES) -> tuple[ConfidenceClass | None, str]:
    """The class named after "Confidence:" in a generated text (case-insensitive; the longest
    label that the reply starts with). Returns (class, "ok") or (None, why)."""
    match = re.search(r"confidence\s*:\s*(.+)", text, flags=re.IGNORECASE)
    if not match:
        return None, "no 'Confidence:' line"
    said = " ".join(match.group(1).strip().lower().split())
    found = [c for c in classes if said.startswith(c.label.lower())]
    if not found:
        return None, f"unknown confidence class {match.group(1).strip()[:30]!r}"
    return max(found, key=lambda c: len(c.label)), "ok"


def parse_percent(text: str) -> tuple[int | None, str]:
    """The integer 0–100 at the start of a numeric-confidence continuation (digits straight
    after the colon). Returns (value, "ok") or (None, why)."""
    match = re.match(r"\s*(\d{1,3})(?!\d)", text)
    if not match:
        return None, f"no number at the start of {text[:20]!r}"
    value = int(match.group(1))
    return (value, "ok") if value <= 100 else (None, f"{value} is above 100")
