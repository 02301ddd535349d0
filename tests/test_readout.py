"""Class readout and OOD statistics against hand computations in numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from interp.readout import DIGIT_VALUES, class_readout, fit_temperature, natural_variation, ood_stats, option_readout, yes_no_readout


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


def test_yes_no_readout_by_hand():
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(6, 40)).astype(np.float32)
    out = yes_no_readout(torch.from_numpy(logits), yes_id=7, no_id=11)
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    np.testing.assert_allclose(out.vld.numpy(), logp[:, 7] - logp[:, 11], rtol=1e-5, atol=1e-6)
    assert out.yes.tolist() == (logits[:, 7] > logits[:, 11]).tolist()
    np.testing.assert_allclose(out.p_yes.numpy(), np.exp(logp[:, 7]) / (np.exp(logp[:, 7]) + np.exp(logp[:, 11])), rtol=1e-5)


def test_option_readout_by_hand():
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(8, 30)).astype(np.float32) * 3
    ids = [3, 4, 5, 6, 9]
    out = option_readout(torch.from_numpy(logits), ids, temperature=2.0)
    z = logits[:, ids] / 2.0
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    np.testing.assert_allclose(out.probs.numpy(), p, rtol=1e-5)
    assert out.choice.tolist() == (p.argmax(1) + 1).tolist()
    assert out.abstain.tolist() == (p.argmax(1) == 4).tolist()
    np.testing.assert_allclose(out.margin.numpy(), p[:, :4].max(1) - p[:, 4], rtol=1e-5)
    four = option_readout(torch.from_numpy(logits), ids[:4])
    assert not four.abstain.any() and torch.isnan(four.margin).all()
    with pytest.raises(ValueError, match="temperature"):
        option_readout(torch.from_numpy(logits), ids, temperature=0)


def test_fit_temperature_recovers_a_planted_temperature():
    rng = np.random.default_rng(6)
    z = rng.normal(size=(20000, 4)) * 3
    p = np.exp(z / 2.0) / np.exp(z / 2.0).sum(1, keepdims=True)
    correct = np.array([rng.choice(4, p=row) for row in p]) + 1
    tau = fit_temperature(torch.from_numpy(z), correct)
    assert tau == pytest.approx(2.0, rel=0.05)
    grid = np.exp(np.linspace(np.log(0.5), np.log(5), 2001))
    nll = [-(np.log(np.exp(z / t) / np.exp(z / t).sum(1, keepdims=True))[np.arange(len(z)), correct - 1]).sum() for t in grid[::20]]
    assert tau == pytest.approx(grid[::20][int(np.argmin(nll))], rel=0.03)
    with pytest.raises(ValueError, match="1..4"):
        fit_temperature(torch.from_numpy(z[:3]), [1, 2, 5])


def test_digit_values():
    assert DIGIT_VALUES[0] == 0.05 and DIGIT_VALUES[9] == 0.95 and len(DIGIT_VALUES) == 10
