"""Data-parallel runs through `accelerate launch` on 2 and 3 CPU processes (gloo): the tiny
verbal-confidence run gives the tables of one process, both ranks commit parts, the store written
by two ranks reads back every trial once with the one-process values, and a run killed mid-stage
resumes with another number of processes without redoing or duplicating anything."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
import torch
from conftest import REPO
from conftest import TINY_VERBAL_CONFIDENCE as TINY

from interp.io import ActivationStore, parquet_metadata
from interp.io.ranks import SINGLE, Ranks

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
"""One thread per process in every run here, the reference included: float reductions then round
alike whatever the number of processes, so tables can be compared exactly."""


def _command(out: Path, processes: int) -> list[str]:
    return [sys.executable, "-m", "interp.cli", "run", "verbal-confidence", "--config", str(TINY), "--out", str(out), "--processes", str(processes)]


RUN_TIMEOUT = 600
"""Seconds one launched run may take (the tiny run takes under a minute on 2 cores): a run that
hangs — a rank left at a barrier — fails the test instead of eating CI's budget."""


def _stop(process: subprocess.Popen) -> None:
    """Kill a launched run's process group and its workers (torchrun's sit in their own groups)."""
    family = psutil.Process(process.pid).children(recursive=True)
    os.killpg(process.pid, signal.SIGKILL)
    for child in family:
        child.kill()
    process.wait()
    psutil.wait_procs(family, timeout=30)


def _run(out: Path, processes: int) -> None:
    """One launched run to its end: a failure shows its stderr, a hang is killed after RUN_TIMEOUT."""
    process = subprocess.Popen(_command(out, processes), cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        _stop(process)
        pytest.fail(f"the {processes}-process run did not finish in {RUN_TIMEOUT} s")
    assert process.returncode == 0, f"the {processes}-process run failed:\n{stderr[-3000:]}"


def _tables(folder: Path) -> dict[str, pd.DataFrame]:
    return {path.stem: pd.read_parquet(path) for path in sorted(folder.glob("*.parquet"))}


def _kill_when(out: Path, processes: int, stage: str, n_parts: int = 1) -> None:
    """Start a run and kill its whole process group once `stage` has committed `n_parts` parts."""
    process = subprocess.Popen(_command(out, processes), cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    parts = out / "parts" / stage
    deadline = time.time() + 300
    while time.time() < deadline and len(list(parts.glob("*.parquet"))) < n_parts and process.poll() is None:
        time.sleep(0.05)
    _stop(process)
    assert not (out / "stages" / f"{stage}.json").exists(), f"the run finished {stage} before it could be killed"


def _committed(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in (out / "parts").rglob("*.parquet")}


@pytest.fixture(scope="module")
def one_process(tmp_path_factory) -> Path:
    """The tiny run on one process, launched like the others."""
    out = tmp_path_factory.mktemp("one-process") / "run"
    _run(out, 1)
    return out


def test_ranks_share_a_list_round_robin():
    assert [Ranks(1, 3).owns(k) for k in range(7)] == [False, True, False, False, True, False, False]
    assert all(SINGLE.owns(k) for k in range(5)) and SINGLE.main and not Ranks(2, 3).main


def test_two_processes_give_the_tables_of_one(one_process, tmp_path):
    out = tmp_path / "two"
    _run(out, 2)
    ours, reference = _tables(out), _tables(one_process)
    assert set(ours) == set(reference)
    for name, table in reference.items():
        assert ours[name].equals(table), name
    ranks = {parquet_metadata(p).get("rank") for p in (out / "parts").rglob("*.parquet")}
    assert ranks == {0, 1}, "both ranks committed parts"
    two, one = ActivationStore(out / "activations"), ActivationStore(one_process / "activations")
    index = two.index()
    assert index["trial_id"].is_unique and sorted(index["trial_id"]) == sorted(one.index()["trial_id"])
    for layer in two.layers:
        for role in two.roles:
            values, ids = two.read(layer, role)
            expected, expected_ids = one.read(layer, role)
            assert len(ids) == len(set(ids)) and ids == expected_ids
            assert torch.equal(values, expected), (layer, role)


@pytest.mark.slow  # ≈ 2.3 min; CI runs it in its second step
def test_killed_and_resumed_with_one_then_three_processes(one_process, tmp_path):
    out = tmp_path / "resumed"
    _kill_when(out, 2, "steering")
    first = _committed(out)
    _kill_when(out, 1, "swap")
    second = _committed(out)
    assert {k: second[k] for k in first} == first, "the 1-process rerun redid committed parts"
    _run(out, 3)
    final = _committed(out)
    assert {k: final[k] for k in second} == second, "the 3-process rerun redid committed parts"
    worlds = {parquet_metadata(out / k).get("world", 1) for k in final}
    assert worlds == {1, 2, 3}, worlds
    ours, reference = _tables(out), _tables(one_process)
    for name, table in reference.items():
        assert ours[name].equals(table), name
    assert ours["behaviour"]["trial_id"].is_unique
    assert not ours["steering"].duplicated(["trial_id", "layer", "role", "condition", "prompt"]).any()
