"""Typed 4-option MCQ items: similar / dissimilar / unrelated foils from other items' gold answers
(real TriviaQA sample, real all-MiniLM-L6-v2), seeded option order, and the released-set loader."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
from conftest import TRIVIAQA, need

from interp.errors import DatasetError
from interp.tasks.datasets import load_triviaqa, to_trials
from interp.tasks.embeddings import MINILM_NAME, MiniLMEncoder, TfidfSvdEncoder, unit_rows
from interp.tasks.foils import answer_type
from interp.tasks.grading import grade_triviaqa, normalize_answer
from interp.tasks.mcq_items import (
    COSINE_COLUMNS,
    OPTION_KINDS,
    STATUS_NO_DISSIMILAR,
    STATUS_NO_SIMILAR,
    STATUS_NO_UNRELATED,
    TYPED_MCQ_COLUMNS,
    build_typed_mcq,
    load_typed_mcq,
    seeded_options,
)

N_ROWS = 200


class CachedEncoder:
    """A real encoder whose answer for an identical call is reused (the builds below embed the
    same sorted answer set), so the repeated builds stay fast."""

    def __init__(self, encoder):
        self.encoder, self.name, self.calls = encoder, encoder.name, {}

    def encode(self, texts):
        key = tuple(texts)
        if key not in self.calls:
            self.calls[key] = self.encoder.encode(list(texts))
        return self.calls[key]


@pytest.fixture(scope="module")
def minilm():
    from test_embeddings import require_minilm

    require_minilm()
    return CachedEncoder(MiniLMEncoder())


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return load_triviaqa(need(TRIVIAQA), limit=N_ROWS)


@pytest.fixture(scope="module")
def built(rows, minilm) -> pd.DataFrame:
    return build_typed_mcq(rows, minilm, seed=0)


@pytest.fixture(scope="module")
def vectors(rows, minilm) -> dict[str, np.ndarray]:
    """MiniLM vector of every gold answer in the sample (one call)."""
    golds = sorted(set(rows.loc[rows["status"] == "ok", "gold"]))
    return dict(zip(golds, unit_rows(minilm.encoder.encode(golds).astype(np.float64))))


def wrong(foil: str, aliases) -> bool:
    """The foil rule: grades not correct and is no whole-word part of an alias."""
    said = f" {normalize_answer(foil)} "
    return grade_triviaqa(foil, aliases).correct is False and not any(said in f" {normalize_answer(a)} " for a in aliases)


def ok(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["status"] == "ok"]


# --------------------------------------------------------------------------------------------
# On the real TriviaQA sample
# --------------------------------------------------------------------------------------------


def test_every_row_is_kept_with_a_status(rows, built):
    assert list(built.columns) == [*TYPED_MCQ_COLUMNS, *COSINE_COLUMNS]
    assert built["id"].tolist() == rows["id"].tolist()
    assert built["status"].notna().all()
    assert (built["dataset"] == "mcq").all() and (built["encoder"] == MINILM_NAME).all() and (built["seed"] == 0).all()
    assert len(ok(built)) >= 0.9 * len(built)
    assert set(built["status"]) <= {"ok", STATUS_NO_SIMILAR, STATUS_NO_DISSIMILAR, STATUS_NO_UNRELATED}


def test_ok_rows_are_well_formed_items(built):
    for row in ok(built).itertuples():
        assert len(row.options) == 4 and all(isinstance(o, str) and o.strip() for o in row.options)
        assert len({normalize_answer(o) for o in row.options}) == 4
        assert sorted(row.option_kinds) == sorted(OPTION_KINDS)
        assert row.options[row.correct_option - 1] == row.gold and row.option_kinds[row.correct_option - 1] == "gold"
        for kind in ("similar", "dissimilar", "unrelated"):
            assert row.options[row.option_kinds.index(kind)] == getattr(row, f"{kind}_foil")


def test_no_foil_grades_correct(built):
    for row in built.itertuples():
        for foil in (row.similar_foil, row.dissimilar_foil, row.unrelated_foil):
            if foil is not None:
                assert normalize_answer(foil)
                assert grade_triviaqa(foil, row.aliases).correct is False, (row.id, foil, row.aliases)
                assert wrong(foil, row.aliases), (row.id, foil, row.aliases)


def test_similar_is_nearest_and_dissimilar_beyond_the_median(rows, built, vectors):
    usable = rows[rows["status"] == "ok"]
    types = {(g, q): answer_type(g, q) for g, q in zip(usable["gold"], usable["question"])}
    pool_types: dict[str, set[str]] = {}
    for (gold, _question), kind in types.items():
        pool_types.setdefault(normalize_answer(gold), set()).add(kind)
    nearest = 0
    for row in ok(built).itertuples():
        gold = vectors[row.gold]
        similar, dissimilar = vectors[row.similar_foil] @ gold, vectors[row.dissimilar_foil] @ gold
        assert similar == pytest.approx(row.similar_cosine, abs=1e-5) and dissimilar == pytest.approx(row.dissimilar_cosine, abs=1e-5)
        assert similar >= dissimilar
        assert row.dissimilar_cosine < row.median_cosine
        # the gold's type for similar and dissimilar, another type for unrelated
        assert row.answer_type in pool_types[normalize_answer(row.similar_foil)]
        assert row.answer_type in pool_types[normalize_answer(row.dissimilar_foil)]
        assert row.answer_type not in pool_types[normalize_answer(row.unrelated_foil)]
        # brute force: no valid same-type answer of another item is nearer than the similar foil
        candidates = [
            g
            for (g, q), kind in types.items()
            if kind == row.answer_type and normalize_answer(g) != normalize_answer(row.gold) and wrong(g, row.aliases)
        ]
        best = max(float(vectors[g] @ gold) for g in candidates)
        assert best == pytest.approx(row.similar_cosine, abs=1e-6)
        nearest += 1
    assert nearest == len(ok(built))


def test_deterministic_and_independent_of_row_order(rows, built, minilm):
    shuffled = rows.sample(frac=1.0, random_state=3).reset_index(drop=True)
    again = build_typed_mcq(shuffled, minilm, seed=0)
    again = again.iloc[pd.Index(again["id"]).get_indexer(built["id"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(again, built)
    other_seed = build_typed_mcq(rows, minilm, seed=1)
    assert other_seed["similar_foil"].tolist() == built["similar_foil"].tolist()  # the nearest is not drawn
    both = ok(built).index.intersection(ok(other_seed).index)
    moved = sum(built.at[i, "option_kinds"] != other_seed.at[i, "option_kinds"] for i in both)
    assert moved > 0.5 * len(both)
    assert (other_seed.loc[both, "dissimilar_foil"] != built.loc[both, "dissimilar_foil"]).any()


def test_option_order_follows_the_seeded_rule(built):
    for row in ok(built).head(20).itertuples():
        canonical = [row.gold, row.similar_foil, row.dissimilar_foil, row.unrelated_foil]
        assert seeded_options(0, row.id, canonical, OPTION_KINDS) == (row.options, row.option_kinds, row.correct_option)
    positions = ok(built)["correct_option"].value_counts()
    assert set(positions.index) == {1, 2, 3, 4} and positions.min() >= 20


def test_frame_feeds_to_trials(built):
    trials = to_trials(built)
    assert len(trials) == len(ok(built))
    assert trials[0].metadata["options"] == tuple(ok(built).iloc[0]["options"])


# --------------------------------------------------------------------------------------------
# Hand-made cases
# --------------------------------------------------------------------------------------------

HAND = [
    ("q-paris", "What is the capital of France?", "Paris"),
    ("q-lyon", "Which French city hosts the Fete des Lumieres?", "Lyon"),
    ("q-marseille", "Which French city is the largest port on the Mediterranean?", "Marseille"),
    ("q-tokyo", "Which city hosted the 1964 Summer Olympics?", "Tokyo"),
    ("q-nairobi", "Which city is the capital of Kenya?", "Nairobi"),
    ("q-lima", "Which city is the capital of Peru?", "Lima"),
    ("q-berlin", "Which city was divided by a wall from 1961 to 1989?", "Berlin"),
    ("q-banana", "Which yellow fruit is a botanical berry?", "Banana"),
    ("q-einstein", "Which scientist developed the theory of relativity?", "Albert Einstein"),
]


def hand_frame(items=HAND, **status) -> pd.DataFrame:
    return pd.DataFrame(
        [{"id": i, "question": q, "gold": g, "aliases": (g,), "status": status.get(i, "ok"), "source": f"hand#{n}"} for n, (i, q, g) in enumerate(items)]
    )


def test_similar_foil_of_paris_is_a_french_city(minilm):
    frame = build_typed_mcq(hand_frame(), minilm, seed=0).set_index("id")
    paris = frame.loc["q-paris"]
    assert paris["status"] == "ok" and paris["answer_type"] == "place"
    assert paris["similar_foil"] in {"Lyon", "Marseille"}
    assert paris["dissimilar_foil"] not in {"Lyon", "Marseille", "Paris"}
    assert paris["dissimilar_cosine"] < paris["median_cosine"]
    assert paris["unrelated_foil"] in {"Banana", "Albert Einstein"}
    assert paris["source"] == "hand#0"


def test_statuses_of_items_without_foils(minilm):
    frame = build_typed_mcq(hand_frame(HAND + [("q-bad", "A broken row?", "x")], **{"q-bad": "malformed: line 9"}), minilm).set_index("id")
    assert frame.loc["q-bad", "status"] == "malformed: line 9" and frame.loc["q-bad", "options"] is None
    assert frame.loc["q-einstein", "status"] == STATUS_NO_SIMILAR  # the only person
    two_places = build_typed_mcq(hand_frame([HAND[0], HAND[1], HAND[7]]), minilm).set_index("id")
    assert two_places.loc["q-paris", "status"] == STATUS_NO_DISSIMILAR
    assert two_places.loc["q-paris", "similar_foil"] == "Lyon" and two_places.loc["q-paris", "options"] is None
    places_only = build_typed_mcq(hand_frame(HAND[:7]), minilm).set_index("id")
    assert places_only.loc["q-paris", "status"] == STATUS_NO_UNRELATED
    empty_gold = build_typed_mcq(hand_frame(HAND[:3] + [("q-empty", "What?", "  ")]), minilm).set_index("id")
    assert empty_gold.loc["q-empty", "status"] == "no gold answer"


def test_an_alias_is_never_a_foil(minilm):
    items = HAND + [("q-paris-2", "Which city is the French capital?", "Paris, France")]
    frame = build_typed_mcq(hand_frame(items), minilm).set_index("id")
    for item in ("q-paris", "q-paris-2"):
        foils = frame.loc[item, ["similar_foil", "dissimilar_foil", "unrelated_foil"]].tolist()
        assert "Paris, France" not in foils and "Paris" not in foils


def test_bad_input_is_refused(minilm):
    frame = hand_frame()
    with pytest.raises(DatasetError, match="occurs twice"):
        build_typed_mcq(pd.concat([frame, frame.head(1)]), minilm)
    with pytest.raises(DatasetError, match="'aliases'"):
        build_typed_mcq(frame.drop(columns="aliases"), minilm)


def test_fallback_encoder_builds_items(rows):
    golds = rows.loc[rows["status"] == "ok", "gold"].tolist()
    encoder = TfidfSvdEncoder(golds, n_components=32, seed=0)
    frame = build_typed_mcq(rows.head(80), encoder, seed=0)
    assert (frame["encoder"] == "tfidf-svd").all() and (frame["status"] == "ok").mean() > 0.8


# --------------------------------------------------------------------------------------------
# Released sets
# --------------------------------------------------------------------------------------------


def write_jsonl(path, records) -> str:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return str(path)


def test_loader_keeps_kinds_through_the_shuffle(tmp_path, minilm):
    records = [
        {"id": f"item-{i}", "question": f"Question {i}?", "answer": f"Answer {i}", "foils": {"similar": f"Near {i}", "dissimilar": f"Far {i}", "unrelated": f"Other {i}"}, "difficulty": 0.1 * i, "rag": 0.5}
        for i in range(12)
    ]
    frame = load_typed_mcq(write_jsonl(tmp_path / "set.jsonl", records), seed=0)
    assert list(frame.columns) == [*TYPED_MCQ_COLUMNS, "difficulty", "rag"]
    assert (frame["status"] == "ok").all() and frame["encoder"].isna().all() and (frame["label"] == "file").all()
    for row, record in zip(frame.itertuples(), records):
        assert row.options[row.correct_option - 1] == record["answer"] == row.gold
        for kind, text in record["foils"].items():
            assert row.options[row.option_kinds.index(kind)] == text == getattr(row, f"{kind}_foil")
    assert len({tuple(k) for k in frame["option_kinds"]}) > 3  # really shuffled
    np.testing.assert_allclose(frame["difficulty"], [0.1 * i for i in range(12)])
    assert frame["difficulty"].dtype == np.float64
    # the same order rule as build_typed_mcq: same (seed, id), same permutation of the kinds
    built = build_typed_mcq(hand_frame(), minilm, seed=0).set_index("id")
    released = load_typed_mcq(
        write_jsonl(
            tmp_path / "paris.jsonl",
            [{"id": "q-paris", "question": "What is the capital of France?", "answer": "Paris", "foils": {k: built.loc["q-paris", f"{k}_foil"] for k in ("similar", "dissimilar", "unrelated")}}],
        )
    )
    assert released.loc[0, "options"] == built.loc["q-paris", "options"]
    assert released.loc[0, "option_kinds"] == built.loc["q-paris", "option_kinds"]


def test_loader_takes_list_foils(tmp_path):
    records = [{"question": "Capital of France?", "answer": "Paris", "foils": ["Lyon", "Tokyo", "Banana"]}]
    frame = load_typed_mcq(write_jsonl(tmp_path / "set.jsonl", records), seed=2)
    row = frame.iloc[0]
    assert row["id"] == "mcq-000001" and row["status"] == "ok" and row["seed"] == 2
    assert sorted(row["option_kinds"]) == ["foil_1", "foil_2", "foil_3", "gold"]
    assert row["options"][row["option_kinds"].index("foil_2")] == "Tokyo"
    assert row["similar_foil"] is None and "difficulty" not in frame.columns
    assert row["answer_type"] == "place"


def test_loader_marks_or_raises_on_malformed_rows(tmp_path):
    good = {"id": "a", "question": "Capital of France?", "answer": "Paris", "foils": {"similar": "Lyon", "dissimilar": "Tokyo", "unrelated": "Banana"}}
    records = [
        good,
        {"id": "b", "question": "Q?", "answer": "Zed", "foils": ["only", "two"]},
        "{not json",
        {"id": "d", "question": "Q?", "answer": "Paris", "foils": {"similar": "paris", "dissimilar": "x", "unrelated": "y"}},
        {"id": "e", "question": "Q?", "answer": "Zed", "foils": {"similar": "B", "dissimilar": "C"}},
        {"id": "f", "question": "Q?", "answer": "Zed", "foils": ["B", "C", "D"], "difficulty": "hard"},
    ]
    path = write_jsonl(tmp_path / "set.jsonl", records)
    frame = load_typed_mcq(path)
    assert len(frame) == 6 and frame.loc[0, "status"] == "ok"
    for index, line in ((1, 2), (2, 3), (3, 4), (4, 5), (5, 6)):
        assert frame.loc[index, "status"].startswith("malformed: ") and f"set.jsonl:{line}" in frame.loc[index, "status"]
        assert frame.loc[index, "options"] is None
    assert "lacks unrelated" in frame.loc[4, "status"] and "'difficulty' must be a number" in frame.loc[5, "status"]
    with pytest.raises(DatasetError, match=r"set\.jsonl:2: 'foils' must be"):
        load_typed_mcq(path, on_error="raise")
    with pytest.raises(DatasetError, match="does not exist"):
        load_typed_mcq(tmp_path / "missing.jsonl")


def test_measured_summary(built, capsys):
    """Not an assertion of quality: prints how many items got all three foils (see the report)."""
    share = (built["status"] == "ok").mean()
    with capsys.disabled():
        if os.environ.get("INTERP_PRINT_MCQ_SUMMARY") == "1":
            print(f"\n{share:.1%} of {len(built)} rows got all three foils; statuses {built['status'].value_counts().to_dict()}")
    assert 0 < share <= 1
