"""Graders: TriviaQA alias matching, MCQ options, MNLI labels, numeric answers, hedging words,
and a hook for an LLM judge.

Every grader returns a `Grade` (correct: bool | None, status, parsed) so a response that cannot
be parsed is kept with a status instead of being counted as wrong.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

__all__ = [
    "OPEN_ENDED",
    "Grade",
    "HEDGES",
    "MNLI_LABELS",
    "grade_mcq",
    "grade_mnli",
    "grade_numeric",
    "grade_answer",
    "grade_triviaqa",
    "grade_with_judge",
    "hedges",
    "normalize_answer",
    "parse_number",
    "restates_question",
]

MNLI_LABELS = ("entailment", "neutral", "contradiction")

HEDGES = (
    "maybe",
    "perhaps",
    "possibly",
    "probably",
    "might be",
    "could be",
    "i think",
    "i believe",
    "i guess",
    "not sure",
    "unsure",
    "uncertain",
    "i don't know",
    "i do not know",
    "not certain",
    "it is unclear",
    "likely",
)
"""Lexicon of hedging phrases (whole words, case-insensitive) [ours]."""


@dataclass(frozen=True)
class Grade:
    """correct: True/False, or None when the response could not be graded; status: "ok" or why
    not; parsed: what was read from the response (normalised text, option, label or number)."""

    correct: bool | None
    status: str = "ok"
    parsed: object = None


_EXTRA_PUNCTUATION = "‘’´`“”–—…"


def normalize_answer(text: str) -> str:
    """TriviaQA's normaliser: lowercase, underscores and punctuation → spaces, drop the articles
    a/an/the, collapse whitespace. Accents are folded first (NFKD, combining marks dropped) [ours],
    so "Beyoncé" matches "Beyonce"."""
    text = unicodedata.normalize("NFKD", str(text))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.lower().replace("_", " ")
    exclude = set(string.punctuation + _EXTRA_PUNCTUATION)
    text = "".join(" " if ch in exclude else ch for ch in text)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def grade_triviaqa(answer: str | None, aliases: Sequence[str], max_words: int = 10) -> Grade:
    """Correct if the normalised answer equals a normalised alias, or — for answers of at most
    `max_words` words — contains one as a whole-word span (verbal_confidence.md §8)."""
    if answer is None or not str(answer).strip():
        return Grade(None, "empty answer")
    if not aliases:
        return Grade(None, "no gold aliases")
    said = normalize_answer(answer)
    if not said:
        return Grade(None, "answer is only punctuation or articles", said)
    golds = {normalize_answer(a) for a in aliases} - {""}
    if said in golds:
        return Grade(True, "ok", said)
    if len(said.split()) <= max_words:
        padded = f" {said} "
        if any(f" {gold} " in padded for gold in golds):
            return Grade(True, "ok", said)
    return Grade(False, "ok", said)


_OPTION = re.compile(r"^\s*(?:\(|\[)?\s*(?:option|answer|choice)?\s*[:#]?\s*\(?([1-9])\)?(?:[\s.):\]]|$)", re.IGNORECASE)


def grade_mcq(response: str | None, correct: int, n_options: int = 4) -> Grade:
    """The option number a response starts with ("2", "2.", "(2)", "Option 2: ...") against the
    correct option (1-based). An option above `n_options` (e.g. 5 = abstain) is parsed but
    counts as not correct."""
    if response is None or not str(response).strip():
        return Grade(None, "empty response")
    match = _OPTION.match(str(response))
    if not match:
        return Grade(None, f"no option number at the start of {str(response)[:40]!r}")
    option = int(match.group(1))
    return Grade(option == int(correct), "ok", option)


def grade_mnli(response: str | None, label: str) -> Grade:
    """The first MNLI label word in a response (entailment/neutral/contradiction) against the gold."""
    if label not in MNLI_LABELS:
        raise ValueError(f"gold label {label!r} is not one of {MNLI_LABELS}")
    if response is None or not str(response).strip():
        return Grade(None, "empty response")
    found = re.findall(r"\b(entailment|neutral|contradiction)\b", str(response).lower())
    if not found:
        return Grade(None, f"no MNLI label in {str(response)[:40]!r}")
    return Grade(found[0] == label, "ok", found[0])


_BOXED = re.compile(r"\\boxed\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}")
_NUMBER = re.compile(r"[-−]?\$?\s*\d[\d,]*(?:\.\d+)?|[-−]?\$?\s*\.\d+")


def parse_number(text: str | None) -> Decimal | None:
    """The final numeric answer in a text: after "####" if present, else the last \\boxed{...},
    else the last number. Commas, currency signs, units and a trailing period are ignored;
    "\\frac{a}{b}" and "a/b" give a/b. None if there is no number."""
    if text is None:
        return None
    text = str(text)
    if "####" in text:
        text = text.rsplit("####", 1)[1]
    else:
        boxed = _BOXED.findall(text)
        if boxed:
            text = boxed[-1]
    fraction = re.search(r"\\d?frac\{(-?\d+)\}\{(\d+)\}|(-?\d+)\s*/\s*(\d+)\s*$", text.strip())
    if fraction:
        numerator, denominator = (fraction.group(1), fraction.group(2)) if fraction.group(1) else (fraction.group(3), fraction.group(4))
        if int(denominator) != 0:
            return Decimal(numerator) / Decimal(denominator)
    numbers = _NUMBER.findall(text)
    if not numbers:
        return None
    raw = numbers[-1].replace(",", "").replace("$", "").replace(" ", "").replace("−", "-")
    try:
        return Decimal(raw)
    except InvalidOperation:
        return None


def grade_numeric(response: str | None, gold: str | float | int, tolerance: float = 1e-6) -> Grade:
    """The final number of a response (see `parse_number`) against the gold answer (a number, or
    a GSM8K solution ending "#### N"), equal within an absolute `tolerance`."""
    target = parse_number(str(gold))
    if target is None:
        raise ValueError(f"gold answer {str(gold)[-40:]!r} holds no number")
    value = parse_number(response)
    if value is None:
        return Grade(None, "no number in the response")
    return Grade(abs(value - target) <= Decimal(str(tolerance)), "ok", value)


STOPWORDS = frozenset(
    "a an the of in on at to for from by with as and or but is are was were be been being do does did has have had "
    "it its this that these those which what who whom whose where when why how than then there their his her".split()
)
"""Words that carry no content for `restates_question` [ours]."""


def restates_question(answer: str | None, question: str) -> bool:
    """Whether every content word of the answer occurs in the question (after TriviaQA
    normalisation, stop words aside): "The Friendly Islands" for "Which island group became known
    as The Friendly Islands?". Such an answer gets no credit from alias matching (issue: it can
    match an alias while saying nothing new); False when the answer has no content word."""
    if not answer:
        return False
    said = set(normalize_answer(answer).split()) - STOPWORDS
    return bool(said) and said <= set(normalize_answer(question).split())


def hedges(text: str | None) -> list[str]:
    """The hedging phrases of `HEDGES` found in a text (whole words, case-insensitive)."""
    if not text:
        return []
    lowered = " ".join(str(text).lower().replace("’", "'").split())
    return [h for h in HEDGES if re.search(rf"(?<![\w']){re.escape(h)}(?![\w'])", lowered)]


def grade_answer(dataset: str, answer: str | None, gold: str | None, aliases: Sequence[str] = (), correct_option: int | None = None) -> Grade:
    """The grader of a dataset: option numbers for MMLU / MCQ, numbers for GSM8K / BigMath, labels
    for MNLI, alias matching otherwise (TriviaQA)."""
    if dataset in ("mmlu", "mcq"):
        return grade_mcq(answer, int(correct_option))
    if dataset in ("gsm8k", "bigmath"):
        return grade_numeric(answer, gold)
    if dataset == "mnli":
        return grade_mnli(answer, gold)
    return grade_triviaqa(answer, aliases)


OPEN_ENDED = ("triviaqa",)
"""Datasets whose answers are free text (restating the question is checked for these only)."""


Judge = Callable[[str, str, str, Sequence[str]], str]
"""(question, answer, gold, aliases) → "correct" | "incorrect" | "not_attempted"."""


def grade_with_judge(judge: Judge, question: str, answer: str, gold: str, aliases: Sequence[str] = ()) -> Grade:
    """Grade with any callable judge (e.g. an LLM behind an API). "not_attempted" gives
    correct=None; any other verdict is an error naming it."""
    verdict = str(judge(question, answer, gold, tuple(aliases))).strip().lower()
    if verdict == "correct":
        return Grade(True, "ok", verdict)
    if verdict == "incorrect":
        return Grade(False, "ok", verdict)
    if verdict in ("not_attempted", "not attempted"):
        return Grade(None, "not attempted (judge)", verdict)
    raise ValueError(f"judge returned {verdict!r}; expected 'correct', 'incorrect' or 'not_attempted'")
