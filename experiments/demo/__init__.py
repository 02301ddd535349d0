"""Demo: categorical confidence readout at CC on a tiny model, with every role resolved per trial."""

from experiments.demo.pipeline import PIPELINE, DemoConfig

__all__ = ["PIPELINE", "DemoConfig"]
