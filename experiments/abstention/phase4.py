"""Stage "phase4" (abstention.md §6.6): instructed thresholds. A small paraphrase search picks
the prompt wording with the most abstention at T = 100 on calibration items; then every test
item at every T: the reply's Answer / Confidence / Final fields parsed with statuses; threshold-
only, T + D and T + C + D models; standardised βs of the full model with R and the top embedding
PC; the policy's scale, shift and temperature with item-bootstrap CIs; the accuracy-among-answered
trend; the abstention surfaces and bandness with Phase-1 and with self-rated confidence, and their
contrast with an item-bootstrap CI."""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.abstention.context import AbstentionContext
from experiments.abstention.policy import standardised_rows
from interp.analysis.stats import bandness, bootstrap_indices, fit_logit, nested_logit, phase4_policy
from interp.forward import generate
from interp.prompting import Trial
from interp.tasks import parse_threshold_reply

TOP_PC = "pc_1"
"""The top embedding PC of the §6.6 full model: the first principal component of the controls."""
BANDNESS_SOURCES = (("Phase-1 confidence", "C"), ("self-rated confidence", "self_confidence"))
"""The two confidence sources of the bandness contrast (§6.6 step 4): label, column."""


def parsed_rows(table: pd.DataFrame) -> pd.Series:
    """[n] whether each Phase-4 reply parsed (status "ok", or "ok (abstained in the answer field)")."""
    return table["status"].astype(str).str.startswith("ok")


def replies(ctx: AbstentionContext, trials: list[Trial], wording: int) -> pd.DataFrame:
    """Greedy Phase-4 replies of trials (metadata: threshold, correct_option), parsed."""
    template = ctx.threshold_template(wording=wording)
    batches, failed = template.batches(trials, ctx.lm.tokenizer, int(ctx.config.batch_size), chat=bool(ctx.config.chat))
    by_id = {t.id: t for t in trials}
    rows = [{"trial_id": by_id[i].metadata["source_trial"], "threshold": by_id[i].metadata["threshold"], "status": f"render: {why}"} for i, why in failed.items()]
    for gen in generate(ctx.lm, batches, max_new_tokens=int(ctx.config.phase4.max_new_tokens), progress=False):
        trial = by_id[gen.trial_id]
        fields, status = parse_threshold_reply(gen.text)
        final = fields["final"]
        rows.append({
            "trial_id": trial.metadata["source_trial"], "threshold": trial.metadata["threshold"], "text": gen.text, "status": status,
            "answer": fields["answer"], "self_confidence": fields["confidence"], "final": final,
            "abstain": None if final is None else final == 5, "correct": None if final is None or final == 5 else final == trial.metadata["correct_option"],
        })
    return pd.DataFrame(rows)


def _trials(ctx: AbstentionContext, ids: list[str], threshold: int) -> list[Trial]:
    trials = ctx.mcq_trials(ids, suffix=f"#T{threshold}")
    for t in trials:
        t.metadata["threshold"] = threshold
    return trials


def search(ctx: AbstentionContext) -> dict:
    """The paraphrase search (§8): abstention at T = 100 per wording on `n_search` calibration
    items; the wording with the most wins (ties: the lower index). Written to phase4.json."""
    spec = ctx.config.phase4
    ids = ctx.ids("calibration")[: int(spec.n_search)]
    rates = {}
    for wording in spec.wordings:
        table = ctx.run.part("phase4", f"search-w{wording}", lambda wording=wording: replies(ctx, _trials(ctx, ids, 100), int(wording)))
        parsed = table[parsed_rows(table)]
        rates[int(wording)] = float(parsed["abstain"].astype(float).mean()) if len(parsed) else float("nan")
    best = max(rates, key=lambda w: (np.nan_to_num(rates[w], nan=-1.0), -w))
    record = {"wording": best, "abstention_at_100": rates, "n_items": len(ids)}
    ctx.run.write_json("phase4.json", record)
    return record


