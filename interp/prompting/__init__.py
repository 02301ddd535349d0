"""Prompting: trials, the template engine (segments → text with named character spans, chat or
raw), role specs over those spans, and tokenisation with offsets into a `Batch` whose roles are
resolved per row and fail loudly, never silently. Touches no model tensors."""

from interp.prompting.batch import Batch, first_token_ids, tokenize
from interp.prompting.roles import After, Exact, Nth, PromptLast, RoleSpec, Whole, resolve_row
from interp.prompting.template import Rendered, Segment, Template, clean_field, labelled_colon, unnamed
from interp.prompting.trial import Trial, as_trial

__all__ = [
    "After",
    "Batch",
    "Exact",
    "Nth",
    "PromptLast",
    "Rendered",
    "RoleSpec",
    "Segment",
    "Template",
    "Trial",
    "Whole",
    "as_trial",
    "clean_field",
    "first_token_ids",
    "labelled_colon",
    "resolve_row",
    "tokenize",
    "unnamed",
]
