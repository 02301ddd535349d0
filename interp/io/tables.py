"""Tables for humans: GitHub-flavoured markdown from a DataFrame."""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["markdown_table"]


def markdown_table(table: pd.DataFrame, float_format: str = "{:.3f}") -> str:
    """A GitHub-flavoured markdown table of a DataFrame (no optional dependencies)."""

    def cell(value: Any) -> str:
        if value is None or (isinstance(value, float) and value != value):
            return ""
        text = float_format.format(value) if isinstance(value, float) else str(value)
        return text.replace("|", "\\|").replace("\n", "\\n")

    header = "| " + " | ".join(str(c) for c in table.columns) + " |"
    rule = "|" + "---|" * len(table.columns)
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body])
