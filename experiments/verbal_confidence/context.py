"""What every stage shares: the config, the results folder, the model (loaded on first use), the
templates, the trial table and the activation store."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from typing import Any

import pandas as pd
import torch

from experiments.verbal_confidence.config import resolve_layers
from interp.models import LM, load_model
from interp.prompts import CONFIDENCE_CLASSES, CategoricalConfidenceTemplate, Template
from interp.results import RunDir
from interp.roles import Batch
from interp.store import ActivationStore
from interp.templates import ConfidencePhase0Template, MinimalConfidenceTemplate, NumericConfidenceTemplate
from interp.trials import Trial

LABELS = [c.label for c in CONFIDENCE_CLASSES]
MIDPOINTS = [c.midpoint for c in CONFIDENCE_CLASSES]


class Context:
    """Shared state of one pipeline run (`config` as loaded by `load_config`, `run` its folder)."""

    def __init__(self, config: Mapping[str, Any], run: RunDir, lm: LM | None = None):
        self.config = config
        self.run = run
        self._lm = lm

    @property
    def lm(self) -> LM:
        if self._lm is None:
            spec = self.config["model"]
            self._lm = load_model(
                spec["name"],
                dtype=spec["dtype"],
                device_map=spec["device_map"],
                attn_implementation=spec["attn_implementation"],
                revision=spec["revision"],
            )
        if not (self.run.path / "model.json").exists():
            lm = self._lm
            self.run.write_json("model.json", {"name": lm.name_or_path, "architecture": lm.architecture, "n_layers": lm.n_layers, "d_model": lm.d_model, "dtype": str(lm.dtype)})
        return self._lm

    @property
    def n_layers(self) -> int:
        """Depth of the model (from model.json when the run recorded it, so reports load no weights)."""
        recorded = self.run.path / "model.json"
        if recorded.exists():
            return int(json.loads(recorded.read_text())["n_layers"])
        return self.lm.n_layers

    @property
    def seed(self) -> int:
        return int(self.config["seed"])

    def layers(self, section: str, key: str = "layers") -> list[int]:
        return resolve_layers(self.config[section][key], self.n_layers, f"{section}.{key}")

    def template(self, kind: str) -> Template:
        """"phase0", "categorical", "numeric" or "minimal"."""
        strip = bool(self.config["strip_answer_punctuation"])
        if kind == "phase0":
            return ConfidencePhase0Template()
        kinds = {"categorical": CategoricalConfidenceTemplate, "numeric": NumericConfidenceTemplate, "minimal": MinimalConfidenceTemplate}
        return kinds[kind](strip_answer_punctuation=strip)

    @cached_property
    def class_ids(self) -> list[int]:
        return CategoricalConfidenceTemplate().class_token_ids(self.lm.tokenizer)

    @cached_property
    def digit_ids(self) -> list[int]:
        return NumericConfidenceTemplate().digit_token_ids(self.lm.tokenizer)

    def batches(self, trials: Sequence[Trial], kind: str) -> tuple[list[Batch], dict[str, str]]:
        """Left-padded batches of the renderable trials and the render statuses of the others."""
        return self.template(kind).batches(trials, self.lm.tokenizer, int(self.config["batch_size"]), chat=bool(self.config["chat"]))

    @property
    def behaviour(self) -> pd.DataFrame:
        """behaviour.parquet indexed by trial_id."""
        table = self.run.read_table("behaviour")
        table.index = pd.Index(table["trial_id"].to_numpy(), name=None)
        return table

    def trials(self, ids: Iterable[str], copy_suffix: Sequence[str] | None = None) -> list[Trial]:
        """Phase-1 trials (question + the model's Phase-0 answer) for ids of the behaviour table;
        `copy_suffix` gives repeated ids distinct names ("<id>#<suffix>")."""
        table = self.behaviour
        ids = list(ids)
        trials = []
        for k, trial_id in enumerate(ids):
            row = table.loc[trial_id]
            name = trial_id if copy_suffix is None else f"{trial_id}#{copy_suffix[k]}"
            trials.append(
                Trial(
                    id=name,
                    question=row["question"],
                    answer=row["answer"],
                    gold=row["gold"],
                    aliases=tuple(row["aliases"]),
                    metadata={"source_trial": trial_id},
                )
            )
        return trials

    @property
    def store(self) -> ActivationStore:
        return ActivationStore(self.run.path / "activations")

    def activations(self, layer: int, role: str, ids: Sequence[str]) -> torch.Tensor:
        """[len(ids), d_model] stored residuals at (layer, role) in the order of `ids` (ids may
        repeat; a trial without a finite capture gives a NaN row)."""
        values, stored = self.store.read(layer, role, only_finite=True)
        where = {trial_id: k for k, trial_id in enumerate(stored)}
        out = torch.full((len(ids), values.shape[1]), float("nan"), dtype=torch.float32)
        found = [(k, where[i]) for k, i in enumerate(ids) if i in where]
        if found:
            rows, source = zip(*found)
            out[list(rows)] = values[list(source)].float()
        return out

    def eligible(self, trial_set: str, roles: Sequence[str] = ()) -> pd.DataFrame:
        """Behaviour rows of a set whose Phase-1 readout is ok and whose capture (if `roles` are
        read from the store) is ok."""
        table = self.behaviour
        rows = table[(table["set"] == trial_set) & (table["status"] == "ok")]
        if roles:
            captured = self.store.index().set_index("trial_id")
            good = captured.index[(captured["status"] == "ok") & captured["finite"]]
            rows = rows[rows["trial_id"].isin(good)]
        return rows

    def select(self, rows: pd.DataFrame, n: int, classes: Sequence[str], highest: bool, exclude: Iterable[str] = ()) -> pd.DataFrame:
        """Up to `n` rows whose Phase-1 class is in `classes`, most extreme expected confidence
        first; if the classes hold fewer, the rest by rank of expected confidence alone. Column
        `selected_by` says which ("class" or "rank")."""
        unknown = sorted(set(classes) - set(LABELS))
        if unknown:
            raise ValueError(f"unknown confidence classes {unknown}; the classes are {LABELS}")
        pool = rows[~rows["trial_id"].isin(set(exclude))].sort_values(["expected_confidence", "trial_id"], ascending=[not highest, True])
        by_class = pool[pool["confidence_class"].isin(classes)].head(n).assign(selected_by="class")
        rest = pool[~pool["trial_id"].isin(by_class["trial_id"])].head(n - len(by_class)).assign(selected_by="rank")
        return pd.concat([by_class, rest])

