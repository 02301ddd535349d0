"""capture_dataset: statuses for every trial, NaN flagging, and resume after SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import QWEN_DIR, TRIVIAQA, need

from interp.forward import capture, capture_dataset
from interp.io import ActivationStore
from interp.models import load_model, tiny
from interp.prompting import Trial
from interp.tasks import CategoricalConfidenceTemplate

TEMPLATE = CategoricalConfidenceTemplate()


@pytest.fixture(scope="module")
def qwen_lm():
    return load_model(tiny("qwen2", tokenizer=need(QWEN_DIR)))


def test_every_trial_gets_a_status_and_values_match_capture(tmp_path, qwen_lm):
    trials = [
        Trial(id="ok1", question="What is the capital of France?", answer="Paris"),
        Trial(id="merged", question="Which city?", answer="Washington, D.C."),
        Trial(id="empty", question="Who?", answer=""),
        Trial(id="ok2", question="Who wrote Hamlet?", answer="William Shakespeare"),
        Trial(id="ok3", question="Largest planet?", answer="Jupiter"),
    ]
    store = capture_dataset(qwen_lm, trials, TEMPLATE, [0, 3], ["panl", "confidence_colon"], tmp_path, batch_size=2, progress=False)
    status = store.statuses()
    assert list(status.index) == [t.id for t in trials]
    assert status["ok1"] == status["ok2"] == status["ok3"] == "ok"
    assert status["merged"].startswith("panl: token") and "merges it with '.'" in status["merged"]
    assert status["empty"] == "render: trial empty: answer is empty"
    values, ids = store.read(3, "panl")
    assert ids == ["ok1", "ok2", "ok3"]
    reference = capture(qwen_lm, TEMPLATE.batch([trials[i] for i in (0, 3, 4)], qwen_lm.tokenizer), [3], ["panl"])
    torch.testing.assert_close(values, reference[(3, "panl")], rtol=0, atol=1e-5)


def test_planted_nan_is_flagged(tmp_path, qwen_lm):
    trials = [Trial(id=f"t{i}", question=f"Question number {i}?", answer=f"Answer {i}") for i in range(4)]
    handle = qwen_lm.layers[1].register_forward_hook(lambda _m, _i, out: out.index_fill_(0, torch.tensor([1]), float("nan")))
    try:
        store = capture_dataset(qwen_lm, trials, TEMPLATE, [0, 2], ["panl"], tmp_path, batch_size=4, progress=False)
    finally:
        handle.remove()
    index = store.index().set_index("trial_id")
    assert index.loc["t1", "status"] == "non-finite at L2/panl" and not index.loc["t1", "finite"]
    assert (index.drop("t1")["status"] == "ok").all() and index.drop("t1")["finite"].all()
    assert len(store.read(2, "panl", only_finite=True)[1]) == 3


def _capture_command(out, limit):
    return [
        sys.executable, "-m", "interp.cli", "capture", "--model", str(tiny("qwen2", tokenizer=need(QWEN_DIR))),
        "--data", str(need(TRIVIAQA)), "--dataset", "triviaqa", "--layers", "0-3",
        "--roles", "panl,confidence_colon,answer_first_token", "--out", str(out), "--batch-size", "1", "--limit", str(limit),
    ]


@pytest.mark.slow  # ≈ 1.1 min; CI runs it in its second step
def test_sigkill_then_resume_equals_uninterrupted_run(tmp_path):
    limit = 240
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    reference = subprocess.run(_capture_command(tmp_path / "full", limit), env=env, capture_output=True, text=True, timeout=600)
    assert reference.returncode == 0, reference.stderr[-2000:]

    interrupted = tmp_path / "killed"
    process = subprocess.Popen(_capture_command(interrupted, limit), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    index_dir = interrupted / "index"
    deadline = time.time() + 300
    while time.time() < deadline and (not index_dir.exists() or len(list(index_dir.glob("*.parquet"))) < 20):
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    committed = len(list(index_dir.glob("*.parquet")))
    assert 20 <= committed < limit, f"the kill must land mid-run ({committed} of {limit} chunks committed)"

    resumed = subprocess.run(_capture_command(interrupted, limit), env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    full, again = ActivationStore(tmp_path / "full"), ActivationStore(interrupted)
    a, b = full.index(), again.index()
    assert b["trial_id"].is_unique and len(b) == limit
    assert a[["trial_id", "status", "row", "finite"]].equals(b[["trial_id", "status", "row", "finite"]])
    assert (a["status"] != "ok").sum() > 0, "the Qwen tokenizer flags some TriviaQA answers"
    for layer in range(4):
        for role in ("panl", "confidence_colon", "answer_first_token"):
            values_a, ids_a = full.read(layer, role)
            values_b, ids_b = again.read(layer, role)
            assert ids_a == ids_b and torch.equal(values_a, values_b)


def test_a_readout_reads_the_same_forward_into_the_index(tmp_path, qwen_lm):
    from interp.forward import last_token_logits
    from interp.readouts import yes_no_scores
    from interp.tasks import VerificationTemplate

    template = VerificationTemplate()
    trials = [
        Trial(id="a", question="What is the capital of France?", answer="Paris"),
        Trial(id="merged", question="Which city?", answer="Washington, D.C."),
        Trial(id="b", question="Who wrote Hamlet?", answer="Christopher Marlowe"),
    ]
    readout = template.readout(qwen_lm.tokenizer)
    store = capture_dataset(qwen_lm, trials, template, [1], ["panl", "pl"], tmp_path, batch_size=3, progress=False, readout=readout)
    index = store.index().set_index("trial_id")
    assert index.loc["merged", "status"] != "ok" and index[["yes", "vld"]].loc["merged"].isna().all()
    kept = [trials[0], trials[2]]
    scores = yes_no_scores(last_token_logits(qwen_lm, template.batch(kept, qwen_lm.tokenizer)), readout.yes_id, readout.no_id)
    torch.testing.assert_close(torch.tensor(index.loc[["a", "b"], "vld"].to_numpy(float), dtype=torch.float32), scores.vld, atol=1e-4, rtol=0)
    assert list(index.loc[["a", "b"], "yes"].astype(bool)) == scores.yes.tolist()
    values, ids = store.read(1, "pl")
    reference = capture(qwen_lm, template.batch(kept, qwen_lm.tokenizer), [1], ["pl"])
    torch.testing.assert_close(values, reference[(1, "pl")], rtol=0, atol=1e-5)
