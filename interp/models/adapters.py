"""Architecture adapters and the `LM` wrapper.

An `Adapter` says where an architecture keeps its parts (decoder layers, input embedding and its
scale, final norm, unembedding, the submodules whose outputs are the attention and MLP branches),
so that no other module has to know. `wrap` builds an `LM` around any loaded HF model of a
supported architecture.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from interp.errors import ModelError

__all__ = ["ADAPTERS", "LM", "Adapter", "adapter_for", "wrap"]


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
        raise ModelError(
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
