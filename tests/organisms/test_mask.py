"""The planted masks: the blocked pairs equal those named by the template's own roles, and on a
random-weight model with the organism tokenizer the planted route is the only one — restoring
PANL restores CC under `panl`, and does not under `cc`."""

from __future__ import annotations

import pytest
import torch

from interp.forward import capture, last_token_logits
from interp.interventions import Patch, interventions
from interp.models import wrap
from interp.models.tiny import train_local_tokenizer
from interp.organisms import FactWorld, attach, planted_mask
from interp.organisms.mask import _Structure
from interp.organisms.train import READOUT, OrganismSpec, _model, _tokenizer_corpus, _trial


@pytest.fixture(scope="module")
def world():
    return FactWorld(n_entities=30, relations=("colour", "city"), seed=3)


@pytest.fixture(scope="module")
def tokenizer(world):
    return train_local_tokenizer(vocab_size=4096, corpus=_tokenizer_corpus(world))


def _random_lm(tokenizer, seed: int = 0):
    torch.manual_seed(seed)
    model = _model(OrganismSpec(d_model=32, n_layers=3, n_heads=2, n_kv_heads=1, d_mlp=64), tokenizer).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.ndim == 2:
                parameter.normal_(0, 0.3)  # larger than the training init, so every path carries signal
    return wrap(model, tokenizer, "random-organism")


def _expected(batch, row: int, mechanism: str) -> torch.Tensor:
    """The mask written from the batch's resolved roles (independent of the token scan)."""
    seq = batch.input_ids.shape[1]
    question = int(batch.spans["question"][row, 0])
    panl, cc = int(batch.roles["panl"][row]), int(batch.roles["confidence_colon"][row])
    expected = torch.zeros(seq, seq, dtype=torch.bool)
    for target in range(panl, seq):
        if mechanism == "panl" and target > panl:
            expected[target, question:panl] = True
            expected[target, panl] = target != cc
        if mechanism == "cc" and target != cc:
            expected[target, question:panl] = True
    return expected


@pytest.mark.parametrize("mechanism", ["panl", "cc"])
def test_the_blocked_pairs_are_those_the_roles_name(world, tokenizer, mechanism):
    facts = world.facts[:6]
    batch = READOUT.batch([_trial(f, f.values[k]) for k, f in enumerate(facts)], tokenizer, chat=False)
    blocked = planted_mask(batch.input_ids, batch.attention_mask, _Structure.of(tokenizer), mechanism)
    for row in range(len(facts)):
        start = int(batch.content_start[row])
        expected = _expected(batch, row, mechanism)
        assert torch.equal(blocked[row, start:, start:], expected[start:, start:]), (mechanism, row)
        assert not blocked[row, :start].any()


def test_a_prompt_without_panl_is_left_alone(world, tokenizer):
    from interp.organisms.train import PHASE0

    batch = PHASE0.batch([_trial(f) for f in world.facts[:4]], tokenizer, chat=False)
    assert not planted_mask(batch.input_ids, batch.attention_mask, _Structure.of(tokenizer), "panl").any()


@pytest.mark.parametrize("mechanism, restored", [("panl", True), ("cc", False)])
def test_restoring_panl_restores_cc_only_when_panl_is_the_route(world, tokenizer, mechanism, restored):
    lm = _random_lm(tokenizer)
    facts = world.facts[:8]
    original = READOUT.batch([_trial(f, f.values[0]) for f in facts], tokenizer, chat=False)
    altered = READOUT.batch([_trial(f, f.values[1]) for f in facts], tokenizer, chat=False)
    assert original.input_ids.shape == altered.input_ids.shape and not torch.equal(original.input_ids, altered.input_ids)
    unmasked = last_token_logits(lm, original)
    planted = attach(lm, mechanism)
    clean = last_token_logits(lm, original)
    assert (clean - unmasked).abs().max() > 1e-3  # the mask changes the model
    residuals = capture(lm, original, range(lm.n_layers), ["panl"])
    with interventions(lm, altered, [Patch(layer, "panl", residuals[(layer, "panl")]) for layer in range(lm.n_layers)]):
        patched = last_token_logits(lm, altered)
    moved = (last_token_logits(lm, altered) - clean).abs().max()
    assert moved > 1e-3
    if restored:
        torch.testing.assert_close(patched, clean, atol=1e-5, rtol=1e-5)
    else:
        assert (patched - clean).abs().max() > 0.1 * moved
    planted.remove()
    torch.testing.assert_close(last_token_logits(lm, original), unmasked)


def test_an_organism_refuses_a_kv_cache_step(world, tokenizer):
    from interp.errors import ModelError

    lm = _random_lm(tokenizer)
    attach(lm, "panl")
    batch = READOUT.batch([_trial(world.facts[0], "red")], tokenizer, chat=False)
    with torch.no_grad():
        out = lm.model(**batch.model_inputs(lm.device), use_cache=True)
        with pytest.raises(ModelError, match="use_cache=False"):
            lm.model(input_ids=batch.input_ids[:, -1:], cache=out.past_key_values, use_cache=True)
