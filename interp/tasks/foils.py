"""Wrong answers of graded plausibility ("foils") for TriviaQA questions, and the rule-based answer
type tagger they are matched on (error_detection.md §6.5 and §8, abstention.md §6.1 and §8).

For each question `build_foils` gives three foils:

    hard       a wrong answer the model itself sampled at T = 1 (the first valid one), else the
               gold answer of the most related other question of the same answer type (cosine of
               TF-IDF vectors of the questions, ties broken by trial id)
    easy       the gold answer of a random other question of the same answer type
    unrelated  the gold answer of a random other question of a different answer type

A foil is only ever a wrong answer for its question: its normalised text is non-empty, is no
normalised gold alias, and `grade_triviaqa(foil, aliases)` grades it not correct. Random draws are
seeded from (seed, sha256 of the trial id), so they depend neither on the order of the rows nor on
PYTHONHASHSEED. Every input row gets one row per kind; where no foil exists the row says why.

The answer types come from `interp.tasks.answer_types.answer_type`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from interp.errors import ConfigError, DatasetError
from interp.tasks.answer_types import ANSWER_TYPES, answer_type
from interp.tasks.grading import grade_triviaqa, normalize_answer

__all__ = [
    "ANSWER_TYPES",
    "FOIL_COLUMNS",
    "FOIL_KINDS",
    "answer_type",
    "build_foils",
    "stable_hash",
]

FOIL_KINDS: tuple[str, ...] = ("hard", "easy", "unrelated")
"""The foil kinds of `build_foils`, from most to least plausible."""

FOIL_COLUMNS: tuple[str, ...] = ("trial_id", "kind", "foil", "foil_source_id", "source", "question_type", "foil_type", "seed", "status")
"""The columns of the frame `build_foils` returns, in order."""

# --------------------------------------------------------------------------------------------
# Foils
# --------------------------------------------------------------------------------------------


def stable_hash(value: object) -> int:
    """A 63-bit hash of `str(value)` (sha256), the same in every process."""
    return int.from_bytes(hashlib.sha256(str(value).encode("utf-8")).digest()[:8], "big") >> 1


def _missing(value: object) -> bool:
    """None, NaN, pd.NA or blank text (a list or array is never missing here)."""
    if value is None or isinstance(value, (list, tuple, np.ndarray)):
        return value is None
    try:
        if pd.isna(value):
            return True
    except (TypeError, ValueError):
        return False
    return not str(value).strip()


def _aliases(value: object, gold: str) -> list[str]:
    """The aliases as a list of str (tuple, list, array or one string), the gold appended."""
    if isinstance(value, str):
        items = [value]
    elif _missing(value):
        items = []
    else:
        items = [str(a) for a in list(value) if not _missing(a)]
    return items + [gold] if gold and gold not in items else items


class _Row:
    """One trial's gold answers, normalised once."""

    __slots__ = ("aliases", "banned", "gold", "id", "problem", "question", "type", "usable")

    def __init__(self, trial_id: object, question: object, gold: object, aliases: object, status: object) -> None:
        self.id = trial_id
        self.question = "" if _missing(question) else str(question)
        self.gold = "" if _missing(gold) else str(gold).strip()
        self.aliases = _aliases(aliases, self.gold)
        self.banned = {normalize_answer(a) for a in self.aliases} - {""}
        self.problem = None
        if status is not None and not _missing(status) and str(status) != "ok":
            self.problem = f"input row not usable: {status}"
        elif not self.gold or not self.banned:
            self.problem = "no gold answer"
        self.usable = self.problem is None
        self.type = answer_type(self.gold, self.question) if self.gold else None

    def accepts(self, foil: str | None, normalised: str | None = None) -> bool:
        """Whether `foil` is a wrong answer for this trial (the `grade_triviaqa` rule, then the grader)."""
        if foil is None or _missing(foil):
            return False
        said = normalize_answer(foil) if normalised is None else normalised
        if not said or said in self.banned:
            return False
        if len(said.split()) <= 10:
            padded = f" {said} "
            if any(f" {gold} " in padded for gold in self.banned):
                return False
        return grade_triviaqa(foil, self.aliases).correct is False


