"""Figures and report.md of an error-detection run, from whatever stage tables exist: each
headline number of error_detection.md §7 beside ours, every contrast with its CI or test."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from experiments.error_detection.context import ErrorDetectionContext
from experiments.error_detection.paper import PAPER
from experiments.verbal_confidence.report import pilot_section
from interp.io import by_layer_figure, markdown_table, save_figure
from interp.pipeline.report import ROLE_LABELS, code_section, comparison_section, fmt, stage_times_section, table_or_none, with_ci

Rows = list[tuple[str, str, str, str]]
LABELS = {"logprob_mean": "ℓ̄", "confidence": "confidence", "correct": "A1 correct", "vld": "VLD"}


def _ci(row: pd.Series | dict, spec: str = "{:.3f}") -> str:
    if row.get("status", "ok") != "ok" or not np.isfinite(row.get("estimate", np.nan)):
        return f"n/a ({row.get('status', 'no estimate')})"
    if np.isfinite(row.get("ci_low", np.nan)):
        return with_ci(row["estimate"], row["ci_low"], row["ci_high"], spec)
    return fmt(row["estimate"], spec)


def _image(path: Path) -> str:
    return f"![{path.stem}](figures/{path.name})"


def _increment(row: pd.Series | dict, base: str = "B", added: str = "s") -> str:
    """'probe+B AUROC vs B AUROC (gain [CI]; LR χ², p)' of an increment-test row; a fit flagged
    by statsmodels (separation, no convergence) keeps its numbers and the flag."""
    status = str(row.get("status", "ok"))
    if not status.startswith("ok"):
        return f"n/a ({status})"
    flag = f" — {status[4:-1]}" if status != "ok" else ""
    return (
        f"{base} + {added} {row['auroc_full']:.3f} vs {base} {row['auroc_baseline']:.3f} ({added} alone {row['auroc_score']:.3f}; gain {with_ci(row['difference'], row['ci_low'], row['ci_high'], '{:+.3f}')}; "
        f"LR χ² = {row['lr_stat']:.1f}, p = {row['lr_p']:.2g}, n = {int(row['n'])}){flag}"
    )


def status_section(ctx: ErrorDetectionContext) -> list[str]:
    """How many trials ended in each status (every input row has one)."""
    detection = table_or_none(ctx.run, "detection")
    if detection is None:
        return []
    counts = detection["status"].value_counts().rename_axis("status").reset_index(name="trials")
    return ["## Trials and statuses", "", f"{len(detection)} trials went into Stage 0; each ends with one status:", "", markdown_table(counts), ""]


def behaviour_section(ctx: ErrorDetectionContext, rows: Rows) -> list[str]:
    summary = table_or_none(ctx.run, "behaviour_summary")
    if summary is None:
        return []
    by = summary.set_index("quantity")
    names = {"a1_accuracy": "A1 accuracy", "a2_accuracy": "A2 accuracy", "confidence_auroc": "verbal confidence AUROC (A1 correct)", "confidence_ece": "verbal confidence ECE", "d_prime": "verification d′", "criterion": "verification c", "errors_detected": "errors detected (1 − F)"}
    for quantity, name in names.items():
        if quantity in by.index:
            ours = _ci(by.loc[quantity])
            if quantity == "a2_accuracy" and "a2_minus_a1" in by.index:
                ours += f"; A2 − A1 {_ci(by.loc['a2_minus_a1'], '{:+.3f}')}, {by.loc['a2_minus_a1', 'detail']}"
            if quantity in ("confidence_auroc", "confidence_ece") and f"exp_logprob_{quantity.split('_')[1]}" in by.index:
                ours += f" (exp(ℓ̄) {_ci(by.loc[f'exp_logprob_{quantity.split(chr(95))[1]}'])})"
            rows.append((name, PAPER[quantity], ours, "behaviour"))
    gold = table_or_none(ctx.run, "behaviour")
    if gold is not None and "a1_source" in gold and (gold["a1_source"] == "gold").any():
        rows.insert(0, ("A1 slots holding the gold answer (answers.gold_share)", "0 (the model's own answers)", f"{int((gold['a1_source'] == 'gold').sum())} of {len(gold)}: plumbing check only", "answers"))
    table = summary.assign(value=[_ci(r) for _, r in summary.iterrows()])[["quantity", "subset", "value", "n", "detail"]]
    lines = ["## Behaviour (§6.1)", "", markdown_table(table), ""]
    regressions = table_or_none(ctx.run, "regressions")
    if regressions is not None:
        for key, model in (("p2_a", "(a)"), ("p2_b", "(b)"), ("p2_c", "(c)")):
            match = regressions[regressions["model"].str.startswith(model)]
            if len(match):
                first = match.iloc[0]
                rows.append((f"P2 {model}: AUROC for V", PAPER[key], _increment(first, base=" + ".join(LABELS.get(c, c) for c in str(first["baseline"]).split(", ")), added=LABELS.get(first["added"], first["added"])), "behaviour"))
        figure, axis = plt.subplots(figsize=(5.5, 3.2))
        labels = [str(m).split(")")[0] + ")" for m in regressions["model"]]
        x = np.arange(len(regressions))
        axis.bar(x - 0.2, regressions["auroc_baseline"], width=0.4, label="smaller model")
        axis.bar(x + 0.2, regressions["auroc_full"], width=0.4, label="+ added predictor")
        axis.axhline(0.5, color="grey", linestyle="--", linewidth=0.8)
        axis.set_xticks(x, labels)
        axis.set_ylabel("out-of-fold AUROC for V")
        axis.set_title("P2: does confidence add to log-prob?", fontsize=9)
        axis.legend(fontsize=7)
        lines += [_image(save_figure(figure, ctx.run.figure_path("p2_regressions"))), ""]
        betas = [c for c in regressions.columns if c.startswith("beta_")]
        shown = regressions[["model", "subset", "n", "lr_stat", "lr_p", "auroc_baseline", "auroc_full", "difference", "ci_low", "ci_high", *betas, "status"]]
        lines += ["## P2: regressions of V (§6.2)", "", "AUROCs from 5-fold out-of-fold predictions; LR tests from in-sample fits; standardised βs of the larger model.", "", markdown_table(shown), ""]
    return lines


def probes_section(ctx: ErrorDetectionContext, rows: Rows) -> list[str]:
    sweep = table_or_none(ctx.run, "probes")
    if sweep is None:
        return []
    names = list(dict.fromkeys(sweep["name"]))
    ncols = min(3, len(names))
    figure, axes = plt.subplots(-(-len(names) // ncols), ncols, figsize=(4.2 * ncols, 3.2 * -(-len(names) // ncols)), squeeze=False, sharey=True)
    for axis, name in zip(axes.flat, names):
        for role, cell in sweep[sweep["name"] == name].sort_values("layer").groupby("role", sort=True):
            (line,) = axis.plot(cell["layer"], cell["score"], marker="o", markersize=3, label=ROLE_LABELS.get(role, role))
            axis.fill_between(cell["layer"], cell["ci_low"], cell["ci_high"], color=line.get_color(), alpha=0.15, linewidth=0)
        axis.axhline(0.5, color="grey", linestyle="--", linewidth=0.8)
        axis.set_title(name, fontsize=9)
        axis.set_xlabel("layer")
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(names) :]:
        axis.axis("off")
    axes[0][0].set_ylabel("out-of-fold AUROC")
    axes.flat[0].legend(fontsize=7)
    path = save_figure(figure, ctx.run.figure_path("probes"))
    lines = ["## P3/P4: probes (§6.3)", "", _image(path), "", "Best layer per (target, position), AUROC with a 95% bootstrap CI over trials:", ""]
    ok = sweep[sweep["status"] == "ok"]
    best = ok.loc[ok.groupby(["name", "role"])["score"].idxmax()] if len(ok) else ok
    if len(best):
        lines += [markdown_table(best.assign(position=best["role"].map(lambda r: ROLE_LABELS.get(r, r)), auroc=[with_ci(r.score, r.ci_low, r.ci_high) for r in best.itertuples()])[["name", "position", "layer", "auroc", "n"]]), ""]
    tests = table_or_none(ctx.run, "probe_tests")
    if tests is not None:
        keys = {("V", "all"): "p3_v_all", ("V", "A1 incorrect"): "p3_v_errors", ("answer change", "A1 incorrect"): "answer_change", ("A2 correct", "correctable"): "p4"}
        for (target, subset), key in keys.items():
            match = tests[(tests["target"] == target) & (tests["subset"] == subset) & (tests["layer_kind"] == "configured")]
            if len(match):
                layer = match.iloc[0].get("layer")
                rows.append((f"PANL probe increment: {target} ({subset})", PAPER[key], f"L{int(layer) if pd.notna(layer) else '?'}: {_increment(match.iloc[0])}", "probes"))
        lines += ["Probe increment (y ~ B vs y ~ B + s, s = the PANL probe's out-of-fold logit; B = A1 correct + ℓ̄ + confidence + VLD, less the columns that define the target (VLD for V, correctness for A1 correct) and those constant on the subset):", ""]
        lines += [markdown_table(tests.assign(result=[_increment(r) for _, r in tests.iterrows()])[["target", "subset", "layer_kind", "layer", "result"]]), ""]
    correlations = table_or_none(ctx.run, "probe_correlations")
    if correlations is not None:
        shown = correlations.assign(value=[_ci({"estimate": r.r, "ci_low": r.ci_low, "ci_high": r.ci_high, "status": r.status}, "{:+.2f}") for r in correlations.itertuples()])
        ok_rows = shown[shown["status"] == "ok"]
        rows.append(("PANL score correlations", PAPER["correlations"], "; ".join(f"{r.subset}/{r.variable} {r.value}" for r in ok_rows.itertuples() if "false alarm" not in r.variable) or "n/a", "probes"))
        fa = shown[shown["variable"].str.contains("false alarm")]
        if len(fa):
            rows.append(("PANL score, false alarms vs correct rejections", PAPER["fa_vs_cr"], fa.iloc[0]["value"], "probes"))
        lines += ["PANL V-probe score (configured layer) against behaviour — Pearson r with Fisher-z 95% CI; the last row is an AUROC:", "", markdown_table(shown[["variable", "subset", "n", "value", "status"]]), ""]
    return lines


def pik_section(ctx: ErrorDetectionContext, rows: Rows) -> list[str]:
    tests = table_or_none(ctx.run, "pik_tests")
    if tests is None:
        return []
    pik = table_or_none(ctx.run, "pik")
    lines = ["## P(IK) control (§6.4)", ""]
    if pik is not None and len(pik) and "pik" in pik:
        lines += [f"P(IK) over {len(pik)} questions: mean {pik['pik'].mean():.3f}; statuses {pik['status'].value_counts().to_dict()}.", ""]
    cosine = tests[tests["quantity"].astype(str).str.startswith("cosine")]
    retest = tests[tests["quantity"] == "increment over B + P(IK)"]
    ours = []
    if len(cosine):
        ours.append(f"cosine {_ci(cosine.iloc[0], '{:+.3f}')}")
    ours += [f"{r['target']}: {_increment(r)}" for _, r in retest[retest.get("layer_kind", pd.Series(dtype=str)) == "configured"].iterrows()] if "layer_kind" in retest else []
    rows.append(("P(IK) control", PAPER["pik"], "; ".join(ours) or "n/a", "pik"))
    lines += [markdown_table(tests.assign(value=[_ci(r) if "estimate" in r and pd.notna(r.get("estimate")) else (_increment(r) if r.get("quantity") == "increment over B + P(IK)" else str(r.get("status"))) for _, r in tests.iterrows()])[["quantity", *(c for c in ("target", "layer_kind") if c in tests), "value"]]), ""]
    return lines


def foils_section(ctx: ErrorDetectionContext, rows: Rows) -> list[str]:
    sdt_table = table_or_none(ctx.run, "foil_sdt")
    if sdt_table is None or "quantity" not in sdt_table:
        return [] if sdt_table is None else ["## Foils (§6.5)", "", str(sdt_table["status"].iloc[0]), ""]
    d = sdt_table[sdt_table["quantity"] == "d_prime"].set_index("kind")
    c = sdt_table[sdt_table["quantity"] == "criterion"].set_index("kind")
    order = [k for k in ("own", "hard", "easy", "unrelated") if k in d.index]
    rows.append(("foil SDT d′ (c)", PAPER["foil_sdt"], "; ".join(f"{k} {_ci(d.loc[k], '{:.2f}')} (c {_ci(c.loc[k], '{:+.2f}')})" for k in order), "foils"))
    figure, axis = plt.subplots(figsize=(5, 3.2))
    estimates = [d.loc[k, "estimate"] for k in order]
    errors = np.array([[d.loc[k, "estimate"] - d.loc[k, "ci_low"], d.loc[k, "ci_high"] - d.loc[k, "estimate"]] for k in order]).T
    axis.bar(order, estimates, yerr=np.nan_to_num(errors), capsize=3, color="#4c72b0")
    axis.set_ylabel("d′ (95% CI)")
    axis.set_title("verification d′: own answers vs foils")
    axis.grid(alpha=0.3, axis="y")
    path = save_figure(figure, ctx.run.figure_path("foil_sdt"))
    foils = table_or_none(ctx.run, "foils")
    lines = ["## Foils (§6.5)", "", _image(path), ""]
    if foils is not None:
        lines += [f"Foils built: {foils.groupby(['kind', 'status']).size().rename('n').reset_index().to_dict('records')}; source of hard foils: {foils[foils['kind'] == 'hard']['source'].value_counts().to_dict()}.", ""]
    lines += [markdown_table(sdt_table.assign(value=[_ci(r) for _, r in sdt_table.iterrows()])[["kind", "quantity", "value", "n", "detail"]]), ""]
    p4 = table_or_none(ctx.run, "foil_p4")
    if p4 is not None:
        rows.append(("P4 on changed foil trials", PAPER["foil_p4"], "; ".join(f"{r['kind']}: {_increment(r)}" for _, r in p4.iterrows()), "foils"))
        lines += ["P4 on changed foil trials (B = the question's ℓ̄ and confidence + the foil's VLD):", "", markdown_table(p4.assign(result=[_increment(r) for _, r in p4.iterrows()])[["kind", "result"]]), ""]
    return lines


def transfer_section(ctx: ErrorDetectionContext, rows: Rows) -> list[str]:
    table = table_or_none(ctx.run, "transfer")
    if table is None:
        return []
    if "estimate" not in table:
        rows.append(("cross-task transfer", PAPER["transfer"], str(table["status"].iloc[0]), "transfer"))
        return ["## Cross-task transfer (§6.6)", "", str(table["status"].iloc[0]), ""]
    shown = table.assign(value=[_ci(r) for _, r in table.iterrows()])
    rows.append(("cross-task transfer", PAPER["transfer"], "; ".join(f"{r.target} {r.train}→{r.test} {r.value}" if r.test else f"{r.target} cosine {r.value}" for r in shown.itertuples()), "transfer"))
    return ["## Cross-task transfer (§6.6)", "", markdown_table(shown[["target", "train", "test", "metric", "value", "n", "status"]]), ""]


def _contrast_text(table: pd.DataFrame, position: str, control: str) -> str:
    rows = table[(table["position"] == position) & (table["control"] == control)]
    if rows.empty:
        return "n/a"
    peak = rows.loc[rows["difference"].abs().idxmax()]
    return f"{ROLE_LABELS.get(position, position)} − {ROLE_LABELS.get(control, control)} at L{int(peak['layer'])}: {with_ci(peak['difference'], peak['ci_low'], peak['ci_high'], '{:+.2f}')} (p = {peak['p']:.2g})"


def patching_section(ctx: ErrorDetectionContext, rows: Rows) -> list[str]:
    recovery = table_or_none(ctx.run, "patching_recovery")
    if recovery is None or recovery.empty:
        return []
    path = by_layer_figure(recovery.assign(condition="patched", position=recovery["role"].map(lambda r: ROLE_LABELS.get(r, r))), "patched_d_prime", "d′ (patched)", ctx.run.figure_path("patching_d_prime"), facet="position")
    clean, corrupt = recovery["clean_d_prime"].mean(), recovery["corrupt_d_prime"].mean()
    peaks = recovery.loc[recovery.assign(key=recovery["patched_d_prime"].fillna(-np.inf)).groupby("role")["key"].idxmax()]
    peak_text = "; ".join(f"{ROLE_LABELS.get(r.role, r.role)} L{int(r.layer)} d′ {r.patched_d_prime:.2f} ({fmt(r.recovery_d_prime, '{:.0f}')}%)" for r in peaks.itertuples())
    contrasts = table_or_none(ctx.run, "patching_contrasts")
    contrast = "; ".join(_contrast_text(contrasts, "panl", c) for c in ("panl_plus_1", "panl_plus_9")) if contrasts is not None and len(contrasts) else "n/a"
    rows.append(("patching (d′)", PAPER["patching"], f"clean {clean:.2f}, corrupt {corrupt:.2f}; peaks {peak_text}; {contrast}", "patching"))
    shown = contrasts.assign(value=[with_ci(r.difference, r.ci_low, r.ci_high, "{:+.2f}") for r in contrasts.itertuples()])[["layer", "position", "control", "n", "d_prime_a", "d_prime_b", "value", "p"]] if contrasts is not None and len(contrasts) else pd.DataFrame()
    return ["## Corruption + patching (§6.7)", "", f"Clean d′ {clean:.2f}; corrupted {corrupt:.2f} (answer embeddings → calibration means).", "", _image(path), "", markdown_table(recovery), "", "PANL against its controls at each layer (paired bootstrap over trials):", "", markdown_table(shown), ""]


def noising_section(ctx: ErrorDetectionContext, rows: Rows) -> list[str]:
    summary = table_or_none(ctx.run, "noising_summary")
    if summary is None or summary.empty:
        return []
    labels = {"panl": "PANL", "last_answer_token": "LAT", "last_answer_token+panl": "LAT + PANL"}
    shown = summary.assign(condition=summary["role"].map(labels), facet="noised")
    path = by_layer_figure(shown, "d_prime", "d′ (noised)", ctx.run.figure_path("noising_d_prime"), facet="facet")
    contrasts = table_or_none(ctx.run, "noising_contrasts")
    text = "; ".join(_contrast_text(contrasts, p, c) for p, c in (("panl", "clean"), ("last_answer_token", "clean"), ("last_answer_token+panl", "last_answer_token"))) if contrasts is not None and len(contrasts) else "n/a"
    rows.append(("noising (d′)", PAPER["noising"], text, "noising"))
    table = contrasts.assign(value=[with_ci(r.difference, r.ci_low, r.ci_high, "{:+.2f}") for r in contrasts.itertuples()])[["layer", "position", "control", "n", "d_prime_a", "d_prime_b", "value", "p"]] if contrasts is not None and len(contrasts) else pd.DataFrame()
    return ["## Noising (§6.8)", "", _image(path), "", "Δd′ against the clean run, and LAT + PANL against LAT alone (paired bootstrap over trials):", "", markdown_table(table), ""]


def steering_section(ctx: ErrorDetectionContext, rows: Rows) -> list[str]:
    """[ours]: Δ VLD and yes rate by layer when ±α·v is added at PANL or PANL+1."""
    table = table_or_none(ctx.run, "steering")
    if table is None or "layer" not in table:
        return [] if table is None else ["## [ours] Steering V at PANL", "", str(table["status"].iloc[0]), ""]
    summary = ctx.readout("verification").summarise(table)
    shown = summary.assign(position=summary["role"].map(lambda r: ROLE_LABELS.get(r, r)))
    path = by_layer_figure(shown, "delta_vld", "Δ VLD (log P(Y) − log P(N))", ctx.run.figure_path("steering_delta_vld"), facet="position")
    contrasts = table_or_none(ctx.run, "steering_contrasts")
    text = "n/a"
    if contrasts is not None and len(contrasts):
        peak = contrasts.loc[contrasts["mean_difference"].abs().idxmax()]
        text = f"PANL − PANL+1 Δ VLD at L{int(peak['layer'])}, {peak['condition']}: {with_ci(peak['mean_difference'], peak['ci_low'], peak['ci_high'], '{:+.3f}')} (p = {peak['p']:.2g})"
    rows.append(("[ours] PANL steering of V", PAPER["steering"], text, "steering"))
    table_md = markdown_table(contrasts.assign(value=[with_ci(r.mean_difference, r.ci_low, r.ci_high, "{:+.3f}") for r in contrasts.itertuples()])[["layer", "condition", "n", "delta_vld_panl", "delta_vld_panl_plus_1", "value", "p"]]) if contrasts is not None and len(contrasts) else ""
    return ["## [ours] Steering V at PANL", "", "Not in the paper: ±α·v, v = mean(V = Y) − mean(V = N) of the PANL residuals, at PANL or PANL+1.", "", _image(path), "", table_md, ""]


def write(ctx: ErrorDetectionContext) -> Path:
    rows: Rows = []
    config = ctx.config
    body = [*status_section(ctx), *pilot_section(ctx)]
    for section in (behaviour_section, probes_section, pik_section, foils_section, transfer_section, patching_section, noising_section, steering_section):
        body += section(ctx, rows)
    header = [
        f"# Error detection and correction — {config.name}",
        "",
        f"Model `{config.model.name}`, dataset {config.data.dataset}, seed {config.seed}. Paper values are Gemma 3 27B on TriviaQA (error_detection.md §7, all [unverified]).",
        "",
    ]
    lines = header + comparison_section(rows) + body + stage_times_section(ctx.run) + code_section(ctx.run)
    return ctx.run.write_report("\n".join(lines))
