"""Headline numbers of abstention.md §7 (GPT-4o unless stated; Gemma 3 27B for the steering),
keyed by the quantity the report computes. Every number there is [unverified]."""

from __future__ import annotations

PAPER: dict[str, str] = {
    "phase1": "GPT-4o accuracy 63.7%; τ = 4.1, ECE 0.046, AUROC 0.90; binned r(12) = −0.97; Cohen's d = −8.13",
    "phase2": "GPT-4o 56.6% abstain (Gemma 27.2%); accuracy on answered 69.1% vs 63.9%",
    "stability": "Phase-1 choice still top real option: 82.0% (Phase 2), 81.6% (Phase 4)",
    "models": "AIC / pseudo-R²: C 1227.4 / 0.106; D 1346.6 / 0.019; R 1365.6 / 0.005; E 1368.2 / 0.017",
    "increments": "R over C χ²(1) = 2.96 (p = 0.085); E over C χ²(10) = 41.4; C over E χ²(1) = 164.2; C over R ΔAIC −139.1",
    "standardised": "confidence β_std −0.989 (z = −10.56); RAG −0.102; difficulty 0.110; top PC 0.106",
    "threshold": "T50 ≈ 77%; policy temperature ≈ 20 points",
    "steering": "Gemma: 66.5% abstain at α = −2 → 7.0% at α = +2; 15.34 pp per unit α; baseline 28.2%; peak layer 31",
    "steering_accuracy": "accuracy on answered 59.2% → 53.7%; coverage 33.5% → 93%",
    "mediation": "total c = −0.824; M1 67.1% [indirect −0.55]; M2 26.2% [−0.22]; corr(M1, M2) = −0.24",
    "phase4": "GPT-4o adding C: ΔAIC −1,953, χ²(1) = 1,955; scale 1.80, shift −97.6, temperature 31 (Gemma scale 0.66, shift +1.0)",
    "phase4_betas": "GPT-4o β_std: C −1.09 (z = −34.1), T +1.03, R −0.22, D 0.05, top PC −0.11",
    "bandness": "0.042 with Phase-1 confidence vs 0.78 with self-rated confidence",
    "verbal": "r ≈ 0.3–0.4 with calibrated confidence; less discriminative; predicts abstention independently",
    "verbal_full": "verbal confidence predicts abstention independently in all models",
    "decoding": "Gemma AC ridge R²: verbal 0.39 (L37), calibrated 0.58 (L61); control position ≈ 0",
    "delta_r2": "Gemma ΔR² over the other readout: verbal +0.27, calibrated +0.45",
}
