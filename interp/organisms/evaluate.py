"""What an organism knows and reports, on the held-out entities, by forward passes through the
same templates and readouts the pipelines use."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from interp.analysis.stats import auroc
from interp.forward import capture, last_token_logits
from interp.models import LM
from interp.organisms.train import READOUT, _trial, answer_probabilities
from interp.organisms.world import Fact, FactWorld

__all__ = ["SENSITIVITY_ROLES", "answer_sensitivity", "organism_metrics", "readout_confidence"]

SENSITIVITY_ROLES = ("last_answer_token", "panl", "panl_plus_1", "confidence_colon")
"""The readout prompt's roles whose dependence on the answer `answer_sensitivity` measures."""


@torch.no_grad()
def readout_confidence(lm: LM, facts: Sequence[Fact], answers: Sequence[str], batch_size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """(argmax-class confidence, expected confidence) [n] of the CC readout of the compact
    categorical prompt with each fact's given answer."""
    readout = READOUT.readout(lm.tokenizer)
    argmax, expected = [], []
    for start in range(0, len(facts), batch_size):
        trials = [_trial(f, a) for f, a in zip(facts[start : start + batch_size], answers[start : start + batch_size])]
        scores = readout.scores(last_token_logits(lm, READOUT.batch(trials, lm.tokenizer, chat=False)))
        argmax.append(scores.confidence.numpy())
        expected.append(scores.expected.numpy())
    return np.concatenate(argmax), np.concatenate(expected)


def wrong_answers(facts: Sequence[Fact], seed: int) -> list[str]:
    """One value other than the gold per fact, drawn uniformly from the relation's values."""
    rng = np.random.default_rng(seed)
    return [str(rng.choice([v for v in f.values if v != f.value])) for f in facts]


@torch.no_grad()
def answer_sensitivity(lm: LM, facts: Sequence[Fact], seed: int = 0, batch_size: int = 128) -> dict[tuple[int, str], float]:
    """How much the answer reaches each role of the readout prompt: for every (layer, role) of
    `SENSITIVITY_ROLES`, the mean over facts of ‖h(gold answer) − h(random wrong answer)‖ /
    ‖h(gold answer)‖ of the residual after that layer. 0 where the role never sees the answer
    (a planted block, or attention that ignores it); a readout whose route runs through a role
    must find more than 0 there before it can tell a right answer from a wrong one."""
    wrong = wrong_answers(facts, seed)
    layers = range(lm.n_layers)
    totals = {(layer, role): 0.0 for layer in layers for role in SENSITIVITY_ROLES}
    for start in range(0, len(facts), batch_size):
        chunk = facts[start : start + batch_size]
        gold = capture(lm, READOUT.batch([_trial(f, f.value) for f in chunk], lm.tokenizer, chat=False), layers, SENSITIVITY_ROLES)
        other = capture(lm, READOUT.batch([_trial(f, a) for f, a in zip(chunk, wrong[start : start + batch_size])], lm.tokenizer, chat=False), layers, SENSITIVITY_ROLES)
        for key in totals:
            totals[key] += float(((gold[key] - other[key]).norm(dim=-1) / gold[key].norm(dim=-1)).sum())
    return {key: total / len(facts) for key, total in totals.items()}


def _auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    return auroc(scores, labels) if 0 < labels.mean() < 1 else float("nan")


def organism_metrics(lm: LM, world: FactWorld, base: LM | None = None, seed: int = 0) -> dict[str, float]:
    """Held-out metrics of an organism: accuracy of its greedy answer at AC, the answer's
    probability as a correctness score (AUROC), the verbal readout's AUROC (argmax class and
    expected value), the counterfactual AUROC (readout with the gold answer vs a random wrong
    one), how much the answer reaches PANL and CC (`answer_sensitivity`, the largest over the
    layers but the last, whose output no later position reads) and, given the stage-1 model,
    the share of answers that confidence training changed."""
    facts = world.split(held_out=True)
    logprobs, _ = answer_probabilities(lm, facts)
    greedy = logprobs.argmax(-1)
    answers = [lm.tokenizer.decode([int(t)]).strip() or "none" for t in greedy]
    correct = np.array([a == f.value for a, f in zip(answers, facts)], dtype=float)
    argmax, expected = readout_confidence(lm, facts, answers)
    wrong = wrong_answers(facts, seed)
    _, gold_conf = readout_confidence(lm, facts, [f.value for f in facts])
    _, wrong_conf = readout_confidence(lm, facts, wrong)
    metrics = {
        "n_held_out": len(facts),
        "accuracy": float(correct.mean()),
        "answer_logprob_auroc": _auroc(correct, logprobs.max(-1).values.numpy()),
        "verbal_auroc": _auroc(correct, argmax),
        "verbal_auroc_expected": _auroc(correct, expected),
        "counterfactual_auroc": _auroc(np.r_[np.ones(len(facts)), np.zeros(len(facts))], np.r_[gold_conf, wrong_conf]),
        "mean_confidence": float(expected.mean()),
    }
    sensitivity = answer_sensitivity(lm, facts, seed=seed)
    for role in ("panl", "confidence_colon"):
        metrics[f"answer_reaches_{role}"] = max(sensitivity[(layer, role)] for layer in range(max(lm.n_layers - 1, 1)))
    if base is not None:
        base_greedy = answer_probabilities(base, facts)[0].argmax(-1)
        metrics["answers_changed"] = float((base_greedy != greedy).float().mean())
    return metrics
