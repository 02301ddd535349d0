"""The abstention pipeline on the pip-installed Qwen2.5-Coder-0.5B-Instruct, every stage, on the
CPU (its own config): the report must be non-degenerate — both outcomes of every model fitted,
steering moving abstention with a CI that excludes 0, mediation and Phase 4 fitted with CIs.
Slow (≈ 15 min); CI runs it in its second step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, real_pipeline_run

from experiments.abstention import STAGES, run

pytestmark = pytest.mark.slow

CONFIG = REPO / "experiments" / "abstention" / "qwen2.5-coder-0.5b-instruct.yaml"


@pytest.fixture(scope="module")
def coder_run(tmp_path_factory) -> Path:
    return real_pipeline_run(run, CONFIG, "qwen2.5-coder-0.5b-instruct", tmp_path_factory.mktemp("abstention") / "coder")


def _table(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(folder / f"{name}.parquet")


def test_the_real_model_report_is_non_degenerate(coder_run):
    folder = coder_run
    assert all((folder / "stages" / f"{stage}.json").exists() for stage in STAGES)
    phase1 = _table(folder, "phase1")
    test = phase1[(phase1["set"] == "test") & (phase1["status"] == "ok")]
    assert 0 < test["correct"].astype(float).mean() < 1 and test["chosen_confidence"].std() > 0
    assert set(test.loc[test["correct"] == 0, "chosen_kind"]) <= {"similar", "dissimilar", "unrelated"}
    phase2 = _table(folder, "phase2")
    assert 0 < phase2.loc[phase2["status"] == "ok", "abstain"].astype(float).mean() < 1  # both outcomes
    models = _table(folder, "phase2_models").set_index("model")
    assert models.loc["C", "status"] == "ok" and np.isfinite(models.loc["C", "beta_C"])
    slopes = _table(folder, "steering_slopes").set_index("layer")
    pooled = slopes.loc["all"]
    assert pooled["status"] == "ok" and pooled["ci_high"] < 0  # steering toward high confidence lowers abstention
    mediation = _table(folder, "mediation")
    total = mediation[(mediation["variant"] == "M1 + M2") & (mediation["effect"] == "total")].iloc[0]
    assert total["status"] == "ok" and total["ci_low"] <= total["estimate"] <= total["ci_high"] and total["se"] > 0
    phase4 = _table(folder, "phase4")
    parsed = phase4[phase4["status"].str.startswith("ok")]
    assert len(parsed) > 0 and parsed["abstain"].astype(float).between(0, 1).all()
    phase4_models = _table(folder, "phase4_models").set_index("quantity")
    added = phase4_models.filter(like="adding C", axis=0)
    assert len(added) == 1 and added["status"].iloc[0] == "ok" and np.isfinite(added["lr_stat"].iloc[0])
    verbal = _table(folder, "verbal_summary").set_index("quantity")
    assert verbal.loc["r(verbal, calibrated)", "status"] == "ok"
    report = (folder / "report.md").read_text()
    line = next(line for line in report.splitlines() if line.startswith("| Phase 3 abstention vs α"))
    assert "slope" in line and "n/a" not in line
