"""Markdown for bench/RESULTS.md from the GPU runs of bench/gpu.sh: each capture, blocking and
sweep table, and the bare forward's model FLOPs utilisation (2 × parameters × tokens/s over the
GPU's dense bf16 peak).

    python bench/gpu_summary.py --results bench/results >> bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHAPES  # noqa: E402

PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12}
"""Dense bf16 peak FLOP/s by GPU family."""


def n_params(shape: str) -> float:
    """Parameters of a random-weight shape, counted on the meta device."""
    import transformers

    spec = dict(SHAPES[shape])
    arch = spec.pop("arch")
    config_class = transformers.Qwen2Config if arch == "Qwen2ForCausalLM" else transformers.Gemma3TextConfig
    with torch.device("meta"):
        model = getattr(transformers, arch)(config_class(**spec))
    return float(sum(p.numel() for p in model.parameters()))


def peak(device: str) -> float | None:
    return next((value for family, value in PEAK_BF16.items() if family in device), None)


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--results", default="bench/results")
    args = cli.parse_args()
    results = Path(args.results)
    sections = ["", "# GPU benchmarks (bench/gpu.sh)", ""]
    for path in sorted(results.glob("*.json")):
        report = json.loads(path.read_text())
        if str(report.get("device", "cpu")).startswith("cpu"):
            continue
        markdown = path.with_suffix(".md")
        if markdown.exists():
            sections.append(markdown.read_text())
        if path.name.startswith("capture-") and report["shape"] in SHAPES:
            bare = next(r for r in report["results"] if r["method"] == "bare")
            flops = 2 * n_params(report["shape"]) * bare["tokens_per_s"]
            top = peak(report["device"])
            utilisation = f"{flops / top:.1%} of {top / 1e12:.0f} TFLOP/s" if top else "peak unknown for this GPU"
            sections.append(f"- bare forward MFU ({report['shape']}, {report['device']}): {flops / 1e12:.1f} TFLOP/s, {utilisation}\n")
    if len(sections) == 3:
        sections.append(f"No GPU results under {results} (run bench/gpu.sh on a GPU machine).\n")
    print("\n".join(sections))


if __name__ == "__main__":
    main()
