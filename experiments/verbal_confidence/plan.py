"""`--dry-run` estimates of the verbal-confidence stages: the work each stage plans, for the
shared cost model of `interp.pipeline.plan`."""

from __future__ import annotations

import math
from dataclasses import asdict

from experiments.verbal_confidence.blocking import CATEGORICAL_EDGES, MINIMAL_EDGES
from experiments.verbal_confidence.config import TRIAL_SETS, VerbalConfidenceConfig
from interp.pipeline import Shape, Work, parse_layers

PROMPT_TOKENS = {"phase0": 230, "categorical": 280, "numeric": 150, "minimal": 110}
"""Typical prompt lengths with a chat template (our templates on TriviaQA)."""


def _layers(config: VerbalConfidenceConfig, shape: Shape, section: str, key: str = "layers") -> int:
    return len(parse_layers(getattr(getattr(config, section), key), shape.n_layers, f"{section}.{key}"))


def behaviour(config: VerbalConfidenceConfig, shape: Shape) -> list[Work]:
    spec, batch = config.behaviour, int(config.batch_size)
    n_all = sum(getattr(config.sets, name) for name in TRIAL_SETS)
    n_behaviour = config.sets.behaviour
    n_variants = sum(getattr(config.sets, name) for name in spec.variant_sets if name in TRIAL_SETS)
    extra = n_all + (n_variants if spec.minimal else 0) + (n_variants if spec.numeric else 0)
    decode = math.ceil(n_all / batch) * spec.max_new_tokens + (math.ceil(n_variants / batch) * spec.numeric_max_new_tokens if spec.numeric else 0)
    pilot = min(config.pilot.n, n_behaviour) * (2 if spec.minimal else 1)
    return [Work("behaviour", n_all, "phase0", extra_rows=extra + pilot, decode=decode, note="Phase 0 generation, pilot, Phase 1 readout, numeric and minimal variants")]


def capture(config: VerbalConfidenceConfig, shape: Shape) -> list[Work]:
    captured = config.sets.activation + config.sets.calibration
    note = f"{_layers(config, shape, 'capture')} layers x {len(config.capture.roles)} roles stored"
    return [Work("capture", captured, "categorical", note=note)]


def steering(config: VerbalConfidenceConfig, shape: Shape) -> list[Work]:
    s = config.steering
    trials, layers = s.n_test_high + s.n_test_low, _layers(config, shape, "steering")
    work = [Work("steering", trials, "categorical", layers, len(s.roles), 2 * len(s.alphas))]
    if s.numeric:
        numeric_roles = len([r for r in s.roles if r != "format_confidence_colon"])
        work.append(Work("steering (numeric)", trials, "numeric", layers, numeric_roles, 2 * len(s.alphas), extra_rows=config.sets.activation, note="+ the numeric prompt's capture"))
    return work


def patching(config: VerbalConfidenceConfig, shape: Shape) -> list[Work]:
    p = config.patching
    return [Work("patching", p.n_test, "categorical", _layers(config, shape, "patching"), len(p.roles), 1, extra_rows=p.n_test, note="+1 corrupted run per trial")]


def noising(config: VerbalConfidenceConfig, shape: Shape) -> list[Work]:
    z = config.noising
    return [Work("noising", z.n_test_high + z.n_test_low, "categorical", _layers(config, shape, "noising"), len(z.roles), 1)]


def swap(config: VerbalConfidenceConfig, shape: Shape) -> list[Work]:
    w = config.swap
    return [Work("swap", 4 * w.n_recipients, "categorical", _layers(config, shape, "swap"), len(w.roles), 1, note="4 regimes")]


def ood(config: VerbalConfidenceConfig, shape: Shape) -> list[Work]:
    o = config.ood
    return [Work("ood", 2 * o.n_trials, "categorical", 1, len(o.roles), 3, note="5 interventions + swap per role, measured at the layer and the next")]


def blocking(config: VerbalConfidenceConfig, shape: Shape) -> list[Work]:
    b = config.blocking
    centres = _layers(config, shape, "blocking", "centres")
    note = f"{b.width}-layer windows"
    return [
        Work("blocking (minimal)", b.n_minimal, "minimal", centres, len(MINIMAL_EDGES), 1, note=note),
        Work("blocking (categorical)", b.n_categorical, "categorical", centres, len(CATEGORICAL_EDGES), 1, note=note),
    ]


def probes(config: VerbalConfidenceConfig, shape: Shape) -> list[Work]:
    note = "CPU: 2 targets x 5-fold CV per (layer, role)"
    return [Work("probes", config.sets.activation, "categorical", _layers(config, shape, "probes"), len(config.probes.roles), note=note, gpu=False)]


def variance(config: VerbalConfidenceConfig, shape: Shape) -> list[Work]:
    return [Work("variance", config.sets.activation, "categorical", _layers(config, shape, "variance"), 1, note="CPU: 7 baselines x 3 ridge models", gpu=False)]


def notes(config: VerbalConfidenceConfig, shape: Shape) -> list[str]:
    """The trial sets, the batch size and the size of the activation store."""
    sets = ", ".join(f"{k} {v}" for k, v in asdict(config.sets).items())
    rows = config.sets.activation + config.sets.calibration
    width = 2 if str(config.capture.dtype).lower() in ("bf16", "bfloat16", "fp16", "float16") else 4
    store = rows * _layers(config, shape, "capture") * len(config.capture.roles) * shape.d_model * width / 1024**3
    return [f"disjoint trial sets (seed {config.seed}): {sets}; batch size {config.batch_size}", f"activation store: ~{store:.1f} GiB on disk"]
