"""Local TriviaQA / JSONL loading: the real sample's count and errors that name file and line."""

from __future__ import annotations

import pytest

from interp.tasks import load_trials

from conftest import TRIVIAQA, need


def test_real_triviaqa_sample():
    trials = load_trials(need(TRIVIAQA), "triviaqa")
    assert len(trials) == 3000 and len({t.id for t in trials}) == 3000
    first = trials[0]
    assert first.question == "Brunswick, Lancastrian and Pearl Pickler are types of which vegetable?"
    assert first.gold == first.answer == "Onion" and "Allium cepa" in first.aliases
    assert first.metadata["answer_source"] == "gold"


def test_malformed_rows_name_file_and_line(tmp_path):
    bad_json = tmp_path / "a.jsonl"
    bad_json.write_text('{"context": "Question: Q?\\nAnswer:", "answer": "A", "aliases": ["A"]}\n{oops\n')
    with pytest.raises(ValueError, match=r"a\.jsonl:2: not valid JSON"):
        load_trials(bad_json, "triviaqa")
    no_question = tmp_path / "b.jsonl"
    no_question.write_text('\n{"answer": "A"}\n')
    with pytest.raises(ValueError, match=r"b\.jsonl:2: a TriviaQA row needs 'context' or 'question'"):
        load_trials(no_question, "triviaqa")
    with pytest.raises(ValueError, match=r"b\.jsonl:2: row has no 'question'"):
        load_trials(no_question, "jsonl")
    with pytest.raises(ValueError, match="dataset 'mmlu'"):
        load_trials(no_question, "mmlu")
