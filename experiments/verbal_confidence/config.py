"""Configuration of the verbal-confidence pipeline: YAML files merged over `DEFAULTS`.

Every key of a config file must be one of `DEFAULTS` (a misspelt key is an error that names it).
Layer lists accept "all", a list of ints, or a string such as "0-27" or "0,10,15,20-35";
"${INTERP_SHARED}" in a path is the shared/ folder beside the repository unless the variable is set.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = ["DEFAULTS", "STAGES", "load_config", "resolve_layers", "data_path"]

REPO = Path(__file__).resolve().parents[2]

STAGES = ("behaviour", "capture", "steering", "patching", "noising", "swap", "ood", "blocking", "probes", "variance")
"""Stages in run order; each reads what earlier ones wrote."""

SINGLE_TOKEN_ROLES = (
    "panl",
    "panl_plus_1",
    "confidence_colon",
    "format_confidence_colon",
    "answer_first_token",
    "last_answer_token",
    "answer_colon",
    "question_third_token",
    *(f"class_token_{k}" for k in range(1, 11)),
)

DEFAULTS: dict[str, Any] = {
    "name": "unnamed",
    "description": "",
    "seed": 0,
    "model": {
        "name": "tiny-qwen2",
        "dtype": None,
        "device_map": None,
        "attn_implementation": "sdpa",
        "revision": None,
        # Shape used by --dry-run when the model's config cannot be read offline.
        "n_layers": None,
        "d_model": None,
        "n_params_billion": None,
    },
    "chat": True,
    "strip_answer_punctuation": True,
    "batch_size": 8,
    "data": {"dataset": "triviaqa", "path": None, "hub": True, "limit": None},
    "sets": {"behaviour": 200, "activation": 300, "calibration": 100},
    "behaviour": {"max_new_tokens": 48, "numeric": True, "numeric_max_new_tokens": 4, "minimal": True},
    "capture": {"layers": "all", "roles": list(SINGLE_TOKEN_ROLES), "dtype": "float32"},
    "selection": {
        "high_classes": ["Highly likely", "Very good chance", "Almost certain"],
        "low_classes": ["No chance", "Really unlikely", "Chances are slight"],
    },
    "steering": {
        "layers": "all",
        "roles": ["panl", "confidence_colon", "panl_plus_1", "format_confidence_colon", "answer_first_token", "last_answer_token", "answer_colon"],
        "alphas": [2, 5],
        "fraction": 0.03,
        "vector_high_class": "Almost certain",
        "vector_low_class": "No chance",
        "n_vector": 25,
        "require_correct": True,
        "n_test_high": 100,
        "n_test_low": 100,
    },
    "patching": {"layers": "all", "roles": ["panl", "confidence_colon", "panl_plus_1"], "n_test": 200, "n_calibration_high": 50, "n_calibration_low": 50},
    "noising": {"layers": "all", "roles": ["panl", "confidence_colon", "panl_plus_1"], "n_test_high": 200, "n_test_low": 200},
    "swap": {"layers": "all", "roles": ["panl", "confidence_colon", "panl_plus_1"], "n_recipients": 400, "n_bins": 10, "min_pool": 25},
    "ood": {"layer": None, "alpha": 5, "n_pairs": 1000},
    "blocking": {
        "centres": "all",
        "width": 12,
        "n_minimal": 500,
        "n_categorical": 500,
    },
    "probes": {"layers": "all", "roles": ["panl", "panl_plus_1", "confidence_colon", "format_confidence_colon", "question_third_token", "answer_colon", "class_token_1", "class_token_10"], "cv": 5, "C": 0.001},
    "variance": {"layers": "all", "role": "panl", "alpha": 1.0, "cv": 5},
}


def _merge(base: dict, override: Mapping, where: str) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if key not in base:
            raise ValueError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(base))})")
        if isinstance(base[key], dict):
            if not isinstance(value, Mapping):
                raise ValueError(f"{where}.{key}: expected a mapping, got {value!r}")
            merged[key] = _merge(base[key], value, f"{where}.{key}")
        else:
            merged[key] = value
    return merged


def load_config(path: str | os.PathLike | None = None, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`DEFAULTS` merged with a YAML file and then with `overrides` (same nesting).

    Raises:
        ValueError: on an unknown key (named with its path) or a file that is not a mapping.
        FileNotFoundError: if `path` does not exist.
    """
    config = copy.deepcopy(DEFAULTS)
    if path is not None:
        path = Path(path)
        if not path.exists() and not path.is_absolute() and (REPO / path).exists():
            path = REPO / path
        if not path.exists():
            raise FileNotFoundError(f"config {path} does not exist")
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, Mapping):
            raise ValueError(f"{path}: a config must be a mapping, got {type(loaded).__name__}")
        config = _merge(config, loaded, str(path))
        config["config_file"] = str(path)
    if overrides:
        config = _merge({**config, "config_file": None}, overrides, "overrides")
    return config


def resolve_layers(spec: Any, n_layers: int, what: str) -> list[int]:
    """"all" → every layer; ints, lists and "0,10,20-35" strings → a sorted list, checked against
    the model's depth."""
    if spec == "all":
        return list(range(n_layers))
    if isinstance(spec, int):
        layers = {spec}
    elif isinstance(spec, (list, tuple)):
        layers = {int(x) for x in spec}
    elif isinstance(spec, str):
        layers = set()
        for part in spec.split(","):
            match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
            if not match:
                raise ValueError(f"{what}: cannot read layers {spec!r} (use all, a list, or e.g. 0,10,20-35)")
            low, high = int(match.group(1)), int(match.group(2) or match.group(1))
            layers.update(range(low, high + 1))
    else:
        raise ValueError(f"{what}: cannot read layers {spec!r}")
    outside = sorted(x for x in layers if not 0 <= x < n_layers)
    if outside:
        raise ValueError(f"{what}: layers {outside} are outside the model's 0-{n_layers - 1}")
    return sorted(layers)


def data_path(config: Mapping[str, Any]) -> Path | None:
    """The data file with ${INTERP_SHARED} expanded (default: shared/ beside the repository)."""
    raw = config["data"]["path"]
    if raw is None:
        return None
    shared = os.environ.get("INTERP_SHARED", str(REPO.parent / "shared"))
    path = Path(os.path.expandvars(str(raw).replace("${INTERP_SHARED}", shared)))
    return path if path.is_absolute() else REPO / path
