"""Typed pipeline configs: dataclass sections filled from YAML, every key and type checked.

A pipeline declares its config as nested dataclasses deriving from `PipelineConfig` (name,
seed, model, chat, batch size are shared by all). `load_config` merges a YAML file and then
overrides (same nesting) over the defaults: an unknown key, a mapping where a value belongs, or a
value of the wrong type is a `ConfigError` that names the key's full path. Layer lists accept
"all", an int, a list of ints, or a string such as "0-27" or "0,10,15,20-35" (`parse_layers`,
the one parser of layer specs). "${INTERP_SHARED}" in a path is the shared/ folder beside the
repository unless the variable is set.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, Union

import yaml

from interp.errors import ConfigError

__all__ = [
    "REPO",
    "DataSection",
    "Layers",
    "ModelSection",
    "PipelineConfig",
    "config_dict",
    "from_mapping",
    "load_config",
    "parse_layers",
    "resolve_path",
]

REPO = Path(__file__).resolve().parents[2]

Layers = Union[str, int, list[int]]
"""A layer spec: "all", an int, a list of ints, or "0-27" / "0,10,20-35"."""

C = TypeVar("C", bound="PipelineConfig")


@dataclass
class ModelSection:
    """Which model to load and how; n_layers / d_model / n_params_billion give the shape
    `--dry-run` uses when the model's config cannot be read offline."""

    name: str = "tiny-qwen2"
    dtype: str | None = None
    device_map: str | None = None
    attn_implementation: str = "sdpa"
    revision: str | None = None
    n_layers: int | None = None
    d_model: int | None = None
    n_params_billion: float | None = None


@dataclass
class DataSection:
    """Where the trials come from: a local file or folder (always works) or the hub when `hub` is
    on; `split` for datasets kept in split folders (MMLU)."""

    dataset: str = "triviaqa"
    path: str | None = None
    hub: bool = True
    limit: int | None = None
    split: str = "test"


@dataclass
class PipelineConfig:
    """What every pipeline config holds. `stages` are the stages a run takes when none are given
    on the command line (None: all); `config_file` records where it was read from; `incremental`
    switches intervention sweeps between incremental forwards (rerun only what a cell changes)
    and a full forward per cell — the tables agree within 1e-4. None of the three is part of the
    run's identity."""

    name: str = "unnamed"
    description: str = ""
    seed: int = 0
    model: ModelSection = field(default_factory=ModelSection)
    chat: bool = True
    batch_size: int = 8
    incremental: bool = True
    stages: list[str] | None = None
    config_file: str | None = None


