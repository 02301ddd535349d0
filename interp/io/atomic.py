"""The one atomic writer: every file interp commits is written to a temporary name in its
folder and renamed into place, so a reader (or a resumed run) sees the old file or the new one,
never a half-written one."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["atomic_folder", "atomic_replace", "atomic_write", "parquet_metadata", "write_json", "write_parquet"]

_METADATA_KEY = b"interp"


def atomic_replace(target: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call `write(tmp)` to produce the file at a temporary path beside `target`, then rename it
    onto `target`; the temporary file is removed if `write` fails."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def atomic_write(target: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `target` atomically."""
    return atomic_replace(target, lambda tmp: Path(tmp).write_bytes(data))


def write_json(target: str | os.PathLike, payload: Mapping[str, Any]) -> Path:
    """Write `payload` as indented JSON atomically (non-JSON values via `str`)."""
    return atomic_write(target, (json.dumps(dict(payload), indent=2, default=str) + "\n").encode())


def write_parquet(table: pd.DataFrame, target: str | os.PathLike, metadata: Mapping[str, Any] | None = None) -> Path:
    """Write a DataFrame (no index) as parquet atomically; `metadata` (JSON-able) is stored in
    the file's schema and read back by `parquet_metadata`, so it commits with the rows."""
    if not metadata:
        return atomic_replace(target, lambda tmp: table.to_parquet(tmp, index=False))
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(table, preserve_index=False)
    schema_metadata = {**(arrow.schema.metadata or {}), _METADATA_KEY: json.dumps(dict(metadata), default=str).encode()}
    return atomic_replace(target, lambda tmp: pq.write_table(arrow.replace_schema_metadata(schema_metadata), tmp))


def parquet_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The `metadata` a parquet file was written with by `write_parquet` ({} if none)."""
    import pyarrow.parquet as pq

    stored = pq.read_schema(path).metadata or {}
    raw = stored.get(_METADATA_KEY)
    return json.loads(raw) if raw else {}


@contextmanager
def atomic_folder(target: str | os.PathLike, marker: str = "config.json") -> Iterator[Path]:
    """Yield a staging folder beside `target` to fill; on success rename it onto `target`. If
    another process got there first (`target/marker` exists) its folder is kept. The staging
    folder is removed whatever happens, so a failure leaves nothing behind."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        yield staging
        try:
            os.replace(staging, target)
        except OSError:
            if not (target / marker).exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
