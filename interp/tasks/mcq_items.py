"""Typed 4-option MCQ items (abstention.md §6.1 and §8 "Foil generation"): the gold answer plus a
*similar*, a *dissimilar* and an *unrelated* foil, in a per-item seeded option order.

`build_typed_mcq` makes them from TriviaQA-style rows, every foil being the gold answer of
another item (the pool):

    similar     the valid same-type pool answer nearest to the gold (largest cosine between
                the encoder's embeddings of the two *answers*; ties go to the lowest item id)
    dissimilar  a same-type pool answer beyond the median distance: drawn uniformly among the
                valid ones whose cosine to the gold is strictly below the median cosine of all
                same-type pool answers (the gold's own text aside)
    unrelated   a valid pool answer of another type, drawn uniformly (never one whose text is
                also a same-type answer)

Answer types are `interp.tasks.foils.answer_type` of each gold with its own question as cue; a
pool answer keeps the type of the item it came from. The pool holds each normalised answer once
per type (its first item in id order). A candidate is valid for an item when its normalised text
is non-empty, `grade_triviaqa(candidate, aliases).correct is False` for the item's aliases (so
it is no alias and contains none), it is no whole-word part of an alias either ("Paris" is no
foil for "Paris, France") [ours], and it differs after `normalize_answer` from the other foils.

Seeding: each item has three numpy generators spawned from `SeedSequence([seed,
stable_hash(id)])`, in order (option order, dissimilar draw, unrelated draw). The options are
[gold, similar, dissimilar, unrelated] permuted by the first generator, so the order depends only
on (seed, id), the same for `load_typed_mcq`. Pools are built in id order and answers are
embedded as a sorted set of unique texts, so nothing depends on the order of the input rows.

Rows are never dropped: an input row whose status is not "ok" keeps it, and an item lacking a
foil gets a status naming the missing kind (its options stay None, the foils found are kept).

`load_typed_mcq` reads a released set (JSON Lines rows {id?, question, answer, aliases?, foils:
{"similar", "dissimilar", "unrelated"} or [3 foils], difficulty?, rag?}) into the same columns.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from interp.errors import ConfigError, DatasetError
from interp.tasks.datasets import _load, _mcq_row, _text
from interp.tasks.embeddings import Encoder, unit_rows
from interp.tasks.answer_types import answer_type
from interp.tasks.foils import _aliases, _missing, stable_hash
from interp.tasks.grading import grade_triviaqa, normalize_answer

__all__ = [
    "COSINE_COLUMNS",
    "FOIL_KIND_NAMES",
    "OPTION_KINDS",
    "STATUS_NO_DISSIMILAR",
    "STATUS_NO_GOLD",
    "STATUS_NO_SIMILAR",
    "STATUS_NO_UNRELATED",
    "TYPED_MCQ_COLUMNS",
    "build_typed_mcq",
    "item_generators",
    "load_typed_mcq",
    "seeded_options",
]

OPTION_KINDS: tuple[str, ...] = ("gold", "similar", "dissimilar", "unrelated")
"""The kinds of a built item's options before shuffling."""
FOIL_KIND_NAMES: tuple[str, ...] = ("similar", "dissimilar", "unrelated")
LIST_FOIL_KINDS: tuple[str, ...] = ("foil_1", "foil_2", "foil_3")
"""Kinds of foils given as a list (of unknown kind) in a released file."""

TYPED_MCQ_COLUMNS: tuple[str, ...] = (
    "id",
    "dataset",
    "question",
    "gold",
    "aliases",
    "options",
    "correct_option",
    "option_kinds",
    "similar_foil",
    "dissimilar_foil",
    "unrelated_foil",
    "answer_type",
    "seed",
    "encoder",
    "source",
    "label",
    "status",
)
"""Columns of both frames, in order. `label` ("typed_foils_from_other_items" or "file") keeps the
frame usable by `interp.tasks.datasets.to_trials`."""
COSINE_COLUMNS: tuple[str, ...] = ("similar_cosine", "dissimilar_cosine", "unrelated_cosine", "median_cosine")
"""Extra columns of `build_typed_mcq`: each foil's cosine to the gold and the median cosine of
the valid same-type candidates."""

STATUS_NO_GOLD = "no gold answer"
STATUS_NO_SIMILAR = "no same-type answer for a similar foil"
STATUS_NO_DISSIMILAR = "no same-type answer beyond the median distance for a dissimilar foil"
STATUS_NO_UNRELATED = "no answer of another type for an unrelated foil"


