"""Donor matching for swap (interchange) experiments: donors of similar tokenised length.

verbal_confidence.md §6.4: each recipient gets a donor from the other (or the same) confidence
pool whose question and answer lengths fall in the recipient's quantile bins, so a swap moves
confidence information rather than length information.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["length_matched_donors", "quantile_bins"]


def quantile_bins(values, n_bins: int) -> np.ndarray:
    """Bin index (0 … n_bins−1) of each value by the quantiles of `values` itself.

    Repeated quantile edges collapse, so a feature with few distinct values gets fewer bins.
    """
    values = np.asarray(values, dtype=float)
    if n_bins < 1:
        raise ValueError(f"n_bins must be ≥ 1, got {n_bins}")
    edges = np.unique(np.quantile(values, np.linspace(0, 1, n_bins + 1)[1:-1])) if len(values) else np.array([])
    return np.searchsorted(edges, values, side="left")


def length_matched_donors(
    recipients: pd.DataFrame,
    donors: pd.DataFrame,
    n_bins: int = 10,
    seed: int = 0,
) -> pd.DataFrame:
    """A donor for every recipient row, matched on question and answer token length.

    Args:
        recipients: rows with trial_id, question_tokens, answer_tokens (a trial may repeat,
            e.g. a pool sampled with replacement).
        donors: the donor pool, same columns.
        n_bins: quantile bins per length, computed on recipients and donors together.
        seed: seed of the random choice among the matching donors.

    Returns:
        One row per recipient (in order): recipient, donor, match ("both bins", "question bin",
        or "nearest" when no donor shares the question bin), delta_question_tokens and
        delta_answer_tokens (donor − recipient). A donor is never the recipient itself.

    Raises:
        ValueError: if the donor pool has no trial other than the recipient.
    """
    for name, frame in (("recipients", recipients), ("donors", donors)):
        missing = {"trial_id", "question_tokens", "answer_tokens"} - set(frame.columns)
        if missing:
            raise ValueError(f"{name} lacks columns {sorted(missing)}")
    pooled_q = np.concatenate([recipients["question_tokens"].to_numpy(), donors["question_tokens"].to_numpy()])
    pooled_a = np.concatenate([recipients["answer_tokens"].to_numpy(), donors["answer_tokens"].to_numpy()])
    q_bins, a_bins = quantile_bins(pooled_q, n_bins), quantile_bins(pooled_a, n_bins)
    n_rec = len(recipients)
    rec_q, don_q = q_bins[:n_rec], q_bins[n_rec:]
    rec_a, don_a = a_bins[:n_rec], a_bins[n_rec:]
    donor_ids = donors["trial_id"].astype(str).to_numpy()
    donor_q = donors["question_tokens"].to_numpy(dtype=float)
    donor_a = donors["answer_tokens"].to_numpy(dtype=float)
    rng = np.random.default_rng(seed)
    rows = []
    for k, (trial_id, q_len, a_len) in enumerate(
        zip(recipients["trial_id"].astype(str), recipients["question_tokens"].to_numpy(float), recipients["answer_tokens"].to_numpy(float))
    ):
        other = donor_ids != trial_id
        if not other.any():
            raise ValueError(f"recipient {trial_id}: the donor pool holds no other trial")
        both = other & (don_q == rec_q[k]) & (don_a == rec_a[k])
        question_only = other & (don_q == rec_q[k])
        if both.any():
            match, pool = "both bins", np.flatnonzero(both)
        elif question_only.any():
            match, pool = "question bin", np.flatnonzero(question_only)
        else:
            distance = np.abs(donor_q - q_len) + np.abs(donor_a - a_len)
            distance[~other] = np.inf
            match, pool = "nearest", np.flatnonzero(distance == distance.min())
        chosen = int(rng.choice(pool))
        rows.append(
            {
                "recipient": trial_id,
                "donor": donor_ids[chosen],
                "match": match,
                "delta_question_tokens": donor_q[chosen] - q_len,
                "delta_answer_tokens": donor_a[chosen] - a_len,
            }
        )
    return pd.DataFrame(rows, columns=["recipient", "donor", "match", "delta_question_tokens", "delta_answer_tokens"])
