"""Demo: categorical confidence readout at CC on a tiny model, with every role resolved per trial."""

from experiments.demo.pipeline import run

__all__ = ["run"]
