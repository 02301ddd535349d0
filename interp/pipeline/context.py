"""What every stage of every pipeline shares: the config, the run folder, the model (loaded on
first use, its shape recorded so reports load no weights), templates and their readouts, batches,
the activation store, and sweeps committed batch by batch."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from interp.errors import ConfigError
from interp.forward import capture_dataset, pilot_readout
from interp.interventions import sweep
from interp.io import ActivationStore, RunDir, write_json
from interp.models import LM, load_model, resolve_dtype
from interp.pipeline.config import parse_layers
from interp.prompting import Batch, Template, Trial
from interp.readouts import Readout

__all__ = ["Context"]


class Context:
    """Shared state of one pipeline run.

    Subclasses name their templates in `templates` (kind → factory taking the context). A stage
    that pilots a readout records the variant it chose in pilot.json ({kind: {"separator",
    "suffix", ...}}); `template(kind)` and `readout(kind)` follow that variant from then on.
    """

    templates: Mapping[str, Callable[[Any], Template]] = {}

    def __init__(self, config: Any, run: RunDir, lm: LM | None = None):
        self.config = config
        self.run = run
        self._lm = lm
        self._readouts: dict[str, Readout] = {}

    @property
    def lm(self) -> LM:
        """The model of `config.model`, loaded on first use; its shape goes to model.json."""
        if self._lm is None:
            spec = self.config.model
            device_map = spec.device_map
            if device_map is None and self.run.ranks.world > 1 and torch.cuda.is_available():
                device_map = f"cuda:{torch.cuda.current_device()}"
            self._lm = load_model(spec.name, dtype=spec.dtype, device_map=device_map, attn_implementation=spec.attn_implementation, revision=spec.revision)
        if self.run.ranks.main and not (self.run.path / "model.json").exists():
            lm = self._lm
            write_json(self.run.path / "model.json", {"name": lm.name_or_path, "architecture": lm.architecture, "n_layers": lm.n_layers, "d_model": lm.d_model, "dtype": str(lm.dtype)})
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
        return int(self.config.seed)

    def draw(self, rows: pd.DataFrame, n: int, key: str, exclude: Iterable[str] = ()) -> pd.DataFrame:
        """Up to `n` rows (by their trial_id column) drawn uniformly at random, seeded by the run
        seed and `key` (so each selection is its own and independent of row order), leaving out
        `exclude`; returned in trial-id order."""
        pool = rows[~rows["trial_id"].isin(set(exclude))].sort_values("trial_id")
        rng = np.random.default_rng([self.seed, int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "little")])
        return pool.iloc[np.sort(rng.permutation(len(pool))[:n])]

    def layers(self, section: str, key: str = "layers") -> list[int]:
        """The layers of config.<section>.<key>, resolved against the model's depth."""
        return parse_layers(getattr(getattr(self.config, section), key), self.n_layers, f"{section}.{key}")

    def template(self, kind: str) -> Template:
        """The template of a kind this pipeline names in `templates`, in the readout variant the
        pilot chose (pilot.json) if one ran."""
        if kind not in self.templates:
            raise ConfigError(f"{type(self).__name__} has no template {kind!r} (it has {sorted(self.templates)})")
        template = self.templates[kind](self)
        choice = self.pilot_choice(kind)
        if choice is not None:
            template.readout_separator, template.readout_suffix = choice["separator"], choice["suffix"]
        return template

    def pilot_choice(self, kind: str) -> dict | None:
        """The pilot's record for a template kind ({"variant", "separator", "suffix", ...}), or None."""
        piloted = self.run.path / "pilot.json"
        return json.loads(piloted.read_text()).get(kind) if piloted.exists() else None

    def pilot_readouts(self, kinds: Sequence[str], trials: Sequence[Trial], min_agreement: float) -> dict[str, dict]:
        """The pilot check of one-pass readouts (verbal_confidence.md §8, error_detection.md §8):
        on `trials` (with the model's answers), each kind's readout argmax must be greedy
        generation's first token, in the spacing variant the model emits. Records the chosen
        variant per kind in pilot.json and the per-trial comparison in pilot.parquet (merged with
        the kinds piloted before); raises `ConfigError` below `min_agreement`."""
        if not trials:
            raise ConfigError(f"pilot: no trial has an answer to pilot the {', '.join(kinds)} readout on")
        record, frames = {}, []
        for kind in kinds:
            choice, table = pilot_readout(self.lm, trials, self.templates[kind](self), int(self.config.batch_size), bool(self.config.chat))
            record[kind] = choice
            frames.append(table.assign(readout=kind))
        piloted = self.run.path / "pilot.json"
        earlier = {k: v for k, v in (json.loads(piloted.read_text()) if piloted.exists() else {}).items() if k not in record}
        previous = self.run.read_table("pilot") if self.run.has_table("pilot") else pd.DataFrame()
        kept = previous[~previous["readout"].isin(record)] if len(previous) else previous
        self.run.write_table("pilot", pd.concat([kept, *frames], ignore_index=True))
        self.run.write_json("pilot.json", earlier | record)
        self._readouts = {k: v for k, v in self._readouts.items() if k not in record}
        low = {kind: r for kind, r in record.items() if r["agreement"] < float(min_agreement)}
        if low:
            said = "; ".join(f"{kind}: {r['agreement']:.0%} of {r['n']} (best variant: {r['variant']})" for kind, r in low.items())
            raise ConfigError(
                f"pilot: the readout's argmax agrees with greedy generation's first token on {said}, below pilot.min_agreement = "
                f"{min_agreement}; see pilot.parquet. Lower pilot.min_agreement to accept (the report states the rate)."
            )
        return record

    def readout(self, kind: str) -> Readout:
        """The readout of a template kind under the model's tokenizer (built once)."""
        if kind not in self._readouts:
            self._readouts[kind] = self.template(kind).readout(self.lm.tokenizer)
        return self._readouts[kind]

    def batches(self, trials: Sequence[Trial], kind: str) -> tuple[list[Batch], dict[str, str]]:
        """Left-padded batches of the renderable trials and the render statuses of the others."""
        return self.template(kind).batches(trials, self.lm.tokenizer, int(self.config.batch_size), chat=bool(self.config.chat))

    def capture_store(
        self,
        trials: Sequence[Trial],
        kind: str,
        store: str,
        layers: Sequence[int],
        roles: Sequence[str],
        dtype: str = "float32",
        readout: Readout | None = None,
        meta: Mapping[str, Any] | None = None,
        progress: bool = True,
    ) -> ActivationStore:
        """`capture_dataset` of `trials` rendered by template `kind` into the run's folder `store`
        (resumable, shared by the run's ranks), with the run's batch size, chat mode, seed and
        config name; a `readout` reads the same forward into the store's index."""
        return capture_dataset(
            self.lm,
            trials,
            self.template(kind),
            layers=layers,
            roles=roles,
            out=self.run.path / store,
            batch_size=int(self.config.batch_size),
            chat=bool(self.config.chat),
            dtype=resolve_dtype(dtype),
            seed=self.seed,
            extra_meta={"config": self.config.name, **dict(meta or {})},
            progress=progress,
            ranks=self.run.ranks,
            readout=readout,
        )

    def store(self, name: str = "activations") -> ActivationStore:
        """The activation store the run keeps in folder `name`."""
        return ActivationStore(self.run.path / name)

    def activations(self, layer: int, role: str, ids: Sequence[str], store: str = "activations") -> torch.Tensor:
        """[len(ids), d_model] stored residuals at (layer, role) in the order of `ids` (ids may
        repeat; a trial without a finite capture gives a NaN row)."""
        values, stored = self.store(store).read(layer, role, only_finite=True)
        where = {trial_id: k for k, trial_id in enumerate(stored)}
        out = torch.full((len(ids), values.shape[1]), float("nan"), dtype=torch.float32)
        found = [(k, where[i]) for k, i in enumerate(ids) if i in where]
        if found:
            rows, source = zip(*found)
            out[list(rows)] = values[list(source)].float()
        return out

    def sweep_parts(
        self,
        stage: str,
        tag: str,
        trials: Sequence[Trial],
        kind: str,
        make_specs: Callable,
        layers: Sequence[int],
        roles: Sequence[str],
        conditions: Sequence[str],
    ) -> pd.DataFrame:
        """`interp.sweep` over the trials' batches of template `kind`, read by its readout, one
        committed part per batch (`parts/<stage>/<tag>-<k>`); trials that cannot be rendered get
        a row with their status."""
        batches, failed = self.batches(trials, kind)
        readout = self.readout(kind)
        pieces = [
            (
                f"{tag}-{k:05d}",
                lambda batch=batch, k=k: sweep(
                    self.lm, batch, make_specs, layers, roles, conditions, readout, desc=f"{stage} {tag} batch {k + 1}/{len(batches)}", incremental=bool(self.config.incremental)
                ),
            )
            for k, batch in enumerate(batches)
        ]
        parts = self.run.parts(stage, pieces)
        if failed:
            parts.append(pd.DataFrame({"trial_id": list(failed), "status": list(failed.values())}))
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
