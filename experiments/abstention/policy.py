"""Stage "policy" (abstention.md §6.3): which predictors drive free abstention in Phase 2 —
logistic models of abstention on Phase-1 confidence C, difficulty D, the RAG score R and the
embedding PCs E, alone and together, compared by AIC, McFadden R² and LR tests; the full
standardised model; and the implicit threshold T50 and policy temperature from C + D, with
bootstrap CIs. The full model with the v2 verbal confidence (`verbal_model_rows`) runs in the
decoding stage, which rates it."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from experiments.abstention.context import AbstentionContext
from interp.analysis.stats import bootstrap_indices, convergence_flags, fit_logit, implicit_threshold, nested_logit


def policy_data(ctx: AbstentionContext) -> pd.DataFrame:
    """One row per answered-or-abstained Phase-2 test item: abstain, C (Phase-1 chosen
    confidence), D, R and the PCs."""
    phase1 = ctx.run.read_table("phase1").set_index("trial_id")
    phase2 = ctx.run.read_table("phase2")
    controls = ctx.run.read_table("controls").set_index("trial_id")
    data = phase2[phase2["status"] == "ok"][["trial_id", "abstain"]].copy()
    data["abstain"] = data["abstain"].astype(float)
    data["C"] = phase1.loc[data["trial_id"], "chosen_confidence"].to_numpy(float)
    data["D"] = controls.loc[data["trial_id"], "difficulty"].to_numpy(float)
    data["R"] = controls.loc[data["trial_id"], "rag"].to_numpy(float)
    for column in [c for c in controls.columns if c.startswith("pc_")]:
        data[column] = controls.loc[data["trial_id"], column].to_numpy(float)
    return data


def _pcs(data: pd.DataFrame) -> list[str]:
    return [c for c in data.columns if c.startswith("pc_")]


def model_rows(data: pd.DataFrame, models: Mapping[str, list[str]] | None = None) -> list[dict]:
    """AIC, McFadden R², log-likelihood and coefficients (of every predictor but the PCs, or of
    the first three PCs of E) of each model (default those of §6.3); a model whose predictor is
    missing, or whose outcome has one class, gets a status."""
    pcs = _pcs(data)
    models = models or {"C": ["C"], "D": ["D"], "R": ["R"], "E": pcs, "C+D": ["C", "D"], "C+R": ["C", "R"], "C+E": ["C", *pcs], "C+D+R+E": ["C", "D", "R", *pcs]}
    rows = []
    for name, predictors in models.items():
        frame = data[["abstain", *predictors]].dropna()
        row = {"model": name, "predictors": ", ".join(predictors), "n": len(frame)}
        if not predictors or frame.empty or data[predictors].isna().all().any():
            rows.append({**row, "status": "skipped (a predictor is missing)"})
            continue
        if frame["abstain"].nunique() < 2:
            rows.append({**row, "status": "abstention has one class"})
            continue
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                fit = fit_logit(frame["abstain"].to_numpy(float), frame[predictors])
        except Exception as error:  # separation, a singular design
            rows.append({**row, "status": f"fit failed: {error}"[:160]})
            continue
        flags = convergence_flags(caught)
        row.update(aic=float(fit.aic), pseudo_r2=float(fit.prsquared), llf=float(fit.llf), status=f"ok ({', '.join(flags)}: coefficients unreliable)" if flags else "ok")
        for predictor in [p for p in predictors if p not in pcs] or predictors[:3]:
            row[f"beta_{predictor}"], row[f"se_{predictor}"], row[f"z_{predictor}"] = float(fit.params[predictor]), float(fit.bse[predictor]), float(fit.tvalues[predictor])
        rows.append(row)
    return rows


def verbal_model_rows(data: pd.DataFrame) -> list[dict]:
    """The full model plus the v2 verbal confidence V (§6.3, §6.7: does V predict abstention
    beside C, D, R and E?): the "C+D+R+E+V" row of `model_rows` with the LR χ²(1) and ΔAIC of V
    over C+D+R+E — without R ("C+D+E+V (no R)") when no RAG score was computed — or a status row
    when `data` holds no verbal rating."""
    others = [c for c in ("C", "D", "R") if c in data and data[c].notna().any()] + _pcs(data)
    name = "C+D+R+E+V" if "R" in others else "C+D+E+V (no R)"
    if "V" not in data or data["V"].isna().all():
        return [{"model": name, "predictors": ", ".join([*others, "V"]), "n": 0, "status": "skipped (no verbal confidence rated)"}]
    rows = model_rows(data, {name: [*others, "V"]})
    if rows[0]["status"].startswith("ok"):
        added = nested_logit(data, "abstain", others, ["V"])
        rows[0].update(lr_stat_V=added.lr_stat, lr_p_V=added.lr_p, delta_aic_V=added.aic_full - added.aic_base)
    return rows


def test_rows(data: pd.DataFrame) -> list[dict]:
    """The LR tests of §6.3: R over C (χ²(1)), E over C (χ²(10)), C over E (χ²(1)), C over R (ΔAIC)."""
    pcs = _pcs(data)
    out = []
    one_class = data["abstain"].dropna().nunique() < 2
    for name, base, added in (("R over C", ["C"], ["R"]), ("E over C", ["C"], pcs), ("C over E", pcs, ["C"]), ("C over R", ["R"], ["C"]), ("D over C", ["C"], ["D"])):
        row = {"test": name}
        if not added or data[[*base, *added]].isna().all().any():
            out.append({**row, "status": "skipped (a predictor is missing)"})
            continue
        if one_class:
            out.append({**row, "status": "abstention has one class"})
            continue
        try:
            result = nested_logit(data, "abstain", base, added)
        except Exception as error:  # one class, separation
            out.append({**row, "status": f"fit failed: {error}"[:160]})
            continue
        out.append({**row, "lr_stat": result.lr_stat, "df": result.lr_df, "p": result.lr_p, "delta_aic": result.aic_full - result.aic_base, "pseudo_r2_base": result.pseudo_r2_base, "pseudo_r2_full": result.pseudo_r2_full, "status": "ok"})
    return out


def standardised_rows(data: pd.DataFrame, predictors: Sequence[str] | None = None) -> list[dict]:
    """A logistic model of abstain on z-scored `predictors` (default the full model C, D, R and
    the PCs; those with no value are left out): β_std, SE, z and p of every predictor."""
    predictors = [c for c in (predictors or ["C", "D", "R", *_pcs(data)]) if data[c].notna().any()]
    frame = data[["abstain", *predictors]].dropna()
    if frame["abstain"].nunique() < 2:
        return [{"predictor": "all", "status": "abstention has one class"}]
    fit = fit_logit(frame["abstain"].to_numpy(float), frame[predictors], standardise=True)
    return [{"predictor": p, "beta_std": float(fit.params[p]), "se": float(fit.bse[p]), "z": float(fit.tvalues[p]), "p": float(fit.pvalues[p]), "n": len(frame), "status": "ok"} for p in predictors]


def threshold_rows(data: pd.DataFrame, n_boot: int, seed: int) -> list[dict]:
    """T50 = −(β0 + β_D·D̄)/β_C and the policy temperature 1/|β_C| from abstain ~ C + D (C alone
    when D is missing), with percentile bootstrap CIs over items."""
    use_d = data["D"].notna().any()
    frame = data[["abstain", "C", *(["D"] if use_d else [])]].dropna().reset_index(drop=True)
    if frame["abstain"].nunique() < 2:
        return [{"quantity": "T50", "status": "abstention has one class"}]

    def estimate(rows: np.ndarray) -> tuple[float, float]:
        part = frame.iloc[rows]
        fit = fit_logit(part["abstain"].to_numpy(float), part[["C", *(["D"] if use_d else [])]])
        return implicit_threshold(float(fit.params["const"]), float(fit.params["C"]), float(fit.params["D"]) if use_d else 0.0, float(part["D"].mean()) if use_d else 0.0)

    t50, temperature = estimate(np.arange(len(frame)))
    draws = []
    for rows in bootstrap_indices(len(frame), n_boot, seed=seed):
        try:
            draws.append(estimate(rows))
        except Exception:  # a resample with one class or separation
            continue
    draws = np.array(draws)
    model = "C + D" if use_d else "C (no difficulty)"
    out = []
    for k, (name, value) in enumerate((("T50", t50), ("policy_temperature", temperature))):
        low, high = np.quantile(draws[:, k], [0.025, 0.975]) if len(draws) else (np.nan, np.nan)
        out.append({"quantity": name, "estimate": value, "ci_low": float(low), "ci_high": float(high), "model": model, "n": len(frame), "status": "ok"})
    return out


def run(ctx: AbstentionContext) -> pd.DataFrame:
    data = policy_data(ctx)
    models = pd.DataFrame(model_rows(data))
    ctx.run.write_table("phase2_models", models)
    ctx.run.write_table("phase2_tests", pd.DataFrame(test_rows(data)))
    ctx.run.write_table("phase2_standardised", pd.DataFrame(standardised_rows(data)))
    ctx.run.write_table("phase2_threshold", pd.DataFrame(threshold_rows(data, int(ctx.config.mediation.n_boot), ctx.seed)))
    return models
