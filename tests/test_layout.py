"""The architecture as code: every module sits in a subpackage, no module grows past ~450 lines,
lower layers never import higher ones, the top level exports a small core, and the pipelines in
experiments/ only compose (no hooks, no statistics of their own)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from conftest import REPO

import interp

PACKAGE = REPO / "interp"
LAYERS = ["errors", "io", "analysis", "models", "readouts", "prompting", "tasks", "forward", "interventions", "organisms", "pipeline", "cli", "__init__"]
"""Lowest first: a module may import from its own layer or a lower one."""


def _layer(path: Path) -> str:
    part = path.relative_to(PACKAGE).parts[0]
    return part.removesuffix(".py")


def _imported(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("interp."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.ImportFrom) and node.module == "interp":
            found.update("__init__" for _ in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[1] for alias in node.names if alias.name.startswith("interp."))
    return found


def test_every_module_sits_in_a_subpackage():
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert loose == ["__init__.py", "cli.py", "errors.py"]


def test_no_module_is_over_450_lines():
    long = {str(p.relative_to(REPO)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 450}
    assert long == {}


def test_lower_layers_never_import_higher_ones():
    rank = {name: k for k, name in enumerate(LAYERS)}
    violations = []
    for path in PACKAGE.rglob("*.py"):
        own = _layer(path)
        for imported in _imported(path):
            if rank[imported] > rank[own]:
                violations.append(f"{path.relative_to(REPO)} ({own}) imports interp.{imported}")
    assert violations == []


def test_the_top_level_exports_a_small_core_that_imports():
    assert 25 <= len(interp.__all__) <= 35
    for name in interp.__all__:
        assert hasattr(interp, name), name
    for package in ("models", "prompting", "tasks", "forward", "interventions", "readouts", "analysis", "analysis.stats", "io", "pipeline"):
        module = importlib.import_module(f"interp.{package}")
        for name in module.__all__:
            assert hasattr(module, name), f"interp.{package}.{name}"


def test_pipelines_only_compose():
    for path in (REPO / "experiments").rglob("*.py"):
        text = path.read_text()
        assert "register_forward" not in text, path
        tree = ast.parse(text)
        modules = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        modules |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        assert not modules & {"sklearn", "statsmodels", "scipy", "transformer_lens"}, path
