"""File helpers every part of the package shares: atomic writes, JSON lines, hashes, the cache folder, the image reader.

Nothing a user made is overwritten unless asked, and a killed process never leaves a half-written
result: write to a temporary file in the same folder, fsync, then rename over the target.

Why this file is long: it is the package's one boundary with the file system — atomic and all-or-nothing
writes with one-line OSError messages, the one image reader (every Pillow mode, EXIF orientation) and the
one torch-file reader — so every reader and writer fails with the same kind of message; the image reader
(about 250 lines) could move to its own module if it grows.
"""
from __future__ import annotations

import dataclasses
import errno as E
import hashlib
import io
import json
import os
import struct
import tempfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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
    """Write ``data`` to ``path`` through a temporary file in the same folder (fsync, then rename).

    An OSError (full disk, read-only folder, permission) names ``path``, not the temporary file.
    """
    path = Path(path)
    tmp = _write_temporary(path, data)
    try:
        os.replace(tmp, path)
    except OSError as e:
        _unlink_quietly(tmp)
        raise _naming(e, path) from None
    _fsync_dir(path.parent)
    return path


def _write_file(f, data: bytes, path: Path) -> None:
    """Write, flush and fsync ``f``, the temporary file for ``path``: where a full disk shows up (the tests
    simulate one here)."""
    f.write(data)
    f.flush()
    os.fsync(f.fileno())


