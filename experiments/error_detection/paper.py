"""Headline numbers of error_detection.md §7 (Gemma 3 27B, TriviaQA, unless stated), keyed by
the quantity the report computes. Every number there is [unverified]: a third-party reading."""

from __future__ import annotations

PAPER: dict[str, str] = {
    "a1_accuracy": "75.5%",
    "a2_accuracy": "79.2% (+3.7 pp; McNemar χ² = 202.3)",
    "confidence_auroc": "0.74 (log-prob 0.76)",
    "confidence_ece": "0.13 (log-prob 0.20)",
    "d_prime": "1.67 (Qwen 2.5 7B: 1.63)",
    "criterion": "−1.34 (Qwen: −0.83)",
    "errors_detected": "≈ 31% (Qwen: 49.6%)",
    "p2_a": "log-prob 0.668 → + confidence 0.832 (LR χ² = 839.4)",
    "p2_b": "log-prob + A1 correct 0.766 → + confidence 0.865 (χ² = 629.0)",
    "p2_c": "errors: log-prob 0.481, confidence 0.737; + log-prob χ² = 0.37 (p = 0.54)",
    "p3_v_all": "PANL L30 0.986 vs baseline 0.908 (LR χ² = 1100)",
    "p3_v_errors": "0.958 vs 0.715 (LR χ² = 443.7)",
    "fa_vs_cr": "AUROC 0.892",
    "answer_change": "0.921 vs 0.901 (LR χ² = 237.7)",
    "p4": "PANL 0.614 vs behaviour 0.475 (LR χ² = 9.5, n = 856)",
    "correlations": "VLD 0.91, confidence 0.60, correctness 0.46, log-prob 0.21; errors: VLD 0.83, confidence 0.60, log-prob 0.02",
    "pik": "cosine(V, P(IK)) = +0.007; over B + P(IK): answer change 0.919 → 0.958, A2 correct 0.915 → 0.934",
    "foil_sdt": "d′ own 1.78, hard 2.57, easy 3.07, unrelated 5.08; c −1.14, −0.78, −0.33, −0.14",
    "foil_p4": "hard 0.859 vs 0.637; easy 0.822 vs 0.694; unrelated 0.813 vs 0.706",
    "transfer": "TriviaQA→MNLI 0.587; MNLI→TriviaQA 0.934; correctability cosine ≤ 0.027",
    "patching": "clean d′ 1.17, corrupt 0.09; LAT peak L15 ≈ 100%; PANL peak L30 ≈ 74%; PL L35 ≈ 107%; PANL+1, PANL+9 none",
    "steering": "not in the paper ([ours])",
    "noising": "PANL alone |Δd′| ≤ 0.062; LAT alone d′ −0.21 at L22; LAT+PANL at L27 d′ 0.31 vs 0.82 for LAT alone",
}
