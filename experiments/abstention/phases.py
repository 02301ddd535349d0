"""Stages "phase1" (abstention.md §6.2: the 4-way readout at AC, τ fitted on the calibration
items, calibration metrics; the residuals at AC and QLT kept for decoding in the same pass) and
"phase2" (§6.3: the same items with option 5, C_1…C_5, abstention; AC residuals at the steering
layers in the same pass)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.abstention.context import AbstentionContext, calibrated
from interp.prompting import Trial
from interp.readouts import fit_temperature

PHASE1_STORE, PHASE2_STORE = "activations_phase1", "activations_phase2"


def _pilot(ctx: AbstentionContext, kind: str, ids: list[str]) -> None:
    trials = ctx.mcq_trials(ids[: int(ctx.config.pilot.n)])
    ctx.pilot_readouts([kind], trials, float(ctx.config.pilot.min_agreement))


def _options(index: pd.DataFrame, k: int) -> np.ndarray:
    return index[[f"logits_{i}" for i in range(1, k + 1)]].to_numpy(float)


def read_pass(ctx: AbstentionContext, trials: list[Trial], kind: str, store: str, layers: list[int], roles: list[str]) -> pd.DataFrame:
    """One forward per batch of `kind`: the option logits at AC (index columns logits_k) and the
    residuals at (layers, roles) into `store`; one row per trial with its status."""
    return ctx.capture_store(trials, kind, store, layers, roles, readout=ctx.readout(kind), meta={"pipeline": "abstention", "prompt": kind}).index()


def phase1(ctx: AbstentionContext) -> pd.DataFrame:
    """The 4-way MCQ on calibration and test items: option logits and residuals in one pass; τ
    fitted on the calibration items (written to phase1_fit.json); calibrated C_1…C_4, choice,
    chosen confidence, correctness and the chosen option's kind per item."""
    ids = ctx.ids("calibration") + ctx.ids("test")
    _pilot(ctx, "mcq", ctx.ids("test"))
    index = read_pass(ctx, ctx.mcq_trials(ids), "mcq", PHASE1_STORE, list(range(ctx.n_layers)), ["answer_colon", "question_last_token"])
    items = ctx.items
    table = index[["trial_id", "status"]].copy()
    table["set"] = items.loc[table["trial_id"], "set"].to_numpy()
    z = _options(index, 4) if "logits_1" in index else np.full((len(index), 4), np.nan)
    read = np.isfinite(z).all(1)
    calibration = read & (table["set"] == "calibration").to_numpy()
    correct_option = items.loc[table["trial_id"], "correct_option"].to_numpy(int)
    if calibration.sum() == 0:
        raise ValueError("phase 1: no calibration item was read; τ cannot be fitted")
    tau = fit_temperature(z[calibration], correct_option[calibration])
    ctx.run.write_json("phase1_fit.json", {"tau": tau, "n_calibration": int(calibration.sum())})
    probs = np.full_like(z, np.nan)
    probs[read] = calibrated(z[read], tau)
    for k in range(4):
        table[f"z_{k + 1}"], table[f"c_{k + 1}"] = z[:, k], probs[:, k]
    choice = np.where(read, np.nanargmax(np.where(read[:, None], probs, 0), axis=1) + 1, 0)
    table["choice"] = np.where(read, choice, np.nan)
    table["chosen_confidence"] = np.where(read, probs[np.arange(len(table)), np.maximum(choice - 1, 0)], np.nan)
    table["correct"] = np.where(read, choice == correct_option, np.nan)
    kinds = items.loc[table["trial_id"], "option_kinds"].tolist()
    table["chosen_kind"] = [list(k)[c - 1] if r else None for k, c, r in zip(kinds, choice, read)]
    table.loc[(table["status"] == "ok") & ~read, "status"] = "options not read"
    ctx.run.write_table("phase1", table)
    return table


def phase2(ctx: AbstentionContext) -> pd.DataFrame:
    """The test items with option 5 (abstain), same option order: C_1…C_5 with the Phase-1 τ,
    abstention (argmax 5), max real confidence, margin, and whether the Phase-1 choice is still
    the top real option; AC residuals at the steering layers from the same pass."""
    ids = ctx.ids("test")
    _pilot(ctx, "mcq_abstain", ids)
    index = read_pass(ctx, ctx.mcq_trials(ids), "mcq_abstain", PHASE2_STORE, ctx.layers("steering"), ["answer_colon"])
    tau = ctx.tau
    table = index[["trial_id", "status"]].copy()
    z = _options(index, 5) if "logits_1" in index else np.full((len(index), 5), np.nan)
    read = np.isfinite(z).all(1)
    probs = np.full_like(z, np.nan)
    probs[read] = calibrated(z[read], tau)
    for k in range(5):
        table[f"z_{k + 1}"], table[f"c_{k + 1}"] = z[:, k], probs[:, k]
    top = np.nanargmax(np.where(read[:, None], probs, 0), axis=1) + 1
    table["choice"] = np.where(read, top, np.nan)
    table["abstain"] = np.where(read, top == 5, np.nan)
    table["max_real"] = probs[:, :4].max(1)
    table["margin"] = table["max_real"] - probs[:, 4]
    real_top = np.nanargmax(np.where(read[:, None], probs[:, :4], 0), axis=1) + 1
    first = ctx.run.read_table("phase1").set_index("trial_id")
    table["phase1_choice_kept"] = np.where(read, real_top == first.loc[table["trial_id"], "choice"].to_numpy(), np.nan)
    correct_option = ctx.items.loc[table["trial_id"], "correct_option"].to_numpy(int)
    table["correct_option"] = correct_option
    table["answered_correct"] = np.where(read & (top <= 4), top == correct_option, np.nan)
    table.loc[(table["status"] == "ok") & ~read, "status"] = "options not read"
    ctx.run.write_table("phase2", table)
    return table
