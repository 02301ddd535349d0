"""The causal sections of report.md (steering, patching, noising, swap, OOD, blocking): per-cell
summaries by layer, peaks with the CI of the peak layer's value, and every headline contrast of
verbal_confidence.md §7 — PANL vs PANL+1 and PANL vs CC, cross- vs same-confidence swaps, each
blocked edge vs its control edge — as a difference with a bootstrap CI clustered by trial."""

from __future__ import annotations

import pandas as pd

from experiments.verbal_confidence.causal import ood_layer
from experiments.verbal_confidence.context import VerbalConfidenceContext
from experiments.verbal_confidence.paper import PAPER
from experiments.verbal_confidence.contrasts import blocking_contrasts, noising_contrasts, patching_contrasts, steering_contrasts, swap_contrasts
from interp.analysis import recovery_contrasts
from interp.io import by_layer_figure, markdown_table
from interp.pipeline.report import ROLE_LABELS, contrast_cell, contrast_table, fmt, peak_with_ci, table_or_none
from interp.readouts import CLASS_METRICS

__all__ = ["causal_sections"]

def _figure(ctx: VerbalConfidenceContext, name: str, summary: pd.DataFrame, value: str, ylabel: str, facet: str = "role", line: str = "condition", x: str = "layer") -> str:
    by_layer_figure(summary, value, ylabel, ctx.run.figure_path(name), facet=facet, line=line, x=x, titles=ROLE_LABELS)
    return f"![{name}](figures/{name}.png)"


def _contrast_figure(ctx: VerbalConfidenceContext, name: str, contrasts: pd.DataFrame, ylabel: str, line: str = "pair", x: str = "layer", facet: str = "condition") -> str:
    """The contrasts by layer with their CIs as error bars (one panel per `facet`)."""
    frame = contrasts.assign(pair=contrasts["a"].map(lambda r: ROLE_LABELS.get(r, r)) + " − " + contrasts["b"].map(lambda r: ROLE_LABELS.get(r, r)))
    frame = frame.assign(difference_sem=(frame["ci_high"] - frame["ci_low"]) / 2)
    return _figure(ctx, name, frame, "difference", ylabel, facet=facet, line=line, x=x)


def _at_peak(contrasts: pd.DataFrame, x: str = "layer") -> str:
    """The contrast at the x where the first position's effect (mean_a) is largest in size."""
    contrasts = contrasts.dropna(subset=["mean_a"])
    if contrasts.empty:
        return "n/a (too few trials in both cells, or nothing to recover)"
    row = contrasts.loc[contrasts["mean_a"].abs().idxmax()]
    return f"{ROLE_LABELS.get(row['a'], row['a'])} − {ROLE_LABELS.get(row['b'], row['b'])} at {x} {int(row[x])}: {contrast_cell(row)}"


def _selection(table: pd.DataFrame) -> str:
    """"high 8 (2 fill-ins), low 8 (8 fill-ins)" — the test trials of a stage by group."""
    trials = table.drop_duplicates("trial_id").dropna(subset=["group"]) if "group" in table else pd.DataFrame()
    if trials.empty:
        return ""
    parts = [f"{group} {len(rows)} ({int((rows['selected_by'] == 'fill-in').sum())} fill-ins)" for group, rows in trials.groupby("group", sort=False)]
    return "Test trials: " + ", ".join(parts) + " (fill-ins: a class held too few, the rest by rank of expected confidence)."


def _steering(ctx: VerbalConfidenceContext, table: pd.DataFrame, rows: list) -> list[str]:
    numeric = table[table["prompt"] == "numeric"] if "prompt" in table else table.iloc[:0]
    table = table[table["prompt"] == "categorical"] if "prompt" in table else table
    summary = CLASS_METRICS.summarise(table)
    out = [_figure(ctx, "steering", summary, "delta_confidence", "Δ confidence")]
    clean = table.drop_duplicates("trial_id")["clean_confidence"].mean()
    rows.append(("Steering baseline confidence", PAPER["steering_baseline"][0], f"{fmt(clean)} (n = {table['trial_id'].nunique()})", "steering"))
    strongest = max(summary["condition"], key=lambda c: float(c.rsplit("_", 1)[1]))
    alpha = strongest.rsplit("_", 1)[1]
    for direction, key, largest in (("toward_high", "steering_layers", True), ("toward_low", "steering_size", False)):
        cell = table[table["condition"] == f"{direction}_{alpha}"]
        rows.append((f"Steering {direction.replace('_', ' ')}: peak Δconfidence per role", PAPER[key][0], f"α = {alpha}: {peak_with_ci(cell, 'delta_confidence', largest=largest, seed=ctx.seed)}", "steering"))
    contrasts = steering_contrasts(table, seed=ctx.seed)
    logit_contrasts = steering_contrasts(table, "delta_logit_diff", seed=ctx.seed)
    for direction in ("toward_high", "toward_low"):
        for name, frame in (("Δconfidence", contrasts), ("ΔLD", logit_contrasts)):
            here = frame[(frame["condition"] == f"{direction}_{alpha}") & (frame["b"] == "panl_plus_1")]
            rows.append((f"Steering {direction.replace('_', ' ')} α = {alpha}: PANL vs PANL+1 {name}", "PANL effective, PANL+1 none", _at_peak(here), "steering"))
    out += ["", "Δconfidence at PANL minus at PANL+1 and at CC, per layer and condition (paired over trials, 95% bootstrap CI):", ""]
    out += [_contrast_figure(ctx, "steering_contrasts", contrasts, "Δconfidence difference"), "", contrast_table(contrasts)]
    out += ["", "The same for ΔLD (the logit difference of the clean argmax class, which moves when the argmax does not):", "", contrast_table(logit_contrasts)]
    if not numeric.empty:
        out += ["", "### Numeric 0–100 prompt", "", "The first digit at CC, digit d read as (d + 0.5)/10; vectors from the numeric prompt's own residuals.", ""]
        out.append(_figure(ctx, "steering_numeric", CLASS_METRICS.summarise(numeric), "delta_confidence", "Δ confidence (first digit)"))
        for direction, largest in (("toward_high", True), ("toward_low", False)):
            cell = numeric[numeric["condition"] == f"{direction}_{alpha}"]
            rows.append((f"Steering the numeric prompt {direction.replace('_', ' ')}: peak Δconfidence per role", "PANL +20/−7, CC +37/−7 (points of 100) [unverified]", f"α = {alpha}: {peak_with_ci(cell, 'delta_confidence', largest=largest, seed=ctx.seed)}", "steering"))
        numeric_contrasts = steering_contrasts(numeric, seed=ctx.seed)
        out += ["", contrast_table(numeric_contrasts)]
    return out


