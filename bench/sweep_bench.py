"""Sweep benchmark: one steering sweep — every layer × the verbal-confidence pipeline's steering
roles × 4 conditions (α = ±2, ±5) on one left-padded batch of Phase-1 prompts, read by the
ten-class readout — three ways:
  - naive         `interp.sweep(..., incremental=False)`: a full forward per cell
  - incremental   `interp.sweep(...)`: one clean forward keeps every layer's output and
                  keys/values; each cell reruns only layers > ℓ on positions ≥ the role's
                  earliest row
  - tl_bridge     TransformerLens `run_with_hooks` per cell, the same α·v added at
                  `blocks.ℓ.hook_resid_post` (its own model copy)
Reported: wall time (methods round-robin), ratio to naive, max |Δ| of the readout's confidence and
logit difference vs naive, and the lower bound — naive time × the share of FLOPs the cells actually
change (layers rerun × positions rerun, attention over the context, plus the clean forward and the
unembedding at the last position) — with the measured incremental time over it.

    python bench/sweep_bench.py --model gemma-3-270m --batch-size 4 --repeats 1
"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PeakMemory, build, check_and_time, confidence_batch, parser, report_head, resolve_device, write_report  # noqa: E402
from common import to_markdown as _markdown  # noqa: E402

from experiments.verbal_confidence.config import SteeringSection  # noqa: E402
from interp.forward import capture  # noqa: E402
from interp.interventions import Steer, reach, sweep  # noqa: E402
from interp.io import versions  # noqa: E402
from interp.models import load_model  # noqa: E402
from interp.tasks import CategoricalConfidenceTemplate  # noqa: E402

ROLES = tuple(SteeringSection().roles)
ALPHAS = (-5.0, -2.0, 2.0, 5.0)
FRACTION = 0.1
"""Steering vectors are random directions at this share of the mean residual norm at the role."""


def setup_model(args):
    """(device, dtype, lm, batch, readout, bridge or None, notes): a real model by registry name
    or folder (`--model`), else a random-weight shape."""
    device, dtype = resolve_device(args.device, args.dtype)
    torch.set_grad_enabled(False)
    if args.model:
        lm = load_model(args.model, dtype=dtype, device_map=None if device == "cpu" else device)
    else:
        lm = build(args.shape, args.tokenizer, device, dtype)
    chat = getattr(lm.tokenizer, "chat_template", None) is not None
    batch = confidence_batch(lm, args.batch_size, ROLES, chat=chat)
    readout = CategoricalConfidenceTemplate(strip_answer_punctuation=True).readout(lm.tokenizer)
    bridge, notes = None, {}
    if not args.skip_tl:
        try:
            bridge = _bridge(lm, args, device, dtype)
        except Exception as error:  # report, do not hide
            notes["tl_bridge"] = f"not run: {type(error).__name__}: {error}"[:300]
    return device, dtype, lm, batch, readout, bridge, notes


def _bridge(lm, args, device, dtype):
    import copy

    from transformer_lens.model_bridge import TransformerBridge

    from interp.models.registry import REGISTRY, cached_folder

    if args.model:
        source = str(cached_folder(REGISTRY[args.model])) if args.model in REGISTRY else args.model
        return TransformerBridge.boot_transformers(source, device=device, dtype=dtype, tokenizer=lm.tokenizer)
    name = lm.name_or_path if args.shape == "tiny" else "qwen"
    return TransformerBridge.boot_transformers(name, hf_model=copy.deepcopy(lm.model), tokenizer=lm.tokenizer, device=device, dtype=dtype)


def steering_vectors(lm, batch, layers: list[int]) -> dict[tuple[int, str], torch.Tensor]:
    """Per (layer, role): a fixed random direction at `FRACTION` of the mean residual norm there."""
    residuals = capture(lm, batch, layers, list(ROLES))
    generator = torch.Generator().manual_seed(0)
    direction = torch.randn(lm.d_model, generator=generator)
    direction = direction / direction.norm()
    return {key: direction * FRACTION * float(value.float().norm(dim=-1).mean()) for key, value in residuals.items()}


def changed_flops(lm, batch, cells: list[list]) -> tuple[float, float]:
    """(FLOPs the sweep's cells actually change plus its clean forward, FLOPs of a full forward
    per cell plus the clean forward), counting decoder matmuls over the rerun positions and
    attention over the context, and the unembedding at the last position."""
    config = lm.text_config
    rows, seq = len(batch), batch.input_ids.shape[1]
    per_token = 2 * sum(p.numel() for p in lm.layers[0].parameters())
    heads, head_dim = config.num_attention_heads, getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    head = 2 * lm.lm_head.weight.numel()

    def forward(first_layer: int, first_position: int) -> float:
        queries = seq - first_position
        context = (first_position + 1 + seq) * queries / 2
        layers = lm.n_layers - first_layer
        return rows * (layers * (per_token * queries + 4 * heads * head_dim * context) + head)

    full = forward(0, 0)
    changed = full
    for specs in cells:
        where = reach(lm, batch, specs)
        changed += forward(where.layer, where.position) if where is not None else rows * head
    return changed, full * (1 + len(cells))


def methods(lm, batch, readout, vectors, bridge, layers: list[int]) -> dict:
    def make(b, layer, role, condition):
        return [Steer(layer, role, vectors[(layer, role)], alpha=float(condition))]

    grid = (make, layers, list(ROLES), [str(a) for a in ALPHAS], readout)
    found = {
        "naive": lambda: sweep(lm, batch, *grid, progress=False, incremental=False),
        "incremental": lambda: sweep(lm, batch, *grid, progress=False),
    }
    if bridge is not None:
        inputs = batch.model_inputs(lm.device)

        def tl_bridge():
            clean = readout.read(bridge.run_with_hooks(inputs["input_ids"], attention_mask=inputs["attention_mask"], fwd_hooks=[])[:, -1, :].float().cpu())
            out = {}
            for layer in layers:
                for role in ROLES:
                    index = batch.roles[role].to(lm.device)
                    rows = torch.arange(len(batch), device=lm.device)
                    for alpha in ALPHAS:
                        delta = (alpha * vectors[(layer, role)]).to(lm.device)

                        def add(resid, hook, index=index, delta=delta):
                            resid = resid.clone()
                            resid[rows, index] = (resid[rows, index].float() + delta).to(resid.dtype)
                            return resid

                        logits = bridge.run_with_hooks(inputs["input_ids"], attention_mask=inputs["attention_mask"], fwd_hooks=[(f"blocks.{layer}.hook_resid_post", add)])
                        out[(layer, role, str(alpha))] = readout.read(logits[:, -1, :].float().cpu(), clean=clean)
            return out

        found["tl_bridge"] = tl_bridge
    return found


def time_once(found: dict, difference, device: str, notes: dict) -> list[dict]:
    """One timed call of each method in turn (round-robin, a single round), its output checked by
    `difference` — for sweeps too long to run twice."""
    results = []
    for name, fn in found.items():
        gc.collect()
        try:
            with PeakMemory(device) as memory:
                start = time.perf_counter()
                out = fn()
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                elapsed = time.perf_counter() - start
        except Exception as error:  # report, do not hide
            notes[name] = f"failed: {type(error).__name__}: {error}"[:300]
            continue
        results.append({"method": name, "median_s": elapsed, "min_s": elapsed, "peak_mb": memory.peak / 2**20, "max_abs_diff_vs_naive": difference(name, out), "output": out})
    return results


def run(args) -> dict:
    device, dtype, lm, batch, readout, bridge, notes = setup_model(args)
    layers = list(range(0, lm.n_layers, args.layer_step))
    vectors = steering_vectors(lm, batch, layers)
    found = methods(lm, batch, readout, vectors, bridge, layers)
    state: dict = {}
    if not (args.repeats == 1 and args.warmup == 0):
        state["reference"] = found["naive"]()

    def difference(name: str, out) -> float:
        if name == "naive" and "reference" not in state:
            state["reference"] = out
        reference = state["reference"]
        keyed = state.setdefault("keyed", reference.set_index(["layer", "role", "condition", "trial_id"]).sort_index())
        if isinstance(out, dict):
            worst = 0.0
            for (layer, role, condition), read in out.items():
                want = keyed.loc[(layer, role, condition)].loc[list(batch.trial_ids)]
                for column in ("confidence", "logit_diff"):
                    ok = np.isfinite(want[column].to_numpy())
                    worst = max(worst, float(np.abs(read[column][ok] - want[column].to_numpy()[ok]).max()))
            return worst
        return float(max((out[c] - reference[c]).abs().max() for c in ("confidence", "logit_diff")))

    if args.repeats == 1 and args.warmup == 0:
        results = time_once(found, difference, device, notes)
    else:
        results = check_and_time(found, difference, "max_abs_diff_vs_naive", device, args.warmup, args.repeats, notes)
    for r in results:
        r.pop("output", None)
    notes["effect"] = f"max |Δ confidence| of a cell vs clean: {float(state['reference']['delta_confidence'].abs().max()):.4f}"
    naive = next(r["median_s"] for r in results if r["method"] == "naive")
    cells = [[Steer(layer, role, vectors[(layer, role)])] for layer in layers for role in ROLES for _ in ALPHAS]
    changed, full = changed_flops(lm, batch, cells)
    lower_bound = naive * changed / full
    for r in results:
        r["ratio_to_naive"] = r["median_s"] / naive
        r["ratio_to_lower_bound"] = r["median_s"] / lower_bound
    report = report_head(args.model or args.shape, device, dtype, batch, args.repeats)
    return {
        **report,
        "cells": len(cells),
        "layers": layers,
        "n_layers": lm.n_layers,
        "roles": list(ROLES),
        "alphas": list(ALPHAS),
        "changed_flops_share": changed / full,
        "lower_bound_s": lower_bound,
        "results": results,
        "notes": notes,
        "versions": versions(),
    }


def to_markdown(report: dict) -> str:
    columns = ["method", "median_s", "ratio_to_naive", "ratio_to_lower_bound", "peak_mb", "max_abs_diff_vs_naive"]
    detail = (
        f"{report['cells']} cells ({len(report['layers'])} of {report['n_layers']} layers × {len(report['roles'])} roles × {len(report['alphas'])} α); "
        f"FLOPs that change: {report['changed_flops_share']:.3f} of naive (lower bound {report['lower_bound_s']:.1f} s)"
    )
    return _markdown(report, columns, detail)


def main():
    cli = parser(__doc__)
    cli.add_argument("--model", default=None, help="a real model: registry name (e.g. gemma-3-270m) or folder; overrides --shape")
    cli.add_argument("--layer-step", type=int, default=1, help="sweep every n-th layer (1: all)")
    args = cli.parse_args()
    report = run(args)
    write_report(args.out, f"sweep-{(args.model or args.shape).replace('/', '_')}-{report['device'].split()[0].lower()}", report, to_markdown(report))


if __name__ == "__main__":
    main()
