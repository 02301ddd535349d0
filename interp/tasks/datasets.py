"""Dataset loaders: TriviaQA, MMLU, MNLI, GSM8K, BigMath and 4-option MCQ sets → a DataFrame of
trials with stable ids and a status per row.

Each loader reads a local file (always available) or, given no path, the dataset's parquet file
from the Hugging Face hub (`huggingface_hub.hf_hub_download`, honouring HF_ENDPOINT, HF_HOME and
HF_HUB_OFFLINE). Columns of every frame:

    id, dataset, question, gold, aliases, options, correct_option, label, source, status

`options` is a tuple of option texts (MCQ-style sets), `correct_option` its 1-based index,
`label` a class label (MNLI), `source` "file:line" (or "repo/file#row"), `status` "ok" or why
the row must not be used (e.g. "duplicate of triviaqa-000012"). Rows are never dropped:
`dedupe` marks repeated questions, and a malformed row either raises an error naming file and
line or, with `on_error="status"`, keeps the row with its problem as status.
"""

from __future__ import annotations

import csv
import json
import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd

from interp.errors import ConfigError, DatasetError
from interp.prompting import Trial
from interp.tasks.grading import MNLI_LABELS, normalize_answer, parse_number

__all__ = [
    "COLUMNS",
    "HUB_FILES",
    "DatasetError",
    "build_mcq_from_triviaqa",
    "dedupe",
    "load_bigmath",
    "load_gsm8k",
    "load_mcq",
    "load_mmlu",
    "load_mnli",
    "load_triviaqa",
    "read_records",
    "to_trials",
]

COLUMNS = ("id", "dataset", "question", "gold", "aliases", "options", "correct_option", "label", "source", "status")

HUB_FILES: dict[str, tuple[str, str, str | None]] = {
    "triviaqa": ("mandarjoshi/trivia_qa", "rc.nocontext/validation-00000-of-00001.parquet", None),
    "mmlu": ("cais/mmlu", "all/test-00000-of-00001.parquet", None),
    "mnli": ("nyu-mll/glue", "mnli/validation_matched-00000-of-00001.parquet", None),
    "gsm8k": ("openai/gsm8k", "main/test-00000-of-00001.parquet", None),
    "bigmath": ("SynthLabsAI/Big-Math-RL-Verified", "default/train/0000.parquet", "refs/convert/parquet"),
}
"""Default (repo, parquet file, revision) per dataset on the hub; override with `hub_file=`
(repo, file) and `revision=`. The BigMath path is the hub's parquet-conversion branch, not
checked from this offline machine."""


def _row(**fields) -> dict:
    out = {name: None for name in COLUMNS}
    out.update(fields)
    out["status"] = out["status"] or "ok"
    return out


def _frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["correct_option"] = frame["correct_option"].astype("Int64")
    ids = frame["id"]
    if ids.duplicated().any():
        first = ids[ids.duplicated()].iloc[0]
        raise DatasetError(f"id {first!r} occurs twice in {frame['source'][ids == first].tolist()[:2]}")
    return frame


def _hub_path(dataset: str, hub_file: tuple[str, str] | None, revision: str | None) -> Path:
    from huggingface_hub import hf_hub_download

    repo, filename, default_revision = HUB_FILES[dataset] if hub_file is None else (*hub_file, None)
    try:
        return Path(hf_hub_download(repo, filename, repo_type="dataset", revision=revision or default_revision))
    except Exception as error:
        raise DatasetError(f"cannot fetch {dataset} from the hub ({repo}/{filename}): {type(error).__name__}: {error}") from error


def read_records(path: Path) -> Iterator[tuple[str, int, dict | Exception]]:
    """(where, number, row or the error that row raised) for JSON Lines (number = line), JSON
    lists or parquet files (number = 1-based row)."""
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".json"):
        if suffix == ".parquet":
            rows = pd.read_parquet(path).to_dict("records")
        else:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as error:
                yield f"{path}:{error.lineno}", error.lineno, DatasetError(f"{path}:{error.lineno}: not valid JSON ({error.msg})")
                return
            rows = data.get("Data", data.get("data")) if isinstance(data, dict) else data
            if not isinstance(rows, list):
                yield str(path), 0, DatasetError(f"{path}: expected a JSON list of rows (or an object with 'Data')")
                return
        for number, row in enumerate(rows, start=1):
            yield f"{path}#{number}", number, row
        return
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                yield where, number, json.loads(line)
            except json.JSONDecodeError as error:
                yield where, number, DatasetError(f"{where}: not valid JSON ({error.msg})")


