"""`load_trials` over the local files: counts of the real samples and errors that name file and line."""

from __future__ import annotations

import json

import pytest
from conftest import SHARED, TRIVIAQA, need

from interp.errors import ConfigError, DatasetError
from interp.tasks import load_trials
from interp.tasks.grading import normalize_answer


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
    with pytest.raises(DatasetError, match=r"a\.jsonl:2: not valid JSON"):
        load_trials(bad_json, "triviaqa")
    no_question = tmp_path / "b.jsonl"
    no_question.write_text('\n{"answer": "A"}\n')
    with pytest.raises(DatasetError, match=r"b\.jsonl:2: a TriviaQA row needs 'context' or 'question'"):
        load_trials(no_question, "triviaqa")
    with pytest.raises(DatasetError, match=r"b\.jsonl:2: row has no 'question'"):
        load_trials(no_question, "jsonl")
    with pytest.raises(ConfigError, match="dataset 'squad' is not one of"):
        load_trials(no_question, "squad")


def test_every_dataset_loads_as_trials():
    mmlu = load_trials(need(SHARED / "data" / "mmlu"), "mmlu")
    assert len(mmlu) == 14042 - 115  # repeated question + options left out (statuses in interp.datasets)
    assert mmlu[0].metadata["options"][mmlu[0].metadata["correct_option"] - 1] == mmlu[0].gold == mmlu[0].answer
    gsm_path = need(SHARED / "data" / "gsm8k" / "test.jsonl")
    questions = {normalize_answer(json.loads(line)["question"]) for line in gsm_path.read_text().split("\n") if line.strip()}
    assert len(load_trials(gsm_path, "gsm8k")) == len(questions)
    assert load_trials(need(SHARED / "data" / "mnli" / "dev.jsonl"), "mnli")[0].gold == "neutral"
