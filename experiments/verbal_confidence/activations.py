"""Stage "capture": residuals at every configured (layer, role) of the Phase-1 categorical
prompt, for the activation and calibration sets, into a resumable `ActivationStore`."""

from __future__ import annotations

import pandas as pd

from experiments.verbal_confidence.context import VerbalConfidenceContext
from interp.forward import capture_dataset
from interp.models import resolve_dtype


def run(ctx: VerbalConfidenceContext) -> pd.DataFrame:
    table = ctx.behaviour
    ids = table.loc[table["set"].isin(["activation", "calibration"]) & (table["status"] == "ok"), "trial_id"].tolist()
    spec = ctx.config.capture
    store = capture_dataset(
        ctx.lm,
        ctx.trials(ids),
        ctx.template("categorical"),
        layers=ctx.layers("capture"),
        roles=list(spec.roles),
        out=ctx.run.path / "activations",
        batch_size=int(ctx.config.batch_size),
        chat=bool(ctx.config.chat),
        dtype=resolve_dtype(spec.dtype),
        seed=ctx.seed,
        extra_meta={"pipeline": "verbal_confidence", "config": ctx.config.name},
    )
    index = store.index()
    ctx.run.write_table("capture", index)
    return index
