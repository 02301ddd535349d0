"""The framework the paper pipelines share: typed configs with one layer-spec parser, `Stage`
and `Pipeline` declarations, a runner that checks the stage graph, resumes from committed parts,
refuses to mix code, times stages and records GPU memory, a base `Context`, the `--dry-run` cost
model, report helpers, and discovery of pipelines for `interp run --list`."""

from interp.pipeline.config import DataSection, Layers, ModelSection, PipelineConfig, config_dict, load_config, parse_layers, resolve_path
from interp.pipeline.context import Context
from interp.pipeline.plan import Shape, Work, describe, model_shape, plan, rerun_share
from interp.pipeline.registry import find_pipeline, pipelines
from interp.pipeline.runner import run_pipeline
from interp.pipeline.stage import Pipeline, Stage

__all__ = [
    "Context",
    "DataSection",
    "Layers",
    "ModelSection",
    "Pipeline",
    "PipelineConfig",
    "Shape",
    "Stage",
    "Work",
    "config_dict",
    "describe",
    "find_pipeline",
    "load_config",
    "model_shape",
    "parse_layers",
    "pipelines",
    "plan",
    "rerun_share",
    "resolve_path",
    "run_pipeline",
]
