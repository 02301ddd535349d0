"""The one atomic writer: the target is the old file or the new one, never half of either, and
parquet metadata commits with the rows."""

from __future__ import annotations

import pandas as pd
import pytest

from interp.io import atomic_replace, atomic_write, parquet_metadata, write_json, write_parquet


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "a" / "file.bin"
    atomic_write(target, b"old")

    def half(tmp):
        open(tmp, "wb").write(b"ha")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        atomic_replace(target, half)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.bin"]


def test_parquet_metadata_round_trips_with_the_table(tmp_path):
    table = pd.DataFrame({"trial_id": ["a", "b"], "value": [1.5, float("nan")]})
    write_parquet(table, tmp_path / "t.parquet", metadata={"code": {"git_commit": "abc"}, "stage": "s"})
    assert pd.read_parquet(tmp_path / "t.parquet").equals(table)
    assert parquet_metadata(tmp_path / "t.parquet") == {"code": {"git_commit": "abc"}, "stage": "s"}
    write_parquet(table, tmp_path / "plain.parquet")
    assert parquet_metadata(tmp_path / "plain.parquet") == {}
    write_json(tmp_path / "x.json", {"a": 1})
    assert (tmp_path / "x.json").read_text() == '{\n  "a": 1\n}\n'
