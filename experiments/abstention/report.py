"""Figures and report.md of an abstention run, from whatever stage tables exist: each headline
number of abstention.md §7 beside ours, every contrast with its CI or test."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from experiments.abstention.context import AbstentionContext
from experiments.abstention.paper import PAPER
from experiments.abstention.phase4 import parsed_rows
from experiments.verbal_confidence.report import pilot_section
from interp.analysis.stats import bootstrap_ci, bootstrap_score, ece, pearson, reliability
from interp.io import markdown_table, save_figure
from interp.pipeline.report import code_section, comparison_section, fmt, stage_times_section, table_or_none, with_ci

Rows = list[tuple[str, str, str, str]]
N_BOOT = 1000


def _ci(row, spec: str = "{:.3f}") -> str:
    if str(row.get("status", "ok")) != "ok" or not np.isfinite(row.get("estimate", np.nan)):
        return f"n/a ({row.get('status', 'no estimate')})"
    low = row.get("ci_low", np.nan)
    return with_ci(row["estimate"], low, row["ci_high"], spec) if np.isfinite(low) else fmt(row["estimate"], spec)


def _image(path: Path) -> str:
    return f"![{path.stem}](figures/{path.name})"


def items_section(ctx: AbstentionContext) -> list[str]:
    items = table_or_none(ctx.run, "items")
    if items is None:
        return []
    counts = items.groupby(["set", "status"]).size().rename("items").reset_index()
    return ["## Items and statuses (§6.1)", "", f"{len(items)} items; every one keeps a status (encoder: {items['encoder'].dropna().iloc[0] if 'encoder' in items and items['encoder'].notna().any() else 'n/a'}).", "", markdown_table(counts), ""]


def phase1_section(ctx: AbstentionContext, rows: Rows) -> list[str]:
    table = table_or_none(ctx.run, "phase1")
    if table is None:
        return []
    test = table[(table["set"] == "test") & (table["status"] == "ok")]
    confidence, correct = test["chosen_confidence"].to_numpy(float), test["correct"].astype(float).to_numpy()
    seed, n = ctx.seed, len(test)
    tau = ctx.tau
    accuracy = bootstrap_ci(lambda r: correct[r].mean(), n, n_boot=N_BOOT, seed=seed)
    calibration_error = bootstrap_ci(lambda r: ece(confidence[r], correct[r], ctx.config.phase1.ece_bins), n, n_boot=N_BOOT, seed=seed)
    auroc = bootstrap_score(correct, confidence, "auroc", n_boot=N_BOOT, seed=seed) if len(np.unique(correct)) == 2 else (np.nan, np.nan, np.nan)
    bins = reliability(confidence, correct, int(ctx.config.phase1.r_bins))
    filled = bins[bins["n"] > 0]
    binned = pearson(filled["mean_confidence"], 1 - filled["accuracy"])
    right, wrong = confidence[correct == 1], confidence[correct == 0]
    pooled = np.sqrt(((len(right) - 1) * right.var(ddof=1) + (len(wrong) - 1) * wrong.var(ddof=1)) / max(1, len(right) + len(wrong) - 2)) if len(right) > 1 and len(wrong) > 1 else np.nan
    cohen = (wrong.mean() - right.mean()) / pooled if np.isfinite(pooled) and pooled > 0 else np.nan
    errors = test[test["correct"] == 0]
    similar = (errors["chosen_kind"] == "similar").mean() if len(errors) else np.nan
    ours = (
        f"accuracy {with_ci(*accuracy)}; τ = {tau:.2f}; ECE {with_ci(*calibration_error)}; AUROC {with_ci(*auroc) if np.isfinite(auroc[0]) else 'n/a'}; "
        + (f"binned r({len(filled) - 2}) = {binned['r']:+.2f} (p = {binned['p']:.2g})" if np.isfinite(binned["r"]) else "binned r: n/a (fewer than 4 filled bins or constant)")
        + f"; Cohen's d (wrong − right) = {fmt(cohen, '{:+.2f}')}"
    )
    rows.append(("Phase 1 (4-way, calibrated)", PAPER["phase1"], ours, "phase1"))
    figure, axis = plt.subplots(figsize=(4.2, 4))
    axis.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8)
    axis.plot(filled["mean_confidence"], filled["accuracy"], marker="o")
    axis.set_xlabel("calibrated chosen confidence")
    axis.set_ylabel("accuracy")
    axis.set_title(f"Phase 1 reliability ({ctx.config.phase1.r_bins} bins, τ = {tau:.2f})")
    path = save_figure(figure, ctx.run.figure_path("phase1_reliability"))
    kinds = errors["chosen_kind"].value_counts().to_dict() if len(errors) else {}
    return ["## Phase 1 and calibration (§6.2)", "", ours + ".", "", _image(path), "", f"Errors by the chosen foil's kind: {kinds} (similar: {fmt(similar, '{:.0%}')}; the spec expects most errors to pick the similar foil).", ""]


def phase2_section(ctx: AbstentionContext, rows: Rows) -> list[str]:
    table = table_or_none(ctx.run, "phase2")
    if table is None:
        return []
    ok = table[table["status"] == "ok"]
    abstain = ok["abstain"].astype(float).to_numpy()
    rate = bootstrap_ci(lambda r: abstain[r].mean(), len(ok), n_boot=N_BOOT, seed=ctx.seed)
    answered = ok[ok["abstain"] == 0]
    accuracy = answered["answered_correct"].astype(float).mean() if len(answered) else np.nan
    kept = ok["phase1_choice_kept"].astype(float).mean()
    rows.append(("Phase 2 abstention", PAPER["phase2"], f"{with_ci(*rate)} abstain; accuracy on answered {fmt(accuracy)} (n = {len(ok)})", "phase2"))
    phase4 = table_or_none(ctx.run, "phase4")
    kept4 = phase4.loc[parsed_rows(phase4), "phase1_choice_kept"].astype(float).mean() if phase4 is not None and "phase1_choice_kept" in phase4 else np.nan
    rows.append(("Phase-1 choice kept", PAPER["stability"], f"Phase 2 {fmt(kept, '{:.1%}')}; Phase 4 {fmt(kept4, '{:.1%}')}", "phase2"))
    lines = ["## Phase 2: free abstention (§6.3)", "", f"Abstention {with_ci(*rate)}; accuracy among answered {fmt(accuracy)}.", ""]
    models = table_or_none(ctx.run, "phase2_models")
    verbal = table_or_none(ctx.run, "phase2_verbal")
    if models is not None:
        every = models if verbal is None else pd.concat([models, verbal], ignore_index=True)
        shown = every[[c for c in ("model", "n", "aic", "pseudo_r2", "beta_C", "se_C", "z_C", "beta_V", "z_V", "lr_stat_V", "lr_p_V", "status") if c in every]]
        ok_models = models[models["status"].astype(str).str.startswith("ok")].set_index("model")
        rows.append(("Phase 2 single models (AIC; pseudo-R²)", PAPER["models"], "; ".join(f"{m} {ok_models.loc[m, 'aic']:.1f}; {ok_models.loc[m, 'pseudo_r2']:.3f}" for m in ("C", "D", "R", "E") if m in ok_models.index) or "n/a", "policy"))
        lines += [markdown_table(shown), ""]
        if verbal is None:
            lines += ["C+D+R+E+V: not fitted (the decoding stage, which rates the verbal confidence V, has not run).", ""]
    if verbal is not None:
        full = verbal.iloc[0]
        text = f"{full['model']}: β_V {full['beta_V']:+.3f} (z = {full['z_V']:.2f}); V over the rest χ²(1) = {full['lr_stat_V']:.2f} (p = {full['lr_p_V']:.3g}, ΔAIC {full['delta_aic_V']:+.1f})" + ("" if full["status"] == "ok" else f"; {full['status']}") if str(full["status"]).startswith("ok") else f"n/a ({full['status']})"
        rows.append(("Verbal confidence in the full Phase-2 model", PAPER["verbal_full"], text, "decoding"))
    tests = table_or_none(ctx.run, "phase2_tests")
    if tests is not None:
        ok_tests = tests[tests["status"] == "ok"]
        rows.append(("Phase 2 increments", PAPER["increments"], "; ".join(f"{r.test} χ²({int(r.df)}) = {r.lr_stat:.2f} (p = {r.p:.3g}, ΔAIC {r.delta_aic:+.1f})" for r in ok_tests.itertuples()) or "n/a", "policy"))
        lines += ["LR tests of §6.3:", "", markdown_table(tests), ""]
    standardised = table_or_none(ctx.run, "phase2_standardised")
    if standardised is not None and "beta_std" in standardised:
        rows.append(("Full standardised model", PAPER["standardised"], "; ".join(f"{r.predictor} {r.beta_std:+.3f} (z = {r.z:.2f})" for r in standardised.head(4).itertuples()), "policy"))
        lines += ["Full standardised model:", "", markdown_table(standardised), ""]
    threshold = table_or_none(ctx.run, "phase2_threshold")
    if threshold is not None and "estimate" in threshold:
        by = threshold.set_index("quantity")
        rows.append(("Implicit threshold", PAPER["threshold"], f"T50 {_ci(by.loc['T50'])}; policy temperature {_ci(by.loc['policy_temperature'])} (confidence units, {by.loc['T50', 'model']})", "policy"))
    return lines


def steering_section(ctx: AbstentionContext, rows: Rows) -> list[str]:
    summary = table_or_none(ctx.run, "steering_summary")
    if summary is None:
        return []
    pooled = summary[summary["layer"].astype(str) == "all"].sort_values("alpha")
    slopes = table_or_none(ctx.run, "steering_slopes")
    slope = slopes[slopes["layer"].astype(str) == "all"].iloc[0] if slopes is not None and len(slopes) else None
    slope_text = f"{slope['slope_pp_per_alpha']:+.2f} pp per unit α [{slope['ci_low']:+.2f}, {slope['ci_high']:+.2f}] (item-clustered, p = {slope['p']:.2g})" if slope is not None and slope.get("status") == "ok" else "n/a"
    ends = pooled.iloc[[0, -1]] if len(pooled) else pooled
    rows.append(("Phase 3 abstention vs α (pooled over layers)", PAPER["steering"], "; ".join(f"α = {r.alpha:+g}: {with_ci(r.abstain_rate, r.ci_low, r.ci_high)}" for r in ends.itertuples()) + f"; slope {slope_text}", "steering"))
    rows.append(("Phase 3 accuracy / coverage", PAPER["steering_accuracy"], "; ".join(f"α = {r.alpha:+g}: accuracy {fmt(r.answered_accuracy)}, coverage {fmt(r.coverage)}" for r in ends.itertuples()), "steering"))
    figure, axis = plt.subplots(figsize=(6, 4))
    for layer, cell in summary[summary["layer"].astype(str) != "all"].groupby("layer"):
        axis.plot(cell["alpha"], cell["abstain_rate"], marker=".", alpha=0.5, label=f"L{layer}")
    axis.errorbar(pooled["alpha"], pooled["abstain_rate"], yerr=[pooled["abstain_rate"] - pooled["ci_low"], pooled["ci_high"] - pooled["abstain_rate"]], color="black", marker="o", capsize=3, label="pooled")
    axis.set_xlabel("α (toward high confidence →)")
    axis.set_ylabel("abstention rate")
    axis.legend(fontsize=6, ncol=2)
    axis.grid(alpha=0.3)
    path = save_figure(figure, ctx.run.figure_path("steering_abstention"))
    lines = ["## Phase 3: steering at AC (§6.4)", "", _image(path), "", markdown_table(pooled), ""]
    if slopes is not None:
        lines += ["Slope of abstention (pp) per unit α, OLS with item-clustered SEs:", "", markdown_table(slopes), ""]
    return lines


def mediation_section(ctx: AbstentionContext, rows: Rows) -> list[str]:
    table = table_or_none(ctx.run, "mediation")
    if table is None:
        return []
    main = table[(table["variant"] == "M1 + M2") & (table["status"] == "ok")]
    if main.empty:
        rows.append(("Mediation", PAPER["mediation"], f"n/a ({table['status'].iloc[0]})", "mediation"))
        return ["## Parallel mediation (§6.5)", "", str(table["status"].iloc[0]), ""]
    by = main.set_index("effect")
    text = (
        f"total c = {_ci(by.loc['total'])}; M1 indirect {_ci(by.loc['indirect:m1'])} = {_ci(by.loc['proportion:m1'], '{:.1%}')}; "
        f"M2 indirect {_ci(by.loc['indirect:m2'])} = {_ci(by.loc['proportion:m2'], '{:.1%}')}; corr(M1, M2) = {fmt(main['mediator_correlation'].iloc[0], '{:+.2f}')}"
    )
    rows.append(("Mediation", PAPER["mediation"], text, "mediation"))
    figure, axis = plt.subplots(figsize=(4.5, 3.2))
    effects = ["indirect:m1", "indirect:m2", "direct", "total"]
    values = [by.loc[e, "estimate"] for e in effects]
    errors = np.array([[by.loc[e, "estimate"] - by.loc[e, "ci_low"], by.loc[e, "ci_high"] - by.loc[e, "estimate"]] for e in effects]).T
    axis.bar(["via M1 (confidence)", "via M2 (policy)", "direct c′", "total c"], values, yerr=np.abs(errors), capsize=3, color=["#4c72b0", "#dd8452", "#999999", "#333333"])
    axis.axhline(0, color="grey", linewidth=0.7)
    axis.set_ylabel("effect of α on logit P(abstain)")
    axis.tick_params(axis="x", labelsize=7)
    path = save_figure(figure, ctx.run.figure_path("mediation"))
    shown = table[[c for c in ("variant", "effect", "estimate", "ci_low", "ci_high", "se", "p", "status") if c in table]]
    note = "CIs: cluster bootstrap over items; se and p of the path coefficients (total c, direct c′, a, b): statsmodels OLS / Logit with item-clustered standard errors (cov_type=\"cluster\")."
    return ["## Parallel mediation (§6.5)", "", _image(path), "", note, "", markdown_table(shown), ""]


def phase4_section(ctx: AbstentionContext, rows: Rows) -> list[str]:
    table = table_or_none(ctx.run, "phase4")
    models = table_or_none(ctx.run, "phase4_models")
    if table is None or "threshold" not in table:
        return [] if table is None else ["## Phase 4 (§6.6)", "", str(table["status"].iloc[0]), ""]
    chosen = json.loads((ctx.run.path / "phase4.json").read_text())
    ok = table[parsed_rows(table)]
    lines = ["## Phase 4: instructed thresholds (§6.6)", "", f"Paraphrase search (abstention at T = 100 on {chosen['n_items']} calibration items): {chosen['abstention_at_100']}; chosen wording {chosen['wording']}.", "", f"Parsed replies: {len(ok)} of {len(table)}; statuses {table['status'].value_counts().head(5).to_dict()}.", ""]
    if models is not None and "estimate" in models:
        by = models.set_index("quantity")
        added = models[models["quantity"].astype(str).str.startswith("adding C")]
        parts = [f"adding C: ΔAIC {added.iloc[0]['delta_aic']:+.1f}, χ²(1) = {added.iloc[0]['lr_stat']:.1f}" if len(added) else "adding C: n/a"]
        parts += [f"{name} {_ci(by.loc[name], '{:.2f}')}" for name in ("scale", "shift", "temperature") if name in by.index]
        rows.append(("Phase 4 policy", PAPER["phase4"], "; ".join(parts), "phase4"))
        full = models[models["quantity"].astype(str).str.startswith("beta_std full")]
        betas = [f"{r['quantity'].removeprefix('beta_std full ')} {r['estimate']:+.2f} (z = {r['z']:.2f})" if r["status"] == "ok" else f"{r['quantity'].removeprefix('beta_std full ')} n/a ({r['status']})" for _, r in full.iterrows()]
        rows.append(("Phase 4 standardised βs (full model)", PAPER["phase4_betas"], "; ".join(betas) or "n/a", "phase4"))
        bands = [f"{name.split('(')[1][:-1]} {_ci(by.loc[name])}" for name in by.index if str(name).startswith("bandness")]
        rows.append(("Bandness (contrast: item-bootstrap CI)", PAPER["bandness"], "; ".join(bands) or "n/a", "phase4"))
        lines += [markdown_table(models), ""]
    if len(ok):
        surface = ok.assign(abstain=ok["abstain"].astype(float)).groupby("threshold")["abstain"].mean()
        figure, axis = plt.subplots(figsize=(4.5, 3.2))
        axis.plot(surface.index, surface.to_numpy(), marker="o")
        axis.set_xlabel("instructed threshold T")
        axis.set_ylabel("abstention rate")
        axis.grid(alpha=0.3)
        lines += [_image(save_figure(figure, ctx.run.figure_path("phase4_policy"))), ""]
    surface = table_or_none(ctx.run, "phase4_surface")
    if surface is not None and "rate" in surface:
        lines += ["Abstention surface (§6.6): rate per confidence decile (rows) × instructed threshold (columns); bandness near 1 means horizontal bands.", "", _image(surface_figure(ctx, surface)), ""]
    return lines


def surface_figure(ctx: AbstentionContext, surface: pd.DataFrame) -> Path:
    """Heat-maps of the Phase-4 surface, one per confidence source: abstention rate by confidence
    decile (rows, labelled with the bin's confidence range) × threshold T (columns)."""
    sources = list(dict.fromkeys(surface["confidence_source"]))
    figure, axes = plt.subplots(1, len(sources), figsize=(4.6 * len(sources), 3.8), squeeze=False)
    for axis, source in zip(axes[0], sources):
        cell = surface[surface["confidence_source"] == source]
        grid = cell.pivot_table(index="bin", columns="threshold", values="rate")
        edges = cell.drop_duplicates("bin").set_index("bin").loc[grid.index]
        image = axis.imshow(grid.to_numpy(float), origin="lower", aspect="auto", cmap="viridis", vmin=0, vmax=1)
        axis.set_xticks(range(grid.shape[1]), [f"{t:g}" for t in grid.columns], fontsize=7)
        axis.set_yticks(range(grid.shape[0]), [f"{lo:.3g}–{hi:.3g}" for lo, hi in zip(edges["confidence_low"], edges["confidence_high"])], fontsize=6)
        axis.set_xlabel("instructed threshold T")
        axis.set_ylabel(f"{source} (decile range)")
        figure.colorbar(image, ax=axis, label="abstention rate")
    return save_figure(figure, ctx.run.figure_path("phase4_surface"))


def decoding_section(ctx: AbstentionContext, rows: Rows) -> list[str]:
    summary = table_or_none(ctx.run, "verbal_summary")
    decoding = table_or_none(ctx.run, "decoding")
    if summary is None:
        return []
    rows.append(("Verbal confidence (v2)", PAPER["verbal"], "; ".join(f"{r['quantity']} {_ci(r)}" for _, r in summary.iterrows()), "decoding"))
    lines = ["## Verbal confidence and AC decoding (§6.7)", "", markdown_table(summary), ""]
    if decoding is not None and len(decoding):
        scored = decoding[(decoding["status"] == "ok") & (decoding.get("metric", "") != "delta_r2")]
        peaks = scored.loc[scored.groupby(["target", "role"])["score"].idxmax()] if len(scored) else scored
        rows.append(("AC decoding", PAPER["decoding"], "; ".join(f"{r.target} at {r.role} peak L{int(r.layer)} {with_ci(r.score, r.ci_low, r.ci_high)}" for r in peaks.itertuples()) or "n/a", "decoding"))
        figure, axis = plt.subplots(figsize=(6, 3.5))
        for (target, role), cell in scored.groupby(["target", "role"]):
            axis.plot(cell["layer"], cell["score"], marker=".", label=f"{target} @ {role}")
        axis.set_xlabel("layer")
        axis.set_ylabel("5-fold R² (ridge) / AUROC (correct)")
        axis.legend(fontsize=6)
        axis.grid(alpha=0.3)
        lines += [_image(save_figure(figure, ctx.run.figure_path("decoding"))), ""]
        unique = decoding[(decoding["status"] == "ok") & (decoding.get("metric", "") == "delta_r2")]
        if len(unique):
            best = unique.loc[unique.groupby("target")["score"].idxmax()]
            rows.append(("ΔR² over the other readout (AC)", PAPER["delta_r2"], "; ".join(f"{r.target} {r.score:+.3f} at L{int(r.layer)}" for r in best.itertuples()), "decoding"))
            lines += ["ΔR² of each readout over the other at AC: R²(target ~ activations + other) − R²(target ~ other), 5-fold, the ridge α chosen by inner CV in each training fold:", "", markdown_table(unique[["layer", "target", "score", "r2_base", "r2_both"]]), ""]
    return lines


def write(ctx: AbstentionContext) -> Path:
    rows: Rows = []
    body = [*items_section(ctx), *pilot_section(ctx)]
    for section in (phase1_section, phase2_section, steering_section, mediation_section, phase4_section, decoding_section):
        body += section(ctx, rows)
    config = ctx.config
    header = [f"# Confidence drives abstention — {config.name}", "", f"Model `{config.model.name}`, items from {config.data.dataset}, seed {config.seed}. Paper values are GPT-4o (Phases 1, 2, 4) and Gemma 3 27B (Phase 3, decoding), abstention.md §7, all [unverified].", ""]
    return ctx.run.write_report("\n".join(header + comparison_section(rows) + body + stage_times_section(ctx.run) + code_section(ctx.run)))
