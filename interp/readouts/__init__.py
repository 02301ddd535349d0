"""Readouts: logits at the readout position → per-trial columns, deltas against the clean run,
and per-cell metrics (`Readout`). Classes and digits (`ClassReadout`), Y/N verdicts with d′
(`YesNoReadout`) and MCQ options with a temperature and an abstain rate (`OptionReadout`); the
lower-level `*_scores` functions return tensors."""

from interp.readouts.base import CellMetrics, Columns, Metric, Readout, percent
from interp.readouts.classes import CLASS_METRICS, ClassReadout, ClassScores, class_scores
from interp.readouts.options import OptionReadout, OptionScores, fit_temperature, option_scores
from interp.readouts.yes_no import YesNoReadout, YesNoScores, d_prime, yes_no_scores

__all__ = [
    "CLASS_METRICS",
    "CellMetrics",
    "ClassReadout",
    "ClassScores",
    "Columns",
    "Metric",
    "OptionReadout",
    "OptionScores",
    "Readout",
    "YesNoReadout",
    "YesNoScores",
    "class_scores",
    "d_prime",
    "fit_temperature",
    "option_scores",
    "percent",
    "yes_no_scores",
]
