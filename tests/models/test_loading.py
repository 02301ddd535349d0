"""Model adapters and tiny models against HF `from_pretrained`, `output_hidden_states` and the
TransformerLens bridge."""

from __future__ import annotations

import hashlib
import math

import pytest
import torch
from conftest import GEMMA_DIR, QWEN_DIR, need
from transformers import AutoModelForCausalLM, LlamaConfig

from interp.errors import ModelError
from interp.models import ADAPTERS, load_model, resolve_dtype, tiny
from interp.tasks import CategoricalConfidenceTemplate, demo_trials

# (arch, tokenizer): each architecture with the small local BPE and with its real tokenizer.
CASES = [
    ("qwen2", None),
    ("gemma3", None),
    ("gemma3-mm", None),
    ("qwen2", QWEN_DIR),
    ("gemma3", GEMMA_DIR),
    ("gemma3-mm", GEMMA_DIR),
]
IDS = ["qwen2-bpe", "gemma3-bpe", "gemma3mm-bpe", "qwen2-real", "gemma3-real", "gemma3mm-real"]


@pytest.fixture(scope="module", params=CASES, ids=IDS)
def case(request):
    arch, tokenizer = request.param
    path = tiny(arch, tokenizer=None if tokenizer is None else need(tokenizer))
    lm = load_model(path)
    batch = CategoricalConfidenceTemplate().batch(demo_trials()[:3], lm.tokenizer, chat=True, padding_side="left")
    return arch, path, lm, batch


def _layer_outputs(lm, batch) -> list[torch.Tensor]:
    """Outputs of every decoder layer, taken with plain forward hooks on the HF modules."""
    seen: list[torch.Tensor] = []
    handles = [
        layer.register_forward_hook(lambda _m, _i, out: seen.append((out[0] if isinstance(out, tuple) else out).detach()))
        for layer in lm.layers
    ]
    try:
        with torch.no_grad():
            lm.model(**batch.model_inputs())
    finally:
        for handle in handles:
            handle.remove()
    return seen


def test_logits_equal_automodel(case):
    _, path, lm, batch = case
    reference = AutoModelForCausalLM.from_pretrained(path).eval()
    assert type(reference).__name__ == lm.architecture
    with torch.no_grad():
        ours = lm.model(**batch.model_inputs()).logits
        theirs = reference(**batch.model_inputs()).logits
    assert torch.equal(ours, theirs)


def test_layers_match_hidden_states(case):
    arch, _, lm, batch = case
    with torch.no_grad():
        hidden = lm.model(**batch.model_inputs(), output_hidden_states=True).hidden_states
    outputs = _layer_outputs(lm, batch)
    assert len(hidden) == lm.n_layers + 1 == len(outputs) + 1
    for i in range(lm.n_layers - 1):
        torch.testing.assert_close(outputs[i], hidden[i + 1], rtol=0, atol=0)
    # HF replaces the last hidden state with the final-normed one: layer n-1's output is pre-norm.
    with torch.no_grad():
        torch.testing.assert_close(lm.final_norm(outputs[-1]), hidden[-1], rtol=0, atol=1e-6)
    assert not torch.allclose(outputs[-1], hidden[-1])


def test_embedding_times_scale_is_first_hidden_state(case):
    arch, _, lm, batch = case
    with torch.no_grad():
        hidden0 = lm.model(**batch.model_inputs(), output_hidden_states=True).hidden_states[0]
        raw = lm.embedding_weight[batch.input_ids]
    expected_scale = math.sqrt(lm.d_model) if arch.startswith("gemma") else 1.0
    assert lm.embed_scale == pytest.approx(expected_scale)
    torch.testing.assert_close(raw * lm.embed_scale, hidden0, rtol=0, atol=1e-6)
    torch.testing.assert_close(lm.embed(batch.input_ids), hidden0, rtol=0, atol=0)
    if arch.startswith("gemma"):
        assert not torch.allclose(raw, hidden0)


