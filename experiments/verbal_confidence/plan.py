"""`--dry-run`: what a config will do — trials, layers, roles and forward passes per stage, with
rough GPU memory and time — computed from the config and the model's shape, loading no weights."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from experiments.verbal_confidence.blocking import CATEGORICAL_EDGES, MINIMAL_EDGES
from experiments.verbal_confidence.config import STAGES, resolve_layers

# Assumptions of the estimate (stated in the printed plan).
PEAK_BF16_FLOPS = 989e12
"""H100 SXM dense bf16 peak."""
UTILISATION = 0.35
"""Fraction of peak a batched prefill reaches."""
MEMORY_BANDWIDTH = 3.35e12
"""H100 SXM HBM3 bytes/s; a greedy decode step reads every weight once."""
PROMPT_TOKENS = {"phase0": 230, "categorical": 280, "numeric": 150, "minimal": 110}
"""Typical prompt lengths with a chat template (our templates on TriviaQA)."""


@dataclass
class Shape:
    """What the estimate needs to know of the model."""

    n_layers: int
    d_model: int
    n_params: float
    source: str


def model_shape(config: Mapping[str, Any]) -> Shape:
    """The model's depth, width and parameter count: from its config.json when it can be read
    without the network (a local folder, the HF cache, or a tiny model), else from the config's
    model.n_layers / d_model / n_params_billion."""
    spec = config["model"]
    name = str(spec["name"])
    try:
        from transformers import AutoConfig

        if name.startswith("tiny-") and not Path(name).exists():
            from interp.models import tiny

            name = str(tiny(name.removeprefix("tiny-")))
        hf = AutoConfig.from_pretrained(name, revision=spec["revision"], local_files_only=True)
        text = getattr(hf, "text_config", hf)
        n_params = _parameter_count(hf)
        return Shape(int(text.num_hidden_layers), int(text.hidden_size), n_params, f"config.json of {name}")
    except (OSError, ValueError):
        pass
    missing = [key for key in ("n_layers", "d_model", "n_params_billion") if spec[key] is None]
    if missing:
        raise ValueError(
            f"cannot read the config of {name!r} offline and model.{', model.'.join(missing)} not set; "
            "give the shape in the config file to plan without the network"
        )
    return Shape(int(spec["n_layers"]), int(spec["d_model"]), float(spec["n_params_billion"]) * 1e9, "the config file's model shape")


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


def plan(config: Mapping[str, Any], stages: Sequence[str] = STAGES) -> tuple[pd.DataFrame, Shape]:
    """One row per stage: trials, layers, roles, conditions, forward passes (batches) and rows
    (trial-forwards), generated tokens, estimated GPU time."""
    shape = model_shape(config)
    n = shape.n_layers
    batch = int(config["batch_size"])
    sets = config["sets"]
    n_all = sum(int(v) for v in sets.values())

    def layers(section: str, key: str = "layers") -> list[int]:
        return resolve_layers(config[section][key], n, f"{section}.{key}")

    rows = []

    def add(stage: str, trials: int, n_layers: int, roles: int, conditions: int, prompt: str, extra_rows: int = 0, decode: int = 0, note: str = "", gpu: bool = True):
        cells = n_layers * roles * conditions
        row_forwards = trials * (1 + cells) + extra_rows if gpu else 0
        rows.append(
            {
                "stage": stage,
                "trials": trials,
                "layers": n_layers,
                "roles": roles,
                "conditions": conditions,
                "forward_passes": math.ceil(trials / batch) * (1 + cells) + math.ceil(extra_rows / batch) if gpu else 0,
                "row_forwards": row_forwards,
                "decode_steps": decode,
                "prompt_tokens": row_forwards * PROMPT_TOKENS[prompt],
                "note": note,
            }
        )

    spec = config["behaviour"]
    n_behaviour = int(sets.get("behaviour", 0))
    extra = n_all + (n_behaviour if spec["minimal"] else 0) + (n_behaviour if spec["numeric"] else 0)
    decode = math.ceil(n_all / batch) * int(spec["max_new_tokens"]) + (math.ceil(n_behaviour / batch) * int(spec["numeric_max_new_tokens"]) if spec["numeric"] else 0)
    add("behaviour", n_all, 0, 0, 0, "phase0", extra_rows=extra, decode=decode, note="Phase 0 generation, Phase 1 readout, numeric and minimal variants")
    captured = int(sets.get("activation", 0)) + int(sets.get("calibration", 0))
    add("capture", captured, 0, 0, 0, "categorical", note=f"{len(layers('capture'))} layers x {len(config['capture']['roles'])} roles stored")
    s = config["steering"]
    add("steering", int(s["n_test_high"]) + int(s["n_test_low"]), len(layers("steering")), len(s["roles"]), 2 * len(s["alphas"]), "categorical")
    p = config["patching"]
    add("patching", int(p["n_test"]), len(layers("patching")), len(p["roles"]), 1, "categorical", extra_rows=int(p["n_test"]), note="+1 corrupted run per trial")
    z = config["noising"]
    add("noising", int(z["n_test_high"]) + int(z["n_test_low"]), len(layers("noising")), len(z["roles"]), 1, "categorical")
    w = config["swap"]
    add("swap", 4 * int(w["n_recipients"]), len(layers("swap")), len(w["roles"]), 1, "categorical", note="4 regimes")
    add("ood", int(sets.get("activation", 0)), 0, 0, 0, "categorical", note="one corrupted capture per trial")
    b = config["blocking"]
    centres = len(resolve_layers(b["centres"], n, "blocking.centres"))
    add("blocking (minimal)", int(b["n_minimal"]), centres, len(MINIMAL_EDGES), 1, "minimal", note=f"{b['width']}-layer windows")
    add("blocking (categorical)", int(b["n_categorical"]), centres, len(CATEGORICAL_EDGES), 1, "categorical", note=f"{b['width']}-layer windows")
    r = config["probes"]
    add("probes", int(sets.get("activation", 0)), len(layers("probes")), len(r["roles"]), 0, "categorical", note="CPU: 2 targets x 5-fold CV per (layer, role)", gpu=False)
    add("variance", int(sets.get("activation", 0)), len(layers("variance")), 1, 0, "categorical", note="CPU: 7 baselines x 3 ridge models", gpu=False)
    table = pd.DataFrame(rows)
    table = table[table["stage"].str.split(" ").str[0].isin(stages)].reset_index(drop=True)
    prefill = 2 * shape.n_params * table["prompt_tokens"] / (PEAK_BF16_FLOPS * UTILISATION)
    decode_time = table["decode_steps"] * 2 * shape.n_params / MEMORY_BANDWIDTH
    table["est_gpu_minutes"] = (prefill + decode_time) / 60
    return table, shape


def memory_gib(shape: Shape, batch: int, dtype_bytes: int = 2) -> dict[str, float]:
    """Rough peak GPU memory: weights, the KV cache of a Phase-0 batch (prompt + 48 tokens), and
    the largest single-layer activations of a prefill batch."""
    tokens = PROMPT_TOKENS["categorical"] + 48
    weights = shape.n_params * dtype_bytes
    kv_cache = 2 * shape.n_layers * batch * tokens * shape.d_model * dtype_bytes
    activations = 16 * batch * tokens * shape.d_model * dtype_bytes
    gib = 1024**3
    return {"weights": weights / gib, "kv_cache": kv_cache / gib, "activations": activations / gib, "total": (weights + kv_cache + activations) / gib}


def _count(n: float) -> str:
    return f"{n / 1e9:.2f} B" if n >= 1e9 else f"{n / 1e6:.2f} M"


def _store_gib(config: Mapping[str, Any], shape: Shape) -> float:
    rows = int(config["sets"].get("activation", 0)) + int(config["sets"].get("calibration", 0))
    layers = len(resolve_layers(config["capture"]["layers"], shape.n_layers, "capture.layers"))
    width = 2 if str(config["capture"]["dtype"]).lower() in ("bf16", "bfloat16", "fp16", "float16") else 4
    return rows * layers * len(config["capture"]["roles"]) * shape.d_model * width / 1024**3


def describe(config: Mapping[str, Any], stages: Sequence[str] = STAGES) -> str:
    """The plan as text for the terminal."""
    from interp.results import markdown_table

    table, shape = plan(config, stages)
    memory = memory_gib(shape, int(config["batch_size"]))
    sets = ", ".join(f"{k} {v}" for k, v in config["sets"].items())
    lines = [
        f"# Plan: {config['name']}",
        f"model {config['model']['name']}: {shape.n_layers} layers, d_model {shape.d_model}, {_count(shape.n_params)} parameters (shape from {shape.source})",
        f"disjoint trial sets (seed {config['seed']}): {sets}; batch size {config['batch_size']}",
        "",
        markdown_table(table, float_format="{:.1f}"),
        "",
        f"total: {int(table['forward_passes'].sum()):,} forward passes, {int(table['row_forwards'].sum()):,} trial-forwards, "
        f"~{table['est_gpu_minutes'].sum() / 60:.1f} GPU hours",
        f"peak GPU memory (bf16, batch {config['batch_size']}): ~{memory['total']:.1f} GiB "
        f"(weights {memory['weights']:.1f}, KV cache {memory['kv_cache']:.1f}, activations {memory['activations']:.1f})",
        f"activation store: ~{_store_gib(config, shape):.1f} GiB on disk",
        f"assumptions: H100, prefill at {UTILISATION:.0%} of {PEAK_BF16_FLOPS / 1e12:.0f} TFLOP/s, decode bound by "
        f"{MEMORY_BANDWIDTH / 1e12:.2f} TB/s, prompts of {PROMPT_TOKENS} tokens; probes and variance partitioning run on the CPU.",
    ]
    return "\n".join(lines)
