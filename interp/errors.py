"""The exceptions interp raises for problems a user can fix (a bad config, a role that does not
resolve, a malformed dataset row, a store that holds another capture, a model that cannot load).

Every one is an `InterpError`, so a script can catch them all; each also subclasses the builtin
it replaces (ValueError, KeyError, OSError), so code written against those keeps working. The CLI
prints an `InterpError` as one line and exits with status 2; anything else keeps its traceback.
"""

from __future__ import annotations

__all__ = ["ConfigError", "DatasetError", "InterpError", "ModelError", "RoleError", "StoreError", "TemplateError"]


class InterpError(Exception):
    """Base of every user-facing interp error; `str()` is the message alone."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ConfigError(InterpError, ValueError):
    """A config, a command-line argument or a stage selection is invalid; names the key."""


class RoleError(InterpError, KeyError):
    """A role or span is unknown to a batch or template, or is of the wrong kind for its use."""


class TemplateError(InterpError, ValueError):
    """A trial cannot be rendered by a template (the message names the trial and field)."""


class StoreError(InterpError, ValueError):
    """An activation store or run folder is missing, holds another capture, or was written by other code."""


class DatasetError(InterpError, ValueError):
    """A dataset file or row is malformed or missing; the message names the file and line."""


class ModelError(InterpError, OSError):
    """A model cannot be loaded: unknown name, unsupported architecture, missing files or package."""
