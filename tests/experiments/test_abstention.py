"""The abstention pipeline end to end on the tiny config, and its statistics against data
simulated with known parameters, a grid search and hand computations."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, TINY_ABSTENTION as TINY

from experiments.abstention import STAGES, load_config
from experiments.abstention.context import calibrated
from interp.cli import main
from interp.forward import last_token_logits
from interp.models import load_model
from interp.prompting import Trial
from interp.tasks import MCQTemplate, grade_triviaqa, normalize_answer

CONFIGS = REPO / "experiments" / "abstention"


def _read(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(folder / f"{name}.parquet")


def test_every_stage_writes_its_tables_and_report(tiny_abstention_run):
    folder = tiny_abstention_run
    for stage in STAGES:
        assert (folder / "stages" / f"{stage}.json").exists(), stage
    report = (folder / "report.md").read_text()
    assert "Paper vs this run" in report and "T50 ≈ 77%" in report
    assert (folder / "figures" / "phase1_reliability.png").exists() and (folder / "figures" / "steering_abstention.png").exists()


def test_items_keep_their_foil_kinds_and_no_foil_is_the_gold(tiny_abstention_run):
    items = _read(tiny_abstention_run, "items")
    assert items["status"].notna().all() and items["trial_id"].is_unique
    ok = items[items["status"] == "ok"]
    assert not set(ok.loc[ok["set"] == "calibration", "trial_id"]) & set(ok.loc[ok["set"] == "test", "trial_id"])
    for r in ok.itertuples():
        kinds, options = list(r.option_kinds), list(r.options)
        assert sorted(kinds) == ["dissimilar", "gold", "similar", "unrelated"] and options[r.correct_option - 1] == r.gold
        assert kinds[r.correct_option - 1] == "gold"
        for option, kind in zip(options, kinds):
            if kind != "gold":
                assert grade_triviaqa(option, list(r.aliases)).correct is False and normalize_answer(option) != normalize_answer(r.gold)
    phase1 = _read(tiny_abstention_run, "phase1").set_index("trial_id")
    read = phase1[phase1["status"] == "ok"]
    by_id = ok.set_index("trial_id")
    for trial_id, row in read.iterrows():
        assert row["chosen_kind"] == list(by_id.loc[trial_id, "option_kinds"])[int(row["choice"]) - 1]
        assert bool(row["correct"]) == (row["chosen_kind"] == "gold")


def test_option_logits_equal_an_independent_forward_in_every_phase(tiny_abstention_run):
    folder = tiny_abstention_run
    items = _read(folder, "items").set_index("trial_id")
    lm = load_model("tiny-qwen2")
    for phase, abstain, k in (("phase1", False, 4), ("phase2", True, 5)):
        table = _read(folder, phase)
        rows = table[table["status"] == "ok"].head(6)
        template = MCQTemplate(abstain=abstain)
        trials = [Trial(id=t, question=items.loc[t, "question"], metadata={"options": list(items.loc[t, "options"])}) for t in rows["trial_id"]]
        logits = last_token_logits(lm, template.batch(trials, lm.tokenizer, chat=True))
        options = logits[:, template.option_token_ids(lm.tokenizer)]
        np.testing.assert_allclose(rows[[f"z_{i}" for i in range(1, k + 1)]].to_numpy(float), options.numpy(), atol=1e-4)


def test_tau_is_the_grid_minimum_of_the_calibration_nll(tiny_abstention_run):
    import json

    folder = tiny_abstention_run
    phase1 = _read(folder, "phase1")
    items = _read(folder, "items").set_index("trial_id")
    cal = phase1[(phase1["set"] == "calibration") & (phase1["status"] == "ok")]
    z = cal[[f"z_{i}" for i in range(1, 5)]].to_numpy(float)
    y = items.loc[cal["trial_id"], "correct_option"].to_numpy(int) - 1
    grid = np.exp(np.linspace(np.log(0.01), np.log(100), 4001))
    nll = [-np.log(calibrated(z, t)[np.arange(len(y)), y]).sum() for t in grid]
    tau = json.loads((folder / "phase1_fit.json").read_text())["tau"]
    best = grid[int(np.argmin(nll))]
    assert -np.log(calibrated(z, tau)[np.arange(len(y)), y]).sum() <= min(nll) + 1e-6
    assert tau == pytest.approx(best, rel=0.01) or best in (grid[0], grid[-1])


def test_steering_clean_columns_are_the_phase2_readout(tiny_abstention_run):
    steering = _read(tiny_abstention_run, "steering")
    phase2 = _read(tiny_abstention_run, "phase2").set_index("trial_id")
    clean = steering.drop_duplicates("trial_id").set_index("trial_id")
    np.testing.assert_allclose(clean["clean_max_real"].to_numpy(float), phase2.loc[clean.index, "max_real"].to_numpy(float), atol=1e-5)
    assert (clean["clean_choice"].to_numpy(float) == phase2.loc[clean.index, "choice"].to_numpy(float)).all()
    trials = _read(tiny_abstention_run, "steering_trials")
    groups = trials.groupby("group")["trial_id"].apply(set)
    assert not groups["test"] & (groups["high"] | groups["low"])
    spec = load_config(TINY).steering
    cap = int(np.floor(spec.max_option_share * spec.n_vector))
    for group in ("high", "low"):
        picked = trials[trials["group"] == group]
        assert 0 < len(picked) <= spec.n_vector and picked["real_choice"].value_counts().max() <= cap
    high, low = trials[trials["group"] == "high"], trials[trials["group"] == "low"]
    assert high["margin"].min() >= low["margin"].max()


def _simulated_abstention(n: int, beta0: float, beta_c: float, beta_d: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    c, d = rng.uniform(0, 1, n), rng.normal(0, 1, n)
    p = 1 / (1 + np.exp(-(beta0 + beta_c * c + beta_d * d)))
    return pd.DataFrame({"trial_id": [f"i{k}" for k in range(n)], "abstain": (rng.random(n) < p).astype(float), "C": c, "D": d, "R": rng.normal(size=n), **{f"pc_{k}": rng.normal(size=n) for k in range(1, 4)}})


def test_t50_and_policy_temperature_are_recovered_from_simulated_data():
    from experiments.abstention.policy import model_rows, test_rows, threshold_rows

    data = _simulated_abstention(6000, beta0=4.0, beta_c=-8.0, beta_d=0.5)
    by = pd.DataFrame(threshold_rows(data, n_boot=100, seed=0)).set_index("quantity")
    true_t50 = -(4.0 + 0.5 * data["D"].mean()) / -8.0
    assert by.loc["T50", "estimate"] == pytest.approx(true_t50, abs=0.02)
    assert by.loc["T50", "ci_low"] < true_t50 < by.loc["T50", "ci_high"]
    assert by.loc["policy_temperature", "estimate"] == pytest.approx(1 / 8, rel=0.1)
    models = pd.DataFrame(model_rows(data)).set_index("model")
    assert models.loc["C", "aic"] < models.loc["R", "aic"] and models.loc["C", "beta_C"] == pytest.approx(-8, rel=0.1)
    tests = pd.DataFrame(test_rows(data)).set_index("test")
    assert tests.loc["C over E", "p"] < 1e-10 and tests.loc["R over C", "p"] > 0.001 and tests.loc["E over C", "df"] == 3


def test_phase4_scale_shift_and_temperature_are_recovered_from_simulated_data():
    from experiments.abstention.phase4 import models

    rng = np.random.default_rng(1)
    n_items, thresholds = 800, np.arange(0, 101, 10)
    confidence = rng.uniform(20, 100, n_items)
    scale, shift, temperature = 0.7, 5.0, 8.0
    rows = []
    for item, c in enumerate(confidence):
        for t in thresholds:
            p = 1 / (1 + np.exp(-((t - shift - scale * c) / temperature)))
            rows.append({"trial_id": f"i{item}", "threshold": t, "status": "ok", "abstain": bool(rng.random() < p), "C": c, "D": np.nan, "correct": None, "self_confidence": c})
    table = models(pd.DataFrame(rows), n_boot=50, seed=0).set_index("quantity")
    assert table.loc["scale", "estimate"] == pytest.approx(scale, abs=0.05)
    assert table.loc["shift", "estimate"] == pytest.approx(shift, abs=3.0)
    assert table.loc["temperature", "estimate"] == pytest.approx(temperature, rel=0.1)
    assert table.loc["scale", "ci_low"] < scale < table.loc["scale", "ci_high"]


def _simulated_phase4(n_items: int = 300, seed: int = 2) -> pd.DataFrame:
    """Phase-4 trials whose abstention follows T, C, R and pc_1 with known weights; the self-rated
    confidence sits just above T when the item is answered and just below when not (it absorbs T)."""
    rng = np.random.default_rng(seed)
    confidence, rag, pc = rng.uniform(20, 100, n_items), rng.normal(size=n_items), rng.normal(size=n_items)
    rows = []
    for item in range(n_items):
        for t in np.arange(0, 101, 10):
            logit = (t - 10 - 0.7 * confidence[item]) / 10 - 0.8 * rag[item] + 0.5 * pc[item]
            abstain = bool(rng.random() < 1 / (1 + np.exp(-logit)))
            rows.append({"trial_id": f"i{item}", "threshold": t, "status": "ok", "abstain": abstain, "C": confidence[item], "D": np.nan, "R": rag[item], "pc_1": pc[item], "correct": None, "self_confidence": t - 5.0 if abstain else t + 5.0})
    return pd.DataFrame(rows)


def test_phase4_full_model_bandness_contrast_and_surface_figure(tmp_path):
    import json
    from types import SimpleNamespace

    import statsmodels.api as sm

    from experiments.abstention.phase4 import models, surfaces
    from experiments.abstention.report import phase4_section
    from interp.analysis.stats import bandness, bootstrap_indices
    from interp.io import RunDir

    table = _simulated_phase4()
    out = models(table, n_boot=40, seed=0).set_index("quantity")
    X = table[["threshold", "C", "R", "pc_1"]].astype(float).rename(columns={"threshold": "T"})
    reference = sm.Logit(table["abstain"].astype(float), sm.add_constant((X - X.mean()) / X.std(ddof=0))).fit(disp=0)
    for name in ("T", "C", "R", "pc_1"):
        row = out.loc[f"beta_std full {name}"]
        assert row["status"] == "ok" and row["estimate"] == pytest.approx(reference.params[name], rel=1e-6) and row["z"] == pytest.approx(reference.tvalues[name], rel=1e-6)
    assert out.loc["beta_std full R", "estimate"] < 0 < out.loc["beta_std full pc_1", "estimate"]
    missing = models(table.drop(columns=["R"]).assign(pc_1=np.nan), n_boot=5, seed=0).set_index("quantity")
    assert missing.loc["beta_std full R", "status"].startswith("skipped") and missing.loc["beta_std full pc_1", "status"].startswith("skipped")
    assert missing.loc["beta_std full C", "status"] == "ok"

    contrast = out.loc["bandness contrast (Phase-1 − self-rated)"]
    data = table.assign(abstain=table["abstain"].astype(float), T=table["threshold"].astype(float))
    by_hand = [bandness(data["abstain"].iloc[r], data["C"].iloc[r], data["T"].iloc[r])[0] - bandness(data["abstain"].iloc[r], data["self_confidence"].iloc[r], data["T"].iloc[r])[0] for r in bootstrap_indices(len(data), 40, clusters=data["trial_id"].to_numpy(), seed=0)]
    assert contrast["estimate"] == pytest.approx(out.loc["bandness (Phase-1 confidence)", "estimate"] - out.loc["bandness (self-rated confidence)", "estimate"])
    assert (contrast["ci_low"], contrast["ci_high"]) == pytest.approx(tuple(np.quantile(by_hand, [0.025, 0.975])))
    assert contrast["ci_low"] < contrast["estimate"] < contrast["ci_high"] < 0  # self-rated confidence absorbs more of T

    surface = surfaces(table)
    assert set(surface["confidence_source"]) == {"Phase-1 confidence", "self-rated confidence"}
    phase1 = surface[surface["confidence_source"] == "Phase-1 confidence"]
    assert phase1["n"].sum() == len(table) and np.average(phase1["rate"], weights=phase1["n"]) == pytest.approx(data["abstain"].mean())
    run = RunDir(tmp_path / "run")
    for name, frame in (("phase4", table.assign(phase1_choice_kept=True)), ("phase4_models", out.reset_index()), ("phase4_surface", surface)):
        run.write_table(name, frame)
    (run.path / "phase4.json").write_text(json.dumps({"wording": 0, "abstention_at_100": {"0": 0.9}, "n_items": 8}))
    rows: list = []
    lines = "\n".join(phase4_section(SimpleNamespace(run=run), rows))
    assert (run.path / "figures" / "phase4_surface.png").exists() and "phase4_surface.png" in lines
    compared = {name: ours for name, _, ours, _ in rows}
    assert "R " in compared["Phase 4 standardised βs (full model)"] and "pc_1" in compared["Phase 4 standardised βs (full model)"]
    assert "Phase-1 − self-rated" in compared["Bandness (contrast: item-bootstrap CI)"] and "[" in compared["Bandness (contrast: item-bootstrap CI)"]


def test_phase2_full_model_with_verbal_confidence_recovers_its_weight():
    import statsmodels.api as sm

    from experiments.abstention.policy import verbal_model_rows

    data = _simulated_abstention(4000, beta0=2.0, beta_c=-4.0, beta_d=0.3, seed=3)
    rng = np.random.default_rng(4)
    data["V"] = rng.uniform(0, 1, len(data))
    logit = 2.0 - 4.0 * data["C"] + 0.3 * data["D"] - 2.0 * data["V"]
    data["abstain"] = (rng.random(len(data)) < 1 / (1 + np.exp(-logit))).astype(float)
    row = verbal_model_rows(data)[0]
    predictors = ["C", "D", "R", "pc_1", "pc_2", "pc_3", "V"]
    reference = sm.Logit(data["abstain"], sm.add_constant(data[predictors])).fit(disp=0)
    without = sm.Logit(data["abstain"], sm.add_constant(data[predictors[:-1]])).fit(disp=0)
    assert row["model"] == "C+D+R+E+V" and row["status"] == "ok" and row["predictors"] == ", ".join(predictors)
    assert row["aic"] == pytest.approx(reference.aic) and row["beta_V"] == pytest.approx(reference.params["V"]) and row["z_V"] == pytest.approx(reference.tvalues["V"])
    assert row["beta_V"] == pytest.approx(-2.0, abs=0.4) and row["lr_stat_V"] == pytest.approx(2 * (reference.llf - without.llf)) and row["lr_p_V"] < 1e-6
    assert row["beta_C"] == pytest.approx(-4.0, abs=0.5)
    absent = verbal_model_rows(data.drop(columns=["V"]))[0]
    assert absent["model"] == "C+D+R+E+V" and absent["status"].startswith("skipped")
    assert verbal_model_rows(data.assign(V=np.nan))[0]["status"].startswith("skipped")
    no_rag = verbal_model_rows(data.assign(R=np.nan))[0]
    kept = [p for p in predictors if p != "R"]
    reference = sm.Logit(data["abstain"], sm.add_constant(data[kept])).fit(disp=0)
    assert no_rag["model"] == "C+D+E+V (no R)" and no_rag["predictors"] == ", ".join(kept) and no_rag["aic"] == pytest.approx(reference.aic)


def test_mediation_path_ses_are_clustered_by_item(tiny_abstention_run):
    import statsmodels.api as sm

    mediation = _read(tiny_abstention_run, "mediation")
    main = mediation[(mediation["variant"] == "M1 + M2") & (mediation["status"] == "ok")].set_index("effect")
    if main.empty:
        pytest.skip(f"mediation did not fit on the tiny run: {mediation['status'].iloc[0]}")
    trials = _read(tiny_abstention_run, "mediation_trials").dropna(subset=["alpha", "abstain", "m1", "m2"])
    groups = pd.factorize(trials["trial_id"])[0]
    a = sm.OLS(trials["m1"], sm.add_constant(trials[["alpha"]])).fit(cov_type="cluster", cov_kwds={"groups": groups})
    assert main.loc["a:m1", "estimate"] == pytest.approx(a.params["alpha"]) and main.loc["a:m1", "se"] == pytest.approx(a.bse["alpha"], rel=1e-6)
    assert main.loc["a:m1", "p"] == pytest.approx(a.pvalues["alpha"], rel=1e-6, abs=1e-300)
    total = sm.Logit(trials["abstain"], sm.add_constant(trials[["alpha"]])).fit(disp=0, cov_type="cluster", cov_kwds={"groups": groups})
    assert main.loc["total", "se"] == pytest.approx(total.bse["alpha"], rel=1e-5)
    assert main.loc[["total", "direct", "a:m1", "b:m1", "a:m2", "b:m2"], "se"].notna().all()
    assert "| se | p |" in (tiny_abstention_run / "report.md").read_text()


def test_decoding_delta_r2_uses_an_inner_cv_ridge_alpha(tiny_abstention_run):
    from interp.analysis.stats import variance_partition
    from interp.io import ActivationStore

    decoding = _read(tiny_abstention_run, "decoding")
    unique = decoding[decoding["metric"] == "delta_r2"].set_index(["layer", "target"])
    assert len(unique)
    verbal = _read(tiny_abstention_run, "verbal")
    rated = verbal[verbal["status"] == "ok"].dropna(subset=["verbal_confidence"]).set_index("trial_id")
    layer = int(unique.index.get_level_values("layer")[0])
    values, ids = ActivationStore(tiny_abstention_run / "activations_phase1").read(layer, "answer_colon", only_finite=True)
    keep = [k for k, t in enumerate(ids) if t in rated.index]
    rows = rated.loc[[ids[k] for k in keep]]
    part = variance_partition(values[keep].double().numpy(), rows[["chosen_confidence"]].to_numpy(float), rows["verbal_confidence"].to_numpy(float), alpha=None, seed=load_config(TINY).seed)
    row = unique.loc[(layer, "verbal confidence")]
    assert row["r2_both"] == pytest.approx(part.r2_both, abs=1e-9) and row["score"] == pytest.approx(part.r2_both - part.r2_base, abs=1e-9)
    report = (tiny_abstention_run / "report.md").read_text()
    assert "ΔR² over the other readout (AC)" in report and "Verbal confidence in the full Phase-2 model" in report
    assert _read(tiny_abstention_run, "phase2_verbal")["model"].tolist() == ["C+D+E+V (no R)"]


@pytest.mark.slow
def test_killed_mid_run_resumes_without_redoing_finished_work(tiny_abstention_run, tmp_path):
    out = tmp_path / "resumed"
    command = [sys.executable, "-m", "interp.cli", "run", "abstention", "--config", str(TINY), "--out", str(out)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    parts = out / "parts" / "controls"
    deadline = time.time() + 300
    while time.time() < deadline and len(list(parts.glob("*.parquet"))) < 2:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "stages" / "controls.json").exists(), "the run finished before it could be killed"
    committed = {p.name: p.stat().st_mtime_ns for p in parts.glob("*.parquet")}
    assert committed
    assert main(["run", "abstention", "--config", str(TINY), "--out", str(out)]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in parts.glob("*.parquet") if p.name in committed} == committed
    for table in ("items", "phase1", "phase2", "controls", "steering_summary", "phase4"):
        pd.testing.assert_frame_equal(_read(out, table), _read(tiny_abstention_run, table), check_exact=False, atol=1e-6)


def test_dry_run_plans_the_paper_models_offline(capsys):
    assert main(["run", "abstention", "--config", str(CONFIGS / "gemma-3-27b-it.yaml"), "--dry-run"]) == 0
    gemma = capsys.readouterr().out
    assert "62 layers, d_model 5376" in gemma and "calibration 1000, test 1000" in gemma
    assert "| steering | 500 | 11 | 1 | 8 |" in gemma
    assert main(["run", "abstention", "--config", str(CONFIGS / "qwen2.5-7b-instruct.yaml"), "--dry-run"]) == 0
    assert "| steering | 500 | 6 | 1 | 8 |" in capsys.readouterr().out


def test_a_separated_phase2_model_is_flagged_not_reported_as_clean():
    from experiments.abstention.policy import model_rows

    rng = np.random.default_rng(0)
    c = rng.uniform(0, 1, 200)
    data = pd.DataFrame({"abstain": (c < 0.5).astype(float), "C": c, "D": rng.uniform(0, 1, 200)})
    rows = {r["model"]: r for r in model_rows(data, {"C": ["C"], "D": ["D"]})}
    assert rows["C"]["status"].startswith("ok (") and "unreliable" in rows["C"]["status"]  # C separates abstention perfectly
    assert rows["D"]["status"] == "ok"


def test_phase2_tests_of_a_constant_outcome_are_statuses_not_zero_statistics():
    from experiments.abstention.policy import test_rows

    rng = np.random.default_rng(1)
    data = pd.DataFrame({"abstain": np.zeros(100), "C": rng.uniform(0, 1, 100), "D": rng.uniform(0, 1, 100), "R": np.nan, "pc_1": rng.normal(size=100)})
    rows = {r["test"]: r for r in test_rows(data)}
    assert rows["D over C"]["status"] == "abstention has one class" and "lr_stat" not in rows["D over C"]
    assert rows["R over C"]["status"].startswith("skipped")
