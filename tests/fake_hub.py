"""A loopback HTTP server speaking the hub's file-resolve protocol (HEAD/GET
/{repo}/resolve/{revision}/{file}, and /datasets/{repo}/... for dataset repos): the only thing
mocked when testing hub loading. Code under test runs in a subprocess with `hub_env`."""

from __future__ import annotations

import hashlib
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def serve(repos: dict[str, Path], seen: list[str]) -> ThreadingHTTPServer:
    """Serve each folder under its URL prefix, e.g. {"interp-test/tiny-qwen2": folder,
    "datasets/mandarjoshi/trivia_qa": folder}; every request is appended to `seen`."""

    class Hub(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest output clean
            pass

        def _file(self) -> tuple[Path | None, bool]:
            for prefix, folder in repos.items():
                head = f"/{prefix}/resolve/"
                if self.path.startswith(head):
                    _revision, _, name = self.path[len(head) :].partition("/")
                    candidate = folder / name.split("?")[0]
                    return (candidate if candidate.is_file() else None), True
            # other endpoints of a served repo (e.g. /api/models/{repo}/tree/...) answer "no such entry"
            known = any(f"/{prefix.removeprefix('datasets/')}/" in self.path for prefix in repos)
            return None, known

        def _respond(self, body: bool) -> None:
            seen.append(f"{self.command} {self.path}")
            path, known_repo = self._file()
            if path is None:
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


def hub_env(server: ThreadingHTTPServer, home: Path) -> dict[str, str]:
    """Environment for a subprocess that talks to `server` with an empty HF cache in `home`."""
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "0",
        "HF_ENDPOINT": f"http://127.0.0.1:{server.server_port}",
        "HF_HOME": str(home),
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