def run(ctx: AbstentionContext) -> pd.DataFrame:
    spec = ctx.config.phase4
    if not spec.enabled:
        table = pd.DataFrame([{"status": "skipped (phase4.enabled is off)"}])
        ctx.run.write_table("phase4", table)
        ctx.run.write_table("phase4_models", table)
        ctx.run.write_table("phase4_surface", table)
        return table
    chosen = search(ctx)
    ids = ctx.ids("test")
    if spec.n_items is not None:
        ids = ids[: int(spec.n_items)]
    pieces = [(f"T{t:03d}", lambda t=t: replies(ctx, _trials(ctx, ids, int(t)), chosen["wording"])) for t in spec.thresholds]
    table = pd.concat(ctx.run.parts("phase4", pieces, desc="phase 4 thresholds"), ignore_index=True)
    first = ctx.run.read_table("phase1").set_index("trial_id")
    controls = ctx.run.read_table("controls").set_index("trial_id")
    table["C"] = 100 * first.loc[table["trial_id"], "chosen_confidence"].to_numpy(float)
    table["D"] = controls.reindex(table["trial_id"])["difficulty"].to_numpy(float)
    for name, column in (("R", "rag"), (TOP_PC, TOP_PC)):
        table[name] = controls.reindex(table["trial_id"])[column].to_numpy(float) if column in controls else np.nan
    answer = table["answer"].astype(float).to_numpy()
    table["phase1_choice_kept"] = np.where(np.isnan(answer), np.nan, answer == first.loc[table["trial_id"], "choice"].to_numpy(float))
    ctx.run.write_table("phase4", table)
    ctx.run.write_table("phase4_models", models(table, int(ctx.config.mediation.n_boot), ctx.seed))
    ctx.run.write_table("phase4_surface", surfaces(table))
    return table


def _parsed(table: pd.DataFrame) -> pd.DataFrame:
    """The parsed trials with abstain as 0/1 and T (points) as floats."""
    return table[parsed_rows(table)].assign(abstain=lambda f: f["abstain"].astype(float), T=lambda f: f["threshold"].astype(float))


def surfaces(table: pd.DataFrame) -> pd.DataFrame:
    """The Phase-4 surfaces of §6.6 step 1 (`bandness`): abstention rate per confidence decile ×
    threshold, for Phase-1 and for self-rated confidence (a source with no parsed confidence is
    left out): confidence_source, bin, confidence_low, confidence_high, threshold, n, rate."""
    data = _parsed(table)
    frames = []
    for label, column in BANDNESS_SOURCES:
        usable = data.dropna(subset=[column]) if column in data else data.iloc[:0]
        if len(usable):
            frames.append(bandness(usable["abstain"], usable[column].astype(float), usable["T"])[1].assign(confidence_source=label))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame([{"confidence_source": "none", "status": "no parsed trials with a confidence"}])


def full_model_rows(data: pd.DataFrame, base: list[str]) -> list[dict]:
    """§6.6: standardised βs (SE, z, p) of T (+ D) + C + R + the top embedding PC, every predictor
    z-scored; R or the PC missing from the controls gets a status row and is left out."""
    extra = {"R": "RAG score", TOP_PC: "top embedding PC"}
    present = [c for c in extra if c in data and data[c].notna().any()]
    rows = [{"quantity": f"beta_std full {c}", "status": f"skipped (no {label} in the controls table)"} for c, label in extra.items() if c not in present]
    try:
        fitted = standardised_rows(data, [*base, "C", *present])
    except Exception as error:  # separation, a constant predictor
        return [*rows, {"quantity": "beta_std full", "status": f"fit failed: {error}"[:200]}]
    return [{"quantity": f"beta_std full {r.pop('predictor')}", "estimate": r.pop("beta_std", np.nan), **r} for r in fitted] + rows


