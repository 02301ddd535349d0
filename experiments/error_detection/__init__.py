"""Reproduction of *How LLMs Detect and Correct Their Own Errors* (error_detection.md): Stage 0
answers and verbal confidence (the verbal-confidence pipeline's own parts), verification and
correction, SDT and the P2 regressions, PANL probes against the behavioural baseline, P(IK),
foils, cross-task transfer, corruption + patching and noising measured in d′ — each a cached,
resumable stage of one `Pipeline`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from experiments.error_detection.config import ErrorDetectionConfig, load_config
from experiments.error_detection.pipeline import PIPELINE

STAGES = PIPELINE.stage_names

__all__ = ["PIPELINE", "STAGES", "ErrorDetectionConfig", "load_config", "run"]


def run(config: str | os.PathLike | ErrorDetectionConfig | None = None, stages: Any = None, out: str | os.PathLike | None = None, **options: Any) -> Path | str:
    """Run (or with dry_run=True plan) the pipeline; see `interp.pipeline.run_pipeline`."""
    return PIPELINE.run(config, stages=stages, out=out, **options)
