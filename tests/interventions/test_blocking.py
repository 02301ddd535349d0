"""Attention blocking against a TransformerLens bridge with a `hook_attn_scores` −∞ hook, eager
attention weights, SDPA vs eager, Gemma 3's sliding window, and the edge-set builder."""

from __future__ import annotations

import pytest
import torch

from interp.forward import last_token_logits
from interp.interventions import LATER, BlockAttention, edge_mask, install_blocking, intervened_logits, interventions, layer_window
from interp.models import load_model, tiny
from interp.prompting import Trial, tokenize
from interp.tasks import CategoricalConfidenceTemplate, demo_trials

TEMPLATE = CategoricalConfidenceTemplate()


@pytest.fixture(scope="module", params=["qwen2", "gemma3"])
def models(request):
    path = tiny(request.param)
    eager = load_model(path, attn_implementation="eager")
    sdpa = load_model(path, attn_implementation="sdpa")
    batch = TEMPLATE.batch(demo_trials()[:4], eager.tokenizer, chat=True, padding_side="left")
    return path, eager, sdpa, batch


def _edges(lm) -> list[BlockAttention]:
    """Two blocks over different layers: every later token → PANL (within Gemma's 16-token window
    for the first 15 of them) in every layer incl. sliding ones, and CC → Q+A in heads 0 and 2."""
    last = lm.n_layers - 1
    return [
        BlockAttention(LATER, "panl", layers=range(lm.n_layers)),
        BlockAttention("confidence_colon", ("question", "answer"), layers=[last - 1, last], heads=(0, 2)),
    ]


def _tl_scores_hook(blocked: torch.Tensor, heads: list[int] | None):
    """A `hook_attn_scores` hook setting scores[0, heads, t, s] = −∞ for blocked [seq, seq]."""

    def hook(scores, hook):
        scores = scores.clone()
        chosen = list(range(scores.shape[1])) if heads is None else heads
        for head in chosen:
            scores[0, head][blocked] = float("-inf")
        return scores

    return hook


def test_blocking_equals_transformer_lens_scores_hook(models):
    from transformer_lens.model_bridge import TransformerBridge

    path, eager, sdpa, batch = models
    bridge = TransformerBridge.boot_transformers(str(path), device="cpu", tokenizer=eager.tokenizer)
    specs = _edges(eager)
    ours_eager, run = intervened_logits(eager, batch, specs)
    ours_sdpa, _ = intervened_logits(sdpa, batch, specs)
    assert run.status == ["ok"] * len(batch)
    clean = last_token_logits(eager, batch)
    for row in range(len(batch)):
        start = int(batch.content_start[row])
        hooks = []
        for spec in specs:
            blocked, _ = edge_mask(batch, spec.targets, spec.sources)
            blocked = blocked[row, start:, start:]
            heads = None if spec.heads is None else list(spec.heads)
            hooks += [(f"blocks.{layer}.attn.hook_attn_scores", _tl_scores_hook(blocked, heads)) for layer in spec.layers]
        with torch.no_grad():
            reference = bridge.run_with_hooks(batch.input_ids[row : row + 1, start:], fwd_hooks=hooks)[0, -1]
        torch.testing.assert_close(ours_eager[row], reference.float(), rtol=0, atol=1e-4)
        torch.testing.assert_close(ours_sdpa[row], reference.float(), rtol=0, atol=1e-4)
        assert (ours_eager[row] - clean[row]).abs().max() > 1e-3  # the block did something


def test_blocked_weights_are_exactly_zero_and_window_kept(models):
    _, eager, _, batch = models
    spec = BlockAttention(LATER, "panl", layers=[1, eager.n_layers - 1])
    blocked, _ = edge_mask(batch, LATER, "panl")
    with interventions(eager, batch, [spec]), torch.no_grad():
        attentions = eager.model(**batch.model_inputs(), use_cache=False, output_attentions=True).attentions
    with torch.no_grad():
        clean = eager.model(**batch.model_inputs(), use_cache=False, output_attentions=True).attentions
    pairs = blocked[:, None].expand_as(attentions[0])
    for layer in spec.layers:
        assert torch.all(attentions[layer][pairs] == 0)
        assert torch.all(clean[layer][pairs] > 0) or eager.layer_types[layer] == "sliding_attention"
        torch.testing.assert_close(attentions[layer].sum(-1), torch.ones_like(attentions[layer].sum(-1)))
    torch.testing.assert_close(attentions[0], clean[0], rtol=0, atol=0)  # before the first blocked layer
    if eager.sliding_window:
        window = eager.sliding_window
        seq = batch.input_ids.shape[1]
        q, k = torch.arange(seq)[:, None], torch.arange(seq)[None, :]
        outside = (q - k >= window) & (k <= q)
        assert eager.layer_types[1] == "sliding_attention"
        assert torch.all(attentions[1][:, :, outside] == 0)  # the window survives the block
        inside_blocked = pairs[:, :, ~outside & (k <= q)]
        assert inside_blocked.any()  # some blocked pairs lie inside the window


def test_sdpa_and_eager_agree_under_padding(models):
    _, eager, sdpa, _ = models
    batch = TEMPLATE.batch(demo_trials()[:5], eager.tokenizer, chat=True, padding_side="left")
    assert (batch.content_start > 0).any()
    specs = [BlockAttention(LATER, "answer", layers=layer_window(1, eager.n_layers, 2), keep_open=[("panl", "answer")])]
    a, _ = intervened_logits(eager, batch, specs)
    b, _ = intervened_logits(sdpa, batch, specs)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-4)


