"""Incremental forwards: recompute only what an intervention changes.

An intervention whose effect starts at decoder layer ℓ and position p changes nothing at layers
< ℓ and nothing at positions < p in any layer (attention is causal). One base forward of a batch
keeps, per layer, its output and its keys/values; a cell then runs decoder layers ≥ ℓ on
positions ≥ p only (a residual edit at the output of ℓ − 1 reruns from ℓ), attending to the cached keys/values of the positions before p,
with the batch's own position ids (rotary), padding, causal and sliding-window masks built by
transformers' stock mask functions, and reads the logits at the last position:

    base = base_run(lm, batch)                                   # one full forward
    logits, run = incremental_logits(lm, base, [Steer(10, "panl", v, alpha=4)])

p is the minimum over the rows a cell touches, so one forward serves the whole batch. A base run
may itself carry interventions (e.g. a corrupted run that patching cells restore into); a cell's
specs must then include the base's, and only the others decide where it starts. Where the reach
is unknown — a decoder with hooks of its own (an organism's planted mask), a model split across
devices — the cell falls back to a full forward, with a warning.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer
from transformers.masking_utils import create_causal_mask, create_sliding_window_causal_mask

from interp.forward.hooks import hidden_of, removing
from interp.interventions.apply import InterventionRun, _corruption_inside, _edit_rows, _every_position_rows, interventions, intervened_logits
from interp.interventions.blocking import edge_mask
from interp.interventions.specs import EVERY_POSITION, RESIDUAL_EDITS, BlockAttention, CorruptEmbeddings, Intervention, Patch
from interp.models import LM
from interp.prompting import Batch

__all__ = ["BaseRun", "Reach", "base_run", "can_rerun", "full_forward_reason", "incremental_hidden", "incremental_logits", "reach", "unembed"]


@dataclass(frozen=True)
class Reach:
    """Where a set of interventions starts to change the forward.

    layer: the first decoder layer to rerun; its input is the base run's output of layer − 1 as
        that layer's hooks leave it (a residual edit at ℓ reruns from ℓ + 1), or for layer 0 the
        input embeddings, recomputed. `n_layers` reruns only the final norm and unembedding.
    position: the first position to rerun (the minimum over the batch's rows).
    """

    layer: int
    position: int


@dataclass
class BaseRun:
    """One forward of a batch (clean, or under `specs`) with what incremental cells reuse.

    outputs: per decoder layer, its output before any forward hook [batch, seq, d_model].
    keys, values: per decoder layer [batch, kv_heads, seq, head_dim].
    logits: [batch, vocab] fp32 on CPU at the last position; run: the base specs' statuses.
    """

    batch: Batch
    specs: tuple
    outputs: list[torch.Tensor]
    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    logits: torch.Tensor
    run: InterventionRun


def _cache_argument(lm: LM) -> str:
    """The keyword the model's forward takes its KV cache under (transformers renamed it)."""
    parameters = inspect.signature(lm.model.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def _decoder(lm: LM) -> torch.nn.Module:
    return lm.adapter.text_model(lm.model)


def full_forward_reason(lm: LM) -> str | None:
    """Why this model's cells cannot run incrementally (None when they can)."""
    decoder = _decoder(lm)
    if decoder._forward_pre_hooks or decoder._forward_hooks:
        return "the decoder has forward hooks of its own (e.g. an organism's planted mask) that a layer-by-layer rerun would skip"
    if len({str(p.device) for p in decoder.parameters()}) > 1:
        return "the model is split across devices"
    if getattr(decoder.config, "use_bidirectional_attention", False):
        return "the model uses bidirectional attention"
    return None


@torch.inference_mode()
def base_run(lm: LM, batch: Batch, specs: Sequence[Intervention] = ()) -> BaseRun:
    """One forward of `batch` under `specs` (none: the clean run) that keeps every layer's output
    (before its forward hooks) and keys/values for `incremental_logits`. Needs a left-padded batch."""
    if batch.padding_side != "left":
        raise ValueError("base_run needs a left-padded batch (tokenize(..., padding_side='left'))")
    outputs: list[torch.Tensor | None] = [None] * lm.n_layers

    def keep(layer: int):
        def hook(_module, _args, output):
            outputs[layer] = hidden_of(output)

        return hook

    cache = DynamicCache()
    with interventions(lm, batch, specs) as run, removing([]) as handles:
        for layer, module in enumerate(lm.layers):
            handles.append(module.register_forward_hook(keep(layer), prepend=True))
        out = lm.model(**batch.model_inputs(lm.device), use_cache=True, logits_to_keep=1, **{_cache_argument(lm): cache})
    return BaseRun(
        batch=batch,
        specs=tuple(specs),
        outputs=outputs,
        keys=[layer.keys for layer in cache.layers],
        values=[layer.values for layer in cache.layers],
        logits=out.logits[:, -1, :].float().cpu(),
        run=run,
    )


def _first(positions: torch.Tensor) -> int | None:
    return int(positions.min()) if positions.numel() else None


def _spec_reach(lm: LM, batch: Batch, spec: Intervention) -> Reach | None:
    """Where one spec starts to change the forward; None when it touches no row."""
    if isinstance(spec, RESIDUAL_EDITS):
        if isinstance(spec, Patch) and spec.role == EVERY_POSITION:
            return Reach(spec.layer + 1, 0) if bool(_every_position_rows(lm, batch, spec)[1].any()) else None
        index, _, reasons = _edit_rows(lm, batch, spec)
        position = _first(index[torch.tensor([r is None for r in reasons], dtype=torch.bool)])
        return None if position is None else Reach(spec.layer + 1, position)
    if isinstance(spec, CorruptEmbeddings):
        inside, _ = _corruption_inside(batch, spec)
        position = _first(inside.any(0).nonzero().flatten())
        return None if position is None else Reach(0, position)
    if isinstance(spec, BlockAttention):
        blocked, _ = edge_mask(batch, spec.targets, spec.sources, spec.keep_open)
        position = _first(blocked.any(-1).any(0).nonzero().flatten())
        return None if position is None else Reach(min(spec.layers), position)
    raise TypeError(f"{spec!r} is not an intervention spec")


def reach(lm: LM, batch: Batch, specs: Sequence[Intervention]) -> Reach | None:
    """Where `specs` together start to change the forward of `batch` (the earliest layer and
    position over every spec and row); None when they touch no row."""
    found = [r for r in (_spec_reach(lm, batch, spec) for spec in specs) if r is not None]
    if not found:
        return None
    return Reach(min(r.layer for r in found), min(r.position for r in found))


def _prefilled_cache(base: BaseRun, position: int) -> DynamicCache:
    """A cache holding the base run's keys/values of positions < `position` at every layer."""
    cache = DynamicCache()
    for keys, values in zip(base.keys, base.values):
        layer = DynamicLayer()
        layer.lazy_initialization(keys, values)
        layer.keys, layer.values = keys[:, :, :position], values[:, :, :position]
        cache.layers.append(layer)
    return cache


def _rotary(decoder: torch.nn.Module, hidden: torch.Tensor, positions: torch.Tensor, layer_types: set[str]) -> dict:
    rotary = decoder.rotary_emb
    if "layer_type" in inspect.signature(rotary.forward).parameters:
        return {kind: rotary(hidden, positions, kind) for kind in layer_types}
    shared = rotary(hidden, positions)
    return {kind: shared for kind in layer_types}


def _through_forward_hooks(module: torch.nn.Module, output: torch.Tensor) -> torch.Tensor:
    """`output` as `module`'s forward hooks would leave it (they are called as torch calls them,
    in order, with empty args: the module itself is not rerun)."""
    for key, hook in list(module._forward_hooks.items()):
        result = hook(module, (), {}, output) if key in module._forward_hooks_with_kwargs else hook(module, (), output)
        if result is not None:
            output = hidden_of(result)
    return output


def _rerun(lm: LM, base: BaseRun, start: Reach) -> torch.Tensor:
    """The last layer's output at the last position [batch, d_model] from rerunning layers ≥
    start.layer on positions ≥ start.position (hooks installed by the caller apply as in a full
    forward)."""
    p = start.position
    if start.layer == 0:
        hidden = lm.embed_tokens(base.batch.input_ids[:, p:].to(lm.device))
    else:
        hidden = _through_forward_hooks(lm.layers[start.layer - 1], base.outputs[start.layer - 1][:, p:])
    if start.layer < lm.n_layers:
        hidden = _run_layers(lm, _decoder(lm), base, hidden, start)
    return hidden[:, -1]


@torch.inference_mode()
def unembed(lm: LM, hidden: torch.Tensor) -> torch.Tensor:
    """Logits [n, vocab] (fp32, CPU) of last-layer outputs [n, d_model]: the final norm, the
    unembedding and Gemma's final soft-cap, as the model's own head applies them. Cells' outputs
    stacked into one call read the unembedding weights once."""
    logits = lm.lm_head(lm.final_norm(hidden[:, None]))
    softcap = getattr(lm.text_config, "final_logit_softcapping", None)
    if softcap is not None:
        logits = torch.tanh(logits / softcap) * softcap
    return logits[:, -1, :].float().cpu()


def _run_layers(lm: LM, decoder: torch.nn.Module, base: BaseRun, hidden: torch.Tensor, start: Reach) -> torch.Tensor:
    """Decoder layers ≥ start.layer on `hidden` [batch, seq − p, d_model], the positions ≥ p,
    attending to the base run's keys/values of the positions before p."""
    batch, p, device = base.batch, start.position, lm.device
    positions = batch.position_ids[:, p:].to(device)
    cache = _prefilled_cache(base, p)
    mask_arguments = dict(config=decoder.config, inputs_embeds=hidden, attention_mask=batch.attention_mask.to(device), position_ids=positions)
    mask_arguments[_cache_argument(lm)] = cache
    masks = {"full_attention": create_causal_mask(**mask_arguments)}
    if "sliding_attention" in lm.layer_types:
        masks["sliding_attention"] = create_sliding_window_causal_mask(**mask_arguments)
    rotary = _rotary(decoder, hidden, positions, set(lm.layer_types))
    for index in range(start.layer, lm.n_layers):
        kind = lm.layer_types[index]
        out = lm.layers[index](hidden, attention_mask=masks[kind], position_embeddings=rotary[kind], position_ids=positions, **{_cache_argument(lm): cache})
        hidden = hidden_of(out)
    return hidden


_WARNED: set[tuple[int, str]] = set()


def can_rerun(lm: LM) -> bool:
    """Whether cells of this model can run incrementally; when not, warns once per model and
    reason (the caller then runs full forwards)."""
    reason = full_forward_reason(lm)
    if reason is None:
        return True
    key = (id(lm.model), reason)
    if key not in _WARNED:
        _WARNED.add(key)
        warnings.warn(f"{lm.name_or_path or lm.architecture}: running full forwards, not incremental ones: {reason}", stacklevel=3)
    return False


@torch.inference_mode()
def incremental_hidden(lm: LM, base: BaseRun, specs: Sequence[Intervention]) -> tuple[torch.Tensor, InterventionRun]:
    """The last layer's output at each row's last prompt token [batch, d_model] under `specs`
    (see `incremental_logits`; `unembed` turns it into logits). Only for a model that
    `can_rerun`."""
    specs = list(specs)
    missing = [s for s in base.specs if not any(s is t for t in specs)]
    if missing:
        raise ValueError(f"incremental_logits: the cell's specs must include the base run's; missing {[type(s).__name__ for s in missing]}")
    extra = [s for s in specs if not any(s is t for t in base.specs)]
    start = reach(lm, base.batch, extra) or Reach(lm.n_layers, base.batch.input_ids.shape[1] - 1)
    with interventions(lm, base.batch, specs, offset=start.position) as run:
        hidden = _rerun(lm, base, start)
    return hidden, run


@torch.inference_mode()
def incremental_logits(lm: LM, base: BaseRun, specs: Sequence[Intervention]) -> tuple[torch.Tensor, InterventionRun]:
    """Logits at each row's last prompt token [batch, vocab] under `specs`, equal to
    `intervened_logits(lm, base.batch, specs)`, from rerunning only what the specs beyond the
    base's change.

    Args:
        lm: the model `base` was run on.
        base: a `base_run` of the batch; its specs must all be in `specs` (the same objects).
        specs: every intervention of the cell, in the order they apply.
    """
    if not can_rerun(lm):
        return intervened_logits(lm, base.batch, specs)
    hidden, run = incremental_hidden(lm, base, specs)
    return unembed(lm, hidden), run
