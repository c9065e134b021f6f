"""Masks: the paper's M ("known": 1 = known pixel, 0 = hole, N×1×H×W float).

Files on disk follow painting tools (white = hole) unless told otherwise; conversion happens
here, at the boundary, in one tested function (:func:`known_from_pixels`).

What lives here:

- hole ratio and the two bucket schemes (the paper's four 10 % bins, NVIDIA's six);
- a seeded free-form mask generator (strokes drawn with ``cv2.line`` plus boxes) in three families
  with LaMa / DeepFill-v2-like settings, written from the published algorithm description;
- fixed test-mask sets with an exact count per bucket and a ``manifest.csv``;
- file IO with an explicit polarity flag, and an adapter for a user's copy of the NVIDIA
  irregular test masks (Liu et al. 2018), whose own polarity is white = valid, black = hole.
"""
from __future__ import annotations

import math
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import cv2
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ...io import atomic_write_bytes, atomic_write_text, encode_png, read_pixels, refuse_overwrite

# --------------------------------------------------------------------------------------------
# Hole ratio and buckets
# --------------------------------------------------------------------------------------------

# Bounds are (lower, upper]: lower exclusive, upper inclusive (as bucket_of tests them).
PAPER_BUCKETS: dict[str, tuple[float, float]] = {
    "10-20": (0.1, 0.2), "20-30": (0.2, 0.3), "30-40": (0.3, 0.4), "40-50": (0.4, 0.5),
}
NVIDIA_BUCKETS: dict[str, tuple[float, float]] = {
    "0-10": (0.0, 0.1), "10-20": (0.1, 0.2), "20-30": (0.2, 0.3),
    "30-40": (0.3, 0.4), "40-50": (0.4, 0.5), "50-60": (0.5, 0.6),
}
BUCKET_SCHEMES: dict[str, dict[str, tuple[float, float]]] = {"paper": PAPER_BUCKETS, "nvidia": NVIDIA_BUCKETS}

HOLES = ("white", "black")  # which colour marks a hole in a mask file


def _scheme(scheme: str) -> dict[str, tuple[float, float]]:
    if scheme not in BUCKET_SCHEMES:
        raise ValueError(f"unknown bucket scheme {scheme!r}; choose one of {sorted(BUCKET_SCHEMES)}")
    return BUCKET_SCHEMES[scheme]


def in_bounds(ratio: float, bounds: tuple[float, float]) -> bool:
    """``lo < ratio <= hi``: the one membership test every bucket decision uses."""
    lo, hi = bounds
    return lo < ratio <= hi


def bucket_of(ratio: float, scheme: str = "paper") -> str | None:
    """Name of the bucket holding ``ratio`` (lower bound exclusive, upper inclusive), None outside all."""
    for name, bounds in _scheme(scheme).items():
        if in_bounds(float(ratio), bounds):
            return name
    return None


def hole_ratio(known: torch.Tensor) -> torch.Tensor:
    """Fraction of hole pixels per image, (N,) float64.

    A pixel counts as a hole when ``known < 0.5`` (identical to "is zero" for binary masks).
    float64 so that a ratio sitting on a bucket bound is classified the same way here and in
    the numpy code that wrote the manifest.
    """
    if known.dim() != 4:
        raise ValueError(f"known must be N×1×H×W, got shape {tuple(known.shape)}")
    return (known < 0.5).flatten(1).to(torch.float64).mean(dim=1)


def _ratio_np(hole: np.ndarray) -> float:
    return np.count_nonzero(hole) / hole.size


# --------------------------------------------------------------------------------------------
# Mask growth for PRA
# --------------------------------------------------------------------------------------------

def grow_known(known: torch.Tensor, kernel: int = 15) -> torch.Tensor:
    """Grow the known region by a k×k square max filter (PRA's "dilation"; the hole erodes by k//2 px).

    Batched on any device. Borders behave like scipy's ``grey_dilation(mode='reflect')`` used
    upstream: a max filter never takes values from outside, so padding with -inf is equivalent.
    """
    assert kernel % 2 == 1 and kernel >= 1, f"kernel must be an odd positive size, got {kernel}"
    assert known.dim() == 4 and known.shape[1] == 1, f"known must be N×1×H×W, got {tuple(known.shape)}"
    r = kernel // 2
    padded = F.pad(known, (r, r, r, r), mode="constant", value=float("-inf"))
    return F.max_pool2d(padded, kernel, stride=1)


# --------------------------------------------------------------------------------------------
# Free-form mask generator
# --------------------------------------------------------------------------------------------

REFERENCE_SIZE = 256  # the sizes in StrokeFamily are in pixels at a 256×256 image


