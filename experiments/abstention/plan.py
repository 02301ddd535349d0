"""`--dry-run` estimates of the abstention stages for the shared cost model."""

from __future__ import annotations

import math

from experiments.abstention.config import AbstentionConfig
from interp.pipeline import Shape, Work, parse_layers

PROMPT_TOKENS = {"mcq": 140, "mcq_abstain": 160, "threshold": 230, "verbal": 300}
"""Typical prompt lengths with a chat template (our templates on TriviaQA items)."""


def _steering_layers(config: AbstentionConfig, shape: Shape) -> list[int]:
    return parse_layers(config.steering.layers, shape.n_layers, "steering.layers")


def items(config: AbstentionConfig, shape: Shape) -> list[Work]:
    return [Work("items", config.sets.calibration + config.sets.test, "mcq", note="CPU: typed foils, sentence embeddings", gpu=False)]


def phase1(config: AbstentionConfig, shape: Shape) -> list[Work]:
    return [Work("phase1", config.sets.calibration + config.sets.test, "mcq", extra_rows=config.pilot.n, note=f"one pass: option logits + AC/QLT residuals at {shape.n_layers} layers")]


def phase2(config: AbstentionConfig, shape: Shape) -> list[Work]:
    return [Work("phase2", config.sets.test, "mcq_abstain", extra_rows=config.pilot.n, note="one pass: 5-way logits + AC residuals at the steering layers")]


def controls(config: AbstentionConfig, shape: Shape) -> list[Work]:
    n = config.sets.test
    return [Work("controls", n, "mcq", extra_rows=n * max(0, config.controls.n_permutations - 1), note=f"difficulty from {config.controls.n_permutations} option orders")]


def policy(config: AbstentionConfig, shape: Shape) -> list[Work]:
    return [Work("policy", config.sets.test, "mcq", note="CPU: 8 logistic models, LR tests, T50 bootstrap", gpu=False)]


def steering(config: AbstentionConfig, shape: Shape) -> list[Work]:
    s = config.steering
    return [Work("steering", s.n_test, "mcq_abstain", len(_steering_layers(config, shape)), 1, len(s.alphas), note="AC is the last token: one position per cell", position_share=1 / PROMPT_TOKENS["mcq_abstain"])]


def mediation(config: AbstentionConfig, shape: Shape) -> list[Work]:
    return [Work("mediation", config.steering.n_test, "mcq_abstain", note=f"CPU: cluster bootstrap B = {config.mediation.n_boot}", gpu=False)]


def phase4(config: AbstentionConfig, shape: Shape) -> list[Work]:
    p = config.phase4
    if not p.enabled:
        return []
    n = config.sets.test if p.n_items is None else min(p.n_items, config.sets.test)
    rows = n * len(p.thresholds) + p.n_search * len(p.wordings)
    return [Work("phase4", rows, "threshold", decode=math.ceil(rows / int(config.batch_size)) * p.max_new_tokens, note=f"{len(p.thresholds)} thresholds, paraphrase search over {len(p.wordings)} wordings")]


def decoding(config: AbstentionConfig, shape: Shape) -> list[Work]:
    return [Work("decoding", config.sets.test, "verbal", extra_rows=config.pilot.n, note="v2 verbal pass; CPU ridge / logistic probes per layer")]


def notes(config: AbstentionConfig, shape: Shape) -> list[str]:
    store = (config.sets.calibration + config.sets.test) * shape.n_layers * 2 * shape.d_model * 4 / 1024**3
    return [f"item sets (seed {config.seed}): calibration {config.sets.calibration}, test {config.sets.test}; batch size {config.batch_size}", f"Phase-1 activation store: ~{store:.1f} GiB on disk (fp32)"]
