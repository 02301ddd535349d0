"""Run folders: config, versions, per-trial tables, figures and report.md of one run, with
resumable parts that record the code that committed them.

Layout: config.json, versions.json, <table>.parquet, figures/*.png, report.md; resumable
pipelines add parts/<stage>/<key>.parquet (committed pieces, each carrying the identity of the
code that wrote it in its parquet metadata) and stages/<stage>.json (done markers, likewise).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from interp.errors import StoreError
from interp.io.atomic import atomic_replace, atomic_write, parquet_metadata, write_json, write_parquet
from interp.io.versions import code_identity, describe_code, versions

__all__ = ["RunDir"]


class RunDir:
    """One run's results folder; every file is written atomically (temp file + rename)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    def write_json(self, name: str, payload: Mapping[str, Any]) -> Path:
        return write_json(self.path / name, payload)

    def write_config(self, config: Mapping[str, Any]) -> None:
        """config.json (with the start time) and versions.json."""
        self.write_json("config.json", {**config, "started": datetime.now(timezone.utc).isoformat()})
        self.write_json("versions.json", versions())

    def write_table(self, name: str, table: pd.DataFrame) -> Path:
        return write_parquet(table, self.path / f"{name}.parquet")

    def read_table(self, name: str) -> pd.DataFrame:
        """A table written by `write_table`; raises StoreError naming the stage to run."""
        target = self.path / f"{name}.parquet"
        if not target.exists():
            raise StoreError(f"{target} is missing: run the stage that writes {name!r} first")
        return pd.read_parquet(target)

    def has_table(self, name: str) -> bool:
        return (self.path / f"{name}.parquet").exists()

    def figure_path(self, name: str) -> Path:
        folder = self.path / "figures"
        folder.mkdir(exist_ok=True)
        return folder / f"{name}.png"

    def write_report(self, markdown: str) -> Path:
        return atomic_write(self.path / "report.md", markdown.encode())

    def part(self, stage: str, key: str, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        """A resumable piece of a stage: read `parts/<stage>/<key>.parquet` if an earlier run
        committed it, else compute it and commit it atomically with the code's identity. A run
        killed mid-stage therefore redoes at most the piece it was computing."""
        target = self.path / "parts" / stage / f"{key}.parquet"
        if target.exists():
            return pd.read_parquet(target)
        table = compute()
        write_parquet(table, target, metadata={"code": code_identity(), "stage": stage, "key": key})
        return table

    def tensor_part(self, stage: str, key: str, compute: Callable[[], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """Like `part` for named tensors: `parts/<stage>/<key>.safetensors`."""
        from safetensors.torch import load_file, save_file

        target = self.path / "parts" / stage / f"{key}.safetensors"
        if target.exists():
            return load_file(str(target))
        tensors = {name: value.contiguous() for name, value in compute().items()}
        meta = {"interp": json.dumps({"code": code_identity(), "stage": stage, "key": key})}
        atomic_replace(target, lambda tmp: save_file(tensors, tmp, metadata=meta))
        return tensors

    def parts_done(self, stage: str) -> list[str]:
        """Keys of the committed pieces of a stage."""
        folder = self.path / "parts" / stage
        return sorted(p.stem for p in folder.glob("*.parquet")) if folder.exists() else []

    def is_done(self, stage: str) -> bool:
        """Whether a stage finished (its marker `stages/<stage>.json` exists)."""
        return (self.path / "stages" / f"{stage}.json").exists()

    def mark_done(self, stage: str, summary: Mapping[str, Any] | None = None) -> None:
        """Record that a stage finished, with its finish time, the code and an optional summary."""
        self.write_json(
            f"stages/{stage}.json",
            {"stage": stage, "finished": datetime.now(timezone.utc).isoformat(), "code": code_identity(), **dict(summary or {})},
        )

    def stage_record(self, stage: str) -> dict[str, Any] | None:
        """The marker of a finished stage, or None."""
        marker = self.path / "stages" / f"{stage}.json"
        return json.loads(marker.read_text()) if marker.exists() else None

    def stage_records(self) -> list[dict[str, Any]]:
        """The markers of every finished stage."""
        return [json.loads(marker.read_text()) for marker in sorted((self.path / "stages").glob("*.json"))]

    def committed_code(self) -> dict[str, dict | None]:
        """Relative path → recorded code identity of everything this folder holds from earlier
        runs: stage markers, committed parts, and the index parts of activation stores."""
        records: dict[str, dict | None] = {}
        for marker in sorted((self.path / "stages").glob("*.json")):
            records[str(marker.relative_to(self.path))] = json.loads(marker.read_text()).get("code")
        for part in sorted((self.path / "parts").rglob("*")):
            if part.suffix == ".parquet":
                records[str(part.relative_to(self.path))] = parquet_metadata(part).get("code")
            elif part.suffix == ".safetensors":
                records[str(part.relative_to(self.path))] = _safetensors_code(part)
        for index_part in sorted(self.path.rglob("index/shard-*.parquet")):
            records[str(index_part.relative_to(self.path))] = parquet_metadata(index_part).get("code")
        return records

    def foreign_code(self) -> dict[str, list[str]]:
        """Committed pieces written by code other than the running code: description → paths."""
        current = code_identity()
        found: dict[str, list[str]] = {}
        for path, identity in self.committed_code().items():
            if identity != current:
                found.setdefault(describe_code(identity), []).append(path)
        return found

    def check_code(self, allow_mixed: bool = False) -> dict[str, list[str]]:
        """Refuse to resume over pieces committed by other code (naming both codes), unless
        `allow_mixed`; returns the foreign pieces by code either way."""
        foreign = self.foreign_code()
        if foreign and not allow_mixed:
            listed = "; ".join(f"{code}: {len(paths)} piece(s), e.g. {paths[0]}" for code, paths in foreign.items())
            raise StoreError(
                f"{self.path} holds work committed by other code ({listed}); this is {describe_code(code_identity())}. "
                "Resume with the code that wrote it, use a new --out, or pass --allow-mixed-code (the report then "
                "lists which parts came from which code)."
            )
        return foreign


def _safetensors_code(path: Path) -> dict | None:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata() or {}
    return json.loads(meta["interp"]).get("code") if "interp" in meta else None