def _load(
    dataset: str,
    path: str | os.PathLike | None,
    parse: Callable[[dict, str, int], dict],
    on_error: str,
    hub_file: tuple[str, str] | None,
    revision: str | None,
    limit: int | None,
) -> pd.DataFrame:
    if on_error not in ("raise", "status"):
        raise ConfigError(f"on_error must be 'raise' or 'status', got {on_error!r}")
    source = Path(path) if path is not None else _hub_path(dataset, hub_file, revision)
    if not source.exists():
        raise DatasetError(f"{dataset}: {source} does not exist")
    rows = []
    for where, number, record in read_records(source):
        if limit is not None and len(rows) >= limit:
            break
        try:
            if isinstance(record, Exception):
                raise record
            if not isinstance(record, dict):
                raise DatasetError(f"{where}: expected an object, got {type(record).__name__}")
            rows.append(parse(record, where, number))
        except DatasetError as error:
            if on_error == "raise":
                raise
            rows.append(_row(id=f"{dataset}-{number:06d}", dataset=dataset, source=where, status=f"malformed: {error}"))
    return _frame(rows)


def _file_or_hub_loader(dataset: str, parse: Callable[[dict, str, int], dict], doc: str) -> Callable[..., pd.DataFrame]:
    """The loader of a dataset read record by record from a local file or the hub's parquet."""

    def load(
        path: str | os.PathLike | None = None,
        on_error: str = "raise",
        hub_file: tuple[str, str] | None = None,
        revision: str | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        return _load(dataset, path, parse, on_error, hub_file, revision, limit)

    load.__name__ = load.__qualname__ = f"load_{dataset}"
    load.__doc__ = doc + """

    Args:
        path: a local file; None reads the hub's parquet (`HUB_FILES`, or `hub_file`, `revision`).
        on_error: "raise" (an error naming file and line) or "status" (the row is kept with its
            problem as status).
        limit: read at most this many rows.
    """
    return load


def _text(record: dict, key: str, where: str) -> str:
    value = record.get(key)
    if value is None or not str(value).strip():
        raise DatasetError(f"{where}: missing or empty {key!r} (keys: {sorted(record)})")
    return str(value).strip()


def _triviaqa(record: dict, where: str, number: int) -> dict:
    if "Question" in record:  # the official TriviaQA JSON: {"Data": [{"Question", "Answer": {"Value", "Aliases"}, "QuestionId"}]}
        answer = record.get("Answer") or {}
        record = {"question": record["Question"], "question_id": record.get("QuestionId"), "answer": {"value": answer.get("Value"), "aliases": answer.get("Aliases")}}
    if "context" in record:  # Eval-Gauntlet form
        question = _text(record, "context", where).removeprefix("Question: ").removesuffix("\nAnswer:").strip()
        gold = _text(record, "answer", where)
        aliases = record.get("aliases")
    elif "question" in record:  # HF form: answer {value, aliases, ...}
        question = _text(record, "question", where)
        answer = record.get("answer")
        if isinstance(answer, dict):
            gold, aliases = answer.get("value"), answer.get("aliases")
        else:
            gold, aliases = answer, None
        if gold is None or not str(gold).strip():
            raise DatasetError(f"{where}: missing answer value")
    else:
        raise DatasetError(f"{where}: a TriviaQA row needs 'context' or 'question' (keys: {sorted(record)})")
    aliases = [str(a) for a in (list(aliases) if aliases is not None else [])] or [str(gold)]
    if str(gold) not in aliases:
        aliases.append(str(gold))
    identifier = record.get("question_id") or f"triviaqa-{number:06d}"
    return _row(id=str(identifier), dataset="triviaqa", question=question, gold=str(gold).strip(), aliases=tuple(aliases), source=where)


load_triviaqa = _file_or_hub_loader(
    "triviaqa",
    _triviaqa,
    """TriviaQA trials: a local JSON Lines / JSON / parquet file (the Eval-Gauntlet rows of
    shared/data, HF rows with answer{value, aliases}, or the official JSON with "Data"), or with
    no path the hub's `rc.nocontext` validation split. Ids: the question id, else
    "triviaqa-<line>".""",
)


def _mcq_row(dataset: str, identifier: str, question: str, options: list[str], correct: int, where: str, **extra) -> dict:
    if any(not str(o).strip() for o in options):
        raise DatasetError(f"{where}: an option is empty")
    return _row(
        id=identifier,
        dataset=dataset,
        question=question,
        gold=str(options[correct - 1]).strip(),
        aliases=(str(options[correct - 1]).strip(),),
        options=tuple(str(o).strip() for o in options),
        correct_option=correct,
        source=where,
        **extra,
    )


def _mmlu_hub(record: dict, where: str, number: int) -> dict:
    choices = list(record.get("choices") if record.get("choices") is not None else [])
    if len(choices) != 4 or record.get("answer") is None:
        raise DatasetError(f"{where}: an MMLU row needs 4 choices and an answer index")
    subject = record.get("subject") or "unknown"
    return _mcq_row("mmlu", f"mmlu-{subject}-{number:05d}", _text(record, "question", where), choices, int(record["answer"]) + 1, where, label=subject)


def load_mmlu(
    path: str | os.PathLike | None = None,
    split: str = "test",
    on_error: str = "raise",
    hub_file: tuple[str, str] | None = None,
    revision: str | None = None,
) -> pd.DataFrame:
    """MMLU as 4-option items: a local folder of the original CSVs (`<split>/<subject>_<split>.csv`,
    no header: question, A, B, C, D, answer letter) or the hub's cais/mmlu `all` test split.
    `label` holds the subject; ids are "mmlu-<subject>-<row>"."""
    if path is None:
        return _load("mmlu", None, _mmlu_hub, on_error, hub_file, revision, None)
    folder = Path(path) / split if (Path(path) / split).is_dir() else Path(path)
    files = sorted(folder.glob(f"*_{split}.csv"))
    if not files:
        raise DatasetError(f"mmlu: no *_{split}.csv files in {folder}")
    rows = []
    for file in files:
        subject = file.name.removesuffix(f"_{split}.csv")
        with file.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            for number, fields in enumerate(reader, start=1):
                where = f"{file}:{reader.line_num}"
                try:
                    if len(fields) != 6 or fields[5].strip() not in ("A", "B", "C", "D"):
                        raise DatasetError(f"{where}: expected question, 4 options and an answer letter A-D; got {len(fields)} fields")
                    if not fields[0].strip():
                        raise DatasetError(f"{where}: empty question")
                    correct = "ABCD".index(fields[5].strip()) + 1
                    rows.append(_mcq_row("mmlu", f"mmlu-{subject}-{number:05d}", fields[0].strip(), fields[1:5], correct, where, label=subject))
                except DatasetError as error:
                    if on_error == "raise":
                        raise
                    rows.append(_row(id=f"mmlu-{subject}-{number:05d}", dataset="mmlu", source=where, status=f"malformed: {error}"))
    return _frame(rows)


def _mnli(record: dict, where: str, number: int) -> dict:
    premise, hypothesis = _text(record, "premise", where), _text(record, "hypothesis", where)
    label = record.get("label")
    if isinstance(label, (int, float)) and not isinstance(label, bool):
        if int(label) not in (0, 1, 2):
            raise DatasetError(f"{where}: label {label} is not 0/1/2 (unlabelled rows are -1)")
        label = MNLI_LABELS[int(label)]
    if label not in MNLI_LABELS:
        raise DatasetError(f"{where}: label {label!r} is not one of {MNLI_LABELS}")
    identifier = f"mnli-{int(record['idx']):06d}" if record.get("idx") is not None else f"mnli-{number - 1:06d}"
    question = f"Premise: {premise}\nHypothesis: {hypothesis}"
    return _row(id=identifier, dataset="mnli", question=question, gold=label, aliases=(label,), label=label, source=where)


load_mnli = _file_or_hub_loader(
    "mnli",
    _mnli,
    """MNLI validation_matched: local JSON Lines (premise, hypothesis, label name) or the hub's
    glue/mnli parquet (label ids 0 entailment, 1 neutral, 2 contradiction). Ids "mnli-<idx>"
    follow the glue index (the 0-based line of the local file).""",
)


def _gsm8k(record: dict, where: str, number: int) -> dict:
    question, solution = _text(record, "question", where), _text(record, "answer", where)
    if "####" not in solution or parse_number(solution) is None:
        raise DatasetError(f"{where}: the answer has no final '#### <number>' line")
    final = solution.rsplit("####", 1)[1].strip().replace(",", "")
    return _row(id=f"gsm8k-{number:05d}", dataset="gsm8k", question=question, gold=final, aliases=(final,), label=solution, source=where)


load_gsm8k = _file_or_hub_loader(
    "gsm8k",
    _gsm8k,
    """GSM8K test: local JSON Lines (question, answer ending "#### N") or the hub's openai/gsm8k.
    `gold` is N without commas; `label` keeps the worked solution.""",
)


def _bigmath(record: dict, where: str, number: int) -> dict:
    question, answer = _text(record, "problem", where), _text(record, "answer", where)
    return _row(id=f"bigmath-{number:06d}", dataset="bigmath", question=question, gold=answer, aliases=(answer,), label=record.get("source"), source=where)


load_bigmath = _file_or_hub_loader(
    "bigmath",
    _bigmath,
    """BigMath (problem, answer, source) from the hub, or a local file of the same rows. Offline,
    GSM8K stands in (verbal_confidence.md §8).""",
)


def _shuffled(options: list[str], correct_text: str, rng: random.Random) -> tuple[list[str], int]:
    order = options[:]
    rng.shuffle(order)
    return order, order.index(correct_text) + 1


def load_mcq(path: str | os.PathLike, seed: int = 0, on_error: str = "raise") -> pd.DataFrame:
    """A 4-option MCQ set from JSON Lines rows {id?, question, answer, foils: [3 strings]}
    (foil kinds may be given as {"similar", "dissimilar", "unrelated"}). Option order is shuffled
    with a per-row seed derived from `seed` and the id, so it is stable across runs."""

    def parse(record: dict, where: str, number: int) -> dict:
        question, answer = _text(record, "question", where), _text(record, "answer", where)
        foils = record.get("foils")
        if isinstance(foils, dict):
            foils = [foils.get(k) for k in ("similar", "dissimilar", "unrelated")]
        if not isinstance(foils, list) or len(foils) != 3 or any(f is None or not str(f).strip() for f in foils):
            raise DatasetError(f"{where}: 'foils' must hold three non-empty answers")
        if normalize_answer(answer) in {normalize_answer(f) for f in foils}:
            raise DatasetError(f"{where}: a foil equals the answer {answer!r}")
        identifier = str(record.get("id") or f"mcq-{number:06d}")
        options, correct = _shuffled([answer, *map(str, foils)], answer, random.Random(f"{seed}:{identifier}"))
        return _mcq_row("mcq", identifier, question, options, correct, where, label="file")

    return _load("mcq", path, parse, on_error, None, None, None)


def build_mcq_from_triviaqa(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """MCQ items from TriviaQA rows, foils drawn from three other items' gold answers (none an
    alias of the item). A fallback for a SimpleQA-style set: `label` is "foils_from_other_items"."""
    usable = frame[frame["status"] == "ok"].reset_index(drop=True)
    if len(usable) < 4:
        raise DatasetError("build_mcq_from_triviaqa needs at least 4 usable rows")
    golds = usable["gold"].tolist()
    rows = []
    for index, item in usable.iterrows():
        rng = random.Random(f"{seed}:{item['id']}")
        banned = {normalize_answer(a) for a in item["aliases"]}
        foils: list[str] = []
        for _ in range(100 * len(usable)):
            candidate = rng.randrange(len(usable))
            text = golds[candidate]
            if candidate != index and normalize_answer(text) not in banned | {normalize_answer(f) for f in foils}:
                foils.append(text)
                if len(foils) == 3:
                    break
        if len(foils) < 3:
            rows.append(_row(id=f"mcq-{item['id']}", dataset="mcq", question=item["question"], source=item["source"], status="too few distinct foils"))
            continue
        options, correct = _shuffled([item["gold"], *foils], item["gold"], rng)
        rows.append(_mcq_row("mcq", f"mcq-{item['id']}", item["question"], options, correct, item["source"], label="foils_from_other_items"))
    return _frame(rows)


def dedupe(frame: pd.DataFrame) -> pd.DataFrame:
    """Mark every repeat of a normalised question (after the first) with status
    "duplicate of <id>"; nothing is dropped. MCQ items also compare their options."""
    out = frame.copy()
    seen: dict[str, str] = {}
    for index, row in out.iterrows():
        if row["status"] != "ok":
            continue
        key = normalize_answer(row["question"])
        if row["options"] is not None:
            key += "||" + "|".join(sorted(normalize_answer(o) for o in row["options"]))
        if key in seen:
            out.at[index, "status"] = f"duplicate of {seen[key]}"
        else:
            seen[key] = row["id"]
    return out


def to_trials(frame: pd.DataFrame, answer_from_gold: bool = False, only_ok: bool = True) -> list[Trial]:
    """Trials for templates. `answer` is the gold answer when `answer_from_gold` (marked in
    metadata["answer_source"]), else empty until Phase 0 fills it. Options, correct option,
    label, dataset and source go to metadata."""
    trials = []
    for row in frame.itertuples(index=False):
        if only_ok and row.status != "ok":
            continue
        metadata = {"dataset": row.dataset, "source": row.source, "status": row.status}
        if row.options is not None:
            metadata.update(options=tuple(row.options), correct_option=int(row.correct_option))
        if row.label is not None:
            metadata["label"] = row.label
        if answer_from_gold:
            metadata["answer_source"] = "gold"
        trials.append(
            Trial(
                id=row.id,
                question=row.question,
                answer=row.gold if answer_from_gold else None,
                gold=row.gold,
                aliases=tuple(row.aliases or ()),
                metadata=metadata,
            )
        )
    return trials
