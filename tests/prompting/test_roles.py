"""Named token roles on the real Qwen 2.5 and Gemma 3 tokenizers and ≥ 200 real TriviaQA rows.

The references are independent of the offset mapping that `interp.roles` uses: the token count
of the rendered text cut at a character position (tokenising a prefix), `decode` of single ids,
and `apply_chat_template(tokenize=True)`.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np
import pytest
import torch

from interp.errors import RoleError
from interp.prompting import After, Exact, Nth, PromptLast, Trial, Whole, first_token_ids, resolve_row, tokenize
from interp.tasks import CONFIDENCE_CLASSES, CategoricalConfidenceTemplate

TEMPLATE = CategoricalConfidenceTemplate()
SINGLE_ROLES = [n for n, s in TEMPLATE.roles.items() if not isinstance(s, Whole)]


@pytest.fixture(scope="module", params=[True, False], ids=["chat", "raw"])
def batches(request, real_tokenizer, triviaqa_trials):
    """(tokenizer, rendered prompts, left-padded batch, right-padded batch)."""
    chat = request.param
    rendered = [TEMPLATE.render(t, real_tokenizer, chat=chat) for t in triviaqa_trials]
    left = tokenize(real_tokenizer, rendered, padding_side="left")
    right = tokenize(real_tokenizer, rendered, padding_side="right")
    return real_tokenizer, rendered, left, right


def _prefix_length(tokenizer, prompt, char: int) -> int:
    """Tokens in the prompt cut at character `char` (the independent reference for an index)."""
    return len(tokenizer(prompt.text[:char], add_special_tokens=prompt.add_special_tokens)["input_ids"])


def _content(batch, row: int, role: str) -> int:
    return int(batch.roles[role][row] - batch.content_start[row])


def test_enough_rows(batches):
    _, rendered, left, _ = batches
    assert len(rendered) >= 200
    assert int(left.ok(["panl", "confidence_colon"]).sum()) >= 200


def test_panl_is_the_newline_after_the_answer(batches):
    tokenizer, rendered, left, _ = batches
    checked = 0
    for row, prompt in enumerate(rendered):
        if left.reasons["panl"][row] is not None:
            continue
        index = _content(left, row, "panl")
        assert tokenizer.decode([int(left.input_ids[row, left.roles["panl"][row]])]) == "\n"
        answer_end = prompt.spans["answer"][1]
        assert prompt.text[answer_end] == "\n"
        # Cut right after the answer and right after the newline: the newline is the one token between.
        assert _prefix_length(tokenizer, prompt, answer_end) == index
        assert _prefix_length(tokenizer, prompt, answer_end + 1) == index + 1
        checked += 1
    assert checked >= 200


def test_confidence_colon_is_last_prompt_token(batches):
    tokenizer, rendered, left, right = batches
    n_tokens = left.attention_mask.sum(1)
    for row in range(len(rendered)):
        assert left.reasons["confidence_colon"][row] is None
        assert int(left.roles["confidence_colon"][row]) == left.input_ids.shape[1] - 1
        assert _content(right, row, "confidence_colon") == int(n_tokens[row]) - 1
        assert tokenizer.decode([int(left.input_ids[row, -1])]) == ":"
        assert int(left.roles["prompt_last"][row]) == int(left.roles["confidence_colon"][row])


def test_single_token_roles_decode_to_expected_text(batches):
    tokenizer, rendered, left, _ = batches

    def text(row, role):
        return tokenizer.decode([int(left.input_ids[row, left.roles[role][row]])])

    first_class_tokens = [tokenizer.decode([t]) for t in first_token_ids(tokenizer, [c.label for c in CONFIDENCE_CLASSES], prefix="-")]
    for row, prompt in enumerate(rendered):
        if left.status()[row] != "ok":
            continue
        answer = prompt.span_text("answer")
        question = prompt.span_text("question")
        assert text(row, "answer_colon") == ":"
        assert text(row, "format_confidence_colon") == ":"
        assert answer.startswith(text(row, "answer_first_token").strip())
        assert answer.endswith(text(row, "last_answer_token").strip())
        assert text(row, "panl_plus_1") == "How"
        assert _content(left, row, "panl_plus_1") == _content(left, row, "panl") + 1
        for k in range(1, 11):
            assert text(row, f"class_token_{k}") == first_class_tokens[k - 1]
        # The question span's tokens decode back to the question; QTT is its third token.
        start, end = (int(v) for v in left.spans["question"][row])
        assert tokenizer.decode(left.input_ids[row, start:end].tolist()).strip() == question
        assert int(left.roles["question_third_token"][row]) == start + 2
        # The space before the question belongs to its first token (" Brunswick"), so cut before it.
        assert prompt.text[prompt.spans["question"][0] - 1] == " "
        assert _prefix_length(tokenizer, prompt, prompt.spans["question"][0] - 1) == start - int(left.content_start[row])
        # The answer span ends right before PANL.
        a_start, a_end = (int(v) for v in left.spans["answer"][row])
        assert tokenizer.decode(left.input_ids[row, a_start:a_end].tolist()).strip() == answer
        assert a_end == int(left.roles["panl"][row])
        assert int(left.roles["last_answer_token"][row]) == a_end - 1
        assert int(left.roles["answer_first_token"][row]) == a_start


def test_left_and_right_padding_agree(batches):
    _, rendered, left, right = batches
    assert left.status() == right.status()
    for row in range(len(rendered)):
        n = int(left.attention_mask[row].sum())
        l0, r0 = int(left.content_start[row]), int(right.content_start[row])
        assert r0 == 0 and l0 == left.input_ids.shape[1] - n
        assert left.input_ids[row, l0:].tolist() == right.input_ids[row, :n].tolist()
        assert left.position_ids[row, l0:].tolist() == right.position_ids[row, :n].tolist() == list(range(n))
        for role in SINGLE_ROLES:
            assert int(left.roles[role][row]) - l0 == int(right.roles[role][row]) - r0 or int(left.roles[role][row]) == int(right.roles[role][row]) == -1
        for role in left.spans:
            assert (left.spans[role][row] - l0).tolist() == (right.spans[role][row] - r0).tolist() or left.reasons[role][row] is not None


def test_merged_newlines_get_a_status(batches, capsys):
    """Qwen merges a newline into preceding punctuation; those rows are flagged, the rest resolve."""
    tokenizer, rendered, left, _ = batches
    failed = [row for row in range(len(rendered)) if left.reasons["panl"][row] is not None]
    name = tokenizer.name_or_path.rstrip("/").split("/")[-1]
    chat = rendered[0].chat
    with capsys.disabled():
        reasons = Counter(left.reasons["panl"][row].split(" merges it with ")[-1] for row in failed)
        print(f"\n[{name}, chat={chat}] {len(failed)} of {len(rendered)} rows: PANL not its own token {dict(reasons)}")
    for row in failed:
        answer = rendered[row].span_text("answer")
        assert not answer[-1].isalnum(), answer
        assert "panl:" in left.status()[row] and "merges it with" in left.reasons["panl"][row]
        assert left.reasons["panl_plus_1"][row] == "panl did not resolve"
        assert left.roles["panl"][row] == -1
    ok_rows = [row for row in range(len(rendered)) if row not in failed]
    assert all(left.reasons["confidence_colon"][row] is None for row in failed)
    if "qwen" in name.lower():
        assert failed, "Qwen merges ')\\n' and '.\\n'; the sample has such answers"
    else:
        assert not failed, "Gemma keeps every newline as its own token"
    assert len(ok_rows) >= 200


def test_a_failing_row_does_not_disturb_the_others(qwen_tokenizer):
    good = [Trial(id="a", question="What is the capital of France?", answer="Paris"), Trial(id="b", question="Who wrote Hamlet?", answer="William Shakespeare")]
    bad = Trial(id="bad", question="Which city?", answer="Washington, D.C.")
    alone = TEMPLATE.batch(good, qwen_tokenizer, chat=True)
    mixed = TEMPLATE.batch([good[0], bad, good[1]], qwen_tokenizer, chat=True)
    assert mixed.status()[0] == mixed.status()[2] == "ok"
    assert mixed.status()[1].startswith("answer:") and "panl: token" in mixed.status()[1]
    assert mixed.ok(["confidence_colon", "question"]).tolist() == [True, True, True]
    assert mixed.ok(["panl"]).tolist() == [True, False, True]
    for role in SINGLE_ROLES:
        for a_row, m_row in ((0, 0), (1, 2)):
            assert int(alone.roles[role][a_row] - alone.content_start[a_row]) == int(mixed.roles[role][m_row] - mixed.content_start[m_row])


def test_stripping_punctuation_is_recorded(qwen_tokenizer):
    template = CategoricalConfidenceTemplate(strip_answer_punctuation=True)
    trial = Trial(id="dc", question="Which city?", answer="Washington, D.C.")
    batch = template.batch([trial], qwen_tokenizer, chat=True)
    assert batch.status() == ["ok"]
    assert batch.metadata[0] == {"answer_stripped": "."}
    assert template.render(trial, qwen_tokenizer).span_text("answer") == "Washington, D.C"


def test_gemma_chat_text_has_one_bos(gemma_tokenizer, triviaqa_trials):
    trial = triviaqa_trials[0]
    prompt = TEMPLATE.render(trial, gemma_tokenizer, chat=True)
    batch = tokenize(gemma_tokenizer, [prompt], padding_side="left")
    ids = batch.input_ids[0].tolist()
    bos = gemma_tokenizer.bos_token_id
    assert ids[0] == bos and ids[1] != bos and ids.count(bos) == 1
    user_text = prompt.text[prompt.spans["question"][0] - len(TEMPLATE.header + "\nQuestion: ") :].split("<end_of_turn>")[0]
    reference = gemma_tokenizer.apply_chat_template([{"role": "user", "content": user_text}], tokenize=True, add_generation_prompt=True)
    reference = reference["input_ids"] if hasattr(reference, "keys") else reference
    assert ids[: len(reference)] == list(reference)
    assert gemma_tokenizer.decode(ids[len(reference) :]) == "Confidence:"
    doubled = dataclasses.replace(prompt, add_special_tokens=True)
    with pytest.raises(ValueError, match="two BOS"):
        tokenize(gemma_tokenizer, [doubled])


def test_raw_gemma_text_gets_exactly_one_bos(gemma_tokenizer, triviaqa_trials):
    batch = TEMPLATE.batch(triviaqa_trials[:2], gemma_tokenizer, chat=False)
    for row in range(2):
        ids = batch.input_ids[row, batch.content_start[row] :].tolist()
        assert ids[0] == gemma_tokenizer.bos_token_id and ids.count(gemma_tokenizer.bos_token_id) == 1


def test_class_first_tokens_distinct(real_tokenizer):
    ids = TEMPLATE.class_token_ids(real_tokenizer)
    assert len(ids) == 10 and len(set(ids)) == 10
    for label, token in zip((c.label for c in CONFIDENCE_CLASSES), ids):
        decoded = real_tokenizer.decode([token])
        assert decoded.startswith(" ") and label.startswith(decoded.strip()), (label, decoded)
        # In context: "Confidence:" then " <label>" continues with exactly this token.
        full = real_tokenizer("Confidence: " + label, add_special_tokens=False)["input_ids"]
        assert full[len(real_tokenizer("Confidence:", add_special_tokens=False)["input_ids"])] == token


def test_shared_first_token_fails_loudly(real_tokenizer):
    with pytest.raises(ValueError, match="Almost"):
        first_token_ids(real_tokenizer, ["Almost sure", "Almost certain", "Likely"], prefix="Confidence:")


# --- resolve_row on hand-made offsets -------------------------------------------------------


TEXT = "Q: Rome?\nA: Paris.\nNext"
#       0123456789012345678901234
SPANS = {"answer": (12, 18), "panl": (18, 19), "colon": (10, 11)}


def _resolve(offsets, specs, last=None):
    return resolve_row(TEXT, np.array(offsets), SPANS, specs, last)


def test_resolve_exact_merge_and_shared_token():
    merged = [(0, 2), (2, 8), (8, 9), (9, 10), (10, 11), (11, 17), (17, 19), (19, 23)]
    found, why = _resolve(merged, {"panl": Exact("panl"), "answer": Whole("answer"), "last": Nth("answer", -1), "after": After("panl", 1)})
    assert found == {"panl": None, "answer": None, "last": None, "after": None}
    assert why["panl"] == "token 6 '.\\n' merges it with '.'"
    assert why["answer"] == why["last"] == "token 6 '.\\n' is shared with role span 'panl'"
    assert why["after"] == "panl did not resolve"


def test_resolve_clean_row_and_bounds():
    clean = [(0, 0), (0, 2), (2, 8), (8, 9), (9, 10), (10, 11), (11, 17), (17, 18), (18, 19), (19, 23)]
    specs = {
        "panl": Exact("panl"),
        "answer": Whole("answer"),
        "first": Nth("answer", 0),
        "third": Nth("answer", 2),
        "plus1": After("panl", 1),
        "plus9": After("panl", 9),
        "colon": Exact("colon"),
        "end": PromptLast(),
    }
    found, why = _resolve(clean, specs, last="colon")
    assert found["panl"] == 8 and found["answer"] == (6, 8) and found["first"] == 6 and found["plus1"] == 9
    assert found["end"] == 9
    assert why["third"] == "span 'answer' has 2 tokens, needs token 2"
    assert why["plus9"] == "panl+9 falls outside the prompt (10 tokens)"
    assert why["colon"] == "is token 5 but the prompt ends at token 9"


def test_resolve_unknown_span_is_a_programming_error():
    with pytest.raises(RoleError, match="role 'x' needs span 'missing', which the template does not define"):
        _resolve([(0, 2)], {"x": Exact("missing")})


def test_resolve_span_no_token_covers():
    found, why = _resolve([(0, 2), (19, 23)], {"answer": Whole("answer")})
    assert found == {"answer": None} and why["answer"] == "no token covers span 'answer'"


def test_rows_of_a_batch_equal_tokenising_those_rows_alone(qwen_tokenizer, triviaqa_trials):
    template = CategoricalConfidenceTemplate()
    batch = template.batch(triviaqa_trials[:5], qwen_tokenizer, chat=True, padding_side="left")
    picked = batch.rows([3, 1])
    assert picked.trial_ids == [batch.trial_ids[3], batch.trial_ids[1]]
    alone = template.batch([triviaqa_trials[3], triviaqa_trials[1]], qwen_tokenizer, chat=True, padding_side="left")
    trim = picked.input_ids.shape[1] - alone.input_ids.shape[1]
    assert torch.equal(picked.input_ids[:, trim:], alone.input_ids) and not picked.attention_mask[:, :trim].any()
    assert torch.equal(picked.position_ids[:, trim:], alone.position_ids)
    for role in alone.roles:
        shifted = torch.where(picked.roles[role] >= 0, picked.roles[role] - trim, picked.roles[role])
        assert torch.equal(shifted, alone.roles[role]), role
    assert picked.reasons == alone.reasons and picked.texts == alone.texts
    assert batch.rows(slice(2, None)).trial_ids == batch.trial_ids[2:]
