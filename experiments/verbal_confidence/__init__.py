"""Reproduction of *How do LLMs Compute Verbal Confidence?* (verbal_confidence.md): behaviour,
activation capture, steering, corruption + patching, noising, swap, OOD check, attention
blocking, probes and variance partitioning, each a cached, resumable stage."""

from experiments.verbal_confidence.config import STAGES, load_config
from experiments.verbal_confidence.pipeline import run

__all__ = ["STAGES", "load_config", "run"]
