"""Configuration of the error-detection pipeline (error_detection.md): typed sections over the
shared `PipelineConfig`, filled from YAML by `load_config` (every key and type checked). Stage 0
reuses the verbal-confidence sections it runs on (few_shot, pilot, behaviour)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from experiments.verbal_confidence.config import BehaviourSection, FewShotSection, PilotSection
from interp.pipeline import DataSection, Layers, PipelineConfig
from interp.pipeline import load_config as load_typed

__all__ = ["CAPTURE_ROLES", "ErrorDetectionConfig", "PROBE_ROLES", "load_config"]

CAPTURE_ROLES = ("question_third_token", "last_answer_token", "panl", "panl_plus_1", "panl_plus_9", "pl")
"""QTT, LAT, PANL, PANL+1, PANL+9 and PL of the verification prompt (§3.2)."""
PROBE_ROLES = ("question_third_token", "last_answer_token", "panl", "pl")
"""The probe positions of §6.3."""


@dataclass
class Sets:
    """Sizes of the disjoint, seeded trial sets: `trials` run through every stage; `examples` is
    the pool of worked examples for few-shot prompts."""

    trials: int = 8000
    examples: int = 0


@dataclass
class DatasetFilter:
    """MNLI: keep items of these gold labels only (the paper keeps neutral items, so the
    verification outcome stays variable); the rest get the status "excluded: label ..."."""

    mnli_labels: list[str] = field(default_factory=lambda: ["neutral"])
    mnli_top_up: str | None = None
    """Another MNLI file (e.g. validation-mismatched) whose items are appended when data.path holds
    fewer kept items than sets.trials (§8: neutral items topped up from validation-mismatched)."""


@dataclass
class AnswersSection:
    """Stage 0. `gold_share`: the share of trials (seeded draw) whose A1 slot holds the gold answer
    instead of the model's greedy one, scored by teacher forcing (ℓ̄ is the model's mean log-prob
    of the gold tokens) and rated in Phase 1 like any answer; column `a1_source` says which. Only
    for models that never answer correctly (random weights), so every analysis has both SDT
    classes; 0 for every real run, and the report states it when it is not."""

    gold_share: float = 0.0


@dataclass
class VerificationSection:
    """Stage 1: residuals at every layer of `layers` at `roles` of the verification prompt, in
    `dtype`, from the same forward that reads V and VLD at PL; `pilot` checks the Y/N readout
    against one-token greedy generation."""

    layers: Layers = "all"
    roles: list[str] = field(default_factory=lambda: list(CAPTURE_ROLES))
    dtype: str = "float32"


@dataclass
class CorrectionSection:
    """Stage 2: A2 generated greedily for `max_new_tokens`; the answer is the text up to the first
    newline (with `skip_blank_lines`, the first line that holds text: a base model opens A2 with
    a newline); `stop` strings end it early (a base model that runs on)."""

    max_new_tokens: int = 32
    stop: list[str] = field(default_factory=list)
    skip_blank_lines: bool = False


@dataclass
class ProbesSection:
    """§6.3: L2 logistic probes (C, `cv` folds) per (layer, role); the downstream tests use the
    PANL probe at `layer` (None: half the depth, rounded down — Gemma 3 27B: 31, the paper's 30
    is set in its config) and at the best CV layer of each target."""

    layers: Layers = "all"
    roles: list[str] = field(default_factory=lambda: list(PROBE_ROLES))
    cv: int = 5
    C: float = 0.001
    layer: int | None = None
    n_boot: int = 1000


@dataclass
class PIKSection:
    """§6.4: `n_samples` Phase-0 answers at `temperature` per question, gold-graded; P(IK) = the
    fraction correct; a ridge P(IK) probe at PANL (`alpha`; None: inner CV). `n_questions`
    samples a seeded subset of the answered questions (None: all; the others get the status
    "not sampled"): sampling runs one generate call per question."""

    enabled: bool = True
    n_questions: int | None = None
    n_samples: int = 20
    temperature: float = 1.0
    max_new_tokens: int = 24
    alpha: float | None = None


@dataclass
class FoilsSection:
    """§6.5: hard, easy and unrelated foils in A1's slot (seeded by `seed`; None: the run seed),
    verified and corrected like A1; `other_source` frames the foil as another source's answer;
    `n_questions` takes a seeded subset of the questions (None: all; the rest get a status)."""

    enabled: bool = True
    n_questions: int | None = None
    seed: int | None = None
    other_source: bool = False


@dataclass
class TransferSection:
    """§6.6: the PANL V and correctability probes of this run tested on another error-detection
    run's trials (e.g. MNLI), and the reverse, at the same layer; `run` is that run's folder
    (None: the stage records "skipped" and the report says so)."""

    run: str | None = None


@dataclass
class PatchingSection:
    """§6.7: `n_correct` A1-correct and `n_wrong` A1-wrong test trials; answer-embedding means
    from `n_calibration` disjoint trials; the clean residual restored at one (layer, role)."""

    layers: Layers = "all"
    roles: list[str] = field(default_factory=lambda: ["last_answer_token", "panl", "panl_plus_1", "panl_plus_9", "pl"])
    n_correct: int = 200
    n_wrong: int = 200
    n_calibration: int = 100


@dataclass
class NoisingSection:
    """§6.8: the residual replaced by the mean of a calibration set of `n_per_cell` trials from
    each SDT cell (hit, miss, false alarm, correct rejection), at PANL, LAT and both at the same
    layer, on `n_correct` + `n_wrong` test trials disjoint from the calibration set."""

    layers: Layers = "all"
    n_per_cell: int = 50
    n_correct: int = 200
    n_wrong: int = 200


@dataclass
class SteeringSection:
    """[ours] (not in the paper): ±α·v at `roles` of the verification prompt, v = mean(V = Y) −
    mean(V = N) of `n_vector` trials each, scaled to `fraction` of the mean residual norm, on
    `n_test` other verified trials."""

    enabled: bool = True
    layers: Layers = "all"
    roles: list[str] = field(default_factory=lambda: ["panl", "panl_plus_1"])
    alphas: list[float] = field(default_factory=lambda: [2, 5])
    fraction: float = 0.03
    n_vector: int = 50
    n_test: int = 200


@dataclass
class ErrorDetectionConfig(PipelineConfig):
    """Every setting of an error-detection run (see the YAML configs beside this file)."""

    strip_answer_punctuation: bool = False
    wording: str = "standard"
    data: DataSection = field(default_factory=DataSection)
    filter: DatasetFilter = field(default_factory=DatasetFilter)
    sets: Sets = field(default_factory=Sets)
    few_shot: FewShotSection = field(default_factory=FewShotSection)
    pilot: PilotSection = field(default_factory=PilotSection)
    behaviour: BehaviourSection = field(default_factory=lambda: BehaviourSection(numeric=False, minimal=False, variant_sets=[]))
    answers: AnswersSection = field(default_factory=AnswersSection)
    verification: VerificationSection = field(default_factory=VerificationSection)
    correction: CorrectionSection = field(default_factory=CorrectionSection)
    probes: ProbesSection = field(default_factory=ProbesSection)
    pik: PIKSection = field(default_factory=PIKSection)
    foils: FoilsSection = field(default_factory=FoilsSection)
    transfer: TransferSection = field(default_factory=TransferSection)
    patching: PatchingSection = field(default_factory=PatchingSection)
    noising: NoisingSection = field(default_factory=NoisingSection)
    steering: SteeringSection = field(default_factory=SteeringSection)


def load_config(path: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None) -> ErrorDetectionConfig:
    """`ErrorDetectionConfig` defaults merged with a YAML file and then `overrides`."""
    return load_typed(ErrorDetectionConfig, path, overrides)
