"""The verbal-confidence pipeline: its stages, what each needs and writes, and its plan."""

from __future__ import annotations

from pathlib import Path

from experiments.verbal_confidence import activations, behaviour, blocking, causal, decoding, plan, report
from experiments.verbal_confidence.config import VerbalConfidenceConfig
from experiments.verbal_confidence.context import VerbalConfidenceContext
from interp.pipeline import Pipeline, Stage

PIPELINE = Pipeline(
    name="verbal-confidence",
    description="How do LLMs compute verbal confidence? (Kumaran et al. 2026): behaviour, capture, steering, patching, noising, swap, OOD, blocking, probes, variance partitioning",
    config=VerbalConfidenceConfig,
    context=VerbalConfidenceContext,
    stages=(
        Stage("behaviour", behaviour.run, writes=("trials", "behaviour"), estimate=plan.behaviour, description="Phase 0 generation and grading, Phase 1 readout, numeric and minimal variants"),
        Stage("capture", activations.run, requires=("behaviour",), writes=("capture",), estimate=plan.capture, description="residuals at every (layer, role) of the Phase-1 prompt"),
        Stage("steering", causal.steering, requires=("behaviour", "capture"), writes=("steering", "steering_trials"), estimate=plan.steering, description="±α·v at one (layer, role)"),
        Stage("patching", causal.patching, requires=("behaviour", "capture"), writes=("patching", "patching_recovery"), estimate=plan.patching, description="corrupted answer embeddings, clean residual restored"),
        Stage("noising", causal.noising, requires=("behaviour", "capture"), writes=("noising",), estimate=plan.noising, description="residual replaced by a calibration mean"),
        Stage("swap", causal.swap, requires=("behaviour", "capture"), writes=("swap",), estimate=plan.swap, description="2×2 high/low recipient × donor interchange"),
        Stage("ood", causal.ood, requires=("behaviour", "capture", "steering", "swap"), writes=("ood",), estimate=plan.ood, description="cosine and norm ratio of each intervention vs natural variation"),
        Stage("blocking", blocking.run, requires=("behaviour",), writes=("blocking",), estimate=plan.blocking, description="TARGET→SOURCE attention edges removed in layer windows"),
        Stage("probes", decoding.probes, requires=("behaviour", "capture"), writes=("probes",), estimate=plan.probes, description="correctness and confidence decoded per (layer, role)"),
        Stage("variance", decoding.variance, requires=("behaviour", "capture"), writes=("variance",), estimate=plan.variance, description="PANL R²_unique beyond the log-prob baselines"),
    ),
    report=report.write,
    configs=Path(__file__).parent,
    default_config="tiny-qwen2.yaml",
    prompt_tokens=plan.PROMPT_TOKENS,
    results="verbal_confidence",
    plan_notes=plan.notes,
)
