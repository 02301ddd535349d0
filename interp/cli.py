"""`interp` command line: thin argument parsing over the library and the pipelines.

    interp run --list                                   the pipelines found in experiments/
    interp run <pipeline> [--config FILE] [--stages a,b] [--dry-run] [--out DIR]
    interp capture --model M --data FILE --layers 0-27 --out DIR
    interp probe train|eval ...
    interp models                                        the pip-installable models, installed and cached
    interp tiny qwen2|gemma3|gemma3-mm

Errors a user can fix (`interp.errors.InterpError`) print as one line and exit with status 2;
anything else keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from interp.errors import InterpError

_DATASETS = ("triviaqa", "mmlu", "mnli", "gsm8k", "mcq", "jsonl")


def _overrides(args: argparse.Namespace) -> dict:
    """The shared config keys set on the command line."""
    model = {key: value for key, value in (("name", args.model), ("dtype", args.dtype), ("device_map", args.device_map)) if value is not None}
    out: dict = {"model": model} if model else {}
    if args.raw:
        out["chat"] = False
    if args.batch_size is not None:
        out["batch_size"] = args.batch_size
    if args.full_forwards:
        out["incremental"] = False
    return out


def _without_processes(argv: Sequence[str]) -> list[str]:
    """The command line minus `--processes N` / `--processes=N`."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--processes":
            skip = True
        elif not arg.startswith("--processes="):
            out.append(arg)
    return out


def _launch(processes: int, argv: Sequence[str]) -> int:
    """Rerun this command as `processes` data-parallel ranks through `accelerate launch` (its
    multi-process launcher, torchrun underneath; gloo on CPUs, NCCL on GPUs)."""
    import socket
    import subprocess

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes), "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(port), "-m", "interp.cli", *_without_processes(argv),
    ]  # fmt: skip
    print(f"launching {processes} processes: accelerate launch {' '.join(command[3:])}", file=sys.stderr)
    return subprocess.call(command)


def _run(args: argparse.Namespace) -> int:
    import os

    from interp.pipeline import find_pipeline, pipelines

    if args.processes is not None:
        if args.processes < 1:
            raise InterpError(f"--processes must be ≥ 1, got {args.processes}")
        if args.processes > 1 and not args.dry_run and int(os.environ.get("WORLD_SIZE", "1")) == 1:
            return _launch(args.processes, args.argv)

    if args.list or args.pipeline is None:
        found = pipelines()
        width = max((len(name) for name in found), default=0)
        for name, pipeline in found.items():
            print(f"{name:<{width}}  {pipeline.description}")
        return 0
    pipeline = find_pipeline(args.pipeline)
    config = pipeline.load_config(args.config, _overrides(args) or None)
    result = pipeline.run(config, stages=args.stages, out=args.out, dry_run=args.dry_run, allow_mixed_code=args.allow_mixed_code)
    print(result if args.dry_run else f"results: {result}")
    return 0


def _capture(args: argparse.Namespace) -> int:
    from interp.forward import capture_dataset
    import torch

    from interp.io.ranks import current_ranks
    from interp.models import load_model, resolve_dtype
    from interp.pipeline import parse_layers
    from interp.tasks import CategoricalConfidenceTemplate, load_trials

    trials = load_trials(args.data, args.dataset)
    if args.limit is not None:
        trials = trials[: args.limit]
    ranks = current_ranks()
    device_map = args.device_map
    if device_map is None and ranks.world > 1 and torch.cuda.is_available():
        device_map = f"cuda:{torch.cuda.current_device()}"
    lm = load_model(args.model, dtype=args.model_dtype, device_map=device_map)
    store = capture_dataset(
        lm,
        trials,
        CategoricalConfidenceTemplate(),
        layers=parse_layers(args.layers, lm.n_layers, "--layers"),
        roles=[r.strip() for r in args.roles.split(",") if r.strip()],
        out=args.out,
        batch_size=args.batch_size,
        site=args.site,
        chat=not args.raw,
        dtype=resolve_dtype(args.dtype),
        extra_meta={"data": str(args.data), "dataset": args.dataset},
        ranks=ranks,
    )
    counts = store.index()["status"].map(lambda s: s.split(":")[0]).value_counts()
    print(f"{store}\nstatuses: {counts.to_dict()}")
    return 0