def _patching(ctx: VerbalConfidenceContext, table: pd.DataFrame, rows: list) -> list[str]:
    corrupt = table[table["condition"] == "corrupt"]
    rows.append(("Corrupted baseline", PAPER["corrupted"][0], f"confidence {fmt(corrupt['confidence'].mean())}, LD {fmt(corrupt['logit_diff'].mean())}, change {fmt(corrupt['changed'].mean(), '{:.0%}')}", "patching"))
    recovery = table_or_none(ctx.run, "patching_recovery")
    out = []
    if recovery is not None and not recovery.empty:
        answer_only = recovery[recovery["variant"] == "answer"]
        out.append(_figure(ctx, "patching", answer_only.assign(condition="confidence recovery %"), "recovery_confidence", "recovery %"))
        out.append(markdown_table(recovery[["variant", "layer", "role", "n", "recovery_confidence", "recovery_logit_diff", "recovery_change_rate"]]))
    at = ood_layer(ctx)
    for metric in ("confidence", "logit_diff"):
        contrasts = patching_contrasts(table, metric, seed=ctx.seed)
        here = contrasts[(contrasts["layer"] == at) & (contrasts["b"] == "panl_plus_1")]
        cell = contrast_cell(here.iloc[0]) if not here.empty else "n/a (the corruption moved nothing to recover, or too few trials)"
        rows.append((f"Patching at layer {at}: PANL vs PANL+1 recovery of {metric} (%)", PAPER["patching_l25"][0] if metric == "confidence" else "PANL partial, PANL+1 ≈ 0", cell, "patching"))
        out += ["", f"Recovery of {metric} (%) at PANL minus at PANL+1 and at CC, per layer (95% bootstrap CI over trials):", "", contrast_table(contrasts)]
    ac = recovery_contrasts(table[table["condition"] == "corrupt_ac"], table[table["condition"] == "patched_ac"], [("panl", "answer_colon")], seed=ctx.seed)
    if not ac.empty:
        rows.append(("AC variant (answer and AC corrupted): PANL vs AC recovery of confidence (%)", "AC patching null, PANL effective", _at_peak(ac), "patching"))
        out += ["", "AC variant — recovery of confidence (%) restoring PANL minus restoring AC, with AC corrupted too:", "", contrast_table(ac)]
    return out


def _noising(ctx: VerbalConfidenceContext, table: pd.DataFrame, rows: list) -> list[str]:
    summary = CLASS_METRICS.summarise(table)
    out = [_figure(ctx, "noising", summary, "change_rate", "change rate")]
    rows.append(("Noising: peak change rate per role", PAPER["noising"][0], peak_with_ci(table, "changed", seed=ctx.seed), "noising"))
    contrasts = noising_contrasts(table, seed=ctx.seed)
    rows.append(("Noising: PANL vs PANL+1 change rate", "PANL partial, PANL+1 none", _at_peak(contrasts[contrasts["b"] == "panl_plus_1"]), "noising"))
    out += ["", "Change rate at PANL minus at PANL+1 and at CC, per layer (paired over trials, 95% bootstrap CI):", "", contrast_table(contrasts)]
    return out


