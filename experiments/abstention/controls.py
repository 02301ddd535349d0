"""Stage "controls" (abstention.md §6.3, §8): the Phase-2 predictors besides confidence —
difficulty D (released, else the studied model's mean Phase-1 accuracy over seeded option
permutations, flagged circular), the RAG score R (released, else BM25 top-k over a local passage
corpus scored as the max question–passage cosine, else skipped with a status) and E, the first
PCs of the test questions' sentence embeddings."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from experiments.abstention.context import AbstentionContext
from interp.forward import last_token_logits
from interp.pipeline import resolve_path
from interp.tasks.embeddings import embedding_pcs, load_encoder
from interp.tasks.rag import load_passages, rag_scores


def permutations(trial_id: str, n: int, seed: int) -> list[list[int]]:
    """`n` seeded orders of the 4 options of one item (the first is the identity)."""
    rng = np.random.default_rng([seed, int.from_bytes(hashlib.sha256(trial_id.encode()).digest()[:4], "little")])
    return [[0, 1, 2, 3]] + [rng.permutation(4).tolist() for _ in range(n - 1)]


def permuted_accuracy(ctx: AbstentionContext, ids: list[str], k: int) -> pd.DataFrame:
    """Per item: whether the 4-way argmax is correct in its k-th seeded option order."""
    n = int(ctx.config.controls.n_permutations)
    trials = [ctx.mcq_trials([i], permutation=permutations(i, n, ctx.seed)[k], suffix=f"#perm{k}")[0] for i in ids]
    by_id = {t.id: t for t in trials}
    batches, failed = ctx.batches(trials, "mcq")
    options = list(ctx.readout("mcq").token_ids)
    rows = []
    for batch in batches:
        choices = last_token_logits(ctx.lm, batch)[:, options].argmax(-1) + 1
        for trial_id, choice in zip(batch.trial_ids, choices.tolist()):
            trial = by_id[trial_id]
            rows.append({"trial_id": trial.metadata["source_trial"], "permutation": k, "correct": choice == trial.metadata["correct_option"], "status": "ok"})
    for trial_id, why in failed.items():
        rows.append({"trial_id": by_id[trial_id].metadata["source_trial"], "permutation": k, "correct": None, "status": why})
    return pd.DataFrame(rows)


def run(ctx: AbstentionContext) -> pd.DataFrame:
    spec = ctx.config.controls
    ids = ctx.ids("test")
    items = ctx.items.loc[ids]
    table = pd.DataFrame({"trial_id": ids})
    if "difficulty" in items and items["difficulty"].notna().all():
        table["difficulty"], table["difficulty_source"] = items["difficulty"].to_numpy(float), "released"
    elif int(spec.n_permutations) > 0:
        size = max(1, int(ctx.config.batch_size)) * 8
        chunks = [ids[k : k + size] for k in range(0, len(ids), size)]
        pieces = [(f"perm{p:02d}-{c:05d}", lambda p=p, chunk=chunk: permuted_accuracy(ctx, chunk, p)) for p in range(int(spec.n_permutations)) for c, chunk in enumerate(chunks)]
        runs = pd.concat(ctx.run.parts("controls", pieces, desc="difficulty permutations"), ignore_index=True)
        ctx.run.write_table("difficulty_runs", runs)
        accuracy = runs[runs["status"] == "ok"].groupby("trial_id")["correct"].mean()
        table["difficulty"] = 1 - accuracy.reindex(ids).to_numpy(float)
        table["difficulty_source"] = f"studied model, {spec.n_permutations} option orders (circular)"
    else:
        table["difficulty"], table["difficulty_source"] = np.nan, "skipped (controls.n_permutations = 0 and no released column)"
    questions = items["question"].tolist()
    encoder = load_encoder(ctx.config.items.encoder, corpus=questions, seed=ctx.seed)
    embeddings = encoder.encode(questions)
    n_pc = min(int(spec.n_components), len(ids) - 1)
    pcs = embedding_pcs(embeddings, n_components=n_pc, seed=ctx.seed)
    for k in range(n_pc):
        table[f"pc_{k + 1}"] = pcs[:, k]
    table["encoder"] = encoder.name
    corpus = resolve_path(spec.corpus)
    if "rag" in items and items["rag"].notna().all():
        table["rag"], table["rag_status"] = items["rag"].to_numpy(float), "released"
    elif corpus is not None:
        table["rag"] = rag_scores(questions, load_passages(corpus), encoder, k=int(spec.rag_k))
        table["rag_status"] = f"BM25 top-{spec.rag_k} over {corpus.name}, max cosine ({encoder.name})"
    else:
        table["rag"], table["rag_status"] = np.nan, "skipped (no controls.corpus and no released rag column)"
    ctx.run.write_table("controls", table)
    return table
