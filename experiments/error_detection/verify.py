"""Stages "answers" (Stage 0, the verbal-confidence pipeline's Phase 0 and Phase 1), "verification"
(Stage 1: V and VLD at PL and the residuals at every layer, one forward pass) and "correction"
(Stage 2: A2 after the model's own verdict), and the per-trial detection table they add up to
(error_detection.md §3)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from experiments.error_detection.context import ErrorDetectionContext, sdt_cell
from experiments.verbal_confidence.behaviour import answer_and_rate, load_rows
from interp.errors import ConfigError
from interp.forward import continuation_logprobs, generate, logprob_features
from interp.prompting import Trial
from interp.pipeline import resolve_path
from interp.tasks import grade_answer, load_mnli, normalize_answer

TRIAL_SETS = ("trials",)


def answers(ctx: ErrorDetectionContext) -> pd.DataFrame:
    """Stage 0: A1 greedy with per-token log-probs (ℓ̄ = logprob_mean), graded, and the ten-class
    verbal confidence (class midpoint) of the Phase-1 readout — the verbal-confidence pipeline's
    own parts. MNLI keeps the configured labels; the other rows stay with a status."""
    labels = set(ctx.config.filter.mnli_labels)

    def rows() -> pd.DataFrame:
        if ctx.config.data.dataset != "mnli":
            return load_rows(ctx)
        return load_rows(ctx, keep=lambda frame: frame["gold"].isin(labels), why_not=f"excluded: gold label not in {sorted(labels)}", extra=mnli_top_up(ctx))

    share = float(ctx.config.answers.gold_share)
    if not 0 <= share <= 1:
        raise ConfigError(f"answers.gold_share must lie in [0, 1], got {share}")
    revise = (lambda table: ctx.run.part("answers", "gold-answers", lambda: with_gold_answers(ctx, table, share))) if share > 0 else None
    table = answer_and_rate(ctx, "answers", TRIAL_SETS, rows, revise)
    if "a1_source" not in table:
        table["a1_source"] = "model"
        ctx.run.write_table("behaviour", table)
    return table


def with_gold_answers(ctx: ErrorDetectionContext, answers: pd.DataFrame, share: float) -> pd.DataFrame:
    """`answers` with the gold answer in A1's slot for a seeded `share` of the trials with a
    Phase-0 answer (graded or not): graded, and its log-prob features scored by teacher forcing
    on the Phase-0 prompt; column `a1_source` is "gold" there and "model" elsewhere."""
    table = answers.copy()
    table["a1_source"] = "model"
    answered = table[(table["status"] == "ok") | table["status"].str.startswith("grade:")]
    picked = ctx.draw(answered, round(share * len(answered)), "gold answers")
    by_id = {r.trial_id: r for r in picked.itertuples(index=False)}
    trials = [Trial(id=r.trial_id, question=r.question, gold=r.gold, aliases=tuple(r.aliases)) for r in picked.itertuples(index=False)]
    batches, _ = ctx.batches(trials, "phase0")
    for batch in batches:
        golds = [str(by_id[t].gold) for t in batch.trial_ids]
        for trial_id, gold, logprobs in zip(batch.trial_ids, golds, continuation_logprobs(ctx.lm, batch, [" " + g for g in golds])):
            row = table.index[table["trial_id"] == trial_id][0]
            grade = grade_answer(ctx.config.data.dataset, gold, gold, by_id[trial_id].aliases)
            table.loc[row, ["answer", "phase0_text", "correct", "a1_source", "status", "grade_status"]] = [gold, gold, bool(grade.correct), "gold", "ok", grade.status]
            for name, value in logprob_features(logprobs).items():
                table.loc[row, f"logprob_{name}"] = value
    return table


def mnli_top_up(ctx: ErrorDetectionContext) -> pd.DataFrame | None:
    """The rows of `filter.mnli_top_up` (ids prefixed "mm-" so they never clash with the first
    file's), or None when it is not set."""
    path = resolve_path(ctx.config.filter.mnli_top_up)
    if path is None:
        return None
    if not path.exists():
        raise ConfigError(f"filter.mnli_top_up: {path} does not exist")
    rows = load_mnli(path, on_error="status")
    return rows.assign(id="mm-" + rows["id"].astype(str))


def verification(ctx: ErrorDetectionContext) -> pd.DataFrame:
    """Stage 1 on every answered trial: the pilot of the Y/N readout, then one forward pass per
    batch that stores the residuals at every configured (layer, role) and reads V (argmax of the
    Y/N first tokens) and VLD (full softmax) at PL. Writes verification.parquet."""
    behaviour = ctx.behaviour
    answered = behaviour[behaviour["status"] == "ok"]
    trials = ctx.verification_trials(answered)
    ctx.pilot_readouts(["verification"], trials[: int(ctx.config.pilot.n)], float(ctx.config.pilot.min_agreement))
    spec = ctx.config.verification
    meta = {"pipeline": "error_detection", "prompt": "verification"}
    store = ctx.capture_store(trials, "verification", "activations", ctx.layers("verification"), list(spec.roles), spec.dtype, ctx.readout("verification"), meta)
    index = store.index()
    table = verdict_table(index)
    ctx.run.write_table("verification", table)
    return table


def verdict_table(index: pd.DataFrame) -> pd.DataFrame:
    """Per trial of a verification store: status ("ok" only when V was read and every role's
    residual is finite), V ("Y"/"N"), VLD and P(Y) / (P(Y) + P(N))."""
    out = pd.DataFrame({"trial_id": index["trial_id"], "verification_status": index["status"]})
    read = index["row"] >= 0
    for column in ("yes", "vld", "p_yes"):
        out[column] = index[column] if column in index else float("nan")
    out["verdict"] = [("Y" if y else "N") if ok and pd.notna(y) else None for ok, y in zip(read, out["yes"])]
    out["yes"] = [bool(y) if v is not None else None for y, v in zip(out["yes"], out["verdict"])]
    unread = (out["verification_status"] == "ok") & out["verdict"].isna()
    out.loc[unread, "verification_status"] = "verdict not read"
    return out


def correction(ctx: ErrorDetectionContext) -> pd.DataFrame:
    """Stage 2 on every trial with a verdict: the correction prompt with A1 and the model's own V,
    A2 greedy (up to the first newline; with `correction.skip_blank_lines`, the first line with
    text), graded; answer change = normalised A2 ≠ normalised A1.
    Writes correction.parquet and detection.parquet (every trial of the run, one status)."""
    behaviour = ctx.behaviour
    verdicts = ctx.run.read_table("verification").set_index("trial_id")
    rows = behaviour[behaviour["trial_id"].isin(verdicts.index[verdicts["verification_status"] == "ok"])]
    trials = [
        Trial(id=r.trial_id, question=r.question, answer=r.answer, gold=r.gold, aliases=tuple(r.aliases), metadata={"verdict": verdicts.loc[r.trial_id, "verdict"]})
        for r in rows.itertuples(index=False)
    ]
    size = max(1, int(ctx.config.batch_size)) * 8
    chunks = [trials[k : k + size] for k in range(0, len(trials), size)]
    dataset = ctx.config.data.dataset
    parts = ctx.run.parts("correction", [(f"a2-{k:05d}", lambda chunk=chunk: corrected(ctx, chunk, dataset)) for k, chunk in enumerate(chunks)], desc="correction")
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["trial_id", "correction_status", "a2", "a2_correct", "answer_change"])
    ctx.run.write_table("correction", table)
    ctx.run.write_table("detection", detection_table(behaviour, ctx.run.read_table("verification"), table))
    return table


