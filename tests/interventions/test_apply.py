"""Residual edits and embedding corruption against identities, hand-written hooks and hand
computations; hook hygiene; batch invariance; JSON round trips."""

from __future__ import annotations

import json

import pytest
import torch

from interp.forward import capture, last_token_logits
from interp.interventions import EVERY_POSITION, LATER, BlockAttention, CorruptEmbeddings, EmbeddingMeans, MeanAblate, Patch, Steer, embedding_means, intervened_logits, interventions, spec_from_json, spec_to_json
from interp.models import load_model, tiny
from interp.tasks import CategoricalConfidenceTemplate, demo_trials

TEMPLATE = CategoricalConfidenceTemplate()


@pytest.fixture(scope="module", params=["qwen2", "gemma3", "gemma3-mm"])
def setup(request):
    lm = load_model(tiny(request.param))
    batch = TEMPLATE.batch(demo_trials()[:4], lm.tokenizer, chat=True, padding_side="left")
    return lm, batch


def _record_layers(lm):
    """Hooks (registered after the interventions') that keep every layer's full output."""
    seen: dict[int, torch.Tensor] = {}
    handles = [
        layer.register_forward_hook(lambda _m, _a, out, i=i: seen.__setitem__(i, (out[0] if isinstance(out, tuple) else out).clone()))
        for i, layer in enumerate(lm.layers)
    ]
    return seen, handles


def _all_hook_ids(lm) -> set[int]:
    return {key for m in lm.model.modules() for key in (*m._forward_hooks, *m._forward_pre_hooks)}


def test_identities_reproduce_clean_logits_exactly(setup):
    lm, batch = setup
    clean = last_token_logits(lm, batch)
    layer = lm.n_layers // 2
    own = capture(lm, batch, [layer], ["panl"])[(layer, "panl")]
    for specs in (
        [Steer(layer, "panl", torch.zeros(lm.d_model), alpha=5.0)],
        [Patch(layer, "panl", own)],
        [MeanAblate(layer, "panl", own)],
        [BlockAttention(LATER, "panl", layers=[layer], keep_open=[(LATER, "panl")])],
    ):
        logits, run = intervened_logits(lm, batch, specs)
        assert torch.equal(logits, clean), specs[0]
        assert run.status == ["ok"] * len(batch)


def test_steering_is_local_and_equals_a_hand_written_hook(setup):
    lm, batch = setup
    layer, alpha = 1, 4.0
    vector = torch.randn(lm.d_model, generator=torch.Generator().manual_seed(0))
    panl = batch.roles["panl"]

    clean_seen, handles = _record_layers(lm)
    clean_logits = last_token_logits(lm, batch)
    for h in handles:
        h.remove()

    with interventions(lm, batch, [Steer(layer, "panl", vector, alpha)]):
        seen, handles = _record_layers(lm)
        logits = last_token_logits(lm, batch)
    for h in handles:
        h.remove()

    def reference_hook(_module, _args, output):
        hidden = (output[0] if isinstance(output, tuple) else output).clone()
        for row in range(hidden.shape[0]):
            hidden[row, panl[row]] += alpha * vector
        return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

    handle = lm.layers[layer].register_forward_hook(reference_hook)
    try:
        reference = last_token_logits(lm, batch)
    finally:
        handle.remove()
    torch.testing.assert_close(logits, reference, rtol=0, atol=1e-5)
    assert (logits - clean_logits).abs().max() > 1e-3

    for i in range(lm.n_layers):
        for row in range(len(batch)):
            p = int(panl[row])
            if i < layer:
                assert torch.equal(seen[i][row], clean_seen[i][row])
            else:
                assert torch.equal(seen[i][row, :p], clean_seen[i][row, :p])  # positions before PANL
                later_changed = not torch.equal(seen[i][row, p + 1 :], clean_seen[i][row, p + 1 :])
                assert later_changed == (i > layer)  # at ℓ itself only PANL moves
        if i == layer:
            delta = seen[i][torch.arange(len(batch)), panl] - clean_seen[i][torch.arange(len(batch)), panl]
            torch.testing.assert_close(delta, (alpha * vector).expand_as(delta), rtol=0, atol=1e-5)


