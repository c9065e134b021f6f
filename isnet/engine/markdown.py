"""Markdown tables: the one writer of the package (GitHub-flavoured, no extra dependency)."""
from __future__ import annotations

from typing import Any, Iterable, Sequence


def markdown_table(header: Sequence[Any], rows: Iterable[Sequence[Any]], cell=str) -> str:
    """``| a | b |`` lines: the header (``|`` escaped), a ``|---|`` rule, then each row's cells through ``cell``."""
    names = [str(c).replace("|", "\\|") for c in header]
    lines = ["| " + " | ".join(names) + " |", "|" + "|".join("---" for _ in names) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
