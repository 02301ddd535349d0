"""Stages "steering" (abstention.md §6.4: ±α·v at AC of the Phase-2 prompt, one layer at a time;
abstention, C_1…C_5 and accuracy among answered per trial against the unsteered baseline; the
slope of abstention per unit α with item-clustered CIs) and "mediation" (§6.5: how much of the
effect runs through redistributed confidence, M1, and through a shifted policy, M2)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.abstention.context import AbstentionContext
from experiments.abstention.phases import PHASE2_STORE
from interp.analysis import steering_vector
from interp.analysis.stats import bootstrap_ci, clustered_slope, fit_logit, parallel_mediation
from interp.errors import ConfigError
from interp.interventions import Steer
from interp.prompting import Batch


def balanced_pick(ranked: pd.DataFrame, n: int, max_share: float) -> pd.DataFrame:
    """The first `n` rows of `ranked` (in order) such that no chosen option (1–4) accounts for
    more than `max_share` of them; an item that would break the cap is skipped."""
    cap = max(1, int(np.floor(max_share * n)))
    counts: dict[int, int] = {}
    keep = []
    for index, row in ranked.iterrows():
        option = int(row["real_choice"])
        if counts.get(option, 0) < cap:
            counts[option] = counts.get(option, 0) + 1
            keep.append(index)
        if len(keep) == n:
            break
    return ranked.loc[keep]


def vector_groups(ctx: AbstentionContext, pool: pd.DataFrame) -> pd.DataFrame:
    """The H and L items (§6.4 step 2): the top and bottom `steering.pool` by margin, then
    `n_vector` of each with option balance."""
    spec = ctx.config.steering
    ranked = pool.sort_values(["margin", "trial_id"], ascending=[False, True])
    high = balanced_pick(ranked.head(int(spec.pool)), int(spec.n_vector), float(spec.max_option_share)).assign(group="high")
    rest = ranked[~ranked["trial_id"].isin(high["trial_id"])].iloc[::-1]
    low = balanced_pick(rest.head(int(spec.pool)), int(spec.n_vector), float(spec.max_option_share)).assign(group="low")
    return pd.concat([high, low], ignore_index=True)


def _conditions(alphas) -> dict[str, float]:
    return {f"alpha_{float(a):+g}": float(a) for a in alphas}


def run(ctx: AbstentionContext) -> pd.DataFrame:
    spec = ctx.config.steering
    phase2 = ctx.run.read_table("phase2")
    ok = phase2[phase2["status"] == "ok"].copy()
    ok["real_choice"] = ok[[f"c_{k}" for k in range(1, 5)]].to_numpy(float).argmax(1) + 1
    test = ctx.draw(ok, int(spec.n_test), "steering test")
    pool = ok[~ok["trial_id"].isin(test["trial_id"])]
    groups = vector_groups(ctx, pool)
    if set(groups["group"]) != {"high", "low"}:
        raise ConfigError(f"steering: {len(pool)} Phase-2 items outside the steering test set cannot give high and low vector groups (lower steering.n_test)")
    ctx.run.write_table("steering_trials", pd.concat([groups, test.assign(group="test")])[["trial_id", "group", "margin", "real_choice", "max_real", "c_5"]])
    layers = ctx.layers("steering")
    high, low, everyone = groups.loc[groups["group"] == "high", "trial_id"].tolist(), groups.loc[groups["group"] == "low", "trial_id"].tolist(), pool["trial_id"].tolist()
    vectors = {layer: steering_vector(ctx.activations(layer, "answer_colon", high, PHASE2_STORE), ctx.activations(layer, "answer_colon", low, PHASE2_STORE), ctx.activations(layer, "answer_colon", everyone, PHASE2_STORE), float(spec.fraction)) for layer in layers}
    alphas = _conditions(spec.alphas)

    def make_specs(batch: Batch, layer: int, role: str, condition: str):
        return [Steer(layer, "answer_colon", vectors[layer], alpha=alphas[condition])]

    table = ctx.sweep_parts("steering", "test", ctx.mcq_trials(test["trial_id"]), "mcq_abstain", make_specs, layers, ["answer_colon"], list(alphas))
    table["alpha"] = table["condition"].map(alphas)
    table = table.merge(test[["trial_id", "correct_option", "max_real", "c_5"]].rename(columns={"max_real": "baseline_max_real", "c_5": "baseline_c_5"}), on="trial_id", how="left")
    table["c_5"] = [p[4] if isinstance(p, (list, np.ndarray)) and len(p) == 5 else np.nan for p in table["probs"]]
    ctx.run.write_table("steering", table)
    ctx.run.write_table("steering_summary", summary(table, int(ctx.config.mediation.n_boot), ctx.seed))
    ctx.run.write_table("steering_slopes", slopes(table))
    return table


def summary(table: pd.DataFrame, n_boot: int, seed: int) -> pd.DataFrame:
    """Per α pooled over layers (layer "all"; layers are strings) and per (layer, α): abstention rate with an item
    bootstrap CI, coverage, accuracy among answered, mean Δ max real confidence; α = 0 is the
    unsteered baseline."""
    ok = table[table["status"] == "ok"]
    rows = []
    baseline = ok.drop_duplicates("trial_id")
    groups = [(("all", 0.0), baseline.assign(abstain=baseline["clean_abstain"], choice=baseline["clean_choice"], delta_max_real=0.0))]
    groups += [(("all", alpha), cell) for alpha, cell in ok.groupby("alpha", sort=True)]
    groups += [((layer, alpha), cell) for (layer, alpha), cell in ok.groupby(["layer", "alpha"], sort=True)]
    for (layer, alpha), cell in groups:
        abstain = cell["abstain"].astype(float).to_numpy()
        estimate, low, high = bootstrap_ci(lambda r, a=abstain: a[r].mean(), len(abstain), n_boot=n_boot, clusters=cell["trial_id"].to_numpy(), seed=seed)
        answered = cell[~cell["abstain"].astype(bool)]
        rows.append({"layer": str(layer), "alpha": alpha, "n": len(cell), "abstain_rate": estimate, "ci_low": low, "ci_high": high, "coverage": 1 - estimate,
                     "answered_accuracy": float((answered["choice"] == answered["correct_option"]).mean()) if len(answered) else np.nan, "delta_max_real": float(cell["delta_max_real"].mean())})
    return pd.DataFrame(rows)


def slopes(table: pd.DataFrame) -> pd.DataFrame:
    """Abstention (0/1, in pp) regressed on α with item-clustered SEs (`clustered_slope`), pooled
    over layers and per layer: the slope per unit α with its 95% CI and p, and r of the rate per α
    against α."""
    ok = table[table["status"] == "ok"]
    rows = []
    for layer, cell in [("all", ok), *ok.groupby("layer", sort=True)]:
        y = 100 * cell["abstain"].astype(float).to_numpy()
        if np.std(y) == 0:
            rows.append({"layer": str(layer), "n": len(cell), "status": "abstention constant"})
            continue
        fit = clustered_slope(y, cell["alpha"].to_numpy(float), cell["trial_id"].to_numpy())
        rates = cell.groupby("alpha")["abstain"].mean()
        rows.append({"layer": str(layer), "n": len(cell), "slope_pp_per_alpha": fit["slope"], "ci_low": fit["ci_low"], "ci_high": fit["ci_high"], "p": fit["p"], "r": float(np.corrcoef(rates.index, rates.to_numpy(float))[0, 1]), "status": "ok"})
    return pd.DataFrame(rows)


def mediators(ctx: AbstentionContext, table: pd.DataFrame) -> pd.DataFrame:
    """Per steered trial (§6.5): X = α, Y = abstain, M1 = Δ max real − Δ C_5 against the item's
    baseline, M2 = σ(a_s + b_s·C_m) − σ(a_b + b_b·C_m) from logistic fits of abstention on max
    real confidence within the trial's condition and at baseline, C_m its baseline max real."""
    ok = table[table["status"] == "ok"].copy()
    ok["abstain"] = ok["abstain"].astype(float)
    ok["m1"] = (ok["max_real"] - ok["baseline_max_real"]) - (ok["c_5"] - ok["baseline_c_5"])
    controls = ctx.run.read_table("controls").set_index("trial_id")
    ok["D"] = controls.reindex(ok["trial_id"])["difficulty"].to_numpy(float)
    phase2 = ctx.run.read_table("phase2")
    base = phase2[(phase2["status"] == "ok") & phase2["trial_id"].isin(ok["trial_id"])]
    if ok["abstain"].nunique() < 2 or base["abstain"].nunique() < 2:
        ok["m2"] = np.nan
        return ok
    fits = {"baseline": fit_logit(base["abstain"].astype(float).to_numpy(), base[["max_real"]]).params}
    for condition, cell in ok.groupby("condition"):
        fits[condition] = fit_logit(cell["abstain"].to_numpy(), cell[["max_real"]]).params

    def policy(name: str, c: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-(fits[name]["const"] + fits[name]["max_real"] * c)))

    ok["m2"] = [float(policy(s, np.array([c]))[0] - policy("baseline", np.array([c]))[0]) for s, c in zip(ok["condition"], ok["baseline_max_real"])]
    return ok