def _check_seed(seed: object) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def item_generators(seed: int, item_id: object) -> tuple[np.random.Generator, np.random.Generator, np.random.Generator]:
    """An item's (option order, dissimilar draw, unrelated draw) generators, spawned from
    `SeedSequence([seed, stable_hash(item_id)])`."""
    children = np.random.SeedSequence([int(seed), stable_hash(item_id)]).spawn(3)
    return tuple(np.random.default_rng(child) for child in children)  # type: ignore[return-value]


def seeded_options(seed: int, item_id: object, options: Sequence[str], kinds: Sequence[str]) -> tuple[list[str], list[str], int]:
    """(options, kinds, correct option 1-based) after the item's seeded permutation; `options[0]`
    must be the gold answer (kind "gold")."""
    order = item_generators(seed, item_id)[0].permutation(len(options))
    shuffled = [str(options[i]) for i in order]
    shuffled_kinds = [str(kinds[i]) for i in order]
    return shuffled, shuffled_kinds, shuffled_kinds.index("gold") + 1


def _valid(candidate: str, aliases: Sequence[str]) -> bool:
    """A wrong, non-empty answer for an item with these aliases: it grades not correct and is
    no whole-word part of an alias ("Madagascar" for "Republic of Madagascar")."""
    said = normalize_answer(candidate)
    if not said or grade_triviaqa(candidate, aliases).correct is not False:
        return False
    padded = f" {said} "
    return not any(padded in f" {normalize_answer(alias)} " for alias in aliases)


def _empty(record: dict, seed: int, encoder_name: str | None, label: str) -> dict:
    out = {name: None for name in TYPED_MCQ_COLUMNS}
    out.update(dataset="mcq", seed=seed, encoder=encoder_name, label=label)
    out.update(record)
    return out


def build_typed_mcq(rows: pd.DataFrame, encoder: Encoder, seed: int = 0) -> pd.DataFrame:
    """Typed 4-option items from TriviaQA-style rows (see the module docstring).

    Args:
        rows: columns `id`, `question`, `gold`, `aliases`; optional `status` (rows not "ok" keep
            it and stay out of the pool) and `source`.
        encoder: anything with `.encode(texts) -> [n, d]` and `.name` (see
            `interp.tasks.embeddings.load_encoder`); it embeds the gold answers.
        seed: a non-negative integer (see `item_generators`).

    Returns:
        One row per input row, in input order: `TYPED_MCQ_COLUMNS` then `COSINE_COLUMNS`.
        `options` (list of 4 str) and `option_kinds` (aligned, from `OPTION_KINDS`) are None
        unless status is "ok"; `correct_option` is 1-based (Int64).

    Raises:
        DatasetError: a required column is missing, or an id occurs twice.
        ConfigError: a bad seed.
    """
    seed = _check_seed(seed)
    for column in ("id", "question", "gold", "aliases"):
        if column not in rows.columns:
            raise DatasetError(f"build_typed_mcq needs a {column!r} column; columns: {list(rows.columns)}")
    ids = rows["id"]
    if ids.duplicated().any():
        first = ids[ids.duplicated()].iloc[0]
        where = [int(i) for i in np.flatnonzero((ids == first).to_numpy())[:2]]
        raise DatasetError(f"id {first!r} occurs twice (rows {where[0]} and {where[1]})")
    encoder_name = str(getattr(encoder, "name", type(encoder).__name__))
    statuses = rows["status"].tolist() if "status" in rows.columns else [None] * len(rows)
    sources = rows["source"].tolist() if "source" in rows.columns else [None] * len(rows)

    items = []
    for item_id, question, gold, aliases, status, source in zip(ids.tolist(), rows["question"].tolist(), rows["gold"].tolist(), rows["aliases"].tolist(), statuses, sources):
        question = "" if _missing(question) else str(question)
        gold = "" if _missing(gold) else str(gold).strip()
        alias_list = _aliases(aliases, gold)
        problem = None
        if status is not None and not _missing(status) and str(status) != "ok":
            problem = str(status)
        elif not gold or not normalize_answer(gold):
            problem = STATUS_NO_GOLD
        items.append(
            {
                "id": item_id,
                "question": question,
                "gold": gold or None,
                "aliases": tuple(alias_list),
                "source": None if _missing(source) else source,
                "answer_type": answer_type(gold, question) if gold else None,
                "status": problem,
            }
        )

    usable = sorted((item for item in items if item["status"] is None), key=lambda item: (str(item["id"]), type(item["id"]).__name__))
    pool = _Pool(usable, encoder)
    results = {id(item): _build_item(item, seed, encoder_name, pool) for item in usable}

    records = []
    for item in items:
        if item["status"] is not None:
            records.append(_empty(item, seed, encoder_name, "typed_foils_from_other_items"))
        else:
            records.append(results[id(item)])
    frame = pd.DataFrame(records, columns=[*TYPED_MCQ_COLUMNS, *COSINE_COLUMNS], dtype=object)
    frame["correct_option"] = frame["correct_option"].astype("Int64")
    frame["seed"] = frame["seed"].astype("int64")
    for column in COSINE_COLUMNS:
        frame[column] = frame[column].astype("float64")
    return frame


