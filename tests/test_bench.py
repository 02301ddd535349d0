"""The benchmarks run end to end on the tiny shape and every method computes the same values
(smoke tests: they check values and the report, never timings)."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from conftest import QWEN_DIR, need

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _args(**extra) -> argparse.Namespace:
    return argparse.Namespace(shape="tiny", tokenizer=str(need(QWEN_DIR)), batch_size=4, repeats=1, warmup=1, device="cpu", dtype="fp32", skip_tl=False, out=None, **extra)


def test_capture_bench_tiny():
    bench = _load("capture_bench")
    report = bench.run(_args())
    by_method = {r["method"]: r for r in report["results"]}
    assert {"bare", "interp", "hidden", "tl_bridge"} <= set(by_method), report["notes"]
    assert by_method["interp"]["max_abs_diff_vs_interp"] == 0.0
    assert by_method["tl_bridge"]["max_abs_diff_vs_interp"] < 1e-4
    assert by_method["hidden"]["max_abs_diff_vs_interp"] > 1e-3  # post-norm hidden_states[-1] at the last layer
    assert all(r["median_s"] > 0 and r["tokens_per_s"] > 0 for r in report["results"])
    assert "| interp |" in bench.to_markdown(report)


def test_blocking_bench_tiny():
    bench = _load("blocking_bench")
    report = bench.run(_args(window=2))
    by_method = {r["method"]: r for r in report["results"]}
    assert set(by_method) == {"bare", "interp_sdpa", "bare_eager", "interp_eager", "tl_bridge"}, report["notes"]
    assert by_method["interp_eager"]["max_abs_diff_vs_interp_sdpa"] < 1e-4
    assert by_method["tl_bridge"]["max_abs_diff_vs_interp_sdpa"] < 1e-4
    assert float(report["notes"]["effect"].rsplit(" ", 1)[-1]) > 1e-3  # the block changes the logits
    assert report["layers"] == [1, 2] and report["blocked_pairs_per_row"] > 0
    assert "| interp_sdpa |" in bench.to_markdown(report)


def test_sweep_bench_tiny():
    bench = _load("sweep_bench")
    args = _args(model=None, layer_step=1)
    args.batch_size, args.warmup = 2, 0
    report = bench.run(args)
    by_method = {r["method"]: r for r in report["results"]}
    assert set(by_method) == {"naive", "incremental", "tl_bridge"}, report["notes"]
    assert by_method["incremental"]["max_abs_diff_vs_naive"] < 1e-5
    assert by_method["tl_bridge"]["max_abs_diff_vs_naive"] < 1e-4
    assert report["cells"] == 4 * len(bench.ROLES) * 4 and 0 < report["changed_flops_share"] < 1
    assert float(report["notes"]["effect"].rsplit(" ", 1)[-1]) > 1e-3  # the steering changes the readout
    assert "| incremental |" in bench.to_markdown(report)
