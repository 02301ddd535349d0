"""Greedy generation with per-token log-probabilities, answer extraction mapped back onto the
generated tokens, the six log-prob features, and parsers for the generated formats (Phase-0
confidence line, 0–100 numbers, the Phase-4 Answer / Confidence / Final fields).

Log-probabilities are taken from the raw logits (full-vocabulary log-softmax) of the step that
produced each token, never from processed scores.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from interp.grading import hedges
from interp.models import LM
from interp.prompts import CONFIDENCE_CLASSES, ConfidenceClass
from interp.roles import Batch

__all__ = [
    "FEATURES",
    "Generation",
    "generate",
    "logprob_features",
    "parse_confidence_class",
    "parse_percent",
    "parse_threshold_reply",
]

FEATURES = ("mean", "min", "max", "variance", "first", "last")
"""The six log-prob summaries of verbal_confidence.md §6.7, over the answer span."""


def logprob_features(logprobs: Sequence[float]) -> dict[str, float]:
    """Length-normalised mean, min, max, variance (population, ddof 0 [ours]), first-token and
    last-token log-prob of a span; NaN for an empty span."""
    values = np.asarray(logprobs, dtype=np.float64)
    if values.size == 0:
        return {name: float("nan") for name in FEATURES}
    return {
        "mean": float(values.mean()),
        "min": float(values.min()),
        "max": float(values.max()),
        "variance": float(values.var()),
        "first": float(values[0]),
        "last": float(values[-1]),
    }


@dataclass
class Generation:
    """One generated continuation.

    Attributes:
        trial_id: the row's trial.
        token_ids: generated tokens (up to and excluding EOS / padding).
        token_logprobs: log p(token | prefix) of each, from the full-vocabulary softmax.
        text: the decoded continuation.
        token_offsets: (start, end) characters of each token in `text`.
        answer: the text up to the first newline, stripped (None if empty).
        answer_tokens: [start, end) indices into token_ids of the tokens covering the answer.
        status: "ok" or why the answer could not be extracted / mapped.
        hedges: hedging phrases found in the answer.
    """

    trial_id: str
    token_ids: list[int]
    token_logprobs: list[float]
    text: str
    token_offsets: list[tuple[int, int]]
    answer: str | None = None
    answer_tokens: tuple[int, int] | None = None
    status: str = "ok"
    hedges: list[str] = field(default_factory=list)

    @classmethod
    def from_tokens(cls, tokenizer, trial_id: str, token_ids: Sequence[int], token_logprobs: Sequence[float]) -> Generation:
        """Decode, locate each token's characters, and extract and map the answer."""
        token_ids, token_logprobs = [int(t) for t in token_ids], [float(x) for x in token_logprobs]
        offsets, previous = [], 0
        for k in range(len(token_ids)):
            length = len(tokenizer.decode(token_ids[: k + 1], skip_special_tokens=True, clean_up_tokenization_spaces=False))
            length = max(length, previous)
            offsets.append((previous, length))
            previous = length
        text = tokenizer.decode(token_ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        generation = cls(trial_id, token_ids, token_logprobs, text, offsets)
        generation._extract()
        return generation

    def _extract(self) -> None:
        line_end = self.text.find("\n")
        first_line = self.text if line_end < 0 else self.text[:line_end]
        answer = first_line.strip()
        if not answer:
            self.status = "empty answer (nothing before the first newline)"
            return
        start = first_line.index(answer)
        end = start + len(answer)
        covering = [k for k, (a, b) in enumerate(self.token_offsets) if b > a and a < end and b > start]
        if not covering:
            self.status = "answer could not be mapped to tokens"
            return
        self.answer = answer
        self.answer_tokens = (covering[0], covering[-1] + 1)
        self.hedges = hedges(answer)

    @property
    def answer_logprobs(self) -> list[float]:
        """Log-probs of the answer tokens (empty if there is no answer)."""
        if self.answer_tokens is None:
            return []
        return self.token_logprobs[self.answer_tokens[0] : self.answer_tokens[1]]

    def features(self) -> dict[str, float]:
        """The six log-prob features over the answer span (NaN without an answer)."""
        return logprob_features(self.answer_logprobs)

    @property
    def after_answer(self) -> str:
        """The generated text after the answer line (e.g. Phase 0's confidence line)."""
        line_end = self.text.find("\n")
        return "" if line_end < 0 else self.text[line_end + 1 :]


@torch.inference_mode()
def generate(
    lm: LM,
    batches: Batch | Sequence[Batch],
    max_new_tokens: int = 48,
    progress: bool = True,
) -> list[Generation]:
    """Greedy continuations of left-padded batches with per-token log-probs.

    Args:
        lm: the model.
        batches: left-padded prompt batches (e.g. `ConfidencePhase0Template().batch(...)`).
        max_new_tokens: 48 for Phase 0, 32 for correction, 4 for numeric confidence.
        progress: tqdm over batches.

    Returns:
        One `Generation` per row, in order; a row that emits EOS stops there.
    """
    batch_list = [batches] if isinstance(batches, Batch) else list(batches)
    tokenizer = lm.tokenizer
    stop = {t for t in (tokenizer.eos_token_id, getattr(lm.model.generation_config, "eos_token_id", None)) if t is not None}
    stop = {x for t in stop for x in (t if isinstance(t, (list, tuple)) else [t])}
    out: list[Generation] = []
    for batch in tqdm(batch_list, desc="generate", disable=not progress):
        if batch.padding_side != "left":
            raise ValueError("generate needs left-padded batches (tokenize(..., padding_side='left'))")
        inputs = batch.model_inputs(lm.device)
        result = lm.model.generate(
            input_ids=inputs["input_ids"],
            attention_mask=inputs["attention_mask"],
            do_sample=False,
            max_new_tokens=max_new_tokens,
            output_logits=True,
            return_dict_in_generate=True,
            pad_token_id=tokenizer.pad_token_id,
        )
        new = result.sequences[:, batch.input_ids.shape[1] :].cpu()
        logprobs = torch.stack([step.float().log_softmax(-1) for step in result.logits], dim=1).cpu()
        chosen = logprobs.gather(2, new[:, : logprobs.shape[1], None]).squeeze(2)
        for row in range(len(batch)):
            ids = new[row].tolist()
            length = next((k for k, t in enumerate(ids) if t in stop), len(ids))
            out.append(Generation.from_tokens(tokenizer, batch.trial_ids[row], ids[:length], chosen[row, :length].tolist()))
    return out


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


def parse_threshold_reply(text: str) -> tuple[dict[str, int | None], str]:
    """The Answer (1–4), Confidence (0–100) and Final (1–5) fields of a Phase-4 reply (the
    continuation after the pre-filled "Answer:"). Returns (fields, "ok") or (fields with None
    where missing, why)."""
    full = "Answer:" + text
    fields: dict[str, int | None] = {}
    problems = []
    for name, low, high in (("answer", 1, 4), ("confidence", 0, 100), ("final", 1, 5)):
        match = re.search(rf"{name}\s*:\s*(\d+)", full, flags=re.IGNORECASE)
        value = int(match.group(1)) if match else None
        if value is None or not low <= value <= high:
            problems.append(f"{name} missing or outside {low}-{high}")
            value = None
        fields[name] = value
    return fields, "ok" if not problems else "; ".join(problems)
