"""Capture a whole dataset into an `ActivationStore`: batched, with progress, resumable.

Trials are cut into fixed chunks of `batch_size` in input order; each chunk is one forward
pass and one atomically committed shard. A run killed at any moment and started again skips the
committed chunks and recomputes the others with exactly the same batches, so every trial ends
in the store once, with the values of an uninterrupted run.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import torch
from tqdm.auto import tqdm

from interp.errors import ConfigError
from interp.forward.capture import capture
from interp.io import ActivationStore, chunk_ids, tensor_name, versions
from interp.io.ranks import SINGLE, Ranks
from interp.models import LM
from interp.prompting import Template, Trial, as_trial, tokenize
from interp.readouts import Readout

__all__ = ["capture_dataset"]

_DTYPE_NAMES = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}


def capture_dataset(
    lm: LM,
    trials: Sequence[Trial | Mapping[str, Any]],
    template: Template,
    layers: Sequence[int],
    roles: Sequence[str],
    out: str | os.PathLike,
    batch_size: int = 8,
    site: str = "resid_post",
    chat: bool = True,
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
    extra_meta: Mapping[str, Any] | None = None,
    progress: bool = True,
    ranks: Ranks = SINGLE,
    readout: Readout | None = None,
) -> ActivationStore:
    """Capture `roles` at `layers` for every trial into the store at `out`.

    With several `ranks` (a data-parallel run) each captures the uncommitted chunks at its own
    positions into its own shards of the one store, and every rank returns after all are done.

    Every trial ends in the store's index with a status: "ok"; "render: ..." when the template
    cannot render it; "role: reason" when a requested role does not resolve (not captured); or
    "non-finite at L{layer}/{role}" when a captured value is NaN/inf (captured, `finite` False).

    With a `readout`, the same forward runs to the end and the readout's columns at each row's
    last prompt token (e.g. the Y/N verdict and VLD of a verification prompt; a [batch, K]
    column such as option probabilities as name_1 … name_K) join the index rows of the captured
    trials (NaN for the others): one pass for both.

    Raises:
        ConfigError: on duplicate trial ids (naming them); StoreError: a store holding another capture.
    """
    trials = [as_trial(t) for t in trials]
    counts = Counter(t.id for t in trials)
    duplicates = sorted(i for i, n in counts.items() if n > 1)
    if duplicates:
        raise ConfigError(f"duplicate trial ids: {duplicates[:10]}{' ...' if len(duplicates) > 10 else ''}")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be ≥ 1, got {batch_size}")
    meta = {
        "model": lm.name_or_path,
        "revision": getattr(lm.model.config, "_commit_hash", None),
        "architecture": lm.architecture,
        "d_model": lm.d_model,
        "dtype": _DTYPE_NAMES.get(dtype, str(dtype)),
        "model_dtype": str(lm.dtype),
        "template": template.name,
        "chat": chat,
        "site": site,
        "layers": sorted(set(int(layer) for layer in layers)),
        "roles": list(roles),
        "batch_size": batch_size,
        "seed": seed,
        "n_trials": len(trials),
        "versions": versions(),
        **dict(extra_meta or {}),
    }
    store = ActivationStore.open_or_create(out, meta) if ranks.main else None
    ranks.barrier()
    store = store or ActivationStore.open_or_create(out, meta)
    by_id = {t.id: t for t in trials}
    chunks = chunk_ids([t.id for t in trials], batch_size)
    done = store.committed_shards()
    todo = [k for k in range(len(chunks)) if k not in done and ranks.owns(k)]
    torch.manual_seed(seed)
    bar = tqdm(total=len(trials), initial=len(trials) - sum(len(chunks[k]) for k in todo), desc="capture", unit="trial", disable=not progress)
    for k in todo:
        records, tensors = _capture_chunk(lm, [by_id[i] for i in chunks[k]], template, store.layers, store.roles, site, chat, dtype, readout)
        store.write_shard(k, records, tensors)
        bar.update(len(chunks[k]))
    bar.close()
    ranks.barrier()
    return store


def _flat(columns: Mapping[str, Any], row: int) -> dict[str, float]:
    """One row of readout columns as floats; a [batch, K] column becomes name_1 … name_K."""
    out = {}
    for name, values in columns.items():
        value = values[row]
        if getattr(value, "ndim", 0) == 1:
            out.update({f"{name}_{k + 1}": float(v) for k, v in enumerate(value)})
        else:
            out[name] = float(value)
    return out


def _capture_chunk(
    lm: LM,
    chunk: list[Trial],
    template: Template,
    layers: list[int],
    roles: list[str],
    site: str,
    chat: bool,
    dtype: torch.dtype,
    readout: Readout | None = None,
) -> tuple[pd.DataFrame, dict[tuple[int, str], torch.Tensor]]:
    """Render, tokenise and capture one chunk: its index rows (with the readout's columns when
    one is given) and the captured [rows, d_model] tensors."""
    rendered, statuses = template.render_each(chunk, lm.tokenizer, chat=chat)
    rows: dict[str, int] = {}
    finite: dict[str, bool] = {}
    tensors: dict = {}
    read: dict[str, dict[str, float]] = {}
    if rendered:
        batch = tokenize(lm.tokenizer, rendered, padding_side="left")
        role_status = batch.status(roles)
        keep = batch.ok(roles)
        for trial_id, status in zip(batch.trial_ids, role_status):
            statuses[trial_id] = status
        if keep.any():
            kept = torch.nonzero(keep).squeeze(1)
            if readout is None:
                acts = capture(lm, batch, layers, roles, site=site, dtype=dtype)
            else:
                acts, logits = capture(lm, batch, layers, roles, site=site, dtype=dtype, return_logits=True)
                columns = readout.read(logits.float().cpu())
                read = {batch.trial_ids[row]: _flat(columns, row) for row in kept.tolist()}
            tensors = {key: value[kept] for key, value in acts.items()}
            for position, row in enumerate(kept.tolist()):
                trial_id = batch.trial_ids[row]
                rows[trial_id] = position
                bad = [tensor_name(layer, role) for (layer, role), t in tensors.items() if not torch.isfinite(t[position]).all()]
                finite[trial_id] = not bad
                if bad:
                    statuses[trial_id] = f"non-finite at {', '.join(bad[:4])}"
    records = pd.DataFrame(
        {
            "trial_id": [t.id for t in chunk],
            "status": [statuses[t.id] for t in chunk],
            "row": [rows.get(t.id, -1) for t in chunk],
            "finite": [finite.get(t.id, False) for t in chunk],
        }
    )
    for name in dict.fromkeys(name for values in read.values() for name in values):
        records[name] = [read.get(t.id, {}).get(name, float("nan")) for t in chunk]
    return records, tensors
