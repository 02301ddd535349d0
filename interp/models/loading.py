"""`load_model`: a local folder, a hub id or a tiny test model → an `LM` in eval mode, in the
dtype asked for (bf16 on CUDA, fp32 on CPU by default), placed by accelerate's `device_map`."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch

from interp.errors import ModelError
from interp.models.adapters import ADAPTERS, LM, adapter_for, wrap
from interp.models.registry import REGISTRY, gguf_folder, model_folder
from interp.models.tiny import build_tiny

__all__ = ["FOLDER_EXTENSIONS", "NAMED_FOLDERS", "load_model", "resolve_dtype"]

NAMED_FOLDERS: dict[str, Callable[[], Path]] = {}
"""Extra model names → their folder, registered by higher layers (e.g. `interp.organisms`)."""
FOLDER_EXTENSIONS: dict[str, Callable[[LM, Path], None]] = {}
"""Marker file → what to install on a model loaded from a folder holding it (e.g. an
organism's planted mask, for `interp_organism.json`)."""


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
        raise ModelError(f"dtype={dtype!r} is not one of {sorted(_DTYPES)}") from None



def load_model(
    name_or_path: str | os.PathLike,
    dtype: str | torch.dtype | None = None,
    device_map: str | dict | None = None,
    attn_implementation: str = "sdpa",
    revision: str | None = None,
    trust_remote_code: bool = False,
    tokenizer: object | None = None,
    offload_folder: str | os.PathLike | None = None,
) -> LM:
    """Load a model and tokenizer from a local folder or a Hugging Face hub id.

    Args:
        name_or_path: a local folder (always works offline) or a hub id such as
            "google/gemma-3-27b-it" (needs the network or a populated HF cache), a registered
            pip-installed model ("gemma-3-270m", "qwen2.5-coder-0.5b-instruct"; see
            `interp.models.registry`), an organism ("organism-panl", "organism-cc"; see
            `interp.organisms`), a .gguf file (dequantised once and cached), or one of
            "tiny-qwen2", "tiny-gemma3", "tiny-gemma3-mm" for a random-weight test model.
        dtype: None → bf16 on CUDA, fp32 on CPU; or "bf16", "fp32", a torch.dtype.
        device_map: passed to `from_pretrained` (accelerate), e.g. "auto", "cuda:0" or a dict;
            None keeps the model on CPU, or on "cuda" when one is available.
        attn_implementation: "sdpa" (default) or "eager".
        revision: hub revision (branch, tag or commit).
        trust_remote_code: off unless you ask for it.
        tokenizer: an already-loaded tokenizer to use instead of loading the folder's.
        offload_folder: where accelerate keeps the weights of modules a device_map puts on "disk".

    Returns:
        An `LM` in eval mode.
    """
    import transformers
    from transformers import AutoConfig, AutoTokenizer

    name = str(name_or_path)
    if name.startswith("tiny-") and not Path(name).exists():
        name = str(build_tiny(name.removeprefix("tiny-")))
    elif name in REGISTRY:
        name = str(model_folder(name))
    elif name in NAMED_FOLDERS:
        name = str(NAMED_FOLDERS[name]())
    elif name.lower().endswith(".gguf"):
        name = str(gguf_folder(name))
    elif "/" not in name and not Path(name).exists():
        raise ModelError(
            f"unknown model {name!r}: give a registered name ({', '.join([*REGISTRY, *NAMED_FOLDERS])}), tiny-qwen2 / tiny-gemma3 / "
            "tiny-gemma3-mm, a local folder, a .gguf file, or a hub id such as google/gemma-3-27b-it (interp models lists them)"
        )
    torch_dtype = resolve_dtype(dtype)
    if device_map is None and torch.cuda.is_available():
        device_map = "cuda"
    source = "local folder" if Path(name).is_dir() else "hub id"
    try:
        config = AutoConfig.from_pretrained(name, revision=revision, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as error:
        raise ModelError(
            f"cannot load {name!r} as a {source}: {error}. A hub id needs the network "
            "(or a populated Hugging Face cache); check HF_HUB_OFFLINE and the id."
        ) from error
    architectures = list(getattr(config, "architectures", None) or [])
    if not architectures:
        raise ModelError(f"{name!r}: config.json names no architecture; supported: {', '.join(sorted(ADAPTERS))}")
    adapter = adapter_for(architectures[0])
    model_class = getattr(transformers, adapter.architecture)
    model = model_class.from_pretrained(
        name,
        dtype=torch_dtype,
        device_map=device_map,
        attn_implementation=attn_implementation,
        revision=revision,
        trust_remote_code=trust_remote_code,
        **({"offload_folder": str(offload_folder)} if offload_folder is not None else {}),
    )
    model.eval()
    if tokenizer is None:
        tokenizer = AutoTokenizer.from_pretrained(name, revision=revision, trust_remote_code=trust_remote_code)
    lm = wrap(model, tokenizer, name)
    for marker, install in FOLDER_EXTENSIONS.items():
        if (Path(name) / marker).exists():
            install(lm, Path(name))
    return lm
