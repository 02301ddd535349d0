"""The unit of every experiment: one question, its gold answers, and the model's answer. A
template renders a `Trial`; tasks build them from dataset rows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from interp.errors import DatasetError

__all__ = ["Trial", "as_trial"]


@dataclass(frozen=True)
class Trial:
    """One question with its gold answer(s) and, once generated, the model's answer.

    Attributes:
        id: stable identifier, unique within a run.
        question: the question text as shown to the model.
        answer: the model's answer inserted into readout prompts (None before Phase 0).
        gold: the reference answer.
        aliases: every accepted form of the gold answer.
        metadata: anything else (dataset, split, subject, ...).
    """

    id: str
    question: str
    answer: str | None = None
    gold: str | None = None
    aliases: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)


def as_trial(row: Trial | Mapping[str, Any]) -> Trial:
    """A `Trial` from a Trial or a mapping (e.g. a DataFrame row as a dict)."""
    if isinstance(row, Trial):
        return row
    known = {"id", "question", "answer", "gold", "aliases", "metadata"}
    missing = [k for k in ("id", "question") if k not in row]
    if missing:
        raise DatasetError(f"row {dict(row)!r} lacks {', '.join(missing)}")
    extra = {k: v for k, v in row.items() if k not in known}
    aliases = row.get("aliases") or ()
    return Trial(
        id=str(row["id"]),
        question=str(row["question"]),
        answer=None if row.get("answer") is None else str(row["answer"]),
        gold=None if row.get("gold") is None else str(row["gold"]),
        aliases=tuple(str(a) for a in aliases),
        metadata={**dict(row.get("metadata") or {}), **extra},
    )
