"""Configuration of the abstention pipeline (abstention.md): typed sections over the shared
`PipelineConfig`, filled from YAML by `load_config` (every key and type checked)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from interp.pipeline import DataSection, Layers, PipelineConfig
from interp.pipeline import load_config as load_typed

__all__ = ["AbstentionConfig", "load_config"]


@dataclass
class Sets:
    """Disjoint, seeded item sets: `calibration` fits the temperature; `test` runs Phases 1–4."""

    calibration: int = 1000
    test: int = 1000


@dataclass
class ItemsSection:
    """How MCQ items are made: from a released file (data.dataset "mcq": its foil kinds kept) or
    from TriviaQA rows with typed foils from other items' gold answers (similar = nearest
    same-type answer by `encoder` cosine, dissimilar = same type beyond the median distance,
    unrelated = another type); `seed` orders the options per item (None: the run seed)."""

    encoder: str = "minilm"
    seed: int | None = None


@dataclass
class PilotSection:
    """The option readout at AC checked against one-token greedy generation on `n` items."""

    n: int = 100
    min_agreement: float = 0.99


@dataclass
class Phase1Section:
    """Calibration of the 4-way readout: ECE with `ece_bins` equal-width bins, the binned
    confidence–error correlation with `r_bins` bins (r(12) in the paper: 14 bins)."""

    ece_bins: int = 10
    r_bins: int = 14


@dataclass
class ControlsSection:
    """Phase-2 predictors besides confidence: difficulty D from `n_permutations` option orders of
    the studied model (flagged circular; 0: off, or a released `difficulty` column), the RAG score
    R from BM25 top-`rag_k` passages of a local `corpus` (None: R is skipped with a status, unless
    a released `rag` column exists), E = `n_components` PCs of question embeddings."""

    n_permutations: int = 20
    corpus: str | None = None
    rag_k: int = 5
    n_components: int = 10


@dataclass
class SteeringSection:
    """Phase 3 (§6.4): v = mean(H) − mean(L) of Phase-2 AC residuals of `n_vector` high- and low-
    margin items from the top / bottom `pool` (no option above `max_option_share` of choices),
    items outside the `n_test` steering test items; scaled to `fraction` of the mean norm; each α
    at one layer of `layers` at a time."""

    layers: Layers = "30-40"
    alphas: list[float] = field(default_factory=lambda: [-2, -1.5, -1, -0.5, 0.5, 1, 1.5, 2])
    fraction: float = 0.03
    n_vector: int = 25
    pool: int = 75
    max_option_share: float = 0.28
    n_test: int = 500


@dataclass
class MediationSection:
    """§6.5: cluster bootstrap over items with `n_boot` resamples."""

    n_boot: int = 1000


@dataclass
class Phase4Section:
    """§6.6: instructed thresholds `thresholds` on `n_items` test items (None: all), greedy replies
    of `max_new_tokens`; the prompt wording chosen among `wordings` by the highest abstention at
    T = 100 on `n_search` calibration items (the paraphrase search; the choice is recorded)."""

    enabled: bool = True
    thresholds: list[int] = field(default_factory=lambda: list(range(0, 101, 10)))
    n_items: int | None = None
    max_new_tokens: int = 24
    wordings: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4, 5])
    n_search: int = 50


@dataclass
class AbstentionConfig(PipelineConfig):
    """Every setting of an abstention run (see the YAML configs beside this file)."""

    data: DataSection = field(default_factory=DataSection)
    sets: Sets = field(default_factory=Sets)
    items: ItemsSection = field(default_factory=ItemsSection)
    pilot: PilotSection = field(default_factory=PilotSection)
    phase1: Phase1Section = field(default_factory=Phase1Section)
    controls: ControlsSection = field(default_factory=ControlsSection)
    steering: SteeringSection = field(default_factory=SteeringSection)
    mediation: MediationSection = field(default_factory=MediationSection)
    phase4: Phase4Section = field(default_factory=Phase4Section)


def load_config(path: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None) -> AbstentionConfig:
    """`AbstentionConfig` defaults merged with a YAML file and then `overrides`."""
    return load_typed(AbstentionConfig, path, overrides)