def bandness_rows(data: pd.DataFrame, n_boot: int, seed: int) -> list[dict]:
    """Bandness with each confidence source, and the contrast Phase-1 − self-rated on the trials
    with both, with a percentile CI from a bootstrap over items (all of an item's thresholds)."""
    rows = []
    for label, column in BANDNESS_SOURCES:
        usable = data.dropna(subset=[column])
        value = bandness(usable["abstain"], usable[column].astype(float), usable["T"])[0] if len(usable) else np.nan
        rows.append({"quantity": f"bandness ({label})", "estimate": value, "n": len(usable), "status": "ok" if len(usable) else "no parsed confidence"})
    columns = [column for _, column in BANDNESS_SOURCES]
    both = data.dropna(subset=columns).reset_index(drop=True)
    quantity = "bandness contrast (Phase-1 − self-rated)"
    if both.empty:
        return [*rows, {"quantity": quantity, "n": 0, "status": "no parsed self-rated confidence"}]

    def contrast(index: np.ndarray) -> float:
        part = both.iloc[index]
        first, second = (bandness(part["abstain"], part[column].astype(float), part["T"])[0] for column in columns)
        return first - second

    draws = np.array([contrast(index) for index in bootstrap_indices(len(both), n_boot, clusters=both["trial_id"].to_numpy(), seed=seed)])
    draws = draws[np.isfinite(draws)]
    low, high = np.quantile(draws, [0.025, 0.975]) if len(draws) else (np.nan, np.nan)
    estimate = contrast(np.arange(len(both)))
    return [*rows, {"quantity": quantity, "estimate": estimate, "ci_low": float(low), "ci_high": float(high), "n": len(both), "status": "ok" if np.isfinite(estimate) else "abstention constant on these trials"}]


def models(table: pd.DataFrame, n_boot: int, seed: int) -> pd.DataFrame:
    """The Phase-4 model comparisons and policy parameters (§5, §6.6) on the parsed trials."""
    data = _parsed(table)
    use_d = data["D"].notna().any()
    base = ["T", *(["D"] if use_d else [])]
    rows = []
    if data["abstain"].nunique() < 2:
        return pd.DataFrame([{"quantity": "all", "n": len(data), "status": "abstention has one class across thresholds"}])
    only_t = fit_logit(data["abstain"].to_numpy(), data[["T"]])
    rows.append({"quantity": "threshold-only", "aic": float(only_t.aic), "pseudo_r2": float(only_t.prsquared), "beta_T": float(only_t.params["T"]), "n": len(data), "status": "ok"})
    try:
        comparison = nested_logit(data, "abstain", base, ["C"])
    except Exception as error:
        return pd.DataFrame([*rows, {"quantity": "T + C + D", "status": f"fit failed: {error}"[:200]}])
    rows.append({"quantity": f"adding C to {' + '.join(base)}", "lr_stat": comparison.lr_stat, "p": comparison.lr_p, "delta_aic": comparison.aic_full - comparison.aic_base, "pseudo_r2_base": comparison.pseudo_r2_base, "pseudo_r2_full": comparison.pseudo_r2_full, "n": len(data), "status": "ok"})
    for name, beta in comparison.standardized_betas.items():
        rows.append({"quantity": f"beta_std {name}", "estimate": float(beta), "status": "ok"})
    rows += full_model_rows(data, base)
    frame = data[["trial_id", "abstain", *base, "C"]].dropna().reset_index(drop=True)

    def params(rows_: np.ndarray) -> dict[str, float]:
        part = frame.iloc[rows_]
        fit = fit_logit(part["abstain"].to_numpy(), part[[*base, "C"]])
        intercept = fit.params["const"] + (fit.params["D"] * part["D"].mean() if use_d else 0.0)
        return phase4_policy(float(intercept), float(fit.params["T"]), float(fit.params["C"]))

    point = params(np.arange(len(frame)))
    draws = []
    for resample in bootstrap_indices(len(frame), n_boot, clusters=frame["trial_id"].to_numpy(), seed=seed):
        try:
            draws.append(params(resample))
        except Exception:  # a resample with separation
            continue
    draws = pd.DataFrame(draws)
    for name, value in point.items():
        low, high = np.quantile(draws[name], [0.025, 0.975]) if len(draws) else (np.nan, np.nan)
        rows.append({"quantity": name, "estimate": value, "ci_low": float(low), "ci_high": float(high), "n": len(frame), "status": "ok"})
    answered = data[data["abstain"] == 0].dropna(subset=["correct"])
    if answered["correct"].nunique() == 2:
        trend = fit_logit(answered["correct"].astype(float).to_numpy(), answered[["T"]])
        low, high = trend.conf_int().loc["T"]
        rows.append({"quantity": "accuracy among answered ~ T (logit β per point)", "estimate": float(trend.params["T"]), "ci_low": float(low), "ci_high": float(high), "p": float(trend.pvalues["T"]), "n": len(answered), "status": "ok"})
    rows += bandness_rows(data, n_boot, seed)
    return pd.DataFrame(rows)