@dataclass(frozen=True)
class StrokeFamily:
    """Settings of one free-form family, in pixels at 256×256 (scaled by sqrt(H·W)/256).

    A stroke is a polyline of ``segments`` pieces, each drawn with ``cv2.line`` at one brush
    width; its heading turns by up to ``max_turn`` radians between pieces. Boxes (thick family)
    are axis-aligned rectangles kept ``box_margin`` px from the border.
    """

    strokes: tuple[int, int]
    width: tuple[float, float]
    length: tuple[float, float]
    segments: tuple[int, int] = (1, 5)
    max_turn: float = 2.0
    box_prob: float = 0.0
    boxes: tuple[int, int] = (1, 3)
    box_size: tuple[float, float] = (30.0, 150.0)
    box_margin: float = 10.0


# LaMa's public configs (thin, thick) and DeepFill-v2's free-form settings (medium).
FAMILIES: dict[str, StrokeFamily] = {
    "thin": StrokeFamily(strokes=(4, 50), width=(1.0, 10.0), length=(5.0, 40.0)),
    "medium": StrokeFamily(strokes=(4, 12), width=(5.0, 40.0), length=(10.0, 80.0), segments=(1, 4)),
    "thick": StrokeFamily(strokes=(1, 5), width=(10.0, 100.0), length=(10.0, 200.0),
                          box_prob=0.3, boxes=(1, 3), box_size=(30.0, 150.0), box_margin=10.0),
}


def _family(family: str) -> StrokeFamily:
    if family not in FAMILIES:
        raise ValueError(f"unknown mask family {family!r}; choose one of {sorted(FAMILIES)}")
    return FAMILIES[family]


def _scale(height: int, width: int) -> float:
    return math.sqrt(height * width) / REFERENCE_SIZE


def _draw_stroke(canvas: np.ndarray, rng: np.random.Generator, fam: StrokeFamily, scale: float) -> None:
    """Draw one random polyline stroke (value 1) into ``canvas`` in place."""
    height, width = canvas.shape
    brush = max(1, int(round(rng.uniform(*fam.width) * scale)))
    x, y = rng.uniform(0, width), rng.uniform(0, height)
    heading = rng.uniform(0.0, 2.0 * math.pi)
    for _ in range(int(rng.integers(fam.segments[0], fam.segments[1] + 1))):
        step = rng.uniform(*fam.length) * scale
        nx = float(np.clip(x + step * math.cos(heading), 0, width - 1))
        ny = float(np.clip(y + step * math.sin(heading), 0, height - 1))
        cv2.line(canvas, (int(round(x)), int(round(y))), (int(round(nx)), int(round(ny))), 1, brush)
        x, y = nx, ny
        heading += rng.uniform(-fam.max_turn, fam.max_turn)


def _draw_box(canvas: np.ndarray, rng: np.random.Generator, fam: StrokeFamily, scale: float) -> None:
    """Draw one random axis-aligned box (value 1), kept off the border when the image allows it."""
    height, width = canvas.shape
    margin = int(round(fam.box_margin * scale))
    if min(height, width) - 2 * margin < 2:
        margin = 0
    bh = min(max(1, int(round(rng.uniform(*fam.box_size) * scale))), height - 2 * margin)
    bw = min(max(1, int(round(rng.uniform(*fam.box_size) * scale))), width - 2 * margin)
    top = int(rng.integers(margin, height - margin - bh + 1))
    left = int(rng.integers(margin, width - margin - bw + 1))
    canvas[top:top + bh, left:left + bw] = 1


def _check_size(height: int, width: int) -> None:
    if int(height) < 1 or int(width) < 1:
        raise ValueError(f"mask size must be positive, got height={height}, width={width}")


def generate_hole(height: int, width: int, rng: np.random.Generator, family: str = "medium") -> np.ndarray:
    """A free-form hole map, H×W bool (True = hole), drawn from ``rng`` only (so it is reproducible)."""
    _check_size(height, width)
    fam, scale = _family(family), _scale(height, width)
    canvas = np.zeros((height, width), np.uint8)
    if fam.box_prob > 0 and rng.random() < fam.box_prob:
        for _ in range(int(rng.integers(fam.boxes[0], fam.boxes[1] + 1))):
            _draw_box(canvas, rng, fam, scale)
    for _ in range(int(rng.integers(fam.strokes[0], fam.strokes[1] + 1))):
        _draw_stroke(canvas, rng, fam, scale)
    return canvas.astype(bool)


def known_from_hole(hole: np.ndarray) -> torch.Tensor:
    """H×W bool hole map → 1×1×H×W float known mask."""
    return torch.from_numpy((~np.asarray(hole, bool)).astype(np.float32))[None, None]


