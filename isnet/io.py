"""File helpers every part of the package shares: atomic writes, JSON lines, hashes, the cache folder, the image reader.

Nothing a user made is overwritten unless asked, and a killed process never leaves a half-written
result: write to a temporary file in the same folder, fsync, then rename over the target.
"""
from __future__ import annotations

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
    """(height, width) from the file's header, without decoding the pixels (to size work before it starts)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise _missing(what, path)
    try:
        with Image.open(path) as img:
            w, h = img.size
    except (UnidentifiedImageError, Image.DecompressionBombError, *_DECODE_ERRORS) as e:
        raise BadImageError(f"cannot read {what} file {path} ({_short(e)}); {_fix_hint(what)}") from e
    return int(h), int(w)


def read_pixels(path: str | os.PathLike, what: str = "image", min_short: int | None = None) -> Pixels:
    """Decode any Pillow-readable file at its true intensities: see ``Pixels``.

    Modes: ``1``/``L``/``RGB``/``RGBA``/``LA`` as stored; ``P`` and ``PA`` through their palette, keeping
    transparency as alpha; ``I;16*`` divided by 65535; ``I`` by the file's bit depth (16 for PNG, the
    TIFF BitsPerSample tag, else guessed from the values, with a note); ``F`` as is when in [0, 1]
    (a float file in 0..255 is divided by 255, with a note; NaN/inf is refused); ``CMYK``, ``YCbCr``,
    ``LAB``, ``HSV`` converted to RGB; 16-bit RGB(A) PNGs at full 16-bit precision.

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
            pixels = _from_pil(img, fmt)
    except BadImageError as e:
        raise BadImageError(f"{what} file {path}: {e}; {_fix_hint(what)}") from e
    except (UnidentifiedImageError, Image.DecompressionBombError, *_DECODE_ERRORS) as e:
        raise BadImageError(f"cannot decode {what} file {path} ({_short(e)}); {_fix_hint(what)}") from e
    return pixels


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
    return Pixels(rgb, alpha, "RGBA;16" if alpha is not None else "RGB;16", ("16-bit colour",))


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
    code, so we never suggest loading it with ``weights_only=False`` (torch's own message does).
    """
    import pickle
    import zipfile

    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights only" in str(e).lower() or "weights_only" in str(e):
            raise ValueError(f"{what} {path} holds Python objects besides tensors and plain values, which isnet "
                             "never unpickles (that could run code from the file); use a file isnet wrote, or "
                             "re-save only the weights from the code that made it: "
                             "torch.save({'generator': model.state_dict()}, path)") from None
        raise ValueError(f"{what} {path} is not a readable torch file ({_short(e)}); it may be truncated or not "
                         "a checkpoint: copy or download it again") from None
    except (RuntimeError, OSError, EOFError, ValueError, KeyError, AttributeError, IndexError,
            zipfile.BadZipFile) as e:
        raise ValueError(f"{what} {path} could not be read ({type(e).__name__}: {_short(e)}); it may be truncated "
                         "or not a torch file: copy or download it again") from None

