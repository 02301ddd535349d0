"""Templates: spans land on the right characters, chat rendering equals the tokenizer's own
chat template plus the pre-filled assistant label, and bad trials fail naming the trial."""

from __future__ import annotations

import pytest

from interp.errors import DatasetError, TemplateError
from interp.models.tiny import train_local_tokenizer
from interp.prompting import Trial, as_trial
from interp.tasks import CONFIDENCE_CLASSES, CategoricalConfidenceTemplate

TEMPLATE = CategoricalConfidenceTemplate()
TRIAL = Trial(id="t1", question="  Which planet is known as the Red Planet? ", answer=" Mars ")


@pytest.fixture(scope="module")
def local_tokenizer():
    return train_local_tokenizer()


def test_ten_classes_with_midpoints():
    assert len(CONFIDENCE_CLASSES) == 10
    assert [c.midpoint for c in CONFIDENCE_CLASSES] == pytest.approx([0.05 + 0.1 * k for k in range(10)])
    assert CONFIDENCE_CLASSES[0].label == "No chance" and CONFIDENCE_CLASSES[-1].label == "Almost certain"
    assert len({c.label.split()[0] for c in CONFIDENCE_CLASSES}) == 10


def test_raw_spans(local_tokenizer):
    prompt = TEMPLATE.render(TRIAL, chat=False)
    assert prompt.span_text("question") == "Which planet is known as the Red Planet?"
    assert prompt.span_text("answer") == "Mars"
    assert prompt.span_text("panl") == "\n" and prompt.spans["panl"][0] == prompt.spans["answer"][1]
    assert prompt.span_text("answer_colon") == ":" and prompt.text[prompt.spans["answer_colon"][0] - 6 : prompt.spans["answer_colon"][0]] == "Answer"
    assert prompt.text.endswith("\nConfidence:") and prompt.spans["confidence_colon"] == (len(prompt.text) - 1, len(prompt.text))
    fcc = prompt.spans["format_confidence_colon"][0]
    assert prompt.text[fcc - len("Confidence") : fcc + 2] == "Confidence: " and fcc < prompt.spans["confidence_colon"][0]
    for k, cls in enumerate(CONFIDENCE_CLASSES, start=1):
        assert prompt.span_text(f"class_label_{k}") == cls.label
    # PANL sees question and answer only: nothing of the instruction comes before it.
    assert "likely" not in prompt.text[: prompt.spans["panl"][0]].lower()
    assert prompt.add_special_tokens and not prompt.chat


@pytest.mark.parametrize("which", ["local", "qwen", "gemma"])
def test_chat_text_is_the_tokenizers_template_plus_prefill(which, request, local_tokenizer):
    tokenizer = local_tokenizer if which == "local" else request.getfixturevalue(f"{which}_tokenizer")
    prompt = TEMPLATE.render(TRIAL, tokenizer, chat=True)
    raw = TEMPLATE.render(TRIAL, chat=False)
    user_text = raw.text.removesuffix("\nConfidence:")
    reference = tokenizer.apply_chat_template([{"role": "user", "content": user_text}], tokenize=False, add_generation_prompt=True)
    assert prompt.text == reference + "Confidence:"
    assert not prompt.add_special_tokens and prompt.chat
    for name in raw.spans:
        if name != "confidence_colon":
            assert prompt.span_text(name) == raw.span_text(name)
    assert prompt.spans["confidence_colon"][1] == len(prompt.text)


def test_bad_trials_name_the_trial(local_tokenizer):
    with pytest.raises(TemplateError, match="trial t2: answer is empty"):
        TEMPLATE.render(Trial(id="t2", question="Q?", answer="  "), chat=False)
    with pytest.raises(TemplateError, match="trial t3: answer contains a line break"):
        TEMPLATE.render(Trial(id="t3", question="Q?", answer="Paris\nFrance"), chat=False)
    with pytest.raises(TemplateError, match="trial t4: question is empty"):
        TEMPLATE.render(Trial(id="t4", question="", answer="x"), chat=False)
    with pytest.raises(TemplateError, match="trial t1: chat=True needs a tokenizer"):
        TEMPLATE.render(TRIAL, None, chat=True)
    with pytest.raises(TemplateError, match="only punctuation"):
        CategoricalConfidenceTemplate(strip_answer_punctuation=True).render(Trial(id="p", question="Q?", answer="..."), chat=False)