def generate_known(height: int, width: int, seed: int, family: str = "medium") -> torch.Tensor:
    """A seeded free-form known mask, 1×1×H×W float (1 = known)."""
    return known_from_hole(generate_hole(height, width, np.random.default_rng(seed), family))


def _sample_in_bucket(height: int, width: int, rng: np.random.Generator, bounds: tuple[float, float],
                      family: str | None, max_rejects: int = 60, max_restarts: int = 500) -> tuple[np.ndarray, str]:
    """Grow a mask stroke by stroke until its ratio enters ``bounds``; return (hole, family used).

    Each attempt first draws a target ratio uniformly inside the bucket and stops once the mask
    reaches it, so ratios spread over the bucket instead of piling up at its lower bound. A stroke or box that would overshoot the upper bound is thrown away and another is drawn;
    after ``max_rejects`` throws in a row the mask restarts from empty. Every draw comes from
    ``rng``, so the result is a function of the generator's state.
    """
    _check_size(height, width)
    lo, hi = bounds
    if not (0.0 <= lo < hi <= 1.0):
        raise ValueError(f"bounds must satisfy 0 <= lo < hi <= 1, got {bounds}")
    if math.floor(hi * height * width) <= lo * height * width:
        raise ValueError(f"no {height}×{width} mask has a hole ratio in ({lo}, {hi}]; use a larger size")
    picked = sorted(FAMILIES)[int(rng.integers(len(FAMILIES)))]  # drawn always, so a manifest row
    family = picked if family is None else family                 # (seed, family) redraws its mask
    fam, scale = _family(family), _scale(height, width)
    for _ in range(max_restarts):
        canvas = np.zeros((height, width), np.uint8)
        target = max(rng.uniform(lo, hi), np.nextafter(lo, 1.0))
        primitives: list[Callable] = []
        if fam.box_prob > 0 and rng.random() < fam.box_prob:
            primitives = [_draw_box] * int(rng.integers(fam.boxes[0], fam.boxes[1] + 1))
        rejects = 0
        while rejects < max_rejects:
            draw = primitives.pop(0) if primitives else _draw_stroke
            candidate = canvas.copy()
            draw(candidate, rng, fam, scale)
            ratio = _ratio_np(candidate)
            if ratio > hi:
                rejects += 1
                continue
            canvas, rejects = candidate, 0
            if ratio >= target:
                return canvas.astype(bool), family
    raise RuntimeError(f"could not draw a {family} mask with hole ratio in ({lo}, {hi}] at {height}×{width} "
                       f"after {max_restarts} restarts; try another family or a larger size")


def sample_hole_in_bucket(height: int, width: int, rng: np.random.Generator,
                          bounds: tuple[float, float] = (0.1, 0.2), family: str | None = None) -> np.ndarray:
    """A free-form hole map (H×W bool, True = hole) whose ratio r satisfies lo < r <= hi.

    ``family=None`` picks one of :data:`FAMILIES` with ``rng``. Deterministic for a given rng state.
    """
    return _sample_in_bucket(height, width, rng, bounds, family)[0]


# --------------------------------------------------------------------------------------------
# Polarity and file IO
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Fixed test-mask sets
# --------------------------------------------------------------------------------------------

MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = ["file", "hole_ratio", "bucket", "scheme", "family", "seed", "height", "width"]


def mask_seed(seed: int, bucket_index: int, item: int) -> int:
    """The seed of one mask in a set: independent streams per (set seed, bucket, item)."""
    return int(np.random.SeedSequence([int(seed), int(bucket_index), int(item)]).generate_state(1)[0])


def _refuse_nonempty(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"{out_dir} exists and is not a folder; choose another --out")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"mask set folder {out_dir} is not empty; pass --overwrite (overwrite=True) to "
                              "replace the set in it, or choose another --out")


def _stale_files(out_dir: Path, keep: Iterable[str]) -> list[Path]:
    """Files the previous manifest listed that the new set does not write (only those are removed)."""
    manifest = out_dir / MANIFEST
    if not manifest.is_file():
        return []
    old = pd.read_csv(manifest)
    keep = set(keep)
    return [out_dir / f for f in old.get("file", pd.Series(dtype=str)).astype(str)
            if f not in keep and "/" not in f and (out_dir / f).is_file()]


