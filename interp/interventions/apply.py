"""Apply intervention specs for one forward pass, with one context manager that always removes
its hooks:

    with interventions(lm, batch, [Steer(20, "panl", v, alpha=5)]) as run:
        logits = last_token_logits(lm, batch)
    run.status   # per row: "ok" or why the row was left untouched

Residual edits read each row's token from the batch's resolved roles; blocking goes through
`interp.interventions.blocking`. Every hook is removed when the context exits, also on error.
Edits apply to the prefill of the batch they were built for; a forward of another shape raises.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from interp.errors import ConfigError, RoleError
from interp.forward.hooks import hidden_of, removing, replace_hidden
from interp.forward.logits import last_token_logits
from interp.interventions.blocking import edge_mask, install_blocking
from interp.interventions.specs import EVERY_POSITION, RESIDUAL_EDITS, BlockAttention, CorruptEmbeddings, EmbeddingMeans, Intervention, Patch, Steer
from interp.models import LM
from interp.prompting import Batch

__all__ = ["InterventionRun", "embedding_means", "intervened_logits", "interventions"]


@dataclass
class InterventionRun:
    """What an `interventions` context applied. status: per row, "ok" or the reasons a spec
    left the row untouched (an unresolved role, missing patch values)."""

    specs: list
    notes: list[list[str]] = field(default_factory=list)

    @property
    def status(self) -> list[str]:
        return ["; ".join(n) if n else "ok" for n in self.notes]

    def ok(self) -> torch.Tensor:
        """[batch] bool: rows every spec applied to."""
        return torch.tensor([not n for n in self.notes], dtype=torch.bool)


def _check_layer(lm: LM, layer: int, what: str) -> None:
    if not 0 <= layer < lm.n_layers:
        raise ConfigError(f"{what}: layer {layer} is outside 0..{lm.n_layers - 1} of {lm.name_or_path!r}")


def _per_row(values: torch.Tensor, lm: LM, batch: Batch, what: str, seq: bool = False) -> torch.Tensor:
    """values as [batch, d] (or [batch, seq, d]), broadcasting a shared [d] vector."""
    values = torch.as_tensor(values)
    want = (len(batch), batch.input_ids.shape[1], lm.d_model) if seq else (len(batch), lm.d_model)
    if not seq and values.shape == (lm.d_model,):
        return values.expand(len(batch), -1)
    if tuple(values.shape) != want:
        shared = "" if seq else f" or [{lm.d_model}]"
        raise ValueError(f"{what}: expected shape {list(want)}{shared}, got {list(values.shape)}")
    return values


def _residual_hook(lm: LM, batch: Batch, layer: int, rows: torch.Tensor, index: torch.Tensor, values: torch.Tensor, add: bool, offset: int):
    """Forward hook on decoder layer `layer` setting hidden[rows, index] to `values` [n, d] (or
    adding them in fp32 when `add`). The layer computes positions ≥ `offset` only; pairs before it
    are left to the cached base run of an incremental forward."""
    expected = (len(batch), batch.input_ids.shape[1] - offset)
    keep = index >= offset
    rows, index, values = rows[keep], index[keep] - offset, values[keep].float()
    placed: dict[tuple, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def hook(_module, _args, output):
        hidden = hidden_of(output)
        if tuple(hidden.shape[:2]) != expected:
            raise RuntimeError(
                f"intervention at layer {layer} was built for a batch of shape {list(expected)} but the layer saw "
                f"{list(hidden.shape[:2])}: interventions apply to the prefill of their batch (use_cache=False)"
            )
        key = (hidden.device, hidden.dtype)
        if key not in placed:
            placed[key] = (rows.to(hidden.device), index.to(hidden.device), values.to(hidden.device))
        r, i, v = placed[key]
        new = hidden[r, i].float() + v if add else v
        return replace_hidden(output, hidden.index_put((r, i), new.to(hidden.dtype)))

    return lm.layers[layer].register_forward_hook(hook)


def _edit_rows(lm: LM, batch: Batch, spec) -> tuple[torch.Tensor, torch.Tensor, list[str | None]]:
    """(token index [batch], values [batch, d_model], per-row reason it does not apply or None)
    of a single-token residual edit."""
    what = type(spec).__name__
    index = batch.role_index(spec.role, what)
    source = spec.vector if isinstance(spec, Steer) else spec.values if isinstance(spec, Patch) else spec.mean
    values = _per_row(source, lm, batch, what)
    finite = values.isfinite().all(-1)
    reasons = [
        batch.reasons[spec.role][row] if index[row] < 0 else None if finite[row] else "values are not finite" for row in range(len(batch))
    ]
    return index, values, reasons


def _every_position_rows(lm: LM, batch: Batch, spec: Patch) -> tuple[torch.Tensor, torch.Tensor]:
    """(values [batch, seq, d_model], usable [batch]) of a `Patch` at every position."""
    values = _per_row(spec.values, lm, batch, type(spec).__name__, seq=True)
    return values, values.flatten(1).isfinite().all(-1)


def _install_residual_edit(lm: LM, batch: Batch, spec, notes: list[list[str]], offset: int):
    what = type(spec).__name__
    _check_layer(lm, spec.layer, what)
    if isinstance(spec, Patch) and spec.role == EVERY_POSITION:
        values, usable = _every_position_rows(lm, batch, spec)
        rows = usable.nonzero().flatten()
        seq = batch.input_ids.shape[1]
        index = torch.arange(seq).repeat(len(rows))
        for row in (~usable).nonzero().flatten().tolist():
            notes[row].append(f"{what}@{spec.layer}: values are not finite")
        return _residual_hook(lm, batch, spec.layer, rows.repeat_interleave(seq), index, values[rows].reshape(-1, lm.d_model), False, offset)
    index, values, reasons = _edit_rows(lm, batch, spec)
    for row, reason in enumerate(reasons):
        if reason is not None:
            notes[row].append(f"{what}@{spec.layer}/{spec.role}: {reason}")
    rows = torch.tensor([row for row, reason in enumerate(reasons) if reason is None], dtype=torch.long)
    chosen = values[rows].float()
    if isinstance(spec, Steer):
        return _residual_hook(lm, batch, spec.layer, rows, index[rows], spec.alpha * chosen, True, offset)
    return _residual_hook(lm, batch, spec.layer, rows, index[rows], chosen, False, offset)


def _span_bounds(batch: Batch, span: str, what: str) -> torch.Tensor:
    """[batch, 2] token range [start, end) of a span role, or of a single-token role as a span of
    one token; -1 where it did not resolve."""
    if span in batch.spans:
        return batch.spans[span]
    if span in batch.roles:
        index = batch.roles[span]
        return torch.stack([index, torch.where(index >= 0, index + 1, index)], dim=-1)
    raise RoleError(f"{what}: {span!r} is not a role or span of this batch (spans: {sorted(batch.spans)})")


def _corruption_inside(batch: Batch, spec: CorruptEmbeddings) -> tuple[torch.Tensor, torch.Tensor]:
    """([batch, seq] bool tokens the corruption replaces, [batch] span start (-1 unresolved))."""
    start, end = _span_bounds(batch, spec.span, "CorruptEmbeddings").unbind(-1)
    seq = torch.arange(batch.input_ids.shape[1])
    return (seq[None, :] >= start[:, None]) & (seq[None, :] < end[:, None]) & (start >= 0)[:, None], start


def _install_corruption(lm: LM, batch: Batch, spec: CorruptEmbeddings, notes: list[list[str]], offset: int):
    means = spec.means
    if means.per_position.shape[-1] != lm.d_model:
        raise ValueError(f"CorruptEmbeddings: means have d_model {means.per_position.shape[-1]}, model has {lm.d_model}")
    inside, start = _corruption_inside(batch, spec)
    for row in (start < 0).nonzero().flatten().tolist():
        notes[row].append(f"CorruptEmbeddings/{spec.span}: {batch.reasons[spec.span][row]}")
    seq = torch.arange(batch.input_ids.shape[1])
    span_position = seq[None, :] - start[:, None]
    n_positions = means.per_position.shape[0]
    table = torch.cat([means.per_position, means.overall[None]]).float()
    slot = torch.where(span_position < n_positions, span_position, torch.full_like(span_position, n_positions)).clamp(min=0)
    inside, replacement = inside[:, offset:], table[slot][:, offset:]
    expected = (len(batch), batch.input_ids.shape[1] - offset)
    placed: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def hook(_module, _args, output):
        if tuple(output.shape[:2]) != expected:
            raise RuntimeError(
                f"CorruptEmbeddings was built for a batch of shape {list(expected)} but the embedding saw "
                f"{list(output.shape[:2])}: interventions apply to the prefill of their batch (use_cache=False)"
            )
        key = (output.device, output.dtype)
        if key not in placed:
            placed[key] = (inside.to(output.device)[..., None], replacement.to(device=output.device, dtype=output.dtype))
        mask, values = placed[key]
        return torch.where(mask, values, output)

    return lm.embed_tokens.register_forward_hook(hook)


def _blocking_masks(lm: LM, batch: Batch, specs: Sequence[BlockAttention], notes: list[list[str]]) -> dict[int, torch.Tensor]:
    n_heads = lm.text_config.num_attention_heads
    masks: dict[int, torch.Tensor] = {}
    for spec in specs:
        for layer in spec.layers:
            _check_layer(lm, layer, "BlockAttention")
        blocked, status = edge_mask(batch, spec.targets, spec.sources, spec.keep_open)
        for row, state in enumerate(status):
            if state != "ok":
                notes[row].append(state)
        if spec.heads is not None:
            bad = [h for h in spec.heads if not 0 <= h < n_heads]
            if bad:
                raise ConfigError(f"BlockAttention: heads {bad} are outside 0..{n_heads - 1}")
            per_head = torch.zeros(n_heads, dtype=torch.bool)
            per_head[list(spec.heads)] = True
            blocked = blocked[:, None] & per_head[None, :, None, None]
        else:
            blocked = blocked[:, None]
        for layer in spec.layers:
            masks[layer] = masks[layer] | blocked if layer in masks else blocked
    return masks


@contextmanager
def interventions(lm: LM, batch: Batch, specs: Sequence[Intervention], offset: int = 0) -> Iterator[InterventionRun]:
    """Apply `specs` to forward passes of `batch` inside the block; remove every hook on exit.

    Args:
        lm: the model.
        batch: the tokenised batch the next forward will run (roles index its rows).
        specs: any mix of Steer, Patch, MeanAblate, CorruptEmbeddings, BlockAttention; residual
            edits at the same layer apply in list order.
        offset: the first position the forward computes: 0 for a whole prefill; an incremental
            forward (`interp.interventions.incremental`) computes positions ≥ offset only and
            leaves every edit before it to its cached base run.

    Yields:
        An `InterventionRun` whose `status` says, per row, which specs could not apply.
    """
    run = InterventionRun(specs=list(specs), notes=[[] for _ in range(len(batch))])
    blocks = [s for s in specs if isinstance(s, BlockAttention)]
    with removing([]) as handles:
        for spec in specs:
            if isinstance(spec, RESIDUAL_EDITS):
                handles.append(_install_residual_edit(lm, batch, spec, run.notes, offset))
            elif isinstance(spec, CorruptEmbeddings):
                handles.append(_install_corruption(lm, batch, spec, run.notes, offset))
            elif not isinstance(spec, BlockAttention):
                raise TypeError(f"{spec!r} is not an intervention spec")
        if blocks:
            handles.append(install_blocking(lm, {layer: mask[..., offset:, :] for layer, mask in _blocking_masks(lm, batch, blocks, run.notes).items()}))
        yield run


def intervened_logits(lm: LM, batch: Batch, specs: Sequence[Intervention]) -> tuple[torch.Tensor, InterventionRun]:
    """Logits at each row's last prompt token [batch, vocab] under `specs` (left-padded batch)."""
    with interventions(lm, batch, specs) as run:
        logits = last_token_logits(lm, batch)
    return logits, run


