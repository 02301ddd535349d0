"""Stage "behaviour": load and split the data, Phase 0 (generation with log-probs, grading,
same-run confidence), Phase 1 (the categorical readout at CC), and the numeric 0–100 and
minimal 0–9 variants on the behaviour set. Writes trials.parquet and behaviour.parquet."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict

import pandas as pd

from experiments.verbal_confidence.config import TRIAL_SETS
from experiments.verbal_confidence.context import LABELS, VerbalConfidenceContext
from interp.errors import ConfigError, DatasetError
from interp.forward import FEATURES, generate, last_token_logits
from interp.pipeline import resolve_path
from interp.prompting import Batch, Trial
from interp.tasks import OPEN_ENDED, assign_sets, dedupe, grade_answer, hedges, load_gsm8k, load_mmlu, load_mnli, load_triviaqa, parse_confidence_class, parse_percent, restates_question, with_options


LOADERS = {
    "triviaqa": lambda path, spec: load_triviaqa(path, on_error="status"),
    "mmlu": lambda path, spec: load_mmlu(path, split=spec.split, on_error="status"),
    "gsm8k": lambda path, spec: load_gsm8k(path, on_error="status"),
    "mnli": lambda path, spec: load_mnli(path, on_error="status"),
}
"""The datasets the pipelines read (§6.10 of verbal_confidence.md; MNLI for error_detection.md
§6.9); MMLU items become one question with numbered options, MNLI items one question with the
three labels."""

MNLI_INSTRUCTION = "\nAnswer with one label: entailment, neutral or contradiction."
"""Appended to an MNLI item's premise and hypothesis, so the Phase-0 prompt names the labels."""


def load_rows(ctx: VerbalConfidenceContext, keep: Callable[[pd.DataFrame], pd.Series] | None = None, why_not: str = "excluded", extra: pd.DataFrame | None = None) -> pd.DataFrame:
    """The dataset rows (local file, else the hub when `data.hub`), deduplicated, with a `set`
    column from disjoint seeded sets over the rows whose status is ok. `keep` (rows → bool mask)
    narrows the rows sets are drawn from; the others stay in the table with status `why_not`.
    `extra` rows (a top-up file) are used only when the kept rows are fewer than the sets ask
    for; when they are, they come after the first file's rows."""
    spec = ctx.config.data
    if spec.dataset not in LOADERS:
        raise ConfigError(f"data.dataset: this pipeline reads {', '.join(LOADERS)}, not {spec.dataset!r}")
    path = resolve_path(spec.path)
    if path is not None and path.exists():
        rows = LOADERS[spec.dataset](path, spec)
    elif spec.hub:
        rows = LOADERS[spec.dataset](None, spec)
    else:
        raise DatasetError(f"data.path {path} does not exist and data.hub is off")
    if spec.dataset == "mmlu":
        rows["question"] = [q if q is None else with_options(q, o) for q, o in zip(rows["question"], rows["options"])]
    if spec.dataset == "mnli":
        rows["question"] = [q if q is None else q + MNLI_INSTRUCTION for q in rows["question"]]
    if spec.limit is not None:
        rows = rows.head(int(spec.limit))
    if extra is not None:
        kept = (rows["status"] == "ok") & (keep(rows).astype(bool) if keep is not None else True)
        if int(kept.sum()) < sum(asdict(ctx.config.sets).values()):
            if spec.dataset == "mnli":
                extra = extra.assign(question=[q if q is None else q + MNLI_INSTRUCTION for q in extra["question"]])
            rows = pd.concat([rows, extra], ignore_index=True)
    rows = dedupe(rows).reset_index(drop=True)
    if keep is not None:
        rows.loc[(rows["status"] == "ok") & ~keep(rows).astype(bool), "status"] = why_not
    ok = rows["status"] == "ok"
    sets = assign_sets(rows.loc[ok, "id"].tolist(), asdict(ctx.config.sets), seed=ctx.seed)
    rows["set"] = [sets.get(i, "excluded") for i in rows["id"]]
    return rows


def few_shot_examples(ctx: VerbalConfidenceContext, rows: pd.DataFrame) -> pd.DataFrame:
    """The worked examples of the run, from the disjoint `examples` set [ours]: the Phase-0 prompt
    shows gold answers rated 0.95; the readout prompts alternate a gold answer rated 0.95 with
    another example's gold answer (a foil) rated 0.05, so the demonstrations are truthful and
    balanced. One row per (prompt, example)."""
    spec = ctx.config.few_shot
    pool = rows[rows["set"] == "examples"].reset_index(drop=True)
    needed = max(spec.phase0, spec.readout)
    if len(pool) < needed or (spec.readout and len(pool) < 2):
        raise ConfigError(f"few_shot asks for {needed} worked examples but sets.examples holds {len(pool)}")
    out = []
    answers = [str(int(r.correct_option)) if r.dataset in ("mmlu", "mcq") else r.gold for r in pool.itertuples(index=False)]
    for k in range(spec.phase0):
        item = pool.iloc[k]
        out.append({"prompt": "phase0", "order": k, "trial_id": item["id"], "question": item["question"], "answer": answers[k], "confidence": 0.95})
    for k in range(spec.readout):
        item = pool.iloc[k]
        foil = answers[(k + 1) % len(pool)]
        correct = k % 2 == 0
        out.append({"prompt": "readout", "order": k, "trial_id": item["id"], "question": item["question"], "answer": answers[k] if correct else foil, "confidence": 0.95 if correct else 0.05})
    return pd.DataFrame(out, columns=["prompt", "order", "trial_id", "question", "answer", "confidence"])


