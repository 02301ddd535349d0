"""Probes: planted signals recover their analytic AUROC / R², pure noise stays at chance, CV
equals a hand-written per-fold scikit-learn loop (so a scaler leaking across folds would show),
save/load round trips, and the probe direction steers through `Steer`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.preprocessing import StandardScaler

from interp.analysis import LinearProbe, cross_validate, probe_sweep, scale_to_norm
from interp.errors import ConfigError
from interp.forward import capture, capture_dataset
from interp.interventions import Steer, interventions
from interp.models import load_model, tiny
from interp.prompting import Trial
from interp.tasks import CategoricalConfidenceTemplate


def _gaussian_classes(n: int, d: int, separation: float, seed: int):
    """x | y ~ N(±μ/2, I) with ‖μ‖ = separation: the best linear AUROC is Φ(separation/√2)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    mu = rng.normal(size=d)
    mu *= separation / np.linalg.norm(mu)
    X = rng.normal(size=(n, d)) + np.where(y[:, None] == 1, mu / 2, -mu / 2)
    return X * rng.uniform(0.5, 20, d) + rng.normal(0, 5, d), y  # features on very different scales


def test_planted_signals_recover_analytic_scores():
    X, y = _gaussian_classes(6000, 20, separation=1.5, seed=0)
    result = cross_validate(X, y, kind="logistic", cv=5)
    assert result.metric == "auroc" and result.score == pytest.approx(norm.cdf(1.5 / np.sqrt(2)), abs=0.02)
    rng = np.random.default_rng(1)
    Xr = rng.normal(size=(6000, 30))
    w = rng.normal(size=30)
    signal = Xr @ w / np.linalg.norm(w)  # variance 1
    yr = signal + rng.normal(size=6000)  # noise variance 1 → R² = 0.5
    ridge = cross_validate(Xr, yr, kind="ridge", cv=5)
    assert ridge.metric == "r2" and ridge.score == pytest.approx(0.5, abs=0.03)


def test_pure_noise_stays_at_chance():
    rng = np.random.default_rng(2)
    scores, r2 = [], []
    for seed in range(4):
        X = rng.normal(size=(120, 3000)) * rng.uniform(0.1, 10, 3000)
        scores.append(cross_validate(X, rng.integers(0, 2, 120), kind="logistic", seed=seed).score)
        r2.append(cross_validate(X, rng.normal(size=120), kind="ridge", alpha=1.0, seed=seed).score)
    assert abs(np.mean(scores) - 0.5) < 0.08
    assert np.mean(r2) < 0.02


def test_cv_equals_a_per_fold_sklearn_loop():
    X, y = _gaussian_classes(300, 8, separation=1.0, seed=3)
    result = cross_validate(X, y, kind="logistic", cv=5, C=0.01)
    reference = np.zeros(len(y))
    for fold in range(5):
        train, test = result.folds != fold, result.folds == fold
        scaler = StandardScaler().fit(X[train])  # fitted on the training fold only
        model = LogisticRegression(C=0.01, max_iter=5000).fit(scaler.transform(X[train]), y[train])
        reference[test] = model.predict_proba(scaler.transform(X[test]))[:, 1]
    np.testing.assert_allclose(result.oof, reference, atol=1e-6)
    leaky = StandardScaler().fit(X)  # what a leak would give
    leaked = np.zeros(len(y))
    for fold in range(5):
        train, test = result.folds != fold, result.folds == fold
        model = LogisticRegression(C=0.01, max_iter=5000).fit(leaky.transform(X[train]), y[train])
        leaked[test] = model.predict_proba(leaky.transform(X[test]))[:, 1]
    assert np.abs(result.oof - leaked).max() > 1e-4

    ridge = cross_validate(X, y.astype(float) + X[:, 0] / 10, kind="ridge", alpha=3.0)
    expected = np.zeros(len(y))
    for fold in range(5):
        train, test = ridge.folds != fold, ridge.folds == fold
        scaler = StandardScaler().fit(X[train])
        target = y.astype(float) + X[:, 0] / 10
        expected[test] = Ridge(alpha=3.0).fit(scaler.transform(X[train]), target[train]).predict(scaler.transform(X[test]))
    np.testing.assert_allclose(ridge.oof, expected, atol=1e-8)


