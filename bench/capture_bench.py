"""Capture benchmark: interp capture vs a bare forward and the usual alternatives, side by side.

On one model and one batch of Phase-1 confidence prompts, in one process:
  - bare        HF forward (SDPA), logits at the last position only (`logits_to_keep=1`)
  - interp      interp.capture of 5 (layer, role) pairs (stops after the deepest layer)
  - hidden      HF `output_hidden_states=True`, then gather the same 5 rows
  - tl_bridge   TransformerLens `TransformerBridge.run_with_cache` with a names_filter for the same hooks
  - nnsight     nnsight `trace` saving the same rows (if nnsight is installed)
Each is timed over repeats (median wall time), with peak memory above the pre-call level (RSS sampled
every 2 ms on CPU; `max_memory_allocated` on CUDA) and tokens/s. Writes JSON and a markdown table.

Shapes: tiny (random tiny Qwen2), qwen2.5-0.5b (CPU-sized), qwen2.5-7b and gemma-3-27b (real shapes,
random weights, bf16 on a GPU). No download: models are built from config.

    python bench/capture_bench.py --shape qwen2.5-0.5b --repeats 5 --out bench/results
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import threading
import time
from pathlib import Path

import psutil
import torch

from interp.capture import capture
from interp.models import tiny, wrap
from interp.prompts import CategoricalConfidenceTemplate
from interp.results import markdown_table, versions
from interp.trials import demo_trials

SHAPES = {
    "qwen2.5-0.5b": dict(arch="Qwen2ForCausalLM", hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True, rope_theta=1e6),
    "qwen2.5-7b": dict(arch="Qwen2ForCausalLM", hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4, vocab_size=152064, tie_word_embeddings=False, rope_theta=1e6),
    "gemma-3-27b": dict(arch="Gemma3ForCausalLM", hidden_size=5376, intermediate_size=21504, num_hidden_layers=62, num_attention_heads=32, num_key_value_heads=16, head_dim=128, query_pre_attn_scalar=168, sliding_window=1024, vocab_size=262208),
}
ROLES = ("panl", "confidence_colon")


def build(shape: str, tokenizer_dir: str | None, device: str, dtype: torch.dtype):
    """(LM, folder or None) of the requested shape, random weights, on `device`."""
    import transformers
    from transformers import AutoTokenizer

    if shape == "tiny":
        folder = tiny("qwen2", tokenizer=tokenizer_dir)
        model = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).to(device).eval()
        return wrap(model, AutoTokenizer.from_pretrained(folder), str(folder))
    spec = dict(SHAPES[shape])
    arch = spec.pop("arch")
    if tokenizer_dir is None:
        raise SystemExit(f"--shape {shape} needs --tokenizer (a Qwen or Gemma tokenizer folder, e.g. shared/models/...)")
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    config_class = transformers.Qwen2Config if arch == "Qwen2ForCausalLM" else transformers.Gemma3TextConfig
    config = config_class(**spec, pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    config.architectures = [arch]
    torch.manual_seed(0)
    with torch.device(device):
        model = getattr(transformers, arch)._from_config(config, dtype=dtype, attn_implementation="sdpa").eval()
    return wrap(model, tokenizer, f"random:{shape}")


def pairs_for(n_layers: int) -> list[tuple[int, str]]:
    """5 (layer, role) pairs spread over the depth, the deepest being the last layer."""
    return [(n_layers // 4, "panl"), (n_layers // 2, "panl"), (n_layers // 2, "confidence_colon"), (n_layers - 1, "panl"), (n_layers - 1, "confidence_colon")]


class PeakMemory:
    """Peak memory above the level at entry: CUDA max allocated, or process RSS sampled every 2 ms."""

    def __init__(self, device: str):
        self.cuda = device.startswith("cuda")
        self.peak = 0

    def __enter__(self):
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        else:
            self.process = psutil.Process()
            self.base = self.process.memory_info().rss
            self.running = True
            self.sampled = self.base
            self.thread = threading.Thread(target=self._sample, daemon=True)
            self.thread.start()
        return self

    def _sample(self):
        while self.running:
            self.sampled = max(self.sampled, self.process.memory_info().rss)
            time.sleep(0.002)

    def __exit__(self, *exc):
        if self.cuda:
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() - self.base
        else:
            self.running = False
            self.thread.join()
            self.peak = max(self.sampled, self.process.memory_info().rss) - self.base
        return False


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
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[args.dtype or ("bf16" if device.startswith("cuda") else "fp32")]
    torch.set_grad_enabled(False)
    lm = build(args.shape, args.tokenizer, device, dtype)
    trials = (demo_trials() * ((args.batch_size + 11) // 12))[: args.batch_size]
    batch = CategoricalConfidenceTemplate(strip_answer_punctuation=True).batch(trials, lm.tokenizer, chat=True, padding_side="left")
    if not bool(batch.ok(ROLES).all()):
        raise SystemExit(f"roles did not resolve: {batch.status(ROLES)}")
    pairs = pairs_for(lm.n_layers)
    bridge = nn_model = None
    notes = {}
    if not args.skip_tl:
        try:
            from transformer_lens.model_bridge import TransformerBridge

            bridge = TransformerBridge.boot_transformers(lm.name_or_path if args.shape == "tiny" else "qwen", hf_model=lm.model, tokenizer=lm.tokenizer, device=device, dtype=dtype)
        except Exception as error:  # report, do not hide
            notes["tl_bridge"] = f"not run: {type(error).__name__}: {error}"[:300]
    try:
        from nnsight import LanguageModel

        nn_model = LanguageModel(lm.model, tokenizer=lm.tokenizer)
    except Exception as error:
        notes["nnsight"] = f"not run: {type(error).__name__}: {error}"[:300]
    tokens = int(batch.attention_mask.sum())
    reference = capture(lm, batch, sorted({l for l, _ in pairs}), list(ROLES))
    results = []
    for name, fn in methods(lm, batch, pairs, bridge, nn_model).items():
        try:
            for _ in range(args.warmup):
                out = fn()
            if out is not None:  # the compared methods must read the same values
                worst = max(float((out[k].float() - reference[k]).abs().max()) for k in pairs)
            else:
                worst = None
            times, peaks = [], []
            for _ in range(args.repeats):
                gc.collect()
                with PeakMemory(device) as memory:
                    start = time.perf_counter()
                    fn()
                    if device.startswith("cuda"):
                        torch.cuda.synchronize()
                    times.append(time.perf_counter() - start)
                peaks.append(memory.peak)
            results.append({"method": name, "median_s": statistics.median(times), "min_s": min(times), "peak_mb": max(peaks) / 2**20, "max_abs_diff_vs_interp": worst})
        except Exception as error:
            notes[name] = f"failed: {type(error).__name__}: {error}"[:300]
    bare = next(r["median_s"] for r in results if r["method"] == "bare")
    for r in results:
        r["ratio_to_bare"] = r["median_s"] / bare
        r["tokens_per_s"] = tokens / r["median_s"]
    return {
        "shape": args.shape,
        "device": torch.cuda.get_device_name() if device.startswith("cuda") else f"cpu ({torch.get_num_threads()} threads)",
        "dtype": str(dtype),
        "batch_size": len(batch),
        "seq_len": batch.input_ids.shape[1],
        "tokens": tokens,
        "pairs": [f"L{l}/{r}" for l, r in pairs],
        "repeats": args.repeats,
        "results": results,
        "notes": notes,
        "versions": versions(),
    }


def to_markdown(report: dict) -> str:
    import pandas as pd

    table = pd.DataFrame(report["results"])[["method", "median_s", "ratio_to_bare", "tokens_per_s", "peak_mb", "max_abs_diff_vs_interp"]]
    head = (
        f"### {report['shape']} on {report['device']}, {report['dtype']}, batch {report['batch_size']} × {report['seq_len']} "
        f"({report['tokens']} tokens), pairs {', '.join(report['pairs'])}, median of {report['repeats']}\n\n"
    )
    notes = "".join(f"\n- {k}: {v}" for k, v in report["notes"].items())
    return head + markdown_table(table) + ("\n" + notes if notes else "") + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="tiny", choices=["tiny", *SHAPES])
    parser.add_argument("--tokenizer", default=None, help="tokenizer folder (needed for the real shapes)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None, choices=["fp32", "bf16"])
    parser.add_argument("--skip-tl", action="store_true")
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()
    report = run(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"capture-{args.shape}-{report['device'].split()[0].lower()}"
    (out / f"{stem}.json").write_text(json.dumps(report, indent=2, default=str))
    (out / f"{stem}.md").write_text(to_markdown(report))
    print(to_markdown(report))


if __name__ == "__main__":
    main()
