"""Candidate photos of one package or of the PyPI wheels: read, check (size, colour), hash and describe."""
from __future__ import annotations

import fnmatch
import io
import re
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from .carving import carve_webp, rcc_file_table
from .deb import deb_version, read_deb_members
from .licences import _desktop_licence, licence_for, parse_dep5
from .packages import PYPI_PHOTOS, PYPI_SPLIT, PackageSpec, pypi_photo_path

MIN_SHORT_SIDE = 256   # a photo must be at least this many pixels on its short side
MIN_CHROMA = 0.002     # mean chroma (max − min channel, in [0,1]) below this: a grey image, not a colour photo


@dataclass
class Candidate:
    """One photo found in a package, with its bytes (before it is stored)."""

    id: str
    package: str
    version: str
    path: str
    data: bytes
    ext: str
    licence: str
    member: str = ""
    offset: int | None = None
    width: int = 0
    height: int = 0
    split: str = "train"
    notes: list[str] = field(default_factory=list)

    @property
    def file(self) -> str:
        return f"{self.id}{self.ext}"


_FORMAT_EXT = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}


def _sanitize(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "photo"


def is_colour(rgb: np.ndarray, min_chroma: float = MIN_CHROMA) -> bool:
    """Mean distance of pixels from grey (max − min channel), in [0, 1] units, above ``min_chroma``."""
    arr = np.asarray(rgb, np.float32)
    if arr.max(initial=0) > 1.0:
        arr = arr / 255.0
    if arr.ndim != 3 or arr.shape[-1] < 3:
        return False
    chroma = arr[..., :3].max(-1) - arr[..., :3].min(-1)
    return float(chroma.mean()) >= min_chroma


def _inspect(data: bytes) -> tuple[str, int, int, Image.Image]:
    img = Image.open(io.BytesIO(data))
    return img.format or "", img.size[0], img.size[1], img


def _thumbnail_rgb(img: Image.Image, side: int = 256) -> np.ndarray:
    img.draft("RGB", (side, side))
    img = img.convert("RGBA").convert("RGB") if img.mode in ("P", "PA", "LA", "RGBA") else img.convert("RGB")
    img.thumbnail((side, side), Image.Resampling.BOX)
    return np.asarray(img)


def _accept(data: bytes, where: str, skipped: list[str]) -> tuple[str, int, int, np.ndarray] | None:
    """Format, size and a small RGB thumbnail when the bytes are a usable colour photo, else None (noted)."""
    try:
        fmt, w, h, img = _inspect(data)
        thumb = _thumbnail_rgb(img)
    except Exception as e:  # noqa: BLE001 — any decoder error means "not a usable photo"
        skipped.append(f"{where}: unreadable ({e})")
        return None
    if fmt not in _FORMAT_EXT:
        skipped.append(f"{where}: format {fmt} not kept")
        return None
    if min(w, h) < MIN_SHORT_SIDE:
        skipped.append(f"{where}: {w}×{h} is under {MIN_SHORT_SIDE} px on the short side")
        return None
    if not is_colour(thumb):
        skipped.append(f"{where}: nearly grey")
        return None
    return fmt, w, h, thumb


def collect_package(spec: PackageSpec, deb: Path, skipped: list[str] | None = None) -> list[Candidate]:
    """Apply ``spec``'s rules to one .deb: the candidate photos, in a stable order."""
    skipped = [] if skipped is None else skipped
    version = deb_version(deb)

    def wanted(path: str) -> bool:
        if path == spec.copyright or path in spec.rcc:
            return True
        if spec.desktop_licence and path.endswith(".desktop") and any(
                fnmatch.fnmatchcase(path[:-8] + ".jpg", p) for p in spec.include):
            return True
        return any(fnmatch.fnmatchcase(path, p) for p in spec.include) and not any(
            fnmatch.fnmatchcase(path, p) for p in spec.exclude)

    files = read_deb_members(deb, wanted)
    stanzas = parse_dep5(files.pop(spec.copyright, b"").decode("utf-8", errors="replace"))
    fallback = "see the package's copyright file"

    def licence(path: str) -> str:
        for pat, lic in spec.licences:
            if fnmatch.fnmatchcase(path, pat):
                return lic
        if spec.desktop_licence:
            desk = files.get(str(PurePosixPath(path).with_suffix(".desktop")))
            if desk and (lic := _desktop_licence(desk.decode("utf-8", errors="replace"))):
                return lic
        return licence_for(path, stanzas, fallback)

    found: list[Candidate] = []
    for rcc_path in spec.rcc:
        blob = files.get(rcc_path)
        if blob is None:
            skipped.append(f"{spec.package}: {rcc_path} not in the package")
            continue
        names = rcc_file_table(blob)
        rcc_name = PurePosixPath(rcc_path).stem
        for offset, data in carve_webp(blob):
            member = names.get(offset, f"@{offset}")
            where = f"{spec.package}:{rcc_path}{member}"
            ok = _accept(data, where, skipped)
            if ok is None:
                continue
            _, w, h, _ = ok
            named = not member.startswith("@")
            stem = PurePosixPath(member).stem if named else f"at{offset}"
            # resource paths start with the project folder (/gcompris/src/...); copyright files say src/...
            source_path = member.lstrip("/").split("/", 1)[-1] if named else rcc_path
            found.append(Candidate(
                id=f"{spec.prefix}-{rcc_name}-{_sanitize(stem)}", package=spec.package, version=version,
                path=rcc_path, member=member, offset=offset, data=data, ext=".webp", width=w, height=h,
                split=spec.split, licence=licence(source_path)))
    photos = sorted(p for p in files if not p.endswith(".desktop") and p not in spec.rcc)
    if spec.largest_per_folder:
        by_folder: dict[str, list[str]] = {}
        for p in photos:
            by_folder.setdefault(str(PurePosixPath(p).parent), []).append(p)
        photos = [max(ps, key=lambda p: (_inspect_size(files[p]), p)) for ps in by_folder.values()]
    seen: set[str] = {c.id for c in found}
    for path in sorted(photos):
        ok = _accept(files[path], f"{spec.package}:{path}", skipped)
        if ok is None:
            continue
        fmt, w, h, _ = ok
        parts = PurePosixPath(path).with_suffix("").parts
        pid = f"{spec.prefix}-{_sanitize(parts[spec.id_from])}"
        if pid in seen:  # same name in two folders: qualify with the folder
            pid = f"{spec.prefix}-{_sanitize(parts[-2])}-{_sanitize(parts[-1])}"
        seen.add(pid)
        found.append(Candidate(id=pid, package=spec.package, version=version, path=path, data=files[path],
                               ext=_FORMAT_EXT[fmt], width=w, height=h, split=spec.split, licence=licence(path)))
    return found


def _inspect_size(data: bytes) -> int:
    try:
        w, h = Image.open(io.BytesIO(data)).size
        return w * h
    except Exception:  # noqa: BLE001
        return -1


def collect_pypi(skipped: list[str] | None = None) -> list[Candidate]:
    """The photos that installed Python dependencies ship (scikit-image, scikit-learn, matplotlib)."""
    skipped = [] if skipped is None else skipped
    out = []
    for photo in PYPI_PHOTOS:
        try:
            path = pypi_photo_path(photo)
            data = path.read_bytes()
        except (FileNotFoundError, OSError) as e:
            skipped.append(f"{photo.id}: {e}")
            continue
        ok = _accept(data, photo.id, skipped)
        if ok is None:
            continue
        fmt, w, h, _ = ok
        out.append(Candidate(id=f"pypi-{photo.id}", package=f"pypi:{photo.distribution}",
                             version=metadata.version(photo.distribution), path=f"{photo.module}/{photo.relpath}",
                             data=data, ext=_FORMAT_EXT[fmt], width=w, height=h, split=PYPI_SPLIT,
                             licence=photo.licence))
    return out
