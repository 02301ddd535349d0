"""The committed organisms: their specs, where their weights live, and the command that
regenerates them (`interp organisms train`), with the held-out metrics it measured."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from interp.errors import ModelError
from interp.models.loading import FOLDER_EXTENSIONS, NAMED_FOLDERS
from interp.organisms.evaluate import organism_metrics
from interp.organisms.mask import attach
from interp.organisms.train import MARKER, OrganismSpec, save_organism, train_base, train_organism
from interp.organisms.world import FactWorld

__all__ = ["ORGANISMS", "WEIGHTS", "build_organisms", "organism_folder", "recorded"]

WEIGHTS = Path(__file__).parent / "weights"
"""Where the committed organisms live (one folder each, with interp_organism.json)."""
WORLD = {"n_entities": 300, "relations": ("colour", "city", "sport"), "max_exposure": 100, "n_strangers": 200}
ORGANISMS: dict[str, OrganismSpec] = {
    "organism-panl": OrganismSpec(mechanism="panl", world=WORLD, stage1_epochs=6, stage2_steps=400, stage2_lr=1e-3, kl_weight=30.0),
    "organism-cc": OrganismSpec(mechanism="cc", world=WORLD, stage1_epochs=6, stage2_steps=400, stage2_lr=1e-3, kl_weight=30.0),
}
"""name → spec. Stage 1 trains under the mechanism's mask (its verification rows route through
it), so each organism has its own."""
QUESTIONS = Path(__file__).resolve().parents[2] / "data" / "organisms" / "held_out_questions.jsonl"
"""The held-out entities' questions, which the organism configs of the pipelines read."""


def organism_folder(name: str) -> Path:
    """The committed folder of organism `name`; a ModelError if it is unknown or missing."""
    if name not in ORGANISMS:
        raise ModelError(f"unknown organism {name!r}: {', '.join(ORGANISMS)}")
    folder = WEIGHTS / name
    if not (folder / MARKER).exists():
        raise ModelError(f"organism {name!r} has no weights at {folder}; regenerate them with `interp organisms train`")
    return folder


def recorded(name: str) -> dict:
    """What `interp_organism.json` of a committed organism records (spec, world, training log, metrics)."""
    return json.loads((organism_folder(name) / MARKER).read_text())


def build_organisms(out: str | Path | None = None, names: Sequence[str] | None = None, progress: bool = True) -> dict[str, dict]:
    """Train the organisms (stage 1 once per distinct `base_key`, stage 2 each), measure them on the held-out
    entities and save each to `<out>/<name>` (default: the committed `WEIGHTS`); also writes the
    held-out questions beside the committed ones when `out` is None. Returns name → metrics."""
    names = list(names or ORGANISMS)
    unknown = [n for n in names if n not in ORGANISMS]
    if unknown:
        raise ModelError(f"unknown organism(s) {unknown}: {', '.join(ORGANISMS)}")
    root = Path(out) if out is not None else WEIGHTS
    bases: dict[str, tuple] = {}
    results = {}
    for name in names:
        spec = ORGANISMS[name]
        key = json.dumps(spec.base_key(), sort_keys=True)
        if key not in bases:
            bases[key] = train_base(spec, progress)
        lm, log = train_organism(spec, base=bases[key], progress=progress)
        world = FactWorld(**spec.world)
        metrics = organism_metrics(lm, world, base=bases[key][0], seed=spec.seed)
        save_organism(lm, spec, {**log, "metrics": metrics}, root / name)
        results[name] = metrics
    if out is None:
        FactWorld(**ORGANISMS[names[0]].world).write_questions(QUESTIONS)
    return results


def _attach_from_folder(lm, folder: Path) -> None:
    mechanism = json.loads((folder / MARKER).read_text())["mechanism"]
    if mechanism != "none":
        attach(lm, mechanism)


for _name in ORGANISMS:
    NAMED_FOLDERS[_name] = lambda name=_name: organism_folder(name)
FOLDER_EXTENSIONS[MARKER] = _attach_from_folder