def corrected(ctx: ErrorDetectionContext, trials: Sequence[Trial], dataset: str, kind: str = "correction") -> pd.DataFrame:
    """A2 of one chunk of correction trials (each with metadata["verdict"]): text, answer, grade,
    answer change against the trial's answer, and a status."""
    records = {t.id: {"trial_id": t.id, "correction_status": "ok", "a2": None, "a2_text": None, "a2_correct": None, "answer_change": None} for t in trials}
    batches, failed = ctx.batches(trials, kind)
    for trial_id, why in failed.items():
        records[trial_id]["correction_status"] = f"render: {why}"
    spec = ctx.config.correction
    by_id = {t.id: t for t in trials}
    for gen in generate(ctx.lm, batches, max_new_tokens=int(spec.max_new_tokens), stop=spec.stop, progress=False, skip_blank_lines=bool(spec.skip_blank_lines)):
        record, trial = records[gen.trial_id], by_id[gen.trial_id]
        record.update(a2_text=gen.text, a2=gen.answer)
        if gen.answer is None:
            record["correction_status"] = f"a2: {gen.status}"
            continue
        grade = grade_answer(dataset, gen.answer, trial.gold, trial.aliases)
        record["answer_change"] = normalize_answer(gen.answer) != normalize_answer(trial.answer)
        if grade.correct is None:
            record["correction_status"] = f"a2 grade: {grade.status}"
        else:
            record["a2_correct"] = bool(grade.correct)
    return pd.DataFrame(list(records.values()))


def detection_table(behaviour: pd.DataFrame, verification: pd.DataFrame, correction: pd.DataFrame) -> pd.DataFrame:
    """One row per trial of Stage 0: its Stage-0 columns, V/VLD, A2, the SDT cell and `status`
    (the first stage that failed for it, or "ok"); `verification_status` and
    `correction_status` say how far each trial got."""
    keep = ["trial_id", "set", "question", "gold", "aliases", "answer", "a1_source", "correct", "confidence", "expected_confidence", "logprob_mean", "answer_tokens", "question_tokens", "status"]
    table = behaviour[[c for c in keep if c in behaviour.columns]].rename(columns={"status": "answers_status"})
    table = table.merge(verification, on="trial_id", how="left").merge(correction, on="trial_id", how="left")
    table["verification_status"] = table["verification_status"].fillna("not verified (Stage 0 failed)")
    verified = table["verification_status"] == "ok"
    table["correction_status"] = table["correction_status"].where(~verified | table["correction_status"].notna(), "not corrected").where(verified, "not corrected (no verdict)")
    status = []
    for r in table.itertuples(index=False):
        if r.answers_status != "ok":
            status.append(f"stage 0: {r.answers_status}")
        elif r.verification_status != "ok":
            status.append(f"verification: {r.verification_status}")
        elif r.correction_status != "ok":
            status.append(f"correction: {r.correction_status}")
        elif pd.isna(r.correct):
            status.append("stage 0: A1 not graded")
        else:
            status.append("ok")
    table["status"] = status
    table["sdt_cell"] = [sdt_cell(c, y) if v == "ok" else None for c, y, v in zip(table["correct"], table["yes"], table["verification_status"])]
    return table
