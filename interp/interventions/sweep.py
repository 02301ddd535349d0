"""Grids of interventions over layers × roles × conditions × trials, read by any `Readout`, as
one tidy DataFrame."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from interp.forward.logits import last_token_logits
from interp.interventions.apply import intervened_logits
from interp.interventions.specs import Intervention
from interp.models import LM
from interp.prompting import Batch
from interp.readouts import Readout

__all__ = ["SpecFactory", "sweep"]

SpecFactory = Callable[[Batch, int, str, str], Sequence[Intervention]]
"""(batch, layer, role, condition) → the specs of that grid cell for that batch."""


def sweep(
    lm: LM,
    batches: Batch | Iterable[Batch],
    make_specs: SpecFactory,
    layers: Sequence[int],
    roles: Sequence[str],
    conditions: Sequence[str],
    readout: Readout,
    progress: bool = True,
    desc: str = "sweep",
) -> pd.DataFrame:
    """Run every (layer, role, condition) cell on every batch and read the last prompt token
    with `readout`, against a clean run of the same batch.

    Args:
        lm: the model.
        batches: left-padded batches (one clean forward each, then one per grid cell).
        make_specs: builds a cell's specs; `layer` and `role` are passed through as given, so a
            blocking sweep may use window centres and edge names.
        layers, roles, conditions: the grid axes.
        readout: what to read (e.g. `template.readout(lm.tokenizer)`).
        progress: show a tqdm bar over batches × cells.

    Returns:
        One row per (trial, layer, role, condition): trial_id, layer, role, condition, status
        ("ok" or why the cell did not apply to the row), the readout's clean columns as
        `clean_<name>`, its columns (NaN where status is not "ok") and its list columns (None
        there). For `ClassReadout`: clean_argmax / clean_confidence / clean_logit_diff, then
        argmax, confidence, expected, logit_diff (target = the clean argmax), changed,
        delta_confidence, delta_logit_diff and probs.
    """
    batch_list = [batches] if isinstance(batches, Batch) else list(batches)
    cells = list(itertools.product(layers, roles, conditions))
    frames = []
    bar = tqdm(total=len(batch_list) * len(cells), desc=desc, disable=not progress)
    try:
        for batch in batch_list:
            clean = readout.read(last_token_logits(lm, batch))
            base = {"trial_id": batch.trial_ids, **{f"clean_{name}": clean[name] for name in readout.clean_columns}}
            for layer, role, condition in cells:
                logits, run = intervened_logits(lm, batch, make_specs(batch, layer, role, condition))
                read = readout.read(logits, clean=clean)
                ok = run.ok().numpy()
                frame = pd.DataFrame({**base, "layer": layer, "role": role, "condition": condition, "status": run.status})
                for name in readout.columns:
                    frame[name] = np.where(ok, read[name].astype(float), np.nan)
                for name in readout.list_columns:
                    frame[name] = [value.tolist() if good else None for value, good in zip(read[name], ok)]
                frames.append(frame)
                bar.update()
    finally:
        bar.close()
    order = ["trial_id", "layer", "role", "condition", "status", *(f"clean_{c}" for c in readout.clean_columns), *readout.columns, *readout.list_columns]
    return pd.concat(frames, ignore_index=True)[order] if frames else pd.DataFrame(columns=order)
