"""What an organism knows and reports, on the held-out entities, by forward passes through the
same templates and readouts the pipelines use."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from interp.analysis.stats import auroc
from interp.forward import last_token_logits
from interp.models import LM
from interp.organisms.train import READOUT, _trial, answer_probabilities
from interp.organisms.world import Fact, FactWorld

__all__ = ["organism_metrics", "readout_confidence"]


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


def _auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    return auroc(scores, labels) if 0 < labels.mean() < 1 else float("nan")


def organism_metrics(lm: LM, world: FactWorld, base: LM | None = None, seed: int = 0) -> dict[str, float]:
    """Held-out metrics of an organism: accuracy of its greedy answer at AC, the answer's
    probability as a correctness score (AUROC), the verbal readout's AUROC (argmax class and
    expected value), the counterfactual AUROC (readout with the gold answer vs a random wrong
    one) and, given the stage-1 model, the share of answers that confidence training changed."""
    facts = world.split(held_out=True)
    logprobs, _ = answer_probabilities(lm, facts)
    greedy = logprobs.argmax(-1)
    answers = [lm.tokenizer.decode([int(t)]).strip() or "none" for t in greedy]
    correct = np.array([a == f.value for a, f in zip(answers, facts)], dtype=float)
    argmax, expected = readout_confidence(lm, facts, answers)
    rng = np.random.default_rng(seed)
    wrong = [str(rng.choice([v for v in f.values if v != f.value])) for f in facts]
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
    if base is not None:
        base_greedy = answer_probabilities(base, facts)[0].argmax(-1)
        metrics["answers_changed"] = float((base_greedy != greedy).float().mean())
    return metrics