def test_empty_edge_set_is_identity(models):
    _, eager, sdpa, batch = models
    for lm in (eager, sdpa):
        clean = last_token_logits(lm, batch)
        empty = BlockAttention("confidence_colon", "panl", layers=range(lm.n_layers), keep_open=[("confidence_colon", "panl")])
        logits, run = intervened_logits(lm, batch, [empty])
        assert torch.equal(logits, clean) and run.status == ["ok"] * len(batch)


def test_implementation_restored_after_error_and_nesting(models):
    _, _, sdpa, batch = models
    spec = BlockAttention(LATER, "panl", layers=[0])
    with pytest.raises(RuntimeError, match="boom"):
        with interventions(sdpa, batch, [spec]):
            assert sdpa.text_config._attn_implementation == "interp_sdpa"
            with interventions(sdpa, batch, [spec]):
                pass
            assert sdpa.text_config._attn_implementation == "interp_sdpa"
            raise RuntimeError("boom")
    assert sdpa.text_config._attn_implementation == "sdpa"
    assert all(layer.self_attn.config._attn_implementation == "sdpa" for layer in sdpa.layers)


def test_other_shapes_and_kernels_are_refused(models):
    _, _, sdpa, batch = models
    other = TEMPLATE.batch(demo_trials()[4:6], sdpa.tokenizer, chat=True)
    with interventions(sdpa, batch, [BlockAttention(LATER, "panl", layers=[0])]):
        with pytest.raises(RuntimeError, match="prefill of the batch"):
            last_token_logits(sdpa, other)
    sdpa.text_config._attn_implementation_internal = "flex_attention"
    try:
        with pytest.raises(ValueError, match="sdpa or eager"):
            install_blocking(sdpa, {0: torch.ones(1, 3, 3, dtype=torch.bool)})
    finally:
        sdpa.text_config._attn_implementation_internal = "sdpa"
    with pytest.raises(ValueError, match="outside"):
        install_blocking(sdpa, {sdpa.n_layers: torch.ones(1, 3, 3, dtype=torch.bool)})


def test_gemma_multimodal_wrapper_blocks_too():
    path = tiny("gemma3-mm")
    lm = load_model(path, attn_implementation="sdpa")
    eager = load_model(path, attn_implementation="eager")
    batch = TEMPLATE.batch(demo_trials()[:3], lm.tokenizer, chat=True)
    specs = [BlockAttention(LATER, "panl", layers=range(lm.n_layers))]
    a, _ = intervened_logits(lm, batch, specs)
    b, _ = intervened_logits(eager, batch, specs)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-4)
    assert (a - last_token_logits(lm, batch)).abs().max() > 1e-3


def test_layer_window():
    assert layer_window(30, 62) == list(range(24, 36))
    assert layer_window(2, 62) == list(range(0, 8))
    assert layer_window(60, 62) == list(range(54, 62))
    assert layer_window(5, 28, width=3) == [4, 5, 6]
    with pytest.raises(ValueError, match="outside"):
        layer_window(62, 62)


def test_edge_mask_by_hand():
    path = tiny("qwen2")
    lm = load_model(path)
    trials = [Trial(id="a", question="Capital of France?", answer="Paris"), Trial(id="b", question="Who wrote Hamlet?", answer="William Shakespeare")]
    batch = TEMPLATE.batch(trials, lm.tokenizer, chat=True, padding_side="left")
    blocked, status = edge_mask(batch, LATER, "answer", keep_open=[("panl", "answer")])
    assert status == ["ok", "ok"]
    for row in range(2):
        start, end = batch.spans["answer"][row].tolist()
        panl = int(batch.roles["panl"][row])
        seq = batch.input_ids.shape[1]
        expected = torch.zeros(seq, seq, dtype=torch.bool)
        for target in range(end, seq):
            if target != panl:
                expected[target, start:end] = True
        assert torch.equal(blocked[row], expected)
    both, _ = edge_mask(batch, "confidence_colon", ("question", "panl"))
    for row in range(2):
        cc = int(batch.roles["confidence_colon"][row])
        q0, q1 = batch.spans["question"][row].tolist()
        assert both[row].sum() == (q1 - q0) + 1 and both[row, cc, q0:q1].all() and both[row, cc, batch.roles["panl"][row]]
    batch.roles["panl"][1] = -1
    batch.reasons["panl"][1] = "merged"
    blocked, status = edge_mask(batch, LATER, "panl")
    assert status == ["ok", "blocking: panl: merged"] and not blocked[1].any() and blocked[0].any()
    with pytest.raises(ValueError, match="attending to itself"):
        edge_mask(batch, "answer", "answer")
    with pytest.raises(KeyError, match="not a role or span"):
        edge_mask(batch, "cc", "panl")


def test_unresolved_rows_stay_clean_and_report():
    path = tiny("qwen2")
    lm = load_model(path)
    trials = [Trial(id="ok", question="Capital of France?", answer="Paris"), Trial(id="bad", question="Q?", answer="x")]
    rendered = [TEMPLATE.render(t, lm.tokenizer) for t in trials]
    batch = tokenize(lm.tokenizer, rendered, padding_side="left")
    batch.roles["panl"][1] = -1
    batch.reasons["panl"][1] = "merged with ')'"
    clean = last_token_logits(lm, batch)
    logits, run = intervened_logits(lm, batch, [BlockAttention(LATER, "panl", layers=range(lm.n_layers))])
    assert run.status[0] == "ok" and "merged" in run.status[1]
    assert torch.equal(logits[1], clean[1]) and not torch.equal(logits[0], clean[0])
