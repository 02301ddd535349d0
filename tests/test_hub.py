"""Loading by hub id, with only the network mocked: a loopback HTTP server speaks the hub's
file-resolve protocol (HEAD/GET /{repo}/resolve/{revision}/{file}) and serves a tiny model.
`load_model` runs in a subprocess with HF_ENDPOINT pointing at it and an empty HF cache."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


from interp.models import tiny

REPO_ID = "interp-test/tiny-qwen2"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _serve(folder: Path, seen: list[str]):
    class Hub(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest output clean
            pass

        def _file(self) -> Path | None:
            prefix = f"/{REPO_ID}/resolve/"
            if not self.path.startswith(prefix):
                return None
            _revision, _, name = self.path[len(prefix) :].partition("/")
            candidate = folder / name.split("?")[0]
            return candidate if candidate.is_file() else None

        def _respond(self, body: bool) -> None:
            seen.append(f"{self.command} {self.path}")
            path = self._file()
            if path is None:
                known_repo = f"/{REPO_ID}/" in self.path
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound" if known_repo else "RepoNotFound")
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = path.read_bytes()
            self.send_response(200)
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

        def do_HEAD(self):
            self._respond(body=False)

        def do_GET(self):
            self._respond(body=True)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_load_model_by_hub_id_downloads_and_matches_local(tmp_path):
    folder = tiny("qwen2")
    seen: list[str] = []
    server = _serve(folder, seen)
    try:
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "0",
            "HF_ENDPOINT": f"http://127.0.0.1:{server.server_port}",
            "HF_HOME": str(tmp_path / "hf-home"),
            "HF_HUB_DISABLE_TELEMETRY": "1",
        }
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
        env = {**os.environ, "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": f"http://127.0.0.1:{server.server_port}", "HF_HOME": str(tmp_path)}
        script = "import interp\ninterp.load_model('interp-test/no-such-model')\n"
        result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=240)
    finally:
        server.shutdown()
    assert result.returncode != 0
    assert "cannot load 'interp-test/no-such-model' as a hub id" in result.stderr
    assert any("/interp-test/no-such-model/resolve/" in line for line in seen)
