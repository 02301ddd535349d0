"""The error-detection pipeline: its stages, what each needs and writes, and its plan."""

from __future__ import annotations

from pathlib import Path

from experiments.error_detection import behaviour, causal, foil_trials, pik, plan, probes, report, steering, transfer, verify
from experiments.error_detection.config import ErrorDetectionConfig
from experiments.error_detection.context import ErrorDetectionContext
from interp.pipeline import Pipeline, Stage

PIPELINE = Pipeline(
    name="error-detection",
    description="How LLMs detect and correct their own errors (Kumaran et al. 2026): verify-then-correct, SDT, P2 regressions, PANL probes vs behaviour, P(IK), foils, transfer, patching and noising in d′, [ours] PANL steering",
    config=ErrorDetectionConfig,
    context=ErrorDetectionContext,
    stages=(
        Stage("answers", verify.answers, writes=("trials", "behaviour"), estimate=plan.answers, description="Stage 0: A1 with log-probs, graded; Phase-1 verbal confidence"),
        Stage("verification", verify.verification, requires=("answers",), writes=("verification",), estimate=plan.verification, description="Stage 1: V and VLD at PL, residuals at QTT/LAT/PANL/PANL+1/PANL+9/PL, one pass"),
        Stage("correction", verify.correction, requires=("answers", "verification"), writes=("correction", "detection"), estimate=plan.correction, description="Stage 2: A2 after the model's own verdict"),
        Stage("behaviour", behaviour.run, requires=("correction",), writes=("behaviour_summary", "regressions"), estimate=plan.behaviour, description="§6.1–6.2: accuracy, McNemar, calibration, SDT, P2 regressions"),
        Stage("probes", probes.run, requires=("correction",), writes=("probes", "probe_scores", "probe_tests", "probe_correlations"), estimate=plan.probes, description="§6.3: probes per (layer, position), PANL increment over B"),
        Stage("pik", pik.run, requires=("correction", "probes"), writes=("pik", "pik_tests"), estimate=plan.pik, description="§6.4: P(IK) from T = 1 samples, its probe, the increment over B + P(IK)"),
        Stage("foils", foil_trials.run, requires=("correction",), writes=("foils", "foil_trials", "foil_sdt", "foil_p4"), estimate=plan.foils, description="§6.5: hard / easy / unrelated foils verified and corrected"),
        Stage("transfer", transfer.run, requires=("correction",), writes=("transfer",), estimate=plan.transfer, description="§6.6: PANL probes across tasks (another run's folder)"),
        Stage("patching", causal.patching, requires=("correction",), writes=("patching", "patching_recovery", "patching_contrasts"), estimate=plan.patching, description="§6.7: corrupted answer embeddings, clean residual restored, d′ recovery"),
        Stage("noising", causal.noising, requires=("correction",), writes=("noising", "noising_summary", "noising_contrasts"), estimate=plan.noising, description="§6.8: PANL / LAT / both replaced by an SDT-balanced mean"),
        Stage("steering", steering.run, requires=("correction",), writes=("steering", "steering_contrasts"), estimate=plan.steering, description="[ours] ±α·v(V = Y − V = N) at PANL and PANL+1"),
    ),
    report=report.write,
    configs=Path(__file__).parent,
    default_config="tiny-qwen2.yaml",
    prompt_tokens=plan.PROMPT_TOKENS,
    results="error_detection",
    plan_notes=plan.notes,
)
