"""OOD statistics (cosine, norm ratio, natural variation between random pairs) by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interp.analysis import natural_variation, ood_stats


def test_ood_stats_and_natural_variation_by_hand():
    rng = np.random.default_rng(2)
    clean = rng.normal(size=(7, 16))
    intervened = clean + rng.normal(scale=0.3, size=(7, 16))
    out = ood_stats(torch.from_numpy(intervened).float(), torch.from_numpy(clean).float())
    cos = (intervened * clean).sum(1) / np.linalg.norm(intervened, axis=1) / np.linalg.norm(clean, axis=1)
    np.testing.assert_allclose(out.cosine.numpy(), cos, rtol=1e-5)
    np.testing.assert_allclose(out.norm_ratio.numpy(), np.linalg.norm(intervened, axis=1) / np.linalg.norm(clean, axis=1), rtol=1e-5)
    with pytest.raises(ValueError, match="differ in shape"):
        ood_stats(torch.zeros(2, 3), torch.zeros(3, 3))

    acts = torch.from_numpy(rng.normal(size=(5, 16))).float()
    natural = natural_variation(acts, n_pairs=200, seed=3)
    assert natural.cosine.shape == (200,)
    assert (natural.cosine < 1 - 1e-6).all()  # never a trial against itself
    pairs = {}
    for i in range(5):
        for j in range(5):
            if i != j:
                pairs[round(float(ood_stats(acts[i : i + 1], acts[j : j + 1]).norm_ratio[0]), 5)] = (i, j)
    assert all(round(float(r), 5) in pairs for r in natural.norm_ratio)
    torch.testing.assert_close(natural_variation(acts, 50, seed=3).cosine, natural_variation(acts, 50, seed=3).cosine)
