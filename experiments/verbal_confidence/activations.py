"""Stage "capture": residuals at every configured (layer, role) of the Phase-1 categorical
prompt, for the activation and calibration sets, into a resumable `ActivationStore`; with
`steering.numeric`, also the numeric 0–100 prompt's residuals at the steering sites of the
activation set (its own store), for the numeric steering vectors."""

from __future__ import annotations

import pandas as pd

from experiments.verbal_confidence.causal import STORES, steering_roles
from experiments.verbal_confidence.context import VerbalConfidenceContext
from interp.forward import capture_dataset
from interp.models import resolve_dtype


def run(ctx: VerbalConfidenceContext) -> pd.DataFrame:
    table = ctx.behaviour
    ids = table.loc[table["set"].isin(["activation", "calibration"]) & (table["status"] == "ok"), "trial_id"].tolist()
    spec = ctx.config.capture
    if ctx.config.steering.numeric:
        activation = table.loc[(table["set"] == "activation") & (table["status"] == "ok"), "trial_id"].tolist()
        capture_dataset(
            ctx.lm,
            ctx.trials(activation),
            ctx.template("numeric"),
            layers=ctx.layers("steering"),
            roles=steering_roles(ctx, "numeric"),
            out=ctx.run.path / STORES["numeric"],
            batch_size=int(ctx.config.batch_size),
            chat=bool(ctx.config.chat),
            dtype=resolve_dtype(spec.dtype),
            seed=ctx.seed,
            extra_meta={"pipeline": "verbal_confidence", "config": ctx.config.name, "prompt": "numeric"},
            progress=False,
            ranks=ctx.run.ranks,
        )
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
        ranks=ctx.run.ranks,
    )
    index = store.index()
    ctx.run.write_table("capture", index)
    return index
