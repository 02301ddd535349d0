"""The sweep against direct intervened forwards, and the class readout's per-cell summary and
recovery against pandas and hand computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interp.forward import last_token_logits
from interp.interventions import LATER, BlockAttention, Steer, intervened_logits, layer_window, sweep
from interp.models import load_model, tiny
from interp.prompting import first_token_ids
from interp.readouts import CLASS_METRICS, ClassReadout, class_scores
from interp.tasks import CONFIDENCE_CLASSES, CategoricalConfidenceTemplate, demo_trials

TEMPLATE = CategoricalConfidenceTemplate()


@pytest.fixture(scope="module")
def setup():
    lm = load_model(tiny("qwen2"))
    trials = demo_trials()[:6]
    batches = [TEMPLATE.batch(trials[:3], lm.tokenizer), TEMPLATE.batch(trials[3:], lm.tokenizer)]
    batches[1].roles["panl"][0] = -1
    batches[1].reasons["panl"][0] = "merged with '.'"
    ids = first_token_ids(lm.tokenizer, [c.label for c in CONFIDENCE_CLASSES], prefix="Confidence:")
    values = [c.midpoint for c in CONFIDENCE_CLASSES]
    return lm, batches, ClassReadout(tuple(ids), tuple(values))


def test_steering_sweep_matches_direct_forwards(setup):
    lm, batches, readout = setup
    ids, values = readout.token_ids, readout.values
    vector = torch.randn(lm.d_model, generator=torch.Generator().manual_seed(0)) * 2

    def make(batch, layer, role, condition):
        return [Steer(layer, role, vector, alpha=5.0 if condition == "high" else -5.0)]

    table = sweep(lm, batches, make, [0, 2], ["panl", "confidence_colon"], ["high", "low"], readout, progress=False)
    assert len(table) == 6 * 2 * 2 * 2
    assert set(table.columns) >= {"trial_id", "layer", "role", "condition", "status", "delta_confidence", "changed", "probs"}
    bad = table[table["trial_id"] == batches[1].trial_ids[0]]
    assert (bad[bad.role == "panl"]["status"].str.contains("merged")).all()
    assert bad[bad.role == "panl"]["confidence"].isna().all()
    assert (bad[bad.role == "confidence_colon"]["status"] == "ok").all()

    batch = batches[0]
    clean = class_scores(last_token_logits(lm, batch), ids, values)
    logits, _ = intervened_logits(lm, batch, make(batch, 2, "panl", "low"))
    direct = class_scores(logits, ids, values, target=clean.argmax)
    cell = table[(table.layer == 2) & (table.role == "panl") & (table.condition == "low")].set_index("trial_id").loc[batch.trial_ids]
    np.testing.assert_allclose(cell["logit_diff"].to_numpy(), direct.logit_diff.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(cell["delta_logit_diff"].to_numpy(), (cell["logit_diff"].to_numpy(np.float32) - cell["clean_logit_diff"].to_numpy(np.float32)).astype(float))
    np.testing.assert_allclose(cell["delta_logit_diff"].to_numpy(), (direct.logit_diff - clean.logit_diff).numpy(), atol=5e-4)  # two clean forwards
    np.testing.assert_allclose(cell["clean_confidence"].to_numpy(), clean.confidence.numpy())
    assert cell["changed"].tolist() == (direct.argmax != clean.argmax).tolist()
    np.testing.assert_allclose(np.stack(cell["probs"].to_list()), direct.probs.numpy(), rtol=1e-6)

    summary = readout.summarise(table)
    assert len(summary) == 8
    ok = table[table.status == "ok"]
    for _, row in summary.iterrows():
        group = ok[(ok.layer == row.layer) & (ok.role == row.role) & (ok.condition == row.condition)]
        assert row.n == len(group)
        assert row.change_rate == pytest.approx(group["changed"].mean())
        assert row.delta_confidence_sem == pytest.approx(group["delta_confidence"].std(ddof=1) / np.sqrt(len(group)))


def test_blocking_sweep_uses_windows_and_edge_names(setup):
    lm, batches, readout = setup
    edges = {"later->panl": (LATER, "panl"), "cc->answer": ("confidence_colon", "answer")}

    def make(batch, centre, edge, condition):
        targets, sources = edges[edge]
        return [BlockAttention(targets, sources, layers=layer_window(centre, lm.n_layers, width=2))]

    table = sweep(lm, batches[0], make, [1, 3], list(edges), ["block"], readout, progress=False)
    assert len(table) == 3 * 2 * 2 and (table.status == "ok").all()
    assert (table.groupby(["layer", "role"])["delta_logit_diff"].apply(lambda d: d.abs().max()) > 0).all()


def test_recovery_is_the_ratio_of_trial_means():
    import pandas as pd

    corrupt = pd.DataFrame(
        {"trial_id": ["a", "b", "c"], "status": ["ok", "ok", "ok"], "confidence": [0.05, 0.15, 0.05], "logit_diff": [0.0, 1.0, 2.0], "changed": [True, True, False]}
    )
    patched = pd.DataFrame(
        {
            "trial_id": ["a", "b", "c", "a", "b", "c"],
            "layer": [3, 3, 3, 4, 4, 4],
            "role": ["panl"] * 6,
            "status": ["ok", "ok", "ok", "ok", "ok", "no panl"],
            "clean_confidence": [0.95, 0.85, 0.75] * 2,
            "clean_logit_diff": [10.0, 8.0, 6.0] * 2,
            "confidence": [0.55, 0.45, 0.35, 0.95, 0.85, float("nan")],
            "logit_diff": [5.0, 4.0, 3.0, 10.0, 8.0, float("nan")],
            "changed": [True, False, False, False, False, False],
        }
    )
    table = CLASS_METRICS.recovery(corrupt, patched).set_index("layer")
    # Layer 3: clean 0.85, corrupt 0.0833, patched 0.45 → (0.45 − 0.0833)/(0.85 − 0.0833).
    assert table.loc[3, "recovery_confidence"] == pytest.approx(100 * (0.45 - 0.25 / 3) / (0.85 - 0.25 / 3))
    assert table.loc[3, "recovery_logit_diff"] == pytest.approx(100 * (4.0 - 1.0) / (8.0 - 1.0))
    assert table.loc[3, "recovery_change_rate"] == pytest.approx(100 * (2 / 3 - 1 / 3) / (2 / 3))
    # Layer 4 uses only the rows that are ok (a, b) and restores them fully.
    assert table.loc[4, "n"] == 2
    assert table.loc[4, "recovery_confidence"] == pytest.approx(100.0)
    assert table.loc[4, "recovery_change_rate"] == pytest.approx(100.0)
