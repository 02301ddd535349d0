"""Local dataset files → trials. (Hub loading, more datasets and graders come with the tasks issue.)"""

from __future__ import annotations

import json
import os
from pathlib import Path

from interp.trials import Trial

__all__ = ["load_trials", "DATASETS"]

DATASETS = ("triviaqa", "jsonl")


def _triviaqa_row(row: dict, where: str) -> dict:
    """A TriviaQA row in the Eval-Gauntlet form (context/answer/aliases) or the HF form
    (question, answer{value, aliases})."""
    if "context" in row:
        question = str(row["context"]).removeprefix("Question: ").removesuffix("\nAnswer:").strip()
        gold, aliases = row.get("answer"), row.get("aliases") or []
    elif "question" in row:
        question = str(row["question"]).strip()
        answer = row.get("answer")
        gold = answer.get("value") if isinstance(answer, dict) else answer
        aliases = answer.get("aliases", []) if isinstance(answer, dict) else [answer]
    else:
        raise ValueError(f"{where}: a TriviaQA row needs 'context' or 'question'; keys are {sorted(row)}")
    if not question or gold is None:
        raise ValueError(f"{where}: empty question or missing answer")
    return {"id": row.get("question_id"), "question": question, "gold": str(gold), "aliases": tuple(str(a) for a in aliases)}


def load_trials(path: str | os.PathLike, dataset: str = "jsonl") -> list[Trial]:
    """Trials from a local JSON Lines file.

    dataset="triviaqa": TriviaQA rows; the gold answer also fills `answer` (the inserted answer)
    until Phase-0 generation provides the model's own, and `metadata["answer_source"]` says so.
    dataset="jsonl": rows with at least id and question (answer, gold, aliases optional).
    Ids without a source id are "<dataset>-<line>" (stable for a given file).

    Raises:
        ValueError: naming file and line of a malformed row.
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset {dataset!r} is not one of {', '.join(DATASETS)}")
    source = Path(path)
    trials = []
    with source.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{source}:{number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{where}: not valid JSON ({error.msg})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{where}: expected a JSON object, got {type(row).__name__}")
            if dataset == "triviaqa":
                fields = _triviaqa_row(row, where)
                trials.append(
                    Trial(
                        id=str(fields["id"] or f"triviaqa-{number:06d}"),
                        question=fields["question"],
                        answer=fields["gold"],
                        gold=fields["gold"],
                        aliases=fields["aliases"],
                        metadata={"dataset": "triviaqa", "line": number, "answer_source": "gold"},
                    )
                )
            else:
                if "question" not in row:
                    raise ValueError(f"{where}: row has no 'question'")
                trials.append(
                    Trial(
                        id=str(row.get("id", f"jsonl-{number:06d}")),
                        question=str(row["question"]),
                        answer=row.get("answer"),
                        gold=row.get("gold"),
                        aliases=tuple(row.get("aliases") or ()),
                        metadata={"line": number},
                    )
                )
    return trials
