"""Markdown tables: the one writer of the package (GitHub-flavoured, no extra dependency)."""
from __future__ import annotations

from typing import Any, Iterable, Sequence


def markdown_table(header: Sequence[Any], rows: Iterable[Sequence[Any]], cell=str) -> str:
    """``| a | b |`` lines: the header (``|`` escaped), a ``|---|`` rule, then each row's cells through ``cell``.

    An empty cell is written ``| |``, as in the tables written by hand in docs/.
    """
    names = [str(c).replace("|", "\\|") for c in header]
    lines = [_line(names), "|" + "|".join("---" for _ in names) + "|"]
    lines += [_line([cell(v) for v in row]) for row in rows]
    return "\n".join(lines) + "\n"


def _line(cells: Sequence[str]) -> str:
    return "|" + "|".join(f" {c} " if c else " " for c in cells) + "|"
