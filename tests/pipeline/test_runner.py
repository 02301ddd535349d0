"""The shared runner on a toy pipeline (no model): the stage graph is checked, finished stages
and committed parts are reused, declared tables are enforced, a run folder of another config or
other code is refused, and --allow-mixed-code makes the report say which code made which part."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from interp.errors import ConfigError, StoreError
from interp.io import code_identity, write_parquet
from interp.pipeline import Context, Pipeline, PipelineConfig, Stage
from interp.pipeline.report import code_section, stage_times_section

CALLS: list[str] = []


@dataclass
class ToyConfig(PipelineConfig):
    n: int = 3


def numbers(ctx: Context) -> pd.DataFrame:
    parts = []
    for k in range(ctx.config.n):

        def compute(k=k):
            CALLS.append(f"numbers-{k}")
            return pd.DataFrame({"k": [k], "square": [k * k]})

        parts.append(ctx.run.part("numbers", f"k-{k}", compute))
    table = pd.concat(parts, ignore_index=True)
    ctx.run.write_table("numbers", table)
    return table


def total(ctx: Context) -> pd.DataFrame:
    CALLS.append("total")
    table = pd.DataFrame({"total": [int(ctx.run.read_table("numbers")["square"].sum())]})
    ctx.run.write_table("total", table)
    return table


def forgetful(ctx: Context) -> pd.DataFrame:
    return pd.DataFrame({"x": [1]})


def report(ctx: Context) -> Path:
    body = ["# toy", *stage_times_section(ctx.run), *code_section(ctx.run)]
    return ctx.run.write_report("\n".join(body) + "\n")


def toy(*extra: Stage) -> Pipeline:
    return Pipeline(
        name="toy",
        description="a toy",
        config=ToyConfig,
        context=Context,
        stages=(Stage("numbers", numbers, writes=("numbers",)), Stage("total", total, requires=("numbers",), writes=("total",)), *extra),
        report=report,
        configs=Path(__file__).parent,
    )


def test_a_stage_graph_that_runs_backwards_is_refused():
    with pytest.raises(ConfigError, match=r"stage 'a' requires \['b'\], which do not run before it"):
        Pipeline("bad", "", ToyConfig, (Stage("a", total, requires=("b",)), Stage("b", numbers)), Context, report, Path("."))
    with pytest.raises(ConfigError, match="appears twice"):
        Pipeline("bad", "", ToyConfig, (Stage("a", total), Stage("a", numbers)), Context, report, Path("."))


def test_runs_resumes_and_checks_the_graph(tmp_path):
    pipeline = toy()
    CALLS.clear()
    with pytest.raises(ConfigError, match=r"stage 'total' needs numbers, which has not run in .*; add it to --stages"):
        pipeline.run(None, stages="total", out=tmp_path / "run")
    folder = pipeline.run(None, out=tmp_path / "run")
    assert CALLS == ["numbers-0", "numbers-1", "numbers-2", "total"]
    assert pd.read_parquet(folder / "total.parquet")["total"].tolist() == [5]
    report = (folder / "report.md").read_text()
    assert "| numbers |" in report and "| total |" in report and "Code provenance" not in report
    CALLS.clear()
    pipeline.run(None, out=folder)
    assert CALLS == []  # every stage finished earlier
    (folder / "stages" / "numbers.json").unlink()
    (folder / "parts" / "numbers" / "k-2.parquet").unlink()
    pipeline.run(None, stages="numbers", out=folder)
    assert CALLS == ["numbers-2"]  # only the missing part is recomputed
    with pytest.raises(ConfigError, match=r"another config \(differs in n\)"):
        pipeline.run(ToyConfig(n=4), out=folder)
    with pytest.raises(ConfigError, match="unknown stages"):
        pipeline.run(None, stages="numbers,totl", out=folder)


def test_a_stage_must_write_the_tables_it_declares(tmp_path):
    pipeline = toy(Stage("forgetful", forgetful, writes=("forgotten",)))
    with pytest.raises(RuntimeError, match=r"stage 'forgetful' finished without writing \['forgotten'\]"):
        pipeline.run(None, out=tmp_path / "run")


def test_resuming_over_parts_of_other_code_is_refused_unless_allowed(tmp_path):
    pipeline = toy()
    folder = pipeline.run(None, stages="numbers", out=tmp_path / "run")
    other = {**code_identity(), "git_commit": "b" * 40}
    part = folder / "parts" / "numbers" / "k-1.parquet"
    write_parquet(pd.read_parquet(part), part, metadata={"code": other})
    with pytest.raises(StoreError, match=r"other code \(interp .*, commit bbbbbbbbbbbb.*parts/numbers/k-1\.parquet\); this is interp"):
        pipeline.run(None, out=folder)
    assert not (folder / "stages" / "total.json").exists()
    pipeline.run(None, out=folder, allow_mixed_code=True)
    report = (folder / "report.md").read_text()
    assert "## Code provenance" in report and "commit bbbbbbbbbbbb" in report and "| 1 | parts/numbers/k-1.parquet |" in report
