"""The recovery table reads each stage's contrasts and holds exactly when the planted pattern is
in the tables: synthetic tables with a PANL (or a CC) effect and nothing at PANL+1."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments.verbal_confidence.recovery import RECOVERY, recovery_table
from interp.io import RunDir

LAYERS = (0, 1)
TRIALS = [f"t{k}" for k in range(24)]


def _tables(site: str, rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """Tables where intervening at `site` ("panl" or "confidence_colon") moves the readout and
    anywhere else does not (small noise everywhere)."""
    noise = lambda: float(rng.normal(0, 0.01))  # noqa: E731
    steering, patching, noising, swap, blocking = [], [], [], [], []
    for trial in TRIALS:
        for layer in LAYERS:
            for role in ("panl", "panl_plus_1", "confidence_colon"):
                hit = role == site
                for condition, sign in (("toward_high_5", 1), ("toward_low_5", -1)):
                    steering.append({"trial_id": trial, "layer": layer, "role": role, "condition": condition, "status": "ok", "prompt": "categorical", "delta_confidence": sign * (0.3 if hit else 0) + noise()})
                patching.append({"trial_id": trial, "layer": layer, "role": role, "condition": "patched", "status": "ok", "logit_diff": (2.0 if hit else 0.0) + noise(), "clean_logit_diff": 2.0})
                noising.append({"trial_id": trial, "layer": layer, "role": role, "condition": "noised", "status": "ok", "changed": float(hit and rng.random() < 0.8)})
                for regime in ("low_to_high", "high_to_high"):
                    crossed = regime == "low_to_high"
                    swap.append({"trial_id": trial, "layer": layer, "role": role, "condition": regime, "regime": regime, "recipient": trial, "status": "ok", "changed": float(crossed and hit and rng.random() < 0.8)})
        patching.append({"trial_id": trial, "layer": -1, "role": "none", "condition": "corrupt", "status": "ok", "logit_diff": 0.0, "clean_logit_diff": 2.0})
        for centre in LAYERS:
            for edge in ("CC->PANL", "CC->PANL+1", "ALL->PANL", "CC->A"):
                cut = (site == "panl" and edge in ("CC->PANL", "ALL->PANL")) or (site == "confidence_colon" and edge == "CC->A")
                blocking.append({"trial_id": trial, "centre": centre, "edge": edge, "condition": "blocked", "status": "ok", "prompt": "categorical", "changed": float(cut and rng.random() < 0.8)})
    return {"steering": pd.DataFrame(steering), "patching": pd.DataFrame(patching), "noising": pd.DataFrame(noising), "swap": pd.DataFrame(swap), "blocking": pd.DataFrame(blocking)}


@pytest.mark.parametrize("mechanism, site", [("panl", "panl"), ("cc", "confidence_colon")])
def test_the_planted_pattern_holds_and_the_other_does_not(tmp_path, mechanism, site):
    run = RunDir(tmp_path / mechanism)
    for name, table in _tables(site, np.random.default_rng(0)).items():
        run.write_table(name, table)
    table = recovery_table(run, mechanism)
    assert (table["status"] == "ok").all() and table["holds"].all(), table[~table["holds"].astype(bool)]
    assert set(table["expectation"]) == {e.label for e in RECOVERY[mechanism]} and set(table["layer"]) == set(LAYERS)
    other = recovery_table(run, "cc" if mechanism == "panl" else "panl")
    assert not other["holds"].all()


def test_a_stage_that_did_not_run_is_reported_not_passed(tmp_path):
    run = RunDir(tmp_path / "empty")
    run.write_table("noising", _tables("panl", np.random.default_rng(0))["noising"])
    table = recovery_table(run, "panl")
    assert set(table.loc[table["status"] == "stage not run", "expectation"]) == {e.label for e in RECOVERY["panl"] if e.stage != "noising"}
    assert table.loc[table["status"] == "ok", "holds"].all()


def test_the_report_section_gives_the_verdict_and_writes_the_table(tmp_path):
    from types import SimpleNamespace

    from experiments.verbal_confidence.recovery import recovery_section
    from interp.errors import ConfigError

    run = RunDir(tmp_path / "run")
    for name, table in _tables("panl", np.random.default_rng(0)).items():
        run.write_table(name, table)
    lines = recovery_section(SimpleNamespace(config=SimpleNamespace(planted="panl"), run=run, seed=0))
    assert "Verdict: every expectation holds." in "\n".join(lines) and run.has_table("recovery")
    lines = recovery_section(SimpleNamespace(config=SimpleNamespace(planted="cc"), run=run, seed=0))
    failing = int((~run.read_table("recovery")["holds"].astype(bool)).sum())
    assert failing > 0 and f"Verdict: {failing} of " in "\n".join(lines)
    assert recovery_section(SimpleNamespace(config=SimpleNamespace(planted=None), run=run, seed=0)) == []
    with pytest.raises(ConfigError, match="planted"):
        recovery_section(SimpleNamespace(config=SimpleNamespace(planted="answer"), run=run, seed=0))
