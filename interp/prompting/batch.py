"""Tokenised prompts with every named role resolved per row, under left or right padding.

`tokenize` tokenises rendered prompts with offsets, resolves every role of every row
(`interp.prompting.roles.resolve_row`) and pads them into a `Batch`: input ids, attention mask,
position ids that count real tokens only, and per role a [batch] index (-1 where it did not
resolve) with the reason. `first_token_ids` finds the first token of each label as the model
would emit it after a readout prefix.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from interp.errors import ModelError, RoleError, TemplateError
from interp.prompting.roles import Whole, resolve_row

__all__ = ["Batch", "first_token_ids", "tokenize"]


@dataclass
class Batch:
    """Tokenised prompts with every named role resolved per row.

    Attributes:
        input_ids, attention_mask, position_ids: [batch, seq]; position ids count only real
            tokens, so a row gets the same positions under left or right padding.
        roles: single-token role → [batch] absolute token index, -1 where it did not resolve.
        spans: span role → [batch, 2] token indices [start, end), -1 where it did not resolve.
        reasons: role → per-row reason (None where resolved).
        content_start: [batch] index of each row's first real token (left-pad length).
        trial_ids, texts: per row.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    position_ids: torch.Tensor
    roles: dict[str, torch.Tensor]
    spans: dict[str, torch.Tensor]
    reasons: dict[str, list[str | None]]
    content_start: torch.Tensor
    trial_ids: list[str]
    texts: list[str]
    padding_side: str
    metadata: list[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def ok(self, roles: Iterable[str] | None = None) -> torch.Tensor:
        """[batch] bool: rows where all of `roles` (default: every role) resolved."""
        names = self._names(roles)
        mask = torch.ones(len(self), dtype=torch.bool)
        for name in names:
            mask &= torch.tensor([r is None for r in self.reasons[name]], dtype=torch.bool)
        return mask

    def status(self, roles: Iterable[str] | None = None) -> list[str]:
        """Per row: "ok", or "role: reason; ..." for each of `roles` that did not resolve."""
        names = self._names(roles)
        out = []
        for row in range(len(self)):
            problems = [f"{n}: {self.reasons[n][row]}" for n in names if self.reasons[n][row] is not None]
            out.append("; ".join(problems) if problems else "ok")
        return out

    def _names(self, roles: Iterable[str] | None) -> list[str]:
        names = list(self.reasons) if roles is None else list(roles)
        unknown = [n for n in names if n not in self.reasons]
        if unknown:
            raise RoleError(f"unknown role(s) {unknown}; this batch has {sorted(self.reasons)}")
        return names

    def model_inputs(self, device: torch.device | str | None = None) -> dict[str, torch.Tensor]:
        """Keyword arguments for a HF forward: input_ids, attention_mask, position_ids."""
        inputs = {"input_ids": self.input_ids, "attention_mask": self.attention_mask, "position_ids": self.position_ids}
        return {k: v.to(device) for k, v in inputs.items()} if device is not None else inputs

    def rows(self, which: slice | Sequence[int]) -> Batch:
        """The batch of the chosen rows, padded as before (same width, same token indices)."""
        index = list(range(len(self)))[which] if isinstance(which, slice) else list(which)
        pick = torch.tensor(index, dtype=torch.long)
        return Batch(
            input_ids=self.input_ids[pick],
            attention_mask=self.attention_mask[pick],
            position_ids=self.position_ids[pick],
            roles={name: value[pick] for name, value in self.roles.items()},
            spans={name: value[pick] for name, value in self.spans.items()},
            reasons={name: [value[i] for i in index] for name, value in self.reasons.items()},
            content_start=self.content_start[pick],
            trial_ids=[self.trial_ids[i] for i in index],
            texts=[self.texts[i] for i in index],
            padding_side=self.padding_side,
            metadata=[self.metadata[i] for i in index] if self.metadata else [],
        )

    def role_index(self, role: str, user: str) -> torch.Tensor:
        """[batch] token index of a single-token role; a clear KeyError (naming `user`, the
        caller) for a span role or an unknown name."""
        if role in self.roles:
            return self.roles[role]
        kind = f"a span role; {user} reads single-token roles" if role in self.spans else "not a role of this batch"
        raise RoleError(f"{user}: role {role!r} is {kind} (single-token roles: {sorted(self.roles)})")

    def token_ids(self, role: str) -> torch.Tensor:
        """[batch] token id at a single-token role, -1 where it did not resolve."""
        index = self.roles[role]
        ids = self.input_ids.gather(1, index.clamp(min=0).unsqueeze(1)).squeeze(1)
        return torch.where(index >= 0, ids, torch.full_like(ids, -1))


def _pad_token_id(tokenizer) -> int:
    if tokenizer.pad_token_id is None:
        raise ModelError(
            f"tokenizer {tokenizer.name_or_path!r} has no pad token; set tokenizer.pad_token "
            "(e.g. to its eos token) before batching"
        )
    return int(tokenizer.pad_token_id)


def tokenize(tokenizer, rendered: Sequence, padding_side: str = "left") -> Batch:
    """Tokenise rendered prompts (see `interp.prompting.Rendered`) and resolve their roles.

    Args:
        tokenizer: a fast HF tokenizer (offsets are needed).
        rendered: prompts from one template; chat-rendered text is tokenised without adding
            special tokens (the chat template already holds BOS), raw text with them.
        padding_side: "left" (default; the last prompt token is then at -1 in every row) or "right".

    Raises:
        ValueError: on mixed special-token modes or a double BOS; ModelError: a missing pad token.
    """
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', not {padding_side!r}")
    if not rendered:
        raise ValueError("tokenize() got no prompts")
    modes = {r.add_special_tokens for r in rendered}
    if len(modes) != 1:
        raise ValueError("prompts mix chat and raw rendering; tokenise them in separate batches")
    pad_id = _pad_token_id(tokenizer)
    encoded = tokenizer(
        [r.text for r in rendered],
        add_special_tokens=modes.pop(),
        return_offsets_mapping=True,
        padding=False,
    )
    width = max(len(ids) for ids in encoded["input_ids"])
    batch = len(rendered)
    input_ids = torch.full((batch, width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((batch, width), dtype=torch.long)
    content_start = torch.zeros(batch, dtype=torch.long)
    specs = rendered[0].roles
    singles = [n for n, s in specs.items() if not isinstance(s, Whole)]
    wholes = [n for n, s in specs.items() if isinstance(s, Whole)]
    roles = {n: torch.full((batch,), -1, dtype=torch.long) for n in singles}
    spans = {n: torch.full((batch, 2), -1, dtype=torch.long) for n in wholes}
    reasons: dict[str, list[str | None]] = {n: [None] * batch for n in specs}
    bos = tokenizer.bos_token_id
    for row, (prompt, ids, offsets) in enumerate(zip(rendered, encoded["input_ids"], encoded["offset_mapping"])):
        if prompt.roles is not specs and dict(prompt.roles) != dict(specs):
            raise ValueError(f"row {row} ({prompt.trial_id}) comes from another template; batch one template at a time")
        if bos is not None and len(ids) > 1 and ids[0] == bos and ids[1] == bos:
            raise ValueError(
                f"row {row} ({prompt.trial_id}) starts with two BOS tokens: chat-rendered text already "
                "holds BOS and must be tokenised with add_special_tokens=False"
            )
        n = len(ids)
        start = width - n if padding_side == "left" else 0
        input_ids[row, start : start + n] = torch.tensor(ids, dtype=torch.long)
        attention_mask[row, start : start + n] = 1
        content_start[row] = start
        found, why = resolve_row(prompt.text, np.asarray(offsets, dtype=np.int64).reshape(-1, 2), prompt.spans, specs, prompt.last_role)
        for name, value in found.items():
            if value is None:
                reasons[name][row] = why[name]
            elif name in roles:
                roles[name][row] = start + value
            else:
                spans[name][row] = torch.tensor([start + value[0], start + value[1]])
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    return Batch(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        roles=roles,
        spans=spans,
        reasons=reasons,
        content_start=content_start,
        trial_ids=[r.trial_id for r in rendered],
        texts=[r.text for r in rendered],
        padding_side=padding_side,
        metadata=[dict(r.notes) for r in rendered],
    )


def first_token_ids(tokenizer, labels: Sequence[str], prefix: str = "", separator: str = " ") -> list[int]:
    """First token of each label as it follows `prefix` (e.g. "Confidence:" + " " + label).

    The label is tokenised in context, so merges across the separator are what the model sees.

    Raises:
        ValueError: if a label re-tokenises the prefix, or two labels share a first token
            (the readout over first tokens would then confuse them).
    """
    base = tokenizer(prefix, add_special_tokens=False)["input_ids"]
    ids = []
    for label in labels:
        full = tokenizer(prefix + separator + label, add_special_tokens=False)["input_ids"]
        if full[: len(base)] != base or len(full) == len(base):
            raise TemplateError(f"label {label!r} merges with the prefix {prefix!r} under {tokenizer.name_or_path!r}")
        ids.append(int(full[len(base)]))
    groups: dict[int, list[str]] = defaultdict(list)
    for label, token in zip(labels, ids):
        groups[token].append(label)
    clashes = {tokenizer.convert_ids_to_tokens(t): ls for t, ls in groups.items() if len(ls) > 1}
    if clashes:
        raise TemplateError(
            f"labels share first tokens under {tokenizer.name_or_path!r} after {prefix + separator!r}: "
            + "; ".join(f"{tok!r} starts {ls}" for tok, ls in clashes.items())
        )
    return ids
