"""Every template on 400 real rows per dataset with both real tokenizers: roles resolve, the
failures are only the known kinds and are counted, named tokens decode to what they name, and
class / digit / Y-N / option first tokens are unique."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter

import pytest
from conftest import SHARED, TRIVIAQA, need

from interp.errors import TemplateError
from interp.prompting import tokenize
from interp.tasks import TEMPLATES, CategoricalConfidenceTemplate, ConfidencePhase0Template, CorrectionTemplate, MCQTemplate, MinimalConfidenceTemplate, NumericConfidenceTemplate, ThresholdTemplate, VerificationTemplate, datasets

N_ROWS = 400
KNOWN_FAILURES = re.compile(r"shared with role span 'panl'|merges it with|span 'question' has \d+ tokens, needs token")


@pytest.fixture(scope="module")
def rows() -> dict[str, list]:
    data = SHARED / "data"
    triviaqa = datasets.load_triviaqa(need(TRIVIAQA), limit=N_ROWS)
    mmlu = datasets.load_mmlu(need(data / "mmlu")).sample(N_ROWS, random_state=0)
    with_verdict = lambda trials, v: [dataclasses.replace(t, metadata={**t.metadata, "verdict": v, "threshold": 70}) for t in trials]  # noqa: E731
    return {
        "triviaqa": with_verdict(datasets.to_trials(triviaqa, answer_from_gold=True), "N"),
        "mmlu": with_verdict(datasets.to_trials(mmlu, answer_from_gold=True), "Y"),
        "mnli": with_verdict(datasets.to_trials(datasets.load_mnli(need(data / "mnli" / "dev.jsonl")).head(N_ROWS), answer_from_gold=True), "Y"),
        "gsm8k": with_verdict(datasets.to_trials(datasets.load_gsm8k(need(data / "gsm8k" / "test.jsonl")).head(N_ROWS), answer_from_gold=True), "N"),
        "mcq": with_verdict(datasets.to_trials(datasets.build_mcq_from_triviaqa(triviaqa)), "Y"),
    }


DATASETS_OF = {
    "confidence_phase0": ("triviaqa", "mmlu", "gsm8k"),
    "confidence_categorical": ("triviaqa", "mmlu", "gsm8k"),
    "confidence_phase0_compact": ("triviaqa", "mmlu", "gsm8k"),
    "confidence_categorical_compact": ("triviaqa", "mmlu", "gsm8k"),
    "confidence_numeric": ("triviaqa", "mmlu", "gsm8k"),
    "confidence_minimal": ("triviaqa", "mmlu", "gsm8k"),
    "verification": ("triviaqa", "mnli", "mmlu"),
    "correction": ("triviaqa", "mnli"),
    "mcq": ("mcq", "mmlu"),
    "mcq_abstain": ("mcq", "mmlu"),
    "mcq_threshold": ("mcq", "mmlu"),
}


def _failures(batch) -> Counter:
    return Counter(re.sub(r"token \d+", "token i", s.split("; ")[0]) for s in batch.status() if s != "ok")


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_roles_resolve_on_real_rows(real_tokenizer, rows, name):
    template = TEMPLATES[name]
    report = {}
    for dataset in DATASETS_OF[name]:
        trials = rows[dataset]
        assert len(trials) >= N_ROWS
        batch = template.batch(trials, real_tokenizer, chat=True)
        failures = _failures(batch)
        report[dataset] = (int(batch.ok().sum()), dict(failures))
        assert all(KNOWN_FAILURES.search(reason) for reason in failures), failures
        assert int(batch.ok().sum()) >= 200
        if "answer" in template.roles:  # stripping trailing punctuation removes the merges
            stripped = type(template)(strip_answer_punctuation=True)
            assert int(stripped.batch(trials, real_tokenizer, chat=True).ok().sum()) >= N_ROWS - 2
        else:
            assert int(batch.ok().sum()) >= N_ROWS - 2
        ok = batch.ok().nonzero().flatten().tolist()
        for row in ok[:50]:
            ids = batch.input_ids[row]
            decode = lambda role: real_tokenizer.decode([int(ids[batch.roles[role][row]])])  # noqa: E731
            assert int(batch.roles[template.last_role][row]) == batch.input_ids.shape[1] - 1
            assert decode(template.last_role) == ":"
            if "panl" in template.roles:
                assert decode("panl") == "\n"
            if "panl_plus_9" in template.roles:
                assert int(batch.roles["panl_plus_9"][row]) - int(batch.roles["panl"][row]) == 9
            for k in range(1, 5):
                if f"option_{k}" in template.roles:
                    start, end = batch.spans[f"option_{k}"][row].tolist()
                    assert real_tokenizer.decode(ids[start:end]).strip() == trials[row].metadata["options"][k - 1].strip()
    print(f"\n{name} [{real_tokenizer.name_or_path.rsplit('/', 1)[-1]}]: ok / failures per dataset: {report}")


@pytest.mark.parametrize("compact, standard", [("confidence_phase0_compact", "confidence_phase0"), ("confidence_categorical_compact", "confidence_categorical")])
def test_the_compact_wording_keeps_every_role_of_the_standard_one(real_tokenizer, rows, compact, standard):
    assert TEMPLATES[compact].roles == TEMPLATES[standard].roles
    trials = rows["triviaqa"][:20]
    short, full = TEMPLATES[compact].batch(trials, real_tokenizer, chat=True), TEMPLATES[standard].batch(trials, real_tokenizer, chat=True)
    assert short.input_ids.shape[1] < full.input_ids.shape[1]
    for row in range(len(trials)):
        for role in ("question", "answer"):
            if role in short.spans and short.status()[row] == "ok":
                (a, b), (c, d) = short.spans[role][row].tolist(), full.spans[role][row].tolist()
                assert real_tokenizer.decode(short.input_ids[row, a:b]) == real_tokenizer.decode(full.input_ids[row, c:d])


def test_first_tokens_are_unique(real_tokenizer):
    classes = CategoricalConfidenceTemplate().class_token_ids(real_tokenizer)
    digits = NumericConfidenceTemplate().digit_token_ids(real_tokenizer)
    yes_no = VerificationTemplate().yes_no_token_ids(real_tokenizer)
    options = MCQTemplate(abstain=True).option_token_ids(real_tokenizer)
    for ids, n in ((classes, 10), (digits, 10), (yes_no, 2), (options, 5)):
        assert len(set(ids)) == n
    assert [real_tokenizer.decode([i]).strip() for i in digits] == [str(d) for d in range(10)]
    assert [real_tokenizer.decode([i]).strip() for i in yes_no] == ["Y", "N"]
    assert [real_tokenizer.decode([i]).strip() for i in options] == ["1", "2", "3", "4", "5"]
    assert MCQTemplate().option_token_ids(real_tokenizer) == options[:4]
    with pytest.raises(ValueError, match="share first tokens"):  # " 1" is a space token, then the digit
        MCQTemplate().option_token_ids(real_tokenizer, separator=" ")


def test_template_text_and_errors(qwen_tokenizer, rows):
    trial = rows["mcq"][0]
    text = ThresholdTemplate(threshold=85).render(trial, qwen_tokenizer, chat=False).text
    assert "at least 85" in text and "\n5. " in text and text.endswith("Answer:")
    assert "\n5. " not in MCQTemplate().render(trial, chat=False).text
    assert "Allowed labels: entailment, neutral, contradiction." in VerificationTemplate().render(rows["mnli"][0], chat=False).text
    assert "another source" in VerificationTemplate(other_source=True).render(rows["triviaqa"][0], chat=False).text
    phase0 = ConfidencePhase0Template().render(rows["triviaqa"][0], chat=False)
    assert phase0.text.index("Almost certain") < phase0.text.index(rows["triviaqa"][0].question)
    assert MinimalConfidenceTemplate().render(rows["triviaqa"][0], chat=False).text.endswith("(surely right).\nConfidence:")
    bare = dataclasses.replace(rows["triviaqa"][0], metadata={})
    with pytest.raises(TemplateError, match="verdict"):
        CorrectionTemplate().render(bare, chat=False)
    with pytest.raises(TemplateError, match="threshold"):
        ThresholdTemplate().render(dataclasses.replace(trial, metadata={"options": trial.metadata["options"]}), chat=False)
    with pytest.raises(TemplateError, match="4 options"):
        MCQTemplate().render(bare, chat=False)
    raw = tokenize(qwen_tokenizer, [VerificationTemplate().render(t, chat=False) for t in rows["mnli"][:50]])
    assert raw.ok().all()
