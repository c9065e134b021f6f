"""Markdown tables: the one writer of the package (GitHub-flavoured, no extra dependency; base layer, so every
layer's CLI may print with it)."""
from __future__ import annotations

from typing import Any, Iterable, Sequence


def markdown_table(header: Sequence[Any], rows: Iterable[Sequence[Any]], cell=str) -> str:
    """``| a | b |`` lines: the header (``|`` escaped), a ``|---|`` rule, then each row's cells through ``cell``.

    Every cell is written `` value `` between the bars, so an empty cell is ``|  |`` (what the study's tables have
    always held: the smoke study's Markdown tables are byte-identical across the package's restructuring).
    """
    names = [str(c).replace("|", "\\|") for c in header]
    lines = [_line(names), "|" + "|".join("---" for _ in names) + "|"]
    lines += [_line([cell(v) for v in row]) for row in rows]
    return "\n".join(lines) + "\n"


def _line(cells: Sequence[str]) -> str:
    return "|" + "|".join(f" {c} " for c in cells) + "|"