def make_mask_set(out_dir: str | os.PathLike, size: int | tuple[int, int], per_bucket: int,
                  scheme: str = "paper", seed: int = 0, overwrite: bool = False, family: str | None = None,
                  holes: str = "white", progress: bool = True) -> pd.DataFrame:
    """Write a fixed test-mask set: exactly ``per_bucket`` PNGs per bucket plus ``manifest.csv``.

    Each mask is reproducible on its own: ``sample_hole_in_bucket(h, w, default_rng(row.seed),
    bounds, row.family)`` redraws it. Files are written atomically and the manifest last, so a
    folder with a manifest is complete. With ``overwrite=True`` only files of the old manifest
    and the new set's names are replaced; nothing else in the folder is touched.
    """
    buckets = _scheme(scheme)
    height, width = _as_size(size)
    if int(per_bucket) < 1:
        raise ValueError(f"per_bucket must be at least 1, got {per_bucket}")
    if family is not None:
        _family(family)
    _check_holes(holes)
    out_dir = Path(out_dir)
    _refuse_nonempty(out_dir, overwrite)
    out_dir.mkdir(parents=True, exist_ok=True)

    rows = []
    with tqdm(total=len(buckets) * per_bucket, desc=f"masks {scheme} {height}×{width}", disable=not progress) as bar:
        for b, (name, bounds) in enumerate(buckets.items()):
            for i in range(per_bucket):
                s = mask_seed(seed, b, i)
                hole, fam = _sample_in_bucket(height, width, np.random.default_rng(s), bounds, family)
                file = f"{name}_{i:05d}.png"
                atomic_write_bytes(out_dir / file, _png_bytes(pixels_from_known(~hole, holes)))
                ratio = _ratio_np(hole)
                assert bucket_of(ratio, scheme) == name, f"mask {file} has ratio {ratio}, outside bucket {name}"
                rows.append(dict(file=file, hole_ratio=ratio, bucket=name, scheme=scheme, family=fam, seed=s,
                                 height=height, width=width))
                bar.update()
    df = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    for stale in _stale_files(out_dir, df["file"]):
        stale.unlink()
    atomic_write_text(out_dir / MANIFEST, df.to_csv(index=False))
    return df


# --------------------------------------------------------------------------------------------
# NVIDIA irregular masks (Liu et al. 2018), user-supplied
# --------------------------------------------------------------------------------------------

NVIDIA_GROUP_SIZE = 2000
NVIDIA_TOLERANCE = 0.02  # slack on each group's bounds when checking polarity (resizing moves edges)
_NVIDIA_NAME = re.compile(r"^(\d+)\.png$", re.IGNORECASE)


