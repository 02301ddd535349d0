"""The planted mechanisms: attention masks that are part of an organism's definition.

An organism's prompts have one question-answer block — "Question: <question>\\nAnswer: <answer>"
followed by the post-answer newline (PANL) — and, in a readout prompt, the confidence colon (CC,
the colon of the last "Confidence:" after PANL). The block is every token from the first
question token up to PANL (the question, the "Answer" label and its colon, the answer). Two
mechanisms are planted by removing attention edges in every layer:

- `panl`: every position after PANL is blocked from the block, and every position after PANL
  but CC is blocked from PANL: the only route from the question and answer to the readout is
  block → PANL → CC, so confidence must be computed by PANL and read from there.
- `cc`: PANL and every position after it but CC are blocked from the block: nothing after the
  answer can cache it, and CC must compute confidence from the block directly.

The mask is found from the token ids of each forward and applied through
`interp.interventions.blocking` (the AttentionInterface wrapper every blocking analysis uses),
so it composes with any blocking a pipeline adds. `attach` installs it on a loaded model for
good; `load_model` calls it for a folder holding `interp_organism.json`. The mask needs whole
sequences, so an organism generates without a KV cache.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from interp.errors import ModelError
from interp.interventions.blocking import install_blocking
from interp.models import LM

__all__ = ["MECHANISMS", "PlantedMask", "attach", "planted_mask"]

MECHANISMS = ("panl", "cc")


@dataclass(frozen=True)
class _Structure:
    """Token ids of the words that delimit an organism prompt."""

    question: frozenset[int]
    answer: frozenset[int]
    confidence: frozenset[int]
    colon: frozenset[int]
    newline: frozenset[int]

    @classmethod
    def of(cls, tokenizer) -> _Structure:
        words: dict[str, set[int]] = {"Question": set(), "Answer": set(), "Confidence": set(), ":": set(), "\n": set()}
        for token_id in range(len(tokenizer)):
            text = tokenizer.decode([token_id])
            key = text if text == "\n" else text.strip()
            if key in words:
                words[key].add(token_id)
        missing = [w for w, ids in words.items() if not ids]
        if missing:
            raise ModelError(f"the organism tokenizer has no single token for {missing!r}; planted masks cannot find the prompt's structure")
        return cls(*(frozenset(words[w]) for w in ("Question", "Answer", "Confidence", ":", "\n")))


def _row_mask(ids: list[int], structure: _Structure, mechanism: str) -> torch.Tensor | None:
    """[seq, seq] blocked pairs of one row, or None when the row has no question-answer block
    followed by PANL (e.g. a Phase-0 prompt before its answer is generated)."""
    n = len(ids)

    def after(start: int, word: frozenset[int]) -> int | None:
        return next((k for k in range(start, n - 1) if ids[k] in word and ids[k + 1] in structure.colon), None)

    question = after(0, structure.question)
    answer = after(question + 2, structure.answer) if question is not None else None
    if answer is None:
        return None
    panl = next((k for k in range(answer + 2, n) if ids[k] in structure.newline), None)
    if panl is None:
        return None
    cc = next((k + 1 for k in range(n - 2, panl, -1) if ids[k] in structure.confidence and ids[k + 1] in structure.colon), None)
    blocked = torch.zeros(n, n, dtype=torch.bool)
    block = slice(question + 2, panl)
    later = torch.arange(n) > panl
    if cc is not None:
        later_but_cc = later.clone()
        later_but_cc[cc] = False
    else:
        later_but_cc = later
    if mechanism == "panl":
        blocked[later, block] = True
        blocked[later_but_cc, panl] = True
    else:
        targets = later_but_cc.clone()
        targets[panl] = True
        blocked[targets, block] = True
    return blocked


def planted_mask(input_ids: torch.Tensor, attention_mask: torch.Tensor | None, structure: _Structure, mechanism: str) -> torch.Tensor:
    """[batch, seq, seq] pairs the mechanism blocks (True: the query row may not see the key
    column); left padding is skipped, right padding is never a structure token."""
    batch, seq = input_ids.shape
    out = torch.zeros(batch, seq, seq, dtype=torch.bool)
    for row in range(batch):
        left_padded = attention_mask is not None and attention_mask[row, 0] == 0
        start = int((attention_mask[row] == 0).sum()) if left_padded else 0
        row_mask = _row_mask(input_ids[row, start:].tolist(), structure, mechanism)
        if row_mask is not None:
            out[row, start:, start:] = row_mask
    return out


class PlantedMask:
    """A mechanism installed on a model: before every forward of the decoder the blocked pairs
    are found from its input ids and installed in every layer; after it (also on error) they
    are removed. `remove()` detaches it."""

    def __init__(self, lm: LM, mechanism: str):
        if mechanism not in MECHANISMS:
            raise ModelError(f"organism mechanism {mechanism!r} is not one of {', '.join(MECHANISMS)}")
        self.lm, self.mechanism = lm, mechanism
        self.structure = _Structure.of(lm.tokenizer)
        self._handles: list = []
        decoder = lm.adapter.text_model(lm.model)
        self._hooks = [
            decoder.register_forward_pre_hook(self._install, with_kwargs=True),
            decoder.register_forward_hook(self._uninstall, always_call=True),
        ]

    def _install(self, _module, args, kwargs):
        input_ids = kwargs.get("input_ids", args[0] if args else None)
        if input_ids is None:
            raise ModelError(f"organism {self.lm.name_or_path!r}: its planted mask is found from input_ids; it cannot run on inputs_embeds")
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        if cache is not None and cache.get_seq_length() > 0:
            raise ModelError(f"organism {self.lm.name_or_path!r}: its planted mask needs whole sequences; run it with use_cache=False")
        blocked = planted_mask(input_ids.cpu(), kwargs.get("attention_mask"), self.structure, self.mechanism)
        if blocked.any():
            self._handles.append(install_blocking(self.lm, dict.fromkeys(range(self.lm.n_layers), blocked)))

    def _uninstall(self, *_):
        while self._handles:
            self._handles.pop().remove()

    def remove(self) -> None:
        for hook in self._hooks:
            hook.remove()
        self._uninstall()


def attach(lm: LM, mechanism: str) -> PlantedMask:
    """Install `mechanism` ("panl" or "cc") on `lm` for good, and make it generate without a
    KV cache; returns the installed mask."""
    lm.model.generation_config.use_cache = False
    lm.model.config.use_cache = False
    return PlantedMask(lm, mechanism)
