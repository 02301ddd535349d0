"""The notebooks run top to bottom (their code cells, in order, in one namespace)."""

from __future__ import annotations

import json
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def execute(notebook: Path) -> dict:
    """Run every code cell of a notebook in order; return the namespace."""
    namespace: dict = {}
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), str(notebook), "exec"), namespace)
    return namespace


def test_quickstart_notebook_runs():
    namespace = execute(NOTEBOOKS / "quickstart.ipynb")
    assert namespace["batch"].status() == ["ok"] * 4
    assert len(namespace["readout"].argmax) == 4


def test_verbal_confidence_notebook_walks_through_a_run(tiny_run, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.setenv("INTERP_RUN", str(tiny_run))
    namespace = execute(NOTEBOOKS / "01_verbal_confidence.ipynb")
    assert namespace["RUN"] == tiny_run
    sets = namespace["config"]["sets"]
    assert len(namespace["behaviour"]) == sets["behaviour"] + sets["activation"] + sets["calibration"]
    assert set(namespace["steering"]["condition"]) == {"toward_high_2", "toward_low_2", "toward_high_5", "toward_low_5"}
    assert namespace["recovery"].set_index(["layer", "role"]).loc[(3, "confidence_colon"), "n"] > 0
    assert "Paper vs this run" in namespace["report"]


def test_error_detection_notebook_walks_through_a_run(tiny_error_detection_run, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.setenv("INTERP_RUN", str(tiny_error_detection_run))
    namespace = execute(NOTEBOOKS / "02_error_detection.ipynb")
    assert namespace["RUN"] == tiny_error_detection_run
    assert len(namespace["detection"]) == namespace["config"]["sets"]["trials"]
    assert namespace["cells"].sum() == len(namespace["verified"])
    assert set(namespace["foil_sdt"]["kind"]) >= {"own", "hard", "easy", "unrelated"}
    assert "Paper vs this run" in namespace["report"]


def test_abstention_notebook_walks_through_a_run(tiny_abstention_run, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.setenv("INTERP_RUN", str(tiny_abstention_run))
    namespace = execute(NOTEBOOKS / "03_abstention.ipynb")
    assert namespace["RUN"] == tiny_abstention_run and namespace["tau"] > 0
    assert len(namespace["test"]) > 0 and set(namespace["pooled"]["alpha"]) >= {0.0, -2.0, 2.0}
    assert "Paper vs this run" in namespace["report"]
