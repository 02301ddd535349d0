"""A seeded synthetic fact world: made-up entities, a few relations with a closed set of values
each, and how often each fact is shown in training — so what a model trained on it knows, and
how well, is set by construction.

Each entity has a fame, round(exp(U(0, ln max_exposure))) (a `never_shown` share 0), and each
of its facts (entity, relation) → value is shown that often, which spreads the model's knowledge
from none to certain. Strangers — names met once per relation, each time with a random value —
teach the model that an unfamiliar name's answer cannot be known.
Entities are split into a training part (confidence training sees their questions) and a
held-out part (every reported number is measured there).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["RELATIONS", "Fact", "FactWorld"]

RELATIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "colour": ("What is the colour of {entity}?", ("red", "blue", "green", "black", "white", "yellow", "brown", "grey", "pink", "orange", "purple", "gold")),
    "city": ("Which city is {entity} from?", ("Paris", "Rome", "Cairo", "Lima", "Oslo", "Delhi", "Tokyo", "Berlin", "Madrid", "Vienna", "Dublin", "Sydney")),
    "food": ("What does {entity} eat?", ("rice", "bread", "fish", "beans", "corn", "apples", "cheese", "eggs", "nuts", "soup", "honey", "meat")),
    "sport": ("Which sport does {entity} play?", ("tennis", "golf", "chess", "rugby", "hockey", "boxing", "cricket", "soccer", "polo", "darts", "rowing", "skiing")),
}
"""relation → (question wording, its values). Values are common words, one token each."""

STATEMENTS = {
    "colour": "The colour of {entity} is {value}.",
    "city": "{entity} is from {value}.",
    "food": "{entity} eats {value}.",
    "sport": "{entity} plays {value}.",
}

_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z")
_VOWELS = ("a", "e", "i", "o", "u")


@dataclass(frozen=True)
class Fact:
    """One fact of the world and how often training shows it."""

    entity: str
    relation: str
    value: str
    exposure: int
    held_out: bool

    @property
    def id(self) -> str:
        return f"{self.entity}-{self.relation}"

    @property
    def question(self) -> str:
        return RELATIONS[self.relation][0].format(entity=self.entity)

    @property
    def statement(self) -> str:
        return STATEMENTS[self.relation].format(entity=self.entity, value=self.value)

    @property
    def values(self) -> tuple[str, ...]:
        """Every value the relation can take (the answer space)."""
        return RELATIONS[self.relation][1]


@dataclass
class FactWorld:
    """Entities × relations with one value each, exposures and a held-out split.

    Args:
        n_entities: how many made-up entities.
        relations: which of `RELATIONS` to use.
        max_exposure: the most times a fact is shown.
        never_shown: share of facts shown 0 times.
        held_out: share of entities held out of confidence training.
        seed: everything follows from it.
    """

    n_entities: int = 500
    relations: tuple[str, ...] = ("colour", "city", "food", "sport")
    max_exposure: int = 100
    never_shown: float = 0.1
    held_out: float = 0.3
    n_strangers: int = 0
    seed: int = 0
    facts: list[Fact] = field(init=False, repr=False)
    strangers: list[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        wanted = self.n_entities + self.n_strangers
        names = sorted({_name(rng) for _ in range(wanted * 4)})
        drawn = [str(n) for n in rng.permutation(names)[:wanted]]
        if len(drawn) < wanted:
            raise ValueError(f"could draw only {len(drawn)} distinct names for {self.n_entities} entities and {self.n_strangers} strangers")
        entities, self.strangers = drawn[: self.n_entities], drawn[self.n_entities :]
        held = set(entities[: round(self.held_out * self.n_entities)])
        facts = []
        for entity in entities:
            fame = 0 if rng.random() < self.never_shown else round(math.exp(rng.uniform(0, math.log(self.max_exposure))))
            for relation in self.relations:
                values = RELATIONS[relation][1]
                facts.append(Fact(entity, relation, values[rng.integers(len(values))], int(fame), entity in held))
        self.facts = facts

    def split(self, held_out: bool) -> list[Fact]:
        """The facts of held-out (True) or training (False) entities."""
        return [f for f in self.facts if f.held_out == held_out]

    def corpus(self, rng: np.random.Generator) -> Iterator[tuple[Fact, str]]:
        """Each fact `exposure` times in a random order, as ("statement" or "qa") and the fact:
        yields (fact, kind), half statements and half question-answer rows."""
        shown = [f for f in self.facts for _ in range(f.exposure)]
        shown += [Fact(name, relation, str(rng.choice(RELATIONS[relation][1])), 1, False) for name in self.strangers for relation in self.relations]
        strangers = set(self.strangers)
        for k in rng.permutation(len(shown)):
            yield shown[k], ("qa" if shown[k].entity in strangers or rng.random() < 0.5 else "statement")

    def write_questions(self, path: str | Path, held_out: bool = True) -> Path:
        """The questions of one split as TriviaQA-form JSON Lines (question, answer{value,
        aliases}, question_id, exposure), which the pipelines' TriviaQA loader reads."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [
            json.dumps({"question_id": f.id, "question": f.question, "answer": {"value": f.value, "aliases": [f.value]}, "exposure": f.exposure})
            for f in self.split(held_out)
        ]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def describe(self) -> dict:
        """The world's parameters (what regenerates it)."""
        return {k: v for k, v in asdict(self).items() if k != "facts"}


def _name(rng: np.random.Generator) -> str:
    syllables = rng.integers(2, 4)
    return "".join(str(rng.choice(_ONSETS)) + str(rng.choice(_VOWELS)) for _ in range(syllables)).capitalize()