def _draw(row: _Row, pool: Sequence[int], rows: Sequence[_Row], norms: Sequence[str], rng: np.random.Generator, avoid: set[str]) -> int | None:
    """A uniformly drawn index of `pool` whose gold is a valid foil for `row`, preferring golds
    not in `avoid` (normalised); None if no candidate is valid."""
    fallback = None
    for position in rng.permutation(len(pool)):
        candidate = pool[position]
        if rows[candidate] is row or not row.accepts(rows[candidate].gold, norms[candidate]):
            continue
        if norms[candidate] not in avoid:
            return candidate
        if fallback is None:
            fallback = candidate
    return fallback


def _result(row: _Row, kind: str, seed: int, foil: str | None = None, source_id: object = None, source: str | None = None, foil_type: str | None = None, status: str = "ok") -> dict:
    return {
        "trial_id": row.id,
        "kind": kind,
        "foil": foil if status == "ok" else None,
        "foil_source_id": source_id if status == "ok" else None,
        "source": source if status == "ok" else None,
        "question_type": row.type,
        "foil_type": foil_type if status == "ok" else None,
        "seed": seed,
        "status": status,
    }


def build_foils(rows: pd.DataFrame, seed: int = 0, samples: Mapping[object, Sequence[str]] | None = None) -> pd.DataFrame:
    """Hard, easy and unrelated foils for every row of a TriviaQA frame (see the module docstring).

    Args:
        rows: columns `trial_id` (or `id`), `question`, `gold`, `aliases`; a `status` column, if
            present, keeps rows whose status is not "ok" out of the pools (their foil rows say so).
        seed: a non-negative integer; the draws of a trial use numpy generators seeded from
            (seed, `stable_hash(trial_id)`), one spawned stream per kind.
        samples: {trial_id: the model's T = 1 answers}; hard takes the first that is a valid foil.

    Returns:
        One row per input row and kind, in input order and `FOIL_KINDS` order, columns
        `FOIL_COLUMNS`: `foil_source_id` is the trial whose gold was used (None for a model
        sample); `source` is "model sample", "related question", "random question" or "other
        type"; `question_type` is the type of the row's gold; `foil_type` the type of the foil
        (a pool foil keeps the type of its source trial); `status` "ok" or why there is no foil.

    Raises:
        DatasetError: a required column is missing, or a trial id occurs twice.
    """
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    id_column = "trial_id" if "trial_id" in rows.columns else "id" if "id" in rows.columns else None
    if id_column is None:
        raise DatasetError(f"build_foils needs a 'trial_id' (or 'id') column; columns: {list(rows.columns)}")
    for column in ("question", "gold", "aliases"):
        if column not in rows.columns:
            raise DatasetError(f"build_foils needs a {column!r} column; columns: {list(rows.columns)}")
    ids = rows[id_column]
    duplicated = ids[ids.duplicated()]
    if len(duplicated):
        first = duplicated.iloc[0]
        where = [int(i) for i in np.flatnonzero((ids == first).to_numpy())[:2]]
        raise DatasetError(f"trial id {first!r} occurs twice (rows {where[0]} and {where[1]})")

    statuses = rows["status"].tolist() if "status" in rows.columns else [None] * len(rows)
    given = [_Row(t, q, g, a, s) for t, q, g, a, s in zip(ids.tolist(), rows["question"].tolist(), rows["gold"].tolist(), rows["aliases"].tolist(), statuses)]
    # Work in trial-id order so nothing depends on the order of the input rows.
    ordered = sorted(given, key=lambda r: (str(r.id), type(r.id).__name__))
    usable = [r for r in ordered if r.usable]
    norms = [normalize_answer(r.gold) for r in usable]
    by_type: dict[str, list[int]] = {}
    for index, row in enumerate(usable):
        by_type.setdefault(row.type, []).append(index)

    others = {t: sorted(i for u, members in by_type.items() if u != t for i in members) for t in by_type}
    sampled = {index: next((str(s) for s in _samples_for(samples, row.id) if row.accepts(s)), None) for index, row in enumerate(usable)}
    related = _related_foils(usable, norms, by_type, [i for i, s in sampled.items() if s is None])

    results: dict[int, list[dict]] = {}
    position_of = {id(r): i for i, r in enumerate(usable)}
    for row in ordered:
        if not row.usable:
            results[id(row)] = [_result(row, kind, seed, status=row.problem) for kind in FOIL_KINDS]
            continue
        index = position_of[id(row)]
        streams = [np.random.default_rng(s) for s in np.random.SeedSequence([seed, stable_hash(row.id)]).spawn(len(FOIL_KINDS))]
        out = []
        hard_text = sampled[index]
        if hard_text is not None:
            out.append(_result(row, "hard", seed, hard_text, None, "model sample", answer_type(hard_text, row.question)))
        elif related.get(index) is not None:
            source = usable[related[index]]
            hard_text = source.gold
            out.append(_result(row, "hard", seed, hard_text, source.id, "related question", source.type))
        else:
            out.append(_result(row, "hard", seed, status="no wrong sample and no same-type pool"))
        avoid = {normalize_answer(hard_text)} if hard_text else set()
        candidate = _draw(row, by_type[row.type], usable, norms, streams[1], avoid)
        if candidate is None:
            out.append(_result(row, "easy", seed, status="no same-type pool"))
        else:
            out.append(_result(row, "easy", seed, usable[candidate].gold, usable[candidate].id, "random question", usable[candidate].type))
            avoid.add(norms[candidate])
        candidate = _draw(row, others[row.type], usable, norms, streams[2], avoid)
        if candidate is None:
            out.append(_result(row, "unrelated", seed, status="no answer of another type"))
        else:
            out.append(_result(row, "unrelated", seed, usable[candidate].gold, usable[candidate].id, "other type", usable[candidate].type))
        results[id(row)] = out
    # object columns, so a missing foil is None (pandas' string dtype would turn it into NaN)
    frame = pd.DataFrame([record for row in given for record in results[id(row)]], columns=list(FOIL_COLUMNS), dtype=object)
    return frame.astype({"seed": "int64"})


