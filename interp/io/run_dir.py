"""Run folders: config, versions, per-trial tables, figures and report.md of one run, with
resumable parts that record the code that committed them.

Layout: config.json, versions.json, <table>.parquet, figures/*.png, report.md; resumable
pipelines add parts/<stage>/<key>.parquet (committed pieces, each carrying the identity of the
code that wrote it in its parquet metadata) and stages/<stage>.json (done markers, likewise).

In a data-parallel run (`interp.io.ranks`) every rank runs the same stage code on the same
folder: a list of parts (`parts`) is shared round-robin by position and every rank reads the whole
list after a barrier; a single part, a table, a marker or the report is written by the main rank
alone, and the other ranks wait for it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from interp.errors import StoreError
from interp.io.atomic import atomic_replace, atomic_write, parquet_metadata, write_json, write_parquet
from interp.io.ranks import SINGLE, Ranks
from interp.io.versions import code_identity, describe_code, versions

__all__ = ["RunDir"]


class RunDir:
    """One run's results folder; every file is written atomically (temp file + rename).

    ranks: this process's share of a data-parallel run (one process by default).
    """

    def __init__(self, path: str | os.PathLike, ranks: Ranks = SINGLE):
        self.path = Path(path)
        self.ranks = ranks
        self.path.mkdir(parents=True, exist_ok=True)

    def _by_main(self, write: Callable[[], Path | None]) -> Path | None:
        """Run `write` on the main rank; every rank returns after it is done."""
        written = write() if self.ranks.main else None
        self.ranks.barrier()
        return written

    def write_json(self, name: str, payload: Mapping[str, Any]) -> Path:
        self._by_main(lambda: write_json(self.path / name, payload))
        return self.path / name

    def write_config(self, config: Mapping[str, Any]) -> None:
        """config.json (with the start time) and versions.json, by the main rank (no barrier:
        the runner calls it on the main rank's decision alone)."""
        if self.ranks.main:
            write_json(self.path / "config.json", {**config, "started": datetime.now(timezone.utc).isoformat()})
            write_json(self.path / "versions.json", versions())

    def write_table(self, name: str, table: pd.DataFrame) -> Path:
        self._by_main(lambda: write_parquet(table, self.path / f"{name}.parquet"))
        return self.path / f"{name}.parquet"

    def read_table(self, name: str) -> pd.DataFrame:
        """A table written by `write_table`; raises StoreError naming the stage to run."""
        target = self.path / f"{name}.parquet"
        if not target.exists():
            raise StoreError(f"{target} is missing: run the stage that writes {name!r} first")
        return pd.read_parquet(target)

    def has_table(self, name: str) -> bool:
        return (self.path / f"{name}.parquet").exists()

    def figure_path(self, name: str) -> Path:
        """figures/<name>.png; on ranks other than the main one a scratch file outside the run
        (every rank draws the report, the main rank's figures are kept)."""
        if not self.ranks.main:
            import tempfile

            folder = Path(tempfile.gettempdir()) / f"interp-figures-rank{self.ranks.rank}"
            folder.mkdir(exist_ok=True)
            return folder / f"{name}.png"
        folder = self.path / "figures"
        folder.mkdir(exist_ok=True)
        return folder / f"{name}.png"

    def write_report(self, markdown: str) -> Path:
        self._by_main(lambda: atomic_write(self.path / "report.md", markdown.encode()))
        return self.path / "report.md"

    def _commit_part(self, stage: str, key: str, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        table = compute()
        metadata = {"code": code_identity(), "stage": stage, "key": key, **({"rank": self.ranks.rank, "world": self.ranks.world} if self.ranks.world > 1 else {})}
        write_parquet(table, self._part_path(stage, key), metadata=metadata)
        return table

    def _part_path(self, stage: str, key: str) -> Path:
        return self.path / "parts" / stage / f"{key}.parquet"

    def part(self, stage: str, key: str, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        """A resumable piece of a stage: read `parts/<stage>/<key>.parquet` if an earlier run
        committed it, else compute it and commit it atomically with the code's identity. A run
        killed mid-stage therefore redoes at most the piece it was computing. With several
        ranks the main rank computes it and the others read it."""
        target = self._part_path(stage, key)
        if self.ranks.world == 1:
            return pd.read_parquet(target) if target.exists() else self._commit_part(stage, key, compute)
        computed = self._by_main(lambda: None if target.exists() else self._commit_part(stage, key, compute))
        return computed if isinstance(computed, pd.DataFrame) else pd.read_parquet(target)

    def parts(self, stage: str, pieces: Sequence[tuple[str, Callable[[], pd.DataFrame]]], desc: str | None = None) -> list[pd.DataFrame]:
        """A list of independent resumable pieces, (key, compute) each, as `part` would give them
        (`desc`: a progress bar over them). With several ranks each computes the uncommitted
        pieces at its own positions (`Ranks.owns`), then every rank reads the whole list after a
        barrier."""
        from tqdm.auto import tqdm

        if self.ranks.world == 1:
            return [self.part(stage, key, compute) for key, compute in tqdm(pieces, desc=desc, disable=desc is None)]
        mine = [(key, compute) for index, (key, compute) in enumerate(pieces) if self.ranks.owns(index)]
        for key, compute in tqdm(mine, desc=f"{desc} (rank {self.ranks.rank})", disable=desc is None):
            if not self._part_path(stage, key).exists():
                self._commit_part(stage, key, compute)
        self.ranks.barrier()
        return [pd.read_parquet(self._part_path(stage, key)) for key, _ in pieces]

    def tensor_part(self, stage: str, key: str, compute: Callable[[], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """Like `part` for named tensors: `parts/<stage>/<key>.safetensors`."""
        from safetensors.torch import load_file, save_file

        target = self.path / "parts" / stage / f"{key}.safetensors"

        def commit() -> None:
            if target.exists():
                return
            tensors = {name: value.contiguous() for name, value in compute().items()}
            meta = {"interp": json.dumps({"code": code_identity(), "stage": stage, "key": key})}
            atomic_replace(target, lambda tmp: save_file(tensors, tmp, metadata=meta))

        self._by_main(commit)
        return load_file(str(target))

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
