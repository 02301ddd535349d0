"""Disjoint, seeded trial sets (behaviour / activation / calibration, ...)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from interp.errors import ConfigError

__all__ = ["assign_sets"]


def assign_sets(ids: Sequence[str], sizes: Mapping[str, int], seed: int = 0) -> dict[str, str]:
    """Disjoint, seeded trial sets: a seeded permutation of `ids` cut into consecutive blocks of
    `sizes` (in the mapping's order); the remaining ids get the set "unused".

    Returns:
        trial id → set name, for every id.

    Raises:
        ConfigError: if the sizes add up to more than there are ids (naming each size), if a size
            is negative, or if an id repeats.
    """
    ids = [str(i) for i in ids]
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        repeated = [i for i in ids if i in seen or seen.add(i)]
        raise ConfigError(f"trial ids repeat: {repeated[:5]}")
    bad = {name: n for name, n in sizes.items() if int(n) < 0}
    if bad:
        raise ConfigError(f"set sizes must be ≥ 0: {bad}")
    wanted = sum(int(n) for n in sizes.values())
    if wanted > len(ids):
        listed = ", ".join(f"{name}={n}" for name, n in sizes.items())
        raise ConfigError(f"the sets ask for {wanted} trials ({listed}) but only {len(ids)} are available")
    order = np.random.default_rng(seed).permutation(len(ids))
    assigned = {i: "unused" for i in ids}
    start = 0
    for name, n in sizes.items():
        for k in order[start : start + int(n)]:
            assigned[ids[k]] = name
        start += int(n)
    return assigned
