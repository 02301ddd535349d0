"""Graders against hand-worked cases and the real data samples."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from conftest import SHARED, TRIVIAQA, need

from interp.tasks.grading import grade_mcq, grade_mnli, grade_numeric, grade_triviaqa, grade_with_judge, hedges, normalize_answer, parse_number


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("The Beatles", "beatles"),
        ("  A  Tale of Two Cities. ", "tale of two cities"),
        ("Washington, D.C.", "washington d c"),
        ("Beyoncé", "beyonce"),
        ("‘Rock’n’roll’", "rock n roll"),
        ("an_apple", "apple"),
        ("Theatre", "theatre"),  # articles only as whole words
        ("Zürich", "zurich"),
    ],
)
def test_normalize_answer(raw, expected):
    assert normalize_answer(raw) == expected


def test_grade_triviaqa_aliases_articles_spans():
    aliases = ["The Beatles", "Beatles", "Fab Four"]
    assert grade_triviaqa("the beatles.", aliases).correct is True
    assert grade_triviaqa("It was the Fab Four", aliases).correct is True  # whole-word span, ≤ 10 words
    assert grade_triviaqa("Beatlesque", aliases).correct is False  # not a whole word
    long = "I am fairly sure that the band in question here was probably the Fab Four"
    assert grade_triviaqa(long, aliases).correct is False  # > 10 words: only exact match counts
    assert grade_triviaqa("Beyonce", ["Beyoncé Knowles", "Beyoncé"]).correct is True
    assert grade_triviaqa("", aliases).status == "empty answer"
    assert grade_triviaqa("...", aliases).correct is None
    assert grade_triviaqa("Paris", []).status == "no gold aliases"


def test_every_triviaqa_gold_answer_grades_correct():
    rows = [json.loads(line) for line in need(TRIVIAQA).read_text(encoding="utf-8").split("\n") if line.strip()]
    assert len(rows) == 3000
    failures = {i + 1: r["answer"] for i, r in enumerate(rows) if grade_triviaqa(r["answer"], r["aliases"]).correct is not True}
    # line 2103 is a curation artefact: answer "(a" (clipped), aliases about static linking
    assert failures == {2103: "(a"}
    assert grade_triviaqa("(a", rows[2102]["aliases"]).status == "answer is only punctuation or articles"
    wrong = sum(grade_triviaqa(rows[(i + 1) % 3000]["answer"], r["aliases"]).correct is True for i, r in enumerate(rows))
    assert wrong < 30  # another item's answer almost never matches


@pytest.mark.parametrize(
    "response, option",
    [("2", 2), ("2.", 2), ("(2)", 2), ("Option 2: Paris", 2), ("  3) London", 3), ("answer: 4", 4), ("5", 5)],
)
def test_grade_mcq_parses_options(response, option):
    grade = grade_mcq(response, correct=2)
    assert grade.parsed == option and grade.correct is (option == 2)


def test_grade_mcq_unparseable():
    assert grade_mcq("Paris", 1).correct is None and "no option" in grade_mcq("Paris", 1).status
    assert grade_mcq("12 apples", 1).correct is None
    assert grade_mcq(None, 1).status == "empty response"


def test_grade_mnli():
    assert grade_mnli("Entailment.", "entailment").correct is True
    assert grade_mnli("The answer is contradiction", "neutral").correct is False
    assert grade_mnli("no idea", "neutral").correct is None
    with pytest.raises(ValueError, match="not one of"):
        grade_mnli("neutral", "maybe")


@pytest.mark.parametrize(
    "text, value",
    [
        ("The answer is 1,234.", Decimal(1234)),
        ("$18", Decimal(18)),
        ("She makes 18 dollars.", Decimal(18)),
        ("work...\n#### 1,000", Decimal(1000)),
        ("so \\boxed{42} is it; earlier 7", Decimal(42)),
        ("\\boxed{\\frac{3}{4}}", Decimal(3) / Decimal(4)),
        ("-5 degrees", Decimal(-5)),
        ("3.50 kg", Decimal("3.50")),
        ("1/8", Decimal(1) / Decimal(8)),
        ("no digits here", None),
    ],
)
def test_parse_number(text, value):
    assert parse_number(text) == value


def test_grade_numeric_against_gsm8k_and_math500_golds():
    gsm = [json.loads(line) for line in need(SHARED / "data" / "gsm8k" / "test.jsonl").read_text().split("\n") if line.strip()]
    assert len(gsm) == 1319
    for row in gsm:
        final = row["answer"].split("####")[-1].strip().replace(",", "")
        assert parse_number(row["answer"]) == Decimal(final)
        assert grade_numeric(f"The answer is {final}.", row["answer"]).correct is True
        assert grade_numeric(f"#### {int(final) + 1}", row["answer"]).correct is False
    math = [json.loads(line) for line in need(SHARED / "data" / "math500" / "test.jsonl").read_text().split("\n") if line.strip()]
    plain = [r for r in math if r["answer"].replace(".", "", 1).replace("-", "", 1).isdigit()]
    assert len(plain) > 250
    for row in plain:
        assert parse_number(f"\\boxed{{{row['answer']}}}") == Decimal(row["answer"])
    assert grade_numeric("no number", "#### 3").status == "no number in the response"
    with pytest.raises(ValueError, match="holds no number"):
        grade_numeric("3", "none")


def test_hedges():
    assert hedges("Maybe Paris, I think.") == ["maybe", "i think"]
    assert hedges("I’m not sure; possibly Rome") == ["possibly", "not sure"]
    assert hedges("Paris") == [] and hedges(None) == []
    assert hedges("Mayberry") == []


def test_grade_with_judge():
    calls = []

    def judge(question, answer, gold, aliases):
        calls.append((question, answer, gold, aliases))
        return {"Paris": "correct", "Rome": "incorrect"}.get(answer, "not_attempted")

    assert grade_with_judge(judge, "Capital of France?", "Paris", "Paris", ["Paris"]).correct is True
    assert grade_with_judge(judge, "Capital of France?", "Rome", "Paris").correct is False
    assert grade_with_judge(judge, "Capital of France?", "I don't know", "Paris").correct is None
    assert calls[0] == ("Capital of France?", "Paris", "Paris", ("Paris",))
    with pytest.raises(ValueError, match="judge returned 'yes'"):
        grade_with_judge(lambda *a: "yes", "q", "a", "g")


def test_an_answer_that_restates_the_question_is_flagged():
    from interp.tasks import restates_question

    assert restates_question("The Friendly Islands", "Which island group became known as The Friendly Islands?")
    assert restates_question("friendly islands.", "Which island group became known as The Friendly Islands?")
    assert not restates_question("Tonga", "Which island group became known as The Friendly Islands?")
    assert not restates_question("The Islands of Tonga", "Which island group became known as The Friendly Islands?")
    assert not restates_question("the", "What is the capital?") and not restates_question(None, "q?")
