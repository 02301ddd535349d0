"""Attention-blocking benchmark: interp's BlockAttention vs a bare forward and TransformerLens.

On one model and one left-padded batch of Phase-1 confidence prompts, in one process, all reading
the logits at the last prompt token:
  - bare          HF forward (SDPA), `logits_to_keep=1`
  - interp_sdpa   the same forward inside `interventions(..., [BlockAttention(...)])` (SDPA kept)
  - bare_eager    HF forward with eager attention (what blocking by forcing eager would cost)
  - interp_eager  BlockAttention on the eager kernel
  - tl_bridge     TransformerLens `run_with_hooks` with a vectorised −∞ `hook_attn_scores` hook on
                  the same pairs and layers (TL runs eager attention)
The edge is the heaviest of verbal_confidence.md §6.9: every later token → the answer span
(ALL→A), in the 12-layer window centred on the middle layer. Each method's logits are compared
with interp_sdpa (max_abs_diff). Methods run round-robin; median wall time, peak memory above
the pre-call level, tokens/s.

    python bench/blocking_bench.py --shape qwen2.5-0.5b --tokenizer ../shared/models/qwen2.5-7b-instruct
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHAPES, add_ratios, boot_bridge, build, confidence_batch, device_name, resolve_device, time_methods, write_report  # noqa: E402
from common import to_markdown as _markdown  # noqa: E402

from interp.attention import LATER, edge_mask, layer_window  # noqa: E402
from interp.interventions import BlockAttention, interventions  # noqa: E402
from interp.readout import last_token_logits  # noqa: E402
from interp.results import versions  # noqa: E402

ROLES = ("panl", "confidence_colon")


def methods(lm, batch, spec: BlockAttention, bridge) -> dict:
    inputs = batch.model_inputs(lm.device)
    config = lm.text_config

    def bare():
        return last_token_logits(lm, batch)

    def interp_sdpa():
        with interventions(lm, batch, [spec]):
            return last_token_logits(lm, batch)

    def on_eager(fn):
        def run():
            config._attn_implementation_internal = "eager"
            try:
                return fn()
            finally:
                config._attn_implementation_internal = "sdpa"

        return run

    found = {"bare": bare, "interp_sdpa": interp_sdpa, "bare_eager": on_eager(bare), "interp_eager": on_eager(interp_sdpa)}
    if bridge is not None:
        blocked = edge_mask(batch, spec.targets, spec.sources)[0][:, None].to(lm.device)
        minus_inf = torch.tensor(float("-inf"), device=lm.device)

        def block(scores, hook):
            return torch.where(blocked, minus_inf.to(scores.dtype), scores)

        hooks = [(f"blocks.{layer}.attn.hook_attn_scores", block) for layer in spec.layers]

        def tl_bridge():
            logits = bridge.run_with_hooks(inputs["input_ids"], attention_mask=inputs["attention_mask"], fwd_hooks=hooks)
            return logits[:, -1, :].float().cpu()

        found["tl_bridge"] = tl_bridge
    return found


def run(args) -> dict:
    device, dtype = resolve_device(args.device, args.dtype)
    torch.set_grad_enabled(False)
    lm = build(args.shape, args.tokenizer, device, dtype)
    batch = confidence_batch(lm, args.batch_size, ROLES)
    spec = BlockAttention(LATER, "answer", layers=layer_window(lm.n_layers // 2, lm.n_layers, args.window))
    bridge = None
    notes = {}
    if not args.skip_tl:
        try:
            bridge = boot_bridge(lm, args.shape, device, dtype)
        except Exception as error:  # report, do not hide
            notes["tl_bridge"] = f"not run: {type(error).__name__}: {error}"[:300]
    tokens = int(batch.attention_mask.sum())
    found = methods(lm, batch, spec, bridge)
    reference = found["interp_sdpa"]()
    clean = found["bare"]()
    notes["effect"] = f"max |blocked − clean| logit at the last token: {float((reference - clean).abs().max()):.4f}"
    worst = {}
    for name, fn in list(found.items()):
        try:
            worst[name] = float((fn().float() - reference).abs().max()) if name not in ("bare", "bare_eager") else None
        except Exception as error:
            notes[name] = f"failed: {type(error).__name__}: {error}"[:300]
            del found[name]
    results = time_methods(found, device, args.warmup, args.repeats, notes)
    for r in results:
        r["max_abs_diff_vs_interp_sdpa"] = worst[r["method"]]
    add_ratios(results, tokens)
    return {
        "shape": args.shape,
        "device": device_name(device),
        "dtype": str(dtype),
        "batch_size": len(batch),
        "seq_len": batch.input_ids.shape[1],
        "tokens": tokens,
        "edge": f"{LATER}→answer",
        "layers": list(spec.layers),
        "blocked_pairs_per_row": float(edge_mask(batch, spec.targets, spec.sources)[0].flatten(1).sum(-1).float().mean()),
        "repeats": args.repeats,
        "results": results,
        "notes": notes,
        "versions": versions(),
    }


def to_markdown(report: dict) -> str:
    columns = ["method", "median_s", "ratio_to_bare", "tokens_per_s", "peak_mb", "max_abs_diff_vs_interp_sdpa"]
    layers = report["layers"]
    detail = f"edge {report['edge']} ({report['blocked_pairs_per_row']:.0f} pairs/row) in layers {layers[0]}–{layers[-1]}"
    return _markdown(report, columns, detail)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="tiny", choices=["tiny", *SHAPES])
    parser.add_argument("--tokenizer", default=None, help="tokenizer folder (needed for the real shapes)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--window", type=int, default=12, help="layers in the blocking window")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None, choices=["fp32", "bf16"])
    parser.add_argument("--skip-tl", action="store_true")
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()
    report = run(args)
    write_report(args.out, f"blocking-{args.shape}-{report['device'].split()[0].lower()}", report, to_markdown(report))


if __name__ == "__main__":
    main()
