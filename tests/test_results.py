"""Results folders: atomic tables, resumable parts, stage markers."""

from __future__ import annotations

import pandas as pd
import pytest

from interp.results import RunDir


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
    with pytest.raises(FileNotFoundError, match="steering.parquet is missing: run the stage that writes 'steering'"):
        run.read_table("steering")
    run.write_table("steering", pd.DataFrame({"a": [1]}))
    assert run.read_table("steering")["a"].tolist() == [1]
