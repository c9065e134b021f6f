"""Licences of packaged files, from Debian machine-readable copyright files and desktop metadata."""
from __future__ import annotations

import fnmatch
from pathlib import PurePosixPath


def parse_dep5(text: str) -> list[tuple[list[str], str]]:
    """``(file patterns, licence)`` per ``Files:`` stanza of a DEP-5 ``debian/copyright`` file."""
    stanzas, files, licence, in_files = [], None, None, False
    for line in text.splitlines() + [""]:
        if not line.strip():
            if files is not None and licence:
                stanzas.append((files, licence))
            files, licence, in_files = None, None, False
            continue
        if line.startswith("Files:"):
            files, in_files = line[6:].split(), True
        elif line.startswith("License:"):
            licence, in_files = line[8:].strip(), False
        elif line[:1].isspace() and in_files and files is not None:
            files += line.split()
        else:
            in_files = False
    return stanzas


def licence_for(path: str, stanzas: list[tuple[list[str], str]], fallback: str = "unknown") -> str:
    """Best-matching licence for a file path installed from a package.

    The copyright file names paths in the *source* tree (``16.04/x.jpg``, ``data/*``,
    ``src/.../x.jpg`` for what ships as ``x.webp``), so a pattern matches when it matches a suffix
    of the installed path; a literal pattern also matches by file name, and both ignore the
    extension. The most specific pattern (most literal characters) wins. What only ``Files: *``
    covers is marked "(package default)".
    """
    full = path.lstrip("/")
    stem = PurePosixPath(full).with_suffix("").as_posix()
    name = PurePosixPath(stem).name
    best, best_score = fallback, -1
    for patterns, lic in stanzas:
        for pat in patterns:
            literal = not any(ch in pat for ch in "*?[")
            if literal:
                pat_stem = PurePosixPath(pat).with_suffix("").as_posix()
                hit = stem == pat_stem or stem.endswith("/" + pat_stem) or name == PurePosixPath(pat_stem).name
            else:
                hit = fnmatch.fnmatchcase(full, pat) or fnmatch.fnmatchcase(full, "*/" + pat)
            score = len(pat.replace("*", "").replace("?", ""))
            if hit and score >= best_score:
                best, best_score = lic, score
    return f"{best} (package default)" if best_score == 0 else best


def _desktop_licence(text: str) -> str | None:
    """Licence and author from a KDE ``.desktop`` file beside a puzzle image (palapeli)."""
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    lic = fields.get("X-KDE-PluginInfo-License")
    author = fields.get("X-KDE-PluginInfo-Author")
    return f"{lic} ({author})" if lic and author else lic
