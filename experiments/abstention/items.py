"""Stage "items" (abstention.md §6.1): 4-option MCQ items with typed foils — a released MCQ file
(its foil kinds kept) or TriviaQA rows with similar / dissimilar / unrelated foils drawn from the
other items' gold answers — in a per-item seeded option order used by every phase, and disjoint
seeded calibration and test sets."""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd

from experiments.abstention.context import AbstentionContext
from interp.errors import ConfigError, DatasetError
from interp.pipeline import resolve_path
from interp.tasks import assign_sets, dedupe, load_triviaqa
from interp.tasks.embeddings import load_encoder
from interp.tasks.mcq_items import build_typed_mcq, load_typed_mcq


def load_items(ctx: AbstentionContext) -> pd.DataFrame:
    """The items with a `set` column (calibration, test, or "unused" / "excluded")."""
    spec, seed = ctx.config.data, ctx.seed if ctx.config.items.seed is None else int(ctx.config.items.seed)
    path = resolve_path(spec.path)
    if spec.dataset == "mcq":
        if path is None or not path.exists():
            raise DatasetError(f"data.path {path}: a released MCQ file is needed for data.dataset 'mcq'")
        items = load_typed_mcq(path, seed=seed, on_error="status")
    elif spec.dataset == "triviaqa":
        if path is not None and path.exists():
            rows = load_triviaqa(path, on_error="status")
        elif spec.hub:
            rows = load_triviaqa(None, on_error="status")
        else:
            raise DatasetError(f"data.path {path} does not exist and data.hub is off")
        if spec.limit is not None:
            rows = rows.head(int(spec.limit))
        rows = dedupe(rows).reset_index(drop=True)
        corpus = [str(t) for t in [*rows["gold"].dropna(), *rows["question"].dropna()]]
        items = build_typed_mcq(rows, load_encoder(ctx.config.items.encoder, corpus=corpus, seed=ctx.seed), seed=seed)
    else:
        raise ConfigError(f"data.dataset: the abstention pipeline reads 'mcq' (a released file) or 'triviaqa' (foils built here), not {spec.dataset!r}")
    items = items.rename(columns={"id": "trial_id"})
    ok = items["status"] == "ok"
    sets = assign_sets(items.loc[ok, "trial_id"].tolist(), asdict(ctx.config.sets), seed=ctx.seed)
    items["set"] = [sets.get(i, "excluded") for i in items["trial_id"]]
    return items


def run(ctx: AbstentionContext) -> pd.DataFrame:
    items = ctx.run.part("items", "items", lambda: load_items(ctx))
    ctx.run.write_table("items", items)
    return items
