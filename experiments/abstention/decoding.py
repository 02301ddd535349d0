"""Stage "decoding" (abstention.md §6.7, the v2 / journal additions): the ten-class verbal
confidence of each Phase-1 choice in a separate pass; its correlation with calibrated confidence,
the AUROC of each for correctness, its LR test over C and the Phase-2 full model with it
(C+D+R+E+V, table phase2_verbal); ridge decoding of verbal and calibrated confidence (and a
logistic probe of correctness) at AC and at the QLT control, per layer, with ΔR² of each readout
over the other (ridge α by inner CV)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.abstention.context import AbstentionContext
from experiments.abstention.phases import PHASE1_STORE
from experiments.abstention.policy import policy_data, verbal_model_rows
from interp.analysis import probe_sweep
from interp.analysis.stats import bootstrap_score, nested_logit, pearson, variance_partition
from interp.forward import last_token_logits
from interp.prompting import Trial
from interp.tasks import with_options


def verbal_trials(ctx: AbstentionContext, phase1: pd.DataFrame) -> list[Trial]:
    """The v2 rating prompt: question + options as the question, the chosen option as the answer."""
    items = ctx.items
    trials = []
    for r in phase1.itertuples(index=False):
        item = items.loc[r.trial_id]
        options = list(item["options"])
        trials.append(Trial(id=r.trial_id, question=with_options(item["question"], options), answer=f"{int(r.choice)}. {options[int(r.choice) - 1]}"))
    return trials


def verbal(ctx: AbstentionContext, trials: list[Trial]) -> pd.DataFrame:
    batches, failed = ctx.batches(trials, "verbal")
    rows = [{"trial_id": i, "verbal_confidence": np.nan, "verbal_expected": np.nan, "status": f"render: {why}"} for i, why in failed.items()]
    readout = ctx.readout("verbal")
    for batch in batches:
        scores = readout.scores(last_token_logits(ctx.lm, batch))
        statuses = batch.status()
        for row, trial_id in enumerate(batch.trial_ids):
            rows.append({"trial_id": trial_id, "verbal_confidence": float(scores.confidence[row]), "verbal_expected": float(scores.expected[row]), "status": statuses[row]})
    return pd.DataFrame(rows)


def run(ctx: AbstentionContext) -> pd.DataFrame:
    phase1 = ctx.run.read_table("phase1")
    tested = phase1[(phase1["set"] == "test") & (phase1["status"] == "ok")]
    trials = verbal_trials(ctx, tested)
    ctx.pilot_readouts(["verbal"], trials[: int(ctx.config.pilot.n)], float(ctx.config.pilot.min_agreement))
    rated = ctx.run.part("decoding", "verbal", lambda: verbal(ctx, trials))
    table = tested[["trial_id", "chosen_confidence", "correct"]].merge(rated, on="trial_id", how="left")
    ctx.run.write_table("verbal", table)
    n_boot, seed = int(ctx.config.mediation.n_boot), ctx.seed
    rows = []
    ok = table[table["status"] == "ok"].dropna(subset=["verbal_confidence"])
    fit = pearson(ok["verbal_confidence"], ok["chosen_confidence"])
    rows.append({"quantity": "r(verbal, calibrated)", "estimate": fit["r"], "ci_low": fit["ci_low"], "ci_high": fit["ci_high"], "p": fit["p"], "n": fit["n"], "status": "ok" if np.isfinite(fit["r"]) else "constant or too few rows"})
    label = ok["correct"].astype(float).to_numpy()
    for name, column in (("verbal", "verbal_confidence"), ("calibrated", "chosen_confidence")):
        if len(np.unique(label)) == 2:
            estimate, low, high = bootstrap_score(label, ok[column].to_numpy(float), "auroc", n_boot=n_boot, seed=seed)
            rows.append({"quantity": f"AUROC {name} for correctness", "estimate": estimate, "ci_low": low, "ci_high": high, "n": len(ok), "status": "ok"})
        else:
            rows.append({"quantity": f"AUROC {name} for correctness", "status": "one class only", "n": len(ok)})
    data = policy_data(ctx).merge(table[["trial_id", "verbal_confidence"]], on="trial_id").rename(columns={"verbal_confidence": "V"})
    try:
        result = nested_logit(data, "abstain", ["C"], ["V"])
        rows.append({"quantity": "verbal over C in Phase 2 (LR χ²(1))", "estimate": result.lr_stat, "p": result.lr_p, "n": int(result.full.nobs), "status": "ok"})
    except Exception as error:
        rows.append({"quantity": "verbal over C in Phase 2 (LR χ²(1))", "status": f"fit failed: {error}"[:160]})
    ctx.run.write_table("verbal_summary", pd.DataFrame(rows))
    ctx.run.write_table("phase2_verbal", pd.DataFrame(verbal_model_rows(data)))
    ctx.run.write_table("decoding", probes(ctx, ok))
    return table


def probes(ctx: AbstentionContext, rated: pd.DataFrame) -> pd.DataFrame:
    """Per layer at AC and QLT: ridge R² of verbal and calibrated confidence, logistic AUROC of
    correctness (5-fold, CIs); at AC also ΔR² of each readout over the other, the ridge α chosen
    by inner CV in each training fold (§8)."""
    store = ctx.store(PHASE1_STORE)
    index = rated.set_index("trial_id")
    frames = []
    targets = (("verbal confidence", "verbal_confidence", "ridge"), ("calibrated confidence", "chosen_confidence", "ridge"), ("correct", "correct", "logistic"))
    for name, column, kind in targets:
        target = index[column].astype(float).rename(name)
        found = ctx.run.part("decoding", f"probe-{column}", lambda target=target, kind=kind: probe_sweep(store, target, kind=kind, roles=["answer_colon", "question_last_token"], seed=ctx.seed, progress=False))
        frames.append(found.assign(target=name))
    out = pd.concat(frames, ignore_index=True)
    unique = []
    for layer in store.layers:
        values, ids = store.read(layer, "answer_colon", only_finite=True)
        keep = [k for k, t in enumerate(ids) if t in index.index]
        acts = values[keep].double().numpy()
        rows = index.loc[[ids[k] for k in keep]]
        for name, column, other in (("verbal confidence", "verbal_confidence", "chosen_confidence"), ("calibrated confidence", "chosen_confidence", "verbal_confidence")):
            y, base = rows[column].to_numpy(float), rows[[other]].to_numpy(float)
            if len(y) < 5 or np.std(y) == 0:
                continue
            part = variance_partition(acts, base, y, alpha=None, seed=ctx.seed)
            unique.append({"layer": layer, "role": "answer_colon", "target": name, "metric": "delta_r2", "score": part.r2_both - part.r2_base, "r2_base": part.r2_base, "r2_both": part.r2_both, "status": "ok"})
    return pd.concat([out, pd.DataFrame(unique)], ignore_index=True)
