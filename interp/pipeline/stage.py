"""Stages and pipelines: what a paper's reproduction declares, so that the shared runner can
check its graph, plan it, run it, resume it and report it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from interp.errors import ConfigError
from interp.pipeline.config import PipelineConfig, load_config

if TYPE_CHECKING:
    from interp.pipeline.context import Context
    from interp.pipeline.plan import Shape, Work

__all__ = ["Pipeline", "Stage"]


@dataclass(frozen=True)
class Stage:
    """One step of a pipeline.

    Attributes:
        name: stage name (its parts live in parts/<name>/, its marker in stages/<name>.json).
        run: ctx → the stage's main table (its length is the stage's row count).
        requires: stages whose outputs it reads; each must run earlier, or have run before.
        writes: tables it writes (checked to exist once it has run).
        estimate: (config, model shape) → the work it plans, for `--dry-run`.
        description: one line for `--dry-run` and the docs.
    """

    name: str
    run: Callable[[Context], pd.DataFrame]
    requires: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    estimate: Callable[[Any, Shape], Sequence[Work]] | None = None
    description: str = ""


@dataclass(frozen=True)
class Pipeline:
    """A paper's reproduction: its stages in run order, its config class, its context and report.

    Attributes:
        name: the CLI name (`interp run <name>`).
        description: one line for `interp run --list`.
        config: the dataclass of its config (a `PipelineConfig`).
        stages: stages in run order.
        context: the `Context` subclass its stages receive.
        report: ctx → writes figures and report.md, returns its path.
        configs: folder of its YAML configs.
        default_config: file in `configs` used when none is given (None: the defaults).
        prompt_tokens: typical prompt length per template kind, for the `--dry-run` cost model.
        results: folder under data/runs/ for default output folders.
        plan_notes: (config, shape) → extra lines of the `--dry-run` plan.
    """

    name: str
    description: str
    config: type[PipelineConfig]
    stages: tuple[Stage, ...]
    context: type
    report: Callable[[Context], Path]
    configs: Path
    default_config: str | None = None
    prompt_tokens: Mapping[str, int] = field(default_factory=dict)
    results: str = ""
    plan_notes: Callable[[Any, Shape], Sequence[str]] | None = None

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for stage in self.stages:
            if stage.name in seen:
                raise ConfigError(f"pipeline {self.name}: stage {stage.name!r} appears twice")
            later = [r for r in stage.requires if r not in seen]
            if later:
                raise ConfigError(f"pipeline {self.name}: stage {stage.name!r} requires {later}, which do not run before it")
            seen.add(stage.name)

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(stage.name for stage in self.stages)

    def select(self, stages: str | Sequence[str] | None) -> list[Stage]:
        """"all"/None → every stage; "behaviour,steering" or a list → those, in run order."""
        if stages is None or stages == "all":
            return list(self.stages)
        names = [s.strip() for s in (stages.split(",") if isinstance(stages, str) else stages) if s.strip()]
        unknown = [s for s in names if s not in self.stage_names]
        if unknown:
            raise ConfigError(f"unknown stages {unknown}; the stages are {', '.join(self.stage_names)}")
        return [stage for stage in self.stages if stage.name in names]

    def load_config(self, path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> PipelineConfig:
        """This pipeline's config: defaults, then a YAML file (default: `default_config`), then overrides."""
        if path is None and self.default_config is not None:
            path = self.configs / self.default_config
        return load_config(self.config, path, overrides)

    def run(self, config: Any = None, stages: str | Sequence[str] | None = None, out: str | Path | None = None, **options: Any) -> Path | str:
        """`interp.pipeline.runner.run_pipeline` for this pipeline (see there)."""
        from interp.pipeline.runner import run_pipeline

        return run_pipeline(self, config, stages=stages, out=out, **options)
