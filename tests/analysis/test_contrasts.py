"""Contrasts of sweep tables against hand computations: paired differences with the paired
bootstrap, cluster-resampled group differences, and recovery differences on planted data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from interp.analysis import group_contrast, paired_contrasts, recovery_contrasts
from interp.analysis.stats import paired_bootstrap_test


def _sweep(rng, n=30) -> pd.DataFrame:
    rows = []
    for layer in (0, 1):
        for role, shift in (("panl", 0.3 * layer), ("panl_plus_1", 0.0)):
            for k in range(n):
                rows.append({"trial_id": f"t{k}", "layer": layer, "role": role, "condition": "up", "status": "ok" if k else "skipped", "delta": shift + rng.normal(scale=0.1)})
    return pd.DataFrame(rows)


def test_paired_contrasts_equal_the_paired_bootstrap_on_hand_aligned_trials():
    table = _sweep(np.random.default_rng(0))
    out = paired_contrasts(table, "delta", "role", [("panl", "panl_plus_1")], by=("layer", "condition"), seed=3)
    assert out["n"].tolist() == [29, 29]  # the skipped trial is left out
    for row in out.itertuples():
        cell = table[(table["layer"] == row.layer) & (table["status"] == "ok")]
        a = cell[cell["role"] == "panl"].set_index("trial_id")["delta"].sort_index()  # trials in id order, as the library pairs them
        b = cell[cell["role"] == "panl_plus_1"].set_index("trial_id")["delta"].loc[a.index]
        expected = paired_bootstrap_test(a.to_numpy(), b.to_numpy(), n_boot=2000, seed=3)
        assert row.difference == pytest.approx(expected["mean_difference"]) and row.ci_low == pytest.approx(expected["ci_low"]) and row.p == pytest.approx(expected["p"])
    planted = out.set_index("layer")
    assert planted.loc[1, "ci_low"] > 0.2 and planted.loc[0, "ci_low"] < 0 < planted.loc[0, "ci_high"]


def test_group_contrast_resamples_whole_clusters():
    a = pd.Series([1.0, 1.0, 0.0, 1.0])
    b = pd.Series([0.0, 0.0, 1.0, 0.0])
    out = group_contrast(a, b, ["r1", "r2", "r3", "r1"], ["r1", "r2", "r4", "r5"], n_boot=500, seed=0)
    assert out["difference"] == pytest.approx(a.mean() - b.mean()) and out["n_a"] == 4 and out["n_b"] == 4
    assert out["ci_low"] <= out["difference"] <= out["ci_high"]


def test_recovery_contrasts_recover_a_planted_difference():
    rng = np.random.default_rng(1)
    n = 40
    clean = 0.9 + rng.normal(scale=0.02, size=n)
    corrupt = pd.DataFrame({"trial_id": [f"t{k}" for k in range(n)], "status": "ok", "confidence": 0.1 + rng.normal(scale=0.02, size=n)})
    rows = []
    for role, share in (("panl", 0.8), ("panl_plus_1", 0.0)):
        restored = corrupt["confidence"] + share * (clean - corrupt["confidence"]) + rng.normal(scale=0.01, size=n)
        rows.append(pd.DataFrame({"trial_id": corrupt["trial_id"], "layer": 3, "role": role, "status": "ok", "confidence": restored, "clean_confidence": clean}))
    out = recovery_contrasts(corrupt, pd.concat(rows), [("panl", "panl_plus_1")]).iloc[0]
    by_hand = 100 * (rows[0]["confidence"].mean() - corrupt["confidence"].mean()) / (clean.mean() - corrupt["confidence"].mean())
    assert out["mean_a"] == pytest.approx(by_hand) and out["mean_a"] == pytest.approx(80, abs=3) and out["mean_b"] == pytest.approx(0, abs=3)
    assert out["ci_low"] > 70 and out["p"] < 0.01
