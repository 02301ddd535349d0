"""The error-detection pipeline on the pip-installed Gemma 3 270M, every stage, on the CPU: the
report must be non-degenerate (both SDT classes, real CIs). Slow; CI runs it in its second step."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO, real_pipeline_run

from experiments.error_detection import STAGES, run

pytestmark = pytest.mark.slow

CONFIG = REPO / "experiments" / "error_detection" / "gemma-3-270m.yaml"


@pytest.fixture(scope="module")
def gemma_run(tmp_path_factory) -> Path:
    return real_pipeline_run(run, CONFIG, "gemma-3-270m", tmp_path_factory.mktemp("error-detection") / "gemma")


def test_the_real_model_report_is_non_degenerate(gemma_run):
    folder = gemma_run
    assert all((folder / "stages" / f"{stage}.json").exists() for stage in STAGES)
    detection = pd.read_parquet(folder / "detection.parquet")
    assert (detection["a1_source"] == "model").all()  # the model's own answers only
    verified = detection[(detection["verification_status"] == "ok") & detection["correct"].notna()]
    cells = verified["sdt_cell"].value_counts()
    assert cells.get("hit", 0) + cells.get("miss", 0) > 0 and cells.get("false alarm", 0) + cells.get("correct rejection", 0) > 0
    assert 0 < verified["correct"].astype(float).mean() < 1 and verified["verdict"].nunique() == 2
    corrected = detection[detection["correction_status"] == "ok"]
    assert len(corrected) > len(detection) / 2 and corrected["a2"].str.len().gt(0).all()
    summary = pd.read_parquet(folder / "behaviour_summary.parquet").set_index("quantity")
    for quantity in ("a1_accuracy", "d_prime", "criterion", "confidence_auroc", "exp_logprob_auroc"):
        row = summary.loc[quantity]
        assert row["status"] == "ok" and row["ci_low"] <= row["estimate"] <= row["ci_high"], quantity
    probes = pd.read_parquet(folder / "probes.parquet")
    v = probes[(probes["name"] == "V (all)") & (probes["status"] == "ok")]
    assert len(v) == 18 * 4 and ((v["ci_low"] <= v["score"]) & (v["score"] <= v["ci_high"])).all()
    tests = pd.read_parquet(folder / "probe_tests.parquet")
    v_test = tests[(tests["target"] == "V") & (tests["subset"] == "all") & (tests["layer_kind"] == "configured")].iloc[0]
    assert str(v_test["status"]).startswith("ok") and v_test["baseline"] == "correct, logprob_mean, confidence"
    recovery = pd.read_parquet(folder / "patching_recovery.parquet")
    assert set(recovery["role"]) == {"last_answer_token", "panl", "panl_plus_1", "panl_plus_9", "pl"}
    last = recovery[(recovery["layer"] == 17) & (recovery["role"] == "pl")].iloc[0]
    assert last["patched_d_prime"] == pytest.approx(last["clean_d_prime"], abs=1e-9)  # restoring PL at the last layer restores V
    report = (folder / "report.md").read_text()
    line = next(line for line in report.splitlines() if line.startswith("| verification d′"))
    assert "[" in line and "n/a" not in line
    foils = pd.read_parquet(folder / "foil_sdt.parquet")
    assert {"own", "hard", "easy", "unrelated"} <= set(foils["kind"])
