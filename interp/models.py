"""Model loading and architecture adapters.

`load_model` returns an `LM`: the Hugging Face model plus the handful of parts every
experiment needs (decoder layers, input embedding and its scale, final norm, unembedding),
found through a per-architecture `Adapter`, so that no other module has to know where an
architecture keeps its layers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

__all__ = ["LM", "Adapter", "ADAPTERS", "load_model", "resolve_dtype", "tiny", "wrap"]


@dataclass(frozen=True)
class Adapter:
    """Where an architecture keeps its parts.

    text_model: model → the decoder stack module (has `.layers`, `.embed_tokens`, `.norm`).
    scales_embedding: whether the decoder multiplies token embeddings by √d_model (Gemma).
    attn_out, mlp_out: names of the submodule of a decoder layer whose output is what the
        attention / MLP branch adds to the residual (Gemma: the post-norms after each branch).
    """

    architecture: str
    text_model: Callable[[nn.Module], nn.Module]
    scales_embedding: bool = False
    multimodal: bool = False
    attn_out: str = "self_attn"
    mlp_out: str = "mlp"


ADAPTERS: dict[str, Adapter] = {
    "Qwen2ForCausalLM": Adapter("Qwen2ForCausalLM", lambda m: m.model),
    "Gemma3ForCausalLM": Adapter(
        "Gemma3ForCausalLM",
        lambda m: m.model,
        scales_embedding=True,
        attn_out="post_attention_layernorm",
        mlp_out="post_feedforward_layernorm",
    ),
    "Gemma3ForConditionalGeneration": Adapter(
        "Gemma3ForConditionalGeneration",
        lambda m: m.model.language_model,
        scales_embedding=True,
        multimodal=True,
        attn_out="post_attention_layernorm",
        mlp_out="post_feedforward_layernorm",
    ),
}

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype:
    """`None` → bf16 on a CUDA machine, fp32 otherwise; strings like "bf16" or "float32"."""
    if dtype is None:
        return torch.bfloat16 if torch.cuda.is_available() else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return _DTYPES[str(dtype).lower()]
    except KeyError:
        raise ValueError(f"dtype={dtype!r} is not one of {sorted(_DTYPES)}") from None


@dataclass
class LM:
    """A loaded language model with its parts named.

    Attributes:
        model: the Hugging Face model (for Gemma 3 multimodal, the whole wrapper).
        tokenizer: its tokenizer.
        architecture: the HF class name, e.g. "Gemma3ForConditionalGeneration".
        layers: the decoder layers; the residual at layer ℓ is the output of `layers[ℓ]`.
        embed_tokens: the input embedding module (for Gemma it scales its output itself).
        embed_scale: factor the decoder applies to raw embedding rows (√d_model for Gemma, else 1).
        final_norm: the norm applied after the last layer, before the unembedding.
        lm_head: the unembedding.
        layer_types: per layer, "full_attention" or "sliding_attention".
        sliding_window: the window of sliding layers, or None.
    """

    model: nn.Module
    tokenizer: object
    architecture: str
    name_or_path: str
    layers: nn.ModuleList
    embed_tokens: nn.Embedding
    embed_scale: float
    final_norm: nn.Module
    lm_head: nn.Module
    text_config: object
    adapter: Adapter
    layer_types: list[str] = field(default_factory=list)
    sliding_window: int | None = None

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def d_model(self) -> int:
        return int(self.text_config.hidden_size)

    @property
    def device(self) -> torch.device:
        """Device of the input embedding, where inputs must go."""
        return self.embed_tokens.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.embed_tokens.weight.dtype

    @property
    def embedding_weight(self) -> torch.Tensor:
        """Raw (unscaled) embedding matrix [vocab_rows, d_model]."""
        return self.embed_tokens.weight

    def branch_output(self, layer: int, branch: str) -> nn.Module:
        """The submodule of decoder layer `layer` whose output the "attn" or "mlp" branch adds
        to the residual stream."""
        name = {"attn": self.adapter.attn_out, "mlp": self.adapter.mlp_out}[branch]
        return getattr(self.layers[layer], name)

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Token embeddings as the first decoder layer sees them [batch, seq, d_model].

        Applies the adapter's scale in the weight dtype, exactly as the HF decoder does
        (in bf16 Gemma's √d rounds, e.g. √3072 → 55.5), so replaced embeddings stay exact.
        """
        rows = self.embedding_weight[input_ids.to(self.device)]
        if self.embed_scale == 1.0:
            return rows
        return rows * torch.tensor(self.embed_scale, dtype=rows.dtype, device=rows.device)

    def __repr__(self) -> str:
        return (
            f"LM({self.architecture}, {self.name_or_path!r}, n_layers={self.n_layers}, "
            f"d_model={self.d_model}, dtype={self.dtype}, device={self.device})"
        )


