"""How the verbal-confidence stages pick their trials: test and calibration trials at random
within the named classes (never the most extreme ones by construction), fill-ins counted or
refused, the calibration set with the requested high/low composition, and answers kept as the
model wrote them unless stripping is asked for."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from experiments.verbal_confidence import load_config
from experiments.verbal_confidence.context import VerbalConfidenceContext
from interp.errors import ConfigError
from interp.io import RunDir
from interp.prompting import Trial
from interp.tasks import CategoricalConfidenceTemplate

from conftest import TINY_VERBAL_CONFIDENCE as TINY


def _rows(n_high: int, n_other: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [{"trial_id": f"h{k:02d}", "confidence_class": "Almost certain", "expected_confidence": 0.9 + rng.random() * 0.05} for k in range(n_high)]
    rows += [{"trial_id": f"o{k:02d}", "confidence_class": "Likely", "expected_confidence": 0.5 + rng.random() * 0.3} for k in range(n_other)]
    return pd.DataFrame(rows)


def _ctx(tmp_path, **selection) -> VerbalConfidenceContext:
    config = load_config(TINY)
    config = dataclasses.replace(config, selection=dataclasses.replace(config.selection, **selection))
    return VerbalConfidenceContext(config, RunDir(tmp_path))


def test_test_trials_are_drawn_at_random_within_the_classes_not_the_most_extreme(tmp_path):
    ctx = _ctx(tmp_path)
    rows = _rows(20, 10)
    picked = ctx.sample(rows, 5, ["Almost certain"], True, "steering high")
    assert len(picked) == 5 and (picked["selected_by"] == "class").all()
    assert set(picked["confidence_class"]) == {"Almost certain"}
    most_extreme = set(rows.sort_values("expected_confidence", ascending=False)["trial_id"].head(5))
    assert set(picked["trial_id"]) != most_extreme
    assert picked["trial_id"].tolist() == ctx.sample(rows, 5, ["Almost certain"], True, "steering high")["trial_id"].tolist()  # seeded
    assert set(picked["trial_id"]) != set(ctx.sample(rows, 5, ["Almost certain"], True, "noising high")["trial_id"])  # each stage its own draw


def test_fill_ins_are_marked_by_rank_or_refused(tmp_path):
    rows = _rows(3, 10)
    picked = _ctx(tmp_path).sample(rows, 6, ["Almost certain"], True, "patching high")
    assert picked["selected_by"].value_counts().to_dict() == {"class": 3, "fill-in": 3}
    others = rows[rows["confidence_class"] == "Likely"].sort_values("expected_confidence", ascending=False)
    assert picked.loc[picked["selected_by"] == "fill-in", "trial_id"].tolist() == others["trial_id"].head(3).tolist()
    with pytest.raises(ConfigError, match=r"patching high: 3 eligible trials of \['Almost certain'\] for 6 wanted, and selection.allow_fill_ins is off"):
        _ctx(tmp_path, allow_fill_ins=False).sample(rows, 6, ["Almost certain"], True, "patching high")


def test_the_calibration_set_has_the_requested_composition_and_fill_ins_reach_the_report(tiny_run):
    config = load_config(TINY)
    calibration = pd.read_parquet(tiny_run / "calibration.parquet")
    assert calibration["group"].value_counts().to_dict() == {"high": config.patching.n_calibration_high, "low": config.patching.n_calibration_low}
    by_class = calibration[calibration["selected_by"] == "class"]
    assert by_class.loc[by_class["group"] == "high", "confidence_class"].isin(config.selection.high_classes).all()
    assert by_class.loc[by_class["group"] == "low", "confidence_class"].isin(config.selection.low_classes).all()
    behaviour = pd.read_parquet(tiny_run / "behaviour.parquet").set_index("trial_id")
    assert (behaviour.loc[calibration["trial_id"], "set"] == "calibration").all()
    report = (tiny_run / "report.md").read_text()
    steering = pd.read_parquet(tiny_run / "steering.parquet").drop_duplicates("trial_id")
    for group, rows in steering.groupby("group"):
        assert f"{group} {len(rows)} ({int((rows['selected_by'] == 'fill-in').sum())} fill-ins)" in report
    composition = ", ".join(f"{g} {len(r)} ({int((r['selected_by'] == 'fill-in').sum())} fill-ins)" for g, r in calibration.groupby("group", sort=False))
    assert f"from {len(calibration)} calibration trials: {composition}" in report


def test_answers_are_kept_as_written_and_a_merged_panl_is_excluded(qwen_tokenizer, gemma_tokenizer):
    assert load_config(None).strip_answer_punctuation is False
    trial = Trial(id="dc", question="In which city is the US Capitol building?", answer="Washington, D.C.")
    template = CategoricalConfidenceTemplate()
    gemma = template.render(trial, gemma_tokenizer)
    assert gemma.span_text("answer") == "Washington, D.C." and template.batch([trial], gemma_tokenizer).status() == ["ok"]
    qwen = template.batch([trial], qwen_tokenizer)
    assert not qwen.ok(["panl"]).any() and "merges it with" in qwen.status()[0]