def run(ctx: VerbalConfidenceContext) -> pd.DataFrame:
    return answer_and_rate(ctx, "behaviour", TRIAL_SETS)


def answer_and_rate(
    ctx: VerbalConfidenceContext,
    stage: str,
    trial_sets: Sequence[str],
    rows: Callable[[], pd.DataFrame] | None = None,
    revise: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Phase 0 and the Phase-1 readout (with the variants the config turns on) of every trial in
    `trial_sets`, as parts of `stage`: the shared Stage 0 of the pipelines that rate the model's
    own answers. `rows` loads the dataset (default `load_rows`); `revise` (Phase-0 table → table,
    deterministic) may change answers before they are rated. Writes trials, few_shot and
    behaviour; returns behaviour (one row per trial of the sets, with a status)."""
    rows = ctx.run.part(stage, "trials", rows or (lambda: load_rows(ctx)))
    ctx.run.write_table("trials", rows)
    ctx.run.write_table("few_shot", few_shot_examples(ctx, rows))
    used = rows[rows["set"].isin(trial_sets)]
    trials = [
        Trial(id=r.id, question=r.question, gold=r.gold, aliases=tuple(str(a) for a in (r.aliases if r.aliases is not None else ())), metadata={"set": r.set, "dataset": r.dataset, "correct_option": r.correct_option})
        for r in used.itertuples(index=False)
    ]
    size = max(1, int(ctx.config.batch_size)) * 8
    chunks = [trials[k : k + size] for k in range(0, len(trials), size)]
    answers = pd.concat(
        ctx.run.parts(stage, [(f"phase0-{k:05d}", lambda chunk=chunk: _phase0(ctx, chunk)) for k, chunk in enumerate(chunks)], desc="phase 0"),
        ignore_index=True,
    )
    if revise is not None:
        answers = revise(answers)
    pilot(ctx, answers, trial_sets[0])
    by_id = answers.set_index("trial_id")
    parts = ctx.run.parts(stage, [(f"readouts-{k:05d}", lambda chunk=chunk: _readouts(ctx, chunk, by_id)) for k, chunk in enumerate(chunks)], desc="readouts")
    table = pd.concat(parts, ignore_index=True)
    ctx.run.write_table("behaviour", table)
    return table


def pilot(ctx: VerbalConfidenceContext, answers: pd.DataFrame, pilot_set: str = "behaviour") -> None:
    """The pilot check of every one-pass readout the stage uses (verbal_confidence.md §8) on the
    first `pilot.n` answered trials of `pilot_set` (see `Context.pilot_readouts`)."""
    spec = ctx.config.pilot
    ok = answers[(answers["set"] == pilot_set) & (answers["status"] == "ok")].head(int(spec.n))
    trials = [Trial(id=r.trial_id, question=r.question, answer=r.answer) for r in ok.itertuples(index=False)]
    kinds = ["categorical", *(["minimal"] if ctx.config.behaviour.minimal else [])]
    ctx.pilot_readouts(kinds, trials, float(spec.min_agreement))


def _phase0(ctx: VerbalConfidenceContext, trials: list[Trial]) -> pd.DataFrame:
    """Phase 0 of one chunk of trials: the generated answer, its grade, log-probs and same-run confidence."""
    records = {
        t.id: {"trial_id": t.id, "set": t.metadata["set"], "question": t.question, "gold": t.gold, "aliases": list(t.aliases), "status": "ok"}
        for t in trials
    }
    batches, failed = ctx.batches(trials, "phase0")
    for trial_id, why in failed.items():
        records[trial_id]["status"] = why
    by_id = {t.id: t for t in trials}
    spec = ctx.config.behaviour
    for gen in generate(ctx.lm, batches, max_new_tokens=int(spec.max_new_tokens), stop=spec.stop, progress=False):
        record = records[gen.trial_id]
        same_run, same_status = parse_confidence_class(gen.after_answer)
        trial = by_id[gen.trial_id]
        grade = grade_answer(trial.metadata["dataset"], gen.answer, trial.gold, trial.aliases, trial.metadata["correct_option"]) if gen.answer else None
        hedged = hedges(gen.answer)
        record.update(
            phase0_text=gen.text,
            phase0_status=gen.status,
            answer=gen.answer,
            answer_generated_tokens=len(gen.answer_logprobs),
            hedges=", ".join(hedged),
            correct=None if grade is None or grade.correct is None else bool(grade.correct and not hedged),
            grade_status=None if grade is None else grade.status,
            same_run_class=same_run.label if same_run else None,
            same_run_confidence=same_run.midpoint if same_run else None,
            same_run_status=same_status,
            **{f"logprob_{name}": value for name, value in gen.features().items()},
        )
        if gen.status != "ok":
            record["status"] = f"phase0: {gen.status}"
        elif trial.metadata["dataset"] in OPEN_ENDED and restates_question(gen.answer, trial.question):
            record.update(correct=None, grade_status="restates question")  # still read and intervened on; never scored
        elif grade is not None and grade.correct is None:
            record["status"] = f"grade: {grade.status}"
    table = pd.DataFrame(list(records.values()))
    for name in ("answer", "phase0_text", "correct", *(f"logprob_{f}" for f in FEATURES)):
        if name not in table:
            table[name] = None
    return table


def _readouts(ctx: VerbalConfidenceContext, trials: list[Trial], answers: pd.DataFrame) -> pd.DataFrame:
    """Phase 1, and the numeric and minimal variants on `behaviour.variant_sets`, of one chunk of trials."""
    records = {t.id: answers.loc[t.id].to_dict() | {"trial_id": t.id} for t in trials}
    answered = [Trial(id=t.id, question=t.question, answer=records[t.id]["answer"], gold=t.gold, aliases=t.aliases) for t in trials if records[t.id]["status"] == "ok"]
    _phase1(ctx, answered, records)
    variant_sets = [t for t in answered if records[t.id]["set"] in ctx.config.behaviour.variant_sets]
    if ctx.config.behaviour.numeric:
        _numeric(ctx, variant_sets, records)
    if ctx.config.behaviour.minimal:
        _minimal(ctx, variant_sets, records)
    table = pd.DataFrame(list(records.values()))
    for name in ("confidence", "numeric_confidence", "minimal_confidence"):
        if name not in table:
            table[name] = None
    return table


def _lengths(batch: Batch, row: int, span: str) -> int:
    start, end = batch.spans[span][row].tolist()
    return end - start if start >= 0 else -1


def _phase1(ctx: VerbalConfidenceContext, trials: list[Trial], records: dict) -> None:
    batches, failed = ctx.batches(trials, "categorical")
    for trial_id, why in failed.items():
        records[trial_id]["status"] = f"phase1 {why}"
    for batch in batches:
        readout = ctx.readout("categorical").scores(last_token_logits(ctx.lm, batch))
        statuses = batch.status()
        for row, trial_id in enumerate(batch.trial_ids):
            record = records[trial_id]
            record.update(question_tokens=_lengths(batch, row, "question"), answer_tokens=_lengths(batch, row, "answer"), answer_stripped=batch.metadata[row].get("answer_stripped", ""))
            if statuses[row] != "ok":
                record["status"] = f"phase1 roles: {statuses[row]}"
            record.update(
                confidence_class=LABELS[int(readout.argmax[row])],
                argmax=int(readout.argmax[row]),
                confidence=float(readout.confidence[row]),
                expected_confidence=float(readout.expected[row]),
                logit_diff=float(readout.logit_diff[row]),
                **{f"p_{k + 1}": float(readout.probs[row, k]) for k in range(len(LABELS))},
            )


def _numeric(ctx: VerbalConfidenceContext, trials: list[Trial], records: dict) -> None:
    batches, failed = ctx.batches(trials, "numeric")
    for trial_id, why in failed.items():
        records[trial_id]["numeric_status"] = why
    steps = int(ctx.config.behaviour.numeric_max_new_tokens)
    for gen in generate(ctx.lm, batches, max_new_tokens=steps, progress=False):
        value, status = parse_percent(gen.text)
        records[gen.trial_id].update(numeric_text=gen.text, numeric_status=status, numeric_confidence=None if value is None else value / 100)


def _minimal(ctx: VerbalConfidenceContext, trials: list[Trial], records: dict) -> None:
    batches, failed = ctx.batches(trials, "minimal")
    for trial_id, why in failed.items():
        records[trial_id]["minimal_status"] = why
    for batch in batches:
        readout = ctx.readout("minimal").scores(last_token_logits(ctx.lm, batch))
        resolved = batch.ok(["confidence_colon"])
        for row, trial_id in enumerate(batch.trial_ids):
            ok = bool(resolved[row])
            records[trial_id].update(
                minimal_status="ok" if ok else "confidence_colon did not resolve",
                minimal_digit=int(readout.argmax[row]) if ok else None,
                minimal_confidence=float(readout.confidence[row]) if ok else None,
            )
