"""A model split by a device map — layers alternately on the CPU and offloaded to disk through
accelerate — gives the same captures, interventions, blocking and sweeps as the same model in
one piece (the incremental sweep falls back to full forwards, with a warning)."""

from __future__ import annotations

import pytest
import torch

from interp.forward import capture, last_token_logits
from interp.interventions import LATER, BlockAttention, CorruptEmbeddings, MeanAblate, Patch, Steer, embedding_means, intervened_logits, sweep
from interp.models import load_model, tiny
from interp.prompting import first_token_ids
from interp.readouts import ClassReadout
from interp.tasks import CONFIDENCE_CLASSES, CategoricalConfidenceTemplate, demo_trials


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    folder = tiny("gemma3")
    whole = load_model(folder)
    layers = {f"model.layers.{i}": "disk" if i % 2 else "cpu" for i in range(whole.n_layers)}
    device_map = {"model.embed_tokens": "cpu", "model.rotary_emb": "cpu", "model.norm": "cpu", "lm_head": "cpu", **layers}
    offloaded = load_model(folder, device_map=device_map, offload_folder=tmp_path_factory.mktemp("offload"))
    assert "disk" in set(offloaded.model.hf_device_map.values())
    batch = CategoricalConfidenceTemplate().batch(demo_trials()[:4], whole.tokenizer, chat=True)
    return whole, offloaded, batch


def test_capture_and_logits_match_the_whole_model(split):
    whole, offloaded, batch = split
    assert torch.equal(last_token_logits(offloaded, batch), last_token_logits(whole, batch))
    layers = list(range(whole.n_layers))
    ours, reference = capture(offloaded, batch, layers, ["panl", "confidence_colon"]), capture(whole, batch, layers, ["panl", "confidence_colon"])
    assert all(torch.equal(ours[key], reference[key]) for key in reference)


def test_every_intervention_matches_the_whole_model(split):
    whole, offloaded, batch = split
    d = whole.d_model
    means = embedding_means(whole, batch)
    for specs in (
        [Steer(1, "panl", torch.ones(d), alpha=3.0)],
        [Patch(2, "panl", torch.randn(len(batch), d, generator=torch.Generator().manual_seed(0)))],
        [MeanAblate(3, "confidence_colon", torch.zeros(d))],
        [CorruptEmbeddings(means), Patch(1, "panl", capture(whole, batch, [1], ["panl"])[(1, "panl")])],
        [BlockAttention(LATER, "answer", layers=[1, 2, 3])],
    ):
        ours, run = intervened_logits(offloaded, batch, specs)
        reference, reference_run = intervened_logits(whole, batch, specs)
        assert run.status == reference_run.status
        torch.testing.assert_close(ours, reference, rtol=0, atol=1e-6)


def test_a_sweep_falls_back_to_full_forwards_visibly(split):
    whole, offloaded, batch = split
    ids = first_token_ids(whole.tokenizer, [c.label for c in CONFIDENCE_CLASSES], prefix="Confidence:")
    readout = ClassReadout(tuple(ids), tuple(c.midpoint for c in CONFIDENCE_CLASSES))

    def make(b, layer, role, condition):
        return [Steer(layer, role, torch.ones(whole.d_model), alpha=2.0)]

    with pytest.warns(UserWarning, match="split across devices"):
        ours = sweep(offloaded, batch, make, [0, 3], ["panl"], ["x"], readout, progress=False)
    reference = sweep(whole, batch, make, [0, 3], ["panl"], ["x"], readout, progress=False)
    assert (ours["confidence"] - reference["confidence"]).abs().max() < 1e-5