def adapter_for(architecture: str) -> Adapter:
    """The adapter of an HF architecture name; a clear error lists the supported ones."""
    try:
        return ADAPTERS[architecture]
    except KeyError:
        raise ValueError(
            f"architecture {architecture!r} is not supported; supported: {', '.join(sorted(ADAPTERS))}"
        ) from None


def wrap(model: nn.Module, tokenizer: object, name_or_path: str = "") -> LM:
    """Build an `LM` around an already-loaded HF model."""
    architecture = type(model).__name__
    adapter = adapter_for(architecture)
    text = adapter.text_model(model)
    text_config = model.config.get_text_config()
    scale = float(text_config.hidden_size) ** 0.5 if adapter.scales_embedding else 1.0
    module_scale = float(getattr(text.embed_tokens, "scalar_embed_scale", 1.0))
    if abs(module_scale - scale) > 1e-6 * scale:
        raise RuntimeError(
            f"{architecture}: embedding scale {module_scale} in the model differs from the adapter's {scale}"
        )
    return LM(
        model=model,
        tokenizer=tokenizer,
        architecture=architecture,
        name_or_path=str(name_or_path),
        layers=text.layers,
        embed_tokens=text.embed_tokens,
        embed_scale=scale,
        final_norm=text.norm,
        lm_head=model.get_output_embeddings(),
        text_config=text_config,
        adapter=adapter,
        layer_types=list(getattr(text_config, "layer_types", None) or ["full_attention"] * len(text.layers)),
        sliding_window=getattr(text_config, "sliding_window", None)
        if "sliding_attention" in (getattr(text_config, "layer_types", None) or [])
        else None,
    )


def load_model(
    name_or_path: str | os.PathLike,
    dtype: str | torch.dtype | None = None,
    device_map: str | dict | None = None,
    attn_implementation: str = "sdpa",
    revision: str | None = None,
    trust_remote_code: bool = False,
    tokenizer: object | None = None,
) -> LM:
    """Load a model and tokenizer from a local folder or a Hugging Face hub id.

    Args:
        name_or_path: a local folder (always works offline) or a hub id such as
            "google/gemma-3-27b-it" (needs the network or a populated HF cache), or one of
            "tiny-qwen2", "tiny-gemma3", "tiny-gemma3-mm" for a random-weight test model.
        dtype: None → bf16 on CUDA, fp32 on CPU; or "bf16", "fp32", a torch.dtype.
        device_map: passed to `from_pretrained` (accelerate), e.g. "auto", "cuda:0" or a dict;
            None keeps the model on CPU, or on "cuda" when one is available.
        attn_implementation: "sdpa" (default) or "eager".
        revision: hub revision (branch, tag or commit).
        trust_remote_code: off unless you ask for it.
        tokenizer: an already-loaded tokenizer to use instead of loading the folder's.

    Returns:
        An `LM` in eval mode.
    """
    import transformers
    from transformers import AutoConfig, AutoTokenizer

    name = str(name_or_path)
    if name.startswith("tiny-") and not Path(name).exists():
        name = str(tiny(name.removeprefix("tiny-")))
    torch_dtype = resolve_dtype(dtype)
    if device_map is None and torch.cuda.is_available():
        device_map = "cuda"
    source = "local folder" if Path(name).is_dir() else "hub id"
    try:
        config = AutoConfig.from_pretrained(name, revision=revision, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as error:
        raise OSError(
            f"cannot load {name!r} as a {source}: {error}. A hub id needs the network "
            "(or a populated Hugging Face cache); check HF_HUB_OFFLINE and the id."
        ) from error
    architectures = list(getattr(config, "architectures", None) or [])
    if not architectures:
        raise ValueError(f"{name!r}: config.json names no architecture; supported: {', '.join(sorted(ADAPTERS))}")
    adapter = adapter_for(architectures[0])
    model_class = getattr(transformers, adapter.architecture)
    model = model_class.from_pretrained(
        name,
        dtype=torch_dtype,
        device_map=device_map,
        attn_implementation=attn_implementation,
        revision=revision,
        trust_remote_code=trust_remote_code,
    )
    model.eval()
    if tokenizer is None:
        tokenizer = AutoTokenizer.from_pretrained(name, revision=revision, trust_remote_code=trust_remote_code)
    return wrap(model, tokenizer, name)


def tiny(arch: str, tokenizer: str | os.PathLike | None = None, seed: int = 0, cache_dir: str | os.PathLike | None = None) -> Path:
    """Folder of a tiny random-weight model of a real architecture (built once, then cached).

    See `interp.tiny.build_tiny`; arch is one of "qwen2", "gemma3", "gemma3-mm".
    """
    from interp.tiny import build_tiny

    return build_tiny(arch, tokenizer=tokenizer, seed=seed, cache_dir=cache_dir)

