"""The two pip-installed real models (Gemma 3 270M base, Qwen2.5-Coder-0.5B-Instruct) on rows of
the real TriviaQA sample: capture equals HF hidden states, attention blocking equals a
TransformerLens `hook_attn_scores` knockout, the one-pass readout equals generate()'s first step,
and a second load reads the cache in seconds. Slow (the first load dequantises each model); CI
runs them in its second step (`pytest -m slow`)."""

from __future__ import annotations

import os
import time

import pytest
import torch

from interp.forward import capture, generate, last_token_logits
from interp.interventions import LATER, BlockAttention, CorruptEmbeddings, MeanAblate, Patch, Steer, base_run, edge_mask, embedding_means, incremental_logits, intervened_logits, layer_window
from interp.models import load_model
from interp.models.registry import REGISTRY, cached_folder, is_installed
from interp.tasks import CategoricalConfidenceTemplate, MinimalConfidenceTemplate

pytestmark = pytest.mark.slow

CHAT = {"gemma-3-270m": False, "qwen2.5-coder-0.5b-instruct": True}


@pytest.fixture(scope="module", params=list(CHAT))
def real(request, triviaqa_trials):
    name = request.param
    if not is_installed(REGISTRY[name]):
        message = f"{name} is not installed ({REGISTRY[name].pip})"
        if os.environ.get("INTERP_REQUIRE_MODELS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    lm = load_model(name)
    template = CategoricalConfidenceTemplate(strip_answer_punctuation=CHAT[name])
    batch = template.batch(triviaqa_trials[:4], lm.tokenizer, chat=CHAT[name])
    assert batch.status() == ["ok"] * 4
    return name, lm, template, batch


def test_a_second_load_reads_the_cache_in_seconds(real):
    name, lm, _, _ = real
    assert (cached_folder(REGISTRY[name]) / "model.safetensors").exists()
    start = time.perf_counter()
    again = load_model(name)
    assert time.perf_counter() - start <= 10
    assert again.architecture == REGISTRY[name].architecture and again.n_layers == lm.n_layers


def test_capture_equals_hf_hidden_states(real):
    _, lm, _, batch = real
    layers = list(range(lm.n_layers - 1))
    roles = ["panl", "confidence_colon", "answer_first_token", "panl_plus_1"]
    ours = capture(lm, batch, layers, roles)
    with torch.no_grad():
        hidden = lm.model(**batch.model_inputs(), output_hidden_states=True, use_cache=False).hidden_states
    rows = torch.arange(len(batch))
    for layer in layers:
        for role in roles:
            reference = hidden[layer + 1][rows, batch.roles[role]].float()
            torch.testing.assert_close(ours[(layer, role)], reference, rtol=1e-5, atol=1e-5 * float(reference.abs().max()))


def test_blocking_equals_a_transformer_lens_knockout(real):
    from transformer_lens.model_bridge import TransformerBridge

    name, lm, _, batch = real
    eager = load_model(name, attn_implementation="eager")
    bridge = TransformerBridge.boot_transformers(str(cached_folder(REGISTRY[name])), device="cpu", tokenizer=lm.tokenizer)
    middle = lm.n_layers // 2
    specs = [BlockAttention("confidence_colon", "answer", layers=layer_window(middle, lm.n_layers, 6)), BlockAttention(LATER, "panl", layers=[middle + 1])]
    ours, run = intervened_logits(lm, batch, specs)
    ours_eager, _ = intervened_logits(eager, batch, specs)
    assert run.status == ["ok"] * len(batch)
    for row in range(len(batch)):
        start = int(batch.content_start[row])
        hooks = []
        for spec in specs:
            blocked = edge_mask(batch, spec.targets, spec.sources)[0][row, start:, start:]

            def knockout(scores, hook, blocked=blocked):
                scores = scores.clone()
                scores[0][:, blocked] = float("-inf")
                return scores

            hooks += [(f"blocks.{layer}.attn.hook_attn_scores", knockout) for layer in spec.layers]
        with torch.no_grad():
            reference = bridge.run_with_hooks(batch.input_ids[row : row + 1, start:], fwd_hooks=hooks)[0, -1].float()
        scale = float(reference.abs().max())
        torch.testing.assert_close(ours[row], reference, rtol=0, atol=2e-5 * scale)
        torch.testing.assert_close(ours_eager[row], reference, rtol=0, atol=2e-5 * scale)


@pytest.mark.parametrize("template_class", [CategoricalConfidenceTemplate, MinimalConfidenceTemplate])
def test_the_readout_equals_generates_first_step(real, template_class, triviaqa_trials):
    name, lm, _, _ = real
    template = template_class(strip_answer_punctuation=CHAT[name])
    batch = template.batch(triviaqa_trials[4:10], lm.tokenizer, chat=CHAT[name])
    logits = last_token_logits(lm, batch)
    inputs = {k: v for k, v in batch.model_inputs().items() if k != "position_ids"}
    with torch.no_grad():
        out = lm.model.generate(**inputs, do_sample=False, max_new_tokens=1, output_logits=True, return_dict_in_generate=True, pad_token_id=lm.tokenizer.pad_token_id)
    first = out.logits[0].float()
    torch.testing.assert_close(logits, first, rtol=0, atol=1e-4 * float(first.abs().max()))
    assert logits.argmax(-1).tolist() == out.sequences[:, -1].tolist()
    assert [g.token_ids[0] for g in generate(lm, batch, max_new_tokens=1, progress=False)] == out.sequences[:, -1].tolist()
    readout = template.readout(lm.tokenizer)
    ids = torch.as_tensor(readout.token_ids)
    assert readout.read(logits)["argmax"].tolist() == first[:, ids].argmax(-1).tolist()


def test_incremental_forwards_equal_full_forwards(real):
    """Every intervention kind on the real weights, with the values the pipelines use (another
    row's residual, the batch mean): rerunning only the changed layers and positions gives the
    full forward's logits (fp32, atol 1e-4)."""
    _, lm, _, batch = real
    d = lm.d_model
    generator = torch.Generator().manual_seed(0)
    corruption = CorruptEmbeddings(embedding_means(lm, batch))
    layers, roles = (0, lm.n_layers // 2, lm.n_layers - 2), ("answer_colon", "panl", "confidence_colon")
    own = capture(lm, batch, list(layers), list(roles))
    cases = [
        [spec]
        for layer in layers
        for role in roles
        for spec in (Patch(layer, role, own[(layer, role)].roll(1, 0)), MeanAblate(layer, role, own[(layer, role)].mean(0)))
    ]
    cases += [[Steer(layer, "panl", torch.randn(d, generator=generator), alpha=20.0)] for layer in (1, lm.n_layers // 2)]
    cases += [
        [corruption],
        [BlockAttention(LATER, "answer", layers=layer_window(lm.n_layers // 2, lm.n_layers, 4))],
        [BlockAttention("confidence_colon", "panl", layers=[2, 3], heads=(0,))],
    ]
    base = base_run(lm, batch)
    corrupted = base_run(lm, batch, [corruption])
    for specs in cases:
        reference = intervened_logits(lm, batch, specs)[0]
        assert torch.allclose(incremental_logits(lm, base, specs)[0], reference, atol=1e-4, rtol=0), specs
    for layer in (0, lm.n_layers // 2):
        specs = [corruption, Patch(layer, "panl", own[(layer, "panl")])]
        assert torch.allclose(incremental_logits(lm, corrupted, specs)[0], intervened_logits(lm, batch, specs)[0], atol=1e-4, rtol=0)
