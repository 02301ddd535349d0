"""`--dry-run` estimates of the error-detection stages: the work each plans, for the shared cost
model of `interp.pipeline.plan`."""

from __future__ import annotations

import math
from dataclasses import asdict

from experiments.error_detection.config import ErrorDetectionConfig
from interp.pipeline import Shape, Work, parse_layers, rerun_share

PROMPT_TOKENS = {"phase0": 230, "categorical": 280, "verification": 150, "correction": 150}
"""Typical prompt lengths with a chat template (our templates on TriviaQA)."""

ROLE_TAILS = {"last_answer_token": 0.45, "panl": 0.44, "panl_plus_1": 0.43, "panl_plus_9": 0.38, "pl": 0.007}
"""Share of a verification batch's positions at or after each role's earliest row: the answer
ends about 45% before the end of the prompt (the instruction and the chat suffix follow it)."""


def _layers(config: ErrorDetectionConfig, shape: Shape, section: str) -> list[int]:
    return parse_layers(getattr(config, section).layers, shape.n_layers, f"{section}.layers")


def answers(config: ErrorDetectionConfig, shape: Shape) -> list[Work]:
    n, batch = config.sets.trials, int(config.batch_size)
    decode = math.ceil(n / batch) * config.behaviour.max_new_tokens
    return [Work("answers", n, "phase0", extra_rows=n + min(config.pilot.n, n), decode=decode, note="A1 with log-probs, pilot, Phase-1 confidence")]


def verification(config: ErrorDetectionConfig, shape: Shape) -> list[Work]:
    note = f"{len(_layers(config, shape, 'verification'))} layers x {len(config.verification.roles)} roles stored, V/VLD from the same pass"
    return [Work("verification", config.sets.trials, "verification", extra_rows=min(config.pilot.n, config.sets.trials), note=note)]


def correction(config: ErrorDetectionConfig, shape: Shape) -> list[Work]:
    n = config.sets.trials
    return [Work("correction", n, "correction", decode=math.ceil(n / int(config.batch_size)) * config.correction.max_new_tokens, note="A2 greedy")]


def behaviour(config: ErrorDetectionConfig, shape: Shape) -> list[Work]:
    return [Work("behaviour", config.sets.trials, "verification", note="CPU: SDT, calibration, P2 regressions, bootstrap CIs", gpu=False)]


def probes(config: ErrorDetectionConfig, shape: Shape) -> list[Work]:
    return [Work("probes", config.sets.trials, "verification", len(_layers(config, shape, "probes")), len(config.probes.roles), note="CPU: 5 targets x 5-fold CV per (layer, role)", gpu=False)]


def pik(config: ErrorDetectionConfig, shape: Shape) -> list[Work]:
    if not config.pik.enabled:
        return []
    n = config.sets.trials if config.pik.n_questions is None else min(config.sets.trials, config.pik.n_questions)
    return [Work("pik", n, "phase0", decode=n * config.pik.max_new_tokens, note=f"{config.pik.n_samples} samples at T = {config.pik.temperature:g} per question, one prompt per generate call")]


def foils(config: ErrorDetectionConfig, shape: Shape) -> list[Work]:
    if not config.foils.enabled:
        return []
    n = 3 * (config.sets.trials if config.foils.n_questions is None else min(config.sets.trials, config.foils.n_questions))
    return [Work("foils", n, "verification", extra_rows=n, decode=math.ceil(n / int(config.batch_size)) * config.correction.max_new_tokens, note="3 foils per question: verification + correction")]


def transfer(config: ErrorDetectionConfig, shape: Shape) -> list[Work]:
    return [Work("transfer", config.sets.trials, "verification", note="CPU: 2 probes each way", gpu=False)]


def _edits(config: ErrorDetectionConfig, shape: Shape, section: str, roles: list[str]) -> dict[str, float]:
    layers = _layers(config, shape, section)
    layer_share, position_share = rerun_share([layer + 1 for layer in layers], shape.n_layers, [ROLE_TAILS[r] for r in roles])
    return {"layer_share": layer_share, "position_share": position_share}


def patching(config: ErrorDetectionConfig, shape: Shape) -> list[Work]:
    p = config.patching
    n = p.n_correct + p.n_wrong
    return [Work("patching", n, "verification", len(_layers(config, shape, "patching")), len(p.roles), 1, extra_rows=n + p.n_calibration, note="+1 corrupted run per trial", **_edits(config, shape, "patching", list(p.roles)))]


def noising(config: ErrorDetectionConfig, shape: Shape) -> list[Work]:
    z = config.noising
    roles = ["panl", "last_answer_token", "last_answer_token"]
    return [Work("noising", z.n_correct + z.n_wrong, "verification", len(_layers(config, shape, "noising")), 3, 1, note="PANL, LAT, LAT+PANL", **_edits(config, shape, "noising", roles))]


def steering(config: ErrorDetectionConfig, shape: Shape) -> list[Work]:
    s = config.steering
    if not s.enabled:
        return []
    return [Work("steering", s.n_test, "verification", len(_layers(config, shape, "steering")), len(s.roles), 2 * len(s.alphas), note="[ours]", **_edits(config, shape, "steering", list(s.roles)))]


def notes(config: ErrorDetectionConfig, shape: Shape) -> list[str]:
    """The trial sets, the batch size and the size of the activation store."""
    sets = ", ".join(f"{k} {v}" for k, v in asdict(config.sets).items())
    width = 2 if str(config.verification.dtype).lower() in ("bf16", "bfloat16", "fp16", "float16") else 4
    store = config.sets.trials * len(_layers(config, shape, "verification")) * len(config.verification.roles) * shape.d_model * width / 1024**3
    return [f"trial sets (seed {config.seed}): {sets}; batch size {config.batch_size}", f"activation store: ~{store:.1f} GiB on disk"]
