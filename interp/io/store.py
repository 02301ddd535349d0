"""On-disk activation store: safetensors shards plus a parquet index, written atomically.

Layout of a store folder:

    meta.json                      model, revision, dtype, template, site, layers, roles, seed, versions
    shards/shard-00000.safetensors one tensor "L{layer}/{role}" [rows, d_model] per (layer, role)
    index/shard-00000.parquet      one row per trial of that chunk: trial_id, status, shard, row, finite, ...

A chunk is committed by writing its shard, then its index part (which records the code that
wrote it), each to a temporary name and renamed into place. A shard without an index part (a
run killed in between) does not count and is overwritten when the run resumes. Reading one
(layer, role) memory-maps each shard and loads only that tensor.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from interp.errors import RoleError, StoreError
from interp.io.atomic import atomic_replace, write_json, write_parquet
from interp.io.versions import code_identity

__all__ = ["ActivationStore", "chunk_ids", "tensor_name"]

# Fields of meta.json that must agree when a run resumes into an existing store.
_IDENTITY = ("model", "revision", "dtype", "template", "chat", "site", "layers", "roles", "batch_size")


def tensor_name(layer: int, role: str) -> str:
    return f"L{layer}/{role}"


class ActivationStore:
    """A folder of captured activations; see the module docstring for the layout."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        meta_file = self.path / "meta.json"
        if not meta_file.exists():
            raise StoreError(f"{self.path} is not an activation store (no meta.json)")
        self.meta: dict[str, Any] = json.loads(meta_file.read_text())

    @classmethod
    def open_or_create(cls, path: str | os.PathLike, meta: Mapping[str, Any]) -> ActivationStore:
        """Open a store for writing, creating it; an existing store must have the same identity."""
        folder = Path(path)
        meta_file = folder / "meta.json"
        if meta_file.exists():
            existing = json.loads(meta_file.read_text())
            clashes = {k: (existing.get(k), meta.get(k)) for k in _IDENTITY if existing.get(k) != json.loads(json.dumps(meta.get(k)))}
            if clashes:
                raise StoreError(
                    f"{folder} holds a different capture; differing fields (stored, requested): {clashes}. "
                    "Use another --out folder."
                )
        else:
            write_json(meta_file, meta)
        return cls(folder)

    @property
    def layers(self) -> list[int]:
        return [int(layer) for layer in self.meta["layers"]]

    @property
    def roles(self) -> list[str]:
        return list(self.meta["roles"])

    def _index_parts(self) -> list[Path]:
        return sorted((self.path / "index").glob("shard-*.parquet"))

    def committed_shards(self) -> set[int]:
        return {int(p.stem.split("-")[1]) for p in self._index_parts()}

    def index(self) -> pd.DataFrame:
        """One row per recorded trial: trial_id, status, shard, row (-1 when not captured), finite, ..."""
        parts = [pd.read_parquet(p) for p in self._index_parts()]
        if not parts:
            return pd.DataFrame(columns=["trial_id", "status", "shard", "row", "finite"])
        return pd.concat(parts, ignore_index=True).sort_values(["shard", "position"], kind="stable").reset_index(drop=True)

    def write_shard(self, shard: int, records: pd.DataFrame, tensors: Mapping[tuple[int, str], torch.Tensor]) -> None:
        """Commit one chunk: its captured rows (tensors [rows, d_model]) and its index rows.

        `records` has one row per trial of the chunk, with a `row` column pointing into the
        tensors (-1 for trials that were not captured).
        """
        name = f"shard-{shard:05d}"
        if tensors:
            payload = {tensor_name(layer, role): t.contiguous() for (layer, role), t in tensors.items()}
            atomic_replace(self.path / "shards" / f"{name}.safetensors", lambda tmp: save_file(payload, tmp))
        table = records.assign(shard=shard, position=range(len(records)))
        write_parquet(table, self.path / "index" / f"{name}.parquet", metadata={"code": code_identity()})

    def read(self, layer: int, role: str, only_finite: bool = False) -> tuple[torch.Tensor, list[str]]:
        """Activations [n_captured, d_model] at (layer, role) and the trial ids of their rows."""
        if layer not in self.layers or role not in self.roles:
            raise RoleError(f"({layer}, {role!r}) is not in this store (layers {self.layers}, roles {self.roles})")
        index = self.index()
        captured = index[index["row"] >= 0]
        if only_finite:
            captured = captured[captured["finite"]]
        blocks, ids = [], []
        for shard, rows in captured.groupby("shard", sort=True):
            with safe_open(str(self.path / "shards" / f"shard-{int(shard):05d}.safetensors"), framework="pt") as handle:
                block = handle.get_tensor(tensor_name(layer, role))
            blocks.append(block[torch.tensor(rows["row"].tolist(), dtype=torch.long)])
            ids.extend(rows["trial_id"].tolist())
        d_model = int(self.meta.get("d_model", 0))
        return (torch.cat(blocks) if blocks else torch.empty(0, d_model)), ids

    def statuses(self) -> pd.Series:
        """Status per recorded trial id."""
        index = self.index()
        return pd.Series(index["status"].to_numpy(), index=index["trial_id"].to_numpy(), name="status")

    def __repr__(self) -> str:
        return f"ActivationStore({str(self.path)!r}, layers={self.layers}, roles={self.roles}, shards={len(self._index_parts())})"


def chunk_ids(trial_ids: Sequence[str], batch_size: int) -> list[list[str]]:
    """Fixed chunks of the input order: the same chunks on every (re)run, so resumed values are identical."""
    return [list(trial_ids[i : i + batch_size]) for i in range(0, len(trial_ids), batch_size)]
