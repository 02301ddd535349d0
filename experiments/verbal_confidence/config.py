"""Configuration of the verbal-confidence pipeline: typed sections over the shared
`PipelineConfig`, filled from YAML by `load_config` (every key and type checked)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from interp.errors import ConfigError
from interp.pipeline import DataSection, Layers, PipelineConfig
from interp.pipeline import load_config as load_typed
from interp.tasks import CONFIDENCE_CLASSES

__all__ = ["SINGLE_TOKEN_ROLES", "TRIAL_SETS", "VerbalConfidenceConfig", "load_config"]

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
LABELS = tuple(c.label for c in CONFIDENCE_CLASSES)
CAUSAL_ROLES = ("panl", "confidence_colon", "panl_plus_1")


def _known_classes(classes: list[str], where: str) -> None:
    unknown = sorted(set(classes) - set(LABELS))
    if unknown:
        raise ConfigError(f"{where}: unknown confidence classes {unknown}; the classes are {list(LABELS)}")


TRIAL_SETS = ("behaviour", "activation", "calibration")
"""The sets whose trials run through Phase 0 (the `examples` set only supplies worked examples)."""


@dataclass
class Sets:
    """Sizes of the disjoint, seeded trial sets (in this order); `examples` is the pool of worked
    examples for few-shot prompts."""

    behaviour: int = 200
    activation: int = 300
    calibration: int = 100
    examples: int = 0


@dataclass
class FewShotSection:
    """Worked examples (for base models), drawn from `sets.examples`: how many the Phase-0 prompt
    and the readout prompts (categorical, numeric, minimal) show."""

    phase0: int = 0
    readout: int = 0


@dataclass
class PilotSection:
    """The pilot check of the one-pass readouts: on `n` behaviour trials the readout's argmax must
    equal greedy generation's first token at least `min_agreement` of the time."""

    n: int = 100
    min_agreement: float = 0.99


@dataclass
class BehaviourSection:
    """Phase 0 generation length and stop strings (e.g. a blank line for a base model that runs on),
    and whether to run the numeric 0–100 and minimal 0–9 variants, on which trial sets."""

    max_new_tokens: int = 48
    stop: list[str] = field(default_factory=list)
    numeric: bool = True
    numeric_max_new_tokens: int = 4
    minimal: bool = True
    variant_sets: list[str] = field(default_factory=lambda: ["behaviour", "activation"])


@dataclass
class CaptureSection:
    """What the activation store keeps: layers × roles of the Phase-1 prompt, in `dtype`."""

    layers: Layers = "all"
    roles: list[str] = field(default_factory=lambda: list(SINGLE_TOKEN_ROLES))
    dtype: str = "float32"


@dataclass
class SelectionSection:
    """The top-3 and bottom-3 classes that define high- and low-confidence trials; test and
    calibration trials are drawn at random within them, and a class that holds too few is filled
    in by rank (counted in the report) unless `allow_fill_ins` is off."""

    high_classes: list[str] = field(default_factory=lambda: ["Highly likely", "Very good chance", "Almost certain"])
    low_classes: list[str] = field(default_factory=lambda: ["No chance", "Really unlikely", "Chances are slight"])
    allow_fill_ins: bool = True

    def __post_init__(self) -> None:
        _known_classes(self.high_classes, "selection.high_classes")
        _known_classes(self.low_classes, "selection.low_classes")


@dataclass
class CausalSection:
    """Where an intervention stage acts: its layers and roles (PANL, CC and the PANL+1 control)."""

    layers: Layers = "all"
    roles: list[str] = field(default_factory=lambda: list(CAUSAL_ROLES))


@dataclass
class SteeringSection(CausalSection):
    """Steering (§6.1): v from `n_vector` trials of each vector class, scaled to `fraction` of the
    residual norm, applied with each α to high and low test trials; `numeric` steers the
    numeric 0–100 prompt as well (paper: 124 trials)."""

    roles: list[str] = field(default_factory=lambda: ["panl", "confidence_colon", "panl_plus_1", "format_confidence_colon", "answer_first_token", "last_answer_token", "answer_colon"])
    alphas: list[float] = field(default_factory=lambda: [2, 5])
    fraction: float = 0.03
    vector_high_class: str = "Almost certain"
    vector_low_class: str = "No chance"
    n_vector: int = 25
    require_correct: bool = True
    n_test_high: int = 100
    n_test_low: int = 100
    numeric: bool = True

    def __post_init__(self) -> None:
        _known_classes([self.vector_high_class, self.vector_low_class], "steering.vector_high_class / vector_low_class")


