"""The abstention pipeline: its stages, what each needs and writes, and its plan."""

from __future__ import annotations

from pathlib import Path

from experiments.abstention import controls, decoding, items, phase4, phases, plan, policy, report, steering
from experiments.abstention.config import AbstentionConfig
from experiments.abstention.context import AbstentionContext
from interp.pipeline import Pipeline, Stage

PIPELINE = Pipeline(
    name="abstention",
    description="Causal evidence that LLMs use confidence to drive behaviour (Kumaran et al. 2026): typed-foil MCQ, calibration, abstention models, steering at AC, mediation, instructed thresholds, verbal confidence and AC decoding",
    config=AbstentionConfig,
    context=AbstentionContext,
    stages=(
        Stage("items", items.run, writes=("items",), estimate=plan.items, description="§6.1: MCQ items with similar / dissimilar / unrelated foils, seeded option order, disjoint sets"),
        Stage("phase1", phases.phase1, requires=("items",), writes=("phase1",), estimate=plan.phase1, description="§6.2: 4-way readout at AC, τ on calibration items, AC/QLT residuals"),
        Stage("phase2", phases.phase2, requires=("items", "phase1"), writes=("phase2",), estimate=plan.phase2, description="§6.3: 5-way with abstain, C_1…C_5, AC residuals at the steering layers"),
        Stage("controls", controls.run, requires=("items",), writes=("controls",), estimate=plan.controls, description="difficulty, RAG score, embedding PCs"),
        Stage("policy", policy.run, requires=("phase1", "phase2", "controls"), writes=("phase2_models", "phase2_tests", "phase2_standardised", "phase2_threshold"), estimate=plan.policy, description="§6.3: abstention models, LR tests, T50"),
        Stage("steering", steering.run, requires=("phase2",), writes=("steering", "steering_summary", "steering_slopes"), estimate=plan.steering, description="§6.4: ±α·v at AC, abstention per α, slope with item-clustered CI"),
        Stage("mediation", steering.mediation, requires=("steering", "controls"), writes=("mediation",), estimate=plan.mediation, description="§6.5: parallel mediation through M1 (confidence) and M2 (policy)"),
        Stage("phase4", phase4.run, requires=("phase1", "controls"), writes=("phase4", "phase4_models", "phase4_surface"), estimate=plan.phase4, description="§6.6: instructed thresholds, policy scale / shift / temperature, bandness"),
        Stage("decoding", decoding.run, requires=("phase1", "policy"), writes=("verbal", "verbal_summary", "phase2_verbal", "decoding"), estimate=plan.decoding, description="§6.7: v2 verbal confidence, ridge decoding at AC vs QLT"),
    ),
    report=report.write,
    configs=Path(__file__).parent,
    default_config="tiny-qwen2.yaml",
    prompt_tokens=plan.PROMPT_TOKENS,
    results="abstention",
    plan_notes=plan.notes,
)