def _write_temporary(path: Path, data: bytes) -> Path:
    """``data`` in a hidden temporary file beside ``path`` with open()'s default mode; removed again on failure."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            _write_file(f, data, path)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the mode open() would
    except BaseException as e:
        if tmp is not None:
            _unlink_quietly(tmp)
        if isinstance(e, OSError):
            raise _naming(e, path) from None
        raise
    return Path(tmp)


def _unlink_quietly(path: str | os.PathLike) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _naming(e: OSError, path: Path) -> OSError:
    """The same OSError (class and errno) naming ``path`` instead of a temporary file or its folder."""
    if isinstance(e, FileError) or e.errno is None:
        return e
    return type(e)(e.errno, e.strerror, str(path))


class FileError(OSError):
    """An OSError whose message is already one whole line naming the file and the fix (``str(e)``)."""

    def __init__(self, errno_: int | None, message: str, filename: str | os.PathLike | None = None):
        super().__init__(errno_, message, None if filename is None else str(filename))
        self.message = message

    def __str__(self) -> str:
        return self.message


def describe_os_error(e: OSError) -> str:
    """One line for an OSError: what happened to which file, and the fix (the CLI's error boundary uses it)."""
    if isinstance(e, FileError) or (e.errno is None and e.filename is None):
        return str(e)
    name = e.filename if e.filename is not None else "a file (the system did not say which)"
    fixes = {
        E.ENOSPC: f"no space left on the device while writing {name}: free space on that disk, or write to "
                  "another folder",
        E.EDQUOT: f"disk quota exceeded while writing {name}: free space within your quota, or write elsewhere",
        E.EROFS: f"{name} is on a read-only file system: choose a writable folder",
        E.EACCES: f"permission denied for {name}: make it (and its folder) readable/writable for you, or choose "
                  "another path",
        E.EPERM: f"operation not permitted on {name}: check its permissions and owner, or choose another path",
        E.ELOOP: f"{name} is a symbolic link that loops: fix or remove the link",
        E.ENAMETOOLONG: f"the path {name} is too long: choose a shorter path",
        E.EISDIR: f"{name} is a folder, a file was expected: pass a file",
        E.ENOTDIR: f"a part of the path {name} is a file, not a folder: fix the path",
        E.ENOENT: f"{name} does not exist: check the path",
        E.EEXIST: f"{name} already exists: remove it or choose another path",
        E.EIO: f"input/output error on {name}: the disk or network file system failed; check it and run again",
    }
    if e.errno in fixes:
        return fixes[e.errno]
    return f"{e.strerror or type(e).__name__} ({name}): check that path, then run again"


class StagedFiles:
    """All or nothing for a batch of output files: each is written to a hidden temporary beside its target,
    and ``commit()`` renames them all at the end; any failure before (a full disk, a bad input, Ctrl-C)
    leaves none of them (``discard()``, which the context manager calls).

    >>> with StagedFiles() as staged:           # doctest: +SKIP
    ...     for path, data in outputs:
    ...         staged.write_bytes(path, data)  # nothing visible yet
    >>> staged.committed                        # doctest: +SKIP
    """

    def __init__(self) -> None:
        self.staged: list[tuple[Path, Path]] = []  # (temporary, target)
        self.committed: list[Path] = []

    def write_bytes(self, path: str | os.PathLike, data: bytes) -> Path:
        path = Path(path)
        self.staged.append((_write_temporary(path, data), path))
        return path

    def discard(self) -> None:
        for tmp, _ in self.staged:
            _unlink_quietly(tmp)
        self.staged = []

    def commit(self) -> list[Path]:
        """Rename every staged file onto its target (a rename needs no space); returns the targets."""
        pending = list(self.staged)
        self.staged = []
        for i, (tmp, target) in enumerate(pending):
            try:
                os.replace(tmp, target)
            except OSError as e:
                for t, _ in pending[i:]:
                    _unlink_quietly(t)
                done = ", ".join(str(p) for p in self.committed) or "none"
                raise FileError(e.errno, f"{describe_os_error(_naming(e, target))}; of {len(pending)} output(s) "
                                f"{len(self.committed)} were written ({done}), the other {len(pending) - i} not",
                                target) from None
            self.committed.append(target)
        for folder in {t.parent for _, t in pending}:
            _fsync_dir(folder)
        return self.committed

    def __enter__(self) -> "StagedFiles":
        return self

    def __exit__(self, kind, value, tb) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return atomic_write_bytes(path, buf.getvalue())


def encode_png(array: Any) -> bytes:
    """PNG bytes of a uint8 array (H×W grey, H×W×3 RGB or H×W×4 RGBA), the one PNG encoder of the package.

    Pillow's defaults (zlib level 6, no optimisation) and no metadata, so identical arrays always give
    identical files (saved masks rely on it).
    """
    import numpy as np
    from PIL import Image

    arr = np.asarray(array)
    if arr.dtype != np.uint8:
        raise TypeError(f"encode_png takes a uint8 array, got {arr.dtype}; scale and round it first")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def read_jsonl(path: str | os.PathLike, torn_tail: bool = True) -> list[dict]:
    """The records of a JSON-lines file (blank lines skipped).

    A process killed while appending leaves at most its last line torn; with ``torn_tail`` that last line
    is dropped if it does not parse. Any other line that does not parse is an error naming ``file:line``.
    """
    path = Path(path)
    lines = path.read_text(errors="replace").splitlines()
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    rows = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            if torn_tail and i == last:
                break
            raise ValueError(f"{path}:{i + 1} is not valid JSON ({e})") from None
    return rows


def append_jsonl(path: str | os.PathLike, record: Mapping[str, Any], default: Callable[[Any], Any] = str) -> Path:
    """Append one record as one JSON line (the folder made if missing), written in one call and flushed.

    The line goes out whole or, if the process is killed mid-write, as the torn last line that
    ``read_jsonl`` drops. ``default`` turns values JSON does not know into ones it does (``str``;
    ``float`` for logs of tensor/NumPy numbers).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(dict(record), default=default) + "\n"
    with open(path, "a") as f:
        f.write(line)
        f.flush()
    return path


class locked:  # noqa: N801 - used as ``with locked(path):``
    """An exclusive ``flock`` on ``path`` (created if missing) for the duration of a ``with`` block: a short
    critical section shared by every process on this host (and by NFS clients, where the server locks)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._fd: int | None = None

    def __enter__(self) -> "locked":
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        import fcntl

        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def locked_append_jsonl(path: str | os.PathLike, record: dict[str, Any]) -> Path:
    """``append_jsonl`` under the file's lock: lines of concurrent studies never interleave or tear."""
    path = Path(path)
    with locked(path.with_name(f".{path.name}.lock")):
        return append_jsonl(path, record)


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


# ----------------------------------------------------------------------------------------- images
# One reader for every image and mask file the package opens, so that a mode is read the same way
# everywhere and at its true intensity (a 16-bit grey PNG is not "almost white", a palette image keeps
# its transparency, CMYK is converted to RGB, a truncated JPEG is an error that names the file).

class BadImageError(ValueError):
    """A file that exists but cannot be decoded as an image (corrupt, truncated, not an image)."""


@dataclass(frozen=True)
class Pixels:
    """A decoded image: ``rgb`` H×W×3 float32 in [0, 1]; ``alpha`` H×W float32 in [0, 1] or None.

    ``mode`` is the Pillow mode the file opened in (``"I;16"``, ``"P"``, ...), ``notes`` what was
    converted on the way (empty for plain 8-bit RGB/grey), for warnings a caller may want to give.
    """

    rgb: Any
    alpha: Any
    mode: str
    notes: tuple[str, ...] = ()
    orientation: int = 1          # the file's EXIF orientation (1 = upright), already applied to rgb/alpha
    frames: int = 1               # frames in the file (animated GIF, multi-page TIFF); only the first is read
    icc_profile: bytes | None = None  # the file's colour profile, for outputs to carry (None: sRGB assumed)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return tuple(self.rgb.shape[:2])

    def transparent_pixels(self) -> int:
        """How many pixels are not fully opaque (0 without an alpha channel)."""
        import numpy as np

        return 0 if self.alpha is None else int(np.count_nonzero(self.alpha < 1.0))


_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error,
                  zlib.error, MemoryError)


