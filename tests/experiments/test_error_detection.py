"""The error-detection pipeline end to end on the tiny config, checked against hand computations,
statsmodels fits written here, independent forwards and the identities a correct run satisfies."""

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
import statsmodels.api as sm
import torch
from conftest import REPO, TINY_ERROR_DETECTION as TINY
from scipy.stats import norm

from experiments.error_detection import STAGES, load_config, run
from experiments.error_detection.context import SDT_CELLS
from interp.cli import main
from interp.forward import generate, last_token_logits
from interp.models import load_model
from interp.prompting import Trial
from interp.tasks import CorrectionTemplate, VerificationTemplate, grade_triviaqa, normalize_answer

CONFIGS = REPO / "experiments" / "error_detection"


def _read(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(folder / f"{name}.parquet")


def test_every_stage_writes_its_tables_figures_and_report(tiny_error_detection_run):
    folder = tiny_error_detection_run
    for stage in STAGES:
        assert (folder / "stages" / f"{stage}.json").exists(), stage
    for name in ("detection", "behaviour_summary", "regressions", "probes", "probe_tests", "pik", "foils", "foil_sdt", "patching_recovery", "noising_summary"):
        assert len(_read(folder, name)), name
    report = (folder / "report.md").read_text()
    assert "Paper vs this run" in report and "PANL L30 0.986" in report
    for figure in ("probes", "foil_sdt", "patching_d_prime", "noising_d_prime"):
        assert (folder / "figures" / f"{figure}.png").stat().st_size > 1000, figure
        assert f"figures/{figure}.png)" in report


def test_every_input_row_ends_with_one_status(tiny_error_detection_run):
    folder = tiny_error_detection_run
    trials = _read(folder, "trials")
    detection = _read(folder, "detection")
    used = trials[trials["set"] == "trials"]
    assert sorted(detection["trial_id"]) == sorted(used["id"])
    assert detection["trial_id"].is_unique and detection["status"].notna().all()
    assert set(trials.loc[trials["set"] != "trials", "status"]) <= {"ok"} | set(trials["status"])
    # the gold share is what the config asked for, and the rest are the model's own answers
    assert (detection["a1_source"] == "gold").sum() == round(0.5 * detection["answer"].notna().sum())
    gold = detection[detection["a1_source"] == "gold"]
    assert (gold["answer"] == gold["gold"]).all() and gold["correct"].all()


def test_sdt_cells_count_each_trial_once_and_d_prime_matches_a_hand_computation(tiny_error_detection_run):
    detection = _read(tiny_error_detection_run, "detection")
    verified = detection[(detection["verification_status"] == "ok") & detection["correct"].notna()].dropna(subset=["logprob_mean", "confidence", "vld"])
    counts = verified["sdt_cell"].value_counts()
    assert counts.sum() == len(verified) and set(counts.index) <= set(SDT_CELLS)
    correct, yes = verified["correct"].astype(bool), verified["yes"].astype(bool)
    assert counts.get("hit", 0) == int((correct & yes).sum()) and counts.get("correct rejection", 0) == int((~correct & ~yes).sum())
    h, m, f, r = (counts.get(c, 0) for c in SDT_CELLS)
    if min(h, m, f, r) == 0:
        h, m, f, r = h + 0.5, m + 0.5, f + 0.5, r + 0.5
    zh, zf = norm.ppf(h / (h + m)), norm.ppf(f / (f + r))
    summary = _read(tiny_error_detection_run, "behaviour_summary").set_index("quantity")
    assert summary.loc["d_prime", "estimate"] == pytest.approx(zh - zf, abs=1e-9)
    assert summary.loc["criterion", "estimate"] == pytest.approx(-(zh + zf) / 2, abs=1e-9)
    assert summary.loc["errors_detected", "estimate"] == pytest.approx(1 - f / (f + r), abs=1e-9)
    assert summary.loc["d_prime", "ci_low"] <= summary.loc["d_prime", "estimate"] <= summary.loc["d_prime", "ci_high"]


def test_p2_likelihood_ratio_matches_a_statsmodels_fit(tiny_error_detection_run):
    detection = _read(tiny_error_detection_run, "detection")
    data = detection[(detection["verification_status"] == "ok") & detection["correct"].notna()].dropna(subset=["logprob_mean", "confidence", "vld"])
    y = data["yes"].astype(float)
    small = sm.Logit(y, sm.add_constant(data[["logprob_mean"]].astype(float))).fit(disp=0)
    large = sm.Logit(y, sm.add_constant(data[["logprob_mean", "confidence"]].astype(float))).fit(disp=0)
    regressions = _read(tiny_error_detection_run, "regressions").set_index("model")
    row = regressions.loc["(a) V ~ ℓ̄ + confidence"]
    assert row["lr_stat"] == pytest.approx(2 * (large.llf - small.llf), rel=1e-6)
    assert row["n"] == len(data)
    z = data[["logprob_mean", "confidence"]].astype(float)
    standardised = sm.Logit(y, sm.add_constant((z - z.mean()) / z.std(ddof=0))).fit(disp=0).params
    assert row["beta_confidence"] == pytest.approx(standardised["confidence"], rel=1e-5)


def test_verdicts_equal_an_independent_forward_and_the_store_holds_pl(tiny_error_detection_run):
    folder = tiny_error_detection_run
    detection = _read(folder, "detection").head(8)
    lm = load_model("tiny-qwen2")
    template = VerificationTemplate(strip_answer_punctuation=True)
    choice = pd.read_json(folder / "pilot.json").get("verification")
    template.readout_separator, template.readout_suffix = choice["separator"], choice["suffix"]
    trials = [Trial(id=r.trial_id, question=r.question, answer=r.answer) for r in detection.itertuples()]
    batch = template.batch(trials, lm.tokenizer, chat=True)
    logits = last_token_logits(lm, batch)
    yes_id, no_id = template.yes_no_token_ids(lm.tokenizer)
    logp = logits.log_softmax(-1)
    vld = (logp[:, yes_id] - logp[:, no_id]).numpy()
    np.testing.assert_allclose(detection["vld"].to_numpy(float), vld, atol=1e-4)
    assert list(detection["verdict"]) == ["Y" if v > 0 else "N" for v in vld]
    with torch.inference_mode():
        hidden = lm.model(**batch.model_inputs(), output_hidden_states=True).hidden_states
    from interp.io import ActivationStore

    values, ids = ActivationStore(folder / "activations").read(2, "pl")
    where = {t: k for k, t in enumerate(ids)}
    stored = values[[where[t] for t in batch.trial_ids]]
    torch.testing.assert_close(stored, hidden[3][:, -1].float(), atol=1e-4, rtol=1e-4)


def test_a2_and_answer_change_follow_the_correction_prompt(tiny_error_detection_run):
    detection = _read(tiny_error_detection_run, "detection")
    rows = detection[detection["correction_status"] == "ok"].head(6)
    lm = load_model("tiny-qwen2")
    trials = [Trial(id=r.trial_id, question=r.question, answer=r.answer, metadata={"verdict": r.verdict}) for r in rows.itertuples()]
    batches, _ = CorrectionTemplate(True).batches(trials, lm.tokenizer, 8, chat=True)
    generated = {g.trial_id: g for g in generate(lm, batches, max_new_tokens=12, progress=False)}
    for r in rows.itertuples():
        assert generated[r.trial_id].answer == r.a2
        assert r.answer_change == (normalize_answer(r.a2) != normalize_answer(r.answer))
        assert r.a2_correct == bool(grade_triviaqa(r.a2, list(r.aliases)).correct)


def test_foils_are_never_a_gold_alias_and_keep_their_kinds(tiny_error_detection_run):
    folder = tiny_error_detection_run
    foils = _read(folder, "foils")
    detection = _read(folder, "detection").set_index("trial_id")
    ok = foils[foils["status"] == "ok"]
    assert set(ok["kind"]) == {"hard", "easy", "unrelated"}
    for r in ok.itertuples():
        aliases = list(detection.loc[r.trial_id, "aliases"])
        assert grade_triviaqa(r.foil, aliases).correct is False
        assert normalize_answer(r.foil) not in {normalize_answer(a) for a in aliases}
    trials = _read(folder, "foil_trials")
    assert set(trials["trial_id"]) == {f"{r.trial_id}#foil-{r.kind}" for r in ok.itertuples()}
    assert (trials["kind"] == trials["trial_id"].str.split("#foil-").str[1]).all()
    assert (trials["foil"].notna()).all()


def test_pik_samples_are_reproducible_by_seed(tiny_error_detection_run, tmp_path):
    from experiments.error_detection.context import ErrorDetectionContext
    from experiments.error_detection.pik import samples
    from interp.io import RunDir

    folder = tiny_error_detection_run
    drawn = _read(folder, "pik_samples")
    detection = _read(folder, "detection").head(5)
    trials = [Trial(id=r.trial_id, question=r.question, gold=r.gold, aliases=tuple(r.aliases)) for r in detection.itertuples()]
    config = load_config(TINY)
    ctx = ErrorDetectionContext(config, RunDir(folder))
    again = samples(ctx, trials[::-1])
    mine = drawn[drawn["trial_id"].isin(detection["trial_id"])].sort_values(["trial_id", "sample"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(again.sort_values(["trial_id", "sample"]).reset_index(drop=True)[mine.columns], mine, check_dtype=False)
    pik = _read(folder, "pik").set_index("trial_id")
    graded = drawn[drawn["status"] == "ok"].groupby("trial_id")["correct"].mean()
    np.testing.assert_allclose(pik.loc[graded.index, "pik"].to_numpy(float), graded.to_numpy(float))
    config.seed = 1
    other = samples(ErrorDetectionContext(config, RunDir(folder)), trials)
    assert list(other["answer"]) != list(mine["answer"])


def test_patching_the_last_layer_at_pl_restores_the_clean_verdicts(tiny_error_detection_run):
    table = _read(tiny_error_detection_run, "patching")
    last = table[(table["layer"] == 3) & (table["role"] == "pl")]
    np.testing.assert_allclose(last["vld"].to_numpy(float), last["clean_vld"].to_numpy(float), atol=1e-4)
    recovery = _read(tiny_error_detection_run, "patching_recovery").set_index(["layer", "role"])
    assert recovery.loc[(3, "pl"), "patched_d_prime"] == pytest.approx(recovery.loc[(3, "pl"), "clean_d_prime"], abs=1e-9)
    trials = _read(tiny_error_detection_run, "patching_trials")
    test, calibration = trials[trials["role_in"] == "test"], trials[trials["role_in"] == "calibration"]
    assert not set(test["trial_id"]) & set(calibration["trial_id"])
    assert set(test["group"]) == {"correct", "wrong"} and (test["correct"].astype(bool) == (test["group"] == "correct")).all()


def test_noising_calibration_is_balanced_over_sdt_cells_and_disjoint(tiny_error_detection_run):
    trials = _read(tiny_error_detection_run, "noising_trials")
    calibration = trials[trials["role_in"] == "calibration"]
    counts = calibration["sdt_cell"].value_counts()
    detection = _read(tiny_error_detection_run, "detection")
    available = detection["sdt_cell"].value_counts()
    for cell in SDT_CELLS:
        assert counts.get(cell, 0) == min(4, available.get(cell, 0)), cell
    assert not set(calibration["trial_id"]) & set(trials.loc[trials["role_in"] == "test", "trial_id"])
    summary = _read(tiny_error_detection_run, "noising_summary")
    assert set(summary["role"]) == {"panl", "last_answer_token", "last_answer_token+panl"}
    np.testing.assert_allclose(summary["delta_d_prime"], summary["d_prime"] - summary["clean_d_prime"])


@pytest.mark.slow
def test_killed_mid_run_resumes_without_redoing_finished_work(tiny_error_detection_run, tmp_path):
    out = tmp_path / "resumed"
    command = [sys.executable, "-m", "interp.cli", "run", "error-detection", "--config", str(TINY), "--out", str(out)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    parts = out / "parts" / "pik"
    deadline = time.time() + 240
    while time.time() < deadline and len(list(parts.glob("*.parquet"))) < 1:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "stages" / "pik.json").exists(), "the run finished before it could be killed"
    committed = {p.name: p.stat().st_mtime_ns for p in parts.glob("*.parquet")}
    shards = {p.name: p.stat().st_mtime_ns for p in (out / "activations" / "shards").glob("*.safetensors")}
    assert committed and shards
    assert main(["run", "error-detection", "--config", str(TINY), "--out", str(out)]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in parts.glob("*.parquet") if p.name in committed} == committed
    assert {p.name: p.stat().st_mtime_ns for p in (out / "activations" / "shards").glob("*.safetensors")} == shards
    for table in ("detection", "probes", "pik", "foil_sdt", "patching_recovery", "noising_summary"):
        pd.testing.assert_frame_equal(_read(out, table), _read(tiny_error_detection_run, table), check_exact=False, atol=1e-6)


def test_dry_run_plans_the_paper_models_offline(capsys):
    assert main(["run", "error-detection", "--config", str(CONFIGS / "gemma-3-27b-it.yaml"), "--dry-run"]) == 0
    gemma = capsys.readouterr().out
    assert "62 layers, d_model 5376" in gemma and "trials 8000" in gemma
    assert "| patching | 400 | 62 | 5 | 1 |" in gemma and "| noising | 400 | 62 | 3 | 1 |" in gemma
    assert main(["run", "error-detection", "--config", str(CONFIGS / "qwen2.5-7b-instruct.yaml"), "--dry-run"]) == 0
    qwen = capsys.readouterr().out
    assert "28 layers, d_model 3584" in qwen and "trials 3500" in qwen and "GPU hours" in qwen


def test_run_list_names_the_pipeline(capsys):
    assert main(["run", "--list"]) == 0
    assert "error-detection" in capsys.readouterr().out


def test_mnli_keeps_neutral_items_and_statuses_the_rest(tmp_path):
    from experiments.error_detection.context import ErrorDetectionContext
    from experiments.verbal_confidence.behaviour import load_rows
    from interp.io import RunDir
    from conftest import MNLI, need

    config = load_config(TINY, {"data": {"dataset": "mnli", "path": str(need(MNLI)), "limit": 60}, "sets": {"trials": 10}})
    rows = load_rows(ErrorDetectionContext(config, RunDir(tmp_path)), keep=lambda f: f["gold"] == "neutral", why_not="excluded: not neutral")
    others = rows[rows["gold"] != "neutral"]
    assert len(others) and (others["status"] != "ok").all() and "excluded: not neutral" in set(others["status"])
    assert set(rows.loc[rows["set"] == "trials", "gold"]) == {"neutral"}
    assert rows["question"].str.contains("entailment, neutral or contradiction").all()


def test_a_merged_panl_and_an_empty_a2_end_with_their_status(tmp_path):
    from conftest import QWEN_DIR, need

    from experiments.error_detection.verify import detection_table, verdict_table
    from interp.forward import capture_dataset
    from interp.models import tiny

    lm = load_model(tiny("qwen2", tokenizer=need(QWEN_DIR)))
    template = VerificationTemplate()
    trials = [Trial(id="ok", question="What is the capital of France?", answer="Paris"), Trial(id="merged", question="Which city?", answer="Washington, D.C.")]
    store = capture_dataset(lm, trials, template, [0, 1], ["panl", "pl"], tmp_path / "store", batch_size=2, progress=False, readout=template.readout(lm.tokenizer))
    verdicts = verdict_table(store.index()).set_index("trial_id")
    assert verdicts.loc["ok", "verification_status"] == "ok" and verdicts.loc["ok", "verdict"] in ("Y", "N")
    assert verdicts.loc["merged", "verification_status"].startswith("panl: token") and pd.isna(verdicts.loc["merged", "verdict"])
    behaviour = pd.DataFrame(
        {
            "trial_id": ["ok", "merged", "unanswered"],
            "question": ["q"] * 3,
            "gold": ["Paris", "Washington", "x"],
            "aliases": [["Paris"], ["Washington"], ["x"]],
            "answer": ["Paris", "Washington, D.C.", None],
            "correct": [True, True, None],
            "confidence": [0.9, 0.5, None],
            "logprob_mean": [-0.1, -0.5, None],
            "status": ["ok", "ok", "phase0: empty answer"],
        }
    )
    correction = pd.DataFrame({"trial_id": ["ok"], "correction_status": ["a2: empty answer (nothing before the first newline)"], "a2": [None], "a2_correct": [None], "answer_change": [None]})
    table = detection_table(behaviour, verdicts.reset_index(), correction).set_index("trial_id")
    assert table.loc["ok", "status"] == "correction: a2: empty answer (nothing before the first newline)"
    assert table.loc["merged", "status"].startswith("verification: panl: token")
    assert table.loc["unanswered", "status"] == "stage 0: phase0: empty answer"
    assert table.loc["ok", "sdt_cell"] in ("hit", "miss") and pd.isna(table.loc["merged", "sdt_cell"])


def test_transfer_scores_the_probes_across_tasks(tiny_error_detection_run, tmp_path):
    from conftest import MNLI, need

    overrides = {
        "data": {"dataset": "mnli", "path": str(need(MNLI))},
        "sets": {"trials": 80},
        "transfer": {"run": str(tiny_error_detection_run)},
    }
    folder = Path(run(load_config(TINY, overrides), stages="answers,verification,correction,transfer", out=tmp_path / "mnli"))
    detection = _read(folder, "detection")
    assert set(detection["gold"]) == {"neutral"}
    transfer = _read(folder, "transfer")
    aurocs = transfer[transfer["metric"] == "auroc"]
    assert {(r.train, r.test) for r in aurocs.itertuples() if r.target == "V"} == {("mnli", "triviaqa"), ("triviaqa", "mnli")}
    scored = aurocs[aurocs["status"] == "ok"]
    assert len(scored) and ((scored["ci_low"] <= scored["estimate"]) & (scored["estimate"] <= scored["ci_high"])).all()
    cosines = transfer[transfer["metric"] == "cosine"]
    assert len(cosines) and cosines["estimate"].between(-1, 1).all()


def test_config_errors_name_the_key():
    from interp.errors import ConfigError

    with pytest.raises(ConfigError, match=r"patching\.n_correct"):
        load_config(TINY, {"patching": {"n_correct": "many"}})
    with pytest.raises(ConfigError, match="unknown key 'n_samples'"):
        load_config(TINY, {"foils": {"n_samples": 3}})


def test_mnli_is_topped_up_from_a_second_file_only_when_short(tmp_path):
    from conftest import MNLI, need

    from experiments.error_detection.context import ErrorDetectionContext
    from experiments.error_detection.verify import mnli_top_up
    from experiments.verbal_confidence.behaviour import load_rows
    from interp.io import RunDir

    short = {"data": {"dataset": "mnli", "path": str(need(MNLI)), "limit": 30}, "filter": {"mnli_top_up": str(MNLI)}, "sets": {"trials": 20}}
    config = load_config(TINY, short)
    ctx = ErrorDetectionContext(config, RunDir(tmp_path / "short"))
    rows = load_rows(ctx, keep=lambda f: f["gold"] == "neutral", extra=mnli_top_up(ctx))
    assert rows["id"].str.startswith("mm-").any() and rows["id"].is_unique
    assert set(rows.loc[rows["set"] == "trials", "gold"]) == {"neutral"} and (rows["set"] == "trials").sum() == 20
    enough = ErrorDetectionContext(load_config(TINY, {**short, "data": {**short["data"], "limit": 400}}), RunDir(tmp_path / "enough"))
    rows = load_rows(enough, keep=lambda f: f["gold"] == "neutral", extra=mnli_top_up(enough))
    assert not rows["id"].str.startswith("mm-").any()
