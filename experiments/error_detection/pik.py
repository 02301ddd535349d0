"""Stage "pik" (error_detection.md §6.4): P(IK) = the gold-graded fraction of `pik.n_samples`
Phase-0 answers sampled at T = 1; a ridge P(IK) probe at PANL, its cosine with the V probe, and
the PANL increment for answer change and A2 correctness re-tested over B + P(IK)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.error_detection.context import ErrorDetectionContext
from experiments.error_detection.probes import TARGETS, downstream_layer, increment_rows, target_series
from interp.analysis import LinearProbe, cross_validate, target_problem
from interp.analysis.stats import bootstrap_score
from interp.forward import generate
from interp.prompting import Trial
from interp.tasks import grade_answer


def samples(ctx: ErrorDetectionContext, trials: list[Trial]) -> pd.DataFrame:
    """`pik.n_samples` Phase-0 continuations per trial at `pik.temperature`, each seeded by the run
    seed and the trial id (so the same seed gives the same samples however the trials are
    batched), graded against the gold aliases: one row per (trial, sample) with a status."""
    spec = ctx.config.pik
    batches, failed = ctx.batches(trials, "phase0")
    by_id = {t.id: t for t in trials}
    rows = [{"trial_id": trial_id, "sample": -1, "answer": None, "correct": None, "status": f"render: {why}"} for trial_id, why in failed.items()]
    generated = generate(ctx.lm, batches, max_new_tokens=int(spec.max_new_tokens), temperature=float(spec.temperature), n_samples=int(spec.n_samples), seed=ctx.seed, stop=ctx.config.behaviour.stop, progress=False)
    dataset = ctx.config.data.dataset
    for gen in generated:
        trial = by_id[gen.trial_id]
        grade = grade_answer(dataset, gen.answer, trial.gold, trial.aliases) if gen.answer else None
        status = gen.status if gen.answer is None else ("ok" if grade.correct is not None else f"grade: {grade.status}")
        rows.append({"trial_id": gen.trial_id, "sample": gen.sample, "answer": gen.answer, "correct": None if grade is None else grade.correct, "status": status})
    return pd.DataFrame(rows)


def pik_table(sampled: pd.DataFrame, n_samples: int) -> pd.DataFrame:
    """Per trial: P(IK) over its graded samples, how many were graded, and a status."""
    graded = sampled[sampled["status"] == "ok"]
    out = sampled.groupby("trial_id", sort=True).size().rename("n_drawn").reset_index()
    stats = graded.groupby("trial_id")["correct"].agg(["mean", "size"]).rename(columns={"mean": "pik", "size": "n_graded"})
    out = out.merge(stats, left_on="trial_id", right_index=True, how="left")
    out["n_graded"] = out["n_graded"].fillna(0).astype(int)
    out["status"] = np.where(out["n_graded"] > 0, "ok", "no sample could be graded")
    out.loc[(out["n_graded"] > 0) & (out["n_graded"] < n_samples), "status"] = "ok (some samples ungraded)"
    return out


def run(ctx: ErrorDetectionContext) -> pd.DataFrame:
    spec = ctx.config.pik
    if not spec.enabled:
        skipped = pd.DataFrame({"trial_id": [], "pik": [], "status": []})
        ctx.run.write_table("pik", skipped)
        ctx.run.write_table("pik_tests", pd.DataFrame([{"quantity": "pik", "status": "skipped (pik.enabled is off)"}]))
        return skipped
    table = ctx.detection
    rows = table[table["answers_status"] == "ok"]
    if spec.n_questions is not None:
        rows = ctx.draw(rows, int(spec.n_questions), "pik questions")
    trials = [Trial(id=r.trial_id, question=r.question, gold=r.gold, aliases=tuple(r.aliases)) for r in rows.itertuples(index=False)]
    size = max(1, int(ctx.config.batch_size)) * 8
    chunks = [trials[k : k + size] for k in range(0, len(trials), size)]
    sampled = pd.concat(ctx.run.parts("pik", [(f"samples-{k:05d}", lambda chunk=chunk: samples(ctx, chunk)) for k, chunk in enumerate(chunks)], desc="P(IK) samples"), ignore_index=True)
    ctx.run.write_table("pik_samples", sampled)
    pik = pik_table(sampled, int(spec.n_samples))
    unsampled = table.loc[~table["trial_id"].isin(pik["trial_id"]), ["trial_id"]].assign(n_drawn=0, n_graded=0, status=lambda f: "not sampled (Stage 0 failed or pik.n_questions)")
    pik = pd.concat([pik, unsampled], ignore_index=True)
    ctx.run.write_table("pik", pik)
    with_pik = table.merge(pik[["trial_id", "pik"]], on="trial_id", how="left")
    scores = ctx.run.read_table("probe_scores")
    rows = probe_rows(ctx, with_pik)
    retested = [t for t in TARGETS if t[0] in ("answer change", "A2 correct")]
    tests = increment_rows(ctx, with_pik.dropna(subset=["pik"]), scores, extra=["pik"], label="B + P(IK)", targets=retested)
    out = pd.DataFrame(rows + [{"quantity": "increment over B + P(IK)", **t} for t in tests])
    ctx.run.write_table("pik_tests", out)
    return pik


def probe_rows(ctx: ErrorDetectionContext, table: pd.DataFrame) -> list[dict]:
    """The ridge P(IK) probe at (PANL, configured layer): its CV R² with CI, and the cosine of its
    weights with the V probe's (both fitted on all their rows, in z-scored space)."""
    layer = downstream_layer(ctx)
    values, ids = ctx.store().read(layer, "panl", only_finite=True)
    where = {trial: k for k, trial in enumerate(ids)}
    pik = table.dropna(subset=["pik"])
    pik = pik[pik["trial_id"].isin(where)]
    y = pik["pik"].to_numpy(float)
    X = values[[where[t] for t in pik["trial_id"]]].double().numpy()
    cv, alpha = int(ctx.config.probes.cv), ctx.config.pik.alpha
    problem = target_problem(y, "ridge", cv)
    rows = [{"quantity": "pik_probe_r2", "layer": layer, "n": len(y), "status": problem or "ok"}]
    if problem:
        return rows
    result = cross_validate(X, y, kind="ridge", cv=cv, alpha=alpha, seed=ctx.seed)
    estimate, low, high = bootstrap_score(y, result.oof, "r2", n_boot=int(ctx.config.probes.n_boot), seed=ctx.seed)
    rows[0].update(estimate=estimate, ci_low=low, ci_high=high)
    v = target_series(table, "V", "yes", "all")
    v = v[v.index.isin(where)]
    problem = target_problem(v.to_numpy(), "logistic", cv)
    if problem:
        return rows + [{"quantity": "cosine(V probe, P(IK) probe)", "layer": layer, "status": problem}]
    pik_probe = LinearProbe.fit(X, y, kind="ridge", alpha=alpha)
    v_probe = LinearProbe.fit(values[[where[t] for t in v.index]].double().numpy(), v.to_numpy(), kind="logistic", C=float(ctx.config.probes.C))
    a, b = pik_probe.weight.double(), v_probe.weight.double()
    cosine = float(a @ b / (a.norm() * b.norm()))
    return rows + [{"quantity": "cosine(V probe, P(IK) probe)", "layer": layer, "n": len(v), "estimate": cosine, "status": "ok"}]
