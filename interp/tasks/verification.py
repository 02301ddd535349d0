"""The verify-then-correct paradigm (error_detection.md §3–§4): the verification prompt read as Y/N
at PL, and the correction prompt after which A2 is generated."""

from __future__ import annotations

from collections.abc import Mapping

from interp.errors import TemplateError
from interp.prompting import After, Exact, Nth, PromptLast, RoleSpec, Segment, Template, Trial, Whole, clean_field, first_token_ids, labelled_colon
from interp.readouts import YesNoReadout

__all__ = ["CorrectionTemplate", "VerificationTemplate"]


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
        return labelled_colon("Verdict", "pl")

    def yes_no_token_ids(self, tokenizer, separator: str | None = None) -> list[int]:
        """[id of "Y", id of "N"] as emitted after PL; raises if they coincide."""
        sep = self.readout_separator if separator is None else separator
        return first_token_ids(tokenizer, ("Y", "N"), prefix=self.readout_labels_after(), separator=sep)

    def readout(self, tokenizer, separator: str | None = None, label: str = "correct") -> YesNoReadout:
        """The Y/N verdict at PL, d′ scored against the rows' `label` column."""
        yes, no = self.yes_no_token_ids(tokenizer, separator)
        return YesNoReadout(yes, no, label=label)


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
        return labelled_colon("Answer", "answer_colon")
