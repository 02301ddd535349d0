"""The pilot check of a one-pass readout (verbal_confidence.md §8): on a pilot set, the readout's
argmax over its candidate first tokens must be the token greedy decoding emits first, in the
spacing variant the model actually uses. Variants: the label after a space ("Confidence:
Likely"), straight after the colon ("Confidence:7"), or — for a model that emits a lone space
token first — one token later, after that space. The variant that agrees most is chosen."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import pandas as pd
import torch

from interp.errors import TemplateError
from interp.forward.logits import last_token_logits
from interp.models import LM
from interp.prompting import Template, Trial

__all__ = ["VARIANTS", "pilot_readout"]

VARIANTS = {"after a space": (" ", ""), "no space": ("", ""), "after a space token": ("", " ")}
"""Variant name → (readout_separator, readout_suffix)."""


def _variant(template: Template, separator: str, suffix: str) -> Template:
    chosen = copy.copy(template)
    chosen.readout_separator, chosen.readout_suffix = separator, suffix
    return chosen


def _compare(lm: LM, template: Template, trials: Sequence[Trial], batch_size: int, chat: bool) -> pd.DataFrame | None:
    """Per trial: the readout's argmax token and the greedy first token (the full-vocabulary
    argmax of the same logits, which is what `generate` emits first); None if the variant's
    labels share first tokens under this tokenizer."""
    try:
        ids = torch.as_tensor(template.readout(lm.tokenizer).token_ids)
    except TemplateError:
        return None
    batches, _ = template.batches(list(trials), lm.tokenizer, batch_size, chat=chat)
    rows = []
    for batch in batches:
        logits = last_token_logits(lm, batch)
        chosen = ids[logits[:, ids].argmax(-1)].tolist()
        greedy = logits.argmax(-1).tolist()
        for trial_id, a, b in zip(batch.trial_ids, chosen, greedy):
            rows.append({"trial_id": trial_id, "readout_token": lm.tokenizer.decode([a]), "generated_token": lm.tokenizer.decode([b]), "agree": a == b})
    return pd.DataFrame(rows)


def pilot_readout(lm: LM, trials: Sequence[Trial], template: Template, batch_size: int = 8, chat: bool = True) -> tuple[dict, pd.DataFrame]:
    """Find the spacing variant in which the readout agrees with greedy decoding.

    Args:
        lm: the model.
        trials: the pilot trials (with the model's answers).
        template: the readout template; its own variant is tried first and wins ties.
        batch_size, chat: how to batch and render the prompts.

    Returns:
        (choice: {"variant", "separator", "suffix", "agreement", "n"}, one row per trial and
        variant tried: variant, trial_id, readout_token, generated_token, agree). The variant after
        a space token is tried only when the model emits a whitespace token first.
    """
    own = next((name for name, value in VARIANTS.items() if value == (template.readout_separator, template.readout_suffix)), None)
    order = [name for name in ([own] if own else []) + list(VARIANTS) if name != "after a space token"]
    frames = {}
    for name in dict.fromkeys(order):
        table = _compare(lm, _variant(template, *VARIANTS[name]), trials, batch_size, chat)
        if table is not None:
            frames[name] = table
    if not frames:
        raise TemplateError(f"{template.name}: no spacing variant gives distinct first tokens under {lm.tokenizer.name_or_path!r}")
    first = next(iter(frames.values()))
    if first["generated_token"].str.strip().eq("").mean() >= 0.5:
        table = _compare(lm, _variant(template, *VARIANTS["after a space token"]), trials, batch_size, chat)
        if table is not None:
            frames["after a space token"] = table
    rates = {name: float(table["agree"].mean()) for name, table in frames.items()}
    best = max(rates, key=lambda name: rates[name])
    separator, suffix = VARIANTS[best]
    choice = {"variant": best, "separator": separator, "suffix": suffix, "agreement": rates[best], "n": int(len(frames[best]))}
    return choice, pd.concat([table.assign(variant=name) for name, table in frames.items()], ignore_index=True)
