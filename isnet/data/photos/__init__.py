"""The offline photo pool: natural colour photographs carved out of Debian packages and PyPI wheels.

Why: the paper trains on Places2 and CelebA, which need hundreds of GB and a licence click-through.
A CPU-scale study still needs real photographs with a train/test split that a reviewer can rebuild
bit for bit. Debian ships about 240 such photos inside data packages (wallpapers, educational games,
OpenCV's sample data); ``isnet data fetch photos`` collects them with ``apt-get download`` and a
tar-stream read of the ``.deb`` (as ``dpkg-deb -x`` would unpack it, but keeping only the chosen
files), into ``isnet.io.cache_dir("photos")``. Nothing is installed system-wide and no image is
ever committed: the repository holds only ``isnet/resources/photos_manifest.csv``.

The manifest (one row per photo) records where each photo comes from (package, version, path in the
package; for WebP images carved out of GCompris' Qt resource files also the internal resource path
and byte offset), its licence, the SHA-256 of the stored file, its size, two perceptual hashes, a
near-duplicate group and the fixed train/test split. Files are stored exactly as the package ships
them (JPEG/PNG bytes as they are; carved WebP bytes as they are, ``<id>.webp``), so the checksum is of
the source bytes and does not depend on an encoder version.

Rebuilding the manifest (maintainers, ``--rebuild-manifest``) applies the selection rules in
:data:`PACKAGES`; an ordinary fetch only restores the files the committed manifest lists and checks
their checksums.
"""
from __future__ import annotations

import fnmatch
import hashlib
import io
import json
import os
import re
import shutil
import struct
import subprocess
import tarfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import IO, Callable, Iterable, Iterator

import numpy as np
import pandas as pd
from PIL import Image

from ...io import atomic_write_bytes, atomic_write_text, cache_dir, refuse_overwrite, sha256_file

MIN_SHORT_SIDE = 256   # a photo must be at least this many pixels on its short side
MIN_CHROMA = 0.002     # mean chroma (max − min channel, in [0,1]) below this: a grey image, not a colour photo
FETCH_COMMAND = "isnet data fetch photos"
SPLITS = ("train", "test")

MANIFEST_COLUMNS = ["id", "split", "group", "package", "version", "path", "member", "offset", "licence",
                    "width", "height", "sha256", "file", "dhash", "phash"]


def default_manifest_path() -> Path:
    """The committed manifest: ``$ISNET_PHOTOS_MANIFEST`` or ``<repo>/isnet/resources/photos_manifest.csv``."""
    env = os.environ.get("ISNET_PHOTOS_MANIFEST")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "resources" / "photos_manifest.csv"


def photo_root() -> Path:
    """Where the photo files live: ``<cache>/photos/images`` (named ``<id>.<ext>``)."""
    return cache_dir("photos") / "images"


# --------------------------------------------------------------------------------------------
# Qt resource files (.rcc) and carved WebP images
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Perceptual hashes and near-duplicate groups
# --------------------------------------------------------------------------------------------

