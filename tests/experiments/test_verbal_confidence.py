"""The verbal-confidence pipeline end to end on the tiny configs, checked against independent
forwards, hand computations and the identities a correct pipeline must satisfy."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import REPO, TRIVIAQA, assert_sweeps_match_full_forwards, need
from conftest import TINY_VERBAL_CONFIDENCE as TINY
from safetensors.torch import load_file

from experiments.verbal_confidence import STAGES, load_config, run
from experiments.verbal_confidence.paper import PAPER
from interp.cli import main
from interp.errors import ConfigError
from interp.io import ActivationStore, code_identity, write_parquet
from interp.models import load_model
from interp.prompting import Trial
from interp.tasks import CONFIDENCE_CLASSES, CategoricalConfidenceTemplate

CONFIGS = REPO / "experiments" / "verbal_confidence"


def _read(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(folder / f"{name}.parquet")


def test_every_stage_writes_its_table_figures_and_report(tiny_run):
    for stage in STAGES:
        assert (tiny_run / "stages" / f"{stage}.json").exists(), stage
    for table in ("trials", "behaviour", "capture", "steering", "patching", "patching_recovery", "noising", "swap", "ood", "blocking", "probes", "variance"):
        assert len(_read(tiny_run, table)), table
    figures = {p.stem for p in (tiny_run / "figures").glob("*.png")}
    assert {"reliability", "steering", "patching", "noising", "swap", "blocking_minimal", "blocking_categorical", "probes_confidence", "variance_partition", "variance_bars"} <= figures
    report = (tiny_run / "report.md").read_text()
    for key in ("accuracy", "ece", "steering_baseline", "patching_l25", "noising", "swap", "ood", "blocking_minimal", "blocking_categorical", "panl_unique"):
        assert PAPER[key][0] in report, key
    for figure in figures:
        if figure != "probes_correct":
            assert f"figures/{figure}.png" in report, figure


def test_every_row_has_a_status_and_the_sets_are_disjoint(tiny_run):
    trials = _read(tiny_run, "trials")
    config = load_config(TINY)
    assert trials["status"].notna().all() and trials["id"].is_unique
    counts = trials["set"].value_counts()
    for name, size in asdict(config.sets).items():
        assert counts.get(name, 0) == size
    behaviour = _read(tiny_run, "behaviour")
    assert sorted(behaviour["trial_id"]) == sorted(trials.loc[trials["set"].isin(["behaviour", "activation", "calibration"]), "id"])
    assert behaviour["status"].notna().all()
    assert (behaviour.groupby("trial_id")["set"].nunique() == 1).all()
    for stage in ("steering", "patching", "noising", "swap", "blocking"):
        assert _read(tiny_run, stage)["status"].notna().all(), stage
    # Calibration trials never serve as test trials.
    calibration = set(behaviour.loc[behaviour["set"] == "calibration", "trial_id"])
    for stage in ("steering", "patching", "noising"):
        assert not calibration & set(_read(tiny_run, stage)["trial_id"]), stage


def test_phase1_readout_equals_an_independent_forward(tiny_run):
    behaviour = _read(tiny_run, "behaviour")
    rows = behaviour[behaviour["status"] == "ok"].head(3)
    lm = load_model("tiny-qwen2")
    template = CategoricalConfidenceTemplate(strip_answer_punctuation=True)
    ids = template.class_token_ids(lm.tokenizer)
    for row in rows.itertuples():
        text = template.render(Trial(id=row.trial_id, question=row.question, answer=row.answer), lm.tokenizer).text
        tokens = lm.tokenizer(text, return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            logits = lm.model(**tokens).logits[0, -1, ids]
        k = int(logits.argmax())
        assert row.confidence_class == CONFIDENCE_CLASSES[k].label
        assert row.confidence == pytest.approx(CONFIDENCE_CLASSES[k].midpoint)
        others = torch.cat([logits[:k], logits[k + 1 :]])
        assert row.logit_diff == pytest.approx(float(logits[k] - others.mean()), abs=1e-4)


def test_patching_the_last_layer_at_cc_restores_the_clean_readout(tiny_run):
    table = _read(tiny_run, "patching")
    last = table[(table["layer"] == 3) & (table["role"] == "confidence_colon") & (table["status"] == "ok")]
    assert len(last) == load_config(TINY).patching.n_test
    np.testing.assert_allclose(last["logit_diff"], last["clean_logit_diff"], atol=1e-4)
    assert (last["confidence"] == last["clean_confidence"]).all()
    recovery = _read(tiny_run, "patching_recovery").set_index(["layer", "role"])
    corrupt = table[table["condition"] == "corrupt"]
    if corrupt["confidence"].mean() != last["clean_confidence"].mean():
        assert recovery.loc[(3, "confidence_colon"), "recovery_confidence"] == pytest.approx(100.0)


def test_swap_at_the_last_layer_cc_reads_the_donor_and_donors_are_matched(tiny_run):
    table = _read(tiny_run, "swap")
    behaviour = _read(tiny_run, "behaviour").set_index("trial_id")
    last = table[(table["layer"] == 3) & (table["role"] == "confidence_colon") & (table["status"] == "ok")]
    assert set(last["regime"]) == {"high_to_high", "high_to_low", "low_to_high", "low_to_low"}
    donor_probs = behaviour.loc[last["donor"], [f"p_{k}" for k in range(1, 11)]].to_numpy()
    np.testing.assert_allclose(np.stack(last["probs"].to_list()), donor_probs, atol=1e-4)
    pairs = table.drop_duplicates("trial_id")
    assert (pairs["recipient"] != pairs["donor"]).all()
    assert (pairs["trial_id"].str.split("#").str[0] == pairs["recipient"]).all()


def test_noising_the_last_layer_at_cc_gives_every_row_the_same_readout(tiny_run):
    table = _read(tiny_run, "noising")
    last = table[(table["layer"] == 3) & (table["role"] == "confidence_colon")]
    probs = np.stack(last["probs"].to_list())
    np.testing.assert_allclose(probs, np.broadcast_to(probs[0], probs.shape), atol=1e-5)
    assert set(last["group"]) == {"high", "low"}


def test_steering_vectors_equal_a_hand_computation_from_the_store(tiny_run):
    vectors = load_file(str(tiny_run / "steering_vectors.safetensors"))
    chosen = _read(tiny_run, "steering_trials")
    store = ActivationStore(tiny_run / "activations")
    behaviour = _read(tiny_run, "behaviour").set_index("trial_id")
    index = store.index().set_index("trial_id")
    pool = [t for t in behaviour.index[(behaviour["set"] == "activation") & (behaviour["status"] == "ok")] if index.loc[t, "status"] == "ok"]
    values, ids = store.read(2, "panl")
    acts = pd.DataFrame(values.double().numpy(), index=ids)
    high = acts.loc[chosen.loc[chosen["group"] == "vector_high", "trial_id"]].mean().to_numpy()
    low = acts.loc[chosen.loc[chosen["group"] == "vector_low", "trial_id"]].mean().to_numpy()
    direction = (high - low) / np.linalg.norm(high - low)
    expected = direction * 0.03 * np.linalg.norm(acts.loc[pool].to_numpy(), axis=1).mean()
    np.testing.assert_allclose(vectors["L2/panl"].double().numpy(), expected, rtol=1e-4, atol=1e-7)
    steering = _read(tiny_run, "steering")
    assert set(steering["condition"]) == {"toward_high_2", "toward_low_2", "toward_high_5", "toward_low_5"}
    assert not set(chosen.loc[chosen["group"].str.startswith("vector"), "trial_id"]) & set(steering["trial_id"])


def test_blocking_covers_both_prompts_every_edge_and_centre(tiny_run):
    table = _read(tiny_run, "blocking")
    assert set(table.loc[table["prompt"] == "minimal", "edge"]) == {"CC->Q+A", "CC->PANL", "CC->PANL+1", "PANL->A", "PANL->last A"}
    assert len(set(table.loc[table["prompt"] == "categorical", "edge"])) == 10
    assert set(table["centre"]) == {0, 1, 2, 3}


@pytest.mark.slow  # ≈ 1.1 min; CI runs it in its second step
def test_killed_mid_stage_resumes_without_redoing_finished_work(tiny_run, tmp_path):
    out = tmp_path / "resumed"
    command = [sys.executable, "-m", "interp.cli", "run", "verbal-confidence", "--config", str(TINY), "--out", str(out)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    parts = out / "parts" / "steering"
    deadline = time.time() + 240
    while time.time() < deadline and len(list(parts.glob("*.parquet"))) < 2:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "stages" / "steering.json").exists(), "the run finished before it could be killed"
    committed = {p.name: p.stat().st_mtime_ns for p in parts.glob("*.parquet")}
    behaviour_marker = (out / "stages" / "behaviour.json").stat().st_mtime_ns
    assert len(committed) >= 2
    assert main(["run", "verbal-confidence", "--config", str(TINY), "--out", str(out)]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in parts.glob("*.parquet") if p.name in committed} == committed
    assert (out / "stages" / "behaviour.json").stat().st_mtime_ns == behaviour_marker
    for table in ("behaviour", "steering", "swap", "blocking", "variance"):
        pd.testing.assert_frame_equal(_read(out, table), _read(tiny_run, table), check_exact=False, atol=1e-6)


def test_dry_run_plans_both_real_models_offline(capsys):
    assert main(["run", "verbal-confidence", "--config", str(CONFIGS / "qwen2.5-7b-instruct.yaml"), "--dry-run"]) == 0
    qwen = capsys.readouterr().out
    assert "28 layers, d_model 3584" in qwen and "behaviour 7858, activation 3000, calibration 100" in qwen
    # steering: ceil(150 / 16) batches x (1 clean + 28 layers x 7 roles x 4 conditions)
    assert "| steering | 150 | 28 | 7 | 4 | 7850 | 117750 |" in qwen
    assert "peak GPU memory" in qwen and "GPU hours" in qwen
    assert main(["run", "verbal-confidence", "--config", str(CONFIGS / "gemma-3-27b-it.yaml"), "--dry-run"]) == 0
    gemma = capsys.readouterr().out
    assert "62 layers, d_model 5376" in gemma
    # 22 steering layers (0, 10, 15, 20-35, 40, 50, 61); swap 4 x 400 recipients at all 62 layers x 3 roles.
    assert "| steering | 200 | 22 | 7 | 4 |" in gemma
    assert "| swap | 1600 | 62 | 3 | 1 | 37400 | 299200 |" in gemma
    assert "| blocking (categorical) | 500 | 28 | 10 | 1 |" in gemma


def _gpu_hours(plan_text: str) -> float:
    line = next(line for line in plan_text.splitlines() if line.startswith("total:"))
    return float(line.split("~")[1].split(" GPU hours")[0])


def test_the_incremental_plan_of_the_paper_models_fits_the_budget(capsys):
    """Qwen 2.5 7B ≤ 1 GPU-hour and Gemma 3 27B ≤ 4 with incremental sweeps; full forwards cost more."""
    hours = {}
    for name in ("qwen2.5-7b-instruct", "gemma-3-27b-it"):
        for flags in ([], ["--full-forwards"]):
            assert main(["run", "verbal-confidence", "--config", str(CONFIGS / f"{name}.yaml"), "--dry-run", *flags]) == 0
            text = capsys.readouterr().out
            hours[name, bool(flags)] = _gpu_hours(text)
            assert ("every sweep cell is a full forward" in text) == bool(flags)
    assert hours["qwen2.5-7b-instruct", False] <= 1.0 and hours["gemma-3-27b-it", False] <= 4.0, hours
    assert hours["qwen2.5-7b-instruct", True] > 1.4 and hours["gemma-3-27b-it", True] > 2 * hours["gemma-3-27b-it", False], hours


def test_the_role_tails_of_the_plan_are_what_the_templates_give(qwen_tokenizer, triviaqa_trials):
    from experiments.verbal_confidence.plan import ROLE_TAILS, role_tails

    measured = role_tails(qwen_tokenizer, triviaqa_trials[:256], batch_size=16, chat=True)
    for kind, tails in ROLE_TAILS.items():
        assert set(measured[kind]) == set(tails), kind
        for role, share in tails.items():
            assert measured[kind][role] == pytest.approx(share, abs=0.002), (kind, role)


def test_incremental_and_full_forward_sweeps_give_the_same_tables(tmp_path, tiny_run):
    """The sweep stages rerun with `incremental: false` over a copy of the session's run (whose
    sweeps ran incrementally) give the same tables within 1e-4."""
    assert_sweeps_match_full_forwards(tiny_run, load_config(TINY), tmp_path / "full-forwards")


def test_config_errors_name_the_key(tmp_path, tiny_run):
    bad = tmp_path / "bad.yaml"
    bad.write_text("steering:\n  alpha: [5]\n")
    with pytest.raises(ConfigError, match="unknown key 'alpha'"):
        load_config(bad)
    bad.write_text("name: x\nsteering:\n  layers: 0-40\n")
    with pytest.raises(ConfigError, match=r"steering.layers: layers \[4, 5"):
        run(bad, dry_run=True)
    with pytest.raises(ConfigError, match="unknown stages \\['steer'\\]"):
        run(TINY, stages="behaviour,steer", dry_run=True)
    other = dataclasses.replace(load_config(TINY), seed=1)
    with pytest.raises(ConfigError, match="another config \\(differs in seed\\)"):
        run(other, out=tiny_run)
    assert main(["run", "verbal-confidence", "--config", str(tmp_path / "missing.yaml")]) == 2


def test_tiny_gemma3_with_sliding_windows_runs_its_causal_stages(tmp_path):
    need(TRIVIAQA)
    overrides = {
        "sets": {"behaviour": 8, "activation": 40, "calibration": 12},
        "patching": {"n_test": 8, "n_calibration_high": 6, "n_calibration_low": 6},
        "blocking": {"n_minimal": 8, "n_categorical": 8, "centres": [2, 5], "width": 4},
    }
    config = load_config(CONFIGS / "tiny-gemma3.yaml", overrides)
    folder = Path(run(config, stages="behaviour,capture,patching,blocking", out=tmp_path / "gemma"))
    patching = _read(folder, "patching")
    last = patching[(patching["layer"] == 5) & (patching["role"] == "confidence_colon") & (patching["status"] == "ok")]
    assert len(last) == 8
    np.testing.assert_allclose(last["logit_diff"], last["clean_logit_diff"], atol=1e-4)
    blocking = _read(folder, "blocking")
    assert set(blocking["centre"]) == {2, 5} and blocking["status"].eq("ok").mean() > 0.9
    assert not (folder / "stages" / "steering.json").exists()
    assert "## Attention blocking" in (folder / "report.md").read_text()


def test_resuming_a_run_with_changed_code_is_refused_unless_allowed(tiny_run, tmp_path, capsys):
    folder = Path(shutil.copytree(tiny_run, tmp_path / "copy"))
    part = sorted((folder / "parts" / "steering").glob("*.parquet"))[0]
    write_parquet(pd.read_parquet(part), part, metadata={"code": {**code_identity(), "git_commit": "c" * 40}})
    command = ["run", "verbal-confidence", "--config", str(TINY), "--out", str(folder)]
    assert main(command) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "commit cccccccccccc" in error and code_identity()["source"] in error and part.name in error
    assert main([*command, "--allow-mixed-code"]) == 0
    report = (folder / "report.md").read_text()
    assert "## Code provenance" in report and "commit cccccccccccc" in report


def test_run_list_finds_the_pipeline_with_its_description(capsys):
    assert main(["run", "--list"]) == 0
    listed = dict(line.split(None, 1) for line in capsys.readouterr().out.strip().splitlines())
    assert listed["verbal-confidence"].startswith("How do LLMs compute verbal confidence?")
    assert "demo" in listed


def test_the_pilot_refuses_a_readout_that_disagrees_with_generation(tmp_path):
    need(TRIVIAQA)
    config = load_config(TINY, {"sets": {"behaviour": 8, "activation": 0, "calibration": 0}, "pilot": {"n": 8, "min_agreement": 0.99}})
    with pytest.raises(ConfigError, match=r"pilot: the readout's argmax agrees with greedy generation's first token on categorical: 0% of 8"):
        run(config, stages="behaviour", out=tmp_path / "refused")
    pilot = pd.read_parquet(tmp_path / "refused" / "pilot.parquet")
    assert set(pilot["readout"]) == {"categorical", "minimal"} and not pilot["agree"].any()


def test_worked_examples_come_from_a_disjoint_pool_and_reach_the_prompts(tmp_path):
    need(TRIVIAQA)
    overrides = {"sets": {"behaviour": 8, "activation": 8, "calibration": 0, "examples": 4}, "few_shot": {"phase0": 3, "readout": 2}, "pilot": {"n": 4, "min_agreement": 0.0}}
    folder = Path(run(load_config(TINY, overrides), stages="behaviour,capture", out=tmp_path / "shots"))
    shots = pd.read_parquet(folder / "few_shot.parquet")
    trials = pd.read_parquet(folder / "trials.parquet")
    assert sorted(shots["prompt"]) == ["phase0"] * 3 + ["readout"] * 2
    assert set(shots["trial_id"]) <= set(trials.loc[trials["set"] == "examples", "id"])
    behaviour = pd.read_parquet(folder / "behaviour.parquet")
    assert not set(shots["trial_id"]) & set(behaviour["trial_id"]) and len(behaviour) == 16
    readout = shots[shots["prompt"] == "readout"].sort_values("order")
    assert readout["confidence"].tolist() == [0.95, 0.05]  # a gold answer, then a foil
    assert readout["answer"].iloc[1] != trials.set_index("id").loc[readout["trial_id"].iloc[1], "gold"]
    from experiments.verbal_confidence.context import VerbalConfidenceContext
    from interp.io import RunDir

    ctx = VerbalConfidenceContext(load_config(TINY, overrides), RunDir(folder))
    text = ctx.template("categorical").render(ctx.trials(behaviour["trial_id"].head(1))[0], ctx.lm.tokenizer).text
    for question in readout["question"]:
        assert question in text


def test_ood_rows_come_from_forward_passes(tiny_run):
    ood = pd.read_parquet(tiny_run / "ood.parquet")
    at = int(ood["intervened_layer"].iloc[0])
    kinds = set(ood["intervention"])
    assert {"noising (calibration mean)", "corrupted answer embeddings", "patching (corrupted run, clean residual restored)", "swap (donor for recipient)", "natural variation (random pairs)"} <= kinds
    assert set(ood["role"]) == {"panl", "confidence_colon", "panl_plus_1"} and set(ood["layer"]) == {at, at + 1}
    restored = ood[(ood["intervention"].str.startswith("patching")) & (ood["layer"] == at)]
    np.testing.assert_allclose(restored["cosine_min"], 1.0, atol=1e-6)  # the restored residual is the clean one at its layer
    # Steering at its own layer: the residual the model carries is clean + αv, as arithmetic on the store says.
    vectors = load_file(str(tiny_run / "steering_vectors.safetensors"))
    behaviour = pd.read_parquet(tiny_run / "behaviour.parquet")
    store = ActivationStore(tiny_run / "activations")
    index = store.index().set_index("trial_id")
    pool = [t for t in behaviour.loc[(behaviour["set"] == "activation") & (behaviour["status"] == "ok"), "trial_id"] if index.loc[t, "status"] == "ok"]
    values, ids = store.read(at, "panl")
    clean = torch.stack([values[ids.index(t)] for t in pool[: load_config(TINY).ood.n_trials]]).double()
    alpha = load_config(TINY).ood.alpha
    steered = clean + alpha * vectors[f"L{at}/panl"].double()
    cosine = torch.nn.functional.cosine_similarity(steered, clean, dim=-1)
    row = ood[(ood["intervention"] == f"steer toward high, alpha {alpha:g}") & (ood["role"] == "panl") & (ood["layer"] == at)].iloc[0]
    assert row["cosine_min"] == pytest.approx(float(cosine.min()), abs=1e-5) and row["n"] == len(clean)
    after = ood[(ood["intervention"] == f"steer toward high, alpha {alpha:g}") & (ood["role"] == "panl") & (ood["layer"] == at + 1)].iloc[0]
    assert after["n"] == len(clean)


def test_ungraded_answers_leave_accuracy_to_the_graded_ones(tiny_run, tmp_path):
    from experiments.verbal_confidence.context import VerbalConfidenceContext
    from experiments.verbal_confidence.report import behaviour_section
    from interp.io import RunDir

    folder = tmp_path / "run"
    shutil.copytree(tiny_run, folder)
    behaviour = _read(folder, "behaviour")
    ok = behaviour.index[(behaviour["set"] == "behaviour") & (behaviour["status"] == "ok")]
    behaviour["correct"] = behaviour["correct"].astype(object)
    behaviour.loc[ok[:2], ["correct", "grade_status"]] = [None, "restates question"]
    write_parquet(behaviour, folder / "behaviour.parquet")
    rows: list = []
    lines = behaviour_section(VerbalConfidenceContext(load_config(TINY), RunDir(folder)), rows)
    graded = behaviour.loc[ok[2:], "correct"].astype(float)
    accuracy = next(row for row in rows if row[0] == "Accuracy")[2]
    assert accuracy.startswith(f"{graded.mean():.1%} [") and f"(n = {len(graded)})" in accuracy
    assert any(line.startswith("2 answers only restate their question (behaviour 2") for line in lines)
