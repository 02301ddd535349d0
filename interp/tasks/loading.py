"""Local dataset files → trials, one call for the CLI and scripts (see `interp.tasks.datasets`
for the DataFrame loaders, hub loading and statuses)."""

from __future__ import annotations

import os
from pathlib import Path

from interp.errors import ConfigError, DatasetError
from interp.prompting import Trial
from interp.tasks import datasets  # noqa: I001 (the module, for load_<dataset>)

__all__ = ["load_trials", "DATASETS"]

DATASETS = ("triviaqa", "mmlu", "mnli", "gsm8k", "mcq", "jsonl")


def load_trials(path: str | os.PathLike, dataset: str = "jsonl") -> list[Trial]:
    """Trials from a local file or folder.

    dataset="triviaqa" / "mmlu" / "mnli" / "gsm8k" / "mcq": read by `interp.tasks.datasets`, repeated
    questions marked and left out (their statuses are in the loaders' frames); the gold answer
    also fills `answer` (the inserted answer) until Phase-0 generation provides the model's own,
    and `metadata["answer_source"]` says so. dataset="jsonl": rows with at least id and question
    (answer, gold, aliases optional). Ids without a source id are "<dataset>-<line>".

    Raises:
        DatasetError: naming file and line of a malformed row; ConfigError: an unknown dataset.
    """
    if dataset not in DATASETS:
        raise ConfigError(f"dataset {dataset!r} is not one of {', '.join(DATASETS)}")
    if dataset != "jsonl":
        loader = getattr(datasets, f"load_{dataset}")
        return datasets.to_trials(datasets.dedupe(loader(path)), answer_from_gold=True)
    trials = []
    for where, number, row in datasets.read_records(Path(path)):
        if isinstance(row, Exception):
            raise row
        if not isinstance(row, dict) or "question" not in row:
            raise DatasetError(f"{where}: row has no 'question'")
        trials.append(
            Trial(
                id=str(row.get("id", f"jsonl-{number:06d}")),
                question=str(row["question"]),
                answer=row.get("answer"),
                gold=row.get("gold"),
                aliases=tuple(row.get("aliases") or ()),
                metadata={"source": where},
            )
        )
    return trials
