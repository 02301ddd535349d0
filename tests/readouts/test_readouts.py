"""Readouts against hand computations in numpy: class, Y/N and option scores, the `Readout`
protocol's columns and deltas, per-cell metrics (d′ by hand, abstention rates) and recovery."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import norm

from interp.readouts import ClassReadout, OptionReadout, Readout, YesNoReadout, class_scores, d_prime, fit_temperature, option_scores, yes_no_scores


def test_class_scores_match_hand_computation():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 50)).astype(np.float32)
    ids = [3, 17, 8, 40]
    values = [0.05, 0.35, 0.65, 0.95]
    out = class_scores(torch.from_numpy(logits), ids, values)
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


def test_class_scores_length_mismatch():
    with pytest.raises(ValueError, match="3 class token ids but 2 values"):
        class_scores(torch.zeros(1, 10), [1, 2, 3], [0.1, 0.2])


def test_logit_difference_holds_the_target_class_fixed():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(6, 30)).astype(np.float32)
    ids = [2, 5, 9]
    target = np.array([0, 1, 2, 2, 1, 0])
    out = class_scores(torch.from_numpy(logits), ids, [0.1, 0.5, 0.9], target=torch.from_numpy(target))
    z = logits[:, ids]
    ld = np.array([z[i, target[i]] - np.delete(z[i], target[i]).mean() for i in range(6)])
    np.testing.assert_allclose(out.logit_diff.numpy(), ld, rtol=1e-5)
    assert out.argmax.tolist() == z.argmax(1).tolist()  # the argmax still moves freely


def test_yes_no_scores_by_hand():
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(6, 40)).astype(np.float32)
    out = yes_no_scores(torch.from_numpy(logits), yes_id=7, no_id=11)
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    np.testing.assert_allclose(out.vld.numpy(), logp[:, 7] - logp[:, 11], rtol=1e-5, atol=1e-6)
    assert out.yes.tolist() == (logits[:, 7] > logits[:, 11]).tolist()
    np.testing.assert_allclose(out.p_yes.numpy(), np.exp(logp[:, 7]) / (np.exp(logp[:, 7]) + np.exp(logp[:, 11])), rtol=1e-5)


def test_option_scores_by_hand():
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(8, 30)).astype(np.float32) * 3
    ids = [3, 4, 5, 6, 9]
    out = option_scores(torch.from_numpy(logits), ids, temperature=2.0)
    z = logits[:, ids] / 2.0
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    np.testing.assert_allclose(out.probs.numpy(), p, rtol=1e-5)
    assert out.choice.tolist() == (p.argmax(1) + 1).tolist()
    assert out.abstain.tolist() == (p.argmax(1) == 4).tolist()
    np.testing.assert_allclose(out.margin.numpy(), p[:, :4].max(1) - p[:, 4], rtol=1e-5)
    four = option_scores(torch.from_numpy(logits), ids[:4])
    assert not four.abstain.any() and torch.isnan(four.margin).all()
    with pytest.raises(ValueError, match="temperature"):
        option_scores(torch.from_numpy(logits), ids, temperature=0)


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


def test_readouts_implement_the_protocol_and_give_deltas_against_clean():
    rng = np.random.default_rng(7)
    clean_logits = torch.from_numpy(rng.normal(size=(5, 40)).astype(np.float32))
    logits = clean_logits + torch.from_numpy(rng.normal(scale=2.0, size=(5, 40)).astype(np.float32))
    classes = ClassReadout((3, 9, 12), (0.1, 0.5, 0.9), ("a", "b", "c"))
    yes_no = YesNoReadout(7, 11)
    options = OptionReadout((1, 2, 3, 4, 5), temperature=1.5)
    for readout in (classes, yes_no, options):
        assert isinstance(readout, Readout)
        clean = readout.read(clean_logits)
        read = readout.read(logits, clean=clean)
        assert set(readout.columns) | set(readout.list_columns) <= set(read)
        assert set(readout.clean_columns) <= set(clean)
    clean, read = classes.read(clean_logits), classes.read(logits, clean=classes.read(clean_logits))
    z, z_clean = logits.numpy()[:, [3, 9, 12]], clean_logits.numpy()[:, [3, 9, 12]]
    target = z_clean.argmax(1)
    ld = np.array([z[i, target[i]] - np.delete(z[i], target[i]).mean() for i in range(5)])
    np.testing.assert_allclose(read["logit_diff"], ld, rtol=1e-5)
    np.testing.assert_allclose(read["delta_confidence"], np.array([0.1, 0.5, 0.9])[z.argmax(1)] - np.array([0.1, 0.5, 0.9])[target], atol=1e-7)
    assert read["changed"].tolist() == (z.argmax(1) != target).tolist()
    yes_clean = yes_no.read(clean_logits)
    yes_read = yes_no.read(logits, clean=yes_clean)
    assert yes_read["changed"].tolist() == (yes_read["yes"] != yes_clean["yes"]).tolist()
    np.testing.assert_allclose(yes_read["delta_vld"], yes_read["vld"] - yes_clean["vld"])


def _sdt_by_hand(yes, correct):
    yes, correct = np.asarray(yes, bool), np.asarray(correct, bool)
    h, m, f, r = (correct & yes).sum(), (correct & ~yes).sum(), (~correct & yes).sum(), (~correct & ~yes).sum()
    if min(h, m) == 0 or min(f, r) == 0:
        h, m, f, r = h + 0.5, m + 0.5, f + 0.5, r + 0.5
    return norm.ppf(h / (h + m)) - norm.ppf(f / (f + r))


def test_yes_no_cell_metrics_give_d_prime_by_hand_and_its_recovery():
    rng = np.random.default_rng(8)
    correct = rng.random(40) < 0.6
    clean_yes = np.where(correct, rng.random(40) < 0.9, rng.random(40) < 0.4)
    corrupt_yes = rng.random(40) < 0.7
    patched_yes = np.where(rng.random(40) < 0.5, clean_yes, corrupt_yes)
    ids = [f"t{k}" for k in range(40)]
    corrupt = pd.DataFrame({"trial_id": ids, "status": "ok", "yes": corrupt_yes.astype(float), "clean_yes": clean_yes.astype(float), "correct": correct, "changed": (corrupt_yes != clean_yes).astype(float)})
    patched = corrupt.assign(layer=3, role="panl", condition="patched", yes=patched_yes.astype(float), changed=(patched_yes != clean_yes).astype(float), delta_vld=0.0)
    readout = YesNoReadout(1, 2, label="correct")
    summary = readout.summarise(patched)
    assert summary.loc[0, "d_prime"] == pytest.approx(_sdt_by_hand(patched_yes, correct))
    assert summary.loc[0, "clean_d_prime"] == pytest.approx(_sdt_by_hand(clean_yes, correct))
    assert summary.loc[0, "yes_rate"] == pytest.approx(patched_yes.mean())
    table = readout.recovery(corrupt, patched)
    clean_d, corrupt_d, patched_d = (_sdt_by_hand(v, correct) for v in (clean_yes, corrupt_yes, patched_yes))
    assert table.loc[0, "recovery_d_prime"] == pytest.approx(100 * (patched_d - corrupt_d) / (clean_d - corrupt_d))
    assert np.isnan(d_prime([1, 1, 0], [1, 1, 1]))  # only correct answers: no noise trials
    with pytest.raises(KeyError, match="label column 'a1_correct'"):
        YesNoReadout(1, 2, label="a1_correct").summarise(patched)


def test_option_cell_metrics_count_abstentions_and_accuracy_among_answered():
    rows = pd.DataFrame(
        {
            "trial_id": list("abcdef"),
            "layer": 0,
            "role": "answer_colon",
            "condition": "toward_low",
            "status": ["ok"] * 5 + ["skipped"],
            "choice": [5.0, 2.0, 3.0, 5.0, 1.0, 5.0],
            "clean_choice": [2, 2, 3, 1, 1, 5],
            "abstain": [1.0, 0.0, 0.0, 1.0, 0.0, 1.0],
            "clean_abstain": [False, False, False, False, False, True],
            "delta_max_real": [-0.2, 0.0, 0.1, -0.3, 0.0, 0.0],
            "changed": [1.0, 0.0, 0.0, 1.0, 0.0, 0.0],
            "correct_option": [2, 2, 1, 1, 1, 1],
        }
    )
    summary = OptionReadout((1, 2, 3, 4, 5)).summarise(rows)
    assert summary.loc[0, "n"] == 5
    assert summary.loc[0, "abstain_rate"] == pytest.approx(2 / 5) and summary.loc[0, "clean_abstain_rate"] == 0
    assert summary.loc[0, "answered_accuracy"] == pytest.approx(2 / 3)  # b right, c wrong, e right
    assert summary.loc[0, "clean_answered_accuracy"] == pytest.approx(4 / 5)
