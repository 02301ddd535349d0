"""Statistics against independent computations: a hand-worked ECE, scikit-learn, statsmodels,
scipy, planted variance components, and the spec's own worked numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.stats import chi2, mannwhitneyu, norm
from sklearn.metrics import brier_score_loss
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

from interp.analysis.stats import auroc, bootstrap_ci, brier, ece, implicit_threshold, mcnemar, nested_logit, phase4_policy, reliability, sdt, variance_partition


def test_ece_by_hand():
    confidence = [0.05, 0.05, 0.95, 0.95, 0.95, 0.55, 1.0]
    correct = [0, 1, 1, 1, 0, 1, 1]
    # bins: [0,.1): conf .05, acc .5 (n=2); [.5,.6): .55 vs 1 (n=1); [.9,1]: conf (0.95*3+1)/4 = .9625, acc .75 (n=4)
    expected = 2 / 7 * abs(0.5 - 0.05) + 1 / 7 * abs(1 - 0.55) + 4 / 7 * abs(0.75 - 0.9625)
    assert ece(confidence, correct) == pytest.approx(expected)
    table = reliability(confidence, correct)
    assert table["n"].tolist() == [2, 0, 0, 0, 0, 1, 0, 0, 0, 4]
    assert np.isnan(table["accuracy"].iloc[1])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ece([1.2], [1])


def test_brier_and_auroc_match_references():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(size=500)
    correct = (rng.uniform(size=500) < confidence).astype(int)
    assert brier(confidence, correct) == pytest.approx(brier_score_loss(correct, confidence))
    u = mannwhitneyu(confidence[correct == 1], confidence[correct == 0]).statistic
    assert auroc(np.round(confidence, 1), correct) == pytest.approx(
        mannwhitneyu(np.round(confidence, 1)[correct == 1], np.round(confidence, 1)[correct == 0]).statistic / ((correct == 1).sum() * (correct == 0).sum())
    )
    assert auroc(confidence, correct) == pytest.approx(u / ((correct == 1).sum() * (correct == 0).sum()))
    with pytest.raises(ValueError, match="both classes"):
        auroc([0.1, 0.2], [1, 1])


def test_variance_partition_recovers_planted_shares():
    rng = np.random.default_rng(1)
    n = 6000
    unique, shared = rng.normal(size=n), rng.normal(size=n)
    y = unique + shared + rng.normal(size=n)  # each part explains 1/3
    activations = np.column_stack([unique, shared, rng.normal(size=(n, 10))]) @ rng.normal(size=(12, 40))
    baselines = np.column_stack([shared, rng.normal(size=n)])
    out = variance_partition(activations, baselines, y)
    assert out.r2_act == pytest.approx(2 / 3, abs=0.02)
    assert out.r2_base == pytest.approx(1 / 3, abs=0.02)
    assert out.r2_both == pytest.approx(2 / 3, abs=0.02)
    assert out.r2_unique == pytest.approx(1 / 3, abs=0.02)
    assert out.r2_act + out.r2_base - out.r2_both == pytest.approx(1 / 3, abs=0.02)  # the shared part
    none = variance_partition(rng.normal(size=(n, 5)), baselines, y)
    assert none.r2_unique < 0.01 and none.r2_unique >= 0


def test_nested_logit_matches_statsmodels_and_by_hand():
    rng = np.random.default_rng(2)
    n = 3000
    data = pd.DataFrame({"C": rng.uniform(size=n), "D": rng.normal(size=n), "E": rng.normal(size=n) * 5})
    logit = -3 + 5 * data["C"] + 0.5 * data["D"]
    data["abstain"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    out = nested_logit(data, "abstain", ["D"], ["C", "E"])
    base = sm.Logit(data["abstain"], sm.add_constant(data[["D"]])).fit(disp=0)
    full = sm.Logit(data["abstain"], sm.add_constant(data[["D", "C", "E"]])).fit(disp=0)
    assert out.lr_stat == pytest.approx(2 * (full.llf - base.llf))
    assert out.lr_df == 2 and out.lr_p == pytest.approx(chi2.sf(out.lr_stat, 2))
    assert out.aic_full == pytest.approx(2 * 4 - 2 * full.llf) and out.aic_base == pytest.approx(2 * 2 - 2 * base.llf)
    null = sm.Logit(data["abstain"], np.ones((n, 1))).fit(disp=0)
    assert out.pseudo_r2_full == pytest.approx(1 - full.llf / null.llf)
    z = data[["D", "C", "E"]]
    z = (z - z.mean()) / z.std(ddof=0)
    reference = sm.Logit(data["abstain"], sm.add_constant(z)).fit(disp=0).params.drop("const")
    pd.testing.assert_series_equal(out.standardized_betas, reference, check_names=False)
    assert out.full.params["C"] == pytest.approx(5, abs=0.6)
    with pytest.raises(KeyError, match="not in the data"):
        nested_logit(data, "abstain", ["X"], ["C"])


def test_sdt_against_scipy_with_extreme_rates():
    out = sdt(hits=80, misses=20, false_alarms=30, correct_rejections=70, correction="none")
    assert out.d_prime == pytest.approx(norm.ppf(0.8) - norm.ppf(0.3))
    assert out.criterion == pytest.approx(-(norm.ppf(0.8) + norm.ppf(0.3)) / 2)
    perfect = sdt(hits=50, misses=0, false_alarms=0, correct_rejections=50)
    assert perfect.hit_rate == pytest.approx(50.5 / 51) and perfect.false_alarm_rate == pytest.approx(0.5 / 51)
    assert np.isfinite(perfect.d_prime) and perfect.d_prime == pytest.approx(norm.ppf(50.5 / 51) - norm.ppf(0.5 / 51))
    with pytest.raises(ValueError, match="signal and noise"):
        sdt(0, 0, 3, 4)


def test_mcnemar_matches_statsmodels():
    rng = np.random.default_rng(3)
    before = rng.uniform(size=400) < 0.55
    after = np.where(before, rng.uniform(size=400) < 0.95, rng.uniform(size=400) < 0.3)
    stat, p = mcnemar(before, after)
    table = pd.crosstab(before, after).to_numpy()
    reference = sm_mcnemar(table, exact=False, correction=False)
    assert stat == pytest.approx(reference.statistic) and p == pytest.approx(reference.pvalue)
    assert mcnemar([True, False], [True, False]) == (0.0, 1.0)


def test_thresholds_match_the_spec_worked_example():
    policy = phase4_policy(intercept=9.76, beta_threshold=0.1, beta_confidence=-0.18)
    assert policy["scale"] == pytest.approx(1.8) and policy["shift"] == pytest.approx(-97.6) and policy["temperature"] == pytest.approx(10)
    assert policy["shift"] + policy["scale"] * 80 == pytest.approx(46.4)  # abstention.md: 1.80·80 − 97.6 ≈ 46
    t50, temperature = implicit_threshold(intercept=4.0, beta_confidence=-8.0, beta_difficulty=2.0, mean_difficulty=0.5)
    assert t50 == pytest.approx(0.625) and temperature == pytest.approx(0.125)
    assert 1 / (1 + np.exp(-(4.0 + 2.0 * 0.5 - 8.0 * t50))) == pytest.approx(0.5)


def test_bootstrap_ci_covers_and_clusters_widen():
    rng = np.random.default_rng(4)
    values = rng.normal(1.0, 2.0, size=800)
    estimate, low, high = bootstrap_ci(lambda idx: values[idx].mean(), len(values), n_boot=2000)
    assert low < 1.0 < high and estimate == pytest.approx(values.mean())
    assert high - low == pytest.approx(2 * 1.96 * 2.0 / np.sqrt(800), rel=0.15)
    clusters = np.repeat(np.arange(80), 10)
    correlated = np.repeat(rng.normal(size=80), 10) + rng.normal(scale=0.1, size=800)
    plain = bootstrap_ci(lambda idx: correlated[idx].mean(), 800, n_boot=1000)
    clustered = bootstrap_ci(lambda idx: correlated[idx].mean(), 800, n_boot=1000, clusters=clusters)
    assert (clustered[2] - clustered[1]) > 2 * (plain[2] - plain[1])


def test_parallel_mediation_recovers_planted_paths():
    from interp.analysis.stats import parallel_mediation

    rng = np.random.default_rng(5)
    n = 6000
    item = np.repeat(np.arange(600), 10)
    x = rng.choice([-2.0, -1.0, 1.0, 2.0], size=n)
    m1 = 0.5 * x + rng.normal(size=n)
    m2 = -0.3 * x + rng.normal(size=n)
    logit = -0.2 + 0.4 * x + 1.2 * m1 + 0.8 * m2
    data = pd.DataFrame({"alpha": x, "abstain": (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int), "M1": m1, "M2": m2, "item": item})
    table = parallel_mediation(data, "alpha", "abstain", ["M1", "M2"], cluster="item", n_boot=150).set_index("effect")
    truth = {"a:M1": 0.5, "a:M2": -0.3, "b:M1": 1.2, "b:M2": 0.8, "direct": 0.4, "indirect:M1": 0.6, "indirect:M2": -0.24}
    for effect, value in truth.items():
        row = table.loc[effect]
        assert row["estimate"] == pytest.approx(value, abs=0.12), effect
        assert row["ci_low"] < value < row["ci_high"], effect
    total = sm.Logit(data["abstain"], sm.add_constant(data[["alpha"]])).fit(disp=0).params["alpha"]
    assert table.loc["total", "estimate"] == pytest.approx(total)
    assert table.loc["proportion:M1", "estimate"] == pytest.approx(table.loc["indirect:M1", "estimate"] / total)
    assert table.attrs["mediator_correlation"] == pytest.approx(np.corrcoef(m1, m2)[0, 1])
    with pytest.raises(KeyError, match="not in the data"):
        parallel_mediation(data, "alpha", "abstain", ["M3"])


def test_paired_bootstrap_test_against_a_paired_t_test():
    from scipy.stats import ttest_rel

    from interp.analysis.stats import paired_bootstrap_test

    rng = np.random.default_rng(6)
    base = rng.normal(size=400)
    shifted = base + 0.15 + rng.normal(scale=1.0, size=400)
    out = paired_bootstrap_test(shifted, base, n_boot=4000)
    reference = ttest_rel(shifted, base)
    assert out["mean_difference"] == pytest.approx((shifted - base).mean())
    assert out["p"] == pytest.approx(reference.pvalue, abs=0.02)
    assert out["ci_low"] < 0.15 < out["ci_high"]
    null = paired_bootstrap_test(base + rng.normal(size=400), base, n_boot=2000)
    assert null["p"] > 0.01 and null["ci_low"] < 0 < null["ci_high"]


def test_increment_test_matches_statsmodels_and_out_of_fold_aurocs():
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from interp.analysis.stats import increment_test

    rng = np.random.default_rng(0)
    n = 400
    b1, b2, s = rng.normal(size=(3, n))
    y = (rng.random(n) < 1 / (1 + np.exp(-(0.8 * b1 + 1.5 * s)))).astype(float)
    data = pd.DataFrame({"y": y, "b1": b1, "b2": b2, "constant": 1.0, "s": s})
    result = increment_test(data, "y", ["b1", "b2", "constant"], "s", cv=5, seed=0, n_boot=300)
    assert result.status == "ok" and result.baseline == ["b1", "b2"]
    small = sm.Logit(y, sm.add_constant(data[["b1", "b2"]])).fit(disp=0)
    large = sm.Logit(y, sm.add_constant(data[["b1", "b2", "s"]])).fit(disp=0)
    assert result.lr_stat == pytest.approx(2 * (large.llf - small.llf), rel=1e-6)
    assert result.lr_p == pytest.approx(chi2.sf(result.lr_stat, 1), rel=1e-6) and result.lr_p < 1e-6
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=np.inf, max_iter=5000))
    oof = cross_val_predict(model, data[["b1", "b2", "s"]], y, cv=folds, method="predict_proba")[:, 1]
    assert result.auroc_full == pytest.approx(roc_auc_score(y, oof), abs=1e-9)
    assert result.auroc_score == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert result.ci_low < result.difference < result.ci_high and result.ci_low > 0
    # a score that carries nothing adds nothing
    null = increment_test(data.assign(noise=rng.normal(size=n)), "y", ["b1", "s"], "noise", cv=5, seed=0, n_boot=300)
    assert null.lr_p > 0.01 and null.ci_low < 0 < null.ci_high
    one_class = increment_test(data.assign(y=1.0), "y", ["b1"], "s")
    assert one_class.status.startswith("outcome 'y' has one class") and np.isnan(one_class.lr_stat)


def test_d_prime_contrast_by_hand():
    from interp.analysis.stats import d_prime_contrast, d_prime_of

    label = np.r_[np.ones(50), np.zeros(50)]
    yes_a = np.r_[np.ones(45), np.zeros(5), np.ones(10), np.zeros(40)]
    yes_b = np.r_[np.ones(30), np.zeros(20), np.ones(25), np.zeros(25)]
    expected_a = norm.ppf(45 / 50) - norm.ppf(10 / 50)
    expected_b = norm.ppf(30 / 50) - norm.ppf(25 / 50)
    assert d_prime_of(yes_a, label) == pytest.approx(expected_a)
    result = d_prime_contrast(yes_a, yes_b, label, n_boot=500, seed=0)
    assert result["d_prime_a"] == pytest.approx(expected_a) and result["d_prime_b"] == pytest.approx(expected_b)
    assert result["difference"] == pytest.approx(expected_a - expected_b)
    assert 0 < result["ci_low"] < result["difference"] < result["ci_high"] and result["p"] < 0.05
    same = d_prime_contrast(yes_a, yes_a, label, n_boot=100)
    assert same["difference"] == same["ci_low"] == same["ci_high"] == 0
    # all hits: the log-linear correction keeps d′ finite
    assert np.isfinite(d_prime_of(np.r_[np.ones(50), np.zeros(50)], label))


def test_bandness_by_hand():
    from interp.analysis.stats import bandness

    # 2 confidence bins x 2 thresholds, 2 trials per cell: rows differ by 0.5, columns by 0.25
    abstain = [1, 1, 1, 0, 0, 0, 1, 0]
    confidence = [0.1, 0.1, 0.2, 0.2, 0.8, 0.8, 0.9, 0.9]
    threshold = [0, 100, 0, 100, 0, 100, 0, 100]
    value, surface = bandness(abstain, confidence, threshold, n_bins=2)
    grand = 0.5
    row_means, column_means = [0.75, 0.25], [0.75, 0.25]
    ss_conf = sum(4 * (m - grand) ** 2 for m in row_means)
    ss_t = sum(4 * (m - grand) ** 2 for m in column_means)
    assert value == pytest.approx(ss_conf / (ss_conf + ss_t)) and value == pytest.approx(0.5)
    assert surface["n"].sum() == 8 and len(surface) == 4
    assert surface.groupby("bin")[["confidence_low", "confidence_high"]].first().to_numpy().tolist() == [[0.1, 0.2], [0.8, 0.9]]
    horizontal, _ = bandness([1, 1, 0, 0], [0.1, 0.1, 0.9, 0.9], [0, 100, 0, 100], n_bins=2)
    assert horizontal == pytest.approx(1.0)


def test_clustered_slope_matches_statsmodels_and_clusters_widen_the_ci():
    from interp.analysis.stats import clustered_slope

    rng = np.random.default_rng(0)
    items, alphas = 60, np.array([-2, -1, 1, 2], dtype=float)
    item_effect = rng.normal(0, 20, items)
    x = np.tile(alphas, items)
    clusters = np.repeat(np.arange(items), len(alphas))
    y = 30 - 10 * x + item_effect[clusters] + rng.normal(0, 5, len(x))
    fit = clustered_slope(y, x, clusters)
    reference = sm.OLS(y, sm.add_constant(x)).fit(cov_type="cluster", cov_kwds={"groups": clusters})
    assert fit["slope"] == pytest.approx(reference.params[1]) and fit["p"] == pytest.approx(reference.pvalues[1])
    assert fit["ci_low"] < -10 < fit["ci_high"] and fit["n_clusters"] == items
    naive = sm.OLS(y, sm.add_constant(x)).fit()
    assert (fit["ci_high"] - fit["ci_low"]) != pytest.approx(float(np.diff(naive.conf_int()[1])[0]))


def _clustered_mediation_data(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    items, per_item = 150, 8
    item = np.repeat(np.arange(items), per_item)
    x = np.tile(np.array([-2.0, -1.0, 1.0, 2.0]), items * per_item // 4)
    m1 = 0.5 * x + rng.normal(0, 1.0, items)[item] + rng.normal(size=len(x))  # an item effect in every equation
    m2 = -0.3 * x + rng.normal(0, 1.0, items)[item] + rng.normal(size=len(x))
    logit = -0.2 + 0.4 * x + 1.2 * m1 + 0.8 * m2 + rng.normal(0, 1.5, items)[item]
    return pd.DataFrame({"alpha": x, "abstain": (rng.uniform(size=len(x)) < 1 / (1 + np.exp(-logit))).astype(int), "M1": m1, "M2": m2, "D": rng.normal(size=items)[item], "item": [f"q{k}" for k in item]})


def test_parallel_mediation_path_ses_are_statsmodels_cluster_robust():
    from interp.analysis.stats import parallel_mediation

    data = _clustered_mediation_data()
    groups = pd.factorize(data["item"])[0]
    table = parallel_mediation(data, "alpha", "abstain", ["M1", "M2"], covariates=["D"], cluster="item", n_boot=20).set_index("effect")
    cluster = {"cov_type": "cluster", "cov_kwds": {"groups": groups}}
    total = sm.Logit(data["abstain"], sm.add_constant(data[["alpha", "D"]])).fit(disp=0, **cluster)
    outcome = sm.Logit(data["abstain"], sm.add_constant(data[["alpha", "M1", "M2", "D"]])).fit(disp=0, **cluster)
    references = {"total": (total, "alpha"), "direct": (outcome, "alpha"), "b:M1": (outcome, "M1"), "b:M2": (outcome, "M2")}
    for m in ("M1", "M2"):
        references[f"a:{m}"] = (sm.OLS(data[m], sm.add_constant(data[["alpha", "D"]])).fit(**cluster), "alpha")
    for effect, (fit, term) in references.items():
        row = table.loc[effect]
        assert row["estimate"] == pytest.approx(fit.params[term]), effect
        assert row["se"] == pytest.approx(fit.bse[term], rel=1e-6), effect
        assert row["p"] == pytest.approx(fit.pvalues[term], rel=1e-6, abs=1e-300), effect
    naive = sm.OLS(data["M1"], sm.add_constant(data[["alpha", "D"]])).fit()
    assert table.loc["a:M1", "se"] != pytest.approx(naive.bse["alpha"], rel=0.05)  # the item effect makes clustering matter
    assert table[table.index.str.startswith(("indirect", "proportion"))]["se"].isna().all()
    plain = parallel_mediation(data, "alpha", "abstain", ["M1", "M2"], n_boot=5).set_index("effect")
    assert plain.loc["a:M1", "se"] == pytest.approx(sm.OLS(data["M1"], sm.add_constant(data[["alpha"]])).fit().bse["alpha"])


def test_fit_logit_standardises_and_clusters_like_statsmodels():
    from interp.analysis.stats import fit_logit

    data = _clustered_mediation_data(4)
    X = data[["alpha", "M1", "D"]]
    z = (X - X.mean()) / X.std(ddof=0)
    standardised = fit_logit(data["abstain"].to_numpy(float), X, standardise=True)
    reference = sm.Logit(data["abstain"], sm.add_constant(z)).fit(disp=0)
    np.testing.assert_allclose(standardised.params.to_numpy(), reference.params.to_numpy(), rtol=1e-6)
    clustered = fit_logit(data["abstain"].to_numpy(float), X, clusters=data["item"].to_numpy())
    robust = sm.Logit(data["abstain"], sm.add_constant(X)).fit(disp=0, cov_type="cluster", cov_kwds={"groups": pd.factorize(data["item"])[0]})
    np.testing.assert_allclose(clustered.bse.to_numpy(), robust.bse.to_numpy(), rtol=1e-6)


def test_variance_partition_with_inner_cv_alpha_matches_a_hand_rolled_ridgecv():
    from sklearn.linear_model import Ridge, RidgeCV
    from sklearn.metrics import r2_score
    from sklearn.model_selection import KFold
    from sklearn.preprocessing import StandardScaler

    from interp.analysis.stats.regression import RIDGE_ALPHAS

    rng = np.random.default_rng(7)
    n, d = 150, 120  # a dense weak signal in nearly as many features as rows: a fixed α = 1 overfits
    other, activations = rng.normal(size=n), rng.normal(size=(n, d))
    y = activations @ (rng.normal(size=d) / np.sqrt(d)) + 0.5 * other + rng.normal(size=n)
    base = other[:, None]

    def by_hand(X: np.ndarray, model) -> float:
        oof = np.empty(n)
        for train, test in KFold(5, shuffle=True, random_state=3).split(X):
            scaler = StandardScaler().fit(X[train])
            oof[test] = model().fit(scaler.transform(X[train]), y[train]).predict(scaler.transform(X[test]))
        return float(r2_score(y, oof))

    out = variance_partition(activations, base, y, alpha=None, seed=3)
    inner = lambda: RidgeCV(alphas=RIDGE_ALPHAS)  # noqa: E731
    assert out.r2_act == pytest.approx(by_hand(activations, inner), abs=1e-9)
    assert out.r2_base == pytest.approx(by_hand(base, inner), abs=1e-9)
    assert out.r2_both == pytest.approx(by_hand(np.hstack([activations, base]), inner), abs=1e-9)
    fixed = variance_partition(activations, base, y, alpha=1.0, seed=3)
    assert fixed.r2_both == pytest.approx(by_hand(np.hstack([activations, base]), lambda: Ridge(alpha=1.0)), abs=1e-9)
    assert out.r2_both - out.r2_base > 0.1 > 0 > fixed.r2_both - fixed.r2_base
