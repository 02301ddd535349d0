"""What the verbal-confidence stages share beyond the base context: the four templates, the
behaviour table, Phase-1 trials rebuilt from it, and the selection of high / low trials."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from interp.errors import ConfigError
from interp.pipeline import Context
from interp.prompting import Trial
from interp.tasks import CONFIDENCE_CLASSES, CategoricalConfidenceTemplate, CompactCategoricalTemplate, CompactPhase0Template, ConfidencePhase0Template, MinimalConfidenceTemplate, NumericConfidenceTemplate

LABELS = [c.label for c in CONFIDENCE_CLASSES]


class VerbalConfidenceContext(Context):
    """Shared state of one verbal-confidence run."""

    templates = {
        "phase0": lambda ctx: ctx.worded("phase0")(examples=ctx.examples("phase0")),
        "categorical": lambda ctx: ctx.worded("categorical")(ctx.config.strip_answer_punctuation, examples=ctx.examples("readout")),
        "numeric": lambda ctx: ctx.worded("numeric")(ctx.config.strip_answer_punctuation, examples=ctx.examples("readout")),
        "minimal": lambda ctx: ctx.worded("minimal")(ctx.config.strip_answer_punctuation, examples=ctx.examples("readout")),
    }
    wordings = {
        "standard": {"phase0": ConfidencePhase0Template, "categorical": CategoricalConfidenceTemplate, "numeric": NumericConfidenceTemplate, "minimal": MinimalConfidenceTemplate},
        "compact": {"phase0": CompactPhase0Template, "categorical": CompactCategoricalTemplate},
    }

    def worded(self, prompt: str) -> type:
        """The template class of `prompt` in the configured `wording`."""
        wording = self.config.wording
        if wording not in self.wordings:
            raise ConfigError(f"wording: {wording!r} is not one of {', '.join(self.wordings)}")
        if prompt not in self.wordings[wording]:
            raise ConfigError(f"wording {wording!r} has no {prompt} prompt: turn behaviour.{prompt} off (and blocking.n_{prompt} to 0)")
        return self.wordings[wording][prompt]

    def examples(self, prompt: str) -> list[Trial]:
        """The worked examples of a prompt ("phase0" or "readout") from few_shot.parquet, in order."""
        if not self.run.has_table("few_shot"):
            return []
        table = self.run.read_table("few_shot")
        rows = table[table["prompt"] == prompt].sort_values("order")
        return [Trial(id=r.trial_id, question=r.question, answer=r.answer, metadata={"confidence": float(r.confidence)}) for r in rows.itertuples(index=False)]

    @property
    def behaviour(self) -> pd.DataFrame:
        """behaviour.parquet indexed by trial_id."""
        table = self.run.read_table("behaviour")
        table.index = pd.Index(table["trial_id"].to_numpy(), name=None)
        return table

    def trials(self, ids: Iterable[str], copy_suffix: Sequence[str] | None = None) -> list[Trial]:
        """Phase-1 trials (question + the model's Phase-0 answer) for ids of the behaviour table;
        `copy_suffix` gives repeated ids distinct names ("<id>#<suffix>")."""
        table = self.behaviour
        ids = list(ids)
        trials = []
        for k, trial_id in enumerate(ids):
            row = table.loc[trial_id]
            name = trial_id if copy_suffix is None else f"{trial_id}#{copy_suffix[k]}"
            trials.append(
                Trial(id=name, question=row["question"], answer=row["answer"], gold=row["gold"], aliases=tuple(row["aliases"]), metadata={"source_trial": trial_id})
            )
        return trials

    def eligible(self, trial_set: str, roles: Sequence[str] = ()) -> pd.DataFrame:
        """Behaviour rows of a set whose Phase-1 readout is ok and whose capture (if `roles` are
        read from the store) is ok."""
        table = self.behaviour
        rows = table[(table["set"] == trial_set) & (table["status"] == "ok")]
        if roles:
            captured = self.store().index().set_index("trial_id")
            good = captured.index[(captured["status"] == "ok") & captured["finite"]]
            rows = rows[rows["trial_id"].isin(good)]
        return rows

    def select(self, rows: pd.DataFrame, n: int, classes: Sequence[str], highest: bool, exclude: Iterable[str] = ()) -> pd.DataFrame:
        """Up to `n` rows whose Phase-1 class is in `classes`, most extreme expected confidence
        first (the steering vectors' H and L trials, verbal_confidence.md §6.1); if the classes
        hold fewer, the rest by rank of expected confidence alone. Column `selected_by` says
        which ("class" or "fill-in")."""
        pool = rows[~rows["trial_id"].isin(set(exclude))].sort_values(["expected_confidence", "trial_id"], ascending=[not highest, True])
        by_class = pool[pool["confidence_class"].isin(classes)].head(n).assign(selected_by="class")
        rest = pool[~pool["trial_id"].isin(by_class["trial_id"])].head(n - len(by_class)).assign(selected_by="fill-in")
        return pd.concat([by_class, rest])

    def sample(self, rows: pd.DataFrame, n: int, classes: Sequence[str], highest: bool, key: str, exclude: Iterable[str] = ()) -> pd.DataFrame:
        """Up to `n` rows drawn uniformly at random among those whose Phase-1 class is in
        `classes` (seeded by the run seed and `key`, so each stage's draw is its own); if the
        classes hold fewer, the rest are filled in by rank of expected confidence (toward the
        high or low end), marked `selected_by` "fill-in" — or refused when
        `selection.allow_fill_ins` is off."""
        pool = rows[~rows["trial_id"].isin(set(exclude))]
        members = pool[pool["confidence_class"].isin(classes)].sort_values("trial_id")
        rng = np.random.default_rng([self.seed, int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "little")])
        picked = members.iloc[rng.permutation(len(members))[:n]].assign(selected_by="class")
        short = n - len(picked)
        if short > 0:
            if not self.config.selection.allow_fill_ins:
                raise ConfigError(
                    f"{key}: {len(members)} eligible trials of {list(classes)} for {n} wanted, and selection.allow_fill_ins is off"
                )
            rest = pool[~pool["trial_id"].isin(picked["trial_id"])].sort_values(["expected_confidence", "trial_id"], ascending=[not highest, True])
            picked = pd.concat([picked, rest.head(short).assign(selected_by="fill-in")])
        return picked
