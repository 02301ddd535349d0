"""`--dry-run`: what a config will do — trials, layers, roles and forward passes per stage, with
rough GPU memory and time — from the config and the model's shape, loading no weights.

Each stage's `estimate` returns `Work` rows; the cost model here turns them into forward passes,
prompt tokens and GPU minutes under the assumptions printed with the plan.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from interp.errors import ConfigError
from interp.io import markdown_table

__all__ = ["MEMORY_BANDWIDTH", "PEAK_BF16_FLOPS", "UTILISATION", "Shape", "Work", "describe", "memory_gib", "model_shape", "plan"]

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
    passes (batches) and rows (trial-forwards), generated tokens, estimated GPU minutes."""
    shape = model_shape(config.model)
    batch = int(config.batch_size)
    rows = []
    for stage in stages if stages is not None else pipeline.stages:
        if stage.estimate is None:
            continue
        for work in stage.estimate(config, shape):
            cells = work.layers * work.roles * work.conditions
            row_forwards = work.trials * (1 + cells) + work.extra_rows if work.gpu else 0
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
                    "note": work.note,
                }
            )
    table = pd.DataFrame(rows)
    prefill = 2 * shape.n_params * table["prompt_tokens"] / (PEAK_BF16_FLOPS * UTILISATION)
    decode_time = table["decode_steps"] * 2 * shape.n_params / MEMORY_BANDWIDTH
    table["est_gpu_minutes"] = (prefill + decode_time) / 60
    return table, shape


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
        markdown_table(table, float_format="{:.1f}"),
        "",
        f"total: {int(table['forward_passes'].sum()):,} forward passes, {int(table['row_forwards'].sum()):,} trial-forwards, "
        f"~{table['est_gpu_minutes'].sum() / 60:.1f} GPU hours",
        f"peak GPU memory (bf16, batch {config.batch_size}): ~{memory['total']:.1f} GiB "
        f"(weights {memory['weights']:.1f}, KV cache {memory['kv_cache']:.1f}, activations {memory['activations']:.1f})",
        f"assumptions: H100, prefill at {UTILISATION:.0%} of {PEAK_BF16_FLOPS / 1e12:.0f} TFLOP/s, decode bound by "
        f"{MEMORY_BANDWIDTH / 1e12:.2f} TB/s, prompts of {dict(pipeline.prompt_tokens)} tokens; CPU-only stages count no GPU time.",
    ]
    return "\n".join(lines)
