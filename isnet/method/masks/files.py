"""Mask files: polarity (which colour marks a hole) and reading / writing one mask.

Files on disk follow painting tools (white = hole) unless told otherwise; conversion happens here,
at the boundary, in one tested function (:func:`known_from_pixels`), which saving uses too.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch

from ...io import atomic_write_bytes, encode_png, read_pixels, refuse_overwrite
from .convention import _check_size

HOLES = ("white", "black")  # which colour marks a hole in a mask file


BINARY_THRESHOLD = 127  # grey level > 127 counts as white


def _check_holes(holes: str, where: str = "") -> None:
    if holes not in HOLES:
        at = f" for {where}" if where else ""
        raise ValueError(f"holes={holes!r}{at} is not valid: use holes='white' (white marks a hole, as painting "
                         "tools save masks) or holes='black' (black marks a hole, e.g. the NVIDIA irregular masks)")


def known_from_pixels(pixels: np.ndarray, holes: str = "white", name: str = "mask") -> np.ndarray:
    """Grey levels 0..255 (H×W, any dtype) → known map (H×W float32, 1 = known). The polarity switch.

    Binarises at 127 (> 127 is white) and warns, naming ``name``, when some pixels are neither
    0 nor 255 (JPEG noise, anti-aliasing, grey levels). The mapping is its own inverse on binary
    data (``known_from_pixels(255 * known)`` gives the file's white map), so saving uses it too
    and polarity is decided in this one place.
    """
    _check_holes(holes, name)
    pixels = np.asarray(pixels)
    if pixels.ndim != 2:
        raise ValueError(f"{name}: expected a single-channel H×W array, got shape {pixels.shape}")
    grey = pixels.astype(np.float64)
    off = np.count_nonzero((grey != 0) & (grey != 255))
    if off:
        warnings.warn(f"{name}: {off} of {grey.size} pixels are neither black nor white (a JPEG or grey-level "
                      f"mask?); binarised at {BINARY_THRESHOLD} (brighter counts as white). Save masks as PNG "
                      "with pure black and white to avoid this.", stacklevel=2)
    white = grey > BINARY_THRESHOLD
    known = ~white if holes == "white" else white
    return known.astype(np.float32)


def pixels_from_known(known: np.ndarray | torch.Tensor, holes: str = "white") -> np.ndarray:
    """Known map (H×W, 1 = known) → uint8 grey levels (0/255) in the chosen polarity."""
    known = _as_known_2d(known)
    return (known_from_pixels(known * 255.0, holes) * 255).astype(np.uint8)


def _as_known_2d(known: np.ndarray | torch.Tensor) -> np.ndarray:
    """Accept H×W, 1×H×W or 1×1×H×W (tensor or array); return H×W float32 in {0, 1}."""
    arr = known.detach().cpu().numpy() if isinstance(known, torch.Tensor) else np.asarray(known)
    arr = np.asarray(arr, np.float32)
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise ValueError(f"expected one mask (H×W, 1×H×W or 1×1×H×W), got shape {tuple(np.shape(known))}")
    binary = np.isin(arr, (0.0, 1.0))
    if not binary.all():
        warnings.warn(f"known mask has {np.count_nonzero(~binary)} values that are not 0 or 1; "
                      "values >= 0.5 count as known", stacklevel=3)
    return (arr >= 0.5).astype(np.float32)


def read_grey(path: str | os.PathLike) -> np.ndarray:
    """Any Pillow-readable mask file → H×W grey levels 0..255 (float64), with errors that name the file.

    Decoded by the one image reader (``isnet.io.read_pixels``: 16-bit, float and palette files at their
    true intensity). The grey level is the brightest colour channel premultiplied by alpha, so a stroke
    of any colour on black or on transparency counts as white.
    """

    px = read_pixels(path, "mask")
    grey = px.rgb.max(axis=-1).astype(np.float64)
    if px.alpha is not None:
        grey *= px.alpha
    # back to the file's 0..255 levels; rounding undoes float32 noise so that 127 stays 127 (not white)
    return np.round(grey * 255.0, 4)


def _as_size(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    height, width = (size, size) if isinstance(size, int) else size
    _check_size(height, width)
    return int(height), int(width)


def resize_nearest(known: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a binary H×W map to (height, width): values stay binary."""
    height, width = size
    if known.shape == (height, width):
        return known
    return cv2.resize(known, (width, height), interpolation=cv2.INTER_NEAREST_EXACT)


def load_known(path: str | os.PathLike, size: int | tuple[int, int] | None = None,
               holes: str = "white") -> torch.Tensor:
    """Read a mask file → 1×1×H×W float known mask (1 = known).

    ``holes``: which colour marks a hole in the file ("white", as painting tools save them, or
    "black", as the NVIDIA masks). ``size`` = (height, width) or an int: nearest-neighbour resize
    after binarisation, so the result stays binary.
    """
    _check_holes(holes, str(path))
    grey = read_grey(path)
    known = known_from_pixels(grey, holes, name=str(path))
    if (target := _as_size(size)) is not None:
        known = resize_nearest(known, target)
    return torch.from_numpy(np.ascontiguousarray(known))[None, None]


def _png_bytes(pixels: np.ndarray) -> bytes:
    """Deterministic greyscale PNG encoding (no metadata), so identical masks give identical files."""
    return encode_png(np.asarray(pixels, np.uint8))


def save_known(path: str | os.PathLike, known: np.ndarray | torch.Tensor, holes: str = "white",
               overwrite: bool = False) -> Path:
    """Write one known mask as a black/white PNG in the chosen polarity, atomically."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"{path}: masks are saved losslessly as PNG; use a .png file name")
    _check_holes(holes, str(path))
    refuse_overwrite(path, overwrite, what="mask file")
    return atomic_write_bytes(path, _png_bytes(pixels_from_known(known, holes)))
