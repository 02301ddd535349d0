"""Stage "transfer" (error_detection.md §6.6): the PANL probes for the verdict and for
correctability (A2 correct on the correctable subset) fitted on this run's task and scored on
another error-detection run's (TriviaQA ↔ MNLI), both ways, at the same layer; and the cosines
between the two tasks' directions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.error_detection.context import ErrorDetectionContext
from experiments.error_detection.probes import downstream_layer, target_series
from interp.analysis import LinearProbe, target_problem
from interp.analysis.stats import bootstrap_score
from interp.errors import ConfigError
from interp.io import ActivationStore, RunDir
from interp.pipeline import resolve_path

TRANSFERRED = (("V", "yes", "all"), ("A2 correct", "a2_correct", "correctable"))
"""The probes carried across tasks: the verdict, and correctability."""


def _xy(store: ActivationStore, table: pd.DataFrame, layer: int, target: str, column: str, subset: str) -> tuple[np.ndarray, np.ndarray]:
    y = target_series(table, target, column, subset)
    values, ids = store.read(layer, "panl", only_finite=True)
    keep = [k for k, trial in enumerate(ids) if trial in y.index]
    return values[keep].double().numpy(), y.loc[[ids[k] for k in keep]].to_numpy()


def run(ctx: ErrorDetectionContext) -> pd.DataFrame:
    other_path = ctx.config.transfer.run
    if other_path is None:
        table = pd.DataFrame([{"target": target, "status": "skipped (transfer.run names no other error-detection run)"} for target, *_ in TRANSFERRED])
        ctx.run.write_table("transfer", table)
        return table
    folder = resolve_path(other_path)
    other = RunDir(folder)
    if not other.has_table("detection") or not (folder / "activations" / "meta.json").exists():
        raise ConfigError(f"transfer.run: {folder} is not a finished error-detection run (it needs detection.parquet and activations/)")
    layer = downstream_layer(ctx)
    here_store, there_store = ctx.store(), ActivationStore(folder / "activations")
    if layer not in there_store.layers or int(there_store.meta["d_model"]) != int(ctx.store().meta["d_model"]):
        raise ConfigError(f"transfer.run: {folder} has no residuals of the same model at layer {layer} (layers {there_store.layers}, d_model {there_store.meta['d_model']})")
    here_task, there_task = ctx.config.data.dataset, json_dataset(other)
    tasks = {here_task: (here_store, ctx.detection), there_task if there_task != here_task else f"{there_task} (other run)": (there_store, other.read_table("detection"))}
    spec = ctx.config.probes
    rows, directions = [], {}
    for target, column, subset in TRANSFERRED:
        data = {task: _xy(store, table, layer, target, column, subset) for task, (store, table) in tasks.items()}
        for task, (X, y) in data.items():
            problem = target_problem(y, "logistic", int(spec.cv))
            directions[(target, task)] = None if problem else LinearProbe.fit(X, y, kind="logistic", C=float(spec.C))
        for train, test in ((a, b) for a in data for b in data if a != b):
            probe, (X, y) = directions[(target, train)], data[test]
            row = {"target": target, "subset": subset, "train": train, "test": test, "layer": layer, "n": len(y), "status": "ok"}
            if probe is None or len(np.unique(y)) < 2:
                rows.append({**row, "status": "a task has one class only or too few rows"})
                continue
            estimate, low, high = bootstrap_score(y.astype(float), probe.decision_function(X), "auroc", n_boot=int(spec.n_boot), seed=ctx.seed)
            rows.append({**row, "metric": "auroc", "estimate": estimate, "ci_low": low, "ci_high": high})
        fitted = [directions[(target, task)] for task in data]
        if all(p is not None for p in fitted):
            a, b = (p.weight.double() for p in fitted)
            rows.append({"target": target, "subset": subset, "train": " vs ".join(data), "test": "", "layer": layer, "metric": "cosine", "estimate": float(a @ b / (a.norm() * b.norm())), "status": "ok"})
    table = pd.DataFrame(rows)
    ctx.run.write_table("transfer", table)
    return table


def json_dataset(run: RunDir) -> str:
    """The dataset a finished run read (its config.json)."""
    import json

    return str(json.loads((run.path / "config.json").read_text())["data"]["dataset"])
