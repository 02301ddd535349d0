"""Reproduction of *Causal Evidence that Language Models use Confidence to Drive Behavior*
(abstention.md): typed-foil MCQ items, Phase 1 calibration, Phase 2 abstention models with
difficulty / RAG / embedding controls, Phase 3 steering at AC and parallel mediation, Phase 4
instructed thresholds, and the v2 verbal confidence and AC decoding — each a cached, resumable
stage of one `Pipeline`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from experiments.abstention.config import AbstentionConfig, load_config
from experiments.abstention.pipeline import PIPELINE

STAGES = PIPELINE.stage_names

__all__ = ["PIPELINE", "STAGES", "AbstentionConfig", "load_config", "run"]


def run(config: str | os.PathLike | AbstentionConfig | None = None, stages: Any = None, out: str | os.PathLike | None = None, **options: Any) -> Path | str:
    """Run (or with dry_run=True plan) the pipeline; see `interp.pipeline.run_pipeline`."""
    return PIPELINE.run(config, stages=stages, out=out, **options)
