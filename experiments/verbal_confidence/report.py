"""Figures and report.md of a verbal-confidence run, from whatever stage tables exist: each
headline number of verbal_confidence.md §7 beside ours."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from experiments.verbal_confidence.context import VerbalConfidenceContext
from experiments.verbal_confidence.paper import PAPER
from experiments.verbal_confidence.recovery import recovery_section
from experiments.verbal_confidence.report_causal import causal_sections
from interp.analysis import cross_validate, target_problem
from interp.analysis.stats import bootstrap_ci, bootstrap_score, ece, reliability
from interp.forward import FEATURES
from interp.io import markdown_table, plot_scores, save_figure
from interp.pipeline.report import ROLE_LABELS, code_section, comparison_section, fmt, stage_times_section, table_or_none, with_ci


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, int] | None:
    """Pearson r (one feature; NaN for several), 5-fold ridge R²_CV (α = 1) of y from x, and n;
    None when the rows cannot support it."""
    features = x if x.ndim == 2 else x[:, None]
    keep = np.isfinite(features).all(axis=1) & np.isfinite(y)
    features, y = features[keep], y[keep]
    if target_problem(y, "ridge", 5) or np.nanstd(features) == 0:
        return None
    r2 = cross_validate(features, y, kind="ridge", alpha=1.0).score
    r = np.corrcoef(features[:, 0], y)[0, 1] if features.shape[1] == 1 else np.nan
    return float(r), float(r2), len(y)


def _r_and_r2(x: np.ndarray, y: np.ndarray) -> str:
    fit = _fit(x, y)
    if fit is None:
        return "n/a (too few rows or no variance)"
    r, r2, n = fit
    return f"r = {fmt(r, '{:.2f}')}, R²_CV = {r2:.3f} (n = {n})"


def _save(figure, path: Path) -> str:
    save_figure(figure, path)
    return f"![{path.stem}](figures/{path.name})"


N_BOOT = 1000
"""Bootstrap resamples behind every CI of the report (95% percentile intervals over trials)."""


def _auroc_ci(score: np.ndarray, correct: np.ndarray, seed: int) -> str:
    keep = np.isfinite(score) & np.isfinite(correct)
    if len(np.unique(correct[keep])) < 2:
        return "n/a (one class only)"
    return with_ci(*bootstrap_score(correct[keep], score[keep], "auroc", n_boot=N_BOOT, seed=seed))


def pilot_section(ctx: VerbalConfidenceContext) -> list[str]:
    """How often each readout's argmax was greedy generation's first token, in the chosen variant."""
    piloted = ctx.run.path / "pilot.json"
    if not piloted.exists():
        return []
    record = json.loads(piloted.read_text())
    table = pd.DataFrame([{"readout": kind, **{k: v for k, v in r.items() if k in ("variant", "agreement", "n")}} for kind, r in record.items()])
    low = [kind for kind, r in record.items() if r["agreement"] < 0.99]
    note = (
        f"Below the spec's 99% for {', '.join(low)} (accepted by pilot.min_agreement = {ctx.config.pilot.min_agreement}): there the model's "
        "first token is mostly not a label, and the readout reads the labels' logits all the same (pilot.parquet lists the tokens)."
        if low
        else "Every readout agrees with greedy generation on at least 99% of the pilot trials."
    )
    return ["## Pilot: readout vs greedy generation", "", markdown_table(table), "", note, ""]


def behaviour_section(ctx: VerbalConfidenceContext, rows: list[tuple[str, str, str, str]]) -> list[str]:
    table = table_or_none(ctx.run, "behaviour")
    if table is None:
        return []
    counts = table.groupby(["set", "status"]).size().rename("trials").reset_index()
    restated = table[(table["status"] == "ok") & (table["grade_status"] == "restates question")] if "grade_status" in table else table.iloc[:0]
    ok = table[(table["status"] == "ok") & (table["set"] == "behaviour")]
    graded = ok[ok["correct"].notna()]
    correct = graded["correct"].astype(float).to_numpy()
    out = ["## Behaviour", "", "Trials per set and status:", "", markdown_table(counts), ""]
    if len(restated):
        by_set = ", ".join(f"{name} {n}" for name, n in restated["set"].value_counts().items())
        out += [f"{len(restated)} answers only restate their question ({by_set}; e.g. {restated['answer'].iloc[0]!r}): they are ungraded — left out of accuracy, calibration and correctness probes — and still read and intervened on.", ""]

    def calibration(column: str) -> tuple[str, str, int]:
        valid = ok[ok[column].notna() & ok["correct"].notna()]
        conf, corr = valid[column].astype(float).to_numpy(), valid["correct"].astype(float).to_numpy()
        e = bootstrap_ci(lambda rows: ece(conf[rows], corr[rows]), len(valid), n_boot=N_BOOT, seed=ctx.seed) if len(valid) else (np.nan,) * 3
        return with_ci(*e), _auroc_ci(conf, corr, ctx.seed), len(valid)

    accuracy = bootstrap_ci(lambda rows: float(np.mean(correct[rows])), len(correct), n_boot=N_BOOT, seed=ctx.seed) if len(correct) else (np.nan,) * 3
    rows.append(("Accuracy", PAPER["accuracy"][0], f"{with_ci(*accuracy, spec='{:.1%}')} (n = {len(graded)})", "behaviour"))
    for prefix, column, label in (("", "confidence", "categorical"), ("numeric_", "numeric_confidence", "numeric 0–100"), ("minimal_", "minimal_confidence", "minimal 0–9")):
        if column in ok and ok[column].notna().any():
            e, a, n = calibration(column)
            rows.append((f"ECE, {label}", PAPER[f"{prefix}ece"][0], f"{e} (n = {n})", "behaviour"))
            rows.append((f"AUROC, {label}", PAPER[f"{prefix}auroc"][0], a, "behaviour"))
        elif prefix and f"{prefix}status" in ok:
            why = ok[f"{prefix}status"].fillna("not run").str.slice(0, 40).value_counts().head(2).to_dict()
            rows.append((f"ECE, {label}", PAPER[f"{prefix}ece"][0], f"n/a: no valid readout ({why})", "behaviour"))
    rows.append(("Mean answer log-prob as correctness score (AUROC)", PAPER["logprob_mean_auroc"][0], _auroc_ci(graded["logprob_mean"].astype(float).to_numpy(), correct, ctx.seed), "behaviour"))
    cross = ok["confidence"].astype(float).to_numpy()
    same = ok["same_run_confidence"].astype(float).to_numpy()
    rows.append(("Log-prob (mean) vs cross-run confidence", PAPER["logprob_vs_cross_run"][0], _r_and_r2(ok["logprob_mean"].astype(float).to_numpy(), cross), "behaviour"))
    rows.append(("Log-prob (mean) vs same-run confidence", PAPER["logprob_vs_same_run"][0], _r_and_r2(ok["logprob_mean"].astype(float).to_numpy(), same), "behaviour"))
    rows.append(("Phase 0 vs Phase 1 confidence", PAPER["same_vs_cross_run"][0], _r_and_r2(same, cross), "behaviour"))
    fits = {f: _fit(ok[f"logprob_{f}"].astype(float).to_numpy(), cross) for f in FEATURES}
    singles = ", ".join(f"{f} {'n/a' if fit is None else f'{fit[1]:.3f}'}" for f, fit in fits.items())
    rows.append(("Single log-prob baselines, R²_CV of Phase-1 confidence", PAPER["single_baselines"][0], singles, "behaviour"))
    rows.append(("All six baselines, R²_CV", PAPER["all_baselines"][0], _r_and_r2(ok[[f"logprob_{f}" for f in FEATURES]].astype(float).to_numpy(), cross), "behaviour"))

    figure, axis = plt.subplots(figsize=(4.5, 4))
    for column, label in (("confidence", "categorical"), ("numeric_confidence", "numeric"), ("minimal_confidence", "minimal")):
        if column in ok and ok[column].notna().any():
            valid = graded[graded[column].notna()]
            diagram = reliability(valid[column].astype(float), valid["correct"].astype(float))
            diagram = diagram[diagram["n"] > 0]
            axis.plot(diagram["mean_confidence"], diagram["accuracy"], marker="o", label=label)
    axis.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8)
    axis.set_xlabel("confidence")
    axis.set_ylabel("accuracy")
    axis.set_title("Reliability (behaviour set)")
    axis.legend()
    out.append(_save(figure, ctx.run.figure_path("reliability")))
    out.append("")
    return out


def decoding_section(ctx: VerbalConfidenceContext, rows: list) -> list[str]:
    out = []
    probes = table_or_none(ctx.run, "probes")
    if probes is not None:
        out += ["## Probes", ""]
        main = probes[probes["variant"] == "default"]
        for target, rows_t in main.groupby("target", sort=False):
            scored = rows_t.dropna(subset=["score"])
            if not scored.empty:
                out.append(f"![probes_{target}](figures/{plot_scores(scored, ctx.run.figure_path(f'probes_{target}')).name})")
            best = ", ".join(f"{ROLE_LABELS.get(r, r)} {with_ci(*g.loc[g['score'].idxmax(), ['score', 'ci_low', 'ci_high']])} (L{int(g.loc[g['score'].idxmax(), 'layer'])})" for r, g in scored.groupby("role", sort=False))
            skipped = rows_t.loc[rows_t["status"] != "ok", "status"].unique().tolist()
            rows.append((f"Probe {target}: best CV score per role", PAPER["probing"][0], best or f"n/a ({'; '.join(skipped)})", "probes"))
        sweep = probes[probes["variant"].str.startswith("C = ")].dropna(subset=["score"])
        if not sweep.empty:
            best = sweep.loc[sweep.groupby("variant")["score"].idxmax()]
            out += ["", "Sensitivity of the PANL correctness probe to the L2 strength C (best layer per C):", "", markdown_table(best[["variant", "layer", "score", "ci_low", "ci_high", "n"]]), ""]
        tuned = probes[probes["variant"].str.startswith("alpha tuned at AC")].dropna(subset=["score"])
        if not tuned.empty:
            pivot = tuned.pivot_table(index="layer", columns="role", values="score").reset_index()
            out += ["", "Confidence (ridge R²) at PANL, PANL+1 and AC with α tuned at AC (the paper's AC comparison):", "", markdown_table(pivot), ""]
            peaks = tuned.loc[tuned.groupby("role")["score"].idxmax()]
            rows.append(("Confidence decoding with AC's α: AC vs PANL (best layer)", "AC ≈ 0.2 vs PANL ≈ 0.75 (R²)", ", ".join(f"{ROLE_LABELS.get(r.role, r.role)} {with_ci(r.score, r.ci_low, r.ci_high)} (L{int(r.layer)})" for r in peaks.itertuples()), "probes"))
        out.append("")
    variance = table_or_none(ctx.run, "variance")
    if variance is not None:
        out += ["## Variance partitioning", ""]
        all_six = variance[variance["baseline"] == "all six"].dropna(subset=["r2_unique"])
        if not all_six.empty:
            best = all_six.loc[all_six["r2_unique"].idxmax()]
            rows.append(("PANL R²_unique beyond all six baselines (peak layer)", PAPER["panl_unique"][0], f"{best['r2_unique']:.3f} at layer {int(best['layer'])}", "variance"))
            figure, axis = plt.subplots(figsize=(6, 3.5))
            for name, part in variance.dropna(subset=["r2_unique"]).groupby("baseline", sort=False):
                axis.plot(part["layer"], part["r2_unique"], marker="o", markersize=3, label=name, linewidth=2.5 if name == "all six" else 1)
            axis.set_xlabel("layer")
            axis.set_ylabel("R²_unique of PANL")
            axis.legend(fontsize=7)
            axis.grid(alpha=0.3)
            out.append(_save(figure, ctx.run.figure_path("variance_partition")))
            at_peak = variance[variance["layer"] == best["layer"]].set_index("baseline")
            figure, axis = plt.subplots(figsize=(6, 3.5))
            positions = np.arange(len(at_peak))
            axis.bar(positions - 0.2, at_peak["r2_base"], width=0.4, label="R²_CV of the baseline")
            axis.bar(positions + 0.2, at_peak["r2_unique"], width=0.4, label=f"PANL R²_unique (layer {int(best['layer'])})")
            axis.set_xticks(positions, at_peak.index, rotation=30, ha="right")
            axis.axhline(0, color="grey", linewidth=0.7)
            axis.legend(fontsize=7)
            out.append(_save(figure, ctx.run.figure_path("variance_bars")))
            out.append(markdown_table(at_peak.reset_index()[["baseline", "r2_act", "r2_base", "r2_both", "r2_unique"]]))
        else:
            statuses = variance["status"].unique().tolist()
            rows.append(("PANL R²_unique beyond all six baselines (peak layer)", PAPER["panl_unique"][0], f"n/a ({'; '.join(statuses)})", "variance"))
        out.append("")
    return out


def write(ctx: VerbalConfidenceContext) -> Path:
    """Draw the figures and write report.md for the tables present in the run folder."""
    config = ctx.config
    comparison: list[tuple[str, str, str, str]] = []
    body = pilot_section(ctx) + behaviour_section(ctx, comparison)
    body += causal_sections(ctx, comparison)
    body += decoding_section(ctx, comparison)
    body = recovery_section(ctx) + body
    labels = {key: label for key, (_, label) in PAPER.items()}
    head = [
        f"# Verbal confidence: {config.name}",
        "",
        f"Model `{config.model.name}`; chat template {'on' if config.chat else 'off'}; seed {config.seed}; "
        f"sets {asdict(config.sets)}. Paper numbers are Gemma 3 27B on TriviaQA (verbal_confidence.md §7). "
        + ("A random-weight model has no real confidence: its numbers check the plumbing, not the science. " if str(config.model.name).startswith("tiny-") else "")
        + f"Brackets are 95% bootstrap CIs ({N_BOOT} resamples of trials).",
        "",
        *comparison_section(comparison),
        f"Evidence labels of the paper column: {', '.join(sorted(set(labels.values())))} (see the spec).",
        "",
        *stage_times_section(ctx.run),
        *code_section(ctx.run),
    ]
    return ctx.run.write_report("\n".join(head + body) + "\n")
