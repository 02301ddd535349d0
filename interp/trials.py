"""The unit of every experiment: one question, its gold answers, and the model's answer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Trial", "as_trial", "assign_sets", "demo_trials"]


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
        raise ValueError(f"row {dict(row)!r} lacks {', '.join(missing)}")
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


_DEMO = (
    ("Which planet is known as the Red Planet?", "Mars", "Mars", ("Mars",)),
    ("What is the chemical symbol for gold?", "Au", "Au", ("Au",)),
    ("Who painted the ceiling of the Sistine Chapel?", "Raphael", "Michelangelo", ("Michelangelo", "Michelangelo Buonarroti")),
    ("How many sides does a hexagon have?", "6", "6", ("6", "Six")),
    ("What is the capital city of Australia?", "Sydney", "Canberra", ("Canberra",)),
    ("In which city is the US Capitol building?", "Washington, D.C.", "Washington, D.C.", ("Washington, D.C.", "Washington")),
    ("Which element has the atomic number 1?", "Hydrogen", "Hydrogen", ("Hydrogen", "H")),
    ("Who wrote the novel Moby-Dick?", "Herman Melville", "Herman Melville", ("Herman Melville", "Melville")),
    ("What is the largest ocean on Earth?", "The Atlantic Ocean", "Pacific Ocean", ("Pacific", "Pacific Ocean")),
    ("In which year did the Berlin Wall fall?", "1989", "1989", ("1989",)),
    ("What is the smallest prime number?", "2", "2", ("2", "Two")),
    ("Which composer wrote the Four Seasons?", "Antonio Vivaldi", "Antonio Vivaldi", ("Vivaldi", "Antonio Vivaldi")),
)


def demo_trials() -> list[Trial]:
    """Twelve hand-written trivia trials (our own text) with a model-style answer each.

    Three answers are wrong and one ends in punctuation, so a demo run shows both correct and
    incorrect trials and a role-resolution status on tokenizers that merge ".\\n".
    """
    return [
        Trial(id=f"demo-{i:02d}", question=q, answer=a, gold=g, aliases=aliases, metadata={"dataset": "demo"})
        for i, (q, a, g, aliases) in enumerate(_DEMO)
    ]


def assign_sets(ids: Sequence[str], sizes: Mapping[str, int], seed: int = 0) -> dict[str, str]:
    """Disjoint, seeded trial sets: a seeded permutation of `ids` cut into consecutive blocks of
    `sizes` (in the mapping's order); the remaining ids get the set "unused".

    Returns:
        trial id → set name, for every id.

    Raises:
        ValueError: if the sizes add up to more than there are ids (naming each size), if a size
            is negative, or if an id repeats.
    """
    import numpy as np

    ids = [str(i) for i in ids]
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        repeated = [i for i in ids if i in seen or seen.add(i)]
        raise ValueError(f"trial ids repeat: {repeated[:5]}")
    bad = {name: n for name, n in sizes.items() if int(n) < 0}
    if bad:
        raise ValueError(f"set sizes must be ≥ 0: {bad}")
    wanted = sum(int(n) for n in sizes.values())
    if wanted > len(ids):
        listed = ", ".join(f"{name}={n}" for name, n in sizes.items())
        raise ValueError(f"the sets ask for {wanted} trials ({listed}) but only {len(ids)} are available")
    order = np.random.default_rng(seed).permutation(len(ids))
    assigned = {i: "unused" for i in ids}
    start = 0
    for name, n in sizes.items():
        for k in order[start : start + int(n)]:
            assigned[ids[k]] = name
        start += int(n)
    return assigned
