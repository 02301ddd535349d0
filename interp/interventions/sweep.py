"""Grids of interventions over layers × roles × conditions × trials, read by any `Readout`, as
one tidy DataFrame."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from interp.forward.logits import last_token_logits
from interp.interventions.apply import InterventionRun, intervened_logits
from interp.interventions.incremental import BaseRun, base_run, can_rerun, incremental_hidden, unembed
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
    incremental: bool = True,
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
        incremental: rerun only what each cell changes (`interp.interventions.incremental`): the
            clean forward keeps every layer's output and keys/values, and specs that every cell
            of a batch shares (the same objects, e.g. a corruption that patching restores into)
            run once as the base the cells start from. False runs a full forward per cell.

    Returns:
        One row per (trial, layer, role, condition): trial_id, layer, role, condition, status
        ("ok" or why the cell did not apply to the row), the readout's clean columns as
        `clean_<name>`, its columns (NaN where status is not "ok") and its list columns (None
        there). For `ClassReadout`: clean_argmax / clean_confidence / clean_logit_diff, then
        argmax, confidence, expected, logit_diff (target = the clean argmax), changed,
        delta_confidence, delta_logit_diff and probs. `attrs["oom_halvings"]` lists the batches
        that ran out of CUDA memory and were split in half.
    """
    batch_list = [batches] if isinstance(batches, Batch) else list(batches)
    cells = list(itertools.product(layers, roles, conditions))
    frames: list[pd.DataFrame] = []
    halvings: list[dict] = []
    bar = tqdm(total=len(batch_list) * len(cells), desc=desc, disable=not progress)
    try:
        for batch in batch_list:
            frames.extend(_fitting_batch(lm, batch, make_specs, cells, readout, incremental, bar, halvings))
    finally:
        bar.close()
    order = ["trial_id", "layer", "role", "condition", "status", *(f"clean_{c}" for c in readout.clean_columns), *readout.columns, *readout.list_columns]
    table = pd.concat(frames, ignore_index=True)[order] if frames else pd.DataFrame(columns=order)
    table.attrs["oom_halvings"] = halvings
    return table


def _fitting_batch(lm: LM, batch: Batch, make_specs: SpecFactory, cells: list, readout: Readout, incremental: bool, bar, halvings: list) -> list[pd.DataFrame]:
    """`_sweep_batch`, halving the batch (recursively) when CUDA runs out of memory."""
    try:
        return _sweep_batch(lm, batch, make_specs, cells, readout, incremental, bar)
    except torch.OutOfMemoryError:
        if len(batch) == 1:
            raise
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        half = len(batch) // 2
        halvings.append({"trial_ids": list(batch.trial_ids), "rows": len(batch), "into": [half, len(batch) - half]})
        warnings.warn(f"sweep: CUDA out of memory on a batch of {len(batch)} rows ({batch.trial_ids[0]}, …); continuing in halves of {half} and {len(batch) - half}", stacklevel=3)
        bar.total += len(cells)
        return [
            *_fitting_batch(lm, batch.rows(slice(0, half)), make_specs, cells, readout, incremental, bar, halvings),
            *_fitting_batch(lm, batch.rows(slice(half, None)), make_specs, cells, readout, incremental, bar, halvings),
        ]


def _shared_specs(cell_specs: list[list[Intervention]]) -> tuple[Intervention, ...]:
    """The specs (the same objects) that every cell has, in the first cell's order."""
    first, *rest = cell_specs
    return tuple(spec for spec in first if all(any(spec is other for other in specs) for specs in rest))


UNEMBED_ROWS = 128
"""Cells' last-layer outputs are unembedded together, up to this many rows per call (the
unembedding weights are then read once per group instead of once per cell)."""


def _cell_logits(lm: LM, batch: Batch, cell_specs: list[list[Intervention]], base: BaseRun | None, bar) -> Iterator[tuple[torch.Tensor, InterventionRun]]:
    """(logits [batch, vocab], InterventionRun) per cell, in order: full forwards without a base
    run, else incremental ones unembedded in groups."""
    if base is None:
        for specs in cell_specs:
            yield intervened_logits(lm, batch, specs)
            bar.update()
        return
    group = max(1, UNEMBED_ROWS // len(batch))
    for start in range(0, len(cell_specs), group):
        outputs = [incremental_hidden(lm, base, specs) for specs in cell_specs[start : start + group]]
        logits = unembed(lm, torch.cat([hidden for hidden, _ in outputs])).split(len(batch))
        for cell_logits, (_, run) in zip(logits, outputs):
            yield cell_logits, run
            bar.update()


def _sweep_batch(lm: LM, batch: Batch, make_specs: SpecFactory, cells: list, readout: Readout, incremental: bool, bar) -> list[pd.DataFrame]:
    cell_specs = [list(make_specs(batch, layer, role, condition)) for layer, role, condition in cells]
    base = None
    if incremental and can_rerun(lm):
        shared = _shared_specs(cell_specs) if cell_specs else ()
        clean_logits = last_token_logits(lm, batch) if shared else None
        base = base_run(lm, batch, shared)
        clean = readout.read(base.logits if clean_logits is None else clean_logits)
    else:
        clean = readout.read(last_token_logits(lm, batch))
    base_columns = {"trial_id": batch.trial_ids, **{f"clean_{name}": clean[name] for name in readout.clean_columns}}
    frames = []
    for (layer, role, condition), (logits, run) in zip(cells, _cell_logits(lm, batch, cell_specs, base, bar)):
        read = readout.read(logits, clean=clean)
        ok = run.ok().numpy()
        frame = pd.DataFrame({**base_columns, "layer": layer, "role": role, "condition": condition, "status": run.status})
        for name in readout.columns:
            frame[name] = np.where(ok, read[name].astype(float), np.nan)
        for name in readout.list_columns:
            frame[name] = [value.tolist() if good else None for value, good in zip(read[name], ok)]
        frames.append(frame)
    return frames