def test_grouped_cv_keeps_groups_together_and_errors():
    X, y = _gaussian_classes(200, 5, 1.0, seed=4)
    groups = np.repeat(np.arange(40), 5)
    result = cross_validate(X, y, groups=groups, cv=5)
    for group in range(40):
        assert len(set(result.folds[groups == group])) == 1
    with pytest.raises(ValueError, match="row 3 is not finite"):
        bad = X.copy()
        bad[3, 1] = np.nan
        cross_validate(bad, y)
    with pytest.raises(ValueError, match="two classes"):
        cross_validate(X, np.zeros(200))
    with pytest.raises(ValueError, match="kind must be"):
        cross_validate(X, y, kind="svm")


def test_probe_save_load_predicts_identically(tmp_path):
    X, y = _gaussian_classes(400, 6, 1.2, seed=5)
    probe = LinearProbe.fit(X, y, kind="logistic", C=0.1, metadata={"layer": 3, "role": "panl"})
    reference = (
        LogisticRegression(C=0.1, max_iter=5000).fit(StandardScaler().fit_transform(X), y).predict_proba(StandardScaler().fit(X).transform(X))[:, 1]
    )
    np.testing.assert_allclose(probe.predict(X), reference, atol=1e-6)
    again = LinearProbe.load(probe.save(tmp_path / "probe"))
    assert np.array_equal(again.predict(X), probe.predict(X)) and again.metadata["layer"] == 3
    assert sorted(p.name for p in (tmp_path / "probe").iterdir()) == ["probe.json", "probe.safetensors"]
    ridge = LinearProbe.fit(X, y.astype(float), kind="ridge")
    assert ridge.metadata["alpha"] in (1.0, 10.0, 100.0, 1000.0, 10000.0, 100000.0)
    with pytest.raises(ConfigError, match="no probe.json"):
        LinearProbe.load(tmp_path)


def test_store_sweep_and_direction_steers(tmp_path):
    lm = load_model(tiny("qwen2"))
    template = CategoricalConfidenceTemplate()
    rng = np.random.default_rng(6)
    words = ["Paris", "Rome", "Oslo", "Lima", "Cairo", "Tokyo", "Madrid", "Berlin"]
    trials = [Trial(id=f"t{i:03d}", question=f"Name a capital, number {i}?", answer=words[i % 8]) for i in range(48)]
    store = capture_dataset(lm, trials, template, [1, 3], ["panl", "confidence_colon"], tmp_path / "store", batch_size=16, progress=False)
    target = pd.Series({t.id: int(t.answer in ("Paris", "Rome", "Oslo", "Lima")) for t in trials})
    table = probe_sweep(store, target, kind="logistic", cv=4, C=1.0, progress=False)
    assert len(table) == 4 and set(table["role"]) == {"panl", "confidence_colon"} and (table["n"] == 48).all()
    assert table.set_index(["layer", "role"]).loc[(3, "panl"), "score"] > 0.9  # the answer word is visible at PANL
    noise = pd.Series(rng.normal(size=48), index=target.index)
    assert (probe_sweep(store, noise, kind="ridge", alpha=10.0, cv=4, progress=False)["metric"] == "r2").all()
    # Targets that cannot be cross-validated give a status and no score instead of an error.
    one_class = probe_sweep(store, target * 0, kind="logistic", cv=4, progress=False, save_to=tmp_path / "probes")
    assert one_class["status"].eq("one class only (0)").all() and one_class["score"].isna().all()
    assert not (tmp_path / "probes").exists()
    constant = probe_sweep(store, target * 0.0 + 0.5, kind="ridge", cv=4, progress=False)
    assert constant["status"].eq("target has no variance").all()
    few = probe_sweep(store, target.iloc[:3], kind="ridge", cv=4, progress=False)
    assert few["status"].eq("3 rows for 4 folds").all()
    skewed = target.copy()
    skewed[:] = 0
    skewed.iloc[:2] = 1
    assert probe_sweep(store, skewed, kind="logistic", cv=4, progress=False)["status"].eq("smallest class has 2 rows for 4 folds").all()

    values, ids = store.read(3, "panl")
    probe = LinearProbe.fit(values.numpy(), target.loc[ids].to_numpy(), C=1.0)
    direction = probe.direction()
    vector = scale_to_norm(direction, values, fraction=0.5)
    batch = template.batch(trials[:6], lm.tokenizer)
    clean = capture(lm, batch, [3], ["panl"])[(3, "panl")]
    with interventions(lm, batch, [Steer(3, "panl", vector, alpha=2.0)]):
        steered = capture(lm, batch, [3], ["panl"])[(3, "panl")]
    shift = probe.decision_function(steered.numpy()) - probe.decision_function(clean.numpy())
    expected = float(2.0 * (probe.weight / probe.scale) @ vector.double())
    np.testing.assert_allclose(shift, expected, rtol=1e-4)
    assert expected > 0


