"""What code produced a result: package versions, the git commit, and a digest of the source."""

from __future__ import annotations

import functools
import hashlib
import platform
import subprocess
from importlib import metadata
from pathlib import Path

__all__ = ["code_identity", "describe_code", "versions"]

_PACKAGES = ("interp", "torch", "transformers", "accelerate", "transformer-lens", "tokenizers", "numpy", "pandas", "scikit-learn", "statsmodels")
_ROOT = Path(__file__).resolve().parents[2]
_SOURCE_FOLDERS = ("interp", "experiments")


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=_ROOT, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def versions() -> dict[str, str | None]:
    """Python, platform, package versions and the git commit of the working tree (if any)."""
    found: dict[str, str | None] = {"python": platform.python_version(), "platform": platform.platform()}
    for name in _PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    found["git_commit"] = _git_commit()
    return found


@functools.lru_cache(maxsize=1)
def code_identity() -> dict[str, str | None]:
    """The identity of the running code: interp's version, the git commit, and a sha256 over
    every .py file of `interp/` and `experiments/` (so uncommitted edits count as other code).
    Computed once per process."""
    digest = hashlib.sha256()
    for folder in _SOURCE_FOLDERS:
        for path in sorted((_ROOT / folder).rglob("*.py")):
            digest.update(str(path.relative_to(_ROOT)).encode())
            digest.update(path.read_bytes())
    try:
        version = metadata.version("interp")
    except metadata.PackageNotFoundError:
        version = None
    return {"interp": version, "git_commit": _git_commit(), "source": digest.hexdigest()[:16]}


def describe_code(identity: dict | None) -> str:
    """"interp 0.1.0, commit 1a2b3c4d5e6f, source 0123abcd..." (or "unrecorded code")."""
    if not identity:
        return "unrecorded code"
    commit = (identity.get("git_commit") or "none")[:12]
    return f"interp {identity.get('interp')}, commit {commit}, source {identity.get('source')}"
