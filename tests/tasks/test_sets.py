"""Disjoint seeded trial sets."""

from __future__ import annotations

import pytest

from interp.errors import ConfigError
from interp.tasks import assign_sets


def test_sets_are_disjoint_sized_seeded_and_cover_every_id():
    ids = [f"t{k}" for k in range(50)]
    sets = assign_sets(ids, {"behaviour": 20, "activation": 15, "calibration": 5}, seed=3)
    assert set(sets) == set(ids)
    counts = {name: sum(v == name for v in sets.values()) for name in ("behaviour", "activation", "calibration", "unused")}
    assert counts == {"behaviour": 20, "activation": 15, "calibration": 5, "unused": 10}
    assert sets == assign_sets(ids, {"behaviour": 20, "activation": 15, "calibration": 5}, seed=3)
    other = assign_sets(ids, {"behaviour": 20, "activation": 15, "calibration": 5}, seed=4)
    assert other != sets
    # Adding a set at the end does not move the earlier ones.
    grown = assign_sets(ids, {"behaviour": 20, "activation": 15, "calibration": 5, "extra": 5}, seed=3)
    assert all(grown[i] == sets[i] for i in ids if sets[i] != "unused")


def test_sets_refuse_too_many_negative_and_repeated():
    with pytest.raises(ConfigError, match="behaviour=8, activation=5.*only 10"):
        assign_sets([str(k) for k in range(10)], {"behaviour": 8, "activation": 5})
    with pytest.raises(ConfigError, match="≥ 0"):
        assign_sets(["a", "b"], {"behaviour": -1})
    with pytest.raises(ConfigError, match="repeat: \\['a'\\]"):
        assign_sets(["a", "b", "a"], {"behaviour": 1})
