"""`--dry-run` estimates of the verbal-confidence stages: the work each stage plans, for the
shared cost model of `interp.pipeline.plan`, with the share of a full forward each sweep cell
reruns incrementally."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict

from experiments.verbal_confidence.blocking import CATEGORICAL_EDGES, MINIMAL_EDGES
from experiments.verbal_confidence.config import TRIAL_SETS, VerbalConfidenceConfig
from interp.interventions import LATER, layer_window
from interp.pipeline import Shape, Work, parse_layers, rerun_share
from interp.prompting import Trial

PROMPT_TOKENS = {"phase0": 230, "categorical": 280, "numeric": 150, "minimal": 110}
"""Typical prompt lengths with a chat template (our templates on TriviaQA)."""

ROLE_TAILS: dict[str, dict[str, float]] = {
    "categorical": {
        "question": 0.833, "answer": 0.69, "answer_colon": 0.695, "answer_first_token": 0.69, "last_answer_token": 0.659,
        "panl": 0.655, "panl_plus_1": 0.651, "format_confidence_colon": 0.071, "confidence_colon": 0.004,
        "after:question": 0.699, "after:answer": 0.655, "after:last_answer_token": 0.655, "after:panl": 0.651, "after:panl_plus_1": 0.647,
    },
    "numeric": {
        "question": 0.728, "answer": 0.498, "answer_colon": 0.505, "answer_first_token": 0.498, "last_answer_token": 0.446,
        "panl": 0.44, "panl_plus_1": 0.433, "confidence_colon": 0.006,
        "after:question": 0.511, "after:answer": 0.44, "after:last_answer_token": 0.44, "after:panl": 0.433, "after:panl_plus_1": 0.427,
    },
    "minimal": {
        "question": 0.679, "answer": 0.38, "answer_colon": 0.389, "answer_first_token": 0.38, "last_answer_token": 0.313,
        "panl": 0.304, "panl_plus_1": 0.296, "confidence_colon": 0.008,
        "after:question": 0.398, "after:answer": 0.304, "after:last_answer_token": 0.304, "after:panl": 0.296, "after:panl_plus_1": 0.287,
    },
}
"""Per prompt kind, the mean share of a batch's positions at or after each role's earliest row
(`after:<name>`: after its last token) — what an incremental cell at that role reruns. Measured by
`role_tails` with the Qwen 2.5 7B tokenizer, chat template, on the first 256 TriviaQA rows in
batches of 16; `tests/experiments/test_verbal_confidence_plan.py` re-measures them."""


def role_tails(tokenizer, trials: Sequence[Trial], batch_size: int = 16, chat: bool = True) -> dict[str, dict[str, float]]:
    """`ROLE_TAILS` measured on `trials` with the standard templates (answer punctuation stripped)."""
    from interp.tasks import CategoricalConfidenceTemplate, MinimalConfidenceTemplate, NumericConfidenceTemplate

    out = {}
    for kind, template in (("categorical", CategoricalConfidenceTemplate(True)), ("numeric", NumericConfidenceTemplate(True)), ("minimal", MinimalConfidenceTemplate(True))):
        shares: dict[str, list[float]] = {}
        for batch in template.batches(trials, tokenizer, batch_size, chat=chat)[0]:
            seq = batch.input_ids.shape[1]
            bounds = {name: (index, index + 1) for name, index in batch.roles.items()} | {name: span.unbind(-1) for name, span in batch.spans.items()}
            for name, (start, end) in bounds.items():
                resolved = start >= 0
                if name in ROLE_TAILS[kind] and resolved.any():
                    shares.setdefault(name, []).append((seq - int(start[resolved].min())) / seq)
                    shares.setdefault(f"after:{name}", []).append((seq - int(end[resolved].min())) / seq)
        out[kind] = {name: sum(values) / len(values) for name, values in shares.items() if name in ROLE_TAILS[kind]}
    return out


def _tails(prompt: str, roles: Sequence[str]) -> list[float]:
    return [ROLE_TAILS[prompt][role] for role in roles]


def _edit_shares(config: VerbalConfidenceConfig, shape: Shape, section: str, prompt: str, roles: Sequence[str]) -> dict[str, float]:
    """Work shares of residual edits over a section's layers × `roles` (an edit at ℓ reruns from ℓ + 1)."""
    layers = parse_layers(getattr(config, section).layers, shape.n_layers, f"{section}.layers")
    layer_share, position_share = rerun_share([layer + 1 for layer in layers], shape.n_layers, _tails(prompt, roles))
    return {"layer_share": layer_share, "position_share": position_share}


def _edge_tail(prompt: str, edge: dict) -> float:
    """The share of positions from an edge's earliest target on."""
    if edge["targets"] == LATER:
        sources = (edge["sources"],) if isinstance(edge["sources"], str) else edge["sources"]
        return min(ROLE_TAILS[prompt][f"after:{source}"] for source in sources)
    return ROLE_TAILS[prompt][edge["targets"]]


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
    work = [Work("steering", trials, "categorical", layers, len(s.roles), 2 * len(s.alphas), **_edit_shares(config, shape, "steering", "categorical", s.roles))]
    if s.numeric:
        numeric_roles = [r for r in s.roles if r != "format_confidence_colon"]
        shares = _edit_shares(config, shape, "steering", "numeric", numeric_roles)
        work.append(Work("steering (numeric)", trials, "numeric", layers, len(numeric_roles), 2 * len(s.alphas), extra_rows=config.sets.activation, note="+ the numeric prompt's capture", **shares))
    return work


def patching(config: VerbalConfidenceConfig, shape: Shape) -> list[Work]:
    p = config.patching
    shares = _edit_shares(config, shape, "patching", "categorical", p.roles)
    return [Work("patching", p.n_test, "categorical", _layers(config, shape, "patching"), len(p.roles), 1, extra_rows=p.n_test, note="+1 corrupted run per trial, the base of its cells", **shares)]


def noising(config: VerbalConfidenceConfig, shape: Shape) -> list[Work]:
    z = config.noising
    return [Work("noising", z.n_test_high + z.n_test_low, "categorical", _layers(config, shape, "noising"), len(z.roles), 1, **_edit_shares(config, shape, "noising", "categorical", z.roles))]


def swap(config: VerbalConfidenceConfig, shape: Shape) -> list[Work]:
    w = config.swap
    return [Work("swap", 4 * w.n_recipients, "categorical", _layers(config, shape, "swap"), len(w.roles), 1, note="4 regimes", **_edit_shares(config, shape, "swap", "categorical", w.roles))]


def ood(config: VerbalConfidenceConfig, shape: Shape) -> list[Work]:
    o = config.ood
    return [Work("ood", 2 * o.n_trials, "categorical", 1, len(o.roles), 3, note="5 interventions + swap per role, measured at the layer and the next")]


def blocking(config: VerbalConfidenceConfig, shape: Shape) -> list[Work]:
    b = config.blocking
    centres = parse_layers(b.centres, shape.n_layers, "blocking.centres")
    starts = [layer_window(centre, shape.n_layers, b.width)[0] for centre in centres]
    note = f"{b.width}-layer windows"
    work = []
    for name, prompt, edges, n in (("blocking (minimal)", "minimal", MINIMAL_EDGES, b.n_minimal), ("blocking (categorical)", "categorical", CATEGORICAL_EDGES, b.n_categorical)):
        layer_share, position_share = rerun_share(starts, shape.n_layers, [_edge_tail(prompt, edge) for edge in edges.values()])
        work.append(Work(name, n, prompt, len(centres), len(edges), 1, note=note, layer_share=layer_share, position_share=position_share))
    return work


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
