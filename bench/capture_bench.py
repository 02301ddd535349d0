"""Capture benchmark: interp capture vs a bare forward and the usual alternatives, side by side.

On one model and one batch of Phase-1 confidence prompts, in one process:
  - bare        HF forward (SDPA), logits at the last position only (`logits_to_keep=1`)
  - interp      interp.capture of 5 (layer, role) pairs (stops after the deepest layer)
  - hidden      HF `output_hidden_states=True`, then gather the same 5 rows
  - tl_bridge   TransformerLens `TransformerBridge.run_with_cache` with a names_filter for the same hooks
  - nnsight     nnsight `trace` saving the same rows (if nnsight is installed)
Each is timed round-robin over repeats (median wall time), with peak memory above the pre-call level (RSS sampled
every 2 ms on CPU; `max_memory_allocated` on CUDA) and tokens/s. Writes JSON and a markdown table.

Shapes: tiny (random tiny Qwen2), qwen2.5-0.5b (CPU-sized), qwen2.5-7b and gemma-3-27b (real shapes,
random weights, bf16 on a GPU). No download: models are built from config.

    python bench/capture_bench.py --shape qwen2.5-0.5b --repeats 5 --out bench/results
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_ratios, check_and_time, parser, report_head, setup, write_report  # noqa: E402
from common import to_markdown as _markdown  # noqa: E402

from interp.forward import capture  # noqa: E402
from interp.io import versions  # noqa: E402

ROLES = ("panl", "confidence_colon")


def pairs_for(n_layers: int) -> list[tuple[int, str]]:
    """5 (layer, role) pairs spread over the depth, the deepest being the last layer."""
    return [(n_layers // 4, "panl"), (n_layers // 2, "panl"), (n_layers // 2, "confidence_colon"), (n_layers - 1, "panl"), (n_layers - 1, "confidence_colon")]


def methods(lm, batch, pairs, bridge, nn_model):
    inputs = batch.model_inputs(lm.device)
    layers = sorted({layer for layer, _ in pairs})
    roles = sorted({role for _, role in pairs})
    rows = torch.arange(len(batch), device=lm.device)
    index = {role: batch.roles[role].to(lm.device) for role in roles}

    def bare():
        lm.model(**inputs, use_cache=False, logits_to_keep=1)

    def interp_capture():
        return capture(lm, batch, layers, roles)

    def hidden_states():
        hidden = lm.model(**inputs, use_cache=False, logits_to_keep=1, output_hidden_states=True).hidden_states
        return {(layer, role): hidden[layer + 1][rows, index[role]].float().cpu() for layer, role in pairs}

    found = {"bare": bare, "interp": interp_capture, "hidden": hidden_states}
    if bridge is not None:
        names = {f"blocks.{layer}.hook_resid_post" for layer in layers}

        def tl_bridge():
            _, cache = bridge.run_with_cache(inputs["input_ids"], attention_mask=inputs["attention_mask"], names_filter=lambda n: n in names)
            return {(layer, role): cache[f"blocks.{layer}.hook_resid_post"][rows, index[role]].float().cpu() for layer, role in pairs}

        found["tl_bridge"] = tl_bridge
    if nn_model is not None:

        def nnsight_trace():
            saved = {}
            with nn_model.trace(dict(inputs)):
                for layer, role in pairs:
                    out = nn_model.model.layers[layer].output
                    saved[(layer, role)] = (out[0] if isinstance(out, tuple) else out)[rows, index[role]].save()
            return {k: v.float().cpu() for k, v in saved.items()}

        found["nnsight"] = nnsight_trace
    return found


def run(args) -> dict:
    device, dtype, lm, batch, bridge, notes = setup(args, ROLES)
    pairs = pairs_for(lm.n_layers)
    nn_model = None
    try:
        from nnsight import LanguageModel

        nn_model = LanguageModel(lm.model, tokenizer=lm.tokenizer)
    except Exception as error:
        notes["nnsight"] = f"not run: {type(error).__name__}: {error}"[:300]
    reference = capture(lm, batch, sorted({l for l, _ in pairs}), list(ROLES))

    def difference(name: str, out) -> float | None:  # the compared methods must read the same values
        return max(float((out[k].float() - reference[k]).abs().max()) for k in pairs) if out is not None else None

    found = methods(lm, batch, pairs, bridge, nn_model)
    results = check_and_time(found, difference, "max_abs_diff_vs_interp", device, args.warmup, args.repeats, notes)
    report = report_head(args.shape, device, dtype, batch, args.repeats)
    add_ratios(results, report["tokens"])
    return {**report, "pairs": [f"L{l}/{r}" for l, r in pairs], "results": results, "notes": notes, "versions": versions()}


def to_markdown(report: dict) -> str:
    columns = ["method", "median_s", "ratio_to_bare", "tokens_per_s", "peak_mb", "max_abs_diff_vs_interp"]
    return _markdown(report, columns, f"pairs {', '.join(report['pairs'])}")


def main():
    cli = parser(__doc__)
    args = cli.parse_args()
    report = run(args)
    write_report(args.out, f"capture-{args.shape}-{report['device'].split()[0].lower()}", report, to_markdown(report))


if __name__ == "__main__":
    main()
