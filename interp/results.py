"""Results directories: config, versions, per-trial tables, figures and report.md of one run."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["RunDir", "versions", "markdown_table"]

_PACKAGES = ("interp", "torch", "transformers", "accelerate", "transformer-lens", "tokenizers", "numpy", "pandas", "scikit-learn", "statsmodels")


def versions() -> dict[str, str | None]:
    """Python, platform, package versions and the git commit of the working tree (if any)."""
    found: dict[str, str | None] = {"python": platform.python_version(), "platform": platform.platform()}
    for name in _PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    try:
        found["git_commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        ).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        found["git_commit"] = None
    return found


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _replace_parquet(table: pd.DataFrame, target: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    os.close(fd)
    try:
        table.to_parquet(tmp, index=False)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class RunDir:
    """One run's results folder; every file is written atomically (temp file + rename).

    Layout: config.json, versions.json, <table>.parquet, figures/*.png, report.md; resumable
    pipelines add parts/<stage>/<key>.parquet (committed pieces) and stages/<stage>.json (done).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    def write_json(self, name: str, payload: Mapping[str, Any]) -> Path:
        target = self.path / name
        _atomic_write(target, (json.dumps(payload, indent=2, default=str) + "\n").encode())
        return target

    def write_config(self, config: Mapping[str, Any]) -> None:
        """config.json (with the start time) and versions.json."""
        self.write_json("config.json", {**config, "started": datetime.now(timezone.utc).isoformat()})
        self.write_json("versions.json", versions())

    def write_table(self, name: str, table: pd.DataFrame) -> Path:
        target = self.path / f"{name}.parquet"
        _replace_parquet(table, target)
        return target

    def figure_path(self, name: str) -> Path:
        folder = self.path / "figures"
        folder.mkdir(exist_ok=True)
        return folder / f"{name}.png"

    def part(self, stage: str, key: str, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        """A resumable piece of a stage: read `parts/<stage>/<key>.parquet` if an earlier run
        committed it, else compute it and commit it atomically. A run killed mid-stage therefore
        redoes at most the piece it was computing."""
        target = self.path / "parts" / stage / f"{key}.parquet"
        if target.exists():
            return pd.read_parquet(target)
        table = compute()
        target.parent.mkdir(parents=True, exist_ok=True)
        _replace_parquet(table, target)
        return table

    def parts_done(self, stage: str) -> list[str]:
        """Keys of the committed pieces of a stage."""
        folder = self.path / "parts" / stage
        return sorted(p.stem for p in folder.glob("*.parquet")) if folder.exists() else []

    def is_done(self, stage: str) -> bool:
        """Whether a stage finished (its marker `stages/<stage>.json` exists)."""
        return (self.path / "stages" / f"{stage}.json").exists()

    def mark_done(self, stage: str, summary: Mapping[str, Any] | None = None) -> None:
        """Record that a stage finished, with its finish time and an optional summary."""
        self.write_json(f"stages/{stage}.json", {"stage": stage, "finished": datetime.now(timezone.utc).isoformat(), **dict(summary or {})})

    def read_table(self, name: str) -> pd.DataFrame:
        """A table written by `write_table`; raises FileNotFoundError naming the stage to run."""
        target = self.path / f"{name}.parquet"
        if not target.exists():
            raise FileNotFoundError(f"{target} is missing: run the stage that writes {name!r} first")
        return pd.read_parquet(target)

    def write_report(self, markdown: str) -> Path:
        target = self.path / "report.md"
        _atomic_write(target, markdown.encode())
        return target


def markdown_table(table: pd.DataFrame, float_format: str = "{:.3f}") -> str:
    """A GitHub-flavoured markdown table of a DataFrame (no optional dependencies)."""

    def cell(value: Any) -> str:
        if value is None or (isinstance(value, float) and value != value):
            return ""
        text = float_format.format(value) if isinstance(value, float) else str(value)
        return text.replace("|", "\\|").replace("\n", "\\n")

    header = "| " + " | ".join(str(c) for c in table.columns) + " |"
    rule = "|" + "---|" * len(table.columns)
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body])
