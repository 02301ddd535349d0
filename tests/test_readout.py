"""Class readout against a hand computation in numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interp.readout import class_readout


def test_class_readout_matches_hand_computation():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 50)).astype(np.float32)
    ids = [3, 17, 8, 40]
    values = [0.05, 0.35, 0.65, 0.95]
    out = class_readout(torch.from_numpy(logits), ids, values)
    z = logits[:, ids]
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    top = z.argmax(1)
    np.testing.assert_allclose(out.probs.numpy(), p, rtol=1e-6)
    assert out.argmax.tolist() == top.tolist()
    np.testing.assert_allclose(out.confidence.numpy(), np.array(values)[top], rtol=1e-6)
    np.testing.assert_allclose(out.expected.numpy(), p @ np.array(values), rtol=1e-5)
    ld = np.array([z[i, top[i]] - np.delete(z[i], top[i]).mean() for i in range(5)])
    np.testing.assert_allclose(out.logit_diff.numpy(), ld, rtol=1e-5)


def test_class_readout_length_mismatch():
    with pytest.raises(ValueError, match="3 class token ids but 2 values"):
        class_readout(torch.zeros(1, 10), [1, 2, 3], [0.1, 0.2])