class _Pool:
    """The answers foils are drawn from: each normalised gold once per type (first item in id
    order), their unit embeddings, and per type the indices of same-type and other-type answers
    (an other-type answer whose text is also a same-type answer is left out)."""

    def __init__(self, usable: Sequence[dict], encoder: Encoder) -> None:
        self.text: list[str] = []
        norms: list[str] = []
        types: list[str] = []
        seen: set[tuple[str, str]] = set()
        for item in usable:
            key = (item["answer_type"], normalize_answer(item["gold"]))
            if key not in seen:
                seen.add(key)
                self.text.append(item["gold"])
                norms.append(key[1])
                types.append(key[0])
        # Embed a sorted set of unique texts: the same call whatever the order of the rows.
        unique = sorted(set(self.text) | {item["gold"] for item in usable})
        vectors = unit_rows(np.asarray(encoder.encode(unique), dtype=np.float64)) if unique else np.zeros((0, 1))
        if len(vectors) != len(unique):
            raise ConfigError(f"the encoder returned {len(vectors)} vectors for {len(unique)} texts")
        self.row_of = {text: i for i, text in enumerate(unique)}
        self.vectors = vectors
        self.pool_vectors = vectors[[self.row_of[t] for t in self.text]] if self.text else np.zeros((0, vectors.shape[1]))
        self.norm = np.asarray(norms, dtype=object)
        kinds = np.asarray(types, dtype=object)
        self.same: dict[str, np.ndarray] = {}
        self.other: dict[str, np.ndarray] = {}
        for kind in set(types):
            mask = kinds == kind
            self.same[kind] = np.flatnonzero(mask)
            self.other[kind] = np.flatnonzero(~mask & ~np.isin(self.norm, self.norm[mask]))

    def vector(self, text: str) -> np.ndarray:
        return self.vectors[self.row_of[text]]


def _first_valid(candidates: Sequence[int] | np.ndarray, pool: _Pool, aliases: Sequence[str], taken: set[str]) -> int | None:
    """The first candidate (pool index) in the given order that is a valid foil not in `taken`."""
    for candidate in candidates:
        candidate = int(candidate)
        if pool.norm[candidate] not in taken and _valid(pool.text[candidate], aliases):
            return candidate
    return None


def _build_item(item: dict, seed: int, encoder_name: str, pool: _Pool) -> dict:
    """One usable item's foils, options and status."""
    aliases, kind = item["aliases"], item["answer_type"]
    own = normalize_answer(item["gold"])
    out = _empty({k: item[k] for k in ("id", "question", "gold", "aliases", "source", "answer_type")}, seed, encoder_name, "typed_foils_from_other_items")
    for column in COSINE_COLUMNS:
        out[column] = math.nan
    _, dissimilar_rng, unrelated_rng = item_generators(seed, item["id"])
    vector = pool.vector(item["gold"])

    same = pool.same[kind]
    same = same[pool.norm[same] != own]
    cosines = pool.pool_vectors[same] @ vector
    # nearest first; equal cosines in pool (id) order
    similar = _first_valid(same[np.argsort(-cosines, kind="stable")], pool, aliases, {own})
    if similar is None:
        out["status"] = STATUS_NO_SIMILAR
        return out
    median = float(np.median(cosines))
    out.update(similar_foil=pool.text[similar], similar_cosine=float(pool.pool_vectors[similar] @ vector), median_cosine=median)
    beyond = same[cosines < median]
    dissimilar = _first_valid(beyond[dissimilar_rng.permutation(len(beyond))], pool, aliases, {own, pool.norm[similar]})
    if dissimilar is None:
        out["status"] = STATUS_NO_DISSIMILAR
        return out
    out.update(dissimilar_foil=pool.text[dissimilar], dissimilar_cosine=float(pool.pool_vectors[dissimilar] @ vector))

    others = pool.other[kind]
    unrelated = _first_valid(others[unrelated_rng.permutation(len(others))], pool, aliases, {own, pool.norm[similar], pool.norm[dissimilar]})
    if unrelated is None:
        out["status"] = STATUS_NO_UNRELATED
        return out
    out.update(unrelated_foil=pool.text[unrelated], unrelated_cosine=float(pool.pool_vectors[unrelated] @ vector))

    options, kinds, correct = seeded_options(seed, item["id"], [item["gold"], pool.text[similar], pool.text[dissimilar], pool.text[unrelated]], OPTION_KINDS)
    out.update(options=options, option_kinds=kinds, correct_option=correct, status="ok")
    return out


