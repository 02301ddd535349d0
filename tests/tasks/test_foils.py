"""Answer-type tagger on hand-written cases, and foils (hard / easy / unrelated) on hand-built
frames and the real TriviaQA sample: always wrong for their question, typed as specified, seeded,
independent of row order."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import N_TRIVIAQA_ROWS, TRIVIAQA, need

from interp.errors import DatasetError
from interp.tasks.datasets import load_triviaqa
from interp.tasks.foils import ANSWER_TYPES, FOIL_COLUMNS, FOIL_KINDS, answer_type, build_foils, stable_hash
from interp.tasks.grading import grade_triviaqa, normalize_answer

# --------------------------------------------------------------------------------------------
# Tagger
# --------------------------------------------------------------------------------------------

TAGGED = [
    # year
    ("1066", None, "year"),
    ("1999", "What happened in Seattle?", "year"),
    ("1960s", None, "year"),
    ("1890's", "In which decade was the Manchester Ship Canal opened?", "year"),
    ("12th century", None, "year"),
    ("44 BC", None, "year"),
    ("793", "In which year did the Vikings raid Lindisfarne?", "year"),
    # date
    ("5 May", None, "date"),
    ("May 1945", None, "date"),
    ("July 11, 1979", None, "date"),
    ("3rd August", None, "date"),
    ("the 4th of July", None, "date"),
    ("December", "In what month is Hogmanay celebrated?", "date"),
    ("Friday", None, "date"),
    ("11/07/1979", None, "date"),
    # number
    ("42", None, "number"),
    ("3.14", None, "number"),
    ("1,000,000", None, "number"),
    ("seven", None, "number"),
    ("Twelve", None, "number"),
    ("a hundred", None, "number"),
    ("one hundred and eight", None, "number"),
    ("twenty-one", None, "number"),
    ("XIV", None, "number"),
    ("Four (4)", None, "number"),
    ("1500 metres", None, "number"),
    ("Two metres per second", None, "number"),
    ("793", None, "number"),
    ("1500", "How many metres is the last race of a decathlon?", "number"),
    ("Seven dwarfs", "How many dwarfs are there?", "number"),
    # person
    ("Sir Walter Raleigh", None, "person"),
    ("King Edward III", None, "person"),
    ("Henry VIII", None, "person"),
    ("Saint Patrick", None, "person"),
    ("Albert Einstein", "Which scientist was Time magazine's Person of the Century?", "person"),
    ("Mark Twain", "Who wrote Tom Sawyer?", "person"),
    ("LIONEL BART", "Who wrote the Cliff Richard hit 'Living Doll'?", "person"),
    ("Leonardo DiCaprio", '"Who, as part of his performance in Revenant, was mauled by a bear?"', "person"),
    ("Messalina", "In Rome, who was the scheming wife of Claudius?", "person"),
    # place
    ("Mississippi River", None, "place"),
    ("Lake Placid", None, "place"),
    ("Gulf of Aden.", None, "place"),
    ("France", None, "place"),
    ("Gdansk, Poland", None, "place"),
    ("Republic of Madagascar", None, "place"),
    ("Hobart", "Which city is the destination of the Sydney yacht race?", "place"),
    ("Carson City", None, "place"),
    ("Sapporo", "Where were the 1972 Winter Olympics held?", "place"),
    ("Lanzarote", "Arrecife is the largest city on which of the Canary Islands?", "place"),
    ("Prince Edward Island", None, "place"),
    ("St Helena", "On which island did Napoleon die in exile?", "place"),
    ("Saint Lucia", "Which Caribbean nation has the Pitons?", "place"),
    # organisation
    ("Manchester United", None, "organisation"),
    ("Arsenal FC", None, "organisation"),
    ("The Labour Party", None, "organisation"),
    ("University of Oxford", None, "organisation"),
    ("General Motors", "What US corporation sold Hummer?", "organisation"),
    ("Spice Girls", "Viva Forever is based on the music of which pop group?", "organisation"),
    ("The New York Yankees", "Which team has won 27 World Series?", "organisation"),
    # other
    ("Onion", "Brunswick is a type of which vegetable?", "other"),
    ("a Pumpkin", "Who did the carriage turn into?", "other"),
    ("Theresa May", None, "other"),
    ("Jan", None, "other"),
    ("I", None, "other"),
    ("", None, "other"),
    ("Geisha", "Which Japanese word describes women who are trained to dance?", "other"),
    ("Octoberfest", "The betrothal in the meadow where the event took place started what?", "other"),
]


@pytest.mark.parametrize(("text", "question", "expected"), TAGGED)
def test_answer_type_hand_cases(text, question, expected):
    assert answer_type(text, question) == expected


def test_question_cues_change_the_type_of_a_bare_name():
    assert answer_type("Albert Einstein") == "other"
    assert answer_type("Albert Einstein", "Which scientist proposed relativity?") == "person"
    assert answer_type("Hobart") == "other"
    assert answer_type("Hobart", "In which Australian city is MONA?") == "place"
    assert answer_type("Spandau Ballet") == "other"
    assert answer_type("Spandau Ballet", "Tony Hadley was the singer with which 1980s band?") == "organisation"
    # the answer's own shape and words come before the question's cue
    assert answer_type("1999", "Who released the song?") == "year"
    assert answer_type("France", "Which team won the 1998 World Cup?") == "place"
    assert answer_type("1066", "How many people live there?") == "number"
    # a title makes a person, unless the question asks for a place
    assert answer_type("St Helena") == "person"
    assert answer_type("Sir Isaac Newton", "Which ship was named after a scientist?") == "person"


def test_answer_type_is_always_one_of_the_types():
    for text, question, _ in TAGGED:
        assert answer_type(text, question) in ANSWER_TYPES


# --------------------------------------------------------------------------------------------
# Foils on hand-built frames
# --------------------------------------------------------------------------------------------


def _frame(rows: list[tuple[str, str, str, tuple[str, ...]]], id_column: str = "trial_id") -> pd.DataFrame:
    return pd.DataFrame([{id_column: t, "question": q, "gold": g, "aliases": a} for t, q, g, a in rows])


RIVERS = [
    ("t1", "Which river flows through the city of Paris?", "Seine", ("Seine", "River Seine")),
    ("t2", "Which river flows through the city of London?", "Thames", ("Thames", "River Thames")),
    ("t3", "Which mountain is the highest in Africa?", "Kilimanjaro", ("Kilimanjaro", "Mount Kilimanjaro")),
    ("t4", "Which city hosted the 1992 Summer Olympics?", "Barcelona", ("Barcelona",)),
    ("t5", "In which year did the Titanic sink?", "1912", ("1912",)),
]


def _kind(out: pd.DataFrame, trial_id: str, kind: str) -> pd.Series:
    match = out[(out["trial_id"] == trial_id) & (out["kind"] == kind)]
    assert len(match) == 1
    return match.iloc[0]


def test_hard_foil_is_the_tfidf_nearest_same_type_question():
    frame = _frame(RIVERS)
    assert [answer_type(g, q) for _, q, g, _ in RIVERS] == ["place"] * 4 + ["year"]
    out = build_foils(frame)
    assert list(out.columns) == list(FOIL_COLUMNS) and len(out) == 3 * len(frame)
    hard = {t: _kind(out, t, "hard") for t, *_ in RIVERS}
    # the two river questions are each other's nearest
    assert (hard["t1"]["foil"], hard["t1"]["foil_source_id"]) == ("Thames", "t2")
    assert (hard["t2"]["foil"], hard["t2"]["foil_source_id"]) == ("Seine", "t1")
    # t4 shares "city" with t1 and t2 equally: the tie goes to the lower trial id
    assert hard["t4"]["foil_source_id"] == "t1"
    # t3 shares no word with any other: the first other trial by id
    assert hard["t3"]["foil_source_id"] == "t1"
    assert set(out.loc[out["kind"] == "hard", "source"].dropna()) == {"related question"}
    # t5 is the only year: no same-type foil, but an unrelated one
    assert hard["t5"]["status"] == "no wrong sample and no same-type pool" and hard["t5"]["foil"] is None
    assert _kind(out, "t5", "easy")["status"] == "no same-type pool"
    assert _kind(out, "t5", "unrelated")["foil"] in {"Seine", "Thames", "Kilimanjaro", "Barcelona"}
    for t in ("t1", "t2", "t3", "t4"):
        unrelated = _kind(out, t, "unrelated")
        assert (unrelated["foil"], unrelated["foil_source_id"], unrelated["source"], unrelated["foil_type"]) == ("1912", "t5", "other type", "year")
        easy = _kind(out, t, "easy")
        assert easy["status"] == "ok" and easy["foil_type"] == "place" and easy["foil_source_id"] != t
        assert easy["foil"] != hard[t]["foil"]  # three other places to choose from


def test_hard_foil_skips_a_related_gold_that_is_an_alias_of_the_question():
    rows = [list(r) for r in RIVERS]
    rows[1][3] = ("Thames", "Seine")  # t1's gold now grades correct for t2
    out = build_foils(_frame([tuple(r) for r in rows]))
    hard = _kind(out, "t2", "hard")
    assert hard["foil"] == "Barcelona" and hard["foil_source_id"] == "t4"  # next nearest after t1
    assert (out.loc[out["trial_id"] == "t2", "foil"].dropna() != "Seine").all()


def test_a_gold_holding_an_alias_as_a_span_is_never_a_foil():
    rows = [
        ("a1", "Which river flows through the city of Paris?", "Seine", ("Seine",)),
        ("a2", "Which French region does the river flow through before the city of Paris?", "Seine-et-Marne", ("Seine-et-Marne",)),
        ("a3", "Which city hosted the 1992 Summer Olympics?", "Barcelona", ("Barcelona",)),
    ]
    assert grade_triviaqa("Seine-et-Marne", ("Seine",)).correct is True  # contains the gold as a span
    assert {answer_type(g, q) for _, q, g, _ in rows} == {"place"}
    for seed in range(5):
        out = build_foils(_frame(rows), seed=seed)
        assert _kind(out, "a1", "hard")["foil"] == "Barcelona"  # a2 is nearer but grades correct
        assert _kind(out, "a1", "easy")["foil"] == "Barcelona"  # drawn among valid candidates only
        assert _kind(out, "a2", "hard")["foil"] == "Seine"  # the other way round it is a fine foil


def test_hard_foil_takes_the_first_wrong_model_sample():
    frame = _frame(RIVERS)
    samples = {"t1": ["", "the Seine", "River Seine.", "Loire", "Rhine"], "t2": ["Thames"], "t3": []}
    out = build_foils(frame, samples=samples)
    t1 = _kind(out, "t1", "hard")
    assert (t1["foil"], t1["foil_source_id"], t1["source"], t1["foil_type"]) == ("Loire", None, "model sample", answer_type("Loire", RIVERS[0][1]))
    # a sample that is the gold is no foil: back to the related question
    t2 = _kind(out, "t2", "hard")
    assert (t2["foil"], t2["foil_source_id"], t2["source"]) == ("Seine", "t1", "related question")
    assert _kind(out, "t3", "hard")["source"] == "related question"
    # a year question with a wrong sample gets a hard foil even without a same-type pool
    t5 = _kind(build_foils(frame, samples={"t5": ["1911"]}), "t5", "hard")
    assert (t5["foil"], t5["status"], t5["foil_type"]) == ("1911", "ok", "year")
    # the easy foil avoids the sampled hard foil's text where it can
    assert _kind(out, "t1", "easy")["foil"] != "Loire"


def test_a_single_row_gets_three_statused_rows():
    out = build_foils(_frame(RIVERS[:1]), seed=3)
    assert out["kind"].tolist() == list(FOIL_KINDS) and (out["trial_id"] == "t1").all()
    assert out["status"].tolist() == ["no wrong sample and no same-type pool", "no same-type pool", "no answer of another type"]
    assert out["foil"].isna().all() and out["foil_source_id"].isna().all() and out["source"].isna().all()
    assert (out["seed"] == 3).all() and (out["question_type"] == "place").all()


def test_unusable_input_rows_are_kept_statused_and_never_used_as_foils():
    frame = _frame(RIVERS, id_column="id")
    frame["status"] = ["ok", "malformed: no answer", "ok", "ok", "ok"]
    out = build_foils(frame)
    assert len(out) == 15 and out["trial_id"].tolist()[:3] == ["t1"] * 3
    bad = out[out["trial_id"] == "t2"]
    assert (bad["status"] == "input row not usable: malformed: no answer").all() and bad["foil"].isna().all()
    assert "t2" not in set(out["foil_source_id"].dropna())
    assert _kind(out, "t1", "hard")["foil_source_id"] == "t4"  # t2 is gone; t4 shares "city"


def test_errors_name_the_missing_column_and_the_duplicated_trial():
    frame = _frame(RIVERS)
    with pytest.raises(DatasetError, match="'aliases'"):
        build_foils(frame.drop(columns="aliases"))
    with pytest.raises(DatasetError, match="trial_id"):
        build_foils(frame.drop(columns="trial_id"))
    duplicated = pd.concat([frame, frame.iloc[[2]]], ignore_index=True)
    with pytest.raises(DatasetError, match=r"'t3' occurs twice \(rows 2 and 5\)"):
        build_foils(duplicated)


def test_stable_hash_does_not_depend_on_the_process():
    import hashlib

    # the first 8 bytes of sha256, not Python's hash(): the same in every process
    assert stable_hash("t1") == int.from_bytes(hashlib.sha256(b"t1").digest()[:8], "big") >> 1
    assert stable_hash(7) == stable_hash("7")


# --------------------------------------------------------------------------------------------
# Foils on the real TriviaQA sample
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def triviaqa() -> pd.DataFrame:
    return load_triviaqa(need(TRIVIAQA), on_error="status").iloc[:N_TRIVIAQA_ROWS].reset_index(drop=True)


@pytest.fixture(scope="module")
def foils(triviaqa) -> pd.DataFrame:
    return build_foils(triviaqa, seed=0)


def _key(out: pd.DataFrame) -> pd.DataFrame:
    return out.sort_values(["trial_id", "kind"]).reset_index(drop=True)


def test_real_sample_every_trial_has_three_foil_rows(triviaqa, foils):
    assert list(foils.columns) == list(FOIL_COLUMNS)
    assert len(foils) == 3 * len(triviaqa)
    assert foils["trial_id"].tolist() == [t for t in triviaqa["id"] for _ in FOIL_KINDS]
    assert foils["kind"].tolist() == list(FOIL_KINDS) * len(triviaqa)
    assert (foils["foil"].isna() == (foils["status"] != "ok")).all()
    assert (foils["status"] == "ok").mean() > 0.95
    types = dict(zip(triviaqa["id"], (answer_type(g, q) for g, q in zip(triviaqa["gold"], triviaqa["question"]))))
    assert (foils["question_type"] == foils["trial_id"].map(types)).all()


def test_real_sample_foils_are_wrong_for_their_question(triviaqa, foils):
    aliases = dict(zip(triviaqa["id"], triviaqa["aliases"]))
    golds = dict(zip(triviaqa["id"], triviaqa["gold"]))
    ok = foils[foils["status"] == "ok"]
    for row in ok.itertuples():
        said = normalize_answer(row.foil)
        assert said and said not in {normalize_answer(a) for a in (*aliases[row.trial_id], golds[row.trial_id])}, row
        assert grade_triviaqa(row.foil, aliases[row.trial_id]).correct is False, row
        assert row.foil_source_id != row.trial_id
        assert golds[row.foil_source_id] == row.foil  # a pool foil is that trial's gold


def test_real_sample_foil_types(triviaqa, foils):
    ok = foils[foils["status"] == "ok"]
    same = ok[ok["kind"].isin(["hard", "easy"])]
    assert (same["foil_type"] == same["question_type"]).all()
    assert set(same["source"]) == {"related question", "random question"}
    unrelated = ok[ok["kind"] == "unrelated"]
    assert len(unrelated) == len(triviaqa) and (unrelated["foil_type"] != unrelated["question_type"]).all()
    # a foil's type is its source trial's type
    types = dict(zip(triviaqa["id"], (answer_type(g, q) for g, q in zip(triviaqa["gold"], triviaqa["question"]))))
    assert (ok["foil_type"] == ok["foil_source_id"].map(types)).all()
    # easy differs from hard in the big type blocks
    wide = ok.pivot(index="trial_id", columns="kind", values="foil").dropna()
    big = {t for t, n in pd.Series(types).value_counts().items() if n >= 10}
    wide = wide[wide.index.map(types).isin(big)]
    assert len(wide) > 200 and (wide["easy"].map(normalize_answer) != wide["hard"].map(normalize_answer)).all()
    # types that occur once have no same-type pool
    lonely = [t for t, n in pd.Series(types).value_counts().items() if n == 1]
    for row in foils[foils["question_type"].isin(lonely) & (foils["kind"] == "easy")].itertuples():
        assert row.status == "no same-type pool"


def test_real_sample_seeds_and_row_order(triviaqa, foils):
    pd.testing.assert_frame_equal(build_foils(triviaqa, seed=0), foils)
    other = build_foils(triviaqa, seed=1)
    assert (other["seed"] == 1).all()
    easy, other_easy = foils[foils["kind"] == "easy"], other[other["kind"] == "easy"]
    assert (easy["foil"].to_numpy() != other_easy["foil"].to_numpy()).sum() > len(easy) // 2
    # hard foils from related questions do not depend on the seed
    assert foils.loc[foils["kind"] == "hard", "foil"].equals(other.loc[other["kind"] == "hard", "foil"])
    shuffled = build_foils(triviaqa.sample(frac=1.0, random_state=7), seed=0)
    assert shuffled["trial_id"].tolist()[:3] == [triviaqa.sample(frac=1.0, random_state=7)["id"].iloc[0]] * 3
    pd.testing.assert_frame_equal(_key(shuffled), _key(foils))


def test_real_sample_foils_do_not_depend_on_pythonhashseed(triviaqa, foils):
    import os
    import subprocess
    import sys

    code = (
        "import sys; from interp.tasks.datasets import load_triviaqa; from interp.tasks.foils import build_foils; "
        f"rows = load_triviaqa(sys.argv[1], on_error='status').iloc[:{N_TRIVIAQA_ROWS}]; "
        "sys.stdout.write(build_foils(rows, seed=0).to_json(orient='records'))"
    )
    for hash_seed in ("12345",):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run([sys.executable, "-c", code, str(TRIVIAQA)], capture_output=True, text=True, env=env, check=True)
        assert result.stdout == foils.to_json(orient="records"), hash_seed