def mediation(ctx: AbstentionContext) -> pd.DataFrame:
    table = ctx.run.read_table("steering")
    n_boot = int(ctx.config.mediation.n_boot)
    rows = []
    try:
        data = mediators(ctx, table)
    except Exception as error:  # one class of abstention within a condition, separation
        out = pd.DataFrame([{"variant": "M1 + M2", "effect": "all", "status": f"mediators could not be fitted: {error}"[:200]}])
        ctx.run.write_table("mediation", out)
        return out
    ctx.run.write_table("mediation_trials", data[["trial_id", "layer", "condition", "alpha", "abstain", "m1", "m2", "D"]])
    if data["abstain"].nunique() < 2:
        out = pd.DataFrame([{"variant": "M1 + M2", "effect": "all", "status": "abstention is constant across the steered trials: nothing to mediate"}])
        ctx.run.write_table("mediation", out)
        return out
    if data["m2"].isna().all():
        out = pd.DataFrame([{"variant": "M1 + M2", "effect": "all", "status": "M2 undefined: unsteered Phase-2 abstention has one class, so its policy cannot be fitted"}])
        ctx.run.write_table("mediation", out)
        return out
    for variant, covariates in (("M1 + M2", []), ("M1 + M2, difficulty", ["D"])):
        if covariates and data["D"].isna().all():
            rows.append(pd.DataFrame([{"variant": variant, "effect": "all", "status": "skipped (no difficulty)"}]))
            continue
        try:
            result = parallel_mediation(data, "alpha", "abstain", ["m1", "m2"], covariates=covariates, cluster="trial_id", n_boot=n_boot, seed=ctx.seed)
        except Exception as error:
            rows.append(pd.DataFrame([{"variant": variant, "effect": "all", "status": f"fit failed: {error}"[:200]}]))
            continue
        rows.append(result.assign(variant=variant, status="ok", mediator_correlation=result.attrs.get("mediator_correlation")))
    out = pd.concat(rows, ignore_index=True)
    ctx.run.write_table("mediation", out)
    return out
