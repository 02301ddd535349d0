"""Shared benchmark parts: random-weight models of real shapes (built from config, no download),
peak-memory measurement, a timing loop, and report writing."""

from __future__ import annotations

import gc
import json
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import torch

from interp.io import markdown_table
from interp.models import tiny, wrap

SHAPES = {
    "qwen2.5-0.5b": dict(arch="Qwen2ForCausalLM", hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True, rope_theta=1e6),
    "qwen2.5-7b": dict(arch="Qwen2ForCausalLM", hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4, vocab_size=152064, tie_word_embeddings=False, rope_theta=1e6),
    "gemma-3-27b": dict(arch="Gemma3ForCausalLM", hidden_size=5376, intermediate_size=21504, num_hidden_layers=62, num_attention_heads=32, num_key_value_heads=16, head_dim=128, query_pre_attn_scalar=168, sliding_window=1024, vocab_size=262208),
}
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


def resolve_device(device: str | None, dtype: str | None) -> tuple[str, torch.dtype]:
    """--device / --dtype defaults: CUDA + bf16 when a GPU is present, else CPU + fp32."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return device, {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype or ("bf16" if device.startswith("cuda") else "fp32")]


def confidence_batch(lm, batch_size: int, roles: tuple[str, ...], chat: bool = True):
    """A left-padded batch of Phase-1 prompts over the built-in trials, all `roles` resolved."""
    from interp.tasks import CategoricalConfidenceTemplate, demo_trials

    trials = (demo_trials() * ((batch_size + 11) // 12))[:batch_size]
    batch = CategoricalConfidenceTemplate(strip_answer_punctuation=True).batch(trials, lm.tokenizer, chat=chat, padding_side="left")
    if not bool(batch.ok(roles).all()):
        raise SystemExit(f"roles did not resolve: {batch.status(roles)}")
    return batch


def boot_bridge(lm, shape: str, device: str, dtype: torch.dtype):
    """A TransformerLens bridge over a deep copy of `lm.model`.

    Booting with `hf_model=` swaps that model's attention modules for bridge components in place
    and switches it to eager attention, so the bridge must never share the timed model.
    """
    import copy

    from transformer_lens.model_bridge import TransformerBridge

    name = lm.name_or_path if shape == "tiny" else "qwen"
    return TransformerBridge.boot_transformers(name, hf_model=copy.deepcopy(lm.model), tokenizer=lm.tokenizer, device=device, dtype=dtype)


def setup(args, roles: tuple[str, ...]) -> tuple:
    """(device, dtype, lm, batch, bridge or None, notes) for a benchmark run: the model of
    `args.shape`, a batch of `args.batch_size` prompts with `roles` resolved, and unless
    `args.skip_tl` a TransformerLens bridge on its own copy (a failure is noted, not raised)."""
    device, dtype = resolve_device(args.device, args.dtype)
    torch.set_grad_enabled(False)
    lm = build(args.shape, args.tokenizer, device, dtype)
    batch = confidence_batch(lm, args.batch_size, roles)
    bridge, notes = None, {}
    if not args.skip_tl:
        try:
            bridge = boot_bridge(lm, args.shape, device, dtype)
        except Exception as error:  # report, do not hide
            notes["tl_bridge"] = f"not run: {type(error).__name__}: {error}"[:300]
    return device, dtype, lm, batch, bridge, notes


def time_methods(fns: dict[str, Callable[[], object]], device: str, warmup: int, repeats: int, notes: dict) -> list[dict]:
    """Median / min wall time and peak memory of each method over `repeats` rounds.

    Methods run round-robin (one call of each per round, after `warmup` rounds), so a slow drift
    of the machine affects every method alike. A method that raises is dropped and named in
    `notes`.
    """
    live = dict(fns)
    times: dict[str, list[float]] = {name: [] for name in live}
    peaks: dict[str, list[int]] = {name: [] for name in live}
    for round_ in range(warmup + repeats):
        for name, fn in list(live.items()):
            gc.collect()
            try:
                with PeakMemory(device) as memory:
                    start = time.perf_counter()
                    fn()
                    if device.startswith("cuda"):
                        torch.cuda.synchronize()
                    elapsed = time.perf_counter() - start
            except Exception as error:  # report, do not hide
                notes[name] = f"failed: {type(error).__name__}: {error}"[:300]
                del live[name]
                continue
            if round_ >= warmup:
                times[name].append(elapsed)
                peaks[name].append(memory.peak)
    return [
        {"method": name, "median_s": statistics.median(times[name]), "min_s": min(times[name]), "peak_mb": max(peaks[name]) / 2**20}
        for name in live
    ]


def check_and_time(found: dict[str, Callable[[], object]], difference: Callable[[str, object], float | None], column: str, device: str, warmup: int, repeats: int, notes: dict) -> list[dict]:
    """Run each method once and record `difference(name, output)` (how far it is from the
    reference) under `column`, then time the methods that ran (`time_methods`)."""
    found = dict(found)
    worst = {}
    for name, fn in list(found.items()):
        try:
            worst[name] = difference(name, fn())
        except Exception as error:  # report, do not hide
            notes[name] = f"failed: {type(error).__name__}: {error}"[:300]
            del found[name]
    results = time_methods(found, device, warmup, repeats, notes)
    for r in results:
        r[column] = worst[r["method"]]
    return results


def report_head(shape: str, device: str, dtype: torch.dtype, batch, repeats: int) -> dict:
    """The fields every benchmark report starts with."""
    return {
        "shape": shape,
        "device": device_name(device),
        "dtype": str(dtype),
        "batch_size": len(batch),
        "seq_len": batch.input_ids.shape[1],
        "tokens": int(batch.attention_mask.sum()),
        "repeats": repeats,
    }


def add_ratios(results: list[dict], tokens: int) -> None:
    """ratio_to_bare and tokens_per_s for each result (the "bare" method is the reference)."""
    bare = next(r["median_s"] for r in results if r["method"] == "bare")
    for r in results:
        r["ratio_to_bare"] = r["median_s"] / bare
        r["tokens_per_s"] = tokens / r["median_s"]


def device_name(device: str) -> str:
    return torch.cuda.get_device_name() if device.startswith("cuda") else f"cpu ({torch.get_num_threads()} threads)"


def to_markdown(report: dict, columns: list[str], detail: str) -> str:
    """A heading (shape, device, dtype, batch, `detail`) and the results table, then notes."""
    import pandas as pd

    table = pd.DataFrame(report["results"])[columns]
    head = (
        f"### {report['shape']} on {report['device']}, {report['dtype']}, batch {report['batch_size']} × {report['seq_len']} "
        f"({report['tokens']} tokens), {detail}, median of {report['repeats']}\n\n"
    )
    notes = "".join(f"\n- {k}: {v}" for k, v in report["notes"].items())
    return head + markdown_table(table) + ("\n" + notes if notes else "") + "\n"


def parser(description: str):
    """The command-line options every benchmark takes."""
    import argparse

    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="tiny", choices=["tiny", *SHAPES])
    parser.add_argument("--tokenizer", default=None, help="tokenizer folder (needed for the real shapes)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None, choices=["fp32", "bf16"])
    parser.add_argument("--skip-tl", action="store_true")
    parser.add_argument("--out", default="bench/results")
    return parser


def write_report(out: str | Path, stem: str, report: dict, markdown: str) -> None:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(report, indent=2, default=str))
    (out / f"{stem}.md").write_text(markdown)
    print(markdown)