def test_mapping_rows_become_trials():
    trial = as_trial({"id": 7, "question": "Q?", "answer": "A", "subject": "geo"})
    assert trial.id == "7" and trial.metadata == {"subject": "geo"}
    with pytest.raises(DatasetError, match="lacks question"):
        as_trial({"id": 1})


def test_batches_chunk_renderable_trials_and_give_the_others_a_status(qwen_tokenizer):
    from interp.prompting import Trial
    from interp.tasks import CategoricalConfidenceTemplate

    trials = [Trial(id=f"t{k}", question=f"Question {k}?", answer="Paris") for k in range(7)]
    trials[2] = Trial(id="t2", question="Question 2?", answer="two\nlines")
    trials[5] = Trial(id="t5", question="Question 5?", answer="  ")
    batches, failed = CategoricalConfidenceTemplate().batches(trials, qwen_tokenizer, batch_size=2)
    assert [b.trial_ids for b in batches] == [["t0", "t1"], ["t3", "t4"], ["t6"]]
    assert set(failed) == {"t2", "t5"}
    assert "line break" in failed["t2"] and failed["t2"].startswith("render: ")
    assert "empty" in failed["t5"]
    assert all(b.padding_side == "left" for b in batches)
    with pytest.raises(ValueError, match="batch_size must be ≥ 1"):
        CategoricalConfidenceTemplate().batches(trials, qwen_tokenizer, batch_size=0)


def test_worked_examples_come_first_carry_no_roles_and_are_recorded(real_tokenizer):
    from interp.tasks import CategoricalConfidenceTemplate, ConfidencePhase0Template, MinimalConfidenceTemplate

    examples = [
        Trial(id="e1", question="Which planet is red?", answer="Mars", metadata={"confidence": 0.95}),
        Trial(id="e2", question="Who wrote Hamlet?", answer="Dickens", metadata={"confidence": 0.05}),
    ]
    final = Trial(id="q", question="What is the capital of Australia?", answer="Canberra")
    for template_class, replies in (
        (CategoricalConfidenceTemplate, ["Confidence: Almost certain", "Confidence: No chance"]),
        (MinimalConfidenceTemplate, ["Confidence:9", "Confidence:0"]),
        (ConfidencePhase0Template, ["Answer: Mars\nConfidence: Almost certain", "Answer: Dickens\nConfidence: No chance"]),
    ):
        plain = template_class().render(final, real_tokenizer, chat=False)
        shot = template_class(examples=examples).render(final, real_tokenizer, chat=False)
        for reply in replies:
            assert reply in shot.text and reply not in plain.text
        assert shot.notes["few_shot"] == ["e1", "e2"]
        # Every span is the final trial's: the same text, at the same distance from the end when
        # the examples lead (Phase 0 puts them after its instruction, before the question).
        for name, (a, b) in plain.spans.items():
            c, d = shot.spans[name]
            assert shot.text[c:d] == plain.text[a:b], name
            assert (len(shot.text) - c == len(plain.text) - a) if template_class.examples_lead or name in ("question", "answer_colon") else c == a, name
        batch = template_class(examples=examples).batch([final], real_tokenizer, chat=False)
        assert batch.status() == ["ok"]
        question = batch.spans["question"][0]
        assert real_tokenizer.decode(batch.input_ids[0, question[0] : question[1]]).strip() == final.question
    with pytest.raises(TemplateError, match="worked example e1: metadata\\['confidence'\\]"):
        CategoricalConfidenceTemplate(examples=[Trial(id="e1", question="q?", answer="a")]).render(final, real_tokenizer, chat=False)
