"""The capture benchmark runs end to end on the tiny shape and every method reads the same rows
(a smoke test: it checks values and the report, never timings)."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from conftest import QWEN_DIR, need

BENCH = Path(__file__).resolve().parents[1] / "bench" / "capture_bench.py"


def test_capture_bench_tiny():
    spec = importlib.util.spec_from_file_location("capture_bench", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    args = argparse.Namespace(shape="tiny", tokenizer=str(need(QWEN_DIR)), batch_size=4, repeats=1, warmup=1, device="cpu", dtype="fp32", skip_tl=False, out=None)
    report = bench.run(args)
    by_method = {r["method"]: r for r in report["results"]}
    assert {"bare", "interp", "hidden", "tl_bridge"} <= set(by_method), report["notes"]
    assert by_method["interp"]["max_abs_diff_vs_interp"] == 0.0
    assert by_method["tl_bridge"]["max_abs_diff_vs_interp"] < 1e-4
    assert by_method["hidden"]["max_abs_diff_vs_interp"] > 1e-3  # post-norm hidden_states[-1] at the last layer
    assert all(r["median_s"] > 0 and r["tokens_per_s"] > 0 for r in report["results"])
    assert "| interp |" in bench.to_markdown(report)
