"""File helpers every part of the package shares: atomic writes, hashes, the cache folder.

Nothing a user made is overwritten unless asked, and a killed process never leaves a half-written
result: write to a temporary file in the same folder, fsync, then rename over the target.
"""
from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import Any


def cache_dir(sub: str = "") -> Path:
    """Where downloads and derived data go: ``$ISNET_CACHE`` or ``~/.cache/isnet``."""
    root = Path(os.environ.get("ISNET_CACHE", Path.home() / ".cache" / "isnet"))
    path = root / sub if sub else root
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def refuse_overwrite(path: str | os.PathLike, overwrite: bool = False, what: str = "file") -> None:
    """Raise FileExistsError naming the path and the flag that allows replacing it."""
    if Path(path).exists() and not overwrite:
        raise FileExistsError(f"{what} {path} already exists; pass --overwrite (overwrite=True) to replace it, "
                              "or choose another output path")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the mode open() would
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return atomic_write_bytes(path, buf.getvalue())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
