"""`--dry-run`: what a config will do — trials, layers, roles and forward passes per stage, with
rough GPU memory and time — from the config and the model's shape, loading no weights.

Each stage's `estimate` returns `Work` rows; the cost model here turns them into forward passes,
prompt tokens and GPU minutes under the assumptions printed with the plan. A sweep cell that runs
incrementally (`interp.interventions.incremental`) costs the share of layers and positions it
reruns (`rerun_share`); its time is the larger of that compute and reading the weights of the
layers it reruns.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from interp.errors import ConfigError
from interp.io import markdown_table

__all__ = ["MEMORY_BANDWIDTH", "PEAK_BF16_FLOPS", "UTILISATION", "Shape", "Work", "describe", "memory_gib", "model_shape", "plan", "rerun_share"]

PEAK_BF16_FLOPS = 989e12
"""H100 SXM dense bf16 peak."""
UTILISATION = 0.35
"""Fraction of peak a batched prefill reaches."""
MEMORY_BANDWIDTH = 3.35e12
"""H100 SXM HBM3 bytes/s; a greedy decode step reads every weight once."""


@dataclass
class Shape:
    """What the estimate needs to know of the model."""

    n_layers: int
    d_model: int
    n_params: float
    source: str


@dataclass
class Work:
    """The work of one stage (or one part of it) for the plan.

    trials × (1 clean + layers × roles × conditions) trial-forwards of prompts of kind `prompt`,
    plus `extra_rows` single forwards and `decode` generation steps; `gpu=False` for CPU-only work.
    layer_share, position_share: the mean share of layers and of positions one cell reruns when
    sweeps run incrementally (`rerun_share`; 1 = a full forward).
    """

    stage: str
    trials: int
    prompt: str
    layers: int = 0
    roles: int = 0
    conditions: int = 0
    extra_rows: int = 0
    decode: int = 0
    note: str = ""
    gpu: bool = True
    layer_share: float = 1.0
    position_share: float = 1.0


def rerun_share(first_layers: Sequence[int], n_layers: int, tails: Sequence[float]) -> tuple[float, float]:
    """(layer share, position share) an incremental cell reruns, averaged over a grid.

    Args:
        first_layers: per layer of the grid, the first decoder layer a cell reruns (ℓ + 1 for a
            residual edit at ℓ, the window start for a block, 0 for corrupted embeddings).
        n_layers: the model's depth.
        tails: per role of the grid, the mean share of a batch's positions at or after the
            role's earliest row (what a cell at that role reruns).
    """
    if not first_layers or not tails:
        return 1.0, 1.0
    layers = sum(n_layers - min(max(first, 0), n_layers) for first in first_layers) / (len(first_layers) * n_layers)
    return layers, sum(tails) / len(tails)


def model_shape(model: Any) -> Shape:
    """The model's depth, width and parameter count: from its config.json when it can be read
    without the network (a local folder, the HF cache, or a tiny model), else from the config's
    model.n_layers / d_model / n_params_billion."""
    name = str(model.name)
    try:
        from transformers import AutoConfig

        if name.startswith("tiny-") and not Path(name).exists():
            from interp.models import tiny

            name = str(tiny(name.removeprefix("tiny-")))
        else:
            from interp.models.registry import REGISTRY, cached_folder

            if name in REGISTRY and (cached_folder(REGISTRY[name]) / "config.json").exists():
                name = str(cached_folder(REGISTRY[name]))
        hf = AutoConfig.from_pretrained(name, revision=model.revision, local_files_only=True)
        text = getattr(hf, "text_config", hf)
        return Shape(int(text.num_hidden_layers), int(text.hidden_size), _parameter_count(hf), f"config.json of {name}")
    except (OSError, ValueError):
        pass
    missing = [key for key in ("n_layers", "d_model", "n_params_billion") if getattr(model, key) is None]
    if missing:
        raise ConfigError(
            f"cannot read the config of {name!r} offline and model.{', model.'.join(missing)} not set; "
            "give the shape in the config file to plan without the network"
        )
    return Shape(int(model.n_layers), int(model.d_model), float(model.n_params_billion) * 1e9, "the config file's model shape")


def _parameter_count(hf_config) -> float:
    """Parameters of a model built on the meta device (no memory)."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        try:
            model = AutoModelForCausalLM.from_config(hf_config)
        except ValueError:
            from transformers import AutoModelForImageTextToText

            model = AutoModelForImageTextToText.from_config(hf_config)
    return float(sum(p.numel() for p in model.parameters()))


