"""What the abstention stages share: the MCQ templates (4-way, with abstain, instructed
threshold, the v2 verbal rating), the items table, MCQ trials rebuilt from it, the fitted
temperature and the calibrated option probabilities."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from interp.errors import ConfigError
from interp.pipeline import Context
from interp.prompting import Trial
from interp.tasks import CategoricalConfidenceTemplate, MCQTemplate, ThresholdTemplate


def calibrated(logits: np.ndarray, tau: float) -> np.ndarray:
    """C_i = softmax(z / τ) over the option logits [n, K] (abstention.md §5)."""
    z = np.asarray(logits, dtype=np.float64) / float(tau)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class AbstentionContext(Context):
    """Shared state of one abstention run."""

    templates = {
        "mcq": lambda ctx: MCQTemplate(),
        "mcq_abstain": lambda ctx: MCQTemplate(abstain=True),
        "verbal": lambda ctx: CategoricalConfidenceTemplate(),
    }

    def threshold_template(self, threshold: int | None = None, wording: int | None = None) -> ThresholdTemplate:
        """The Phase-4 prompt in the wording the paraphrase search chose (phase4.json)."""
        if wording is None:
            chosen = self.run.path / "phase4.json"
            if not chosen.exists():
                raise ConfigError("phase 4: no wording has been chosen yet (the paraphrase search writes phase4.json)")
            wording = int(json.loads(chosen.read_text())["wording"])
        return ThresholdTemplate(threshold=threshold, wording=wording)

    def readout(self, kind: str):
        """As `Context.readout`; once τ is fitted, the option readouts are calibrated by it."""
        readout = super().readout(kind)
        if kind in ("mcq", "mcq_abstain") and (self.run.path / "phase1_fit.json").exists():
            return dataclasses.replace(readout, temperature=self.tau)
        return readout

    @property
    def items(self) -> pd.DataFrame:
        """items.parquet indexed by trial_id."""
        table = self.run.read_table("items")
        table.index = pd.Index(table["trial_id"].to_numpy(), name=None)
        return table

    def mcq_trials(self, ids: Iterable[str], permutation: Sequence[int] | None = None, suffix: str = "") -> list[Trial]:
        """MCQ trials of items (options in their seeded order, or reordered by `permutation`:
        position k shows option permutation[k]); metadata holds options and correct_option."""
        table = self.items
        trials = []
        for trial_id in ids:
            row = table.loc[trial_id]
            options, correct = list(row["options"]), int(row["correct_option"])
            if permutation is not None:
                options = [options[k] for k in permutation]
                correct = list(permutation).index(correct - 1) + 1
            trials.append(Trial(id=f"{trial_id}{suffix}", question=row["question"], gold=row["gold"], aliases=(row["gold"],), metadata={"options": options, "correct_option": correct, "source_trial": trial_id}))
        return trials

    @property
    def tau(self) -> float:
        """The temperature fitted 4-way on the calibration items (phase1_fit.json)."""
        return float(json.loads((self.run.path / "phase1_fit.json").read_text())["tau"])

    def ids(self, item_set: str) -> list[str]:
        """Ids of the ok items of a set, in table order."""
        table = self.items
        return table.loc[(table["set"] == item_set) & (table["status"] == "ok"), "trial_id"].tolist()