def _samples_for(samples: Mapping[object, Sequence[str]] | None, trial_id: object) -> list[str]:
    if not samples:
        return []
    found = samples.get(trial_id)
    if found is None:
        found = samples.get(str(trial_id))
    if found is None or isinstance(found, str):
        return [found] if isinstance(found, str) else []
    return [s for s in list(found) if isinstance(s, str)]


def _related_foils(usable: Sequence[_Row], norms: Sequence[str], by_type: Mapping[str, Sequence[int]], wanted: Sequence[int], chunk: int = 512) -> dict[int, int | None]:
    """For each index in `wanted`, the index of the most related other question of the same type
    whose gold is a valid foil (TF-IDF cosine of the questions, English stop words; ties in
    trial-id order), or None. Similarities are computed per type block, `chunk` rows at a time."""
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not wanted:
        return {}
    try:
        matrix = TfidfVectorizer(stop_words="english").fit_transform([r.question for r in usable]).tocsr()
    except ValueError:  # every question is empty or stop words only: no relatedness, trial-id order
        matrix = sparse.csr_matrix((len(usable), 1))
    wanted_set = set(wanted)
    found: dict[int, int | None] = {}
    for members in by_type.values():
        members = np.asarray(members)
        queries = np.asarray([m for m in members if m in wanted_set])
        if not len(queries):
            continue
        block = matrix[members]
        for start in range(0, len(queries), chunk):
            part = queries[start : start + chunk]
            sims = (matrix[part] @ block.T).toarray()
            for offset, query in enumerate(part):
                order = members[np.argsort(-sims[offset], kind="stable")]
                row = usable[query]
                found[int(query)] = next((int(c) for c in order if c != query and row.accepts(usable[c].gold, norms[c])), None)
    return found
