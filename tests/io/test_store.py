"""ActivationStore: round trip, identity check on resume, atomic commits."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from interp.io import ActivationStore, chunk_ids

META = {"model": "m", "revision": None, "dtype": "float32", "template": "t", "chat": True, "site": "resid_post", "layers": [0, 2], "roles": ["panl"], "batch_size": 2, "d_model": 3}


def test_round_trip_in_index_order(tmp_path):
    store = ActivationStore.open_or_create(tmp_path, META)
    a = {(0, "panl"): torch.tensor([[1.0, 2, 3]]), (2, "panl"): torch.tensor([[4.0, 5, 6]])}
    b = {(0, "panl"): torch.tensor([[7.0, 8, 9], [0.0, 1, 2]]), (2, "panl"): torch.tensor([[1.0, 1, 1], [2.0, 2, 2]])}
    store.write_shard(1, pd.DataFrame({"trial_id": ["c", "d"], "status": ["ok", "ok"], "row": [0, 1], "finite": [True, True]}), b)
    store.write_shard(0, pd.DataFrame({"trial_id": ["a", "b"], "status": ["panl: merged", "ok"], "row": [-1, 0], "finite": [False, True]}), a)
    values, ids = ActivationStore(tmp_path).read(0, "panl")
    assert ids == ["b", "c", "d"]
    assert torch.equal(values, torch.tensor([[1.0, 2, 3], [7.0, 8, 9], [0.0, 1, 2]]))
    assert ActivationStore(tmp_path).statuses().to_dict() == {"a": "panl: merged", "b": "ok", "c": "ok", "d": "ok"}
    assert store.committed_shards() == {0, 1}
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()], "no temporary files left behind"
    with pytest.raises(KeyError, match=r"\(1, 'panl'\) is not in this store"):
        store.read(1, "panl")


def test_resume_into_a_different_capture_is_refused(tmp_path):
    ActivationStore.open_or_create(tmp_path, META)
    with pytest.raises(ValueError, match="layers"):
        ActivationStore.open_or_create(tmp_path, {**META, "layers": [0, 1]})
    ActivationStore.open_or_create(tmp_path, {**META, "n_trials": 99})  # non-identity fields may differ


def test_orphan_shard_without_index_does_not_count(tmp_path):
    store = ActivationStore.open_or_create(tmp_path, META)
    (tmp_path / "shards").mkdir()
    (tmp_path / "shards" / "shard-00000.safetensors").write_bytes(b"partial")
    assert store.committed_shards() == set() and store.index().empty


def test_chunks_are_fixed():
    assert chunk_ids(list("abcde"), 2) == [["a", "b"], ["c", "d"], ["e"]]
