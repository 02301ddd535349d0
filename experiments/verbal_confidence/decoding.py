"""Stages "probes" (§6.6: correctness and confidence decoded at every layer and role) and
"variance" (§6.8: what PANL explains of Phase-1 confidence beyond the six log-prob baselines)."""

from __future__ import annotations

import pandas as pd
from tqdm.auto import tqdm

from experiments.verbal_confidence.context import VerbalConfidenceContext
from interp.analysis import probe_sweep, target_problem
from interp.analysis.stats import variance_partition
from interp.forward import FEATURES

TARGETS = (("correct", "logistic"), ("confidence", "ridge"))
"""(behaviour column, probe kind): correctness by logistic AUROC, Phase-1 confidence by ridge R²."""

BASELINES = {**{name: [f"logprob_{name}"] for name in FEATURES}, "all six": [f"logprob_{name}" for name in FEATURES]}


def probes(ctx: VerbalConfidenceContext) -> pd.DataFrame:
    spec = ctx.config.probes
    rows = ctx.eligible("activation")
    frames = []
    for column, kind in TARGETS:
        target = rows[column].astype(float).rename(column)
        for role in spec.roles:
            frames.append(
                ctx.run.part(
                    "probes",
                    f"{column}-{role}",
                    lambda target=target, kind=kind, role=role: probe_sweep(
                        ctx.store(), target, kind=kind, layers=ctx.layers("probes"), roles=[role], cv=int(spec.cv), C=float(spec.C), seed=ctx.seed, progress=False
                    ).assign(target=target.name),
                )
            )
    table = pd.concat(frames, ignore_index=True)
    ctx.run.write_table("probes", table)
    return table


def variance(ctx: VerbalConfidenceContext) -> pd.DataFrame:
    spec = ctx.config.variance
    role, cv = spec.role, int(spec.cv)
    columns = [f"logprob_{name}" for name in FEATURES]
    rows = ctx.eligible("activation", [role]).dropna(subset=[*columns, "confidence"])
    ids = rows["trial_id"].tolist()
    y = rows["confidence"].to_numpy(float)
    problem = target_problem(y, "ridge", cv)
    frames = []
    for layer in tqdm(ctx.layers("variance"), desc="variance partitioning"):

        def compute(layer: int = layer) -> pd.DataFrame:
            out = []
            acts = ctx.activations(layer, role, ids).double().numpy()
            for name, features in BASELINES.items():
                row = {"layer": layer, "role": role, "baseline": name, "n": len(ids), "status": problem or "ok"}
                if not problem:
                    result = variance_partition(acts, rows[features].to_numpy(float), y, alpha=float(spec.alpha), cv=cv, seed=ctx.seed)
                    row.update(r2_act=result.r2_act, r2_base=result.r2_base, r2_both=result.r2_both, r2_unique=result.r2_unique)
                out.append(row)
            return pd.DataFrame(out)

        frames.append(ctx.run.part("variance", f"layer-{layer:03d}", compute))
    table = pd.concat(frames, ignore_index=True)
    for column in ("r2_act", "r2_base", "r2_both", "r2_unique"):
        if column not in table:
            table[column] = float("nan")
    ctx.run.write_table("variance", table)
    return table