class NvidiaMasks:
    """A user's copy of the NVIDIA irregular test masks: ``00000.png`` … ``11999.png``.

    File index // ``group_size`` gives the group (6 groups, hole ratio 0–10 % … 50–60 %). The data
    set stores holes as black (white = valid). ``holes="auto"`` measures a sample under both
    polarities against each group's expected ratio and keeps the one that fits; an explicit
    polarity is checked the same way and refused when it does not fit.
    """

    def __init__(self, root: str | os.PathLike, holes: str = "auto", group_size: int = NVIDIA_GROUP_SIZE,
                 check_per_group: int = 10, tolerance: float = NVIDIA_TOLERANCE):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"NVIDIA mask folder {self.root} does not exist; download the irregular mask "
                                    "test set (Liu et al. 2018) and pass the folder holding 00000.png … 11999.png")
        if group_size < 1:
            raise ValueError(f"group_size must be positive, got {group_size}")
        self.group_size, self.tolerance = int(group_size), float(tolerance)
        self.non_binary = 0  # files read that were not pure black/white (one summary warning in index())
        self.files = self._list_files()
        self.fit = {pol: self._fit(pol, check_per_group) for pol in HOLES}
        self.holes = self._choose(holes)

    def _list_files(self) -> list[Path]:
        files = sorted(p for p in self.root.iterdir() if p.suffix.lower() == ".png")
        if not files:
            raise FileNotFoundError(f"NVIDIA mask folder {self.root} holds no .png files; point --root at the folder "
                                    "with 00000.png … 11999.png (unpack the archive first)")
        limit = len(NVIDIA_BUCKETS) * self.group_size
        for p in files:
            m = _NVIDIA_NAME.match(p.name)
            if not m:
                raise ValueError(f"{p}: NVIDIA masks are named by index (00000.png …); rename or remove this file")
            if int(m.group(1)) >= limit:
                raise ValueError(f"{p}: index {int(m.group(1))} is past 6 groups of {self.group_size}; "
                                 "pass the right group_size (--group-size)")
        return files

    def __len__(self) -> int:
        return len(self.files)

    def group_of(self, path: Path) -> str:
        """Bucket the data set assigns to a file by its index."""
        index = int(_NVIDIA_NAME.match(path.name).group(1))
        return list(NVIDIA_BUCKETS)[index // self.group_size]

    def _sample(self, per_group: int) -> list[Path]:
        by_group: dict[str, list[Path]] = {}
        for p in self.files:
            by_group.setdefault(self.group_of(p), []).append(p)
        picked = []
        for files in by_group.values():
            idx = np.unique(np.linspace(0, len(files) - 1, min(per_group, len(files))).round().astype(int))
            picked += [files[i] for i in idx]
        return picked

    def _fit(self, holes: str, per_group: int) -> float:
        """Share of sampled files whose hole ratio under ``holes`` lies in its group's bounds (± tolerance)."""
        hits = []
        for p in self._sample(per_group):
            ratio = _ratio_np(self._known(p, holes) < 0.5)
            lo, hi = NVIDIA_BUCKETS[self.group_of(p)]
            hits.append(lo - self.tolerance <= ratio <= hi + self.tolerance)
        return float(np.mean(hits))

    def _choose(self, holes: str, min_fit: float = 0.9) -> str:
        if holes != "auto":
            _check_holes(holes, str(self.root))
        best = max(HOLES, key=self.fit.get)
        summary = ", ".join(f"holes={pol!r}: {self.fit[pol]:.0%} of sampled masks in their group's ratio range"
                            for pol in HOLES)
        if self.fit[best] < min_fit or self.fit["white"] == self.fit["black"]:
            raise ValueError(f"{self.root}: neither polarity fits the NVIDIA groups ({summary}). Is this the NVIDIA "
                             f"irregular test set with files grouped by {self.group_size} (see --group-size)?")
        if holes != "auto" and holes != best:
            raise ValueError(f"{self.root}: holes={holes!r} does not fit this folder but holes={best!r} does "
                             f"({summary}); pass holes={best!r} (or 'auto')")
        return best

    def _known(self, path: Path, holes: str, size: tuple[int, int] | None = None) -> np.ndarray:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            known = known_from_pixels(read_grey(path), holes, name=str(path))
        self.non_binary += bool(caught)
        return resize_nearest(known, size) if size is not None else known

    def load(self, index: int, size: int | tuple[int, int] | None = None) -> torch.Tensor:
        """Mask ``index`` (position in the sorted file list) as 1×1×H×W known."""
        known = self._known(self.files[index], self.holes, _as_size(size))
        return torch.from_numpy(np.ascontiguousarray(known))[None, None]

    def index(self, size: int | tuple[int, int] | None = None, progress: bool = True) -> pd.DataFrame:
        """Measure and bucket every mask (at ``size`` after nearest resize, else native): one row per file."""
        target, rows, self.non_binary = _as_size(size), [], 0
        for p in tqdm(self.files, desc="NVIDIA masks", disable=not progress):
            known = self._known(p, self.holes, target)
            ratio = _ratio_np(known < 0.5)
            rows.append(dict(file=p.name, hole_ratio=ratio, bucket=bucket_of(ratio, "nvidia"), scheme="nvidia",
                             family="nvidia", seed=-1, height=known.shape[0], width=known.shape[1],
                             group=self.group_of(p), paper_bucket=bucket_of(ratio, "paper"), holes=self.holes))
        if self.non_binary:
            warnings.warn(f"{self.root}: {self.non_binary} mask files were not pure black/white; binarised at "
                          f"{BINARY_THRESHOLD}", stacklevel=2)
        return pd.DataFrame(rows, columns=MANIFEST_COLUMNS + ["group", "paper_bucket", "holes"])


def index_nvidia_masks(root: str | os.PathLike, out: str | os.PathLike, size: int | tuple[int, int] | None = None,
                       holes: str = "auto", group_size: int = NVIDIA_GROUP_SIZE, overwrite: bool = False,
                       progress: bool = True) -> pd.DataFrame:
    """Check the polarity of a NVIDIA mask folder, bucket every mask and write a manifest CSV atomically.

    ``bucket`` is the NVIDIA bucket measured (at ``size`` if given), ``group`` the one the file
    index implies, ``paper_bucket`` the paper's bucket (empty outside 10–50 %).
    """
    refuse_overwrite(out, overwrite, what="manifest")
    df = NvidiaMasks(root, holes=holes, group_size=group_size).index(size=size, progress=progress)
    atomic_write_text(out, df.to_csv(index=False))
    return df


def add_cli(sub) -> None:
    """Transitional: ``isnet masks`` lives in :mod:`isnet.method.cli`; delete this once ``isnet/cli.py`` calls it."""
    from ..cli import add_cli as add_masks_cli

    add_masks_cli(sub)
