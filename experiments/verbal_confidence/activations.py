"""Stage "capture": residuals at every configured (layer, role) of the Phase-1 categorical
prompt, for the activation and calibration sets, into a resumable `ActivationStore`; with
`steering.numeric`, also the numeric 0–100 prompt's residuals at the steering sites of the
activation set (its own store), for the numeric steering vectors."""

from __future__ import annotations

import pandas as pd

from experiments.verbal_confidence.causal import STORES, steering_roles
from experiments.verbal_confidence.context import VerbalConfidenceContext


def run(ctx: VerbalConfidenceContext) -> pd.DataFrame:
    table = ctx.behaviour
    ids = table.loc[table["set"].isin(["activation", "calibration"]) & (table["status"] == "ok"), "trial_id"].tolist()
    spec = ctx.config.capture
    if ctx.config.steering.numeric:
        activation = table.loc[(table["set"] == "activation") & (table["status"] == "ok"), "trial_id"].tolist()
        meta = {"pipeline": "verbal_confidence", "prompt": "numeric"}
        ctx.capture_store(ctx.trials(activation), "numeric", STORES["numeric"], ctx.layers("steering"), steering_roles(ctx, "numeric"), spec.dtype, meta=meta, progress=False)
    store = ctx.capture_store(ctx.trials(ids), "categorical", "activations", ctx.layers("capture"), list(spec.roles), spec.dtype, meta={"pipeline": "verbal_confidence"})
    index = store.index()
    ctx.run.write_table("capture", index)
    return index
