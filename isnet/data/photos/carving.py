"""Carving images out of packaged blobs: WebP images inside GCompris' Qt resource files (.rcc) and their names."""
from __future__ import annotations

import re
import struct

_RIFF_WEBP = re.compile(rb"RIFF(.{4})WEBP", re.S)


def carve_webp(blob: bytes) -> list[tuple[int, bytes]]:
    """Every complete WebP file inside ``blob``: ``(byte offset, bytes)``.

    A WebP file is a RIFF container: ``RIFF``, a little-endian uint32 ``size``, ``WEBP``, then
    ``size - 4`` more bytes, so the whole file is ``size + 8`` bytes. A candidate counts only when
    its chunks (fourcc, uint32 size, even-padded payload) tile it exactly and the first is VP8,
    VP8L or VP8X; truncated files and stray ``RIFF…WEBP`` bytes are passed over. The scan resumes
    after each carved file.
    """
    found, pos = [], 0
    while (m := _RIFF_WEBP.search(blob, pos)) is not None:
        size = struct.unpack("<I", m.group(1))[0]
        end = m.start() + size + 8
        if size >= 4 and end <= len(blob) and _chunks_tile(blob, m.start() + 12, end):
            found.append((m.start(), blob[m.start():end]))
            pos = end
        else:
            pos = m.start() + 4
    return found


def _chunks_tile(blob: bytes, start: int, end: int) -> bool:
    """True when RIFF chunks from ``start`` end exactly at ``end`` and the first is an image chunk."""
    if blob[start:start + 4] not in (b"VP8 ", b"VP8L", b"VP8X"):
        return False
    p = start
    while p + 8 <= end:
        size = struct.unpack("<I", blob[p + 4:p + 8])[0]
        p += 8 + size + (size & 1)
    return p == end or (p == end + 1)  # a final odd chunk may omit its pad byte


def rcc_file_table(blob: bytes) -> dict[int, str]:
    """Map the byte offset of each stored file in a Qt binary resource (``qres``) to its resource path.

    Only used to *name* carved images (and to skip folders by name); carving itself does not depend
    on it. Format (Qt ``rcc``): header ``qres``, version, then offsets of the tree, data and names
    sections; tree entries are 14 bytes (version 1) or 22 bytes (version ≥ 2, with a timestamp).
    Returns ``{}`` for anything it cannot parse.
    """
    try:
        if blob[:4] != b"qres":
            return {}
        version, tree, data, names = struct.unpack(">IIII", blob[4:20])
        entry = 14 if version == 1 else 22
        table: dict[int, str] = {}

        def name(offset: int) -> str:
            p = names + offset
            n = struct.unpack(">H", blob[p:p + 2])[0]
            return blob[p + 6:p + 6 + 2 * n].decode("utf-16-be")

        stack = [(0, "")]
        while stack:
            index, prefix = stack.pop()
            p = tree + index * entry
            name_off, flags = struct.unpack(">IH", blob[p:p + 6])
            path = f"{prefix}/{name(name_off)}" if index else prefix
            if flags & 0x2:  # directory
                count, first = struct.unpack(">II", blob[p + 6:p + 14])
                stack.extend((first + i, path) for i in range(count))
            else:
                data_off = struct.unpack(">I", blob[p + 10:p + 14])[0]
                table[data + data_off + 4] = path  # a 4-byte length precedes each stored file
        return table
    except (struct.error, UnicodeDecodeError, IndexError):
        return {}
