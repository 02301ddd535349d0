"""The README's main job: the verbal-confidence pipeline on the pip-installed Gemma 3 270M, every
stage, on the CPU. Slow; CI runs it in its second step."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, assert_sweeps_match_full_forwards, real_pipeline_run

from experiments.verbal_confidence import load_config, run

pytestmark = pytest.mark.slow


MAIN_JOB = REPO / "experiments" / "verbal_confidence" / "gemma-3-270m.yaml"


@pytest.fixture(scope="module")
def main_job(tmp_path_factory) -> Path:
    return real_pipeline_run(run, MAIN_JOB, "gemma-3-270m", tmp_path_factory.mktemp("main-job") / "gemma")


def test_incremental_and_full_forward_sweeps_give_the_same_tables(main_job, tmp_path):
    """On the real Gemma 3 architecture, two sweeps: patching (an incremental suffix from a cached
    prefix) and blocking (attention masks); every sweep stage is checked on the tiny models in the
    default suite. Two, not six, to keep CI's slow step in its budget."""
    assert_sweeps_match_full_forwards(main_job, load_config(MAIN_JOB), tmp_path / "full-forwards", stages=("patching", "blocking"))


def test_the_main_job_reports_real_numbers_with_cis(main_job):
    folder = main_job
    behaviour = pd.read_parquet(folder / "behaviour.parquet")
    scored = behaviour[(behaviour["set"] == "behaviour") & (behaviour["status"] == "ok")]
    assert 0 < scored["correct"].astype(float).mean() < 1  # a real model: some answers right, some wrong
    assert scored["answer"].str.len().gt(0).all() and not scored["answer"].str.contains("Question:").any()
    from interp.tasks import restates_question

    restated = behaviour[[restates_question(a, q) for a, q in zip(behaviour["answer"], behaviour["question"])]]
    assert len(restated) and (restated["grade_status"] == "restates question").all() and restated["correct"].isna().all()
    assert (restated["status"] == "ok").any() and restated.loc[restated["status"] == "ok", "confidence"].notna().all()  # still read
    pilot = json.loads((folder / "pilot.json").read_text())
    assert set(pilot) == {"categorical", "minimal"} and pilot["minimal"]["agreement"] >= 0.9
    report = (folder / "report.md").read_text()
    accuracy = next(line for line in report.splitlines() if line.startswith("| Accuracy |"))
    assert "[" in accuracy and "n/a" not in accuracy
    logprob = next(line for line in report.splitlines() if line.startswith("| Mean answer log-prob"))
    assert "[" in logprob and "n/a" not in logprob
    probes = pd.read_parquet(folder / "probes.parquet")
    scoredprobes = probes[(probes["target"] == "correct") & (probes["status"] == "ok") & (probes["variant"] == "default")]
    assert len(scoredprobes) == 18 * 16 and (scoredprobes["ci_low"] <= scoredprobes["score"]).all() and (scoredprobes["score"] <= scoredprobes["ci_high"]).all()
    assert (folder / "figures" / "probes_correct.png").exists() and "figures/probes_correct.png" in report
    for contrast in ("PANL vs PANL+1 Δconfidence", "PANL vs PANL+1 ΔLD", "PANL vs PANL+1 recovery of logit_diff", "Noising: PANL vs PANL+1", "cross- vs same-confidence", "largest edge − control"):
        line = next(line for line in report.splitlines() if contrast in line)
        assert "[" in line or "n/a" in line, line
    ood = pd.read_parquet(folder / "ood.parquet")
    assert set(ood["role"]) == {"panl", "confidence_colon", "panl_plus_1"} and (ood.loc[ood["intervention"] != "natural variation (random pairs)", "n"] > 0).all()
