#!/usr/bin/env bash
# GPU benchmarks at the paper models' shapes (random weights, bf16, no download): capture,
# attention blocking and the incremental steering sweep for Qwen 2.5 7B and Gemma 3 27B, plus
# bare-forward MFU and peak memory. About 8 minutes on one H100/H200. Results: bench/results/*.json
# and a section appended to bench/RESULTS.md.
#
#     bash bench/gpu.sh            # from the repository root, with the venv of README's test command
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-bench/results}
QWEN=${QWEN_TOKENIZER:-../shared/models/qwen2.5-7b-instruct}
GEMMA=${GEMMA_TOKENIZER:-../shared/models/gemma-3-4b-it}
export HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
for shape in qwen2.5-7b gemma-3-27b; do
  tok=$QWEN; [ "$shape" = gemma-3-27b ] && tok=$GEMMA
  step=4; [ "$shape" = gemma-3-27b ] && step=8
  timeout 150 "$PY" bench/capture_bench.py --shape "$shape" --tokenizer "$tok" --dtype bf16 --batch-size 16 --repeats 5 --skip-tl --out "$OUT" || echo "capture $shape failed or timed out"
  timeout 120 "$PY" bench/blocking_bench.py --shape "$shape" --tokenizer "$tok" --dtype bf16 --batch-size 16 --repeats 5 --skip-tl --out "$OUT" || echo "blocking $shape failed or timed out"
  timeout 180 "$PY" bench/sweep_bench.py --shape "$shape" --tokenizer "$tok" --dtype bf16 --batch-size 16 --repeats 1 --warmup 0 --layer-step "$step" --skip-tl --out "$OUT" || echo "sweep $shape failed or timed out"
done
"$PY" bench/gpu_summary.py --results "$OUT" >> bench/RESULTS.md
tail -40 bench/RESULTS.md
