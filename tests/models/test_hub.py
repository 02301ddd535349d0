"""Loading by hub id, with only the network mocked: a loopback HTTP server (tests/fake_hub.py)
speaks the hub's file-resolve protocol and serves a tiny model. `load_model` runs in a
subprocess with HF_ENDPOINT pointing at it and an empty HF cache."""

from __future__ import annotations

import subprocess
import sys

from fake_hub import hub_env, serve

from interp.models import tiny

REPO_ID = "interp-test/tiny-qwen2"


def _serve(folder, seen):
    return serve({REPO_ID: folder}, seen)


def test_load_model_by_hub_id_downloads_and_matches_local(tmp_path):
    folder = tiny("qwen2")
    seen: list[str] = []
    server = _serve(folder, seen)
    try:
        env = hub_env(server, tmp_path / "hf-home")
        script = (
            "import sys, torch, interp\n"
            f"lm = interp.load_model({REPO_ID!r})\n"
            f"local = interp.load_model({str(folder)!r})\n"
            "ids = torch.tensor([[1, 2, 3, 4]])\n"
            "with torch.no_grad():\n"
            "    same = torch.equal(lm.model(input_ids=ids).logits, local.model(input_ids=ids).logits)\n"
            "print(lm.architecture, lm.n_layers, len(lm.tokenizer) == len(local.tokenizer), same)\n"
        )
        result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=240)
    finally:
        server.shutdown()
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "Qwen2ForCausalLM 4 True True"
    fetched = {line.split()[1].rsplit("/", 1)[-1] for line in seen if line.startswith("GET")}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= fetched
    assert any((tmp_path / "hf-home").rglob("model.safetensors"))


def test_unknown_hub_id_gives_clear_error(tmp_path):
    seen: list[str] = []
    server = _serve(tiny("qwen2"), seen)
    try:
        env = hub_env(server, tmp_path)
        script = "import interp\ninterp.load_model('interp-test/no-such-model')\n"
        result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=240)
    finally:
        server.shutdown()
    assert result.returncode != 0
    assert "cannot load 'interp-test/no-such-model' as a hub id" in result.stderr
    assert any("/interp-test/no-such-model/resolve/" in line for line in seen)