def plan(pipeline, config: Any, stages: Sequence | None = None) -> tuple[pd.DataFrame, Shape]:
    """One row per `Work` of the selected stages: trials, layers, roles, conditions, forward
    passes (batches) and rows (trial-forwards), generated tokens, the share of a full forward a
    sweep cell reruns (1 with `incremental: false`), estimated GPU minutes."""
    shape = model_shape(config.model)
    batch = int(config.batch_size)
    incremental = bool(getattr(config, "incremental", True))
    rows = []
    for stage in stages if stages is not None else pipeline.stages:
        if stage.estimate is None:
            continue
        for work in stage.estimate(config, shape):
            cells = work.layers * work.roles * work.conditions
            row_forwards = work.trials * (1 + cells) + work.extra_rows if work.gpu else 0
            layer_share, position_share = (work.layer_share, work.position_share) if incremental and cells else (1.0, 1.0)
            cell_passes = math.ceil(work.trials / batch) * cells if work.gpu else 0
            rows.append(
                {
                    "stage": work.stage,
                    "trials": work.trials,
                    "layers": work.layers,
                    "roles": work.roles,
                    "conditions": work.conditions,
                    "forward_passes": math.ceil(work.trials / batch) * (1 + cells) + math.ceil(work.extra_rows / batch) if work.gpu else 0,
                    "row_forwards": row_forwards,
                    "decode_steps": work.decode,
                    "prompt_tokens": row_forwards * pipeline.prompt_tokens[work.prompt],
                    "rerun_share": layer_share * position_share,
                    "note": work.note,
                    "_cell_tokens": work.trials * cells * pipeline.prompt_tokens[work.prompt] if work.gpu else 0,
                    "_cell_passes": cell_passes,
                    "_layer_share": layer_share,
                }
            )
    table = pd.DataFrame(rows)
    flops_rate = PEAK_BF16_FLOPS * UTILISATION
    weight_read = 2 * shape.n_params / MEMORY_BANDWIDTH
    whole = table["prompt_tokens"] - table["_cell_tokens"]
    cells = table["_cell_tokens"] * table["rerun_share"]
    cell_time = np.maximum(2 * shape.n_params * cells / flops_rate, table["_cell_passes"] * table["_layer_share"] * weight_read)
    decode_time = table["decode_steps"] * weight_read
    table["est_gpu_minutes"] = (2 * shape.n_params * whole / flops_rate + cell_time + decode_time) / 60
    return table.drop(columns=["_cell_tokens", "_cell_passes", "_layer_share"]), shape


def memory_gib(shape: Shape, batch: int, prompt_tokens: int, dtype_bytes: int = 2, new_tokens: int = 48) -> dict[str, float]:
    """Rough peak GPU memory: weights, the KV cache of a generation batch (prompt + 48 tokens),
    and the largest single-layer activations of a prefill batch."""
    tokens = prompt_tokens + new_tokens
    weights = shape.n_params * dtype_bytes
    kv_cache = 2 * shape.n_layers * batch * tokens * shape.d_model * dtype_bytes
    activations = 16 * batch * tokens * shape.d_model * dtype_bytes
    gib = 1024**3
    return {"weights": weights / gib, "kv_cache": kv_cache / gib, "activations": activations / gib, "total": (weights + kv_cache + activations) / gib}


def _count(n: float) -> str:
    return f"{n / 1e9:.2f} B" if n >= 1e9 else f"{n / 1e6:.2f} M"


def describe(pipeline, config: Any, stages: Sequence | None = None, notes: Callable[[Any, Shape], Sequence[str]] | None = None) -> str:
    """The plan as text for the terminal; `notes` adds the pipeline's own lines (e.g. store size)."""
    table, shape = plan(pipeline, config, stages)
    memory = memory_gib(shape, int(config.batch_size), max(pipeline.prompt_tokens.values()))
    lines = [
        f"# Plan: {config.name}",
        f"model {config.model.name}: {shape.n_layers} layers, d_model {shape.d_model}, {_count(shape.n_params)} parameters (shape from {shape.source})",
        *(notes(config, shape) if notes else []),
        "",
        markdown_table(table.assign(rerun_share=table["rerun_share"].map("{:.2f}".format)), float_format="{:.1f}"),
        "",
        f"total: {int(table['forward_passes'].sum()):,} forward passes, {int(table['row_forwards'].sum()):,} trial-forwards, "
        f"~{table['est_gpu_minutes'].sum() / 60:.1f} GPU hours",
        f"peak GPU memory (bf16, batch {config.batch_size}): ~{memory['total']:.1f} GiB "
        f"(weights {memory['weights']:.1f}, KV cache {memory['kv_cache']:.1f}, activations {memory['activations']:.1f})",
        f"assumptions: H100, prefill at {UTILISATION:.0%} of {PEAK_BF16_FLOPS / 1e12:.0f} TFLOP/s, decode bound by "
        f"{MEMORY_BANDWIDTH / 1e12:.2f} TB/s, prompts of {dict(pipeline.prompt_tokens)} tokens; CPU-only stages count no GPU time.",
        (
            "sweep cells run incrementally: each costs its rerun_share of a full forward's FLOPs (the layers from its "
            "first changed one × the positions from its role's earliest row, measured on our templates), at the same "
            "utilisation, and at least the time to read the weights of the layers it reruns"
            if bool(getattr(config, "incremental", True))
            else "incremental: false — every sweep cell is a full forward"
        ),
    ]
    return "\n".join(lines)
