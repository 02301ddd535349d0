"""Capture against HF `output_hidden_states` and the TransformerLens bridge's hooks."""

from __future__ import annotations

import pytest
import torch

from interp.forward import SITES, capture
from interp.models import load_model, tiny
from interp.prompting import Trial
from interp.tasks import CategoricalConfidenceTemplate, demo_trials

ROLES = ["panl", "confidence_colon", "answer_first_token", "panl_plus_1"]
TL_HOOK = {"resid_pre": "hook_resid_pre", "resid_post": "hook_resid_post", "attn_out": "hook_attn_out", "mlp_out": "hook_mlp_out"}


@pytest.fixture(scope="module", params=["qwen2", "gemma3", "gemma3-mm"])
def setup(request):
    path = tiny(request.param)
    lm = load_model(path, attn_implementation="eager")
    batch = CategoricalConfidenceTemplate().batch(demo_trials()[:4], lm.tokenizer, chat=True, padding_side="left")
    return path, lm, batch


def test_resid_post_equals_output_hidden_states(setup):
    _, lm, batch = setup
    layers = list(range(lm.n_layers - 1))  # hidden_states[-1] is after the final norm
    acts = capture(lm, batch, layers, ROLES)
    with torch.no_grad():
        hidden = lm.model(**batch.model_inputs(), output_hidden_states=True).hidden_states
    rows = torch.arange(len(batch))
    for layer in layers:
        for role in ROLES:
            expected = hidden[layer + 1][rows, batch.roles[role]]
            torch.testing.assert_close(acts[(layer, role)], expected, rtol=0, atol=1e-5)
            assert acts[(layer, role)].shape == (len(batch), lm.d_model)


@pytest.mark.parametrize("site", SITES)
def test_sites_equal_transformer_lens_hooks(setup, site):
    from transformer_lens.model_bridge import TransformerBridge

    path, lm, batch = setup
    bridge = TransformerBridge.boot_transformers(str(path), device="cpu", tokenizer=lm.tokenizer)
    row = 1
    start = int(batch.content_start[row])
    single = batch.input_ids[row : row + 1, start:]
    layers = list(range(lm.n_layers))
    names = {f"blocks.{layer}.{TL_HOOK[site]}" for layer in layers}
    with torch.no_grad():
        _, cache = bridge.run_with_cache(single, names_filter=lambda name: name in names)
    acts = capture(lm, batch, layers, ROLES, site=site)
    for layer in layers:
        reference = cache[f"blocks.{layer}.{TL_HOOK[site]}"][0]
        for role in ROLES:
            position = int(batch.roles[role][row]) - start
            torch.testing.assert_close(acts[(layer, role)][row], reference[position], rtol=0, atol=1e-4)


def test_layers_above_the_deepest_do_not_run(setup):
    _, lm, batch = setup
    ran: list[str] = []
    # Forward (post) hooks fire only once a module has run to completion.
    handles = [layer.register_forward_hook(lambda _m, _a, _o, i=i: ran.append(f"layer{i}")) for i, layer in enumerate(lm.layers)]
    handles.append(lm.final_norm.register_forward_hook(lambda _m, _a, _o: ran.append("norm")))
    handles.append(lm.lm_head.register_forward_hook(lambda _m, _a, _o: ran.append("lm_head")))
    try:
        capture(lm, batch, [0, 1], ["panl"])
        assert ran == ["layer0", "layer1"]
        ran.clear()
        capture(lm, batch, [1], ["panl"], site="resid_pre")
        assert ran == ["layer0"]
        ran.clear()
        _, logits = capture(lm, batch, [0], ["panl"], return_logits=True)
        assert ran[-2:] == ["norm", "lm_head"] and logits.shape == (len(batch), lm.lm_head.weight.shape[0])
        with torch.no_grad():
            full = lm.model(**batch.model_inputs()).logits[:, -1, :]
        torch.testing.assert_close(logits, full, rtol=0, atol=1e-5)
    finally:
        for handle in handles:
            handle.remove()


def _hook_ids(lm) -> set[int]:
    modules = [*lm.layers, *(lm.branch_output(i, b) for i in range(lm.n_layers) for b in ("attn", "mlp"))]
    return {key for m in modules for key in (*m._forward_hooks, *m._forward_pre_hooks)}


def test_hooks_removed_and_errors_clear(setup):
    _, lm, batch = setup
    before = _hook_ids(lm)  # HF keeps its own output-capturing hooks; ours must come and go
    with pytest.raises(ValueError, match="outside"):
        capture(lm, batch, [lm.n_layers], ["panl"])
    with pytest.raises(KeyError, match="span role"):
        capture(lm, batch, [0], ["answer"])
    with pytest.raises(ValueError, match="site 'resid_mid'"):
        capture(lm, batch, [0], ["panl"], site="resid_mid")
    right = CategoricalConfidenceTemplate().batch(demo_trials()[:2], lm.tokenizer, padding_side="right")
    with pytest.raises(ValueError, match="left-padded"):
        capture(lm, right, [0], ["panl"], return_logits=True)
    broken = CategoricalConfidenceTemplate().batch(demo_trials()[:2], lm.tokenizer)
    broken.input_ids[0, -1] = 10**9  # out-of-vocabulary id: the forward itself raises
    with pytest.raises(IndexError):
        capture(lm, broken, [0, 1], ["panl"])
    capture(lm, batch, [0, 1], ["panl"], site="resid_pre")
    assert _hook_ids(lm) == before


def test_unresolved_rows_are_nan(setup):
    _, lm, batch = setup
    modified = CategoricalConfidenceTemplate().batch(
        [Trial(id="x", question="Who?", answer="Paris"), Trial(id="y", question="Who?", answer="Paris")], lm.tokenizer
    )
    modified.roles["panl"][1] = -1
    acts = capture(lm, modified, [0], ["panl", "confidence_colon"])
    assert torch.isfinite(acts[(0, "panl")][0]).all() and torch.isnan(acts[(0, "panl")][1]).all()
    assert torch.isfinite(acts[(0, "confidence_colon")]).all()
