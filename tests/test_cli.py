"""The command line: errors a user can fix are one line on stderr and exit status 2, with no
traceback; any other exception keeps its traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO

from interp import cli
from interp.errors import ConfigError, InterpError, ModelError, RoleError


def test_a_bad_config_is_one_line_and_exit_status_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("steering:\n  alphas: five\n")
    result = subprocess.run(
        [sys.executable, "-m", "interp.cli", "run", "verbal-confidence", "--config", str(bad), "--dry-run"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"interp: error: {bad}.steering.alphas: expected a list, got 'five'"]
    assert "Traceback" not in result.stderr


def test_unknown_pipeline_lists_the_known_ones(capsys):
    assert cli.main(["run", "no-such-pipeline"]) == 2
    assert "no pipeline 'no-such-pipeline'; the pipelines are abstention, demo, error-detection, verbal-confidence" in capsys.readouterr().err


def test_other_exceptions_keep_their_traceback(monkeypatch):
    def broken(args):
        raise ZeroDivisionError("a bug, not a user error")

    monkeypatch.setattr(cli, "_tiny", broken)
    with pytest.raises(ZeroDivisionError):
        cli.main(["tiny", "qwen2"])


def test_the_error_hierarchy():
    assert issubclass(ConfigError, (InterpError, ValueError)) and issubclass(ModelError, OSError) and issubclass(RoleError, KeyError)
    assert str(RoleError("role 'x' is unknown")) == "role 'x' is unknown"  # no KeyError quoting
