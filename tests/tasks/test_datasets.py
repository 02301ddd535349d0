"""Dataset loaders on the real samples (counts of their SOURCE.txt), crafted malformed files
(errors name file and line, or statuses), dedupe, MCQ sets, and hub loading with only the
network mocked."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from conftest import SHARED, TRIVIAQA, need
from fake_hub import hub_env, serve

from interp.errors import DatasetError
from interp.tasks import datasets
from interp.tasks.datasets import build_mcq_from_triviaqa, dedupe, load_gsm8k, load_mcq, load_mmlu, load_mnli, load_triviaqa, to_trials
from interp.tasks.grading import normalize_answer

DATA = SHARED / "data"


def test_real_samples_have_their_documented_counts():
    tq = load_triviaqa(need(TRIVIAQA))
    mmlu = load_mmlu(need(DATA / "mmlu"))
    mnli = load_mnli(need(DATA / "mnli" / "dev.jsonl"))
    gsm = load_gsm8k(need(DATA / "gsm8k" / "test.jsonl"))
    assert (len(tq), len(mmlu), len(mnli), len(gsm)) == (3000, 14042, 9815, 1319)
    for frame in (tq, mmlu, mnli, gsm):
        assert list(frame.columns) == list(datasets.COLUMNS)
        assert frame["id"].is_unique and (frame["status"] == "ok").all()
    assert mmlu["label"].nunique() == 57 and set(mmlu["correct_option"]) == {1, 2, 3, 4}
    assert len(load_mmlu(DATA / "mmlu", split="dev")) == 285 and len(load_mmlu(DATA / "mmlu", split="val")) == 1531
    assert mnli["label"].value_counts().to_dict() == {"entailment": 3479, "contradiction": 3213, "neutral": 3123}
    assert mnli["id"].iloc[0] == "mnli-000000" and mnli["question"].iloc[0].startswith("Premise: The new rights are nice enough")
    assert gsm["gold"].iloc[0] == "18" and gsm["label"].iloc[0].endswith("#### 18")
    first = tq.iloc[0]
    assert first["question"] == "Brunswick, Lancastrian and Pearl Pickler are types of which vegetable?"
    assert first["gold"] == "Onion" and "Allium cepa" in first["aliases"] and first["id"] == "triviaqa-000001"
    anatomy = mmlu[mmlu["label"] == "anatomy"].iloc[1]
    assert anatomy["gold"] == anatomy["options"][anatomy["correct_option"] - 1] and anatomy["correct_option"] == 2


def test_dedupe_marks_repeats_and_drops_nothing(tmp_path):
    path = tmp_path / "tq.jsonl"
    rows = [
        {"context": "Question: Who wrote Hamlet?\nAnswer:", "answer": "Shakespeare", "aliases": ["Shakespeare"]},
        {"context": "Question: Who wrote 'Hamlet'?\nAnswer:", "answer": "William Shakespeare", "aliases": ["William Shakespeare"]},
        {"context": "Question: Capital of France?\nAnswer:", "answer": "Paris", "aliases": ["Paris"]},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    marked = dedupe(load_triviaqa(path))
    assert marked["status"].tolist() == ["ok", "duplicate of triviaqa-000001", "ok"]
    assert [t.id for t in to_trials(marked)] == ["triviaqa-000001", "triviaqa-000003"]
    assert len(to_trials(marked, only_ok=False)) == 3
    mmlu = dedupe(load_mmlu(need(DATA / "mmlu")))
    duplicated = mmlu[mmlu["status"] != "ok"]
    assert len(duplicated) > 0 and len(mmlu) == 14042
    for _, row in duplicated.head(20).iterrows():
        original = mmlu[mmlu["id"] == row["status"].removeprefix("duplicate of ")].iloc[0]
        assert normalize_answer(original["question"]) == normalize_answer(row["question"])
        assert sorted(map(normalize_answer, original["options"])) == sorted(map(normalize_answer, row["options"]))


def test_triviaqa_official_json_and_hf_parquet(tmp_path):
    official = tmp_path / "unfiltered-web-dev.json"
    official.write_text(json.dumps({"Data": [
        {"Question": "Which planet is largest?", "QuestionId": "tc_1", "Answer": {"Value": "Jupiter", "Aliases": ["Jupiter", "Planet Jupiter"]}},
        {"Question": "Capital of Peru?", "QuestionId": "tc_2", "Answer": {"Value": "Lima", "Aliases": ["Lima"]}},
    ]}))
    frame = load_triviaqa(official)
    assert frame["id"].tolist() == ["tc_1", "tc_2"] and frame["gold"].tolist() == ["Jupiter", "Lima"]
    assert frame["aliases"].iloc[0] == ("Jupiter", "Planet Jupiter") and frame["source"].iloc[1].endswith("#2")
    parquet = tmp_path / "validation.parquet"
    pd.DataFrame({"question": ["Capital of Peru?"], "question_id": ["q9"], "answer": [{"value": "Lima", "aliases": ["Lima", "Lima, Peru"]}]}).to_parquet(parquet)
    row = load_triviaqa(parquet).iloc[0]
    assert (row["id"], row["gold"], row["aliases"]) == ("q9", "Lima", ("Lima", "Lima, Peru"))
    broken = tmp_path / "broken.json"
    broken.write_text('{"Data": [\n  {"Question": "Q"},\n  oops\n]}')
    with pytest.raises(DatasetError, match=r"broken\.json:3: not valid JSON"):
        load_triviaqa(broken)


def test_malformed_rows_name_file_and_line(tmp_path):
    tq = tmp_path / "tq.jsonl"
    tq.write_text('{"context": "Question: Q?\\nAnswer:", "answer": "A", "aliases": ["A"]}\n\n{oops\n{"answer": "B"}\n')
    with pytest.raises(DatasetError, match=r"tq\.jsonl:3: not valid JSON"):
        load_triviaqa(tq)
    statuses = load_triviaqa(tq, on_error="status")
    assert statuses["status"].tolist()[0] == "ok" and len(statuses) == 3
    assert statuses["status"].iloc[1].startswith("malformed: ") and "tq.jsonl:3" in statuses["status"].iloc[1]
    assert "tq.jsonl:4: a TriviaQA row needs 'context' or 'question'" in statuses["status"].iloc[2]

    folder = tmp_path / "mmlu" / "test"
    folder.mkdir(parents=True)
    (folder / "physics_test.csv").write_text('Q1?,a,b,c,d,B\n"Q2?",a,b,c,E\nQ3?,a,b,c,d,Z\n')
    with pytest.raises(DatasetError, match=r"physics_test\.csv:2: expected question, 4 options"):
        load_mmlu(tmp_path / "mmlu")
    assert load_mmlu(tmp_path / "mmlu", on_error="status")["status"].str.startswith("malformed").tolist() == [False, True, True]

    mnli = tmp_path / "mnli.jsonl"
    mnli.write_text('{"premise": "P", "hypothesis": "H", "label": "neutral"}\n{"premise": "P", "hypothesis": "H", "label": "maybe"}\n')
    with pytest.raises(DatasetError, match=r"mnli\.jsonl:2: label 'maybe'"):
        load_mnli(mnli)
    gsm = tmp_path / "gsm.jsonl"
    gsm.write_text('{"question": "1+1?", "answer": "2"}\n')
    with pytest.raises(DatasetError, match=r"gsm\.jsonl:1: the answer has no final"):
        load_gsm8k(gsm)
    with pytest.raises(DatasetError, match="does not exist"):
        load_gsm8k(tmp_path / "missing.jsonl")
    with pytest.raises(DatasetError, match="no \\*_test.csv"):
        load_mmlu(tmp_path)


def test_mcq_file_and_triviaqa_builder(tmp_path):
    path = tmp_path / "mcq.jsonl"
    rows = [
        {"id": "q1", "question": "Largest planet?", "answer": "Jupiter", "foils": {"similar": "Saturn", "dissimilar": "Mars", "unrelated": "Paris"}},
        {"id": "q2", "question": "Smallest prime?", "answer": "2", "foils": ["3", "5", "7"]},
        {"id": "q3", "question": "Bad?", "answer": "A", "foils": ["a", "B", "C"]},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    with pytest.raises(DatasetError, match=r"mcq\.jsonl:3: a foil equals the answer"):
        load_mcq(path)
    frame = load_mcq(path, on_error="status", seed=1)
    assert frame["status"].tolist()[:2] == ["ok", "ok"]
    q1 = frame.iloc[0]
    assert sorted(q1["options"]) == ["Jupiter", "Mars", "Paris", "Saturn"] and q1["options"][q1["correct_option"] - 1] == "Jupiter"
    assert load_mcq(path, on_error="status", seed=1)["options"].tolist() == frame["options"].tolist()  # seeded
    orders = {tuple(load_mcq(path, on_error="status", seed=s)["options"].iloc[0]) for s in range(8)}
    assert len(orders) > 1

    tq = load_triviaqa(need(TRIVIAQA), limit=200)
    built = build_mcq_from_triviaqa(tq, seed=0)
    assert len(built) == 200 and (built["status"] == "ok").all() and (built["label"] == "foils_from_other_items").all()
    golds = set(tq["gold"])
    for (_, item), (_, source) in zip(built.iterrows(), tq.iterrows()):
        assert item["options"][item["correct_option"] - 1] == source["gold"]
        foils = [o for i, o in enumerate(item["options"], start=1) if i != item["correct_option"]]
        assert len(set(map(normalize_answer, foils))) == 3 and all(f in golds for f in foils)
        assert not {normalize_answer(f) for f in foils} & {normalize_answer(a) for a in source["aliases"]}
    assert pd.Series([i["correct_option"] for _, i in built.iterrows()]).nunique() == 4
    trials = to_trials(built)
    assert trials[0].metadata["options"] == built["options"].iloc[0] and trials[0].answer is None


def _hub_files(tmp_path):
    """Parquet files in the hub's schemas, made from the local samples."""
    tq_rows = [json.loads(line) for line in need(TRIVIAQA).read_text(encoding="utf-8").split("\n") if line.strip()][:40]
    frames = {
        "triviaqa": pd.DataFrame(
            {
                "question": [r["context"].removeprefix("Question: ").removesuffix("\nAnswer:") for r in tq_rows],
                "question_id": [f"tc_{i}" for i in range(len(tq_rows))],
                "answer": [{"value": r["answer"], "aliases": r["aliases"], "normalized_value": r["answer"].lower()} for r in tq_rows],
            }
        ),
        "mmlu": pd.DataFrame({"question": ["2+2?", "Capital of Italy?"], "subject": ["math", "geo"], "choices": [["3", "4", "5", "6"], ["Rome", "Oslo", "Bern", "Riga"]], "answer": [1, 0]}),
        "mnli": pd.DataFrame({"premise": ["P1", "P2", "P3"], "hypothesis": ["H1", "H2", "H3"], "label": [0, 2, 1], "idx": [0, 1, 2]}),
        "gsm8k": pd.DataFrame({"question": ["1+1?"], "answer": ["1+1=2\n#### 2"]}),
        "bigmath": pd.DataFrame({"problem": ["Compute 3*4."], "answer": ["12"], "source": ["orca_math"]}),
    }
    repos = {}
    for name, frame in frames.items():
        repo, filename, _revision = datasets.HUB_FILES[name]
        folder = tmp_path / "hub" / repo
        (folder / filename).parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(folder / filename)
        repos[f"datasets/{repo}"] = folder
    return repos


