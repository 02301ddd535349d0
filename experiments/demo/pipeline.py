"""The embedded default job: render the Phase-1 categorical confidence prompt for the built-in
demo trials, resolve every named role, read the ten confidence classes at CC from one forward
pass, and write a results directory (config, versions, trials.parquet, a figure, report.md).

The main job is now `interp run verbal-confidence`; this one stays as a smoke run of the readout.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import torch
from tqdm.auto import tqdm

from interp.models import load_model
from interp.prompts import CategoricalConfidenceTemplate
from interp.readout import class_readout, last_token_logits
from interp.results import RunDir, markdown_table
from interp.trials import Trial, demo_trials

SHOWN_ROLES = ("answer_first_token", "last_answer_token", "panl", "panl_plus_1", "format_confidence_colon", "confidence_colon")


def run(
    model: str = "tiny-qwen2",
    out: str | Path = "data/runs/demo",
    chat: bool = True,
    batch_size: int = 4,
    trials: list[Trial] | None = None,
    dtype: str | None = None,
    device_map: str | None = None,
) -> Path:
    """Run the demo and return the results folder."""
    torch.manual_seed(0)
    trials = trials if trials is not None else demo_trials()
    run_dir = RunDir(out)
    run_dir.write_config(
        {"experiment": "demo", "model": model, "chat": chat, "batch_size": batch_size, "n_trials": len(trials), "seed": 0}
    )
    lm = load_model(model, dtype=dtype, device_map=device_map)
    template = CategoricalConfidenceTemplate()
    class_ids = template.class_token_ids(lm.tokenizer)
    labels = [c.label for c in template.classes]
    midpoints = [c.midpoint for c in template.classes]
    rows = []
    for start in tqdm(range(0, len(trials), batch_size), desc="demo batches", unit="batch"):
        chunk = trials[start : start + batch_size]
        batch = template.batch(chunk, lm.tokenizer, chat=chat, padding_side="left")
        readout = class_readout(last_token_logits(lm, batch), class_ids, midpoints)
        statuses = batch.status()
        readable = batch.ok(["confidence_colon"])
        for row, trial in enumerate(chunk):
            record = {"trial_id": trial.id, "question": trial.question, "answer": trial.answer, "status": statuses[row]}
            for role in SHOWN_ROLES:
                index = int(batch.roles[role][row])
                record[f"{role}_index"] = index - int(batch.content_start[row]) if index >= 0 else -1
                record[f"{role}_text"] = lm.tokenizer.decode([int(batch.input_ids[row, index])]) if index >= 0 else None
            if readable[row]:
                record.update(
                    confidence_class=labels[int(readout.argmax[row])],
                    confidence=float(readout.confidence[row]),
                    expected_confidence=float(readout.expected[row]),
                    logit_diff=float(readout.logit_diff[row]),
                    **{f"p_{k + 1}": float(readout.probs[row, k]) for k in range(len(labels))},
                )
            rows.append(record)
    table = pd.DataFrame(rows)
    run_dir.write_table("trials", table)
    _figure(table, labels, run_dir.figure_path("class_probabilities"))
    run_dir.write_report(_report(table, lm, chat))
    return run_dir.path


def _figure(table: pd.DataFrame, labels: list[str], path: Path) -> None:
    columns = [f"p_{k + 1}" for k in range(len(labels))]
    present = table.dropna(subset=[c for c in columns if c in table])
    fig, ax = plt.subplots(figsize=(8, 3.5))
    if len(present) and set(columns) <= set(present.columns):
        ax.bar(range(len(labels)), present[columns].mean().to_numpy())
    ax.set_xticks(range(len(labels)), labels, rotation=40, ha="right")
    ax.set_ylabel("mean P(class) at CC")
    ax.set_title(f"Confidence class readout, {len(present)} trials")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _report(table: pd.DataFrame, lm, chat: bool) -> str:
    ok = (table["status"] == "ok").sum()
    shown = table[["trial_id", "answer", "status", "panl_text", "panl_plus_1_text", "confidence_colon_text", "confidence_class", "confidence"]]
    return (
        f"# Demo: categorical confidence readout\n\n"
        f"Model: `{lm.name_or_path}` ({lm.architecture}, {lm.n_layers} layers, d_model {lm.d_model}, {lm.dtype}); "
        f"chat template: {'on' if chat else 'off'}.\n\n"
        f"{ok} of {len(table)} trials resolved every role{'' if ok == len(table) else '; the others carry their status below'}. "
        "A random-weight model has no real confidence: this run checks the plumbing, not a result.\n\n"
        f"{markdown_table(shown)}\n\n"
        "![class probabilities](figures/class_probabilities.png)\n"
    )

