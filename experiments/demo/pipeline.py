"""A 10-second smoke run of the readout: render the Phase-1 categorical confidence prompt for the
built-in demo trials, resolve every named role, read the ten confidence classes at CC from one
forward pass, and write a results directory (config, versions, trials.parquet, a figure,
report.md). The main job is `interp run verbal-confidence`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from tqdm.auto import tqdm

from interp.forward import last_token_logits
from interp.io import markdown_table, save_figure
from interp.pipeline import Context, Pipeline, PipelineConfig, Stage, Work
from interp.tasks import CategoricalConfidenceTemplate, demo_trials

SHOWN_ROLES = ("answer_first_token", "last_answer_token", "panl", "panl_plus_1", "format_confidence_colon", "confidence_colon")


@dataclass
class DemoConfig(PipelineConfig):
    """The demo's settings: the shared ones, with a batch of four."""

    name: str = "demo"
    description: str = "categorical confidence readout at CC on the built-in demo trials"
    batch_size: int = 4


class DemoContext(Context):
    templates = {"categorical": lambda config: CategoricalConfidenceTemplate()}


def readout(ctx: DemoContext) -> pd.DataFrame:
    """One row per demo trial: its status, where each shown role landed, and the class readout."""
    lm, trials = ctx.lm, demo_trials()
    reader = ctx.readout("categorical")
    template = ctx.template("categorical")
    rows = []
    for start in tqdm(range(0, len(trials), ctx.config.batch_size), desc="demo batches", unit="batch"):
        chunk = trials[start : start + ctx.config.batch_size]
        batch = template.batch(chunk, lm.tokenizer, chat=ctx.config.chat, padding_side="left")
        scores = reader.scores(last_token_logits(lm, batch))
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
                    confidence_class=reader.labels[int(scores.argmax[row])],
                    confidence=float(scores.confidence[row]),
                    expected_confidence=float(scores.expected[row]),
                    logit_diff=float(scores.logit_diff[row]),
                    **{f"p_{k + 1}": float(scores.probs[row, k]) for k in range(len(reader.labels))},
                )
            rows.append(record)
    table = pd.DataFrame(rows)
    ctx.run.write_table("trials", table)
    return table


def report(ctx: DemoContext) -> Path:
    """A figure of the mean class probabilities and report.md with every trial's roles."""
    table = ctx.run.read_table("trials")
    labels = [c.label for c in CategoricalConfidenceTemplate.classes]
    columns = [f"p_{k + 1}" for k in range(len(labels))]
    present = table.dropna(subset=[c for c in columns if c in table])
    figure, axis = plt.subplots(figsize=(8, 3.5))
    if len(present) and set(columns) <= set(present.columns):
        axis.bar(range(len(labels)), present[columns].mean().to_numpy())
    axis.set_xticks(range(len(labels)), labels, rotation=40, ha="right")
    axis.set_ylabel("mean P(class) at CC")
    axis.set_title(f"Confidence class readout, {len(present)} trials")
    save_figure(figure, ctx.run.figure_path("class_probabilities"), dpi=120)
    lm = ctx.lm
    ok = (table["status"] == "ok").sum()
    shown = table[["trial_id", "answer", "status", "panl_text", "panl_plus_1_text", "confidence_colon_text", "confidence_class", "confidence"]]
    return ctx.run.write_report(
        f"# Demo: categorical confidence readout\n\n"
        f"Model: `{lm.name_or_path}` ({lm.architecture}, {lm.n_layers} layers, d_model {lm.d_model}, {lm.dtype}); "
        f"chat template: {'on' if ctx.config.chat else 'off'}.\n\n"
        f"{ok} of {len(table)} trials resolved every role{'' if ok == len(table) else '; the others carry their status below'}. "
        "A random-weight model has no real confidence: this run checks the plumbing, not a result.\n\n"
        f"{markdown_table(shown)}\n\n"
        "![class probabilities](figures/class_probabilities.png)\n"
    )


PIPELINE = Pipeline(
    name="demo",
    description="a 10-second smoke run: the categorical confidence readout at CC on 12 built-in trials",
    config=DemoConfig,
    context=DemoContext,
    stages=(Stage("readout", readout, writes=("trials",), estimate=lambda config, shape: [Work("readout", len(demo_trials()), "categorical")], description="one forward pass per batch"),),
    report=report,
    configs=Path(__file__).parent,
    prompt_tokens={"categorical": 280},
    results="demo",
)
