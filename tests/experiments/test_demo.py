"""The demo pipeline end to end on a tiny model, checked against a separate HF forward per trial."""

from __future__ import annotations

import json

import pandas as pd
import torch
from transformers import AutoModelForCausalLM

from interp.cli import main
from interp.models import tiny
from interp.tasks import CategoricalConfidenceTemplate, demo_trials


def test_demo_writes_results_that_match_a_separate_forward(tmp_path, qwen_tokenizer):
    path = tiny("qwen2", tokenizer=qwen_tokenizer.name_or_path)
    out = tmp_path / "run"
    assert main(["run", "demo", "--model", str(path), "--out", str(out), "--batch-size", "5"]) == 0
    for name in ("config.json", "versions.json", "trials.parquet", "report.md", "figures/class_probabilities.png"):
        assert (out / name).exists(), name
    table = pd.read_parquet(out / "trials.parquet")
    trials = demo_trials()
    assert table["trial_id"].tolist() == [t.id for t in trials]
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["name"] == str(path) and config["batch_size"] == 5  # the command line overrides the defaults
    # Qwen merges "D.C." with its newline: that trial carries a PANL status, the rest are ok.
    dc = table.set_index("trial_id").loc["demo-05"]
    assert "panl:" in dc["status"] and dc["panl_index"] == -1
    assert (table.drop(index=5)["status"] == "ok").all()
    assert (table["panl_text"].dropna() == "\n").all() and (table["confidence_colon_text"] == ":").all()

    # Reference: each trial alone, unpadded, through AutoModelForCausalLM; softmax over class first tokens.
    template = CategoricalConfidenceTemplate()
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    class_ids = template.class_token_ids(qwen_tokenizer)
    for row, trial in enumerate(trials):
        text = template.render(trial, qwen_tokenizer, chat=True).text
        ids = qwen_tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            probs = model(input_ids=ids).logits[0, -1, class_ids].softmax(-1)
        ours = torch.tensor([table.loc[row, f"p_{k}"] for k in range(1, 11)], dtype=torch.float32)
        torch.testing.assert_close(ours, probs, rtol=0, atol=1e-5)
        labels = [c.label for c in template.classes]
        assert table.loc[row, "confidence_class"] == labels[int(probs.argmax())]
    report = (out / "report.md").read_text()
    assert "demo-05" in report and "panl:" in report


def test_cli_reports_bad_model_cleanly(tmp_path, capsys):
    assert main(["run", "demo", "--model", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    assert "interp: error:" in capsys.readouterr().err