def test_hub_loading_with_only_the_network_mocked(tmp_path):
    seen: list[str] = []
    server = serve(_hub_files(tmp_path), seen)
    script = (
        "import json\n"
        "from interp.tasks import datasets as d\n"
        "out = {}\n"
        "for name in ('triviaqa', 'mmlu', 'mnli', 'gsm8k', 'bigmath'):\n"
        "    f = getattr(d, f'load_{name}')()\n"
        "    out[name] = {'n': len(f), 'ids': f['id'].tolist()[:3], 'gold': f['gold'].tolist()[:3], 'status': sorted(set(f['status']))}\n"
        "out['triviaqa_aliases'] = list(d.load_triviaqa()['aliases'].iloc[0])\n"
        "print(json.dumps(out))\n"
    )
    try:
        result = subprocess.run([sys.executable, "-c", script], env=hub_env(server, tmp_path / "home"), capture_output=True, text=True, timeout=240)
        missing = subprocess.run(
            [sys.executable, "-c", "from interp.tasks import datasets as d\nd.load_triviaqa(hub_file=('nobody/nothing', 'x.parquet'))"],
            env=hub_env(server, tmp_path / "home"),
            capture_output=True,
            text=True,
            timeout=240,
        )
    finally:
        server.shutdown()
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    local = load_triviaqa(need(TRIVIAQA), limit=40)
    assert out["triviaqa"] == {"n": 40, "ids": ["tc_0", "tc_1", "tc_2"], "gold": local["gold"].tolist()[:3], "status": ["ok"]}
    assert out["triviaqa_aliases"] == list(local["aliases"].iloc[0])
    assert out["mmlu"]["gold"] == ["4", "Rome"] and out["mmlu"]["ids"] == ["mmlu-math-00001", "mmlu-geo-00002"]
    assert out["mnli"]["gold"] == ["entailment", "contradiction", "neutral"]
    assert out["gsm8k"]["gold"] == ["2"] and out["bigmath"]["gold"] == ["12"]
    assert any(line.startswith("GET /datasets/mandarjoshi/trivia_qa/resolve/") for line in seen)
    assert missing.returncode != 0 and "cannot fetch triviaqa from the hub (nobody/nothing/x.parquet)" in missing.stderr
