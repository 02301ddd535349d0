"""Run the verbal-confidence pipeline: stages in order, each cached and resumable, then the
figures and report.md."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from experiments.verbal_confidence import activations, behaviour, blocking, causal, decoding, report
from experiments.verbal_confidence.config import STAGES, load_config
from experiments.verbal_confidence.context import Context
from experiments.verbal_confidence.plan import describe
from interp.models import LM
from interp.results import RunDir

RUNNERS: dict[str, Callable[[Context], Any]] = {
    "behaviour": behaviour.run,
    "capture": activations.run,
    "steering": causal.steering,
    "patching": causal.patching,
    "noising": causal.noising,
    "swap": causal.swap,
    "ood": causal.ood,
    "blocking": blocking.run,
    "probes": decoding.probes,
    "variance": decoding.variance,
}

_IGNORED_IN_COMPARISON = ("started", "config_file", "stages")


def parse_stages(stages: str | Sequence[str] | None) -> list[str]:
    """"all"/None → every stage; "behaviour,steering" or a list → those, in run order."""
    if stages is None or stages == "all":
        return list(STAGES)
    names = [s.strip() for s in (stages.split(",") if isinstance(stages, str) else stages) if s.strip()]
    unknown = [s for s in names if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stages {unknown}; the stages are {', '.join(STAGES)}")
    return [s for s in STAGES if s in names]


def _check_same_config(run: RunDir, config: Mapping[str, Any]) -> None:
    saved_file = run.path / "config.json"
    if not saved_file.exists():
        return
    saved = json.loads(saved_file.read_text())
    current = json.loads(json.dumps(dict(config), default=str))
    differ = sorted(k for k in set(saved) | set(current) if k not in _IGNORED_IN_COMPARISON and saved.get(k) != current.get(k))
    if differ:
        raise ValueError(f"{run.path} holds a run with another config (differs in {', '.join(differ)}); use a new --out or the same config")


def run(
    config: str | os.PathLike | Mapping[str, Any] = "experiments/verbal_confidence/tiny-qwen2.yaml",
    stages: str | Sequence[str] | None = None,
    out: str | os.PathLike | None = None,
    dry_run: bool = False,
    lm: LM | None = None,
) -> Path | str:
    """Run (or plan) the pipeline.

    Args:
        config: a YAML file or an already loaded config mapping.
        stages: which stages to run (default all; finished stages are skipped).
        out: results folder (default data/runs/verbal_confidence/<config name>).
        dry_run: return the plan as text instead of running.
        lm: an already loaded model to use instead of config.model.

    Returns:
        The results folder, or the plan text when `dry_run`.

    Raises:
        ValueError: on a bad config or stage name, or an `out` holding a run of another config.
    """
    config = dict(config) if isinstance(config, Mapping) else load_config(config)
    selected = parse_stages(stages)
    if dry_run:
        return describe(config, selected)
    run_dir = RunDir(out or Path("data/runs/verbal_confidence") / config["name"])
    _check_same_config(run_dir, config)
    if not (run_dir.path / "config.json").exists():
        run_dir.write_config(config)
    torch.manual_seed(int(config["seed"]))
    ctx = Context(config, run_dir, lm)
    for stage in selected:
        if run_dir.is_done(stage):
            print(f"[{stage}] done earlier, skipped")
            continue
        start = time.perf_counter()
        print(f"[{stage}] running")
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        table = RUNNERS[stage](ctx)
        seconds = time.perf_counter() - start
        summary = {"seconds": round(seconds, 2), "rows": int(len(table))}
        if torch.cuda.is_available():
            summary["peak_gpu_gib"] = round(torch.cuda.max_memory_allocated() / 1024**3, 2)
        run_dir.mark_done(stage, summary)
        print(f"[{stage}] finished in {seconds:.1f} s ({len(table)} rows)")
    report.write(ctx)
    return run_dir.path
