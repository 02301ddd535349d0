"""The abstention paradigm (abstention.md §3–§4): multiple-choice prompts read at AC, with or
without the abstain option 5, the instructed-threshold prompt of phase 4, and its reply parser."""

from __future__ import annotations

import re
from typing import Any

from interp.errors import TemplateError
from interp.prompting import Exact, Nth, PromptLast, Segment, Template, Trial, Whole, clean_field, first_token_ids, labelled_colon
from interp.readouts import OptionReadout

__all__ = ["MCQTemplate", "ThresholdTemplate", "parse_threshold_reply", "with_options"]


class MCQTemplate(Template):
    """Abstention phases 1–3 (abstention.md §4): an instruction, the question (QLT = its last
    token), options 1–4 one per line from `trial.metadata["options"]` (spans option_1..4), with
    `abstain=True` option 5 to decline; AC (the colon of the pre-filled "Answer:") is the last
    prompt token and the readout site."""

    name = "mcq"
    readout_prefix = "Answer:"
    readout_separator = ""
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
        return labelled_colon("Answer", "answer_colon")

    def option_token_ids(self, tokenizer, separator: str | None = None) -> list[int]:
        """First token of each option number ("1"–"4", and "5" with abstain) after AC.

        The default separator is none ("Answer:1"): Qwen and Gemma both split " 1" into a space
        token and the digit, so with a space every option would share its first token (which
        `first_token_ids` refuses)."""
        labels = [str(k) for k in range(1, 6 if self.abstain else 5)]
        sep = self.readout_separator if separator is None else separator
        return first_token_ids(tokenizer, labels, prefix=self.readout_labels_after(), separator=sep)

    def readout(self, tokenizer, separator: str | None = None, temperature: float = 1.0) -> OptionReadout:
        """The option numbers at AC with a calibration temperature."""
        return OptionReadout(tuple(self.option_token_ids(tokenizer, separator)), temperature=temperature)


class ThresholdTemplate(MCQTemplate):
    """Abstention phase 4: the MCQ with option 5, then instructions to choose an answer, rate
    confidence 0–100 (the chance an expert judge calls it correct) and give the answer if that
    confidence is at least T, else 5. T comes from `threshold` or `trial.metadata["threshold"]`.
    The reply has labelled fields Answer / Confidence / Final (see `parse_threshold_reply`)."""

    WORDINGS = (
        "If your confidence is at least {T}, give your chosen option as the final response; otherwise give 5.",
        "Only answer if your confidence is {T} or more: then the final response is your chosen option. If it is below {T}, the final response must be 5.",
        "The threshold is {T}. A confidence below {T} means you must decline: write 5 as the final response. At or above {T}, write your chosen option.",
        "Wrong answers are penalised unless you are confident. Give your option as the final response only when your confidence reaches {T}; below {T}, respond 5 to decline.",
        "Compare your confidence with {T}. Confidence >= {T}: final response = your option. Confidence < {T}: final response = 5 (decline).",
        "You may decline with 5. Decline whenever your confidence is under {T}; otherwise commit to your chosen option as the final response.",
    )
    """Hand-written paraphrases of the Phase-4 decision rule (abstention.md §8: 5–10 variants,
    the one with the highest abstention at T = 100 on calibration items is used)."""

    def __init__(self, threshold: int | None = None, wording: int = 0):
        super().__init__(abstain=True)
        self.name = "mcq_threshold"
        self.threshold = threshold
        if not 0 <= int(wording) < len(self.WORDINGS):
            raise TemplateError(f"ThresholdTemplate: wording must be 0..{len(self.WORDINGS) - 1}, got {wording!r}")
        self.wording = int(wording)

    def threshold_for(self, trial: Trial) -> int:
        value = self.threshold if self.threshold is not None else trial.metadata.get("threshold")
        if value is None or not 0 <= int(value) <= 100:
            raise TemplateError(f"trial {trial.id}: threshold must be an integer 0-100, got {value!r}")
        return int(value)

    def notes(self, trial: Trial) -> dict[str, Any]:
        return {**super().notes(trial), "threshold": self.threshold_for(trial)}

    def user_segments(self, trial: Trial) -> list[Segment]:
        threshold = self.threshold_for(trial)
        return [
            (None, "Here is a multiple-choice question.\nQuestion: "),
            ("question", clean_field(trial, "question", trial.question, multiline=True)),
            *self.option_segments(trial),
            (
                None,
                "\nFirst choose the option (1-4) you think is right. Then rate your confidence from 0 to 100, "
                "meaning the probability that an expert judge would mark your choice correct. "
                + self.WORDINGS[self.wording].format(T=threshold)
                + "\nReply in this format, each number straight after its colon:\nAnswer:<1-4>\n"
                "Confidence:<0-100>\nFinal:<1-5>",
            ),
        ]


def parse_threshold_reply(text: str) -> tuple[dict[str, int | None], str]:
    """The Answer (1–4), Confidence (0–100) and Final (1–5) fields of a Phase-4 reply (the
    continuation after the pre-filled "Answer:"). Returns (fields, "ok") or (fields with None
    where missing, why). A reply that abstains in the Answer field too (Answer 5, Final 5) keeps
    its decision: answer None, status "ok (abstained in the answer field)"."""
    full = "Answer:" + text
    raw: dict[str, int | None] = {}
    for name in ("answer", "confidence", "final"):
        match = re.search(rf"{name}\s*:\s*(\d+)", full, flags=re.IGNORECASE)
        raw[name] = int(match.group(1)) if match else None
    abstained_early = raw["answer"] == 5 and raw["final"] == 5
    fields: dict[str, int | None] = {}
    problems = []
    for name, low, high in (("answer", 1, 4), ("confidence", 0, 100), ("final", 1, 5)):
        value = raw[name]
        if value is None or not low <= value <= high:
            if not (name == "answer" and abstained_early):
                problems.append(f"{name} missing or outside {low}-{high}")
            value = None
        fields[name] = value
    if problems:
        return fields, "; ".join(problems)
    return fields, "ok (abstained in the answer field)" if abstained_early else "ok"


def with_options(question: str, options) -> str:
    """An MCQ item as one open question for the answer-then-rate paradigm (MMLU in §6.10): the
    question, its options numbered 1–4 one per line, and a request for the number."""
    listed = "\n".join(f"{k}. {option}" for k, option in enumerate(options, start=1))
    return f"{question}\n{listed}\nAnswer with the number of the correct option."
