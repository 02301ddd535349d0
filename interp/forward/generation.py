"""Decoding: greedy or seeded sampling with per-token log-probabilities, the answer line mapped
back onto the generated tokens, and the six log-prob features of an answer span.

Log-probabilities are taken from the raw logits (full-vocabulary log-softmax) of the step that
produced each token, never from processed scores. Decoding uses only what is asked for here: the
model's own generation defaults (a repetition penalty, top-k, a temperature) are set aside, so
greedy means the argmax of the model's distribution. Parsing what the answer says belongs to
the paradigm's module in `interp.tasks`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from interp.errors import ConfigError
from interp.models import LM
from interp.prompting import Batch

__all__ = ["FEATURES", "Generation", "continuation_logprobs", "generate", "logprob_features", "trial_seed"]

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
        answer: the text up to the first newline, stripped (None if empty); with
            `skip_blank_lines` the first line that holds text (a base model often opens its
            reply after "Answer:" with a newline).
        answer_tokens: [start, end) indices into token_ids of the tokens covering the answer.
        status: "ok" or why the answer could not be extracted / mapped.
        sample: index of this continuation among the samples of its prompt (0 when greedy).
    """

    trial_id: str
    token_ids: list[int]
    token_logprobs: list[float]
    text: str
    token_offsets: list[tuple[int, int]]
    answer: str | None = None
    answer_tokens: tuple[int, int] | None = None
    status: str = "ok"
    sample: int = 0
    skip_blank_lines: bool = False

    @classmethod
    def from_tokens(cls, tokenizer, trial_id: str, token_ids: Sequence[int], token_logprobs: Sequence[float], sample: int = 0, skip_blank_lines: bool = False) -> Generation:
        """Decode, locate each token's characters, and extract and map the answer."""
        token_ids, token_logprobs = [int(t) for t in token_ids], [float(x) for x in token_logprobs]
        offsets, previous = [], 0
        for k in range(len(token_ids)):
            length = len(tokenizer.decode(token_ids[: k + 1], skip_special_tokens=True, clean_up_tokenization_spaces=False))
            length = max(length, previous)
            offsets.append((previous, length))
            previous = length
        text = tokenizer.decode(token_ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        generation = cls(trial_id, token_ids, token_logprobs, text, offsets, sample=sample, skip_blank_lines=skip_blank_lines)
        generation._extract()
        return generation

    def _line_end(self) -> int:
        lead = len(self.text) - len(self.text.lstrip()) if self.skip_blank_lines else 0
        return self.text.find("\n", lead)

    def _extract(self) -> None:
        line_end = self._line_end()
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
        line_end = self._line_end()
        return "" if line_end < 0 else self.text[line_end + 1 :]



def trial_seed(seed: int, trial_id: str) -> int:
    """The sampling seed of one trial: a hash of the run seed and the trial id, so a trial's
    samples do not depend on which other trials share its batch."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{trial_id}".encode()).digest()[:8], "little") % 2**63


@contextmanager
def _plain_generation_config(lm: LM) -> Iterator[None]:
    """Within the block the model generates with no defaults of its own but its special tokens
    (and use_cache=False, for a model that must see whole sequences, e.g. an organism)."""
    from transformers import GenerationConfig

    model = lm.model
    original = model.generation_config
    ids = {k: getattr(original, k, None) for k in ("bos_token_id", "eos_token_id", "pad_token_id")}
    kept = {k: v for k, v in ids.items() if v is not None} | ({"use_cache": False} if original.use_cache is False else {})
    model.generation_config = GenerationConfig(**kept)
    try:
        yield
    finally:
        model.generation_config = original


def _stop_tokens(lm: LM) -> set[int]:
    found = {t for t in (lm.tokenizer.eos_token_id, getattr(lm.model.generation_config, "eos_token_id", None)) if t is not None}
    return {x for t in found for x in (t if isinstance(t, (list, tuple)) else [t])}


def _continuations(lm: LM, result, prompt_length: int, trial_ids: Sequence[str], ends: set[int], samples: int, skip_blank_lines: bool = False) -> list[Generation]:
    """Generations from a `generate` result whose rows are `samples` consecutive rows per trial,
    each cut at its first token in `ends` (EOS, or the padding after a stop string)."""
    new = result.sequences[:, prompt_length:].cpu()
    logprobs = torch.stack([step.float().log_softmax(-1) for step in result.logits], dim=1).cpu()
    chosen = logprobs.gather(2, new[:, : logprobs.shape[1], None]).squeeze(2)
    out = []
    for row in range(new.shape[0]):
        ids = new[row].tolist()
        length = next((k for k, t in enumerate(ids) if t in ends), len(ids))
        trial_id = trial_ids[row // samples]
        out.append(Generation.from_tokens(lm.tokenizer, trial_id, ids[:length], chosen[row, :length].tolist(), sample=row % samples, skip_blank_lines=skip_blank_lines))
    return out


@torch.inference_mode()
def generate(
    lm: LM,
    batches: Batch | Sequence[Batch],
    max_new_tokens: int = 48,
    progress: bool = True,
    temperature: float = 0.0,
    top_p: float = 1.0,
    n_samples: int = 1,
    seed: int = 0,
    stop: Sequence[str] = (),
    skip_blank_lines: bool = False,
) -> list[Generation]:
    """Continuations of left-padded batches with per-token log-probs.

    Args:
        lm: the model.
        batches: left-padded prompt batches (e.g. `ConfidencePhase0Template().batch(...)`).
        max_new_tokens: 48 for Phase 0, 32 for correction, 4 for numeric confidence.
        progress: tqdm over batches.
        temperature: 0 (default) decodes greedily; above 0 samples at that temperature.
        top_p: nucleus mass when sampling (1.0 = the whole distribution; no top-k is applied).
        n_samples: continuations per prompt when sampling (e.g. 20 at T = 1 for P(IK)).
        seed: run seed; each trial samples from its own generator seeded by `trial_seed(seed,
            trial_id)`, so the same seed gives the same samples whatever the batching.
        stop: strings that end a continuation (kept in it), e.g. a blank line for a base model
            that would run on into the next question.
        skip_blank_lines: read the answer from the first line that holds text (see `Generation`).

    Returns:
        One `Generation` per row (greedy) or n_samples per row, trial by trial with `sample`
        0..n−1 (sampling); a continuation that emits EOS stops there.
    """
    if temperature < 0 or not 0 < top_p <= 1 or n_samples < 1:
        raise ConfigError(f"generate: need temperature ≥ 0, 0 < top_p ≤ 1 and n_samples ≥ 1 (got {temperature}, {top_p}, {n_samples})")
    if temperature == 0 and n_samples != 1:
        raise ConfigError(f"generate: greedy decoding gives one continuation per prompt, not n_samples={n_samples}; set a temperature")
    batch_list = [batches] if isinstance(batches, Batch) else list(batches)
    pad = lm.tokenizer.pad_token_id
    ends = _stop_tokens(lm) | ({pad} if stop and pad is not None else set())
    options = {"stop_strings": list(stop), "tokenizer": lm.tokenizer} if stop else {}
    out: list[Generation] = []
    with _plain_generation_config(lm):
        for batch in tqdm(batch_list, desc="generate", disable=not progress):
            if batch.padding_side != "left":
                raise ValueError("generate needs left-padded batches (tokenize(..., padding_side='left'))")
            inputs = batch.model_inputs(lm.device)
            if temperature == 0:
                result = lm.model.generate(
                    input_ids=inputs["input_ids"],
                    attention_mask=inputs["attention_mask"],
                    do_sample=False,
                    max_new_tokens=max_new_tokens,
                    output_logits=True,
                    return_dict_in_generate=True,
                    pad_token_id=pad,
                    **options,
                )
                out += _continuations(lm, result, batch.input_ids.shape[1], batch.trial_ids, ends, 1, skip_blank_lines)
                continue
            for row, trial_id in enumerate(batch.trial_ids):
                start = int(batch.content_start[row])
                devices = [lm.device] if lm.device.type == "cuda" else []
                with torch.random.fork_rng(devices=devices, device_type=lm.device.type if devices else "cuda"):
                    torch.manual_seed(trial_seed(seed, trial_id))
                    result = lm.model.generate(
                        input_ids=inputs["input_ids"][row : row + 1, start:],
                        attention_mask=inputs["attention_mask"][row : row + 1, start:],
                        do_sample=True,
                        temperature=float(temperature),
                        top_p=float(top_p),
                        top_k=0,
                        num_return_sequences=n_samples,
                        max_new_tokens=max_new_tokens,
                        output_logits=True,
                        return_dict_in_generate=True,
                        pad_token_id=pad,
                        **options,
                    )
                out += _continuations(lm, result, batch.input_ids.shape[1] - start, [trial_id], ends, n_samples, skip_blank_lines)
    return out


@torch.inference_mode()
def continuation_logprobs(lm: LM, batch: Batch, continuations: Sequence[str]) -> list[list[float]]:
    """Teacher-forced log p(token | prompt, earlier tokens) of each row's given continuation
    (tokenised on its own, no special tokens), from the full-vocabulary softmax: the scoring of
    an answer the model did not generate (an off-policy A1). One list per row, in batch order."""
    if len(continuations) != len(batch):
        raise ValueError(f"continuation_logprobs: {len(continuations)} continuations for a batch of {len(batch)}")
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    rows, targets = [], []
    for row, text in enumerate(continuations):
        prompt = batch.input_ids[row, int(batch.content_start[row]) :].tolist()
        tokens = lm.tokenizer(str(text), add_special_tokens=False)["input_ids"]
        rows.append(prompt + tokens)
        targets.append((len(prompt), len(tokens)))
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    for k, ids in enumerate(rows):
        input_ids[k, width - len(ids) :] = torch.tensor(ids)
        attention[k, width - len(ids) :] = 1
    logits = lm.model(input_ids=input_ids.to(lm.device), attention_mask=attention.to(lm.device), use_cache=False).logits.float().log_softmax(-1).cpu()
    out = []
    for k, (n_prompt, n_tokens) in enumerate(targets):
        start = width - len(rows[k]) + n_prompt
        positions = torch.arange(start - 1, start - 1 + n_tokens)
        out.append(logits[k, positions, input_ids[k, start : start + n_tokens]].tolist())
    return out

