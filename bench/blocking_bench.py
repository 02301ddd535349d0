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

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_ratios, check_and_time, parser, report_head, setup, write_report  # noqa: E402
from common import to_markdown as _markdown  # noqa: E402

from interp.forward import last_token_logits  # noqa: E402
from interp.interventions import LATER, BlockAttention, edge_mask, interventions, layer_window  # noqa: E402
from interp.io import versions  # noqa: E402

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
    device, dtype, lm, batch, bridge, notes = setup(args, ROLES)
    spec = BlockAttention(LATER, "answer", layers=layer_window(lm.n_layers // 2, lm.n_layers, args.window))
    found = methods(lm, batch, spec, bridge)
    reference = found["interp_sdpa"]()
    clean = found["bare"]()
    notes["effect"] = f"max |blocked − clean| logit at the last token: {float((reference - clean).abs().max()):.4f}"

    def difference(name: str, out) -> float | None:
        return None if name in ("bare", "bare_eager") else float((out.float() - reference).abs().max())

    results = check_and_time(found, difference, "max_abs_diff_vs_interp_sdpa", device, args.warmup, args.repeats, notes)
    report = report_head(args.shape, device, dtype, batch, args.repeats)
    add_ratios(results, report["tokens"])
    blocked = edge_mask(batch, spec.targets, spec.sources)[0]
    return {
        **report,
        "edge": f"{LATER}→answer",
        "layers": list(spec.layers),
        "blocked_pairs_per_row": float(blocked.flatten(1).sum(-1).float().mean()),
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
    cli = parser(__doc__)
    cli.add_argument("--window", type=int, default=12, help="layers in the blocking window")
    args = cli.parse_args()
    report = run(args)
    write_report(args.out, f"blocking-{args.shape}-{report['device'].split()[0].lower()}", report, to_markdown(report))


if __name__ == "__main__":
    main()
