"""Class readout and OOD statistics against hand computations in numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interp.readout import class_readout, natural_variation, ood_stats


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


def test_logit_difference_holds_the_target_class_fixed():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(6, 30)).astype(np.float32)
    ids = [2, 5, 9]
    target = np.array([0, 1, 2, 2, 1, 0])
    out = class_readout(torch.from_numpy(logits), ids, [0.1, 0.5, 0.9], target=torch.from_numpy(target))
    z = logits[:, ids]
    ld = np.array([z[i, target[i]] - np.delete(z[i], target[i]).mean() for i in range(6)])
    np.testing.assert_allclose(out.logit_diff.numpy(), ld, rtol=1e-5)
    assert out.argmax.tolist() == z.argmax(1).tolist()  # the argmax still moves freely


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
