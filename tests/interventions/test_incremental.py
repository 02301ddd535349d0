"""Incremental forwards against full forwards of the same interventions (fp32, atol 1e-4), the
reach of each spec by hand, the work actually skipped (layers not called, positions not
computed), the visible fallback, and the sweep with the path on and off."""

from __future__ import annotations

import warnings

import pytest
import torch

from interp.forward import last_token_logits
from interp.interventions import (
    EVERY_POSITION,
    LATER,
    BlockAttention,
    CorruptEmbeddings,
    MeanAblate,
    Patch,
    Reach,
    Steer,
    base_run,
    embedding_means,
    incremental_logits,
    intervened_logits,
    reach,
    sweep,
)
from interp.models import load_model, tiny
from interp.prompting import first_token_ids
from interp.readouts import ClassReadout
from interp.tasks import CONFIDENCE_CLASSES, CategoricalConfidenceTemplate, demo_trials

TEMPLATE = CategoricalConfidenceTemplate()
ATOL = 1e-4


@pytest.fixture(scope="module", params=["qwen2", "gemma3", "gemma3-mm"])
def setup(request):
    lm = load_model(tiny(request.param))
    trials = demo_trials()
    batch = TEMPLATE.batch([trials[k] for k in (0, 5, 7, 8, 10)], lm.tokenizer, chat=True, padding_side="left")
    return lm, batch


def _random(shape, seed: int) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def _cases(lm, batch) -> list[list]:
    """Every intervention kind, at every layer, at roles at different positions per row."""
    d, n, seq = lm.d_model, len(batch), batch.input_ids.shape[1]
    cases = []
    for layer in range(lm.n_layers):
        for role in ("answer_colon", "panl", "confidence_colon"):
            cases += [
                [Steer(layer, role, _random(d, layer) * 3, alpha=2.0)],
                [Patch(layer, role, _random((n, d), layer + 1))],
                [MeanAblate(layer, role, _random(d, layer + 2))],
            ]
    return cases + [
        [CorruptEmbeddings(embedding_means(lm, batch))],
        [CorruptEmbeddings(embedding_means(lm, batch, "answer_colon"), span="answer_colon")],
        [BlockAttention(LATER, "answer", layers=[1, 2])],
        [BlockAttention("confidence_colon", ("question", "answer"), layers=[0, lm.n_layers - 1], heads=(1,))],
        [BlockAttention(LATER, "answer", layers=[1], keep_open=[("panl", "answer")])],
        [Patch(1, EVERY_POSITION, _random((n, seq, d), 9))],
        [Steer(0, "panl", _random(d, 3), alpha=4.0), BlockAttention(LATER, "panl", layers=[2])],
    ]


def test_every_intervention_kind_equals_the_full_forward(setup):
    lm, batch = setup
    assert len(set(batch.content_start.tolist())) > 1, "rows of different lengths"
    assert len(set(batch.roles["answer_colon"].tolist())) > 1, "a role at different positions in different rows"
    if lm.sliding_window is not None:
        assert batch.input_ids.shape[1] > 4 * lm.sliding_window, "prompts longer than the sliding window"
    base = base_run(lm, batch)
    assert torch.equal(base.logits, last_token_logits(lm, batch))
    for specs in _cases(lm, batch):
        reference, reference_run = intervened_logits(lm, batch, specs)
        logits, run = incremental_logits(lm, base, specs)
        assert run.status == reference_run.status
        assert torch.allclose(logits, reference, atol=ATOL, rtol=0), (specs, float((logits - reference).abs().max()))
        assert float((reference - base.logits).abs().max()) > 0 or isinstance(specs[0], (Steer, Patch, MeanAblate)), specs


def test_patching_inside_a_corrupted_base_equals_the_full_forward(setup):
    lm, batch = setup
    corruption = CorruptEmbeddings(embedding_means(lm, batch))
    corrupted = base_run(lm, batch, [corruption])
    assert torch.allclose(corrupted.logits, intervened_logits(lm, batch, [corruption])[0], atol=ATOL, rtol=0)
    for layer in range(lm.n_layers):
        specs = [corruption, Patch(layer, "panl", _random((len(batch), lm.d_model), layer))]
        assert torch.allclose(incremental_logits(lm, corrupted, specs)[0], intervened_logits(lm, batch, specs)[0], atol=ATOL, rtol=0)
    with pytest.raises(ValueError, match="must include the base run's"):
        incremental_logits(lm, corrupted, [Patch(0, "panl", torch.zeros(len(batch), lm.d_model))])


def test_rows_the_edit_skips_and_cells_that_touch_nothing(setup):
    lm, batch = setup
    base = base_run(lm, batch)
    values = _random((len(batch), lm.d_model), 0)
    values[[0, 2]] = float("nan")
    specs = [Patch(1, "panl", values)]
    logits, run = incremental_logits(lm, base, specs)
    reference, reference_run = intervened_logits(lm, batch, specs)
    assert run.status == reference_run.status and run.status[0] != "ok" and run.status[1] == "ok"
    assert torch.allclose(logits, reference, atol=ATOL, rtol=0)
    nothing = [Patch(1, "panl", torch.full((len(batch), lm.d_model), float("nan")))]
    assert reach(lm, batch, nothing) is None
    logits, run = incremental_logits(lm, base, nothing)
    assert torch.allclose(logits, base.logits, atol=ATOL, rtol=0) and "ok" not in run.status


