"""Greedy and sampled generation against a teacher-forced forward (log-probs and the six
features), seeded sampling, answer mapping with the real tokenizers, and the one-pass readout
against generate()."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TRIVIAQA, need

from interp.errors import ConfigError
from interp.forward import FEATURES, Generation, generate, last_token_logits, logprob_features, trial_seed
from interp.models import load_model, tiny
from interp.readouts import class_scores
from interp.tasks import CONFIDENCE_CLASSES, CategoricalConfidenceTemplate, ConfidencePhase0Template, demo_trials, hedges
from interp.tasks.datasets import load_triviaqa, to_trials


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
    assert class_scores(one_pass, ids, midpoints).argmax.tolist() == class_scores(out.logits[0].float(), ids, midpoints).argmax.tolist()


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
    assert hedges(Generation.from_tokens(qwen_tokenizer, "t", ids, [0.0] * len(ids)).answer) == ["maybe"]
    assert "Confidence: Likely" in Generation.from_tokens(qwen_tokenizer, "t", qwen_tokenizer(" Rome\nConfidence: Likely")["input_ids"], [0.0] * 6).after_answer


def test_logprob_features_by_hand():
    values = [-0.1, -2.0, -0.5]
    assert logprob_features(values) == pytest.approx({"mean": -2.6 / 3, "min": -2.0, "max": -0.1, "variance": np.var(values), "first": -0.1, "last": -0.5})
    assert all(np.isnan(v) for v in logprob_features([]).values())


def _teacher_forced(lm, prompt: torch.Tensor, tokens: list[int]) -> np.ndarray:
    full = torch.cat([prompt, torch.tensor(tokens, dtype=torch.long)])[None]
    with torch.no_grad():
        logp = lm.model(input_ids=full).logits[0].float().log_softmax(-1)
    positions = torch.arange(len(prompt) - 1, full.shape[1] - 1)
    return logp[positions, full[0, positions + 1]].numpy()


def test_twenty_samples_at_t1_have_teacher_forced_logprobs_and_follow_the_seed(lm):
    batch = ConfidencePhase0Template().batch(demo_trials()[:3], lm.tokenizer, chat=True, padding_side="left")
    samples = generate(lm, batch, max_new_tokens=6, progress=False, temperature=1.0, n_samples=20, seed=7)
    assert len(samples) == 60
    assert [(g.trial_id, g.sample) for g in samples] == [(t, k) for t in batch.trial_ids for k in range(20)]
    for gen in samples:
        row = batch.trial_ids.index(gen.trial_id)
        prompt = batch.input_ids[row, int(batch.content_start[row]) :]
        if gen.token_ids:
            np.testing.assert_allclose(gen.token_logprobs, _teacher_forced(lm, prompt, gen.token_ids), atol=1e-4)
    per_trial = {t: {tuple(g.token_ids) for g in samples if g.trial_id == t} for t in batch.trial_ids}
    assert all(len(distinct) > 1 for distinct in per_trial.values())  # T = 1 on a random model: the samples differ
    again = generate(lm, batch, max_new_tokens=6, progress=False, temperature=1.0, n_samples=20, seed=7)
    assert [g.token_ids for g in again] == [g.token_ids for g in samples]
    alone = ConfidencePhase0Template().batch(demo_trials()[1:2], lm.tokenizer, chat=True, padding_side="left")
    single = generate(lm, alone, max_new_tokens=6, progress=False, temperature=1.0, n_samples=20, seed=7)
    assert [g.token_ids for g in single] == [g.token_ids for g in samples if g.trial_id == alone.trial_ids[0]]  # batching does not matter
    other = generate(lm, batch, max_new_tokens=6, progress=False, temperature=1.0, n_samples=20, seed=8)
    assert [g.token_ids for g in other] != [g.token_ids for g in samples]
    assert trial_seed(7, "a") == trial_seed(7, "a") != trial_seed(7, "b")


def test_a_tiny_nucleus_samples_the_greedy_continuation(lm):
    batch = ConfidencePhase0Template().batch(demo_trials()[:2], lm.tokenizer, chat=True, padding_side="left")
    greedy = generate(lm, batch, max_new_tokens=6, progress=False)
    nucleus = generate(lm, batch, max_new_tokens=6, progress=False, temperature=1.0, top_p=1e-6, n_samples=3)
    assert [g.token_ids for g in nucleus] == [g.token_ids for g in greedy for _ in range(3)]


def test_the_models_own_generation_defaults_do_not_change_greedy_decoding(lm):
    batch = ConfidencePhase0Template().batch(demo_trials()[:2], lm.tokenizer, chat=True, padding_side="left")
    plain = generate(lm, batch, max_new_tokens=8, progress=False)
    lm.model.generation_config.repetition_penalty = 5.0
    lm.model.generation_config.no_repeat_ngram_size = 1
    try:
        penalised = generate(lm, batch, max_new_tokens=8, progress=False)
    finally:
        lm.model.generation_config.repetition_penalty = None
        lm.model.generation_config.no_repeat_ngram_size = None
    assert [g.token_ids for g in penalised] == [g.token_ids for g in plain]
    assert lm.model.generation_config.repetition_penalty is None


def test_generate_refuses_bad_decoding_settings(lm):
    batch = ConfidencePhase0Template().batch(demo_trials()[:1], lm.tokenizer)
    with pytest.raises(ConfigError, match="greedy decoding gives one continuation"):
        generate(lm, batch, n_samples=5, progress=False)
    with pytest.raises(ConfigError, match="top_p"):
        generate(lm, batch, temperature=1.0, top_p=0.0, progress=False)


def test_continuation_logprobs_equal_a_forward_of_prompt_plus_continuation(lm):
    from interp.forward import continuation_logprobs

    batch = ConfidencePhase0Template().batch(demo_trials()[:3], lm.tokenizer, chat=True, padding_side="left")
    continuations = [" Paris", " William Shakespeare", " 1066"]
    scored = continuation_logprobs(lm, batch, continuations)
    for row, text in enumerate(continuations):
        prompt = batch.input_ids[row, int(batch.content_start[row]) :]
        tokens = torch.tensor(lm.tokenizer(text, add_special_tokens=False)["input_ids"])
        full = torch.cat([prompt, tokens])[None]
        with torch.no_grad():
            logp = lm.model(input_ids=full).logits[0].float().log_softmax(-1)
        positions = torch.arange(len(prompt) - 1, full.shape[1] - 1)
        np.testing.assert_allclose(scored[row], logp[positions, full[0, positions + 1]].numpy(), atol=1e-4)
    with pytest.raises(ValueError, match="2 continuations for a batch of 3"):
        continuation_logprobs(lm, batch, continuations[:2])


def test_skip_blank_lines_reads_the_first_line_with_text(qwen_tokenizer):
    ids = qwen_tokenizer("\n\n Paris\nQuestion: next", add_special_tokens=False)["input_ids"]
    plain = Generation.from_tokens(qwen_tokenizer, "t", ids, [0.0] * len(ids))
    assert plain.answer is None and plain.status.startswith("empty answer")
    skipping = Generation.from_tokens(qwen_tokenizer, "t", ids, [-1.0] * len(ids), skip_blank_lines=True)
    assert skipping.answer == "Paris" and skipping.after_answer == "Question: next"
    a, b = skipping.answer_tokens
    assert qwen_tokenizer.decode(ids[a:b]).strip() == "Paris"