# --------------------------------------------------------------------------------------------
# Released sets
# --------------------------------------------------------------------------------------------


def _answer_like(value: object) -> bool:
    """A non-empty answer text (a string or a plain number)."""
    return not isinstance(value, bool) and isinstance(value, (str, int, float)) and not _missing(value)


def _number(record: dict, key: str, where: str) -> float | None:
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(str(value).strip())
        except ValueError:
            raise DatasetError(f"{where}: {key!r} must be a number, got {value!r}") from None
    return float(value)


def load_typed_mcq(path: str | os.PathLike, seed: int = 0, on_error: str = "status") -> pd.DataFrame:
    """A released typed MCQ set: JSON Lines (or a JSON list / parquet) of rows {id?, question,
    answer, aliases?, foils, difficulty?, rag?}, where `foils` is {"similar", "dissimilar",
    "unrelated"} (kinds kept in `option_kinds` and the *_foil columns) or a list of 3 (kinds
    "foil_1".."foil_3", *_foil columns None). Options are shuffled by the `seeded_options` rule of
    `build_typed_mcq`. Ids: the row's id, else "mcq-<line>".

    Returns:
        `TYPED_MCQ_COLUMNS` (encoder None, label "file", answer_type from the answer and
        question), plus `difficulty` and `rag` (float, NaN where a row lacks them) when any row
        has them.

    Raises:
        DatasetError: with on_error="raise", the first malformed row (naming file and line);
            always, a missing file or a repeated id.
    """
    seed = _check_seed(seed)
    if path is None:
        raise ConfigError("load_typed_mcq needs a path")
    extras: dict[str, dict] = {}
    optional: set[str] = set()

    def parse(record: dict, where: str, number: int) -> dict:
        question, answer = _text(record, "question", where), _text(record, "answer", where)
        foils = record.get("foils")
        if isinstance(foils, dict):
            missing = [k for k in FOIL_KIND_NAMES if not _answer_like(foils.get(k))]
            if missing:
                raise DatasetError(f"{where}: 'foils' lacks {', '.join(missing)} (keys: {sorted(foils)})")
            kinds, texts = FOIL_KIND_NAMES, [str(foils[k]).strip() for k in FOIL_KIND_NAMES]
        elif isinstance(foils, (list, tuple)) and len(foils) == 3 and all(_answer_like(f) for f in foils):
            kinds, texts = LIST_FOIL_KINDS, [str(f).strip() for f in foils]
        else:
            raise DatasetError(f"{where}: 'foils' must be {{'similar', 'dissimilar', 'unrelated'}} or a list of three non-empty answers")
        normalised = [normalize_answer(t) for t in [answer, *texts]]
        if not all(normalised):
            raise DatasetError(f"{where}: an option is only punctuation or articles")
        if len(set(normalised)) < 4:
            raise DatasetError(f"{where}: the answer and foils are not distinct after normalisation: {[answer, *texts]}")
        identifier = str(record.get("id") or f"mcq-{number:06d}")
        options, option_kinds, correct = seeded_options(seed, identifier, [answer, *texts], ("gold", *kinds))
        extra = {
            "aliases": tuple(_aliases(record.get("aliases"), answer)),
            "option_kinds": option_kinds,
            "answer_type": answer_type(answer, question),
            **{f"{k}_foil": (texts[i] if kinds is FOIL_KIND_NAMES else None) for i, k in enumerate(FOIL_KIND_NAMES)},
        }
        for key in ("difficulty", "rag"):
            if key in record:
                optional.add(key)
                extra[key] = _number(record, key, where)
        row = _mcq_row("mcq", identifier, question, options, correct, where, label="file")
        extras[identifier] = extra
        return row

    frame = _load("mcq", path, parse, on_error, None, None, None)
    records = []
    for row in frame.to_dict("records"):
        extra = extras.get(row["id"]) if row["status"] == "ok" else None
        out = {name: None for name in TYPED_MCQ_COLUMNS}
        out.update({k: row.get(k) for k in ("id", "dataset", "question", "gold", "aliases", "correct_option", "source", "label", "status")})
        out.update(seed=seed, encoder=None, label=row.get("label") or "file")
        if extra is not None:
            out["options"] = list(row["options"])
            out.update(extra)
        for key in optional:
            out.setdefault(key, None)
        records.append(out)
    columns = [*TYPED_MCQ_COLUMNS, *sorted(optional)]
    out_frame = pd.DataFrame(records, columns=columns, dtype=object)
    out_frame["correct_option"] = out_frame["correct_option"].astype("Int64")
    out_frame["seed"] = out_frame["seed"].astype("int64")
    for key in optional:
        out_frame[key] = pd.to_numeric(out_frame[key]).astype("float64")
    return out_frame