def test_patching_every_position_restores_clean_logits(setup):
    lm, batch = setup
    means = embedding_means(lm, TEMPLATE.batch(demo_trials()[4:12], lm.tokenizer, chat=True))
    corrupt = CorruptEmbeddings(means, span="answer")
    clean_logits = last_token_logits(lm, batch)
    corrupt_logits, _ = intervened_logits(lm, batch, [corrupt])
    assert (corrupt_logits - clean_logits).abs().max() > 1e-3
    layer = lm.n_layers // 2
    seen, handles = _record_layers(lm)
    last_token_logits(lm, batch)
    for h in handles:
        h.remove()
    restored, run = intervened_logits(lm, batch, [corrupt, Patch(layer, EVERY_POSITION, seen[layer])])
    assert run.status == ["ok"] * len(batch)
    torch.testing.assert_close(restored, clean_logits, rtol=0, atol=1e-5)
    # patching one position only restores part of it
    single, _ = intervened_logits(lm, batch, [corrupt, Patch(layer, "panl", seen[layer][torch.arange(len(batch)), batch.roles["panl"]])])
    assert not torch.allclose(single, clean_logits, atol=1e-5)


def test_corrupt_embeddings_equal_hand_computed_means(setup):
    lm, batch = setup
    calibration = TEMPLATE.batch(demo_trials()[4:12], lm.tokenizer, chat=True)
    means = embedding_means(lm, calibration)
    # hand computation, row by row, from the raw embedding matrix and the model's scale
    by_position: dict[int, list[torch.Tensor]] = {}
    scale = float(lm.text_config.hidden_size) ** 0.5 if lm.architecture.startswith("Gemma") else 1.0
    for row in range(len(calibration)):
        start, end = calibration.spans["answer"][row].tolist()
        for j, token in enumerate(calibration.input_ids[row, start:end].tolist()):
            by_position.setdefault(j, []).append(lm.embedding_weight[token].detach().float() * scale)
    assert means.per_position.shape[0] == max(by_position) + 1
    for j, rows in by_position.items():
        torch.testing.assert_close(means.per_position[j], torch.stack(rows).mean(0), rtol=1e-5, atol=1e-5)
        assert int(means.counts[j]) == len(rows)
    everything = torch.cat([torch.stack(r) for r in by_position.values()])
    torch.testing.assert_close(means.overall, everything.mean(0), rtol=1e-5, atol=1e-5)

    short = EmbeddingMeans(means.per_position[:1], means.overall, means.counts[:1])  # position ≥ 1 → overall mean
    with interventions(lm, batch, [CorruptEmbeddings(short)]):
        embedded = capture(lm, batch, [0], ["panl"], site="resid_pre")  # only to run the forward
        seen = {}
        handle = lm.layers[0].register_forward_pre_hook(
            lambda _m, args, kwargs: seen.__setitem__("x", (args[0] if args else kwargs["hidden_states"]).clone()), with_kwargs=True
        )
        try:
            lm.model(**batch.model_inputs(), use_cache=False)
        finally:
            handle.remove()
    assert embedded
    clean = lm.embed(batch.input_ids)
    for row in range(len(batch)):
        start, end = batch.spans["answer"][row].tolist()
        torch.testing.assert_close(seen["x"][row, start], means.per_position[0], rtol=0, atol=1e-6)
        for p in range(start + 1, end):
            torch.testing.assert_close(seen["x"][row, p], means.overall, rtol=0, atol=1e-6)
        torch.testing.assert_close(seen["x"][row, :start], clean[row, :start], rtol=0, atol=0)
        torch.testing.assert_close(seen["x"][row, end:], clean[row, end:], rtol=0, atol=0)


def test_batch_invariance_of_intervened_readouts(setup):
    lm, _ = setup
    trials = demo_trials()[:5]
    batch = TEMPLATE.batch(trials, lm.tokenizer, chat=True, padding_side="left")
    assert (batch.content_start > 0).any()
    vector = torch.randn(lm.d_model, generator=torch.Generator().manual_seed(1))
    means = embedding_means(lm, TEMPLATE.batch(demo_trials()[6:12], lm.tokenizer, chat=True))

    def specs(b):
        donor = capture(lm, b, [2], ["panl_plus_1"])[(2, "panl_plus_1")]
        return [
            Steer(1, "panl", vector, alpha=3.0),
            CorruptEmbeddings(means),
            Patch(2, "confidence_colon", donor),
            BlockAttention("confidence_colon", "panl", layers=[2, 3]),
        ]

    together, _ = intervened_logits(lm, batch, specs(batch))
    for row, trial in enumerate(trials):
        alone = TEMPLATE.batch([trial], lm.tokenizer, chat=True)
        single, _ = intervened_logits(lm, alone, specs(alone))
        torch.testing.assert_close(together[row], single[0], rtol=0, atol=1e-4)


