"""Span→span attention blocking through transformers' `AttentionInterface`.

While a block is installed, the model's text config names a wrapper implementation
("interp_sdpa" or "interp_eager", registered in both `AttentionInterface` and
`AttentionMaskInterface`). The mask builder is the stock one, so every layer gets the mask
transformers would have built (padding, causality, Gemma 3's sliding window). The wrapper
hands layers without a block straight to the stock kernel; in a blocked layer it removes the
blocked (target, source) pairs from that mask — `False` in SDPA's boolean mask, −∞ in eager's
additive one, i.e. pre-softmax −∞ — and calls the same kernel. Nothing is forced to eager, and
blocked attention weights are exactly zero.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from transformers import AttentionInterface
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface

from interp.errors import ConfigError, RoleError
from interp.models import LM
from interp.prompting import Batch

__all__ = ["LATER", "BlockHandle", "edge_mask", "install_blocking", "layer_window"]

LATER = "<later>"
"""Target name meaning every real position after the last source token of the row."""

_BASES = ("sdpa", "eager")
_PREFIX = "interp_"


def layer_window(center: int, n_layers: int, width: int = 12) -> list[int]:
    """`width` consecutive layers centred on `center`, clipped to the model: [c − w/2, c + w/2 − 1].

    For width 12 this is [c−6, c+5] (verbal_confidence.md §6.9).
    """
    if not 0 <= center < n_layers:
        raise ConfigError(f"window centre {center} is outside 0..{n_layers - 1}")
    if width < 1:
        raise ConfigError(f"window width must be ≥ 1, got {width}")
    start = center - width // 2
    return [layer for layer in range(start, start + width) if 0 <= layer < n_layers]


def _members(batch: Batch, names: Sequence[str], seq: torch.Tensor) -> tuple[torch.Tensor, list[str | None]]:
    """[batch, seq] bool membership of the union of `names` (roles or spans), and per-row failures."""
    member = torch.zeros(len(batch), seq.numel(), dtype=torch.bool)
    failed: list[str | None] = [None] * len(batch)
    for name in names:
        if name in batch.roles:
            index = batch.roles[name]
            member |= (seq[None, :] == index[:, None]) & (index >= 0)[:, None]
            missing = index < 0
        elif name in batch.spans:
            start, end = batch.spans[name].unbind(-1)
            member |= (seq[None, :] >= start[:, None]) & (seq[None, :] < end[:, None]) & (start >= 0)[:, None]
            missing = start < 0
        else:
            raise RoleError(
                f"{name!r} is not a role or span of this batch (roles: {sorted(batch.roles)}; spans: {sorted(batch.spans)})"
            )
        for row in missing.nonzero().flatten().tolist():
            failed[row] = failed[row] or f"{name}: {batch.reasons[name][row]}"
    return member, failed


def _as_names(value: str | Sequence[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _edge_members(
    batch: Batch, targets: str | Sequence[str], sources: str | Sequence[str], seq: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, list[str | None]]:
    source, failed = _members(batch, _as_names(sources), seq)
    target_names = _as_names(targets)
    if LATER in target_names:
        if len(target_names) > 1:
            raise ValueError(f"{LATER!r} cannot be combined with other targets: {target_names}")
        last = torch.where(source, seq[None, :], torch.full_like(source, -1, dtype=torch.long)).max(-1).values
        target = (seq[None, :] > last[:, None]) & (last >= 0)[:, None] & batch.attention_mask.bool()
    else:
        target, target_failed = _members(batch, target_names, seq)
        failed = [a or b for a, b in zip(failed, target_failed)]
    return target, source, failed


def edge_mask(
    batch: Batch,
    targets: str | Sequence[str],
    sources: str | Sequence[str],
    keep_open: Sequence[tuple[str | Sequence[str], str | Sequence[str]]] = (),
) -> tuple[torch.Tensor, list[str]]:
    """Which (target, source) token pairs to block, per row.

    Args:
        batch: the tokenised batch whose roles and spans name the tokens.
        targets: role/span name(s) whose tokens lose sight of the sources, or `LATER` for every
            real position after the row's last source token.
        sources: role/span name(s) that become invisible to the targets.
        keep_open: (targets, sources) pairs left open inside the blocked set (e.g. ALL→A with
            PANL→A kept: `keep_open=[("panl", "answer")]`).

    Returns:
        (blocked [batch, seq, seq] bool, status per row). A row where any named token did not
        resolve blocks nothing and its status names the role and reason.

    Raises:
        ValueError if a token would be blocked from itself (targets and sources overlap), which
        can leave a query with nothing to attend to.
    """
    seq = torch.arange(batch.input_ids.shape[1])
    target, source, failed = _edge_members(batch, targets, sources, seq)
    blocked = target[:, :, None] & source[:, None, :]
    for keep_targets, keep_sources in keep_open:
        keep_t, keep_s, keep_failed = _edge_members(batch, keep_targets, keep_sources, seq)
        blocked &= ~(keep_t[:, :, None] & keep_s[:, None, :])
        failed = [a or b for a, b in zip(failed, keep_failed)]
    rows_failed = torch.tensor([f is not None for f in failed], dtype=torch.bool)
    blocked[rows_failed] = False
    self_blocked = blocked.diagonal(dim1=1, dim2=2).any(-1)
    if self_blocked.any():
        row = int(self_blocked.nonzero()[0])
        raise ValueError(
            f"blocking {targets!r} → {sources!r} would stop a token attending to itself in row {row} "
            f"({batch.trial_ids[row]}): targets and sources overlap"
        )
    status = ["ok" if f is None else f"blocking: {f}" for f in failed]
    return blocked, status


@dataclass(eq=False)
class _Plan:
    """Blocked pairs per attention module (by id) for one installed block."""

    blocked: dict[int, torch.Tensor]
    cache: dict[tuple, tuple[torch.Tensor | None, torch.Tensor]] = field(default_factory=dict)


_PLANS: list[_Plan] = []
_ARMED: dict[int, list] = {}


def _base_function(module: torch.nn.Module, base: str) -> Callable:
    if base == "sdpa":
        return AttentionInterface._global_mapping["sdpa"]
    eager = getattr(sys.modules[type(module).__module__], "eager_attention_forward", None)
    if eager is None:
        raise RuntimeError(f"{type(module).__name__} has no module-level eager_attention_forward to wrap")
    return eager


def _allowed_without_mask(query: torch.Tensor, key: torch.Tensor, sliding_window: int | None) -> torch.Tensor:
    """[1, 1, q, kv] causal (and windowed) mask that SDPA ran as is_causal; the queries are the
    last q of the kv positions (a prefill, or an incremental forward after cached positions)."""
    q_pos = torch.arange(key.shape[2] - query.shape[2], key.shape[2], device=query.device)[:, None]
    kv_pos = torch.arange(key.shape[2], device=query.device)[None, :]
    allowed = kv_pos <= q_pos
    if sliding_window is not None:
        allowed &= q_pos - kv_pos < sliding_window
    return allowed[None, None]


def _blocked_mask(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, attention_mask, sliding_window):
    plans = [plan for plan in _PLANS if id(module) in plan.blocked]
    if not plans:
        return attention_mask
    combined = attention_mask
    for plan in plans:
        blocked = plan.blocked[id(module)]
        if blocked.device != query.device:  # a layer offloaded by a device map computes elsewhere
            blocked = plan.blocked[id(module)] = blocked.to(query.device)
        if blocked.shape[0] != query.shape[0] or blocked.shape[-2] != query.shape[2] or blocked.shape[-1] != key.shape[2]:
            raise RuntimeError(
                f"attention blocking was built for batch {blocked.shape[0]} × {blocked.shape[-2]} tokens but layer "
                f"{getattr(module, 'layer_idx', '?')} got {query.shape[0]} × {query.shape[2]} queries over "
                f"{key.shape[2]} keys: blocking applies to the prefill of the batch it was built for (use_cache=False)"
            )
        key_ = (id(combined) if combined is not None else None, id(blocked), sliding_window)
        hit = plan.cache.get(key_)
        if hit is not None and hit[0] is combined:
            combined = hit[1]
            continue
        source = combined
        if combined is None:
            combined = _allowed_without_mask(query, key, sliding_window) & ~blocked
        elif combined.dtype == torch.bool:
            combined = combined & ~blocked
        else:
            combined = torch.where(blocked, torch.tensor(float("-inf"), dtype=combined.dtype, device=combined.device), combined)
        plan.cache[key_] = (source, combined)
    return combined


def _wrapper(base: str) -> Callable:
    def attention(module, query, key, value, attention_mask, *args, **kwargs):
        sliding_window = kwargs.get("sliding_window", getattr(module, "sliding_window", None))
        attention_mask = _blocked_mask(module, query, key, attention_mask, sliding_window)
        return _base_function(module, base)(module, query, key, value, attention_mask, *args, **kwargs)

    attention.__name__ = f"{_PREFIX}{base}_attention_forward"
    return attention


for _base in _BASES:
    AttentionInterface.register(_PREFIX + _base, _wrapper(_base))
    AttentionMaskInterface.register(_PREFIX + _base, ALL_MASK_ATTENTION_FUNCTIONS[_base])


def _configs(lm: LM) -> list:
    """Every config object the decoder's mask builder or attention modules read."""
    found = {id(lm.text_config): lm.text_config}
    for layer in lm.layers:
        config = getattr(layer.self_attn, "config", None)
        if config is not None:
            found[id(config)] = config
    return list(found.values())


