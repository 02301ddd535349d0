"""Stage "blocking" (verbal_confidence.md §6.9): remove TARGET→SOURCE attention edges in
12-layer windows centred on each configured layer, on the minimal 0–9 prompt and on the
categorical prompt; read change rate and ΔLD at CC."""

from __future__ import annotations

from typing import Any

import pandas as pd

from experiments.verbal_confidence.context import VerbalConfidenceContext
from interp.interventions import LATER, BlockAttention, layer_window
from interp.prompting import Batch

QA = ("question", "answer")

MINIMAL_EDGES: dict[str, dict[str, Any]] = {
    "CC->Q+A": {"targets": "confidence_colon", "sources": QA},
    "CC->PANL": {"targets": "confidence_colon", "sources": "panl"},
    "CC->PANL+1": {"targets": "confidence_colon", "sources": "panl_plus_1"},
    "PANL->A": {"targets": "panl", "sources": "answer"},
    "PANL->last A": {"targets": "panl", "sources": "last_answer_token"},
}

CATEGORICAL_EDGES: dict[str, dict[str, Any]] = {
    "CC->Q": {"targets": "confidence_colon", "sources": "question"},
    "CC->A": {"targets": "confidence_colon", "sources": "answer"},
    "CC->Q+A": {"targets": "confidence_colon", "sources": QA},
    "CC->PANL": {"targets": "confidence_colon", "sources": "panl"},
    "CC->PANL+1": {"targets": "confidence_colon", "sources": "panl_plus_1"},
    "ALL->PANL": {"targets": LATER, "sources": "panl"},
    "ALL->last A": {"targets": LATER, "sources": "last_answer_token"},
    "ALL->last A, PANL edge kept": {"targets": LATER, "sources": "last_answer_token", "keep_open": [("panl", "last_answer_token")]},
    "ALL->A": {"targets": LATER, "sources": "answer"},
    "ALL->A, PANL edge kept": {"targets": LATER, "sources": "answer", "keep_open": [("panl", "answer")]},
}


def run(ctx: VerbalConfidenceContext) -> pd.DataFrame:
    spec = ctx.config.blocking
    n_layers = ctx.n_layers
    centres = ctx.layers("blocking", "centres")
    width = int(spec.width)
    pool = ctx.eligible("activation")
    frames = []
    for prompt, edges, n in (("minimal", MINIMAL_EDGES, spec.n_minimal), ("categorical", CATEGORICAL_EDGES, spec.n_categorical)):
        if int(n) == 0:
            continue

        def make_specs(batch: Batch, centre: int, edge: str, condition: str, edges=edges):
            return [BlockAttention(layers=layer_window(centre, n_layers, width), **edges[edge])]

        trials = ctx.trials(pool["trial_id"].head(int(n)))
        table = ctx.sweep_parts("blocking", prompt, trials, prompt, make_specs, centres, list(edges), ["blocked"])
        frames.append(table.assign(prompt=prompt).rename(columns={"layer": "centre", "role": "edge"}))
    table = pd.concat(frames, ignore_index=True)
    ctx.run.write_table("blocking", table)
    return table
