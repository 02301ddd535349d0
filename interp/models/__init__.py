"""Models: `load_model` (local folder, hub id, registered pip-installed model, .gguf file, tiny
test model) → `LM`, the architecture adapters
(Qwen2, Gemma 3 text, Gemma 3 multimodal used text-only), and tiny random-weight models of each
architecture for offline tests (`tiny`)."""

from interp.models.adapters import ADAPTERS, LM, Adapter, adapter_for, wrap
from interp.models.loading import load_model, resolve_dtype
from interp.models.registry import REGISTRY, RegisteredModel
from interp.models.tiny import TINY_ARCHS, build_tiny, tiny

__all__ = ["ADAPTERS", "LM", "REGISTRY", "TINY_ARCHS", "RegisteredModel", "Adapter", "adapter_for", "build_tiny", "load_model", "resolve_dtype", "tiny", "wrap"]
