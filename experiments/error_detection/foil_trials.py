"""Stage "foils" (error_detection.md §6.5): hard, easy and unrelated wrong answers put in A1's
slot, verified (V, VLD and the PANL residuals in one pass) and corrected like A1; SDT with the
correct own answers as signal and each foil kind as noise, beside the own-answer condition on
the same questions; and P4 on the changed foil trials (PANL probe vs the behavioural baseline
for A2 correctness)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.error_detection.behaviour import sdt_rows
from experiments.error_detection.context import ErrorDetectionContext
from experiments.error_detection.probes import downstream_layer, oof_score
from experiments.error_detection.verify import corrected, verdict_table
from interp.analysis.stats import increment_test
from interp.prompting import Trial
from interp.tasks import build_foils

FOIL_BASELINE = ("logprob_mean", "confidence", "vld")
"""B on foil trials: the question's own ℓ̄ and verbal confidence (Stage 0) and the foil's VLD
(A1 correctness is constant: every foil is wrong)."""

STORE = "activations_foils"


def _skipped(ctx: ErrorDetectionContext, why: str) -> pd.DataFrame:
    table = pd.DataFrame([{"kind": "all", "status": why}])
    for name in ("foils", "foil_trials", "foil_sdt", "foil_p4"):
        ctx.run.write_table(name, table)
    return table


def run(ctx: ErrorDetectionContext) -> pd.DataFrame:
    spec = ctx.config.foils
    if not spec.enabled:
        return _skipped(ctx, "skipped (foils.enabled is off)")
    if ctx.config.data.dataset != "triviaqa":
        return _skipped(ctx, f"skipped (foils are built for TriviaQA answers, not {ctx.config.data.dataset})")
    table = ctx.detection
    questions = table[table["status"] == "ok"]
    if spec.n_questions is not None:
        questions = ctx.draw(questions, int(spec.n_questions), "foil questions")
    seed = ctx.seed if spec.seed is None else int(spec.seed)
    samples = None
    if ctx.run.has_table("pik_samples"):
        drawn = ctx.run.read_table("pik_samples")
        drawn = drawn[drawn["status"] == "ok"].sort_values(["trial_id", "sample"])
        samples = {trial_id: group["answer"].tolist() for trial_id, group in drawn.groupby("trial_id")}
    foils = ctx.run.part("foils", "foils", lambda: build_foils(questions[["trial_id", "question", "gold", "aliases"]], seed=seed, samples=samples))
    ctx.run.write_table("foils", foils)
    ready = foils[foils["status"] == "ok"].merge(questions[["trial_id", "question", "gold", "aliases"]], on="trial_id")
    trials = [
        Trial(id=f"{r.trial_id}#foil-{r.kind}", question=r.question, answer=r.foil, gold=r.gold, aliases=tuple(r.aliases), metadata={"source_trial": r.trial_id})
        for r in ready.itertuples(index=False)
    ]
    layer = downstream_layer(ctx)
    meta = {"pipeline": "error_detection", "prompt": "verification_foil", "foil_seed": seed}
    store = ctx.capture_store(trials, "verification_foil", STORE, [layer], ["panl"], ctx.config.verification.dtype, ctx.readout("verification_foil"), meta)
    verdicts = verdict_table(store.index())
    verdicts["source_trial"] = verdicts["trial_id"].str.split("#foil-").str[0]
    verdicts["kind"] = verdicts["trial_id"].str.split("#foil-").str[1]
    with_verdict = {t.id: t for t in trials}
    to_correct = []
    for r in verdicts[verdicts["verification_status"] == "ok"].itertuples(index=False):
        t = with_verdict[r.trial_id]
        to_correct.append(Trial(id=t.id, question=t.question, answer=t.answer, gold=t.gold, aliases=t.aliases, metadata={"verdict": r.verdict}))
    size = max(1, int(ctx.config.batch_size)) * 8
    chunks = [to_correct[k : k + size] for k in range(0, len(to_correct), size)]
    parts = ctx.run.parts("foils", [(f"a2-{k:05d}", lambda chunk=chunk: corrected(ctx, chunk, "triviaqa")) for k, chunk in enumerate(chunks)], desc="foil correction")
    a2 = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["trial_id", "correction_status", "a2", "a2_text", "a2_correct", "answer_change"])
    own = questions[["trial_id", "logprob_mean", "confidence"]].rename(columns={"trial_id": "source_trial"})
    foil_trials = verdicts.merge(a2, on="trial_id", how="left").merge(own, on="source_trial", how="left")
    foil_trials = foil_trials.merge(ready[["trial_id", "kind", "foil"]].rename(columns={"trial_id": "source_trial"}), on=["source_trial", "kind"], how="left")
    foil_trials["correction_status"] = foil_trials["correction_status"].fillna("not corrected (no verdict)")
    foil_trials["status"] = np.where(foil_trials["verification_status"] != "ok", "verification: " + foil_trials["verification_status"], np.where(foil_trials["correction_status"] != "ok", "correction: " + foil_trials["correction_status"], "ok"))
    ctx.run.write_table("foil_trials", foil_trials)
    ctx.run.write_table("foil_sdt", foil_sdt(ctx, questions, foil_trials))
    ctx.run.write_table("foil_p4", foil_p4(ctx, foil_trials, layer))
    return foil_trials


def foil_sdt(ctx: ErrorDetectionContext, questions: pd.DataFrame, foil_trials: pd.DataFrame) -> pd.DataFrame:
    """d′ and c per foil kind: signal = the own-answer trials with a correct A1 (V = Y a hit),
    noise = that kind's foil trials (V = Y a false alarm); and the own-answer condition (its
    wrong A1s as noise) on the same questions."""
    n_boot = int(ctx.config.probes.n_boot)
    signal = questions[questions["correct"].astype(bool)]
    rows = []
    with_foils = questions[questions["trial_id"].isin(foil_trials["source_trial"])]
    for row in sdt_rows(with_foils["correct"].astype(bool), with_foils["yes"].astype(bool), "own answers", n_boot, ctx.seed):
        rows.append({"kind": "own", **row})
    for kind, group in foil_trials[foil_trials["verification_status"] == "ok"].groupby("kind", sort=True):
        correct = np.r_[np.ones(len(signal), bool), np.zeros(len(group), bool)]
        yes = np.r_[signal["yes"].astype(bool).to_numpy(), group["yes"].astype(bool).to_numpy()]
        for row in sdt_rows(correct, yes, f"own correct vs {kind} foils", n_boot, ctx.seed):
            rows.append({"kind": kind, **row})
    return pd.DataFrame(rows)


def foil_p4(ctx: ErrorDetectionContext, foil_trials: pd.DataFrame, layer: int) -> pd.DataFrame:
    """Per foil kind, on the foil trials whose answer changed: the PANL probe's out-of-fold score
    for A2 correctness at the configured layer added to the foil baseline (LR test, AUROCs)."""
    spec = ctx.config.probes
    rows = []
    changed = foil_trials[(foil_trials["status"] == "ok") & foil_trials["answer_change"].fillna(False).astype(bool)]
    for kind, group in changed.groupby("kind", sort=True):
        y = pd.Series(group["a2_correct"].astype(float).to_numpy(), index=group["trial_id"].to_numpy())
        score = oof_score(ctx, y, layer, store=STORE)
        if score is None:
            rows.append({"kind": kind, "n": len(group), "status": "A2 correctness cannot be cross-validated (one class or too few rows)"})
            continue
        data = group.merge(score.rename("score"), left_on="trial_id", right_index=True).assign(y=lambda f: f["a2_correct"].astype(float))
        result = increment_test(data, "y", list(FOIL_BASELINE), "score", cv=int(spec.cv), seed=ctx.seed, n_boot=int(spec.n_boot))
        rows.append({"kind": kind, "layer": layer, **result.row()})
    if not rows:
        rows.append({"kind": "all", "n": 0, "status": "no foil trial changed its answer"})
    return pd.DataFrame(rows)