def test_hooks_and_attention_restored_after_an_exception(setup):
    lm, batch = setup
    before = _all_hook_ids(lm)
    implementation = lm.text_config._attn_implementation
    means = embedding_means(lm, batch)
    specs = [
        Steer(0, "panl", torch.ones(lm.d_model)),
        MeanAblate(1, "confidence_colon", torch.zeros(lm.d_model)),
        CorruptEmbeddings(means),
        BlockAttention(LATER, "panl", layers=[0, 1]),
    ]
    with pytest.raises(ZeroDivisionError):
        with interventions(lm, batch, specs):
            assert _all_hook_ids(lm) != before
            1 / 0
    assert _all_hook_ids(lm) == before
    assert lm.text_config._attn_implementation == implementation
    with pytest.raises(KeyError, match="span"):  # a bad spec after good ones: nothing left behind
        with interventions(lm, batch, [specs[0], Steer(0, "answer", torch.ones(lm.d_model))]):
            pass
    assert _all_hook_ids(lm) == before


def test_bad_specs_give_clear_errors(setup):
    lm, batch = setup
    with pytest.raises(ValueError, match=r"expected shape \[4, \d+\] or \[\d+\]"):
        intervened_logits(lm, batch, [Steer(0, "panl", torch.ones(3))])
    with pytest.raises(ValueError, match="outside"):
        intervened_logits(lm, batch, [Patch(lm.n_layers, "panl", torch.zeros(4, lm.d_model))])
    with pytest.raises(KeyError, match="not a role"):
        intervened_logits(lm, batch, [MeanAblate(0, "pnal", torch.zeros(lm.d_model))])
    with pytest.raises(TypeError, match="not an intervention"):
        intervened_logits(lm, batch, ["steer"])
    other = TEMPLATE.batch(demo_trials()[5:7], lm.tokenizer, chat=True)
    with interventions(lm, batch, [Steer(0, "panl", torch.ones(lm.d_model))]):
        with pytest.raises(RuntimeError, match="prefill of their batch"):
            last_token_logits(lm, other)


def test_unresolved_roles_and_missing_values_leave_rows_untouched(setup):
    lm, batch = setup
    batch.roles["panl"][1] = -1
    batch.reasons["panl"][1] = "merged with ')'"
    try:
        clean = last_token_logits(lm, batch)
        values = torch.randn(len(batch), lm.d_model, generator=torch.Generator().manual_seed(2))
        values[2] = float("nan")  # a donor whose role did not resolve
        logits, run = intervened_logits(lm, batch, [Patch(1, "panl", values)])
        assert run.status[0] == "ok" and run.status[3] == "ok"
        assert "merged" in run.status[1] and "not finite" in run.status[2]
        assert torch.equal(logits[1], clean[1]) and torch.equal(logits[2], clean[2])
        assert not torch.equal(logits[0], clean[0])
        assert run.ok().tolist() == [True, False, False, True]
    finally:
        batch.roles["panl"][1] = int(batch.spans["answer"][1, 1])
        batch.reasons["panl"][1] = None


def test_specs_round_trip_through_json(setup):
    lm, batch = setup
    means = embedding_means(lm, batch)
    specs = [
        Steer(3, "panl", torch.randn(lm.d_model), alpha=5.0),
        MeanAblate(2, "confidence_colon", torch.randn(lm.d_model)),
        Patch(1, "panl", torch.randn(4, lm.d_model)),
        CorruptEmbeddings(means, span="answer"),
        BlockAttention(LATER, "answer", layers=[1, 2], heads=[0], keep_open=[("panl", "answer")]),
    ]
    for spec in specs:
        data = json.loads(json.dumps(spec_to_json(spec)))
        back = spec_from_json(data)
        assert type(back) is type(spec)
        z1, _ = intervened_logits(lm, batch, [spec])
        z2, _ = intervened_logits(lm, batch, [back])
        torch.testing.assert_close(z1, z2, rtol=0, atol=1e-6)
    big = Patch(1, EVERY_POSITION, torch.randn(8, 200, 64))  # 102,400 numbers: digest only
    data = spec_to_json(big)
    assert "values" not in data["values"] and len(data["values"]["sha256"]) == 64
    with pytest.raises(ValueError, match="digest only"):
        spec_from_json(data)
    with pytest.raises(ValueError, match="unknown intervention type"):
        spec_from_json({"type": "Ablate"})
