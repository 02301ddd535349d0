"""The fact world: deterministic from its seed, exposures as specified, entities split by entity,
questions written in a form the pipelines' TriviaQA loader reads."""

from __future__ import annotations

import numpy as np

from interp.organisms import RELATIONS, FactWorld
from interp.tasks import load_triviaqa


def test_the_same_seed_gives_the_same_world_and_another_seed_another():
    first, again, other = FactWorld(n_entities=50, seed=1), FactWorld(n_entities=50, seed=1), FactWorld(n_entities=50, seed=2)
    assert first.facts == again.facts and first.strangers == again.strangers
    assert first.facts != other.facts


def test_fame_is_per_entity_and_the_split_is_by_entity():
    world = FactWorld(n_entities=200, n_strangers=20, never_shown=0.2, seed=0)
    by_entity: dict[str, set] = {}
    for fact in world.facts:
        by_entity.setdefault(fact.entity, set()).add((fact.exposure, fact.held_out))
    assert all(len(v) == 1 for v in by_entity.values())
    exposures = np.array([next(iter(v))[0] for v in by_entity.values()])
    assert 0.1 < (exposures == 0).mean() < 0.3 and exposures.max() <= world.max_exposure
    held = sum(next(iter(v))[1] for v in by_entity.values())
    assert held == round(world.held_out * world.n_entities)
    assert not set(world.strangers) & set(by_entity)
    for fact in world.facts:
        assert fact.value in RELATIONS[fact.relation][1]


def test_the_corpus_shows_each_fact_as_often_as_its_exposure():
    world = FactWorld(n_entities=40, n_strangers=5, seed=0)
    counts: dict[str, int] = {}
    strangers = 0
    for fact, kind in world.corpus(np.random.default_rng(0)):
        if fact.entity in world.strangers:
            strangers += 1
            assert kind == "qa"
        else:
            counts[fact.id] = counts.get(fact.id, 0) + 1
    assert strangers == 5 * len(world.relations)
    assert counts == {f.id: f.exposure for f in world.facts if f.exposure}


def test_the_held_out_questions_load_as_trivia_rows(tmp_path):
    world = FactWorld(n_entities=30, seed=0)
    rows = load_triviaqa(world.write_questions(tmp_path / "q.jsonl"))
    held = world.split(held_out=True)
    assert list(rows["id"]) == [f.id for f in held]
    assert list(rows["gold"]) == [f.value for f in held] and list(rows["question"]) == [f.question for f in held]
