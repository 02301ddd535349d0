"""Activation capture at (layer, role): forward hooks that keep only the requested rows.

Each hook gathers one row per batch element (the role's token) from the hidden state it sees,
moves it off the accelerator, and the forward stops right after the deepest site needed, so
no full hidden-state cache is ever built and no logits are computed unless asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from interp.errors import ConfigError
from interp.forward.hooks import hidden_of, removing
from interp.forward.logits import last_token_logits
from interp.models import LM
from interp.prompting import Batch

__all__ = ["SITES", "capture", "site_module"]

SITES = ("resid_pre", "resid_post", "attn_out", "mlp_out")


class _StopForward(Exception):
    """Raised by the deepest hook to end the forward pass early."""


def site_module(lm: LM, layer: int, site: str) -> tuple[torch.nn.Module, bool]:
    """(module, is_pre_hook) whose input (pre) or output carries `site` at `layer`.

    resid_pre: input of decoder layer ℓ; resid_post: its output (the residual at ℓ);
    attn_out / mlp_out: what the attention / MLP branch of layer ℓ adds to the residual.
    """
    if site == "resid_pre":
        return lm.layers[layer], True
    if site == "resid_post":
        return lm.layers[layer], False
    if site == "attn_out":
        return lm.branch_output(layer, "attn"), False
    if site == "mlp_out":
        return lm.branch_output(layer, "mlp"), False
    raise ConfigError(f"site {site!r} is not one of {', '.join(SITES)}")


def _validate(lm: LM, batch: Batch, layers: Iterable[int], roles: Sequence[str], site: str) -> list[int]:
    if site not in SITES:
        raise ConfigError(f"site {site!r} is not one of {', '.join(SITES)}")
    wanted = sorted(set(int(layer) for layer in layers))
    if not wanted:
        raise ConfigError("capture() needs at least one layer")
    bad = [layer for layer in wanted if not 0 <= layer < lm.n_layers]
    if bad:
        raise ConfigError(f"layers {bad} are outside 0..{lm.n_layers - 1} of {lm.name_or_path!r}")
    if not roles:
        raise ConfigError("capture() needs at least one role")
    for role in roles:
        batch.role_index(role, "capture")
    return wanted


@torch.inference_mode()
def capture(
    lm: LM,
    batch: Batch,
    layers: Iterable[int],
    roles: Sequence[str],
    site: str = "resid_post",
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    return_logits: bool = False,
) -> dict[tuple[int, str], torch.Tensor] | tuple[dict[tuple[int, str], torch.Tensor], torch.Tensor]:
    """Activations at every (layer, role) of a batch.

    Args:
        lm: the model.
        batch: tokenised prompts with roles (see `interp.prompting.tokenize`).
        layers: decoder layers (0-based).
        roles: single-token role names.
        site: "resid_post" (default), "resid_pre", "attn_out" or "mlp_out".
        dtype, device: where the captured rows go (default fp32 on CPU).
        return_logits: also run to the end and return the logits at each row's last prompt
            token [batch, vocab] (needs a left-padded batch); otherwise the forward stops after
            the deepest requested site.

    Returns:
        {(layer, role): [batch, d_model]}; rows whose role did not resolve are NaN.
        With return_logits, a pair (that dict, logits).
    """
    wanted = _validate(lm, batch, layers, roles, site)
    deepest = wanted[-1]
    index = {role: batch.roles[role] for role in roles}
    rows = torch.arange(len(batch))
    found: dict[tuple[int, str], torch.Tensor] = {}

    def gather(layer: int, hidden: torch.Tensor) -> None:
        local_rows = rows.to(hidden.device)
        for role, idx in index.items():
            picked = hidden[local_rows, idx.clamp(min=0).to(hidden.device)].to(device=device, dtype=dtype)
            picked[(idx < 0).to(picked.device)] = float("nan")
            found[(layer, role)] = picked
        if layer == deepest and not return_logits:
            raise _StopForward

    def make_hook(layer: int, pre: bool):
        if pre:
            return lambda _module, args, kwargs: gather(layer, args[0] if args else kwargs["hidden_states"])
        return lambda _module, _args, output: gather(layer, hidden_of(output))

    handles = []
    with removing(handles):
        for layer in wanted:
            module, pre = site_module(lm, layer, site)
            if pre:
                handles.append(module.register_forward_pre_hook(make_hook(layer, True), with_kwargs=True))
            else:
                handles.append(module.register_forward_hook(make_hook(layer, False)))
        try:
            if return_logits:
                logits = last_token_logits(lm, batch)
            else:
                lm.model(**batch.model_inputs(lm.device), use_cache=False)
        except _StopForward:
            pass
    missing = [(layer, role) for layer in wanted for role in roles if (layer, role) not in found]
    if missing:
        raise RuntimeError(f"hooks did not fire for {missing[:4]}: is the model's forward skipping layers?")
    return (found, logits) if return_logits else found
