"""Reproduction of *How do LLMs Compute Verbal Confidence?* (verbal_confidence.md): behaviour,
activation capture, steering, corruption + patching, noising, swap, OOD check, attention
blocking, probes and variance partitioning, each a cached, resumable stage of one `Pipeline`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from experiments.verbal_confidence.config import VerbalConfidenceConfig, load_config
from experiments.verbal_confidence.pipeline import PIPELINE

STAGES = PIPELINE.stage_names

__all__ = ["PIPELINE", "STAGES", "VerbalConfidenceConfig", "load_config", "run"]


def run(config: str | os.PathLike | VerbalConfidenceConfig | None = None, stages: Any = None, out: str | os.PathLike | None = None, **options: Any) -> Path | str:
    """Run (or with dry_run=True plan) the pipeline; see `interp.pipeline.run_pipeline`."""
    return PIPELINE.run(config, stages=stages, out=out, **options)
