"""What the error-detection stages share beyond the verbal-confidence context whose Stage 0 they
reuse: the verification and correction templates, the per-trial table of the three stages, the
behavioural baseline and the trial selections of the causal stages."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from experiments.verbal_confidence.context import VerbalConfidenceContext
from interp.prompting import Trial
from interp.tasks import CorrectionTemplate, VerificationTemplate

SDT_CELLS = ("hit", "miss", "false alarm", "correct rejection")
"""A1 correct & V = Y, A1 correct & V = N, A1 wrong & V = Y, A1 wrong & V = N (§5)."""

BASELINE = ("correct", "logprob_mean", "confidence", "vld")
"""The behavioural baseline B of §5: A1 correctness, ℓ̄, verbal confidence and VLD."""


def sdt_cell(correct: object, yes: object) -> str | None:
    """The SDT cell of a trial (None when either is missing)."""
    if correct is None or yes is None or pd.isna(correct) or pd.isna(yes):
        return None
    return SDT_CELLS[(0 if bool(correct) else 2) + (0 if bool(yes) else 1)]


class ErrorDetectionContext(VerbalConfidenceContext):
    """Shared state of one error-detection run."""

    templates = {
        **VerbalConfidenceContext.templates,
        "verification": lambda ctx: VerificationTemplate(strip_answer_punctuation=ctx.config.strip_answer_punctuation),
        "verification_foil": lambda ctx: VerificationTemplate(other_source=ctx.config.foils.other_source, strip_answer_punctuation=ctx.config.strip_answer_punctuation),
        "correction": lambda ctx: CorrectionTemplate(ctx.config.strip_answer_punctuation),
    }

    def template(self, kind: str):
        """As `Context.template`; the foil prompt follows the variant piloted on the own-answer one."""
        template = super().template(kind)
        if kind == "verification_foil" and self.pilot_choice("verification") is not None:
            choice = self.pilot_choice("verification")
            template.readout_separator, template.readout_suffix = choice["separator"], choice["suffix"]
        return template

    @property
    def detection(self) -> pd.DataFrame:
        """detection.parquet (one row per trial of the run: Stage 0–2 columns and a status),
        indexed by trial_id."""
        table = self.run.read_table("detection")
        table.index = pd.Index(table["trial_id"].to_numpy(), name=None)
        return table

    def verification_trials(self, rows: pd.DataFrame, answer: str = "answer", suffix: str = "") -> list[Trial]:
        """Verification trials: each row's question with `rows[answer]` in A1's slot; ids get
        `suffix` (e.g. "#foil-hard") so several conditions of one question stay apart."""
        return [
            Trial(id=f"{r.trial_id}{suffix}", question=r.question, answer=getattr(r, answer), gold=r.gold, aliases=tuple(r.aliases), metadata={"source_trial": r.trial_id})
            for r in rows.itertuples(index=False)
        ]

    def balanced(self, rows: pd.DataFrame, counts: dict[str, int], column: str, key: str, exclude: Iterable[str] = ()) -> pd.DataFrame:
        """`counts[value]` rows drawn at random among those whose `column` equals value (fewer when
        a group holds fewer; the report counts them), column `group` naming the value."""
        picked, exclude = [], set(exclude)
        for value, n in counts.items():
            chosen = self.draw(rows[rows[column] == value], int(n), f"{key} {value}", exclude)
            exclude |= set(chosen["trial_id"])
            picked.append(chosen.assign(group=str(value)))
        return pd.concat(picked, ignore_index=True)

    def usable(self) -> pd.DataFrame:
        """Detection rows whose verification is ok (V read, every captured role resolved and finite)."""
        table = self.detection
        return table[table["verification_status"] == "ok"]