def _fix_hint(what: str) -> str:
    return ("re-save it as PNG or JPEG, or remove it from the folder" if what == "image" else
            "re-save it as a PNG (black and white, white = hole by default)")


def _missing(what: str, path: Path) -> FileNotFoundError:
    extra = "; check the path (masks are image files, e.g. PNG, white = hole by default)" if what == "mask" else ""
    return FileNotFoundError(f"{what} file {path} does not exist{extra}")


def image_size(path: str | os.PathLike, what: str = "image") -> tuple[int, int]:
    """(height, width) as a viewer shows the file (after its EXIF orientation), from the header alone."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise _missing(what, path)
    try:
        with Image.open(path) as img:
            w, h = img.size
            if exif_orientation(img) in (5, 6, 7, 8):
                w, h = h, w
    except (UnidentifiedImageError, Image.DecompressionBombError, *_DECODE_ERRORS) as e:
        raise BadImageError(f"cannot read {what} file {path} ({_short(e)}); {_fix_hint(what)}") from e
    return int(h), int(w)


# EXIF orientation (tag 0x0112): how the stored pixels turn into what a viewer shows. Values 5-8 swap the sides.
ORIENTATIONS = {1: "upright", 2: "mirrored", 3: "rotated 180°", 4: "flipped upside down",
                5: "mirrored and rotated 90°", 6: "rotated 90° clockwise", 7: "mirrored and rotated 270°",
                8: "rotated 90° counter-clockwise"}


def exif_orientation(img) -> int:
    """The EXIF orientation of an open Pillow image (1 when absent or invalid)."""
    try:
        value = int(img.getexif().get(0x0112, 1))
    except Exception:  # a broken EXIF block must not stop reading the pixels
        return 1
    return value if value in ORIENTATIONS else 1


def orient(array: Any, orientation: int) -> Any:
    """Turn stored pixels (H×W or H×W×C) as EXIF ``orientation`` says, as ``PIL.ImageOps.exif_transpose`` does."""
    import numpy as np

    a = np.asarray(array)
    turned = {1: lambda: a, 2: lambda: a[:, ::-1], 3: lambda: a[::-1, ::-1], 4: lambda: a[::-1],
              5: lambda: a.swapaxes(0, 1), 6: lambda: np.rot90(a, -1), 7: lambda: np.rot90(a, 2).swapaxes(0, 1),
              8: lambda: np.rot90(a, 1)}[orientation]()
    return np.ascontiguousarray(turned)


def read_pixels(path: str | os.PathLike, what: str = "image", min_short: int | None = None) -> Pixels:
    """Decode any Pillow-readable file at its true intensities: see ``Pixels``.

    Modes: ``1``/``L``/``RGB``/``RGBA``/``LA`` as stored; ``P`` and ``PA`` through their palette, keeping
    transparency as alpha; ``I;16*`` divided by 65535; ``I`` by the file's bit depth (16 for PNG, the
    TIFF BitsPerSample tag, else guessed from the values, with a note); ``F`` as is when in [0, 1]
    (a float file in 0..255 is divided by 255, with a note; NaN/inf is refused); ``CMYK``, ``YCbCr``,
    ``LAB``, ``HSV`` converted to RGB; 16-bit RGB(A) PNGs at full 16-bit precision.

    Pixels come as a viewer shows them: the EXIF orientation (phone photos store pixels turned) is applied
    (``Pixels.orientation`` says which), the same for images and masks. Only the first frame of an animated
    or multi-page file is read (``Pixels.frames`` says how many it has).

    ``min_short``: decode faster by shrinking (JPEG DCT scaling, else an integer box reduction) while
    the short side stays ≥ ``min_short`` (training at small sizes only). ``what`` ("image" or "mask")
    names the file in errors. Raises FileNotFoundError, or ``BadImageError`` naming the file and the fix.
    """
    import math

    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise _missing(what, path)
    try:
        if not min_short and (deep := _png_16bit_colour(path)) is not None:
            return deep
        with Image.open(path) as img:
            orientation = exif_orientation(img)
            frames = int(getattr(img, "n_frames", 1) or 1)
            icc = img.info.get("icc_profile") or None
            if min_short and img.format == "JPEG":
                w, h = img.size
                k = min(w, h) / float(min_short)
                if k >= 2:
                    img.draft("RGB", (math.ceil(w / k), math.ceil(h / k)))
            img.load()
            fmt = img.format
            if min_short and min(img.size) >= 2 * min_short:
                if img.mode not in ("RGB", "RGBA", "L", "LA", "I", "F"):
                    img = img.convert("RGBA" if "A" in img.mode or "transparency" in img.info else "RGB")
                img = img.reduce(min(img.size) // int(min_short))
            pixels = _oriented(_from_pil(img, fmt), orientation, frames, icc)
    except BadImageError as e:
        raise BadImageError(f"{what} file {path}: {e}; {_fix_hint(what)}") from e
    except (UnidentifiedImageError, Image.DecompressionBombError, *_DECODE_ERRORS) as e:
        raise BadImageError(f"cannot decode {what} file {path} ({_short(e)}); {_fix_hint(what)}") from e
    return pixels


def _oriented(px: Pixels, orientation: int, frames: int = 1, icc: bytes | None = None) -> Pixels:
    """``px`` turned upright by its EXIF orientation, with a note, the frame count and the colour profile."""
    notes = px.notes
    if orientation != 1:
        notes += (f"EXIF orientation {orientation} ({ORIENTATIONS[orientation]}) applied",)
    if frames > 1:
        notes += (f"first of {frames} frames",)
    return dataclasses.replace(px, rgb=orient(px.rgb, orientation),
                               alpha=None if px.alpha is None else orient(px.alpha, orientation),
                               notes=notes, orientation=orientation, frames=frames, icc_profile=icc)


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text if len(text) < 160 else text[:157] + "..."


def _png_16bit_colour(path: Path) -> Pixels | None:
    """16-bit RGB/RGBA PNGs at full precision (Pillow keeps only the high byte); None for any other file."""
    import cv2
    import numpy as np

    with open(path, "rb") as f:
        head = f.read(29)
    if len(head) < 29 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    bit_depth, colour_type = head[24], head[25]
    if bit_depth != 16 or colour_type not in (2, 6):
        return None
    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None or arr.dtype != np.uint16 or arr.ndim != 3 or arr.shape[2] not in (3, 4):
        return None  # let Pillow try (and name the problem)
    rgb = np.ascontiguousarray(arr[..., 2::-1], dtype=np.float32) / 65535.0
    alpha = arr[..., 3].astype(np.float32) / 65535.0 if arr.shape[2] == 4 else None
    from PIL import Image

    with Image.open(path) as img:  # the header only: a PNG may carry EXIF orientation and a colour profile
        orientation, icc = exif_orientation(img), img.info.get("icc_profile") or None
    return _oriented(Pixels(rgb, alpha, "RGBA;16" if alpha is not None else "RGB;16", ("16-bit colour",)),
                     orientation, 1, icc)


def _from_pil(img, fmt: str | None) -> Pixels:
    import numpy as np

    mode = img.mode
    notes: list[str] = []
    alpha = None
    if mode in ("1", "L"):
        grey = np.asarray(img, np.float32) * (1.0 if mode == "1" else 1 / 255.0)
    elif mode == "LA":
        arr = np.asarray(img, np.float32) / 255.0
        grey, alpha = arr[..., 0], arr[..., 1]
    elif mode.startswith("I;16"):
        grey = np.asarray(img).astype(np.float32) / 65535.0
        notes.append("16-bit grey")
    elif mode == "I":
        raw = np.asarray(img)
        bits = _int_bits(img, fmt)
        if bits is None:
            top = int(raw.max(initial=0))
            bits = 8 if top <= 255 else 16 if top <= 65535 else 31
            notes.append(f"32-bit integer grey of unknown bit depth; read as {bits}-bit (largest value {top})")
        else:
            notes.append(f"{bits}-bit grey")
        grey = raw.astype(np.float64) / float(2 ** bits - 1)
        if grey.min(initial=0) < 0:
            notes.append("negative values clipped to 0")
    elif mode == "F":
        grey = np.asarray(img, np.float32)
        if not np.isfinite(grey).all():
            raise BadImageError(f"{np.count_nonzero(~np.isfinite(grey))} pixels are NaN or infinite")
        lo, hi = float(grey.min(initial=0)), float(grey.max(initial=0))
        if hi > 1.0:
            grey = grey / 255.0
            notes.append(f"float grey with values up to {hi:g}, read as 0..255")
        else:
            notes.append("float grey")
        if lo < 0:
            notes.append("negative values clipped to 0")
    else:
        grey = None
        if mode in ("RGB", "RGBA"):
            arr = np.asarray(img, np.float32) / 255.0
        elif mode in ("P", "PA", "RGBa", "La") or "transparency" in img.info:
            has_alpha = mode in ("PA", "RGBa", "La") or "transparency" in img.info
            arr = np.asarray(img.convert("RGBA" if has_alpha else "RGB"), np.float32) / 255.0
            notes.append("palette" if mode.startswith("P") else f"mode {mode}")
        else:  # CMYK, YCbCr, LAB, HSV, RGBX, ...
            try:
                arr = np.asarray(img.convert("RGB"), np.float32) / 255.0
            except ValueError as e:
                raise BadImageError(f"image mode {mode} cannot be converted to RGB ({e})") from e
            notes.append(f"{mode} converted to RGB")
        if arr.shape[-1] == 4:
            arr, alpha = arr[..., :3], arr[..., 3]
        rgb = arr
    if grey is not None:
        grey = np.clip(grey, 0.0, 1.0).astype(np.float32, copy=False)
        rgb = np.repeat(grey[..., None], 3, axis=-1)
    rgb = np.ascontiguousarray(rgb, dtype=np.float32)  # 8-bit data is in [0, 1] already; grey was clipped above
    if alpha is not None:
        alpha = np.ascontiguousarray(alpha, dtype=np.float32)
    return Pixels(rgb, alpha, mode, tuple(notes))


def _int_bits(img, fmt: str | None) -> int | None:
    """Bit depth of a Pillow "I" image when the file says it (PNG: 16; TIFF: BitsPerSample/SampleFormat)."""
    if fmt == "PNG":
        return 16
    tags = getattr(img, "tag_v2", None)
    if fmt == "TIFF" and tags is not None:
        bits = tags.get(258)
        bits = bits[0] if isinstance(bits, tuple) else bits
        signed = (tags.get(339) or 1) in (2, (2,))
        if isinstance(bits, int) and 1 <= bits <= 32:
            return bits - 1 if signed else bits
    return None


# ----------------------------------------------------------------------------------------- torch files
def load_torch_file(path: str | os.PathLike, what: str = "checkpoint", map_location: Any = "cpu") -> Any:
    """``torch.load(weights_only=True)`` with one-line errors that name the file and the fix.

    A file that holds Python objects beyond tensors and plain types is refused: unpickling it could run
    code, so we never suggest loading it with ``weights_only=False`` (torch's own message does). A file
    that is something else (an image, text, an archive) says what it is. A damaged checkpoint of a
    training run (``<run>/checkpoints/*.pt``) names the fix that works for it: retrain that run.
    """
    import pickle
    import zipfile

    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} not found")
    kind = _file_kind(path)
    if kind is not None:
        raise ValueError(f"{what} {path} is {kind}, not a PyTorch checkpoint; pass a .pt/.pth file that isnet "
                         "train wrote (a run's checkpoints/best.pt or iter_*.pt) or the authors' "
                         "InpaintingModel_gen.pth")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights only" in str(e).lower() or "weights_only" in str(e):
            raise ValueError(f"{what} {path} holds Python objects besides tensors and plain values, which isnet "
                             "never unpickles (that could run code from the file); use a file isnet wrote, or "
                             "re-save only the weights from the code that made it: "
                             "torch.save({'generator': model.state_dict()}, path)") from None
        raise ValueError(f"{what} {path} is not a readable torch file ({_short(e)}); it may be truncated or not "
                         f"a checkpoint: {_damaged_fix(path)}") from None
    except (RuntimeError, OSError, EOFError, ValueError, KeyError, AttributeError, IndexError,
            zipfile.BadZipFile) as e:
        raise ValueError(f"{what} {path} could not be read ({type(e).__name__}: {_short(e)}); it may be truncated "
                         f"or not a torch file: {_damaged_fix(path)}") from None


def _damaged_fix(path: Path) -> str:
    """The fix for a damaged torch file: retrain a run's checkpoint; copy or download any other file again."""
    if path.parent.name == "checkpoints":
        run = path.parent.parent
        return (f"it is a checkpoint of the training run {run}, so retrain that run: delete the folder {run}, then "
                "rerun the command that trained it (`isnet study --resume` retrains a study's missing run; "
                "`isnet train` a single run)")
    return "copy or download it again"


# Leading bytes of files people mistake for checkpoints (a torch file is a zip, or a pickle for old torch).
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
          (b"BM", "a BMP image"), (b"II*\x00", "a TIFF image"), (b"MM\x00*", "a TIFF image"),
          (b"%PDF", "a PDF document"), (b"\x1f\x8b", "a gzip archive (unpack it first)"),
          (b"\x89HDF", "an HDF5 file (a Keras/h5 model?)"), (b"7z\xbc\xaf", "a 7-Zip archive (unpack it first)"),
          (b"Rar!", "a RAR archive (unpack it first)"), (b"<!DOCTYPE", "an HTML page (a failed download?)"),
          (b"<html", "an HTML page (a failed download?)"), (b"version https://git-lfs", "a Git LFS pointer "
          "(run `git lfs pull` to fetch the real file)"))


def _file_kind(path: Path) -> str | None:
    """What a file that is surely not a torch file is ("a PNG image", "an empty file"); None when it may be one."""
    with open(path, "rb") as f:
        head = f.read(64)
    if not head:
        return "an empty file (0 bytes)"
    if head[:4] == b"PK\x03\x04" or head[:1] == b"\x80":
        return None  # zip (torch >= 1.6) or pickle protocol 2+ (legacy torch.save)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "a WebP image"
    for magic, kind in _MAGIC:
        if head.lower().startswith(magic.lower()):
            return kind
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return "a text file"
    return None
