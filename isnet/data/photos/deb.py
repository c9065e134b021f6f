"""Reading .deb files without dpkg: the ar archive, its data tarball and the members we want."""
from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import IO, Callable, Iterator


def _ar_members(f: IO[bytes]) -> Iterator[tuple[str, int]]:
    """Walk an ``ar`` archive (a .deb is one): yield (name, size) with ``f`` at the member's data."""
    if f.read(8) != b"!<arch>\n":
        raise ValueError("not an ar archive (.deb)")
    while header := f.read(60):
        if len(header) < 60:
            return
        name = header[:16].decode("ascii").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        start = f.tell()
        yield name, size
        f.seek(start + size + (size % 2))


_TAR_MODES = {".tar": "r|", ".tar.gz": "r|gz", ".tar.xz": "r|xz", ".tar.bz2": "r|bz2"}


def _open_data_tar(deb: Path) -> tuple[tarfile.TarFile, Callable[[], None]]:
    """The package's file system tree as a streaming tar.

    ``dpkg-deb --fsys-tarfile`` when dpkg is there (the tool the packages are made for); otherwise
    the .deb is read directly (ar archive + data.tar.{xz,gz,bz2}), which is enough on machines
    without dpkg that were handed the .deb files (``--debs``).
    """
    if shutil.which("dpkg-deb"):
        proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)

        def close() -> None:
            assert proc.stdout is not None
            proc.stdout.close()
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            if proc.wait() != 0 and err:
                raise RuntimeError(f"dpkg-deb could not read {deb}: {err.strip()}")

        return tarfile.open(fileobj=proc.stdout, mode="r|"), close
    f = open(deb, "rb")
    for name, size in _ar_members(f):
        for ext, mode in _TAR_MODES.items():
            if name == "data" + ext:
                data = io.BytesIO(f.read(size))
                f.close()
                return tarfile.open(fileobj=data, mode=mode), lambda: None
    f.close()
    raise RuntimeError(f"{deb}: no data.tar.{{xz,gz,bz2}} member this Python can read; install dpkg (dpkg-deb)")


def read_deb_members(deb: Path, wanted: Callable[[str], bool]) -> dict[str, bytes]:
    """Bytes of the regular files in ``deb`` whose path (no leading ``./``) satisfies ``wanted``."""
    tar, close = _open_data_tar(deb)
    out: dict[str, bytes] = {}
    try:
        for member in tar:
            path = member.name[2:] if member.name.startswith("./") else member.name.lstrip("/")
            if member.isfile() and wanted(path):
                fobj = tar.extractfile(member)
                assert fobj is not None
                out[path] = fobj.read()
    finally:
        tar.close()
        close()
    return out


def deb_version(deb: Path) -> str:
    """Version from a .deb file name ``<pkg>_<version>_<arch>.deb`` (apt escapes ``:`` as ``%3a``)."""
    parts = deb.name[:-4].split("_")
    return parts[1].replace("%3a", ":") if len(parts) >= 3 else "unknown"
