"""Stages "probes" (§6.6: correctness and confidence decoded at every layer and role) and
"variance" (§6.8: what PANL explains of Phase-1 confidence beyond the six log-prob baselines)."""

from __future__ import annotations

import pandas as pd
from tqdm.auto import tqdm

from experiments.verbal_confidence.context import VerbalConfidenceContext
from interp.analysis import LinearProbe, probe_sweep, target_problem
from interp.analysis.stats import variance_partition
from interp.forward import FEATURES

TARGETS = (("correct", "logistic"), ("confidence", "ridge"))
"""(behaviour column, probe kind): correctness by logistic AUROC, Phase-1 confidence by ridge R²."""

BASELINES = {**{name: [f"logprob_{name}"] for name in FEATURES}, "all six": [f"logprob_{name}" for name in FEATURES]}


def probes(ctx: VerbalConfidenceContext) -> pd.DataFrame:
    """Probes (§6.6) at every configured (layer, role): correctness (logistic, C) and Phase-1
    confidence (ridge, α by inner CV); then the sensitivity of the PANL correctness probe to C
    over `probes.c_grid`, and confidence at PANL and PANL+1 with the ridge α tuned at AC (the
    paper's AC comparison). Column `variant` says which rows are which."""
    spec = ctx.config.probes
    rows = ctx.eligible("activation")
    layers = ctx.layers("probes")
    frames = []

    def sweep(target: pd.Series, kind: str, roles: list[str], key: str, variant: str, **options) -> None:
        frames.append(
            ctx.run.part(
                "probes",
                key,
                lambda: probe_sweep(ctx.store(), target, kind=kind, roles=roles, cv=int(spec.cv), seed=ctx.seed, progress=False, **options).assign(target=target.name, variant=variant),
            )
        )

    correct = rows["correct"].astype(float).rename("correct")
    confidence = rows["confidence"].astype(float).rename("confidence")
    for column, kind in TARGETS:
        for role in spec.roles:
            sweep(rows[column].astype(float).rename(column), kind, [role], f"{column}-{role}", "default", layers=layers, C=float(spec.C))
    for C in spec.c_grid:
        sweep(correct, "logistic", ["panl"], f"correct-panl-C{C:g}", f"C = {C:g}", layers=layers, C=float(C))
    if "answer_colon" in ctx.store().roles:
        for layer in layers:
            alpha = ac_alpha(ctx, layer, confidence)
            if alpha is not None:
                sweep(confidence, "ridge", ["panl", "panl_plus_1", "answer_colon"], f"confidence-ac-alpha-L{layer:03d}", f"alpha tuned at AC ({alpha:g})", layers=[layer], alpha=alpha)
    table = pd.concat(frames, ignore_index=True)
    ctx.run.write_table("probes", table)
    return table


def ac_alpha(ctx: VerbalConfidenceContext, layer: int, target: pd.Series) -> float | None:
    """The ridge α that inner CV picks for the confidence probe at (layer, AC), or None when the
    target cannot be fitted there."""
    values, ids = ctx.store().read(layer, "answer_colon", only_finite=True)
    keep = [k for k, trial in enumerate(ids) if trial in target.index and pd.notna(target[trial])]
    y = target.loc[[ids[k] for k in keep]].to_numpy(float)
    if target_problem(y, "ridge", int(ctx.config.probes.cv)):
        return None
    return float(LinearProbe.fit(values[keep].double().numpy(), y, kind="ridge").metadata["alpha"])


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
