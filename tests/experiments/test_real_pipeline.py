"""The README's main job: the verbal-confidence pipeline on the pip-installed Gemma 3 270M, every
stage, on the CPU. Slow; CI runs it in its second step."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, TRIVIAQA, need

from experiments.verbal_confidence import run
from interp.models.registry import REGISTRY, is_installed

pytestmark = pytest.mark.slow


def test_the_main_job_reports_real_numbers_with_cis(tmp_path):
    need(TRIVIAQA)
    if not is_installed(REGISTRY["gemma-3-270m"]):
        pytest.fail(f"gemma-3-270m is not installed: {REGISTRY['gemma-3-270m'].pip}")
    folder = Path(run(REPO / "experiments" / "verbal_confidence" / "gemma-3-270m.yaml", out=tmp_path / "gemma"))
    behaviour = pd.read_parquet(folder / "behaviour.parquet")
    scored = behaviour[(behaviour["set"] == "behaviour") & (behaviour["status"] == "ok")]
    assert 0 < scored["correct"].astype(float).mean() < 1  # a real model: some answers right, some wrong
    assert scored["answer"].str.len().gt(0).all() and not scored["answer"].str.contains("Question:").any()
    pilot = json.loads((folder / "pilot.json").read_text())
    assert set(pilot) == {"categorical", "minimal"} and pilot["minimal"]["agreement"] >= 0.9
    report = (folder / "report.md").read_text()
    accuracy = next(line for line in report.splitlines() if line.startswith("| Accuracy |"))
    assert "[" in accuracy and "n/a" not in accuracy
    logprob = next(line for line in report.splitlines() if line.startswith("| Mean answer log-prob"))
    assert "[" in logprob and "n/a" not in logprob
    probes = pd.read_parquet(folder / "probes.parquet")
    scoredprobes = probes[(probes["target"] == "correct") & (probes["status"] == "ok")]
    assert len(scoredprobes) == 18 * 8 and (scoredprobes["ci_low"] <= scoredprobes["score"]).all() and (scoredprobes["score"] <= scoredprobes["ci_high"]).all()
    assert (folder / "figures" / "probes_correct.png").exists() and "figures/probes_correct.png" in report
