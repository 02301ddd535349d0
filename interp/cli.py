"""`interp` command line: thin argument parsing over the library and the pipelines."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

EXPERIMENTS = ("demo",)


def _run(args: argparse.Namespace) -> int:
    pipeline = importlib.import_module(f"experiments.{args.experiment}")
    out = args.out or f"data/runs/{args.experiment}"
    folder = pipeline.run(
        model=args.model, out=out, chat=not args.raw, batch_size=args.batch_size, dtype=args.dtype, device_map=args.device_map
    )
    print(f"results: {folder}")
    return 0


def _tiny(args: argparse.Namespace) -> int:
    from interp.models import tiny

    print(tiny(args.arch, tokenizer=args.tokenizer, seed=args.seed))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="interp", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run an experiment pipeline and write a results directory")
    run.add_argument("experiment", choices=EXPERIMENTS)
    run.add_argument("--model", default="tiny-qwen2", help="local folder, hub id, or tiny-qwen2 / tiny-gemma3 / tiny-gemma3-mm")
    run.add_argument("--out", default=None, help="results folder (default data/runs/<experiment>)")
    run.add_argument("--raw", action="store_true", help="render prompts without the chat template")
    run.add_argument("--batch-size", type=int, default=4)
    run.add_argument("--dtype", default=None, help="bf16 / fp32 (default: bf16 on CUDA, fp32 on CPU)")
    run.add_argument("--device-map", default=None, help='e.g. "auto" to spread a large model over GPUs')
    run.set_defaults(handler=_run)

    tiny = sub.add_parser("tiny", help="build (or find) a tiny random-weight model and print its folder")
    tiny.add_argument("arch", choices=("qwen2", "gemma3", "gemma3-mm"))
    tiny.add_argument("--tokenizer", default=None, help="tokenizer folder (default: a small local BPE)")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.set_defaults(handler=_tiny)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ValueError, OSError, KeyError) as error:
        print(f"interp: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
