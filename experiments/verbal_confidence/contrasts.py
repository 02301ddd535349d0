"""The headline contrasts of each causal stage (verbal_confidence.md §7), one function per stage,
read by the report and by the organisms' recovery check alike."""

from __future__ import annotations

import pandas as pd

from interp.analysis import group_contrast, paired_contrasts, recovery_contrasts

__all__ = ["EDGE_CONTROLS", "POSITION_PAIRS", "SWAP_PAIRS", "blocking_contrasts", "noising_contrasts", "patching_contrasts", "steering_contrasts", "swap_contrasts"]

POSITION_PAIRS = (("panl", "panl_plus_1"), ("panl", "confidence_colon"))
"""PANL against its control position PANL+1, and against CC."""

EDGE_CONTROLS = {
    "minimal": [("CC->Q+A", "CC->PANL+1"), ("CC->PANL", "CC->PANL+1"), ("PANL->A", "CC->PANL+1"), ("PANL->last A", "CC->PANL+1")],
    "categorical": [
        ("CC->Q", "CC->PANL+1"),
        ("CC->A", "CC->PANL+1"),
        ("CC->Q+A", "CC->PANL+1"),
        ("CC->PANL", "CC->PANL+1"),
        ("ALL->PANL", "CC->PANL+1"),
        ("ALL->last A", "ALL->last A, PANL edge kept"),
        ("ALL->A", "ALL->A, PANL edge kept"),
    ],
}
"""Each blocked edge and the control it is read against (CC→PANL+1, or the same block with the
PANL edge kept open)."""

SWAP_PAIRS = (("low_to_high", "high_to_high"), ("high_to_low", "low_to_low"))
"""(cross-confidence, same-confidence) regimes that share a recipient pool."""


def steering_contrasts(table: pd.DataFrame, value: str = "delta_confidence", seed: int = 0) -> pd.DataFrame:
    """`value` at PANL minus at PANL+1 and at CC, per layer and condition, paired over trials."""
    return paired_contrasts(table, value, "role", POSITION_PAIRS, by=("layer", "condition"), seed=seed)


def patching_contrasts(table: pd.DataFrame, metric: str = "confidence", seed: int = 0) -> pd.DataFrame:
    """Recovery of `metric` (%) restoring PANL minus restoring PANL+1 and CC, per layer."""
    return recovery_contrasts(table[table["condition"] == "corrupt"], table[table["condition"] == "patched"], POSITION_PAIRS, metric=metric, seed=seed)


def noising_contrasts(table: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Change rate at PANL minus at PANL+1 and at CC, per layer and condition."""
    return paired_contrasts(table, "changed", "role", POSITION_PAIRS, by=("layer", "condition"), seed=seed)


def swap_contrasts(table: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Change rate of cross- minus same-confidence swaps per (role, layer), bootstrapped over the
    shared recipients."""
    ok = table[table["status"] == "ok"]
    rows = []
    for (role, layer), cell in ok.groupby(["role", "layer"], sort=True):
        for crossed, same in SWAP_PAIRS:
            a, b = cell[cell["regime"] == crossed], cell[cell["regime"] == same]
            if len(a) and len(b):
                result = group_contrast(a["changed"], b["changed"], a["recipient"], b["recipient"], seed=seed)
                rows.append({"layer": layer, "role": role, "a": crossed, "b": same, "n": result["n_a"] + result["n_b"], **{k: result[k] for k in ("mean_a", "mean_b", "difference", "ci_low", "ci_high", "p")}})
    return pd.DataFrame(rows, columns=["layer", "role", "a", "b", "n", "mean_a", "mean_b", "difference", "ci_low", "ci_high", "p"])


def blocking_contrasts(table: pd.DataFrame, prompt: str, seed: int = 0) -> pd.DataFrame:
    """Change rate of each blocked edge minus its control edge on `prompt`, per centre."""
    return paired_contrasts(table[table["prompt"] == prompt], "changed", "edge", EDGE_CONTROLS[prompt], by=("centre", "condition"), seed=seed)
