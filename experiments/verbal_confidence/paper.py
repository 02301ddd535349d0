"""Headline numbers of verbal_confidence.md §7 (Gemma 3 27B, TriviaQA, categorical unless stated),
keyed by the quantity the report computes. Labels: [paper] reported by the paper, [unverified]
a third-party reading of a figure."""

from __future__ import annotations

PAPER: dict[str, tuple[str, str]] = {
    "accuracy": ("77.4% (n = 7,858)", "[paper]"),
    "ece": ("0.12 (Qwen 2.5 7B: 0.06)", "[paper]"),
    "auroc": ("0.71 (Qwen 2.5 7B: 0.65)", "[paper]"),
    "numeric_ece": ("0.16", "[paper]"),
    "numeric_auroc": ("0.73", "[paper]"),
    "minimal_ece": ("0.17", "[paper]"),
    "minimal_auroc": ("0.68", "[paper]"),
    "logprob_mean_auroc": ("0.75", "[paper]"),
    "logprob_vs_cross_run": ("r = 0.29, R²_CV = 0.084", "[paper]"),
    "logprob_vs_same_run": ("r = 0.23, R²_CV = 0.049", "[paper]"),
    "same_vs_cross_run": ("r = 0.63, R²_CV = 0.40", "[paper]"),
    "single_baselines": ("min 0.101, mean 0.084, first 0.070, variance 0.051, last 0.039, max 0.025", "[paper]"),
    "all_baselines": ("R²_CV = 0.100", "[paper]"),
    "panl_unique": ("0.38 at peak layer 40 (of 62)", "[paper]"),
    "steering_baseline": ("0.55 (Gemma 0.48, Qwen 0.56)", "[paper]"),
    "steering_layers": ("PANL 21–25; CC 30–35; none at PANL+1, FCC, AC, first answer token; last answer token effective", "[paper]"),
    "steering_size": ("α = 5: PANL ±0.15–0.20; CC ±0.40", "[unverified]"),
    "corrupted": ("lowest class, LD ≈ 0, 100% first-token change", "[paper]"),
    "patching_peaks": ("PANL L25 partial; CC near-complete after L30; PANL+1 ≈ 0", "[paper]"),
    "patching_l25": ("confidence recovery PANL 24.3% vs PANL+1 −1.4% (L25 of 62)", "[paper]"),
    "noising": ("PANL partial disruption peaking at L25 (change ≈ 14%); CC after L30 (≈ 78% at L61); PANL+1 none", "[paper] / [unverified]"),
    "swap": ("PANL cross-confidence shifts toward the donor, peak L26; L→H Δconf ≈ +0.21, change ≈ 37%; controls H→H ≈ 15%, L→L ≈ 12%", "[paper] / [unverified]"),
    "ood": ("all interventions cosine > 0.99, norm ratio 0.91–1.10; natural cosine [0.997, 1.000], ratio [0.90, 1.11]", "[paper]"),
    "probing": ("correctness and confidence decodable at PANL earlier than elsewhere; PANL AUROC ≈ 0.80–0.83; CC R² ≈ 0.8 late; QTT ≈ chance", "[paper] / [unverified]"),
    "blocking_minimal": ("CC→Q+A ≈ 10% (= CC→PANL+1); CC→PANL ≈ 21% at L30–36; PANL→A, PANL→last A ≈ 20% at L22–28", "[paper]"),
    "blocking_categorical": ("CC→Q/A/Q+A ≈ 10%; CC→PANL none; ALL→PANL 20%; ALL→last A 50% (20% kept); ALL→A 70% (40% kept)", "[paper]"),
}
