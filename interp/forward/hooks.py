"""Small helpers shared by every module that hooks a decoder: read/replace a layer's hidden
output, and remove a list of hook handles no matter how the forward ended."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["hidden_of", "removing", "replace_hidden"]


def hidden_of(output) -> torch.Tensor:
    """The hidden state [batch, seq, d_model] in a module's output (a tensor or a tuple)."""
    return output[0] if isinstance(output, tuple) else output


def replace_hidden(output, hidden: torch.Tensor):
    """`output` with its hidden state replaced, in the same structure."""
    return (hidden, *output[1:]) if isinstance(output, tuple) else hidden


@contextmanager
def removing(handles: list) -> Iterator[list]:
    """Yield `handles` (to be filled) and call `.remove()` on each on exit, newest first."""
    try:
        yield handles
    finally:
        for handle in reversed(handles):
            handle.remove()