def _probe_train(args: argparse.Namespace) -> int:
    from interp.analysis import read_labels, train_probes
    from interp.io import ActivationStore, markdown_table
    from interp.pipeline import parse_layers

    store = ActivationStore(args.store)
    table = train_probes(
        store,
        read_labels(args.labels, store),
        args.target,
        args.out,
        kind=args.kind,
        layers=parse_layers(args.layers, what="--layers") if args.layers else None,
        roles=[r.strip() for r in args.roles.split(",")] if args.roles else None,
        cv=args.cv,
        groups=args.groups,
        C=args.C,
        alpha=args.alpha,
        seed=args.seed,
    )
    print(markdown_table(table))
    print(f"scores, figure and probes: {args.out}")
    return 0


def _probe_eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from interp.analysis import evaluate_probes, read_labels
    from interp.io import ActivationStore, atomic_write, markdown_table, write_parquet

    store = ActivationStore(args.store)
    labels = read_labels(args.labels, store) if args.target else None
    predictions, scores = evaluate_probes(args.probe, store, labels, args.target)
    out = Path(args.out or Path(args.probe) / "eval")
    write_parquet(predictions, out / "predictions.parquet")
    atomic_write(out / "scores.csv", scores.to_csv(index=False).encode())
    print(markdown_table(scores))
    print(f"predictions and scores: {out}")
    return 0


def _models(args: argparse.Namespace) -> int:
    import pandas as pd

    from interp.io import markdown_table
    from interp.models.registry import REGISTRY, cached_folder, is_installed

    rows = [
        {
            "name": entry.name,
            "architecture": entry.architecture,
            "kind": "chat" if entry.chat else "base",
            "licence": entry.licence,
            "installed": "yes" if is_installed(entry) else f"no: {entry.pip}",
            "cached": str(cached_folder(entry)) if (cached_folder(entry) / "config.json").exists() else "no (first load dequantises, ~1 min)",
        }
        for entry in REGISTRY.values()
    ]
    print(markdown_table(pd.DataFrame(rows)))
    print("Also: organism-panl, organism-cc (model organisms, once trained with `interp organisms train`), tiny-qwen2, tiny-gemma3, tiny-gemma3-mm (random weights, offline), any local folder, .gguf file or hub id.")
    return 0


def _tiny(args: argparse.Namespace) -> int:
    from interp.models import tiny

    print(tiny(args.arch, tokenizer=args.tokenizer, seed=args.seed))
    return 0