def parse_layers(spec: Any, n_layers: int | None = None, what: str = "layers") -> list[int]:
    """A layer spec → sorted layers, checked against the model's depth when `n_layers` is given.

    "all" → every layer (needs n_layers); an int; a list of ints; "0-27" or "0,5,10-12".
    """
    if isinstance(spec, bool):
        raise ConfigError(f"{what}: cannot read layers {spec!r} (use all, a list, or e.g. 0,10,20-35)")
    if spec == "all":
        if n_layers is None:
            raise ConfigError(f"{what}: 'all' needs the model's depth")
        return list(range(n_layers))
    if isinstance(spec, int):
        layers = {spec}
    elif isinstance(spec, (list, tuple)):
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in spec):
            raise ConfigError(f"{what}: layers must be integers, got {list(spec)!r}")
        layers = set(spec)
    elif isinstance(spec, str):
        layers = set()
        for part in spec.split(","):
            match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
            if not match or (match.group(2) is not None and int(match.group(2)) < int(match.group(1))):
                raise ConfigError(f"{what}: cannot read layers {spec!r} (use all, a list, or e.g. 0,10,20-35)")
            low, high = int(match.group(1)), int(match.group(2) or match.group(1))
            layers.update(range(low, high + 1))
    else:
        raise ConfigError(f"{what}: cannot read layers {spec!r}")
    if not layers:
        raise ConfigError(f"{what}: no layers in {spec!r}")
    if n_layers is not None:
        outside = sorted(x for x in layers if not 0 <= x < n_layers)
        if outside:
            raise ConfigError(f"{what}: layers {outside} are outside the model's 0-{n_layers - 1}")
    return sorted(layers)


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def _check(value: Any, annotation: Any, where: str) -> Any:
    """`value` checked against a type annotation (dataclasses recursed into); returns the value
    to store (a dataclass instance for a section, else the value as given)."""
    if annotation is Any:
        return value
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return from_mapping(annotation, value, where)
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        errors = []
        for option in typing.get_args(annotation):
            try:
                return _check(value, option, where)
            except ConfigError as error:
                errors.append(str(error))
        allowed = " or ".join(_type_name(a) for a in typing.get_args(annotation))
        raise ConfigError(f"{where}: expected {allowed}, got {value!r}")
    if annotation is type(None):
        if value is not None:
            raise ConfigError(f"{where}: expected null, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(annotation) or (Any,)
        return [_check(v, item, f"{where}[{k}]") for k, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        _, item = typing.get_args(annotation) or (str, Any)
        return {str(k): _check(v, item, f"{where}.{k}") for k, v in value.items()}
    if origin is typing.Literal:
        if value not in typing.get_args(annotation):
            raise ConfigError(f"{where}: expected one of {list(typing.get_args(annotation))}, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if annotation in (str, bool):
        if not isinstance(value, annotation):
            raise ConfigError(f"{where}: expected {annotation.__name__}, got {value!r}")
        return value
    return value


def from_mapping(cls: type, data: Mapping[str, Any], where: str, base: Any = None) -> Any:
    """An instance of dataclass `cls` from a mapping, over `base` (an instance) or the defaults;
    nested sections merge key by key."""
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = [key for key in data if key not in known]
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    values = {}
    for f in dataclasses.fields(cls):
        current = getattr(base, f.name) if base is not None else _default(f)
        if f.name not in data:
            values[f.name] = current
            continue
        value = data[f.name]
        if dataclasses.is_dataclass(hints[f.name]) and isinstance(value, Mapping):
            values[f.name] = from_mapping(hints[f.name], value, f"{where}.{f.name}", current)
        else:
            values[f.name] = _check(value, hints[f.name], f"{where}.{f.name}")
    return cls(**values)


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    raise ConfigError(f"config key {f.name!r} has no default and must be given")


def load_config(cls: type[C], path: str | os.PathLike | None = None, overrides: Mapping[str, Any] | None = None) -> C:
    """The defaults of `cls`, merged with a YAML file and then with `overrides` (same nesting).

    A relative path that does not exist from the working directory is looked up from the
    repository root.

    Raises:
        ConfigError: on a missing file, a file that is not a mapping, an unknown key or a value
            of the wrong type (each named with its path).
    """
    config = cls()
    if path is not None:
        path = Path(path)
        if not path.exists() and not path.is_absolute() and (REPO / path).exists():
            path = REPO / path
        if not path.exists():
            raise ConfigError(f"config {path} does not exist")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML ({error})") from None
        if not isinstance(loaded, Mapping):
            raise ConfigError(f"{path}: a config must be a mapping, got {type(loaded).__name__}")
        config = from_mapping(cls, loaded, str(path), config)
        config.config_file = str(path)
    if overrides:
        config = from_mapping(cls, overrides, "overrides", config)
        config.config_file = None
    return config


def config_dict(config: Any) -> dict[str, Any]:
    """The config as plain nested dicts (what config.json holds)."""
    return dataclasses.asdict(config)


def resolve_path(raw: str | None) -> Path | None:
    """A data path with ${INTERP_SHARED} expanded (default: shared/ beside the repository);
    relative paths are taken from the repository root."""
    if raw is None:
        return None
    shared = os.environ.get("INTERP_SHARED", str(REPO.parent / "shared"))
    path = Path(os.path.expandvars(str(raw).replace("${INTERP_SHARED}", shared)))
    return path if path.is_absolute() else REPO / path
