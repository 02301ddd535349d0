"""The readout pilot against greedy `generate()` itself: its agreement column is the comparison of
the readout's argmax with the first generated token, per variant, and the variant after a space
token renders the space and moves the readout to the last token."""

from __future__ import annotations

import pytest
import torch

from interp.forward import generate, last_token_logits, pilot_readout
from interp.forward.pilot import VARIANTS, _variant
from interp.models import load_model, tiny
from interp.tasks import CategoricalConfidenceTemplate, MinimalConfidenceTemplate, demo_trials


@pytest.fixture(scope="module")
def lm():
    return load_model(tiny("qwen2"))


@pytest.mark.parametrize("template", [CategoricalConfidenceTemplate(), MinimalConfidenceTemplate()])
def test_agreement_is_the_readout_argmax_against_generate(lm, template):
    trials = demo_trials()[:6]
    choice, table = pilot_readout(lm, trials, template, batch_size=4)
    assert choice["variant"] in VARIANTS and choice["n"] == 6
    for variant, rows in table.groupby("variant"):
        chosen = _variant(template, *VARIANTS[variant])
        batch = chosen.batch(trials, lm.tokenizer)
        first = [g.token_ids[0] for g in generate(lm, batch, max_new_tokens=1, progress=False)]
        ids = torch.as_tensor(chosen.readout(lm.tokenizer).token_ids)
        argmax = ids[last_token_logits(lm, batch)[:, ids].argmax(-1)].tolist()
        assert rows.set_index("trial_id").loc[batch.trial_ids, "agree"].tolist() == [a == b for a, b in zip(argmax, first)]
    assert choice["agreement"] == max(table.groupby("variant")["agree"].mean())


def test_the_variant_after_a_space_token_reads_one_token_later(lm):
    template = _variant(MinimalConfidenceTemplate(), "", " ")
    rendered = template.render(demo_trials()[0], lm.tokenizer)
    assert rendered.text.endswith("Confidence: ") and rendered.last_role is None
    batch = template.batch(demo_trials()[:2], lm.tokenizer)
    assert batch.status() == ["ok", "ok"]
    assert (batch.roles["confidence_colon"] < batch.roles["prompt_last"]).all()
    ids = template.readout(lm.tokenizer).token_ids
    assert len(set(ids)) == 10