@torch.inference_mode()
def embedding_means(lm: LM, batches: Batch | Iterable[Batch], span: str = "answer") -> EmbeddingMeans:
    """Position-specific mean input embeddings (after the adapter's scale) of `span` over batches.

    Rows whose span did not resolve are skipped. Returns fp32 means on CPU.
    """
    positions, vectors = [], []
    for batch in [batches] if isinstance(batches, Batch) else batches:
        start, end = _span_bounds(batch, span, "embedding_means").unbind(-1)
        seq = torch.arange(batch.input_ids.shape[1])
        inside = (seq[None, :] >= start[:, None]) & (seq[None, :] < end[:, None]) & (start >= 0)[:, None]
        embedded = lm.embed(batch.input_ids).float().cpu()
        positions.append((seq[None, :] - start[:, None])[inside])
        vectors.append(embedded[inside])
    if not positions or sum(len(p) for p in positions) == 0:
        raise ValueError(f"embedding_means: no row has a resolved {span!r} span")
    position, vector = torch.cat(positions), torch.cat(vectors)
    n_positions = int(position.max()) + 1
    sums = torch.zeros(n_positions, vector.shape[-1]).index_add_(0, position, vector)
    counts = torch.bincount(position, minlength=n_positions)
    return EmbeddingMeans(per_position=sums / counts[:, None], overall=vector.mean(0), counts=counts)
