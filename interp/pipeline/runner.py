"""The runner every pipeline shares: checks the stage graph, refuses a run folder made with
another config or (unless allowed) other code, skips finished stages, resumes from committed
parts, times each stage and records its peak GPU memory, then writes the report."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from interp.errors import ConfigError
from interp.io import RunDir
from interp.io.ranks import Ranks, current_ranks
from interp.models import LM
from interp.pipeline.config import PipelineConfig, config_dict
from interp.pipeline.plan import describe

__all__ = ["run_pipeline"]

_IGNORED_IN_COMPARISON = ("started", "config_file", "stages", "incremental")


def _check_same_config(run: RunDir, config: Mapping[str, Any]) -> None:
    saved_file = run.path / "config.json"
    if not saved_file.exists():
        return
    saved = json.loads(saved_file.read_text())
    current = json.loads(json.dumps(dict(config), default=str))
    differ = sorted(k for k in set(saved) | set(current) if k not in _IGNORED_IN_COMPARISON and saved.get(k) != current.get(k))
    if differ:
        raise ConfigError(f"{run.path} holds a run with another config (differs in {', '.join(differ)}); use a new --out or the same config")


def _check_graph(pipeline, selected: Sequence, run: RunDir) -> None:
    chosen = {stage.name for stage in selected}
    for stage in selected:
        missing = [r for r in stage.requires if r not in chosen and not run.is_done(r)]
        if missing:
            raise ConfigError(
                f"stage {stage.name!r} needs {', '.join(missing)}, which {'has' if len(missing) == 1 else 'have'} not run in "
                f"{run.path}; add {'it' if len(missing) == 1 else 'them'} to --stages"
            )


def _say(ranks: Ranks, message: str) -> None:
    if ranks.main:
        print(message)


def run_pipeline(
    pipeline,
    config: str | os.PathLike | PipelineConfig | None = None,
    stages: str | Sequence[str] | None = None,
    out: str | os.PathLike | None = None,
    dry_run: bool = False,
    lm: LM | None = None,
    allow_mixed_code: bool = False,
) -> Path | str:
    """Run (or plan) a pipeline.

    Args:
        pipeline: the `Pipeline`.
        config: a YAML file, a loaded config, or None for the pipeline's default config.
        stages: which stages to run (default: the config's `stages`, else all; finished stages are
            skipped).
        out: results folder (default data/runs/<pipeline>/<config name>).
        dry_run: return the plan as text instead of running.
        lm: an already loaded model to use instead of config.model.
        allow_mixed_code: resume over parts committed by other code (the report lists them).

    Returns:
        The results folder, or the plan text when `dry_run`.

    Raises:
        ConfigError: a bad config or stage name, a stage whose inputs have not run, or an `out`
            holding a run of another config; StoreError: `out` holds parts of other code.
    """
    if not isinstance(config, PipelineConfig):
        config = pipeline.load_config(config)
    selected = pipeline.select(stages if stages is not None else config.stages)
    if dry_run:
        return describe(pipeline, config, selected, pipeline.plan_notes)
    ranks = current_ranks()
    run_dir = RunDir(out or Path("data/runs") / pipeline.results / config.name, ranks=ranks)
    payload = config_dict(config)
    _check_same_config(run_dir, payload)
    run_dir.check_code(allow_mixed=allow_mixed_code)
    _check_graph(pipeline, selected, run_dir)
    ranks.barrier()
    if ranks.main and not (run_dir.path / "config.json").exists():
        run_dir.write_config(payload)
    ranks.barrier()
    torch.manual_seed(int(config.seed))
    ctx = pipeline.context(config, run_dir, lm)
    for stage in selected:
        if run_dir.is_done(stage.name):
            _say(ranks, f"[{stage.name}] done earlier, skipped")
            continue
        start = time.perf_counter()
        _say(ranks, f"[{stage.name}] running" + (f" on {ranks.world} processes" if ranks.world > 1 else ""))
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        table = stage.run(ctx)
        seconds = time.perf_counter() - start
        missing = [name for name in stage.writes if not run_dir.has_table(name)]
        if missing:
            raise RuntimeError(f"stage {stage.name!r} finished without writing {missing}")
        summary = {"seconds": round(seconds, 2), "rows": int(len(table))}
        if torch.cuda.is_available():
            summary["peak_gpu_gib"] = round(torch.cuda.max_memory_allocated() / 1024**3, 2)
        if ranks.world > 1:
            summary["processes"] = ranks.world
        run_dir.mark_done(stage.name, summary)
        _say(ranks, f"[{stage.name}] finished in {seconds:.1f} s ({len(table)} rows)")
    pipeline.report(ctx)
    return run_dir.path
