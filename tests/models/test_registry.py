"""The registry of pip-installable models, without loading one: `interp models`, and every bad
input is one clear error with nothing cached — an unknown name, a missing package, pieces that do
not assemble to the registered checksum, a truncated or altered GGUF file."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from interp.cli import main
from interp.errors import ModelError
from interp.models import load_model, registry
from interp.models.registry import REGISTRY, RegisteredModel, models_cache


def _fake_package(tmp_path: Path, monkeypatch, name: str, pieces: list[bytes]) -> list[tuple[str, str]]:
    """An importable package `name` whose data/ holds the given pieces."""
    folder = tmp_path / "site" / name
    (folder / "data").mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    for k, piece in enumerate(pieces):
        (folder / "data" / f"piece{k}.bin").write_bytes(piece)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return [(name, f"data/piece{k}.bin") for k in range(len(pieces))]


def _entry(parts, size: int, sha256: str, name: str = "fake-model") -> RegisteredModel:
    return RegisteredModel(name, "a test entry", "Qwen2ForCausalLM", "fake.gguf", size, sha256, "none", True, ("fake-parts==1.0",), "fake", tuple(parts))


def test_models_command_lists_the_registry(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for entry in REGISTRY.values():
        assert entry.name in out and entry.licence in out
    assert "tiny-qwen2" in out


def test_an_unknown_name_is_one_clear_error(capsys):
    with pytest.raises(ModelError, match=r"unknown model 'gemma-3-270mm': give a registered name \(gemma-3-270m, qwen2.5-coder-0.5b-instruct, organism-panl, organism-cc\)"):
        load_model("gemma-3-270mm")
    assert main(["run", "demo", "--model", "gemma-3-270mm", "--out", "/tmp/never-written"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "unknown model 'gemma-3-270mm'" in error


def test_a_missing_package_names_the_pip_command(monkeypatch):
    entry = _entry([("interp_test_no_such_package", "data/x.bin")], 10, "0" * 64)
    monkeypatch.setitem(REGISTRY, entry.name, entry)
    with pytest.raises(ModelError, match=r"fake-model needs the package\(s\) interp_test_no_such_package, which are not installed: pip install 'interp\[fake\]'"):
        load_model("fake-model")
    assert not registry.is_installed(entry)
    assert not registry.cached_folder(entry).exists()


def test_pieces_with_the_wrong_checksum_refuse_to_load_and_cache_nothing(tmp_path, monkeypatch):
    parts = _fake_package(tmp_path, monkeypatch, "interp_test_pieces", [b"GGUF" + b"\0" * 60, b"tail"])
    entry = _entry(parts, 68, "f" * 64)
    monkeypatch.setitem(REGISTRY, entry.name, entry)
    with pytest.raises(ModelError, match=r"fake-model: the installed pieces assemble to 68 bytes with sha256 [0-9a-f]{16}…, not 68 bytes with sha256 ffff"):
        load_model("fake-model")
    assert not models_cache().exists() or list(models_cache().iterdir()) == []  # no folder, no temporary file


def test_a_truncated_or_altered_gguf_file_is_one_clear_error(tmp_path):
    real = next((p for p in (Path(sys.prefix) / "lib").rglob("gemma-3-270m-q4_k_m.gguf.part00")), None)
    header = real.read_bytes()[: 1 << 16] if real is not None else b"GGUF\x03\x00\x00\x00" + b"\x07" * 4096
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(header)
    with pytest.raises(ModelError, match=r"cannot read .*truncated\.gguf as a GGUF model"):
        load_model(truncated)
    altered = tmp_path / "altered.gguf"
    altered.write_bytes(b"NOT A GGUF FILE" * 100)
    with pytest.raises(ModelError, match=r"cannot read .*altered\.gguf as a GGUF model"):
        load_model(altered)
    with pytest.raises(ModelError, match="does not exist"):
        load_model(tmp_path / "missing.gguf")
    leftovers = [p for p in models_cache().rglob("*")] if models_cache().exists() else []
    assert leftovers == []
