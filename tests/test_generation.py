"""Greedy generation against a teacher-forced forward (log-probs and the six features), answer
mapping with the real tokenizers, the one-pass readout against generate(), and the parsers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interp.datasets import load_triviaqa, to_trials
from interp.generation import FEATURES, Generation, generate, logprob_features, parse_confidence_class, parse_percent, parse_threshold_reply
from interp.models import load_model, tiny
from interp.prompts import CONFIDENCE_CLASSES, CategoricalConfidenceTemplate
from interp.readout import class_readout, last_token_logits
from interp.templates import ConfidencePhase0Template
from interp.trials import demo_trials

from conftest import TRIVIAQA, need


@pytest.fixture(scope="module", params=["qwen2", "gemma3"])
def lm(request):
    return load_model(tiny(request.param))


def test_logprobs_and_features_equal_a_teacher_forced_forward(lm):
    batch = ConfidencePhase0Template().batch(demo_trials()[:4], lm.tokenizer, chat=True, padding_side="left")
    generations = generate(lm, batch, max_new_tokens=10, progress=False)
    assert [g.trial_id for g in generations] == batch.trial_ids
    for row, gen in enumerate(generations):
        assert len(gen.token_ids) == len(gen.token_logprobs) > 0
        prompt = batch.input_ids[row, int(batch.content_start[row]) :]
        full = torch.cat([prompt, torch.tensor(gen.token_ids)])[None]
        with torch.no_grad():
            logp = lm.model(input_ids=full).logits[0].float().log_softmax(-1)
        positions = torch.arange(len(prompt) - 1, full.shape[1] - 1)
        reference = logp[positions, full[0, positions + 1]].numpy()
        np.testing.assert_allclose(gen.token_logprobs, reference, atol=1e-4)
        assert all(int(logp[p].argmax()) == t for p, t in zip(positions.tolist(), gen.token_ids))  # greedy
        if gen.answer_tokens is not None:
            a, b = gen.answer_tokens
            span = reference[a:b]
            expected = [span.mean(), span.min(), span.max(), span.var(), span[0], span[-1]]
            np.testing.assert_allclose([gen.features()[f] for f in FEATURES], expected, atol=1e-4)
        else:
            assert gen.status != "ok" and np.isnan(gen.features()["mean"])


def test_one_pass_readout_agrees_with_greedy_generate(lm):
    template = CategoricalConfidenceTemplate()
    batch = template.batch(demo_trials()[:6], lm.tokenizer, chat=True, padding_side="left")
    one_pass = last_token_logits(lm, batch)
    with torch.no_grad():
        out = lm.model.generate(**{k: v for k, v in batch.model_inputs().items() if k != "position_ids"}, do_sample=False, max_new_tokens=1, output_logits=True, return_dict_in_generate=True, pad_token_id=lm.tokenizer.pad_token_id)
    torch.testing.assert_close(one_pass, out.logits[0].float(), rtol=0, atol=1e-4)
    assert one_pass.argmax(-1).tolist() == out.sequences[:, -1].tolist()
    ids = template.class_token_ids(lm.tokenizer)
    midpoints = [c.midpoint for c in CONFIDENCE_CLASSES]
    assert class_readout(one_pass, ids, midpoints).argmax.tolist() == class_readout(out.logits[0].float(), ids, midpoints).argmax.tolist()


@pytest.mark.parametrize(
    "continuation, answer",
    [
        (" Paris\nConfidence: Highly likely", "Paris"),
        (" William Shakespeare\nConfidence: Likely", "William Shakespeare"),
        ("Zürich \nConfidence: No chance", "Zürich"),
        (" 1,234 km", "1,234 km"),
    ],
)
def test_answer_maps_to_its_tokens(real_tokenizer, continuation, answer):
    ids = real_tokenizer(continuation, add_special_tokens=False)["input_ids"]
    logprobs = -np.arange(1, len(ids) + 1) / 10
    gen = Generation.from_tokens(real_tokenizer, "t", ids, logprobs)
    assert gen.text == continuation and gen.answer == answer and gen.status == "ok"
    a, b = gen.answer_tokens
    assert real_tokenizer.decode(ids[a:b]).strip() == answer
    assert real_tokenizer.decode(ids[:a]).strip() == "" and "\n" not in real_tokenizer.decode(ids[a:b])
    assert gen.answer_logprobs == pytest.approx(list(logprobs[a:b]))


def test_answers_of_real_rows_map(real_tokenizer):
    trials = to_trials(load_triviaqa(need(TRIVIAQA), limit=300))
    for trial in trials:
        ids = real_tokenizer(f" {trial.gold}\nConfidence: Likely", add_special_tokens=False)["input_ids"]
        gen = Generation.from_tokens(real_tokenizer, trial.id, ids, [0.0] * len(ids))
        assert gen.answer == trial.gold.strip(), trial.id
        a, b = gen.answer_tokens
        assert real_tokenizer.decode(ids[a:b]).strip() == trial.gold.strip(), trial.id


def test_empty_answer_and_hedges(qwen_tokenizer):
    ids = qwen_tokenizer("\nConfidence: Likely", add_special_tokens=False)["input_ids"]
    gen = Generation.from_tokens(qwen_tokenizer, "t", ids, [0.0] * len(ids))
    assert gen.answer is None and gen.status.startswith("empty answer") and gen.answer_logprobs == []
    ids = qwen_tokenizer("Maybe Paris\n", add_special_tokens=False)["input_ids"]
    assert Generation.from_tokens(qwen_tokenizer, "t", ids, [0.0] * len(ids)).hedges == ["maybe"]
    assert "Confidence: Likely" in Generation.from_tokens(qwen_tokenizer, "t", qwen_tokenizer(" Rome\nConfidence: Likely")["input_ids"], [0.0] * 6).after_answer


def test_logprob_features_by_hand():
    values = [-0.1, -2.0, -0.5]
    assert logprob_features(values) == pytest.approx({"mean": -2.6 / 3, "min": -2.0, "max": -0.1, "variance": np.var(values), "first": -0.1, "last": -0.5})
    assert all(np.isnan(v) for v in logprob_features([]).values())


def test_parsers():
    assert parse_confidence_class(" Paris\nConfidence: highly likely.")[0].label == "Highly likely"
    assert parse_confidence_class("Confidence: Likely")[0].label == "Likely"
    assert parse_confidence_class("Confidence: Unlikely")[0].label == "Unlikely"
    assert parse_confidence_class("Confidence: pretty sure") == (None, "unknown confidence class 'pretty sure'")
    assert parse_confidence_class("Paris")[1] == "no 'Confidence:' line"
    assert parse_percent("85\n") == (85, "ok") and parse_percent("100") == (100, "ok")
    assert parse_percent("150")[0] is None and parse_percent(" about 80")[0] is None
    assert parse_threshold_reply("2\nConfidence:75\nFinal:2") == ({"answer": 2, "confidence": 75, "final": 2}, "ok")
    fields, status = parse_threshold_reply("3\nConfidence: 40\nFinal: 5")
    assert fields == {"answer": 3, "confidence": 40, "final": 5} and status == "ok"
    fields, status = parse_threshold_reply("7\nFinal: 2")
    assert fields["answer"] is None and fields["confidence"] is None and "answer missing" in status and "confidence missing" in status