def _arm(lm: LM) -> list:
    configs = _configs(lm)
    for config in configs:
        current = config._attn_implementation
        base = current.removeprefix(_PREFIX) if current else current
        if base not in _BASES:
            raise ConfigError(
                f"attention blocking runs on sdpa or eager attention; {lm.name_or_path!r} uses {current!r} "
                "(load it with attn_implementation='sdpa' or 'eager')"
            )
    for config in configs:
        entry = _ARMED.setdefault(id(config), [config, config._attn_implementation, 0])
        entry[2] += 1
        config._attn_implementation_internal = _PREFIX + entry[1].removeprefix(_PREFIX)
    return configs


def _disarm(configs: list) -> None:
    for config in configs:
        entry = _ARMED[id(config)]
        entry[2] -= 1
        if entry[2] == 0:
            config._attn_implementation_internal = entry[1]
            del _ARMED[id(config)]


class BlockHandle:
    """An installed block; `remove()` uninstalls it (idempotent)."""

    def __init__(self, plan: _Plan, configs: list) -> None:
        self._plan = plan
        self._configs = configs

    def remove(self) -> None:
        if self._plan in _PLANS:
            _PLANS.remove(self._plan)
            _disarm(self._configs)
        self._plan.cache.clear()


def install_blocking(lm: LM, layer_masks: Mapping[int, torch.Tensor]) -> BlockHandle:
    """Block attention pairs in given layers until the returned handle is removed.

    Args:
        lm: the model (sdpa or eager attention).
        layer_masks: layer → blocked pairs, [batch, seq, seq] (all heads) or
            [batch, heads, seq, seq] bool, True where the query (target) must not see the key
            (source). Layers with nothing blocked are left on the stock path.
    """
    blocked: dict[int, torch.Tensor] = {}
    for layer, mask in layer_masks.items():
        if not 0 <= layer < lm.n_layers:
            raise ConfigError(f"layer {layer} is outside 0..{lm.n_layers - 1} of {lm.name_or_path!r}")
        if mask.dtype != torch.bool or mask.ndim not in (3, 4):
            raise ValueError(f"layer {layer}: blocked pairs must be a 3-D or 4-D bool tensor, got {mask.dtype} {tuple(mask.shape)}")
        if not mask.any():
            continue
        module = lm.layers[layer].self_attn
        device = next(module.parameters()).device
        mask = mask[:, None] if mask.ndim == 3 else mask
        blocked[id(module)] = mask if device.type == "meta" else mask.to(device)
    configs = _arm(lm) if blocked else []
    plan = _Plan(blocked)
    _PLANS.append(plan)
    return BlockHandle(plan, configs)
