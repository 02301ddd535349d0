"""Typed configs: defaults, YAML and overrides merged key by key; every unknown key or wrong type
named with its path; the one layer-spec parser; shared-path expansion."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from interp.errors import ConfigError
from interp.pipeline import PipelineConfig, config_dict, load_config, parse_layers, resolve_path
from interp.pipeline.config import REPO, Layers


@dataclass
class Inner:
    layers: Layers = "all"
    alphas: list[float] = field(default_factory=lambda: [2, 5])
    note: str | None = None


@dataclass
class ToyConfig(PipelineConfig):
    inner: Inner = field(default_factory=Inner)
    sizes: dict[str, int] = field(default_factory=lambda: {"a": 1})


def test_yaml_and_overrides_merge_key_by_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: toy\nmodel: {name: tiny-gemma3}\ninner: {alphas: [1, 2.5]}\n")
    config = load_config(ToyConfig, path)
    assert (config.name, config.model.name, config.model.dtype, config.inner.alphas, config.inner.layers) == ("toy", "tiny-gemma3", None, [1, 2.5], "all")
    assert config.config_file == str(path)
    again = load_config(ToyConfig, path, {"inner": {"layers": "0-3"}, "batch_size": 2})
    assert (again.inner.layers, again.inner.alphas, again.batch_size, again.config_file) == ("0-3", [1, 2.5], 2, None)
    assert config_dict(again)["inner"] == {"layers": "0-3", "alphas": [1, 2.5], "note": None}
    assert load_config(ToyConfig).name == "unnamed"


@pytest.mark.parametrize(
    "text, message",
    [
        ("inner: {alpha: [5]}\n", r"c\.yaml\.inner: unknown key 'alpha' \(known: alphas, layers, note\)"),
        ("inner: {alphas: five}\n", r"c\.yaml\.inner\.alphas: expected a list, got 'five'"),
        ("inner: {alphas: [1, x]}\n", r"c\.yaml\.inner\.alphas\[1\]: expected a number, got 'x'"),
        ("batch_size: 2.5\n", r"c\.yaml\.batch_size: expected an integer, got 2\.5"),
        ("chat: yes please\n", r"c\.yaml\.chat: expected bool"),
        ("model: tiny\n", r"c\.yaml\.model: expected a mapping, got 'tiny'"),
        ("sizes: {a: x}\n", r"c\.yaml\.sizes\.a: expected an integer"),
        ("- 1\n", r"a config must be a mapping, got list"),
        ("a: [\n", r"not valid YAML"),
    ],
)
def test_bad_configs_name_the_key(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(ToyConfig, path)


def test_missing_config_file_is_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="config .*nope.yaml does not exist"):
        load_config(ToyConfig, tmp_path / "nope.yaml")


def test_parse_layers():
    assert parse_layers("all", 4) == [0, 1, 2, 3]
    assert parse_layers("0,5,10-12", 20) == [0, 5, 10, 11, 12]
    assert parse_layers(" 3 - 5 ") == [3, 4, 5]
    assert parse_layers([4, 1, 1]) == [1, 4] and parse_layers(7) == [7]
    for bad, message in (("1-", "cannot read"), ("5-2", "cannot read"), (True, "cannot read"), (["a"], "must be integers"), ("all", "needs the model's depth")):
        with pytest.raises(ConfigError, match=message):
            parse_layers(bad, what="--layers")
    with pytest.raises(ConfigError, match=r"steering.layers: layers \[4, 5\] are outside the model's 0-3"):
        parse_layers("0-5", 4, "steering.layers")


def test_resolve_path(monkeypatch, tmp_path):
    monkeypatch.setenv("INTERP_SHARED", str(tmp_path))
    assert resolve_path("${INTERP_SHARED}/data/x.jsonl") == tmp_path / "data" / "x.jsonl"
    assert resolve_path("data/x.jsonl") == REPO / "data" / "x.jsonl"
    assert resolve_path(None) is None


def test_rerun_share_by_hand():
    from interp.pipeline import rerun_share

    # first layers 1 and 3 of 4: (3 + 1) / (2 · 4) of the layers; tails 0.5 and 0.1 average 0.3
    assert rerun_share([1, 3], 4, [0.5, 0.1]) == pytest.approx((0.5, 0.3))
    assert rerun_share([0, 9], 4, [1.0]) == pytest.approx((0.5, 1.0))  # a first layer past the end reruns nothing
    assert rerun_share([], 4, [0.5]) == (1.0, 1.0)
