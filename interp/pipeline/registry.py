"""Pipelines found without editing the CLI: every package under `experiments/` that exposes a
`PIPELINE`, and any installed package that declares one under the `interp.pipelines` entry-point
group."""

from __future__ import annotations

import importlib
import pkgutil
from importlib import metadata

from interp.errors import ConfigError

__all__ = ["find_pipeline", "pipelines"]


def pipelines() -> dict:
    """Pipeline name → `Pipeline`, sorted by name."""
    found = {}
    try:
        import experiments
    except ImportError:
        experiments = None
    if experiments is not None:
        for info in pkgutil.iter_modules(experiments.__path__):
            if info.ispkg:
                module = importlib.import_module(f"experiments.{info.name}")
                pipeline = getattr(module, "PIPELINE", None)
                if pipeline is not None:
                    found[pipeline.name] = pipeline
    for entry in metadata.entry_points(group="interp.pipelines"):
        pipeline = entry.load()
        found.setdefault(pipeline.name, pipeline)
    return dict(sorted(found.items()))


def find_pipeline(name: str):
    """The pipeline called `name`; a ConfigError lists the known ones."""
    known = pipelines()
    if name not in known:
        raise ConfigError(f"no pipeline {name!r}; the pipelines are {', '.join(known) or 'none'} (interp run --list)")
    return known[name]