def test_probe_cli_end_to_end(tmp_path, capsys):
    from interp.cli import main
    from interp.io import ActivationStore

    words = ["Paris", "Rome", "Oslo", "Lima", "Cairo", "Tokyo", "Madrid", "Berlin"]
    data = tmp_path / "trials.jsonl"
    data.write_text("\n".join(f'{{"id": "t{i:03d}", "question": "Name a capital, number {i}?", "answer": "{words[i % 8]}"}}' for i in range(40)))
    labels = pd.DataFrame({"trial_id": [f"t{i:03d}" for i in range(40)], "first_half": [int(i % 8 < 4) for i in range(40)], "item": [i // 4 for i in range(40)]})
    labels.to_csv(tmp_path / "labels.csv", index=False)
    store_dir, out = tmp_path / "store", tmp_path / "probes"
    assert main(["capture", "--model", "tiny-qwen2", "--data", str(data), "--dataset", "jsonl", "--layers", "1,3", "--roles", "panl,confidence_colon", "--out", str(store_dir), "--batch-size", "8"]) == 0
    assert main(["probe", "train", "--store", str(store_dir), "--labels", str(tmp_path / "labels.csv"), "--target", "first_half", "--cv", "4", "--groups", "item", "--C", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| layer |" in printed and "auroc" in printed
    scores = pd.read_parquet(out / "scores.parquet")
    assert len(scores) == 4 and (scores["n"] == 40).all()
    assert pd.read_csv(out / "scores.csv")["score"].tolist() == pytest.approx(scores["score"].tolist())
    assert (out / "scores.png").stat().st_size > 1000
    assert sorted(p.name for p in (out / "probes").iterdir()) == ["L1-confidence_colon", "L1-panl", "L3-confidence_colon", "L3-panl"]
    assert main(["probe", "eval", "--probe", str(out), "--store", str(store_dir), "--labels", str(tmp_path / "labels.csv"), "--target", "first_half"]) == 0
    predictions = pd.read_parquet(out / "eval" / "predictions.parquet")
    store = ActivationStore(store_dir)
    values, ids = store.read(3, "panl")
    probe = LinearProbe.load(out / "probes" / "L3-panl")
    mine = predictions[(predictions.layer == 3) & (predictions.role == "panl")]
    assert mine["trial_id"].tolist() == ids
    assert np.array_equal(mine["prediction"].to_numpy(), probe.predict(values.double().numpy()))
    assert pd.read_csv(out / "eval" / "scores.csv")["n"].tolist() == [40] * 4
    assert main(["probe", "train", "--store", str(store_dir), "--target", "nope", "--out", str(tmp_path / "x")]) == 2
    assert "target column 'nope' is not in the labels" in capsys.readouterr().err
