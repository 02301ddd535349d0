"""Steering directions against a numpy hand computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interp.analysis import mean_difference, scale_to_norm, steering_vector


def test_steering_vector_by_hand():
    rng = np.random.default_rng(0)
    high, low = rng.normal(1.0, 1.0, size=(25, 32)), rng.normal(-1.0, 1.0, size=(25, 32))
    reference = rng.normal(size=(300, 32)) * 4
    with_nan = np.vstack([high, np.full((1, 32), np.nan)])  # an unresolved role is left out
    v = steering_vector(torch.from_numpy(with_nan), torch.from_numpy(low), torch.from_numpy(reference), fraction=0.03)
    direction = high.mean(0) - low.mean(0)
    expected = direction / np.linalg.norm(direction) * 0.03 * np.linalg.norm(reference, axis=1).mean()
    np.testing.assert_allclose(v.numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(v.numpy()), 0.03 * np.linalg.norm(reference, axis=1).mean(), rtol=1e-5)
    np.testing.assert_allclose(mean_difference(torch.from_numpy(high), torch.from_numpy(low)).numpy(), direction, rtol=1e-5)


def test_steering_helpers_refuse_bad_input():
    with pytest.raises(ValueError, match="no finite rows"):
        mean_difference(torch.full((3, 4), float("nan")), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="differ in width"):
        mean_difference(torch.zeros(3, 4), torch.zeros(2, 5))
    with pytest.raises(ValueError, match="zero or non-finite"):
        scale_to_norm(torch.zeros(4), torch.ones(3, 4))
    with pytest.raises(ValueError, match=r"\[n, d_model\]"):
        mean_difference(torch.zeros(4), torch.zeros(2, 4))