def _swap(ctx: VerbalConfidenceContext, table: pd.DataFrame, rows: list) -> list[str]:
    summary = CLASS_METRICS.summarise(table)
    out = [_figure(ctx, "swap", summary, "delta_confidence", "Δ confidence")]
    cross = table[table["condition"] == "high_to_low"]
    rows.append(("Swap high donor → low recipient: peak Δconfidence per role", PAPER["swap"][0], peak_with_ci(cross, "delta_confidence", seed=ctx.seed), "swap"))
    frame = swap_contrasts(table, seed=ctx.seed)
    if not frame.empty:
        panl = frame[frame["role"] == "panl"]
        rows.append(("Swap at PANL: cross- vs same-confidence change rate", "cross exceeds same (L→H change ≈ 37% vs H→H ≈ 15%)", _at_peak(panl) if not panl.empty else "n/a", "swap"))
        out += ["", "Change rate of cross- minus same-confidence swaps for the same recipient pool (bootstrap over recipients):", "", markdown_table(frame.round(4))]
    matches = table.drop_duplicates("trial_id")
    out.append(f"Donor matching: {matches['match'].value_counts().to_dict()}; mean |ΔL_Q| = {matches['delta_question_tokens'].abs().mean():.2f}, mean |ΔL_A| = {matches['delta_answer_tokens'].abs().mean():.2f} tokens.")
    return out


def _blocking(ctx: VerbalConfidenceContext, table: pd.DataFrame, rows: list) -> list[str]:
    out = []
    for prompt in ("minimal", "categorical"):
        part = table[table["prompt"] == prompt]
        summary = CLASS_METRICS.summarise(part, by=("centre", "edge", "condition"))
        if summary.empty:
            continue
        out.append(_figure(ctx, f"blocking_{prompt}", summary.assign(panel=prompt), "change_rate", "change rate", facet="panel", line="edge", x="centre"))
        rows.append((f"Blocking, {prompt} prompt: peak change rate per edge", PAPER[f"blocking_{prompt}"][0], peak_with_ci(part, "changed", by="edge", x="centre", seed=ctx.seed), "blocking"))
        contrasts = blocking_contrasts(table, prompt, seed=ctx.seed)
        if not contrasts.empty:
            best = contrasts.loc[contrasts["difference"].idxmax()]
            rows.append((f"Blocking, {prompt} prompt: largest edge − control change rate", "edges above their controls (see above)", f"{best['a']} − {best['b']} at centre {int(best['centre'])}: {contrast_cell(best)}", "blocking"))
        out += ["", f"Change rate of each edge minus its control edge, {prompt} prompt (paired over trials, 95% bootstrap CI):", "", contrast_table(contrasts, x="centre")]
    return out


def _ood(ctx: VerbalConfidenceContext, rows: list) -> list[str]:
    table = table_or_none(ctx.run, "ood")
    if table is None:
        return []
    at = int(table["intervened_layer"].iloc[0])
    worst = table[(table["intervention"] != "natural variation (random pairs)") & (table["role"] == "panl") & (table["layer"] == at + 1)]
    natural = table[(table["intervention"] == "natural variation (random pairs)") & (table["role"] == "panl")]
    ours = (
        f"at layer {at + 1} (after the intervention at {at}): min cosine {fmt(worst['cosine_min'].min())}, norm ratio "
        f"{fmt(worst['norm_ratio_min'].min(), '{:.2f}')}–{fmt(worst['norm_ratio_max'].max(), '{:.2f}')}; natural cosine "
        f"[{fmt(natural['cosine_min'].min())}, {fmt(natural['cosine_max'].max())}]"
    )
    rows.append((f"OOD at PANL, intervened at layer {at}", PAPER["ood"][0], ours, "ood"))
    intro = f"Residuals measured by forward passes at the intervened layer {at} and the next, against the clean run at the same place:"
    return ["## OOD check", "", intro, "", markdown_table(table.drop(columns=["intervened_layer"])), ""]


SECTIONS = {"steering": ("Steering", _steering), "patching": ("Corruption and patching", _patching), "noising": ("Noising (mean ablation)", _noising), "swap": ("Swap (interchange)", _swap)}


def causal_sections(ctx: VerbalConfidenceContext, rows: list) -> list[str]:
    """The markdown of every causal stage that has run, adding its headline rows to `rows`."""
    out = []
    for stage, (title, section) in SECTIONS.items():
        table = table_or_none(ctx.run, stage)
        if table is None or table.empty:
            continue
        out += [f"## {title}", "", f"Rows by status: {table['status'].value_counts().to_dict()}.", "", _selection(table), "", *section(ctx, table, rows), ""]
    out += _ood(ctx, rows)
    blocking = table_or_none(ctx.run, "blocking")
    if blocking is not None and not blocking.empty:
        out += ["## Attention blocking", "", f"Rows by status: {blocking['status'].value_counts().to_dict()}.", "", *_blocking(ctx, blocking, rows), ""]
    calibration = table_or_none(ctx.run, "calibration")
    if calibration is not None:
        composition = ", ".join(f"{group} {len(g)} ({int((g['selected_by'] == 'fill-in').sum())} fill-ins)" for group, g in calibration.groupby("group", sort=False))
        out += ["## Calibration set", "", f"The embedding and noising means come from {len(calibration)} calibration trials: {composition}.", ""]
    return out
