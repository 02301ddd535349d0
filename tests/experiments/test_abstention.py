"""The abstention pipeline end to end on the tiny config, and its statistics against data
simulated with known parameters, a grid search and hand computations."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, TINY_ABSTENTION as TINY

from experiments.abstention import STAGES, load_config
from experiments.abstention.context import calibrated
from interp.cli import main
from interp.forward import last_token_logits
from interp.models import load_model
from interp.prompting import Trial
from interp.tasks import MCQTemplate, grade_triviaqa, normalize_answer

CONFIGS = REPO / "experiments" / "abstention"


def _read(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(folder / f"{name}.parquet")


def test_every_stage_writes_its_tables_and_report(tiny_abstention_run):
    folder = tiny_abstention_run
    for stage in STAGES:
        assert (folder / "stages" / f"{stage}.json").exists(), stage
    report = (folder / "report.md").read_text()
    assert "Paper vs this run" in report and "T50 ≈ 77%" in report
    assert (folder / "figures" / "phase1_reliability.png").exists() and (folder / "figures" / "steering_abstention.png").exists()


def test_items_keep_their_foil_kinds_and_no_foil_is_the_gold(tiny_abstention_run):
    items = _read(tiny_abstention_run, "items")
    assert items["status"].notna().all() and items["trial_id"].is_unique
    ok = items[items["status"] == "ok"]
    assert not set(ok.loc[ok["set"] == "calibration", "trial_id"]) & set(ok.loc[ok["set"] == "test", "trial_id"])
    for r in ok.itertuples():
        kinds, options = list(r.option_kinds), list(r.options)
        assert sorted(kinds) == ["dissimilar", "gold", "similar", "unrelated"] and options[r.correct_option - 1] == r.gold
        assert kinds[r.correct_option - 1] == "gold"
        for option, kind in zip(options, kinds):
            if kind != "gold":
                assert grade_triviaqa(option, list(r.aliases)).correct is False and normalize_answer(option) != normalize_answer(r.gold)
    phase1 = _read(tiny_abstention_run, "phase1").set_index("trial_id")
    read = phase1[phase1["status"] == "ok"]
    by_id = ok.set_index("trial_id")
    for trial_id, row in read.iterrows():
        assert row["chosen_kind"] == list(by_id.loc[trial_id, "option_kinds"])[int(row["choice"]) - 1]
        assert bool(row["correct"]) == (row["chosen_kind"] == "gold")


def test_option_logits_equal_an_independent_forward_in_every_phase(tiny_abstention_run):
    folder = tiny_abstention_run
    items = _read(folder, "items").set_index("trial_id")
    lm = load_model("tiny-qwen2")
    for phase, abstain, k in (("phase1", False, 4), ("phase2", True, 5)):
        table = _read(folder, phase)
        rows = table[table["status"] == "ok"].head(6)
        template = MCQTemplate(abstain=abstain)
        trials = [Trial(id=t, question=items.loc[t, "question"], metadata={"options": list(items.loc[t, "options"])}) for t in rows["trial_id"]]
        logits = last_token_logits(lm, template.batch(trials, lm.tokenizer, chat=True))
        options = logits[:, template.option_token_ids(lm.tokenizer)]
        np.testing.assert_allclose(rows[[f"z_{i}" for i in range(1, k + 1)]].to_numpy(float), options.numpy(), atol=1e-4)


def test_tau_is_the_grid_minimum_of_the_calibration_nll(tiny_abstention_run):
    import json

    folder = tiny_abstention_run
    phase1 = _read(folder, "phase1")
    items = _read(folder, "items").set_index("trial_id")
    cal = phase1[(phase1["set"] == "calibration") & (phase1["status"] == "ok")]
    z = cal[[f"z_{i}" for i in range(1, 5)]].to_numpy(float)
    y = items.loc[cal["trial_id"], "correct_option"].to_numpy(int) - 1
    grid = np.exp(np.linspace(np.log(0.01), np.log(100), 4001))
    nll = [-np.log(calibrated(z, t)[np.arange(len(y)), y]).sum() for t in grid]
    tau = json.loads((folder / "phase1_fit.json").read_text())["tau"]
    best = grid[int(np.argmin(nll))]
    assert -np.log(calibrated(z, tau)[np.arange(len(y)), y]).sum() <= min(nll) + 1e-6
    assert tau == pytest.approx(best, rel=0.01) or best in (grid[0], grid[-1])


def test_steering_clean_columns_are_the_phase2_readout(tiny_abstention_run):
    steering = _read(tiny_abstention_run, "steering")
    phase2 = _read(tiny_abstention_run, "phase2").set_index("trial_id")
    clean = steering.drop_duplicates("trial_id").set_index("trial_id")
    np.testing.assert_allclose(clean["clean_max_real"].to_numpy(float), phase2.loc[clean.index, "max_real"].to_numpy(float), atol=1e-5)
    assert (clean["clean_choice"].to_numpy(float) == phase2.loc[clean.index, "choice"].to_numpy(float)).all()
    trials = _read(tiny_abstention_run, "steering_trials")
    groups = trials.groupby("group")["trial_id"].apply(set)
    assert not groups["test"] & (groups["high"] | groups["low"])
    spec = load_config(TINY).steering
    cap = int(np.floor(spec.max_option_share * spec.n_vector))
    for group in ("high", "low"):
        picked = trials[trials["group"] == group]
        assert 0 < len(picked) <= spec.n_vector and picked["real_choice"].value_counts().max() <= cap
    high, low = trials[trials["group"] == "high"], trials[trials["group"] == "low"]
    assert high["margin"].min() >= low["margin"].max()


def _simulated_abstention(n: int, beta0: float, beta_c: float, beta_d: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    c, d = rng.uniform(0, 1, n), rng.normal(0, 1, n)
    p = 1 / (1 + np.exp(-(beta0 + beta_c * c + beta_d * d)))
    return pd.DataFrame({"trial_id": [f"i{k}" for k in range(n)], "abstain": (rng.random(n) < p).astype(float), "C": c, "D": d, "R": rng.normal(size=n), **{f"pc_{k}": rng.normal(size=n) for k in range(1, 4)}})


def test_t50_and_policy_temperature_are_recovered_from_simulated_data():
    from experiments.abstention.policy import model_rows, test_rows, threshold_rows

    data = _simulated_abstention(6000, beta0=4.0, beta_c=-8.0, beta_d=0.5)
    by = pd.DataFrame(threshold_rows(data, n_boot=100, seed=0)).set_index("quantity")
    true_t50 = -(4.0 + 0.5 * data["D"].mean()) / -8.0
    assert by.loc["T50", "estimate"] == pytest.approx(true_t50, abs=0.02)
    assert by.loc["T50", "ci_low"] < true_t50 < by.loc["T50", "ci_high"]
    assert by.loc["policy_temperature", "estimate"] == pytest.approx(1 / 8, rel=0.1)
    models = pd.DataFrame(model_rows(data)).set_index("model")
    assert models.loc["C", "aic"] < models.loc["R", "aic"] and models.loc["C", "beta_C"] == pytest.approx(-8, rel=0.1)
    tests = pd.DataFrame(test_rows(data)).set_index("test")
    assert tests.loc["C over E", "p"] < 1e-10 and tests.loc["R over C", "p"] > 0.001 and tests.loc["E over C", "df"] == 3


def test_phase4_scale_shift_and_temperature_are_recovered_from_simulated_data():
    from experiments.abstention.phase4 import models

    rng = np.random.default_rng(1)
    n_items, thresholds = 800, np.arange(0, 101, 10)
    confidence = rng.uniform(20, 100, n_items)
    scale, shift, temperature = 0.7, 5.0, 8.0
    rows = []
    for item, c in enumerate(confidence):
        for t in thresholds:
            p = 1 / (1 + np.exp(-((t - shift - scale * c) / temperature)))
            rows.append({"trial_id": f"i{item}", "threshold": t, "status": "ok", "abstain": bool(rng.random() < p), "C": c, "D": np.nan, "correct": None, "self_confidence": c})
    table = models(pd.DataFrame(rows), n_boot=50, seed=0).set_index("quantity")
    assert table.loc["scale", "estimate"] == pytest.approx(scale, abs=0.05)
    assert table.loc["shift", "estimate"] == pytest.approx(shift, abs=3.0)
    assert table.loc["temperature", "estimate"] == pytest.approx(temperature, rel=0.1)
    assert table.loc["scale", "ci_low"] < scale < table.loc["scale", "ci_high"]


@pytest.mark.slow
def test_killed_mid_run_resumes_without_redoing_finished_work(tiny_abstention_run, tmp_path):
    out = tmp_path / "resumed"
    command = [sys.executable, "-m", "interp.cli", "run", "abstention", "--config", str(TINY), "--out", str(out)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    parts = out / "parts" / "controls"
    deadline = time.time() + 300
    while time.time() < deadline and len(list(parts.glob("*.parquet"))) < 2:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "stages" / "controls.json").exists(), "the run finished before it could be killed"
    committed = {p.name: p.stat().st_mtime_ns for p in parts.glob("*.parquet")}
    assert committed
    assert main(["run", "abstention", "--config", str(TINY), "--out", str(out)]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in parts.glob("*.parquet") if p.name in committed} == committed
    for table in ("items", "phase1", "phase2", "controls", "steering_summary", "phase4"):
        pd.testing.assert_frame_equal(_read(out, table), _read(tiny_abstention_run, table), check_exact=False, atol=1e-6)


def test_dry_run_plans_the_paper_models_offline(capsys):
    assert main(["run", "abstention", "--config", str(CONFIGS / "gemma-3-27b-it.yaml"), "--dry-run"]) == 0
    gemma = capsys.readouterr().out
    assert "62 layers, d_model 5376" in gemma and "calibration 1000, test 1000" in gemma
    assert "| steering | 500 | 11 | 1 | 8 |" in gemma
    assert main(["run", "abstention", "--config", str(CONFIGS / "qwen2.5-7b-instruct.yaml"), "--dry-run"]) == 0
    assert "| steering | 500 | 6 | 1 | 8 |" in capsys.readouterr().out