def test_reach_by_hand(setup):
    lm, batch = setup
    panl = batch.roles["panl"]
    assert reach(lm, batch, [Steer(2, "panl", torch.ones(lm.d_model))]) == Reach(3, int(panl.min()))
    answer_start, answer_end = batch.spans["answer"].unbind(-1)
    assert reach(lm, batch, [CorruptEmbeddings(embedding_means(lm, batch))]) == Reach(0, int(answer_start.min()))
    assert reach(lm, batch, [BlockAttention(LATER, "answer", layers=[2, 1])]) == Reach(1, int(answer_end.min()))
    heads_only = BlockAttention("confidence_colon", "panl", layers=[2], heads=(0,))
    assert reach(lm, batch, [heads_only]) == Reach(2, int(batch.roles["confidence_colon"].min()))
    combined = [Steer(3, "confidence_colon", torch.ones(lm.d_model)), BlockAttention(LATER, "answer", layers=[2])]
    assert reach(lm, batch, combined) == Reach(2, int(answer_end.min()))
    assert reach(lm, batch, [Patch(0, EVERY_POSITION, torch.zeros(len(batch), batch.input_ids.shape[1], lm.d_model))]) == Reach(1, 0)


def test_only_the_changed_layers_and_positions_are_computed(setup):
    lm, batch = setup
    base = base_run(lm, batch)
    seen: dict[int, int] = {}
    handles = [layer.register_forward_pre_hook(lambda _m, args, kwargs, i=i: seen.__setitem__(i, (args[0] if args else kwargs["hidden_states"]).shape[1]), with_kwargs=True) for i, layer in enumerate(lm.layers)]
    try:
        incremental_logits(lm, base, [Steer(1, "confidence_colon", torch.ones(lm.d_model))])
        cc = int(batch.roles["confidence_colon"].min())
        assert seen == {layer: batch.input_ids.shape[1] - cc for layer in range(2, lm.n_layers)}
        seen.clear()
        incremental_logits(lm, base, [Steer(lm.n_layers - 1, "panl", torch.ones(lm.d_model))])
        assert seen == {}
    finally:
        for handle in handles:
            handle.remove()


def test_a_decoder_with_hooks_of_its_own_falls_back_visibly():
    lm = load_model(tiny("qwen2"))
    batch = TEMPLATE.batch(demo_trials()[:3], lm.tokenizer, chat=True, padding_side="left")
    base = base_run(lm, batch)
    handle = lm.model.model.register_forward_pre_hook(lambda _m, _a: None)
    try:
        specs = [Steer(1, "panl", torch.ones(lm.d_model), alpha=3.0)]
        with pytest.warns(UserWarning, match="forward hooks of its own"):
            logits, _ = incremental_logits(lm, base, specs)
        assert torch.equal(logits, intervened_logits(lm, batch, specs)[0])
    finally:
        handle.remove()


@pytest.fixture(scope="module")
def sweep_setup():
    lm = load_model(tiny("gemma3"))
    trials = demo_trials()[:6]
    batches = [TEMPLATE.batch(trials[:4], lm.tokenizer, chat=True), TEMPLATE.batch(trials[4:], lm.tokenizer, chat=True)]
    ids = first_token_ids(lm.tokenizer, [c.label for c in CONFIDENCE_CLASSES], prefix="Confidence:")
    return lm, batches, ClassReadout(tuple(ids), tuple(c.midpoint for c in CONFIDENCE_CLASSES))


def test_sweep_gives_the_same_table_with_the_incremental_path_on_and_off(sweep_setup):
    lm, batches, readout = sweep_setup
    vector = _random(lm.d_model, 0) * 4
    corruption = CorruptEmbeddings(embedding_means(lm, batches))

    def steer(batch, layer, role, condition):
        return [Steer(layer, role, vector, alpha=1.0 if condition == "up" else -1.0)]

    def patch(batch, layer, role, condition):
        return [corruption, Patch(layer, role, _random((len(batch), lm.d_model), layer))]

    for make in (steer, patch):
        grid = (make, [0, 2, lm.n_layers - 1], ["panl", "confidence_colon", "answer_colon"], ["up", "down"], readout)
        on = sweep(lm, batches, *grid, progress=False)
        off = sweep(lm, batches, *grid, progress=False, incremental=False)
        numeric = [c for c in on.columns if on[c].dtype.kind == "f"]
        assert on.drop(columns=numeric + ["probs"]).equals(off.drop(columns=numeric + ["probs"]))
        assert (on[numeric] - off[numeric]).abs().max().max() < 1e-5
        assert on["changed"].notna().all()


def test_sweep_halves_a_batch_that_runs_out_of_memory(sweep_setup):
    lm, batches, readout = sweep_setup
    vector = _random(lm.d_model, 1)

    def make(batch, layer, role, condition):
        return [Steer(layer, role, vector, alpha=3.0)]

    def refuse_big(_module, args):
        if args[0].shape[0] > 1:
            raise torch.OutOfMemoryError("CUDA out of memory (raised by the test for batches above 1 row)")

    expected = sweep(lm, batches, make, [1], ["panl"], ["x"], readout, progress=False)
    handle = lm.layers[0].register_forward_pre_hook(refuse_big)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            table = sweep(lm, batches, make, [1], ["panl"], ["x"], readout, progress=False)
    finally:
        handle.remove()
    assert table["trial_id"].tolist() == expected["trial_id"].tolist()
    assert (table["confidence"] - expected["confidence"]).abs().max() < 1e-5
    halvings = table.attrs["oom_halvings"]
    assert [h["rows"] for h in halvings] == [4, 2, 2, 2] and halvings[0]["into"] == [2, 2]
    assert any("out of memory" in str(w.message) for w in caught)
