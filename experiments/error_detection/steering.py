"""Stage "steering" ([ours], error_detection.md §6 "Not in the paper"): ±α·v at PANL (and the
PANL+1 control) of the verification prompt, v = mean(V = Y) − mean(V = N) of the PANL residuals of
a vector set, scaled to a fraction of the residual norm; the verdict's Δ VLD and yes rate per
(layer, position, α), and PANL against PANL+1 by a paired bootstrap over trials."""

from __future__ import annotations

import pandas as pd

from experiments.error_detection.context import ErrorDetectionContext
from interp.analysis import steering_vector
from interp.analysis.stats import paired_bootstrap_test
from interp.errors import ConfigError
from interp.interventions import Steer
from interp.prompting import Batch


def run(ctx: ErrorDetectionContext) -> pd.DataFrame:
    spec = ctx.config.steering
    if not spec.enabled:
        table = pd.DataFrame([{"status": "skipped (steering.enabled is off)"}])
        ctx.run.write_table("steering", table)
        ctx.run.write_table("steering_contrasts", table)
        return table
    usable = ctx.usable()
    vector_trials = ctx.balanced(usable.assign(v=usable["verdict"]), {"Y": int(spec.n_vector), "N": int(spec.n_vector)}, "v", "steering vector")
    if set(vector_trials["group"]) != {"Y", "N"}:
        raise ConfigError(f"steering: the vector needs V = Y and V = N trials; the verified trials hold {usable['verdict'].value_counts().to_dict()}")
    test = ctx.draw(usable, int(spec.n_test), "steering test", exclude=vector_trials["trial_id"])
    layers, roles = ctx.layers("steering"), list(spec.roles)
    yes_ids = vector_trials.loc[vector_trials["group"] == "Y", "trial_id"].tolist()
    no_ids = vector_trials.loc[vector_trials["group"] == "N", "trial_id"].tolist()
    vectors = {}
    for layer in layers:
        for role in roles:
            reference = ctx.activations(layer, role, usable["trial_id"].tolist())
            vectors[(layer, role)] = steering_vector(ctx.activations(layer, role, yes_ids), ctx.activations(layer, role, no_ids), reference[~reference.isnan().any(1)], float(spec.fraction))
    alphas = {f"toward_{direction}_{alpha:g}": sign * float(alpha) for alpha in spec.alphas for direction, sign in (("yes", 1), ("no", -1))}

    def make_specs(batch: Batch, layer: int, role: str, condition: str):
        return [Steer(layer, role, vectors[(layer, role)], alpha=alphas[condition])]

    table = ctx.sweep_parts("steering", "test", ctx.verification_trials(test), "verification", make_specs, layers, roles, list(alphas))
    table = table.merge(test[["trial_id", "correct"]].assign(correct=lambda f: f["correct"].astype(float)), on="trial_id", how="left")
    ctx.run.write_table("steering", table)
    ctx.run.write_table("steering_trials", pd.concat([vector_trials.assign(role_in="vector"), test.assign(role_in="test", group="test")])[["trial_id", "role_in", "group", "verdict", "correct"]])
    ctx.run.write_table("steering_contrasts", contrasts(table, int(ctx.config.probes.n_boot), ctx.seed))
    return table


def contrasts(table: pd.DataFrame, n_boot: int, seed: int) -> pd.DataFrame:
    """Per (layer, condition): mean Δ VLD steering at PANL minus at PANL+1, paired over trials,
    with its bootstrap CI and p."""
    ok = table[table["status"] == "ok"]
    rows = []
    for (layer, condition), cell in ok.groupby(["layer", "condition"], sort=True):
        wide = cell.pivot_table(index="trial_id", columns="role", values="delta_vld", aggfunc="first")
        if {"panl", "panl_plus_1"} <= set(wide.columns):
            both = wide[["panl", "panl_plus_1"]].dropna()
            result = paired_bootstrap_test(both["panl"].to_numpy(), both["panl_plus_1"].to_numpy(), n_boot=n_boot, seed=seed)
            rows.append({"layer": layer, "condition": condition, "n": len(both), "delta_vld_panl": float(both["panl"].mean()), "delta_vld_panl_plus_1": float(both["panl_plus_1"].mean()), **result})
    return pd.DataFrame(rows)