def test_parts_and_shapes(case):
    arch, _, lm, _ = case
    assert lm.d_model == 64 and lm.embedding_weight.shape[1] == 64
    assert lm.embedding_weight.shape[0] >= len(lm.tokenizer)
    assert lm.lm_head.weight.shape[0] == lm.embedding_weight.shape[0]
    if arch == "qwen2":
        assert lm.n_layers == 4 and set(lm.layer_types) == {"full_attention"} and lm.sliding_window is None
    else:
        assert lm.n_layers == 6
        assert lm.layer_types == ["sliding_attention"] * 5 + ["full_attention"]
        assert lm.sliding_window == 16
    if arch == "gemma3-mm":
        assert lm.layers is lm.model.model.language_model.layers


def test_transformer_lens_bridge_matches(case):
    """TransformerLens boots the tiny folder; its logits and residual hooks equal ours."""
    from transformer_lens.model_bridge import TransformerBridge

    _, path, lm, batch = case
    bridge = TransformerBridge.boot_transformers(str(path), device="cpu", tokenizer=lm.tokenizer)
    row = batch.input_ids[:1, batch.content_start[0] :]
    eager = load_model(path, attn_implementation="eager", tokenizer=lm.tokenizer)
    with torch.no_grad():
        logits, cache = bridge.run_with_cache(row, names_filter=lambda name: name.endswith("hook_resid_post"))
        ours = eager.model(input_ids=row, output_hidden_states=True)
    torch.testing.assert_close(logits, ours.logits, rtol=0, atol=1e-4)
    for i in range(lm.n_layers - 1):
        torch.testing.assert_close(cache[f"blocks.{i}.hook_resid_post"], ours.hidden_states[i + 1], rtol=0, atol=1e-4)


def _state_digest(path) -> str:
    return hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()


def test_tiny_is_deterministic_and_cached(tmp_path):
    first = tiny("qwen2", seed=3, cache_dir=tmp_path / "a")
    again = tiny("qwen2", seed=3, cache_dir=tmp_path / "a")
    elsewhere = tiny("qwen2", seed=3, cache_dir=tmp_path / "b")
    other_seed = tiny("qwen2", seed=4, cache_dir=tmp_path / "a")
    assert first == again
    assert _state_digest(first) == _state_digest(elsewhere)
    assert _state_digest(first) != _state_digest(other_seed)
    assert not [p for p in (tmp_path / "a").iterdir() if p.name.startswith(".")]


def test_tiny_rejects_unknown_arch():
    with pytest.raises(ModelError, match="qwen2, gemma3, gemma3-mm"):
        tiny("llama")


def test_tiny_name_loads_through_load_model():
    lm = load_model("tiny-gemma3")
    assert lm.architecture == "Gemma3ForCausalLM"


def test_unsupported_architecture_lists_supported(tmp_path):
    LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, vocab_size=100, architectures=["LlamaForCausalLM"]).save_pretrained(tmp_path)
    with pytest.raises(ModelError) as error:
        load_model(tmp_path)
    for name in ADAPTERS:
        assert name in str(error.value)
    assert "LlamaForCausalLM" in str(error.value)


def test_missing_hub_id_offline_gives_clear_error():
    with pytest.raises(ModelError, match="hub id"):
        load_model("interp-nonexistent-org/no-such-model")


def test_dtype_resolution_and_bf16_load():
    assert resolve_dtype("bf16") is torch.bfloat16
    assert resolve_dtype(torch.float16) is torch.float16
    assert resolve_dtype(None) is (torch.bfloat16 if torch.cuda.is_available() else torch.float32)
    with pytest.raises(ModelError, match="dtype='int8'"):
        resolve_dtype("int8")
    lm = load_model(tiny("gemma3"), dtype="bf16")
    assert lm.dtype is torch.bfloat16
    ids = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        hidden0 = lm.model(input_ids=ids, output_hidden_states=True).hidden_states[0]
    # In bf16 HF rounds √d to bf16 before multiplying; lm.embed must do the same.
    torch.testing.assert_close(lm.embed(ids), hidden0, rtol=0, atol=0)