def _grey_small(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Luma, resized with an antialiased box filter (what perceptual hashes expect)."""
    arr = np.asarray(rgb, np.float32)
    if arr.max(initial=0) <= 1.0:
        arr = arr * 255.0
    luma = arr[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32) if arr.ndim == 3 else arr
    img = Image.fromarray(np.clip(luma, 0, 255).astype(np.uint8))
    return np.asarray(img.resize((width, height), Image.Resampling.BOX), np.float64)


def _bits_to_int(bits: np.ndarray) -> int:
    return int("".join("1" if b else "0" for b in bits.ravel()), 2)


def dhash(rgb: np.ndarray, size: int = 8) -> int:
    """Difference hash: ``size²`` bits, 1 where a pixel is brighter than its right neighbour."""
    g = _grey_small(rgb, size + 1, size)
    return _bits_to_int(g[:, 1:] > g[:, :-1])


def _dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II matrix ``C`` (``C @ x`` transforms a length-n signal)."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    c = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    c[0] /= np.sqrt(2.0)
    return c


def phash(rgb: np.ndarray, size: int = 8, factor: int = 4) -> int:
    """DCT hash: the ``size×size`` lowest frequencies of a ``size·factor`` square thumbnail vs their median.

    The DC term is left out of the median so the hash does not depend on overall brightness.
    """
    n = size * factor
    c = _dct_matrix(n)
    low = (c @ _grey_small(rgb, n, n) @ c.T)[:size, :size]
    med = np.median(low.ravel()[1:])
    return _bits_to_int(low > med)


def hamming(a: int, b: int) -> int:
    return bin(int(a) ^ int(b)).count("1")


# Name patterns that mark one subject photographed several times (stereo pairs, video frames,
# viewpoint series, light/dark variants). Stripped from the end of an id's last part to form a
# series key; photos of one package whose keys agree share a group.
_SERIES_SUFFIX = re.compile(r"(?:[-_](?:left|right|original|modified|dark|light|back)|\d+|[LRAB])$")


def series_key(photo_id: str) -> str:
    """``opencv-aloeL`` → ``opencv-aloe``; ``gcompris-clickgame-sea3`` → ``gcompris-clickgame-sea``."""
    key = photo_id
    while (stripped := _SERIES_SUFFIX.sub("", key)) != key and stripped and not stripped.endswith("-"):
        key = stripped
    return key


def subject_key(photo_id: str, package: str) -> str:
    """The same subject name inside one package (e.g. a giraffe in two GCompris activities)."""
    return f"{package}:{series_key(photo_id).rsplit('-', 1)[-1].lower()}"


# Hash thresholds (bits of 64), calibrated on the pool: re-encoded copies and consecutive video
# frames (rubberwhale1/2: dHash 1, pHash 0) and a rectified stereo pair (motorcycle: 17, 6) fall
# inside; the closest unrelated photos are at pHash >= 16 (dHash alone is unreliable: two dark
# horizons at dHash 6). Wider-baseline pairs (aloe, leuven, graf) are caught by their names.
MAX_PHASH = 10
MAX_DHASH = 20


def group_near_duplicates(ids: list[str], packages: list[str], dhashes: list[int], phashes: list[int],
                          max_phash: int = MAX_PHASH, max_dhash: int = MAX_DHASH) -> list[str]:
    """A group id per photo: connected components of "near duplicate" links.

    Two photos are linked when their pHash differs in at most ``max_phash`` and their dHash in at
    most ``max_dhash`` of 64 bits, when their series keys agree (:func:`series_key`), or when they
    show the same named subject in the same package (:func:`subject_key`). A group is named after
    its alphabetically first member, so it is stable when the order of rows changes.
    """
    n = len(ids)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        parent[find(i)] = find(j)

    for keyfn in (lambda i: series_key(ids[i]), lambda i: subject_key(ids[i], packages[i])):
        first: dict[str, int] = {}
        for i in range(n):
            union(i, first.setdefault(keyfn(i), i))
    for i in range(n):
        for j in range(i + 1, n):
            if hamming(phashes[i], phashes[j]) <= max_phash and hamming(dhashes[i], dhashes[j]) <= max_dhash:
                union(i, j)
    members: dict[int, list[str]] = {}
    for i in range(n):
        members.setdefault(find(i), []).append(ids[i])
    name = {root: min(m) for root, m in members.items()}
    return [name[find(i)] for i in range(n)]


def assign_split(groups: list[str], package_splits: list[str]) -> list[str]:
    """Split by group: a group goes to test if any member's package is a test package, else train.

    So no group is ever on both sides, and test photos come from other packages than most of the
    training photos.
    """
    test_groups = {g for g, s in zip(groups, package_splits) if s == "test"}
    return ["test" if g in test_groups else "train" for g in groups]


# --------------------------------------------------------------------------------------------
# Licences (Debian machine-readable copyright files)
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# What to take from each package
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PackageSpec:
    """Selection rules for one Debian package (paths are inside the package, without a leading ``/``)."""

    package: str
    split: str
    prefix: str                                 # id prefix
    include: tuple[str, ...] = ()               # fnmatch patterns of photo files
    exclude: tuple[str, ...] = ()
    rcc: tuple[str, ...] = ()                   # Qt resource files to carve WebP photos out of
    id_from: int = -1                           # which path part names the photo (-1: file stem)
    largest_per_folder: bool = False            # multi-resolution wallpapers: keep the largest only
    licences: tuple[tuple[str, str], ...] = ()  # per-file overrides (pattern, licence) from the package's credits
    desktop_licence: bool = False               # read the licence from a sibling .desktop file
    note: str = ""

    @property
    def copyright(self) -> str:
        return f"usr/share/doc/{self.package}/copyright"


_GC = "usr/share/gcompris-qt/rcc/"
_CV = "usr/share/doc/opencv-doc/examples/"
_OPENCV_PHOTOS = (
    "alphamat/input_images/plant.jpg", "reg/home.png",
    *(f"text/scenetext0{i}.jpg" for i in range(1, 7)),
    *(f"data/{n}" for n in (
        "aero1.jpg", "aero3.jpg", "aloeL.jpg", "aloeR.jpg", "apple.jpg", "baboon.jpg", "board.jpg", "building.jpg",
        "butterfly.jpg", "chicky_512.png", "ela_modified.jpg", "ela_original.jpg", "fruits.jpg", "graf1.png",
        "graf3.png", "home.jpg", "left.jpg", "leuvenA.jpg", "leuvenB.jpg", "messi5.jpg", "orange.jpg", "right.jpg",
        "rubberwhale1.png", "rubberwhale2.png", "smarties.png", "squirrel_cls.jpg", "stuff.jpg")),
)
_PLASMA_PHOTOS = ("BytheWater", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Kite", "OneStandsOut",
                  "Path", "Volna", "summer_1am")

PACKAGES: dict[str, PackageSpec] = {s.package: s for s in (
    PackageSpec(
        "gcompris-qt-data", "train", "gcompris",
        rcc=tuple(_GC + f"{a}.rcc" for a in ("erase", "explore_monuments", "explore_world_animals",
                                             "explore_farm_animals", "categorization", "clickgame",
                                             "explore_world_music")),
        note="WebP photos carved out of the Qt resource files of 7 activities; lang, details, paintings, "
             "babyshapes (clip-art, paintings) and rendered planets are not taken"),
    PackageSpec(
        "opencv-doc", "test", "opencv", include=tuple(_CV + p for p in _OPENCV_PHOTOS),
        note="OpenCV sample photos from examples/ only; renders, charts, documents, grey images, "
             "the painting and lena (removed by Debian) are not taken"),
    PackageSpec(
        "tuxpaint-data", "train", "tuxpaint",
        include=("usr/share/tuxpaint/templates/*.jpg", "usr/share/tuxpaint/starters/reef-back.png",
                 "usr/share/tuxpaint/starters/skyline-sf-dusk-back.jpeg"),
        licences=(("*/starters/*", "public-domain (NOAA photo library)"),),
        note="photo templates and the two photographic starter backgrounds"),
    PackageSpec(
        "lomiri-wallpapers-16.04", "train", "lomiri",
        include=("usr/share/backgrounds/*_by_*.jpg",),
        exclude=("*/analogpattern_by_*", "*/umang_by_*"), note="photo wallpapers; two abstract ones left out"),
    PackageSpec(
        "lomiri-wallpapers-20.04", "train", "lomiri", include=("usr/share/backgrounds/Kleiber_by_*.jpg",),
        note="the one photo (the others are renders)"),
    PackageSpec(
        "mate-backgrounds", "train", "mate", include=("usr/share/backgrounds/mate/nature/*.jpg",),
        note="nature photos only (abstract/desktop are artwork)"),
    PackageSpec(
        "plasma-workspace-wallpapers", "train", "plasma",
        include=tuple(f"usr/share/wallpapers/{w}/contents/images/*" for w in _PLASMA_PHOTOS),
        id_from=-4, largest_per_folder=True,
        note="photo wallpapers, largest resolution of each; the nearly grey ColdRipple and Grey and all renders "
             "left out"),
    PackageSpec(
        "palapeli-data", "test", "palapeli", include=("usr/share/palapeli/collection/*.jpg",),
        desktop_licence=True, note="puzzle photos; licence and author from each puzzle's .desktop file"),
)}


@dataclass(frozen=True)
class PyPIPhoto:
    """A photo shipped inside an installed Python distribution (no download needed)."""

    id: str
    distribution: str   # PyPI name, for the version
    module: str         # importable package holding the file
    relpath: str        # path of the file inside that package
    licence: str


PYPI_PHOTOS: tuple[PyPIPhoto, ...] = (
    PyPIPhoto("skimage-astronaut", "scikit-image", "skimage", "data/astronaut.png", "public-domain (NASA)"),
    PyPIPhoto("skimage-chelsea", "scikit-image", "skimage", "data/chelsea.png", "CC0 (Stefan van der Walt)"),
    PyPIPhoto("skimage-coffee", "scikit-image", "skimage", "data/coffee.png", "CC0 (Rachel Michetti)"),
    PyPIPhoto("skimage-rocket", "scikit-image", "skimage", "data/rocket.jpg", "public-domain (SpaceX)"),
    PyPIPhoto("skimage-motorcycle_left", "scikit-image", "skimage", "data/motorcycle_left.png",
              "Middlebury 2014 stereo data set (Scharstein et al.), via scikit-image"),
    PyPIPhoto("skimage-motorcycle_right", "scikit-image", "skimage", "data/motorcycle_right.png",
              "Middlebury 2014 stereo data set (Scharstein et al.), via scikit-image"),
    PyPIPhoto("sklearn-china", "scikit-learn", "sklearn", "datasets/images/china.jpg", "CC-BY-2.0 (danielbuechele)"),
    PyPIPhoto("sklearn-flower", "scikit-learn", "sklearn", "datasets/images/flower.jpg", "CC-BY-2.0 (vultilion)"),
    PyPIPhoto("matplotlib-grace_hopper", "matplotlib", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg",
              "public-domain (U.S. Navy photo)"),
)
PYPI_SPLIT = "test"


def pypi_photo_path(photo: PyPIPhoto) -> Path:
    """Where an installed distribution keeps the photo (found without importing the module)."""
    import importlib.util

    spec = importlib.util.find_spec(photo.module)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"photo {photo.id}: Python package {photo.distribution} is not installed; "
                                f"pip install {photo.distribution}")
    return Path(list(spec.submodule_search_locations)[0]) / photo.relpath


# --------------------------------------------------------------------------------------------
# Reading .deb files
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Candidate photos of one package
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Manifest
# --------------------------------------------------------------------------------------------

def _hex64(value: int) -> str:
    return f"{int(value):016x}"


def build_manifest(candidates: list[Candidate]) -> pd.DataFrame:
    """Hashes, near-duplicate groups and the split for a list of candidates → the manifest table."""
    ids = [c.id for c in candidates]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"photo ids are not unique: {dupes}")
    thumbs = [_thumbnail_rgb(Image.open(io.BytesIO(c.data))) for c in candidates]
    dh = [dhash(t) for t in thumbs]
    ph = [phash(t) for t in thumbs]
    groups = group_near_duplicates(ids, [c.package for c in candidates], dh, ph)
    splits = assign_split(groups, [c.split for c in candidates])
    rows = [dict(id=c.id, split=s, group=g, package=c.package, version=c.version, path=c.path, member=c.member,
                 offset="" if c.offset is None else int(c.offset), licence=c.licence, width=c.width,
                 height=c.height, sha256=_sha256(c.data), file=c.file, dhash=_hex64(d), phash=_hex64(p))
            for c, g, s, d, p in zip(candidates, groups, splits, dh, ph)]
    df = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    return df.sort_values(["split", "package", "id"], kind="stable").reset_index(drop=True)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_manifest(df: pd.DataFrame, path: str | os.PathLike, overwrite: bool = False) -> Path:
    refuse_overwrite(path, overwrite, what="photo manifest")
    return atomic_write_text(path, df.to_csv(index=False))


def read_manifest(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The committed photo manifest, with a clear error when it is missing or malformed."""
    path = Path(path) if path is not None else default_manifest_path()
    if not path.is_file():
        raise FileNotFoundError(f"photo manifest {path} not found; it is committed in the repository as "
                                "isnet/resources/photos_manifest.csv (set ISNET_PHOTOS_MANIFEST to point elsewhere), or "
                                f"build one with `{FETCH_COMMAND} --rebuild-manifest`")
    df = pd.read_csv(path, dtype={"offset": "string", "member": "string", "version": "string"},
                     keep_default_na=False)
    missing = [c for c in MANIFEST_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"photo manifest {path} lacks columns {missing}; rebuild it with "
                         f"`{FETCH_COMMAND} --rebuild-manifest --overwrite`")
    return df


def near_duplicate_groups(df: pd.DataFrame) -> dict[str, list[str]]:
    """Groups with more than one photo: group id → member ids."""
    sizes = df.groupby("group")["id"].apply(list)
    return {g: sorted(m) for g, m in sizes.items() if len(m) > 1}


# --------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------

def no_apt_hint() -> str:
    if shutil.which("apt-get"):
        return ""
    return (" This machine has no apt-get, so the pool (built from Debian packages) cannot be fetched here: "
            "use the `folder` source with a directory of your own photos instead "
            "(build_source('folder', root=DIR) or --source folder --root DIR), or pass .deb files with --debs.")


def verify_files(df: pd.DataFrame, root: Path | None = None) -> list[Path]:
    """Paths of the manifest's photos after checking each exists and has the recorded SHA-256.

    Raises FileNotFoundError / ValueError naming every bad file and the command that repairs it.
    """
    root = photo_root() if root is None else Path(root)
    missing, changed, paths = [], [], []
    for row in df.itertuples(index=False):
        path = root / row.file
        paths.append(path)
        if not path.is_file():
            missing.append(row.file)
        elif sha256_file(path) != row.sha256:
            changed.append(row.file)
    repair = f"run `{FETCH_COMMAND}` to repair." + no_apt_hint()
    if missing:
        raise FileNotFoundError(f"{len(missing)} photo(s) missing from {root}: {_listing(missing)}; {repair}")
    if changed:
        raise ValueError(f"{len(changed)} photo(s) in {root} do not match their SHA-256 in the manifest: "
                         f"{_listing(changed)}; delete them and {repair}")
    return paths


def _listing(names: list[str], limit: int = 8) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


# --------------------------------------------------------------------------------------------
# Fetching
# --------------------------------------------------------------------------------------------

@dataclass
class FetchReport:
    """What a fetch did, per package: photos stored now, already present, skipped candidates."""

    stored: dict[str, int] = field(default_factory=dict)
    present: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    manifest: Path | None = None
    rebuilt: bool = False

    @property
    def nothing_to_do(self) -> bool:
        return sum(self.stored.values()) == 0 and not self.rebuilt

    def summary(self) -> str:
        lines = []
        for pkg in sorted(set(self.stored) | set(self.present)):
            lines.append(f"  {pkg:32s} stored {self.stored.get(pkg, 0):4d}   already there {self.present.get(pkg, 0):4d}")
        head = ("nothing to do: every photo is present and matches its checksum" if self.nothing_to_do
                else f"stored {sum(self.stored.values())} photo(s)")
        return "\n".join([head, *lines])


def apt_download(package: str, dest: Path, version: str | None = None) -> Path:
    """``apt-get download`` one package into ``dest`` (no root needed, nothing installed)."""
    if not shutil.which("apt-get"):
        raise RuntimeError(f"cannot download {package}: this machine has no apt-get." + no_apt_hint())
    dest.mkdir(parents=True, exist_ok=True)
    target = f"{package}={version}" if version else package
    proc = subprocess.run(["apt-get", "download", target], cwd=dest, capture_output=True, text=True)
    if proc.returncode != 0:
        hint = (f" The manifest pins version {version}; if your apt offers another, the files may differ "
                f"(rebuild with `{FETCH_COMMAND} --rebuild-manifest`)." if version else "")
        raise RuntimeError(f"apt-get download {target} failed: {proc.stderr.strip() or proc.stdout.strip()}. "
                           f"Run `apt-get update` (as root) if the package lists are empty.{hint}")
    return find_deb(dest, package, version)


def find_deb(folder: Path, package: str, version: str | None = None) -> Path:
    debs = sorted(Path(folder).glob(f"{package}_*.deb"))
    if version:
        debs = [d for d in debs if deb_version(d) == version] or debs
    if not debs:
        raise FileNotFoundError(f"no {package}_*.deb in {folder}")
    return debs[-1]


def _stamp_path(package: str) -> Path:
    return cache_dir("photos") / "stamps" / f"{_sanitize(package)}.json"


def _stamp_ok(package: str, rows: pd.DataFrame, root: Path) -> bool:
    """A package is done when its stamp lists exactly these files and each file still matches."""
    stamp = _stamp_path(package)
    if not stamp.is_file():
        return False
    try:
        recorded = json.loads(stamp.read_text())
    except ValueError:
        return False
    want = dict(zip(rows["file"], rows["sha256"]))
    if recorded.get("files") != want:
        return False
    return all((root / f).is_file() and sha256_file(root / f) == s for f, s in want.items())


def _write_stamp(package: str, version: str, rows: pd.DataFrame) -> None:
    atomic_write_text(_stamp_path(package), json.dumps(
        {"package": package, "version": version, "files": dict(zip(rows["file"], rows["sha256"]))}, indent=1))


def _store(cands: list[Candidate], rows: pd.DataFrame, root: Path, package: str) -> int:
    """Write the manifest's files for one package from its candidates, checking every checksum."""
    by_key = {(c.path, c.member or "", "" if c.offset is None else str(c.offset)): c for c in cands}
    problems, stored = [], 0
    for row in rows.itertuples(index=False):
        cand = by_key.get((row.path, row.member or "", str(row.offset)))
        if cand is None:
            problems.append(f"{row.id} ({row.path} {row.member}) is not in the package")
            continue
        if _sha256(cand.data) != row.sha256:
            problems.append(f"{row.id} ({row.path} {row.member}) differs from the manifest's checksum")
            continue
        target = root / row.file
        if not (target.is_file() and sha256_file(target) == row.sha256):
            atomic_write_bytes(target, cand.data)
            stored += 1
    if problems:
        raise ValueError(f"{package}: {len(problems)} photo(s) do not match the committed manifest: "
                         f"{_listing(problems, 5)}. The package version here may differ from the one recorded; "
                         f"rebuild with `{FETCH_COMMAND} --rebuild-manifest --overwrite`")
    return stored


def _deb_for(package: str, version: str | None, debs_dir: Path | None, download_dir: Path) -> Path:
    for folder in (debs_dir, download_dir):
        if folder is not None and folder.is_dir():
            try:
                deb = find_deb(folder, package, version)
                if version is None or deb_version(deb) == version:
                    return deb
            except FileNotFoundError:
                pass
    if debs_dir is not None and not shutil.which("apt-get"):
        raise FileNotFoundError(f"no {package}_{version or '*'}_all.deb in {debs_dir}." + no_apt_hint())
    return apt_download(package, download_dir, version)


def fetch_photos(packages: Iterable[str] | None = None, manifest: str | os.PathLike | None = None,
                 rebuild_manifest: bool = False, overwrite: bool = False, debs_dir: str | os.PathLike | None = None,
                 keep_debs: bool = False, progress: bool = True, root: str | os.PathLike | None = None
                 ) -> FetchReport:
    """Build or repair the photo pool in the cache.

    Ordinary use restores what the committed manifest lists (idempotent: a package whose stamp and
    files check out is skipped; resumable: each package is stamped once all its files are stored).
    ``rebuild_manifest=True`` applies :data:`PACKAGES`' rules afresh and writes a new manifest
    (refusing to replace an existing one unless ``overwrite``). ``debs_dir`` uses .deb files found
    there instead of downloading. Downloaded .debs are deleted after use unless ``keep_debs``.
    """
    from tqdm.auto import tqdm

    root = photo_root() if root is None else Path(root)
    root.mkdir(parents=True, exist_ok=True)
    manifest_path = Path(manifest) if manifest is not None else default_manifest_path()
    download_dir = cache_dir("photos") / "debs"
    debs = Path(debs_dir) if debs_dir is not None else None
    report = FetchReport(manifest=manifest_path)
    if rebuild_manifest:
        refuse_overwrite(manifest_path, overwrite, what="photo manifest")
        names = list(packages) if packages else list(PACKAGES)
        unknown = [p for p in names if p not in PACKAGES]
        if unknown:
            raise ValueError(f"unknown package(s) {unknown}; the pool is built from {sorted(PACKAGES)}")
        cands: list[Candidate] = []
        bar = tqdm(names, desc="photo packages", disable=not progress)
        for pkg in bar:
            bar.set_postfix_str(pkg)
            deb = _deb_for(pkg, None, debs, download_dir)
            cands += collect_package(PACKAGES[pkg], deb, report.skipped)
            _cleanup(deb, download_dir, keep_debs)
        cands += collect_pypi(report.skipped)
        df = build_manifest(cands)
        for pkg, rows in df.groupby("package", sort=True):
            report.stored[pkg] = _store([c for c in cands if c.package == pkg], rows, root, pkg)
            _write_stamp(pkg, rows["version"].iloc[0], rows)
        write_manifest(df, manifest_path, overwrite=overwrite)
        report.rebuilt = True
        return report

    df = read_manifest(manifest_path)
    wanted = set(packages) if packages else None
    if wanted:
        unknown = wanted - set(df["package"])
        if unknown:
            raise ValueError(f"package(s) {sorted(unknown)} are not in {manifest_path}; "
                             f"it lists {sorted(set(df['package']))}")
    groups = [(pkg, rows) for pkg, rows in df.groupby("package", sort=True) if wanted is None or pkg in wanted]
    bar = tqdm(groups, desc="photo packages", disable=not progress)
    for pkg, rows in bar:
        bar.set_postfix_str(pkg)
        if _stamp_ok(pkg, rows, root):
            report.present[pkg] = len(rows)
            continue
        version = rows["version"].iloc[0]
        if pkg.startswith("pypi:"):
            cands = [c for c in collect_pypi(report.skipped) if c.package == pkg]
        else:
            if pkg not in PACKAGES:
                raise ValueError(f"{manifest_path} lists package {pkg}, which this version of isnet has no rules "
                                 f"for; update isnet or rebuild the manifest")
            deb = _deb_for(pkg, version, debs, download_dir)
            cands = collect_package(PACKAGES[pkg], deb, report.skipped)
            _cleanup(deb, download_dir, keep_debs)
        report.stored[pkg] = _store(cands, rows, root, pkg)
        report.present[pkg] = len(rows) - report.stored[pkg]
        _write_stamp(pkg, version, rows)
    return report


def _cleanup(deb: Path, download_dir: Path, keep: bool) -> None:
    if not keep and deb.parent == download_dir:
        deb.unlink(missing_ok=True)
