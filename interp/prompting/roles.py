"""Named token roles: character spans → token indices, per row.

A template declares each role as a small spec over its named character spans (`Exact`,
`Nth`, `Whole`, `After`, `PromptLast`); `resolve_row` turns the specs into token indices of one
unpadded row, using the tokenizer's character offsets. A role that is not what it claims to be
in a row (a newline merged into punctuation, a span with too few tokens, a token shared with
another role) gets no index and a reason naming the role; the other roles are unaffected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from interp.errors import RoleError

__all__ = ["After", "Exact", "Nth", "PromptLast", "RoleSpec", "Whole", "resolve_row"]


@dataclass(frozen=True)
class Exact:
    """The character span `span` must be exactly one token (e.g. PANL, a colon)."""

    span: str


@dataclass(frozen=True)
class Nth:
    """The n-th token of span `span` (0-based; -1 = last), e.g. the first answer token."""

    span: str
    n: int


@dataclass(frozen=True)
class Whole:
    """All tokens of span `span`, as token indices [start, end) (a span role)."""

    span: str


@dataclass(frozen=True)
class After:
    """The token `k` positions after single-token role `role` (e.g. PANL+1); with `within`, it
    must also be a token of that span (e.g. PANL+9 inside the instruction)."""

    role: str
    k: int
    within: str | None = None


@dataclass(frozen=True)
class PromptLast:
    """The last token of the prompt."""


RoleSpec = Exact | Nth | Whole | After | PromptLast


def _token_text(text: str, offsets: np.ndarray, i: int) -> str:
    return text[offsets[i, 0] : offsets[i, 1]]


def _check_token(
    text: str, offsets: np.ndarray, i: int, span: tuple[int, int], anchors: Mapping[str, tuple[int, int]], own: str
) -> str | None:
    """Why token i cannot stand for `span`, or None.

    A token may reach outside its span only over whitespace (" Paris" for "Paris", "?\\n" for
    a question ending in "?"), and never into the span of another exact role.
    """
    start, end = int(offsets[i, 0]), int(offsets[i, 1])
    outside = text[start : max(start, span[0])] + text[min(end, span[1]) : end]
    if outside and not outside.isspace():
        return f"token {i} {text[start:end]!r} merges it with {outside!r}"
    for other, (a, b) in anchors.items():
        if other != own and start < b and end > a:
            return f"token {i} {text[start:end]!r} is shared with role span {other!r}"
    return None


def _span_tokens(offsets: np.ndarray, span: tuple[int, int]) -> np.ndarray:
    """Indices of tokens that overlap the character span (zero-width special tokens never do)."""
    starts, ends = offsets[:, 0], offsets[:, 1]
    return np.nonzero((ends > starts) & (starts < span[1]) & (ends > span[0]))[0]


def resolve_row(
    text: str,
    offsets: np.ndarray,
    spans: Mapping[str, tuple[int, int]],
    specs: Mapping[str, RoleSpec],
    last_role: str | None = None,
) -> tuple[dict[str, int | tuple[int, int] | None], dict[str, str]]:
    """Resolve every role of one unpadded row.

    Args:
        text: the rendered prompt.
        offsets: [n_tokens, 2] character offsets of its tokens (special tokens (0, 0)).
        spans: named character spans of the prompt.
        specs: role name → spec.
        last_role: a role that must be the last prompt token (e.g. "confidence_colon").

    Returns:
        (indices, reasons): index (or (start, end) for span roles) per role, None when it did not
        resolve; and role → reason for each role that did not.
    """
    anchors = {s.span: spans[s.span] for s in specs.values() if isinstance(s, Exact) and s.span in spans}
    n = len(offsets)
    found: dict[str, int | tuple[int, int] | None] = {}
    reasons: dict[str, str] = {}

    def fail(role: str, why: str) -> None:
        found[role] = None
        reasons[role] = why

    pending = list(specs.items())
    for role, spec in [p for p in pending if not isinstance(p[1], After)] + [p for p in pending if isinstance(p[1], After)]:
        if isinstance(spec, PromptLast):
            found[role] = n - 1 if n else None
            if not n:
                reasons[role] = "the prompt has no tokens"
            continue
        if isinstance(spec, After):
            base = found.get(spec.role)
            if spec.role not in specs:
                raise RoleError(f"role {role!r} is defined after unknown role {spec.role!r}")
            if base is None:
                fail(role, f"{spec.role} did not resolve")
            elif not 0 <= base + spec.k < n:
                fail(role, f"{spec.role}{spec.k:+d} falls outside the prompt ({n} tokens)")
            elif spec.within is not None and base + spec.k not in _span_tokens(offsets, spans[spec.within]):
                fail(role, f"{spec.role}{spec.k:+d} (token {base + spec.k}) is not inside span {spec.within!r}")
            else:
                found[role] = base + spec.k
            continue
        if spec.span not in spans:
            raise RoleError(f"role {role!r} needs span {spec.span!r}, which the template does not define")
        span = spans[spec.span]
        if span[1] <= span[0]:
            fail(role, f"span {spec.span!r} is empty")
            continue
        tokens = _span_tokens(offsets, span)
        if isinstance(spec, Exact):
            if len(tokens) != 1:
                fail(role, f"{text[span[0]:span[1]]!r} spans {len(tokens)} tokens, not 1")
                continue
            picked = [int(tokens[0])]
        elif isinstance(spec, Nth):
            if not -len(tokens) <= spec.n < len(tokens):
                fail(role, f"span {spec.span!r} has {len(tokens)} tokens, needs token {spec.n}")
                continue
            picked = [int(tokens[spec.n])]
        elif len(tokens):
            picked = [int(tokens[0]), int(tokens[-1])]
        else:
            fail(role, f"no token covers span {spec.span!r}")
            continue
        why = next((w for i in picked if (w := _check_token(text, offsets, i, span, anchors, spec.span))), None)
        if why:
            fail(role, why)
        elif isinstance(spec, Whole):
            found[role] = (picked[0], picked[-1] + 1)
        else:
            found[role] = picked[0]
    if last_role is not None and found.get(last_role) is not None and found[last_role] != n - 1:
        fail(last_role, f"is token {found[last_role]} but the prompt ends at token {n - 1}")
    return found, reasons