@dataclass
class PatchingSection(CausalSection):
    """Corruption + patching (§6.2): `n_test` top-3 test trials; the answer-embedding means come
    from a calibration set of `n_calibration_high` + `n_calibration_low` trials, also the
    noising mean; `ac_variant` adds the run with the answer colon corrupted too, AC or PANL
    restored."""

    n_test: int = 200
    n_calibration_high: int = 50
    n_calibration_low: int = 50
    ac_variant: bool = True


@dataclass
class NoisingSection(CausalSection):
    """Noising (§6.3): the residual replaced by the calibration mean on high and low test trials."""

    n_test_high: int = 200
    n_test_low: int = 200


@dataclass
class SwapSection(CausalSection):
    """Swap (§6.4): `n_recipients` per regime, donors matched in `n_bins` quantile bins of question
    and answer length; a pool smaller than `min_pool` is filled by rank."""

    n_recipients: int = 400
    n_bins: int = 10
    min_pool: int = 25


@dataclass
class OODSection:
    """OOD check (§6.5): every intervention at `layer` (default 40% of the depth) and each of
    `roles`, on `n_trials` activation trials, measured by forward passes at that layer and the
    next (steering at `alpha`), against `n_pairs` random pairs of clean trials."""

    layer: int | None = None
    roles: list[str] = field(default_factory=lambda: list(CAUSAL_ROLES))
    alpha: float = 5
    n_trials: int = 100
    n_pairs: int = 1000


@dataclass
class BlockingSection:
    """Attention blocking (§6.9): windows of `width` layers centred on `centres`."""

    centres: Layers = "all"
    width: int = 12
    n_minimal: int = 500
    n_categorical: int = 500


@dataclass
class ProbesSection:
    """Probes (§6.6): correctness (logistic, L2 strength C) and confidence (ridge) per layer and
    role (every class token among them); the PANL correctness probe again for each C of
    `c_grid` (the sensitivity sweep), and confidence at PANL / PANL+1 with AC's ridge α."""

    layers: Layers = "all"
    roles: list[str] = field(
        default_factory=lambda: ["panl", "panl_plus_1", "confidence_colon", "format_confidence_colon", "question_third_token", "answer_colon", *(f"class_token_{k}" for k in range(1, 11))]
    )
    cv: int = 5
    C: float = 0.001
    c_grid: list[float] = field(default_factory=lambda: [1e-4, 1e-3, 1e-2, 1e-1, 1.0])


@dataclass
class VarianceSection:
    """Variance partitioning (§6.8): ridge (α = alpha) on `role` activations vs the log-prob baselines."""

    layers: Layers = "all"
    role: str = "panl"
    alpha: float = 1.0
    cv: int = 5


@dataclass
class VerbalConfidenceConfig(PipelineConfig):
    """Every setting of a verbal-confidence run (see the YAML configs beside this file)."""

    strip_answer_punctuation: bool = False
    wording: str = "standard"
    """"standard": the paper-style prompts; "compact": the one-line wording of the organisms
    (`CompactPhase0Template`, `CompactCategoricalTemplate`; no numeric or minimal variant)."""
    planted: str | None = None
    """On an organism, its planted mechanism ("panl" or "cc"): the report then checks every
    analysis against the recovery table (`experiments.verbal_confidence.recovery`)."""
    data: DataSection = field(default_factory=DataSection)
    sets: Sets = field(default_factory=Sets)
    few_shot: FewShotSection = field(default_factory=FewShotSection)
    pilot: PilotSection = field(default_factory=PilotSection)
    behaviour: BehaviourSection = field(default_factory=BehaviourSection)
    capture: CaptureSection = field(default_factory=CaptureSection)
    selection: SelectionSection = field(default_factory=SelectionSection)
    steering: SteeringSection = field(default_factory=SteeringSection)
    patching: PatchingSection = field(default_factory=PatchingSection)
    noising: NoisingSection = field(default_factory=NoisingSection)
    swap: SwapSection = field(default_factory=SwapSection)
    ood: OODSection = field(default_factory=OODSection)
    blocking: BlockingSection = field(default_factory=BlockingSection)
    probes: ProbesSection = field(default_factory=ProbesSection)
    variance: VarianceSection = field(default_factory=VarianceSection)


def load_config(path: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None) -> VerbalConfidenceConfig:
    """`VerbalConfidenceConfig` defaults merged with a YAML file and then `overrides`."""
    return load_typed(VerbalConfidenceConfig, path, overrides)
