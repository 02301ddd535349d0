"""Length-matched donors for swaps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from interp.analysis import length_matched_donors, quantile_bins


def _frame(prefix: str, q, a) -> pd.DataFrame:
    return pd.DataFrame({"trial_id": [f"{prefix}{k}" for k in range(len(q))], "question_tokens": q, "answer_tokens": a})


def test_quantile_bins_match_numpy_quantiles():
    values = np.arange(100)
    bins = quantile_bins(values, 4)
    assert np.bincount(bins).tolist() == [25, 25, 25, 25]
    assert quantile_bins([5, 5, 5], 10).tolist() == [0, 0, 0]


def test_donors_share_both_bins_when_possible_and_are_never_the_recipient():
    rng = np.random.default_rng(0)
    recipients = _frame("r", rng.integers(5, 40, 200), rng.integers(1, 6, 200))
    donors = _frame("d", rng.integers(5, 40, 300), rng.integers(1, 6, 300))
    pairs = length_matched_donors(recipients, donors, n_bins=5, seed=1)
    assert len(pairs) == 200 and pairs["recipient"].tolist() == recipients["trial_id"].tolist()
    pooled_q = np.concatenate([recipients["question_tokens"], donors["question_tokens"]])
    q_bins = dict(zip(np.concatenate([recipients["trial_id"], donors["trial_id"]]), quantile_bins(pooled_q, 5)))
    both = pairs[pairs["match"] == "both bins"]
    assert len(both) > 150
    assert all(q_bins[r] == q_bins[d] for r, d in zip(both["recipient"], both["donor"]))
    random_deltas = np.abs(rng.permutation(donors["question_tokens"].to_numpy())[:200] - recipients["question_tokens"].to_numpy()).mean()
    assert pairs["delta_question_tokens"].abs().mean() < random_deltas / 2
    # Same pool for recipients and donors: never oneself.
    same = length_matched_donors(recipients, recipients, n_bins=5, seed=2)
    assert (same["recipient"] != same["donor"]).all()
    # Deterministic given the seed.
    assert pairs.equals(length_matched_donors(recipients, donors, n_bins=5, seed=1))


def test_nearest_donor_when_no_bin_matches():
    recipients = _frame("r", [10], [2])
    donors = _frame("d", [50, 11, 90], [9, 3, 1])
    pairs = length_matched_donors(recipients, donors, n_bins=10, seed=0)
    assert pairs.loc[0, "donor"] == "d1" and pairs.loc[0, "match"] in ("nearest", "question bin", "both bins")
    assert pairs.loc[0, "delta_question_tokens"] == 1 and pairs.loc[0, "delta_answer_tokens"] == 1


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="donors lacks columns \\['answer_tokens'\\]"):
        length_matched_donors(_frame("r", [1], [1]), pd.DataFrame({"trial_id": ["x"], "question_tokens": [1]}))
    with pytest.raises(ValueError, match="recipient r0: the donor pool holds no other trial"):
        length_matched_donors(_frame("r", [1], [1]), _frame("r", [1], [1]))
