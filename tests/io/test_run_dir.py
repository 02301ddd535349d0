"""Results folders: atomic tables, resumable parts, stage markers."""

from __future__ import annotations

import pandas as pd
import pytest

from interp.errors import StoreError
from interp.io import RunDir


def test_part_is_computed_once_and_survives_an_interrupted_stage(tmp_path):
    run = RunDir(tmp_path / "run")
    calls = []

    def piece(k):
        def compute():
            calls.append(k)
            if k == 2 and calls.count(2) == 1:
                raise KeyboardInterrupt  # killed while computing the third piece
            return pd.DataFrame({"piece": [k], "value": [k * 10]})

        return compute

    with pytest.raises(KeyboardInterrupt):
        [run.part("stage", f"p{k}", piece(k)) for k in range(4)]
    assert run.parts_done("stage") == ["p0", "p1"]
    assert not list((tmp_path / "run" / "parts" / "stage").glob(".*"))  # no half-written file
    tables = [run.part("stage", f"p{k}", piece(k)) for k in range(4)]
    assert calls == [0, 1, 2, 2, 3]  # pieces 0 and 1 were not recomputed
    assert pd.concat(tables)["value"].tolist() == [0, 10, 20, 30]


def test_stage_markers_and_missing_tables(tmp_path):
    run = RunDir(tmp_path)
    assert not run.is_done("behaviour")
    run.mark_done("behaviour", {"seconds": 1.5})
    assert run.is_done("behaviour")
    with pytest.raises(StoreError, match="steering.parquet is missing: run the stage that writes 'steering'"):
        run.read_table("steering")
    run.write_table("steering", pd.DataFrame({"a": [1]}))
    assert run.read_table("steering")["a"].tolist() == [1]


def test_parts_and_markers_record_the_code_that_wrote_them(tmp_path):
    from interp.io import code_identity, parquet_metadata, write_parquet

    run = RunDir(tmp_path)
    run.part("stage", "p0", lambda: pd.DataFrame({"x": [1]}))
    run.tensor_part("stage", "vectors", lambda: {"L0/panl": __import__("torch").ones(3)})
    run.mark_done("stage")
    records = run.committed_code()
    assert set(records) == {"stages/stage.json", "parts/stage/p0.parquet", "parts/stage/vectors.safetensors"}
    assert all(identity == code_identity() for identity in records.values())
    assert parquet_metadata(tmp_path / "parts" / "stage" / "p0.parquet")["stage"] == "stage"
    assert run.foreign_code() == {} and run.check_code() == {}

    other = {**code_identity(), "git_commit": "a" * 40}
    write_parquet(pd.DataFrame({"x": [2]}), tmp_path / "parts" / "stage" / "p1.parquet", metadata={"code": other})
    with pytest.raises(StoreError, match=r"commit aaaaaaaaaaaa.*1 piece\(s\), e\.g\. parts/stage/p1\.parquet.*this is interp .*commit") as error:
        run.check_code()
    assert code_identity()["source"] in str(error.value)
    assert run.check_code(allow_mixed=True) == {f"interp {other['interp']}, commit {'a' * 12}, source {other['source']}": ["parts/stage/p1.parquet"]}
