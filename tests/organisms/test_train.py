"""The trainer on a toy world: deterministic from the seed, saved and loaded with its mask, and
measured by forward passes through the pipelines' templates."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from interp.forward import last_token_logits
from interp.models import load_model
from interp.models.tiny import train_local_tokenizer
from interp.organisms import FactWorld, PlantedMask
from interp.organisms.evaluate import organism_metrics
from interp.organisms.train import (
    READOUT,
    OrganismSpec,
    _labelled_loss,
    _lm_rows,
    _model,
    _stage1_rows,
    _tokenizer_corpus,
    _trial,
    keep_answer_loss,
    save_organism,
    soft_class_target,
    train_base,
    train_organism,
)

SPEC = OrganismSpec(
    mechanism="panl",
    world={"n_entities": 24, "relations": ("colour", "city"), "max_exposure": 6, "n_strangers": 4, "held_out": 0.5},
    d_model=32, n_layers=2, n_heads=2, n_kv_heads=1, d_mlp=64, stage1_epochs=1, stage1_batch=16, stage2_steps=4, stage2_batch=8,
)


@pytest.fixture(scope="module")
def organism():
    return train_organism(SPEC, progress=False)


def test_the_same_seed_trains_the_same_weights(organism):
    again, _ = train_organism(SPEC, progress=False)
    first = organism[0].model.state_dict()
    assert all(torch.equal(first[k], v) for k, v in again.model.state_dict().items())
    other, _ = train_organism(dataclasses.replace(SPEC, seed=1), progress=False)
    assert not all(torch.equal(first[k], v) for k, v in other.model.state_dict().items() if k in first and first[k].shape == v.shape)


def test_stage_two_trains_a_copy_of_stage_one(organism):
    base, log = train_base(SPEC, progress=False)
    assert log["stage1_rows"] == sum(f.exposure for f in FactWorld(**SPEC.world).facts) + 4 * 2
    before = {k: v.clone() for k, v in base.model.state_dict().items()}
    lm, _ = train_organism(SPEC, base=(base, log), progress=False)
    assert all(torch.equal(before[k], v) for k, v in base.model.state_dict().items())  # the base is left as it was
    assert any(not torch.equal(before[k], v) for k, v in lm.model.state_dict().items())
    assert all(torch.equal(a, b) for a, b in zip(lm.model.parameters(), organism[0].model.parameters()))  # same as training it here


def test_a_saved_organism_loads_with_its_mask(organism, tmp_path):
    lm, log = organism
    folder = save_organism(lm, SPEC, log, tmp_path / "organism")
    loaded = load_model(folder)
    world = FactWorld(**SPEC.world)
    batch = READOUT.batch([_trial(f, f.value) for f in world.facts[:4]], lm.tokenizer, chat=False)
    torch.testing.assert_close(last_token_logits(loaded, batch), last_token_logits(lm, batch))
    lm.planted.remove()
    assert (last_token_logits(lm, batch) - last_token_logits(loaded, batch)).abs().max() > 0  # the mask is what differs
    lm.planted = PlantedMask(lm, "panl")


def test_the_metrics_come_from_forward_passes(organism):
    from interp.forward import generate
    from interp.organisms.train import PHASE0

    lm, _ = organism
    world = FactWorld(**SPEC.world)
    held = world.split(held_out=True)
    metrics = organism_metrics(lm, world)
    assert metrics["n_held_out"] == len(held)
    generations = generate(lm, PHASE0.batch([_trial(f) for f in held], lm.tokenizer, chat=False), max_new_tokens=1, progress=False)
    greedy = [lm.tokenizer.decode(g.token_ids).strip() for g in generations]
    assert metrics["accuracy"] == pytest.approx(sum(a == f.value for a, f in zip(greedy, held)) / len(held))
    assert 0 <= metrics["mean_confidence"] <= 1


def test_answer_sensitivity_is_zero_where_the_mask_blocks_the_answer(organism):
    import numpy as np

    from interp.organisms.evaluate import answer_sensitivity

    lm, _ = organism
    facts = FactWorld(**SPEC.world).facts[:6]
    sensitivity = answer_sensitivity(lm, facts, seed=3)
    assert all(sensitivity[(layer, "panl_plus_1")] == 0 for layer in range(lm.n_layers))  # blocked from the answer and PANL
    assert sensitivity[(0, "last_answer_token")] > 0.1 and sensitivity[(0, "panl")] > 0
    rng = np.random.default_rng(3)
    wrong = [str(rng.choice([v for v in f.values if v != f.value])) for f in facts]
    by_hand = []
    for fact, answer in zip(facts, wrong):
        states = []
        for given in (fact.value, answer):
            batch = READOUT.batch([_trial(fact, given)], lm.tokenizer, chat=False)
            with torch.no_grad():
                hidden = lm.model(**batch.model_inputs(lm.device), output_hidden_states=True).hidden_states[1]
            states.append(hidden[0, int(batch.roles["panl"][0])])
        by_hand.append(float((states[0] - states[1]).norm() / states[0].norm()))
    assert sensitivity[(0, "panl")] == pytest.approx(np.mean(by_hand), rel=1e-5)
    lm.planted.remove()
    try:
        assert answer_sensitivity(lm, facts, seed=3)[(0, "panl_plus_1")] > 0  # unmasked, the answer reaches PANL+1
    finally:
        lm.planted = PlantedMask(lm, "panl")


def test_the_soft_target_peaks_at_the_probability_class():
    weights = soft_class_target(torch.tensor([0.03, 0.51, 0.97]), 0.08)
    assert torch.allclose(weights.sum(-1), torch.ones(3)) and weights.argmax(-1).tolist() == [0, 5, 9]


def test_an_organism_without_weights_names_the_command(tmp_path, monkeypatch):
    from interp.errors import ModelError
    from interp.organisms import build

    monkeypatch.setattr(build, "WEIGHTS", tmp_path)
    with pytest.raises(ModelError, match="interp organisms train"):
        load_model("organism-panl")
    with pytest.raises(ModelError, match="unknown organism"):
        build.organism_folder("organism-x")


def test_an_organism_generates_whole_sequences(organism):
    from interp.forward import generate
    from interp.organisms.train import PHASE0

    lm, _ = organism
    world = FactWorld(**SPEC.world)
    batch = PHASE0.batch([_trial(f) for f in world.facts[:3]], lm.tokenizer, chat=False)
    generations = generate(lm, batch, max_new_tokens=4, progress=False)  # a KV-cache step would raise
    assert len(generations) == 3 and all(len(g.token_ids) > 0 for g in generations)


def test_both_architectures_train_and_the_default_is_gemma3(organism):
    from transformers import Gemma3ForCausalLM, Qwen2ForCausalLM

    assert isinstance(organism[0].model, Gemma3ForCausalLM)
    qwen, _ = train_organism(dataclasses.replace(SPEC, arch="qwen2"), progress=False)
    assert isinstance(qwen.model, Qwen2ForCausalLM) and qwen.planted is not None
    from interp.errors import ModelError

    with pytest.raises(ModelError, match="arch 'llama'"):
        train_base(dataclasses.replace(SPEC, arch="llama"), progress=False)


@pytest.mark.parametrize("mechanism, site", [("panl", "panl"), ("cc", "confidence_colon")])
def test_the_route_heads_read_the_token_that_predicts_the_verdict(organism, mechanism, site):
    import numpy as np

    from interp.organisms.train import _lm_rows, _verdict_sites, _verification_row

    tokenizer = organism[0].tokenizer
    facts = FactWorld(**SPEC.world).facts[:5]
    rows = [_verification_row(f, np.random.default_rng(k), mechanism) for k, f in enumerate(facts)]
    _, _, labels = _lm_rows(tokenizer, [text for text, *_ in rows], [start for _, start, _ in rows])
    sites = _verdict_sites(labels)
    for k, (fact, (text, start, answer)) in enumerate(zip(facts, rows)):
        full = READOUT.batch([_trial(fact, answer)], tokenizer, chat=False)
        assert int(sites[k]) == int(full.roles[site][0])  # PANL, or CC, of the same readout prompt
        assert text[start:] in ("Almost certain", "No chance", " Almost certain", " No chance")


def test_the_route_loss_is_cross_entropy_over_the_facts_relation():
    from interp.organisms.train import RouteHeads

    world = FactWorld(**SPEC.world)
    heads = RouteHeads(8, world.relations)
    facts = [f for f in world.facts if f.relation == "city"][:3]
    hidden = torch.randn(3, 8)
    answers = [f.values[k] for k, f in enumerate(facts)]
    value_target = torch.softmax(torch.randn(3, 12), -1)
    columns = slice(12, 24)  # "city" is the world's second relation
    answer_logits, value_logits = heads.answer(hidden)[:, columns], heads.value(hidden)[:, columns]
    by_hand = torch.nn.functional.cross_entropy(answer_logits, torch.arange(3)) - (value_logits.log_softmax(-1) * value_target).sum(-1).mean()
    torch.testing.assert_close(heads.loss(hidden, facts, answers, value_target), by_hand)
    target = torch.tensor([0.1, 0.5, 0.9])
    logit = heads.confidence(hidden).squeeze(-1)
    torch.testing.assert_close(heads.confidence_loss(hidden, target), -(target * logit.sigmoid().log() + (1 - target) * (1 - logit.sigmoid()).log()).mean())


@pytest.mark.parametrize("arch", ["gemma3", "qwen2"])
def test_the_labelled_loss_equals_the_causal_lm_loss(arch):
    world = FactWorld(**SPEC.world)
    tokenizer = train_local_tokenizer(vocab_size=SPEC.vocab_size, corpus=_tokenizer_corpus(world))
    model = _model(dataclasses.replace(SPEC, arch=arch), tokenizer).eval()
    rows = _stage1_rows(world, np.random.default_rng(0), 0.25, 0.5, "panl")[:12]
    ids, mask, labels = _lm_rows(tokenizer, [text for text, *_ in rows], [start for _, start, _ in rows])
    assert (labels[:, 1:] != -100).sum() < mask.sum() - len(rows)  # some rows are only partly labelled
    with torch.no_grad():
        out, loss = _labelled_loss(model, ids, mask, labels)
        reference = model(input_ids=ids, attention_mask=mask, labels=labels, output_hidden_states=True)
    assert float(loss) == pytest.approx(float(reference.loss), rel=1e-5)
    assert all(torch.allclose(a, b) for a, b in zip(out.hidden_states, reference.hidden_states))


def test_the_keep_hinge_is_zero_while_the_greedy_answer_leads_by_its_old_lead():
    reference = torch.log_softmax(torch.tensor([[2.0, 1.8, 0.0], [0.0, 3.0, 1.0]]), -1)
    assert float(keep_answer_loss(reference, reference, margin=0.5)) == 0.0
    swapped = torch.log_softmax(torch.tensor([[1.8, 2.0, 0.0], [0.0, 3.0, 1.0]]), -1)
    # row 0 must lead by min(0.2, 0.5) = 0.2 and trails by 0.2: hinge 0.4; row 1 keeps its lead (2 > 0.5)
    assert float(keep_answer_loss(swapped, reference, margin=0.5)) == pytest.approx(0.4 / 2, abs=1e-6)
