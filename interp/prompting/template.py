"""Prompt templates: a trial → text plus named character spans.

A template is a list of segments, some named (the question, the answer, the post-answer
newline, each colon that is a readout or control site). Rendering records where each named
segment lands in the final text, with or without the model's chat template, so that the role
resolver can find the tokens. Templates never touch tensors. The templates of the three
papers' paradigms live in `interp.tasks`.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from interp.errors import TemplateError
from interp.prompting.batch import Batch, tokenize
from interp.prompting.roles import RoleSpec
from interp.prompting.trial import Trial, as_trial
from interp.readouts.base import Readout

__all__ = ["Rendered", "Segment", "Template", "TemplateError", "clean_field", "labelled_colon", "unnamed"]


@dataclass(frozen=True)
class Rendered:
    """A rendered prompt.

    Attributes:
        text: the full prompt text (chat markup included when chat=True).
        spans: span name → (start, end) character offsets in `text`.
        roles: role name → spec over `spans` (from the template).
        last_role: the role that must be the last prompt token.
        chat: whether the model's chat template was applied.
        add_special_tokens: how to tokenise `text` (False for chat text, which holds BOS already).
        trial_id: the trial it came from.
        template: the template's name.
        notes: what rendering changed, e.g. {"answer_stripped": "."}.
    """

    text: str
    spans: Mapping[str, tuple[int, int]]
    roles: Mapping[str, RoleSpec]
    last_role: str | None
    chat: bool
    add_special_tokens: bool
    trial_id: str
    template: str
    notes: Mapping[str, Any] = field(default_factory=dict)

    def span_text(self, name: str) -> str:
        start, end = self.spans[name]
        return self.text[start:end]


Segment = tuple[str | None, str]


class _Builder:
    """Concatenates segments and records where named ones land."""

    def __init__(self, start: int = 0):
        self.parts: list[str] = []
        self.spans: dict[str, tuple[int, int]] = {}
        self.pos = start

    def add(self, segments: Sequence[Segment]) -> None:
        for name, text in segments:
            if name is not None:
                if name in self.spans:
                    raise ValueError(f"span {name!r} appears twice in a template")
                self.spans[name] = (self.pos, self.pos + len(text))
            self.parts.append(text)
            self.pos += len(text)

    @property
    def text(self) -> str:
        return "".join(self.parts)


class Template:
    """Base class: subclasses define the user segments, the assistant prefill and the roles.

    Args:
        strip_answer_punctuation: drop trailing punctuation from an inserted answer so that
            tokenizers which merge ".\n" (Qwen) keep PANL a token of its own; what was dropped is
            recorded in `Rendered.notes["answer_stripped"]`. Off by default: such rows get a
            status instead.
        examples: worked examples (trials whose reply `completion` gives) shown before the trial,
            in the same format, for base models; their text carries no named span, so every role
            resolves in the final trial only, and their ids are recorded in
            `Rendered.notes["few_shot"]`.
    """

    name: str = "template"
    roles: Mapping[str, RoleSpec] = {}
    last_role: str | None = None
    readout_separator: str = " "
    """What separates the readout prefix ("Confidence:") from the label in the variant the model
    emits; `readout(tokenizer, separator=...)` reads another variant (a pilot picks it)."""
    readout_suffix: str = ""
    """Text appended to the prompt after the readout colon, for a model that emits it first (a
    lone space token): the readout is then read one token later, at the last prompt token, and
    the colon's role no longer has to be the last token."""
    examples_lead: bool = True
    """Whether the worked examples come before the user segments (a template that places them
    itself, e.g. after a shared instruction, sets False)."""

    def __init__(self, strip_answer_punctuation: bool = False, examples: Sequence[Trial | Mapping[str, Any]] = ()):
        self.strip_answer_punctuation = strip_answer_punctuation
        self.examples = tuple(as_trial(example) for example in examples)

    def answer_text(self, trial: Trial) -> tuple[str, str]:
        """(answer as inserted, trailing characters stripped from it)."""
        answer = clean_field(trial, "answer", trial.answer)
        if not self.strip_answer_punctuation:
            return answer, ""
        kept = answer.rstrip(string.punctuation + " ")
        if not kept:
            raise TemplateError(f"trial {trial.id}: answer {answer!r} is only punctuation")
        return kept, answer[len(kept) :]

    def user_segments(self, trial: Trial) -> list[Segment]:
        raise NotImplementedError

    def prefill_segments(self, trial: Trial) -> list[Segment]:
        """Segments that pre-fill the assistant turn (its last token is the readout site)."""
        return []

    def prefill_with_suffix(self, trial: Trial) -> list[Segment]:
        """The prefill and then `readout_suffix`, if any."""
        return [*self.prefill_segments(trial), *([(None, self.readout_suffix)] if self.readout_suffix else [])]

    def readout_labels_after(self) -> str:
        """The text after which the readout's labels are tokenised: the prefix and any suffix."""
        return getattr(self, "readout_prefix", "") + self.readout_suffix

    def completion(self, trial: Trial) -> str:
        """What follows the prefill in a worked example (e.g. " Almost certain" after "Confidence:")."""
        raise NotImplementedError(f"template {self.name!r} has no worked-example format; give it no examples")

    def example_segments(self) -> list[Segment]:
        """The worked examples, each in the full format with its completion and a blank line, as
        unnamed segments."""
        segments: list[Segment] = []
        for example in self.examples:
            segments += unnamed([*self.user_segments(example), (None, "\n"), *self.prefill_segments(example)])
            segments.append((None, self.completion(example) + "\n\n"))
        return segments

    def readout(self, tokenizer, separator: str | None = None) -> Readout:
        """The readout of this prompt's last token under `tokenizer`, its labels' first tokens in
        the variant `separator` (default `readout_separator`) — templates that are read in one
        forward pass define it; generation-only templates do not."""
        raise NotImplementedError(f"template {self.name!r} is not read at its last token; generate from it instead")

    def notes(self, trial: Trial) -> dict[str, Any]:
        """What rendering changed: the stripped answer punctuation, if any, and the worked examples."""
        notes: dict[str, Any] = {"few_shot": [example.id for example in self.examples]} if self.examples else {}
        if trial.answer is not None and self.strip_answer_punctuation and "answer" in self.roles:
            stripped = self.answer_text(trial)[1]
            if stripped:
                notes["answer_stripped"] = stripped
        return notes

    def render(self, trial: Trial | Mapping[str, Any], tokenizer=None, chat: bool = True) -> Rendered:
        """Render one trial.

        Args:
            trial: a `Trial` or a mapping with at least id and question.
            tokenizer: needed when chat=True (its chat template is applied).
            chat: True → the segments form the user turn and the prefill opens the assistant
                turn, so the prefill's last token is the last prompt token; False → plain text,
                the prefill on its own line after the user segments.

        Raises:
            TemplateError: naming the trial and the problem.
        """
        trial = as_trial(trial)
        user = _Builder()
        if self.examples_lead:
            user.add(self.example_segments())
        user.add(self.user_segments(trial))
        if not chat:
            prefill = self.prefill_with_suffix(trial)
            if prefill:
                user.add([(None, "\n"), *prefill])
            return self._rendered(trial, user.text, user.spans, chat=False, add_special_tokens=True)
        if tokenizer is None or not getattr(tokenizer, "chat_template", None):
            raise TemplateError(
                f"trial {trial.id}: chat=True needs a tokenizer with a chat template "
                f"(got {getattr(tokenizer, 'name_or_path', tokenizer)!r}); pass chat=False for raw text"
            )
        head = tokenizer.apply_chat_template(
            [{"role": "user", "content": user.text}], tokenize=False, add_generation_prompt=True
        )
        offset = head.find(user.text)
        if offset < 0 or head.find(user.text, offset + 1) >= 0:
            raise TemplateError(
                f"trial {trial.id}: the chat template of {tokenizer.name_or_path!r} does not contain the "
                "user text verbatim exactly once; spans cannot be placed"
            )
        spans = {k: (a + offset, b + offset) for k, (a, b) in user.spans.items()}
        tail = _Builder(start=len(head))
        tail.add(self.prefill_with_suffix(trial))
        spans.update(tail.spans)
        return self._rendered(trial, head + tail.text, spans, chat=True, add_special_tokens=False)

    def _rendered(self, trial: Trial, text: str, spans: dict, chat: bool, add_special_tokens: bool) -> Rendered:
        return Rendered(
            text=text,
            spans=spans,
            roles=self.roles,
            last_role=None if self.readout_suffix else self.last_role,
            chat=chat,
            add_special_tokens=add_special_tokens,
            trial_id=trial.id,
            template=self.name,
            notes=self.notes(trial),
        )

    def batch(self, trials: Sequence[Trial | Mapping[str, Any]], tokenizer, chat: bool = True, padding_side: str = "left") -> Batch:
        """Render and tokenise trials into a `Batch` with every role resolved."""
        return tokenize(tokenizer, [self.render(t, tokenizer, chat=chat) for t in trials], padding_side=padding_side)

    def render_each(self, trials: Sequence[Trial | Mapping[str, Any]], tokenizer, chat: bool = True) -> tuple[list[Rendered], dict[str, str]]:
        """Render every trial that can be rendered; the others get a status "render: <why>".

        Returns:
            (rendered prompts in input order, trial id → status for the ones that failed).
        """
        rendered, failed = [], {}
        for trial in trials:
            trial = as_trial(trial)
            try:
                rendered.append(self.render(trial, tokenizer, chat=chat))
            except TemplateError as error:
                failed[trial.id] = f"render: {error}"
        return rendered, failed

    def batches(
        self, trials: Sequence[Trial | Mapping[str, Any]], tokenizer, batch_size: int, chat: bool = True, padding_side: str = "left"
    ) -> tuple[list[Batch], dict[str, str]]:
        """Left-padded batches of at most `batch_size` renderable trials, in input order, and the
        render statuses of the trials left out (see `render_each`)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
        rendered, failed = self.render_each(trials, tokenizer, chat=chat)
        chunks = [rendered[k : k + batch_size] for k in range(0, len(rendered), batch_size)]
        return [tokenize(tokenizer, chunk, padding_side=padding_side) for chunk in chunks], failed


def clean_field(trial: Trial, field_name: str, value: str | None, multiline: bool = False) -> str:
    """A stripped, non-empty field; line breaks are refused unless `multiline` (a newline inside
    an answer would be mistaken for PANL)."""
    if value is None or not str(value).strip():
        raise TemplateError(f"trial {trial.id}: {field_name} is empty")
    text = str(value).strip()
    if not multiline and ("\n" in text or "\r" in text):
        raise TemplateError(f"trial {trial.id}: {field_name} contains a line break: {text!r}")
    return text


def unnamed(segments: Sequence[Segment]) -> list[Segment]:
    """The same text with every span name dropped (for worked examples)."""
    return [(None, text) for _, text in segments]


def labelled_colon(label: str, role: str) -> list[Segment]:
    """A label followed by a colon that is a named span (e.g. "Confidence" + CC): the pre-filled
    assistant turn whose colon is the readout site."""
    return [(None, label), (role, ":")]