def _organisms(args: argparse.Namespace) -> int:
    import json

    from interp.organisms.build import build_organisms

    metrics = build_organisms(args.out, args.names or None)
    print(json.dumps(metrics, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="interp", description="Mechanistic study of LLM confidence: pipelines, capture, probes.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a pipeline and write a results directory (--list shows the pipelines)")
    run.add_argument("pipeline", nargs="?", help="e.g. verbal-confidence (see --list)")
    run.add_argument("--list", action="store_true", help="list the pipelines with their descriptions")
    run.add_argument("--config", default=None, help="pipeline config YAML (default: the pipeline's own default config)")
    run.add_argument("--stages", default=None, help="comma-separated stages to run (default: all; finished ones are skipped)")
    run.add_argument("--dry-run", action="store_true", help="print the plan (trials, layers, roles, forward passes, GPU memory/time) and exit")
    run.add_argument("--out", default=None, help="results folder (default data/runs/<pipeline>/<config name>)")
    run.add_argument("--allow-mixed-code", action="store_true", help="resume over parts committed by other code (the report lists them)")
    run.add_argument("--model", default=None, help="override model.name: local folder, hub id, or tiny-qwen2 / tiny-gemma3 / tiny-gemma3-mm")
    run.add_argument("--raw", action="store_true", help="override chat: render prompts without the chat template")
    run.add_argument("--batch-size", type=int, default=None, help="override batch_size")
    run.add_argument("--full-forwards", action="store_true", help="override incremental: run a full forward per sweep cell instead of rerunning only what it changes")
    run.add_argument("--dtype", default=None, help="override model.dtype: bf16 / fp32 (default: bf16 on CUDA, fp32 on CPU)")
    run.add_argument("--device-map", default=None, help='override model.device_map, e.g. "auto" to spread a large model over GPUs')
    run.add_argument("--processes", type=int, default=None, help="run on N data-parallel processes (launches `accelerate launch -m interp.cli run ...`)")
    run.set_defaults(handler=_run)

    cap = sub.add_parser("capture", help="capture activations at (layer, role) for a dataset into a store")
    cap.add_argument("--model", required=True, help="local folder, hub id, or tiny-qwen2 / tiny-gemma3 / tiny-gemma3-mm")
    cap.add_argument("--data", required=True, help="dataset file or folder")
    cap.add_argument("--dataset", default="triviaqa", choices=_DATASETS)
    cap.add_argument("--layers", required=True, help="e.g. all, 0-27 or 0,5,10-12")
    cap.add_argument("--roles", default="panl,confidence_colon", help="comma-separated single-token roles")
    cap.add_argument("--site", default="resid_post", choices=("resid_pre", "resid_post", "attn_out", "mlp_out"))
    cap.add_argument("--out", required=True, help="store folder; rerun with the same arguments to resume")
    cap.add_argument("--batch-size", type=int, default=8)
    cap.add_argument("--dtype", default="float32", help="dtype of the stored activations")
    cap.add_argument("--model-dtype", default=None, help="bf16 / fp32 (default: bf16 on CUDA, fp32 on CPU)")
    cap.add_argument("--device-map", default=None)
    cap.add_argument("--limit", type=int, default=None, help="only the first N trials")
    cap.add_argument("--raw", action="store_true", help="render prompts without the chat template")
    cap.set_defaults(handler=_capture)

    probe = sub.add_parser("probe", help="train or evaluate linear probes over an activation store")
    probe_sub = probe.add_subparsers(dest="probe_command", required=True)
    train = probe_sub.add_parser("train", help="cross-validate and fit a probe per (layer, role)")
    train.add_argument("--store", required=True, help="activation store folder (from interp capture)")
    train.add_argument("--target", required=True, help="label column (in --labels, or in the store index)")
    train.add_argument("--labels", default=None, help="CSV or parquet with a trial_id column (default: the store index)")
    train.add_argument("--kind", default="logistic", choices=("logistic", "ridge"))
    train.add_argument("--layers", default=None, help="e.g. 0-27 (default: every stored layer)")
    train.add_argument("--roles", default=None, help="comma-separated (default: every stored role)")
    train.add_argument("--cv", type=int, default=5)
    train.add_argument("--groups", default=None, help="column of group labels for grouped CV")
    train.add_argument("--C", type=float, default=1e-3, help="inverse L2 strength of logistic probes")
    train.add_argument("--alpha", type=float, default=None, help="ridge alpha (default: inner CV over 1e0-1e5)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", required=True)
    train.set_defaults(handler=_probe_train)
    evaluate = probe_sub.add_parser("eval", help="apply saved probes to a store")
    evaluate.add_argument("--probe", required=True, help="a probe folder, or the --out of probe train")
    evaluate.add_argument("--store", required=True)
    evaluate.add_argument("--target", default=None, help="score against this column")
    evaluate.add_argument("--labels", default=None)
    evaluate.add_argument("--out", default=None, help="default: <probe>/eval")
    evaluate.set_defaults(handler=_probe_eval)

    models = sub.add_parser("models", help="list the registered pip-installable models: installed, cached, licence")
    models.set_defaults(handler=_models)

    tiny = sub.add_parser("tiny", help="build (or find) a tiny random-weight model and print its folder")
    tiny.add_argument("arch", choices=("qwen2", "gemma3", "gemma3-mm"))
    tiny.add_argument("--tokenizer", default=None, help="tokenizer folder (default: a small local BPE)")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.set_defaults(handler=_tiny)
    organisms = sub.add_parser("organisms", help="regenerate the model organisms (stage 1 once, stage 2 per mechanism; CPU, minutes)")
    organisms.add_argument("action", choices=("train",))
    organisms.add_argument("names", nargs="*", help="default: every organism")
    organisms.add_argument("--out", default=None, help="parent folder (default: the committed interp/organisms/weights, and data/organisms)")
    organisms.set_defaults(handler=_organisms)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return args.handler(args)
    except InterpError as error:
        print(f"interp: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
