"""Grids of interventions over layers × roles × conditions × trials, as one tidy DataFrame."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from interp.interventions import Intervention, intervened_logits
from interp.models import LM
from interp.readout import class_readout, last_token_logits
from interp.roles import Batch

__all__ = ["SpecFactory", "recovery", "summarise", "sweep"]

SpecFactory = Callable[[Batch, int, str, str], Sequence[Intervention]]
"""(batch, layer, role, condition) → the specs of that grid cell for that batch."""

_READOUT_COLUMNS = ("argmax", "confidence", "expected", "logit_diff", "changed", "delta_confidence", "delta_logit_diff")


def sweep(
    lm: LM,
    batches: Batch | Iterable[Batch],
    make_specs: SpecFactory,
    layers: Sequence[int],
    roles: Sequence[str],
    conditions: Sequence[str],
    class_token_ids: Sequence[int],
    values: Sequence[float],
    progress: bool = True,
    desc: str = "sweep",
) -> pd.DataFrame:
    """Run every (layer, role, condition) cell on every batch and read the classes at the last
    prompt token, against a clean run of the same batch.

    Args:
        lm: the model.
        batches: left-padded batches (one clean forward each, then one per grid cell).
        make_specs: builds a cell's specs; `layer` and `role` are passed through as given, so a
            blocking sweep may use window centres and edge names.
        layers, roles, conditions: the grid axes.
        class_token_ids, values: candidate first tokens and their values (e.g. midpoints).
        progress: show a tqdm bar over batches × cells.

    Returns:
        One row per (trial, layer, role, condition): trial_id, status ("ok" or why the cell did
        not apply to the row), clean_argmax / clean_confidence / clean_logit_diff, and the
        intervened argmax, confidence, expected, logit_diff (target = the clean argmax), probs,
        changed, delta_confidence and delta_logit_diff — NaN where status is not "ok".
    """
    batch_list = [batches] if isinstance(batches, Batch) else list(batches)
    cells = list(itertools.product(layers, roles, conditions))
    frames = []
    bar = tqdm(total=len(batch_list) * len(cells), desc=desc, disable=not progress)
    try:
        for batch in batch_list:
            clean = class_readout(last_token_logits(lm, batch), class_token_ids, values)
            base = {
                "trial_id": batch.trial_ids,
                "clean_argmax": clean.argmax.numpy(),
                "clean_confidence": clean.confidence.numpy(),
                "clean_logit_diff": clean.logit_diff.numpy(),
            }
            for layer, role, condition in cells:
                logits, run = intervened_logits(lm, batch, make_specs(batch, layer, role, condition))
                readout = class_readout(logits, class_token_ids, values, target=clean.argmax)
                ok = run.ok().numpy()
                columns = {
                    "argmax": readout.argmax.numpy(),
                    "confidence": readout.confidence.numpy(),
                    "expected": readout.expected.numpy(),
                    "logit_diff": readout.logit_diff.numpy(),
                    "changed": (readout.argmax != clean.argmax).numpy(),
                    "delta_confidence": (readout.confidence - clean.confidence).numpy(),
                    "delta_logit_diff": (readout.logit_diff - clean.logit_diff).numpy(),
                }
                frame = pd.DataFrame({**base, "layer": layer, "role": role, "condition": condition, "status": run.status})
                for name, column in columns.items():
                    frame[name] = np.where(ok, column.astype(float), np.nan)
                frame["probs"] = [p.tolist() if good else None for p, good in zip(readout.probs.numpy(), ok)]
                frames.append(frame)
                bar.update()
    finally:
        bar.close()
    order = ["trial_id", "layer", "role", "condition", "status", "clean_argmax", "clean_confidence", "clean_logit_diff", *_READOUT_COLUMNS, "probs"]
    return pd.concat(frames, ignore_index=True)[order] if frames else pd.DataFrame(columns=order)


def summarise(table: pd.DataFrame, by: Sequence[str] = ("layer", "role", "condition")) -> pd.DataFrame:
    """Per cell over rows with status "ok": n, mean clean and intervened confidence, mean Δconfidence
    with its SEM, mean ΔLD with its SEM, and change rate (fraction of rows whose argmax moved)."""
    ok = table[table["status"] == "ok"]
    grouped = ok.groupby(list(by), sort=True)
    out = grouped.agg(
        n=("trial_id", "size"),
        clean_confidence=("clean_confidence", "mean"),
        confidence=("confidence", "mean"),
        delta_confidence=("delta_confidence", "mean"),
        delta_confidence_sem=("delta_confidence", "sem"),
        delta_logit_diff=("delta_logit_diff", "mean"),
        delta_logit_diff_sem=("delta_logit_diff", "sem"),
        change_rate=("changed", "mean"),
    )
    return out.reset_index()


def recovery(corrupt: pd.DataFrame, patched: pd.DataFrame, by: Sequence[str] = ("layer", "role")) -> pd.DataFrame:
    """Patching recovery per cell (verbal_confidence.md §5), as ratios of trial means.

    R_M = (M̄_patched − M̄_corrupt) / (M̄_clean − M̄_corrupt) × 100 for M ∈ {confidence, logit_diff},
    and R_CR = (CR_corrupt − CR_patched) / CR_corrupt × 100, where CR is the rate of rows whose
    argmax differs from the clean one. Means are over the trials that are "ok" in both tables.

    Args:
        corrupt: `sweep` rows of the corrupted run (one row per trial; layer/role ignored).
        patched: `sweep` rows of the patched runs.
        by: the grid columns of `patched` to report per cell.

    Returns:
        One row per cell: n, clean / corrupt / patched confidence and logit_diff means, the change
        rates, and recovery_confidence, recovery_logit_diff, recovery_change_rate (NaN where the
        denominator is 0).
    """
    base = corrupt[corrupt["status"] == "ok"].drop_duplicates("trial_id").set_index("trial_id")
    rows = []
    for cell, group in patched[patched["status"] == "ok"].groupby(list(by), sort=True):
        group = group[group["trial_id"].isin(base.index)]
        if group.empty:
            continue
        before = base.loc[group["trial_id"]]
        clean_c, corrupt_c, patched_c = group["clean_confidence"].mean(), before["confidence"].mean(), group["confidence"].mean()
        clean_ld, corrupt_ld, patched_ld = group["clean_logit_diff"].mean(), before["logit_diff"].mean(), group["logit_diff"].mean()
        corrupt_cr, patched_cr = before["changed"].mean(), group["changed"].mean()
        rows.append(
            {
                **dict(zip(by, cell if isinstance(cell, tuple) else (cell,))),
                "n": len(group),
                "clean_confidence": clean_c,
                "corrupt_confidence": corrupt_c,
                "patched_confidence": patched_c,
                "clean_logit_diff": clean_ld,
                "corrupt_logit_diff": corrupt_ld,
                "patched_logit_diff": patched_ld,
                "corrupt_change_rate": corrupt_cr,
                "patched_change_rate": patched_cr,
                "recovery_confidence": _percent(patched_c - corrupt_c, clean_c - corrupt_c),
                "recovery_logit_diff": _percent(patched_ld - corrupt_ld, clean_ld - corrupt_ld),
                "recovery_change_rate": _percent(corrupt_cr - patched_cr, corrupt_cr),
            }
        )
    return pd.DataFrame(rows)


def _percent(numerator: float, denominator: float) -> float:
    return float("nan") if denominator == 0 or not np.isfinite(denominator) else float(100.0 * numerator / denominator)
