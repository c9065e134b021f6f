"""Image sources, transforms, training masks, fixed evaluation pairs and the data loader.

Sources (``SOURCES``, built by name with :func:`build_source`):

- ``samples``: the 8 colour photos installed Python dependencies ship; works right after pip install.
- ``photos``: the offline pool of ~240 photos from Debian packages, split by near-duplicate group
  (see :mod:`isnet.photos`; ``isnet data fetch photos`` builds it).
- ``folder``: any directory (recursive) or an ``.flist`` file of image paths.
- ``celeba``: ``img_align_celeba/`` + ``list_eval_partition.txt`` (partitions 0/1/2).
- ``places2``: the Places365-Standard layout as ``torchvision.datasets.Places365`` downloads it.

Every source has ``.ids``, ``.paths``, ``len()``, ``load(i) -> H×W×3 float32 in [0, 1]`` and
``describe()``. Images are read with Pillow; grey, RGBA, palette and 16-bit files are converted, and
a corrupt or truncated file raises :class:`BadImageError`, which the datasets turn into a counted,
reported skip — never into a silent substitute (the authors' loader falls back to item 0).

Training follows the authors' pipeline (centre square crop, antialiased bilinear resize, joint
horizontal flip p=0.5, random rot90 of the mask only); ``crop="random"`` (ours) takes square crops at
a random scale instead, which suits a small photo pool at small sizes. Every random choice comes
from a per-sample generator seeded by (seed, epoch, index), so batches do not depend on the number
of loader workers. Evaluation is deterministic (centre crop + resize) on a fixed pairs manifest.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler, default_collate

from .. import io as _io
from . import photos as _photos
from ..io import atomic_write_text, refuse_overwrite, sha256_file

log = logging.getLogger(__name__)

# The authors' scripts/flist.py keeps .jpg/.jpeg/.png/.tif (case-insensitive); we also accept
# .tiff (flist.py means to, but its entry lacks the dot) and .webp.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp")


BadImageError = _io.BadImageError  # defined beside the one image reader (isnet.io.read_pixels)


class ImageTooSmallError(ValueError):
    """An image whose crop is smaller than the requested size while upscaling is off."""


# --------------------------------------------------------------------------------------------
# Reading images
# --------------------------------------------------------------------------------------------

def read_image(path: str | os.PathLike, min_short: int | None = None) -> np.ndarray:
    """Read any Pillow-readable image as H×W×3 float32 in [0, 1], at its true intensities.

    The one reader (:func:`isnet.io.read_pixels`) is shared with masks and ``isnet inpaint``: 16-bit,
    32-bit integer and float grey, palette, CMYK and 16-bit RGB files come in at their true intensity;
    alpha is dropped (not composited), as PIL's ``convert("RGB")`` and the authors' imread do.

    ``min_short``: decode faster by shrinking (JPEG DCT scaling, else an integer box reduction)
    while the short side stays ≥ ``min_short``; used for training at small sizes, never for
    evaluation. Raises FileNotFoundError for a missing file and :class:`BadImageError` (naming the
    file) for one that cannot be decoded.
    """
    return _io.read_pixels(path, "image", min_short).rgb


# --------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------

class ImageSource:
    """A list of image files with stable ids. Subclasses only decide what the list is."""

    name = "files"
    licence = "unknown"
    note = ""

    def __init__(self, paths: Sequence[str | os.PathLike], ids: Sequence[str] | None = None, split: str = "all",
                 root: str | os.PathLike | None = None):
        self.paths = [Path(p) for p in paths]
        self.ids = list(ids) if ids is not None else [str(p) for p in self.paths]
        assert len(self.ids) == len(self.paths), "one id per path"
        self.split = split
        self.root = Path(root) if root is not None else None
        self._index: dict[str, int] | None = None

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, i: int, min_short: int | None = None) -> np.ndarray:
        """Image ``i`` as H×W×3 float32 in [0, 1] (see :func:`read_image`)."""
        return read_image(self.paths[i], min_short)

    def index_of(self, image_id: str) -> int:
        if self._index is None:
            self._index = {k: i for i, k in enumerate(self.ids)}
        if image_id not in self._index:
            raise KeyError(f"image id {image_id!r} is not in source {self.name!r} (split {self.split!r}, "
                           f"{len(self)} images)")
        return self._index[image_id]

    def licences(self) -> dict[str, int]:
        return {self.licence: len(self)}

    def describe(self) -> dict[str, Any]:
        """One row of the data table (the paper's Table 4 analogue)."""
        return dict(name=self.name, split=self.split, count=len(self), licence=licence_summary(self.licences()),
                    root=str(self.root) if self.root else "", note=self.note)


def licence_summary(counts: dict[str, int], top: int = 4) -> str:
    """"GPL-3+ (117), BSD-3-Clause (27), … +5 more": licence families by count, details dropped."""
    fam: dict[str, int] = {}
    for lic, n in counts.items():
        key = lic.split(" (")[0].strip()
        key = "public-domain" if key.lower().replace(" ", "-") == "public-domain" else key
        fam[key] = fam.get(key, 0) + int(n)
    ranked = sorted(fam.items(), key=lambda kv: (-kv[1], kv[0]))
    text = ", ".join(f"{k} ({v})" for k, v in ranked[:top])
    return text + (f", +{len(ranked) - top} more" if len(ranked) > top else "")


def _list_images(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def _read_flist(flist: Path) -> list[Path]:
    base = flist.parent
    out = []
    for line in flist.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            p = Path(line)
            out.append(p if p.is_absolute() else base / p)
    return out


class FolderSource(ImageSource):
    """Every image under a directory (recursive, sorted), or the paths listed in an ``.flist`` file.

    Extensions kept (case-insensitive): .jpg .jpeg .png .tif (as the authors' flist.py) plus .tiff
    and .webp. Ids are paths relative to the folder (as written, for an flist).
    """

    name = "folder"
    licence = "user-supplied"

    def __init__(self, root: str | os.PathLike, split: str = "all"):
        root = Path(root)
        if not root.exists():
            raise FileNotFoundError(f"image folder or .flist {root} does not exist")
        if root.is_file():
            paths = _read_flist(root)
            ids = [line.strip() for line in root.read_text().splitlines() if line.strip() and not line.startswith("#")]
            what = f"file list {root}"
        else:
            paths = _list_images(root)
            ids = [p.relative_to(root).as_posix() for p in paths]
            what = f"folder {root} (searched recursively for {', '.join(IMAGE_EXTENSIONS)})"
        if not paths:
            raise FileNotFoundError(f"no images in {what}; point root at a folder of photos or an .flist file")
        super().__init__(paths, ids, split, root)


class SamplesSource(ImageSource):
    """The colour photos that installed dependencies ship (scikit-image, scikit-learn, matplotlib)."""

    name = "samples"
    note = "demo only: no split, the same 8 photos serve every split"
    IDS = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "china", "flower", "grace_hopper")

    def __init__(self, split: str = "all"):
        if split not in ("all", "train", "val", "test"):
            raise ValueError(f"samples has no split {split!r}; use 'all' (or train/val/test, which are the same)")
        table = {p.id.split("-", 1)[1]: p for p in _photos.PYPI_PHOTOS}
        self._photos = [table[i] for i in self.IDS]
        super().__init__([_photos.pypi_photo_path(p) for p in self._photos], list(self.IDS), split)

    def licences(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self._photos:
            out[p.licence] = out.get(p.licence, 0) + 1
        return out


class PhotoSource(ImageSource):
    """The offline photo pool (``isnet data fetch photos``), one split of the committed manifest.

    Checksums are verified on construction: a missing or changed file is an error naming it and
    the command that repairs it.
    """

    name = "photos"
    note = "offline pool from Debian packages and PyPI wheels; split by near-duplicate group"

    def __init__(self, split: str = "train", manifest: str | os.PathLike | None = None,
                 root: str | os.PathLike | None = None, verify: bool = True):
        df = _photos.read_manifest(manifest)
        if split != "all":
            if split not in _photos.SPLITS:
                raise ValueError(f"photos has splits {list(_photos.SPLITS)} (or 'all'), not {split!r}")
            df = df[df["split"] == split]
        df = df.sort_values("id").reset_index(drop=True)
        root = Path(root) if root is not None else _photos.photo_root()
        paths = _photos.verify_files(df, root) if verify else [root / f for f in df["file"]]
        self.table = df
        super().__init__(paths, list(df["id"]), split, root)

    def licences(self) -> dict[str, int]:
        return self.table["licence"].value_counts().to_dict()

    def describe(self) -> dict[str, Any]:
        row = super().describe()
        row["groups"] = int(self.table["group"].nunique())
        row["packages"] = ", ".join(sorted(self.table["package"].unique()))
        return row


CELEBA_SPLITS = {"train": 0, "val": 1, "test": 2}


class CelebASource(ImageSource):
    """CelebA aligned faces: ``root/img_align_celeba/`` and ``root/list_eval_partition.txt``.

    Also accepts the official archive layout (``Img/img_align_celeba``, ``Eval/list_eval_partition.txt``).
    Partitions 0/1/2 are train/val/test. The 178×218 images are centre-cropped to 178×178 by the
    square crop of every transform, as EdgeConnect and the authors do.
    """

    name = "celeba"
    licence = "CelebA agreement: non-commercial research and education only"

    def __init__(self, root: str | os.PathLike, split: str = "train"):
        root = Path(root)
        if split not in (*CELEBA_SPLITS, "all"):
            raise ValueError(f"celeba has splits {list(CELEBA_SPLITS)} (or 'all'), not {split!r}")
        images = _first_existing([root / "img_align_celeba", root / "Img" / "img_align_celeba"])
        partition = _first_existing([root / "list_eval_partition.txt", root / "Eval" / "list_eval_partition.txt"])
        if images is None:
            raise FileNotFoundError(f"CelebA images not found: expected {root / 'img_align_celeba'}/ (unzip "
                                    "img_align_celeba.zip there)")
        if partition is None:
            raise FileNotFoundError(f"CelebA partition file not found: expected {root / 'list_eval_partition.txt'}")
        names = []
        for n, line in enumerate(partition.read_text().splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise ValueError(f"{partition}:{n}: expected '<file> <0|1|2>', got {line!r}")
            if split == "all" or int(parts[1]) == CELEBA_SPLITS[split]:
                names.append(parts[0])
        if not names:
            raise ValueError(f"{partition} lists no images for split {split!r}")
        super().__init__([images / n for n in names], names, split, root)


def _first_existing(paths: Iterable[Path]) -> Path | None:
    return next((p for p in paths if p.exists()), None)


PLACES_SPLITS = {"train": "train-standard", "val": "val", "test": "test"}
_PLACES_LISTS = {"train-standard": "places365_train_standard.txt", "val": "places365_val.txt",
                 "test": "places365_test.txt"}


def places_images_dir(root: Path, split: str, small: bool) -> list[Path]:
    """Candidate image folders of a Places365 split (torchvision renames ``data_256`` to ``data_256_standard``)."""
    size = "256" if small else "large"
    if split.startswith("train"):
        return [root / f"data_{size}_standard", root / f"data_{size}"]
    return [root / f"{split}_{size}"]


class Places2Source(ImageSource):
    """Places365-Standard as torchvision lays it out: file lists in ``root``, images in
    ``data_256_standard/`` (train), ``val_256/``, ``test_256/`` (``*_large`` with ``small=False``).

    ``download=True`` hands over to ``torchvision.datasets.Places365(root, split, small, download=True)``
    first (the real download, tens of GB); we then read the same files it wrote. The paper's Places2
    test images are the 36,500-image val split.
    """

    name = "places2"
    licence = "Places365 terms: images belong to their owners; research and education use"

    def __init__(self, root: str | os.PathLike, split: str = "train", small: bool = True, download: bool = False):
        root = Path(root)
        if split not in PLACES_SPLITS:
            raise ValueError(f"places2 has splits {list(PLACES_SPLITS)}, not {split!r}")
        tv_split = PLACES_SPLITS[split]
        if download:
            from torchvision.datasets import Places365

            Places365(str(root), split=tv_split, small=small, download=True)
        listing = root / _PLACES_LISTS[tv_split]
        if not listing.is_file():
            raise FileNotFoundError(f"Places365 file list {listing} not found; download the devkit "
                                    "(filelist_places365-standard.tar) into {root} or pass download=True")
        images = _first_existing(places_images_dir(root, tv_split, small))
        if images is None:
            raise FileNotFoundError(f"Places365 images for split {split!r} not found: expected "
                                    f"{places_images_dir(root, tv_split, small)[0]}/ (or pass download=True)")
        ids = [line.split()[0].lstrip("/") for line in listing.read_text().splitlines() if line.strip()]
        if not ids:
            raise ValueError(f"{listing} lists no images")
        super().__init__([images / i for i in ids], ids, split, root)
        self.note = f"{'small (256 px)' if small else 'large'} images, torchvision split {tv_split!r}"


SOURCES: dict[str, Callable[..., ImageSource]] = {
    "samples": SamplesSource,
    "photos": PhotoSource,
    "folder": FolderSource,
    "celeba": CelebASource,
    "places2": Places2Source,
}


def build_source(name: str, **opts: Any) -> ImageSource:
    """Build an image source by name (``SOURCES``); ``opts`` are its keyword arguments."""
    if name not in SOURCES:
        raise ValueError(f"unknown image source {name!r}; choose one of {sorted(SOURCES)}")
    return SOURCES[name](**opts)


# --------------------------------------------------------------------------------------------
# Transforms
# --------------------------------------------------------------------------------------------

def to_tensor(img: np.ndarray) -> torch.Tensor:
    """H×W×3 float array → 3×H×W float tensor."""
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


def resize(image: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Bilinear, antialiased resize of a 3×H×W (or N×3×H×W) tensor; values stay in [0, 1]."""
    hw = (size, size) if isinstance(size, int) else tuple(size)
    batched = image.dim() == 4
    x = image if batched else image[None]
    if tuple(x.shape[-2:]) != hw:
        x = F.interpolate(x, size=hw, mode="bilinear", antialias=True, align_corners=False).clamp_(0.0, 1.0)
    return x if batched else x[0]


def center_box(height: int, width: int) -> tuple[int, int, int]:
    """The largest centred square: (top, left, side)."""
    side = min(height, width)
    return (height - side) // 2, (width - side) // 2, side


def _check_side(side: int, size: int, upscale: bool, where: str) -> None:
    if side >= size:
        return
    if not upscale:
        raise ImageTooSmallError(f"{where}: the {side}×{side} crop is smaller than the requested {size}×{size}; "
                                 "pass upscale=True (--upscale) to enlarge it, or choose a smaller size")
    if size not in _UPSCALE_WARNED:  # once per size and process; every case goes to the log
        warnings.warn(f"upscaling crops smaller than {size}px (first: {where}, {side}px); upscale=True was asked",
                      stacklevel=3)
        _UPSCALE_WARNED.add(size)
    log.info("upscaling %s from %d to %d px", where, side, size)


_UPSCALE_WARNED: set[int] = set()


def crop_resize(img: np.ndarray, box: tuple[int, int, int], size: int) -> torch.Tensor:
    top, left, side = box
    return resize(to_tensor(img[top:top + side, left:left + side]), size)


def eval_transform(img: np.ndarray, size: int, upscale: bool = False, where: str = "image") -> torch.Tensor:
    """Deterministic evaluation view: centre square crop, then antialiased bilinear resize → 3×size×size."""
    box = center_box(*img.shape[:2])
    _check_side(box[2], size, upscale, where)
    return crop_resize(img, box, size)


def _random_box(height: int, width: int, size: int, rng: np.random.Generator,
                scale: tuple[float, float]) -> tuple[int, int, int]:
    """A square crop whose side is a random fraction of the short side (never below ``size`` when possible)."""
    short = min(height, width)
    side = int(round(rng.uniform(*scale) * short))
    side = max(min(side, short), min(size, short), 1)
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(0, width - side + 1))
    return top, left, side


CROPS: dict[str, Callable[..., tuple[int, int, int]]] = {
    "center": lambda h, w, size, rng, scale: center_box(h, w),   # the authors' pipeline
    "random": _random_box,                                         # ours: random square crop at random scale
}


@dataclass(frozen=True)
class Augment:
    """Training view: crop + resize, joint horizontal flip, rot90 of the mask only.

    ``crop="center"`` with the defaults is the authors' pipeline (docs/authors-code.md §10). ``crop="random"`` is
    ours: a square crop with side ``uniform(*scale)`` × the short side at a random place.
    """

    size: int
    crop: str = "center"
    scale: tuple[float, float] = (0.25, 1.0)
    hflip: float = 0.5
    rot90_mask: bool = True
    upscale: bool = False

    def __post_init__(self) -> None:
        if self.crop not in CROPS:
            raise ValueError(f"unknown crop {self.crop!r}; choose one of {sorted(CROPS)}")
        lo, hi = self.scale
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"scale must satisfy 0 < lo <= hi <= 1, got {self.scale}")
        if self.size < 1:
            raise ValueError(f"size must be positive, got {self.size}")

    def decode_short_side(self) -> int:
        """The short side an image may be shrunk to before cropping without losing resolution."""
        return math.ceil(self.size / (self.scale[0] if self.crop == "random" else 1.0))

    def image(self, img: np.ndarray, rng: np.random.Generator, where: str) -> tuple[torch.Tensor, bool]:
        box = CROPS[self.crop](img.shape[0], img.shape[1], self.size, rng, self.scale)
        _check_side(box[2], self.size, self.upscale, where)
        out = crop_resize(img, box, self.size)
        flip = bool(rng.random() < self.hflip)
        return (out.flip(-1) if flip else out), flip

    def mask(self, known: torch.Tensor, flip: bool, rng: np.random.Generator) -> torch.Tensor:
        k = int(rng.integers(0, 4)) if self.rot90_mask else 0
        if flip:
            known = known.flip(-1)
        return torch.rot90(known, k, dims=(-2, -1)) if k else known


# --------------------------------------------------------------------------------------------
# Mask sources for training
# --------------------------------------------------------------------------------------------

class GeneratedMasks:
    """Free-form masks from :mod:`isnet.masks`, drawn from the per-sample generator.

    ``family=None`` picks a family per sample (uniformly among ``isnet.masks.FAMILIES``).
    ``buckets="paper"`` draws masks as the evaluation pairs are drawn: a hole-ratio bucket uniformly
    (10–20 … 40–50 %), then a mask whose ratio lies in it, so training sees the evaluation's mask
    distribution (families and hole sizes) rather than one family's unbounded ratios.
    """

    kind = "generated"

    def __init__(self, family: str | None = None, buckets: str | None = None):
        from ..method import masks

        if family is not None and family not in masks.FAMILIES:
            raise ValueError(f"unknown mask family {family!r}; choose one of {sorted(masks.FAMILIES)}")
        if buckets is not None and buckets not in masks.BUCKET_SCHEMES:
            raise ValueError(f"unknown bucket scheme {buckets!r}; choose one of {sorted(masks.BUCKET_SCHEMES)}")
        self.family, self.buckets = family, buckets

    def sample(self, rng: np.random.Generator, size: int) -> torch.Tensor:
        from ..method import masks

        if self.buckets is not None:
            bounds = list(masks.BUCKET_SCHEMES[self.buckets].values())
            hole = masks.sample_hole_in_bucket(size, size, rng, bounds[int(rng.integers(len(bounds)))], self.family)
        else:
            family = self.family or sorted(masks.FAMILIES)[int(rng.integers(len(masks.FAMILIES)))]
            hole = masks.generate_hole(size, size, rng, family)
        return torch.from_numpy((~hole).astype(np.float32))[None]

    def describe(self) -> str:
        what = f"generated ({self.family or 'mixed families'})"
        return what + (f", hole ratios as the {self.buckets} buckets" if self.buckets else "")


class FileMasks:
    """A random mask file per sample, like the authors' ``MASK: 3`` (uniform choice, resized, binarised).

    ``source``: a folder (recursive), an ``.flist`` of mask paths, or a mask-set ``manifest.csv``
    (``isnet masks make`` / ``isnet masks nvidia``; paths relative to its folder). ``holes``: which
    colour marks a hole in the files; ``"auto"`` with a NVIDIA folder detects it.
    """

    kind = "files"

    def __init__(self, source: str | os.PathLike, holes: str = "white"):
        from ..method import masks

        source = Path(source)
        if not source.exists():
            raise FileNotFoundError(f"mask source {source} does not exist (a folder, an .flist or a manifest.csv)")
        self._nvidia = None
        if holes == "auto":
            self._nvidia = masks.NvidiaMasks(source)
            self.paths = list(self._nvidia.files)
            holes = self._nvidia.holes
        elif source.suffix.lower() == ".csv":
            df = pd.read_csv(source)
            if "file" not in df.columns:
                raise ValueError(f"{source} has no 'file' column; expected a mask-set manifest")
            self.paths = [source.parent / f for f in df["file"]]
        elif source.is_file():
            self.paths = _read_flist(source)
        else:
            self.paths = sorted(p for p in source.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp"))
        if not self.paths:
            raise FileNotFoundError(f"no mask files in {source}")
        self.source, self.holes = source, holes

    def sample(self, rng: np.random.Generator, size: int) -> torch.Tensor:
        from ..method import masks

        path = self.paths[int(rng.integers(len(self.paths)))]
        return masks.load_known(path, size=(size, size), holes=self.holes)[0]

    def describe(self) -> str:
        return f"{len(self.paths)} mask files from {self.source} (holes={self.holes})"


MASK_SOURCES: dict[str, Callable[..., Any]] = {"generated": GeneratedMasks, "files": FileMasks}


def build_mask_source(spec: str | os.PathLike | Any = "generated", **opts: Any) -> Any:
    """``"generated"`` (optionally ``family=``), or a folder / .flist / manifest.csv of mask files
    (``holes="white"|"black"|"auto"``), or an object with ``sample(rng, size)``."""
    if hasattr(spec, "sample"):
        return spec
    if isinstance(spec, str) and spec in MASK_SOURCES:
        return MASK_SOURCES[spec](**opts)
    return FileMasks(spec, **opts)


# --------------------------------------------------------------------------------------------
# Datasets
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Skipped:
    """Stands in for an item whose image could not be decoded; the collate function drops it."""

    index: int
    path: str
    reason: str


def _sample_rngs(seed: int, epoch: int, index: int, n: int = 2) -> list[np.random.Generator]:
    """Independent per-sample generators (image, mask) from (seed, epoch, index) alone."""
    ss = np.random.SeedSequence([int(seed), int(epoch), int(index)])
    return [np.random.default_rng(s) for s in ss.spawn(n)]


class TrainDataset(Dataset):
    """Training samples: ``{"image": 3×S×S, "known": 1×S×S, "index": int}``.

    Items are keyed by index or by ``(epoch, index)`` (what :func:`build_loader`'s sampler yields),
    and every random draw comes from generators seeded by (seed, epoch, index). An unreadable image
    yields a :class:`Skipped` marker (and a warning); :attr:`skipped` collects them in the process
    that iterates (``build_loader`` gathers them from its workers).
    """

    def __init__(self, source: ImageSource, size: int, masks: Any = "generated", seed: int = 0,
                 crop: str = "center", scale: tuple[float, float] = (0.25, 1.0), hflip: float = 0.5,
                 rot90_mask: bool = True, upscale: bool = False, fast_decode: bool = True,
                 cache: bool = False, mask_opts: dict[str, Any] | None = None):
        if len(source) == 0:
            raise ValueError(f"source {source.name!r} (split {source.split!r}) has no images")
        self.source, self.seed, self.epoch = source, int(seed), 0
        self.augment = Augment(size, crop, tuple(scale), hflip, rot90_mask, upscale)
        self.masks = build_mask_source(masks, **(mask_opts or {}))
        self.fast_decode, self.cache = fast_decode, cache
        self._decoded: dict[int, np.ndarray] = {}
        self.skipped: list[Skipped] = []

    def __len__(self) -> int:
        return len(self.source)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any] | Skipped:
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        rng_image, rng_mask = _sample_rngs(self.seed, epoch, index)
        path = str(self.source.paths[index])
        try:
            img = self._load(index)
        except BadImageError as e:
            warnings.warn(f"skipping unreadable image: {e}", stacklevel=2)
            skip = Skipped(int(index), path, str(e))
            self.skipped.append(skip)
            return skip
        image, flip = self.augment.image(img, rng_image, path)
        known = self.augment.mask(self.masks.sample(rng_mask, self.augment.size), flip, rng_image)
        return {"image": image, "known": known, "index": int(index)}

    def _load(self, index: int) -> np.ndarray:
        """Decode (shrunk for speed when ``fast_decode``); with ``cache`` keep a uint8 copy per process,
        which suits the small photo pool (≈70 MB at 64 px) but not Places2."""
        if index in self._decoded:
            return self._decoded[index].astype(np.float32) / 255.0
        img = self.source.load(index, self.augment.decode_short_side() if self.fast_decode else None)
        if self.cache:
            self._decoded[index] = np.round(img * 255.0).astype(np.uint8)
            return self._decoded[index].astype(np.float32) / 255.0
        return img

    def describe(self) -> dict[str, Any]:
        row = self.source.describe()
        row.update(size=self.augment.size, crop=self.augment.crop, masks=self.masks.describe())
        return row


# --------------------------------------------------------------------------------------------
# Fixed evaluation pairs
# --------------------------------------------------------------------------------------------

PAIRS_COLUMNS = ["pair", "image_id", "image_sha256", "mask_file", "mask_sha256", "bucket", "hole_ratio",
                 "family", "mask_seed", "scheme", "size", "source", "split", "seed"]


def _sidecar(out: Path) -> Path:
    return out.with_suffix(out.suffix + ".json")


def _mask_dir(out: Path) -> Path:
    return out.with_name(out.stem + "_masks")


def make_pairs(source: str, split: str, size: int, per_bucket: int, out: str | os.PathLike,
               scheme: str = "paper", seed: int = 0, family: str | None = None, overwrite: bool = False,
               upscale: bool = False, source_opts: dict[str, Any] | None = None, progress: bool = True) -> pd.DataFrame:
    """Write a fixed evaluation-pairs manifest: ``per_bucket`` (image, mask) pairs per hole-ratio bucket.

    Masks come from :func:`isnet.masks.make_mask_set` (seeded per (seed, bucket, item), stored as
    PNGs in ``<out stem>_masks/`` with their own manifest, and redrawable from ``mask_seed`` and
    ``family``). Item ``i`` of every bucket uses the same image — the ``i``-th of a seeded
    permutation of the source (cycled when ``per_bucket`` exceeds it) — so buckets are paired by
    image too. Unreadable images are left out of the permutation, with a warning. Every method,
    seed and PRA setting scored on this file sees identical pairs. A ``.json`` sidecar records
    how to rebuild the source.
    """
    from ..method import masks

    out = Path(out)
    refuse_overwrite(out, overwrite, what="pairs manifest")
    opts = dict(source_opts or {})
    src = build_source(source, split=split, **opts)
    order = [int(i) for i in np.random.default_rng([int(seed), 0x5EED]).permutation(len(src))]
    usable, bad = [], []
    for i in order:
        if len(usable) >= per_bucket:
            break
        try:
            eval_transform(src.load(i), size, upscale, where=str(src.paths[i]))
            usable.append(i)
        except BadImageError as e:
            warnings.warn(f"leaving an unreadable image out of the pairs: {e}", stacklevel=2)
            bad.append(str(src.paths[i]))
    if not usable:
        raise ValueError(f"source {source!r} split {split!r}: no readable images for evaluation pairs")
    mask_dir = _mask_dir(out)
    mdf = masks.make_mask_set(mask_dir, size, per_bucket, scheme=scheme, seed=seed, overwrite=overwrite,
                              family=family, progress=progress)
    rows = []
    image_sha = {i: sha256_file(src.paths[i]) for i in usable}
    for b, (bucket, group) in enumerate(mdf.groupby("bucket", sort=False)):
        for item, m in enumerate(group.itertuples(index=False)):
            i = usable[item % len(usable)]
            rows.append(dict(pair=f"{bucket}_{item:05d}", image_id=src.ids[i], image_sha256=image_sha[i],
                             mask_file=f"{mask_dir.name}/{m.file}",
                             mask_sha256=sha256_file(mask_dir / m.file), bucket=bucket, hole_ratio=m.hole_ratio,
                             family=m.family, mask_seed=m.seed, scheme=scheme, size=size, source=source,
                             split=split, seed=seed))
    df = pd.DataFrame(rows, columns=PAIRS_COLUMNS)
    meta = dict(source=source, source_opts={k: str(v) if isinstance(v, Path) else v for k, v in opts.items()},
                split=split, size=size, per_bucket=per_bucket, scheme=scheme, seed=seed, family=family,
                upscale=upscale, mask_dir=mask_dir.name, images=len(usable), unreadable=bad,
                masks_reproduce="isnet.masks.sample_hole_in_bucket(size, size, numpy.random.default_rng(mask_seed), "
                                "bounds of bucket, family)")
    atomic_write_text(_sidecar(out), json.dumps(meta, indent=1))
    atomic_write_text(out, df.to_csv(index=False))
    return df


class PairsDataset(Dataset):
    """The fixed evaluation pairs of a manifest from :func:`make_pairs`.

    Yields ``(image 3×S×S, known 1×S×S, meta)``; the default collate makes N×3×S×S batches.
    ``source`` overrides the source rebuilt from the sidecar (e.g. data moved to another machine);
    ``source_opts`` updates its options (e.g. ``{"root": NEW_ROOT}``). ``verify`` checks every
    image's and mask's SHA-256 against the manifest, so a changed file cannot slip into a score.
    """

    def __init__(self, manifest: str | os.PathLike, source: ImageSource | None = None,
                 source_opts: dict[str, Any] | None = None, verify: bool = True):
        manifest = Path(manifest)
        if not manifest.is_file():
            raise FileNotFoundError(f"pairs manifest {manifest} does not exist; write one with `isnet data pairs`")
        side = _sidecar(manifest)
        if not side.is_file():
            raise FileNotFoundError(f"{side} (written beside the manifest by `isnet data pairs`) is missing")
        self.meta = json.loads(side.read_text())
        self.table = pd.read_csv(manifest, keep_default_na=False)
        missing = [c for c in PAIRS_COLUMNS if c not in self.table.columns]
        if missing:
            raise ValueError(f"{manifest} lacks columns {missing}; rewrite it with `isnet data pairs`")
        if source is None:
            opts = {**self.meta.get("source_opts", {}), **(source_opts or {})}
            source = build_source(self.meta["source"], split=self.meta["split"], **opts)
        self.source = source
        self.size, self.upscale = int(self.meta["size"]), bool(self.meta.get("upscale", False))
        self.base = manifest.parent
        self.indices = [source.index_of(i) for i in self.table["image_id"]]
        self.skipped: list[Skipped] = []
        if verify:
            self._verify()

    def _verify(self) -> None:
        bad = []
        for row, i in zip(self.table.itertuples(index=False), self.indices):
            mask = self.base / row.mask_file
            if not mask.is_file() or sha256_file(mask) != row.mask_sha256:
                bad.append(f"mask {mask}")
        for i, sha in {i: s for i, s in zip(self.indices, self.table["image_sha256"])}.items():
            path = self.source.paths[i]
            if not path.is_file() or sha256_file(path) != sha:
                bad.append(f"image {path}")
        if bad:
            raise ValueError(f"{len(bad)} file(s) of the pairs manifest are missing or changed: "
                             f"{', '.join(bad[:6])}{' …' if len(bad) > 6 else ''}; restore them or write a new "
                             "manifest with `isnet data pairs --overwrite`")

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]] | Skipped:
        from ..method import masks

        row = self.table.iloc[i]
        index = self.indices[i]
        try:
            img = self.source.load(index)
        except BadImageError as e:
            warnings.warn(f"skipping pair {row['pair']}: {e}", stacklevel=2)
            skip = Skipped(int(i), str(self.source.paths[index]), str(e))
            self.skipped.append(skip)
            return skip
        image = eval_transform(img, self.size, self.upscale, where=str(self.source.paths[index]))
        known = masks.load_known(self.base / row["mask_file"], size=(self.size, self.size))[0]
        meta = dict(pair=row["pair"], image_id=row["image_id"], bucket=row["bucket"],
                    hole_ratio=float(row["hole_ratio"]), index=int(i))
        return image, known, meta


# --------------------------------------------------------------------------------------------
# Loader
# --------------------------------------------------------------------------------------------

SKIPPED_KEY = "skipped"


def collate(items: list[Any]) -> Any:
    """Default collate without the :class:`Skipped` markers, which travel along under ``"skipped"``
    (in the dict for training batches, in the meta dict for pairs). ``None`` if all were skipped."""
    skipped = [x for x in items if isinstance(x, Skipped)]
    kept = [x for x in items if not isinstance(x, Skipped)]
    if not kept:
        return {SKIPPED_KEY: skipped}
    batch = default_collate(kept)
    if isinstance(batch, dict):
        batch[SKIPPED_KEY] = skipped
    elif isinstance(batch, (list, tuple)) and isinstance(batch[-1], dict):
        batch[-1][SKIPPED_KEY] = skipped
    return batch


def seed_worker(worker_id: int) -> None:
    """Seed numpy and random in a loader worker from torch's per-worker seed (for third-party code;
    our own augmentations use per-sample generators)."""
    s = torch.initial_seed() % 2**32
    np.random.seed(s)
    random.seed(s)


class EpochSampler(Sampler):
    """Indices in a seeded order per epoch (``seed + epoch``, as DistributedSampler does)."""

    def __init__(self, n: int, seed: int = 0, shuffle: bool = True):
        self.n, self.seed, self.shuffle, self.epoch = n, int(seed), shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(range(self.n))
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


class _EpochKeys(Sampler):
    """Wraps a sampler so each key carries the epoch: workers need no state from the main process."""

    def __init__(self, base: Sampler):
        self.base = base

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = getattr(self.base, "epoch", 0)
        return ((epoch, int(i)) for i in self.base)

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]


class Loader:
    """A DataLoader with per-epoch seeding and the skipped-image report.

    Iterating yields batches without skipped items; at the end of each pass a warning reports how
    many images were skipped, and ``dataset.skipped`` (in this process) lists them.
    """

    def __init__(self, dataset: Dataset, loader: DataLoader, sampler: Sampler):
        self.dataset, self.loader, self.sampler = dataset, loader, sampler

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Any]:
        seen = getattr(self.dataset, "skipped", None)
        new: list[Skipped] = []
        for batch in self.loader:
            skipped = _pop_skipped(batch)
            new += skipped
            if seen is not None and self.loader.num_workers > 0:
                seen.extend(skipped)  # in-process datasets recorded them already
            if _batch_size(batch):
                yield batch
        if new:
            warnings.warn(f"{len(new)} unreadable image(s) were skipped in this pass (not replaced): "
                          f"{', '.join(s.path for s in new[:5])}{' …' if len(new) > 5 else ''}", stacklevel=2)


def _pop_skipped(batch: Any) -> list[Skipped]:
    if isinstance(batch, dict):
        return batch.pop(SKIPPED_KEY, [])
    if isinstance(batch, (list, tuple)) and batch and isinstance(batch[-1], dict):
        return batch[-1].pop(SKIPPED_KEY, [])
    return []


def _batch_size(batch: Any) -> int:
    if isinstance(batch, dict):
        return len(batch["image"]) if "image" in batch else 0
    if isinstance(batch, (list, tuple)) and batch and isinstance(batch[0], torch.Tensor):
        return len(batch[0])
    return 0


def build_loader(dataset: Dataset, batch_size: int, seed: int = 0, num_workers: int = 0, distributed: bool = False,
                 shuffle: bool = True, drop_last: bool = True, pin_memory: bool | None = None,
                 persistent_workers: bool = False, **sampler_opts: Any) -> Loader:
    """A seeded loader whose batches do not depend on ``num_workers``.

    Order: ``EpochSampler`` (or ``DistributedSampler`` with ``distributed=True``; extra keywords such
    as ``num_replicas``/``rank`` go to it), reseeded by ``set_epoch``. Keys carry the epoch to the
    dataset, whose augmentations draw from per-sample generators. Workers are seeded from a seeded
    torch.Generator (``seed_worker``). Memory is pinned when CUDA is available, unless told.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if distributed:
        base: Sampler = DistributedSampler(dataset, shuffle=shuffle, seed=seed, drop_last=drop_last, **sampler_opts)
    else:
        base = EpochSampler(len(dataset), seed, shuffle)  # type: ignore[arg-type]
    keyed = _EpochKeys(base) if isinstance(dataset, TrainDataset) else base
    loader = DataLoader(
        dataset, batch_size=batch_size, sampler=keyed, num_workers=num_workers, collate_fn=collate,
        pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory, drop_last=drop_last,
        worker_init_fn=seed_worker, generator=torch.Generator().manual_seed(int(seed)),
        persistent_workers=persistent_workers and num_workers > 0)
    return Loader(dataset, loader, base)


# --------------------------------------------------------------------------------------------
# CLI: isnet data fetch | pairs | list
# --------------------------------------------------------------------------------------------

def _source_opts(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if getattr(args, "root", None):
        opts["root"] = str(Path(args.root).resolve())
    if getattr(args, "large", False):
        opts["small"] = False
    return opts


def _cli_fetch(args: argparse.Namespace) -> int:
    report = _photos.fetch_photos(packages=args.packages or None, manifest=args.manifest,
                                  rebuild_manifest=args.rebuild_manifest, overwrite=args.overwrite,
                                  debs_dir=args.debs, keep_debs=args.keep_debs)
    print(report.summary())
    df = _photos.read_manifest(report.manifest)
    counts = df.groupby("split").agg(photos=("id", "size"), groups=("group", "nunique"))
    print(f"\npool in {_photos.photo_root()} ({report.manifest}):\n{counts.to_string()}")
    if report.rebuilt:
        print(f"\nwrote {report.manifest}; {len(report.skipped)} candidate file(s) were not photos we keep")
    return 0


EVAL_SPLITS = {"photos": "test", "celeba": "test", "places2": "val", "folder": "all", "samples": "all"}


def _cli_pairs(args: argparse.Namespace) -> int:
    split = args.split or EVAL_SPLITS.get(args.source, "all")
    df = make_pairs(args.source, split, args.size, args.per_bucket, args.out, scheme=args.scheme, seed=args.seed,
                    family=args.family, overwrite=args.overwrite, upscale=args.upscale, source_opts=_source_opts(args))
    print(f"wrote {len(df)} pairs ({df['image_id'].nunique()} images) to {args.out}, masks in {_mask_dir(Path(args.out))}")
    print(df.groupby("bucket", sort=False)["hole_ratio"].agg(["count", "min", "max"]).to_string())
    return 0


def list_sources(roots: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per source and split that can be built here (others say what they need)."""
    roots = roots or {}
    rows = []
    wanted: list[tuple[str, dict[str, Any]]] = [("samples", {}), ("photos", dict(split="train")),
                                               ("photos", dict(split="test"))]
    if roots.get("folder"):
        wanted.append(("folder", dict(root=roots["folder"])))
    if roots.get("celeba"):
        wanted += [("celeba", dict(root=roots["celeba"], split=s)) for s in CELEBA_SPLITS]
    if roots.get("places2"):
        wanted += [("places2", dict(root=roots["places2"], split=s)) for s in ("train", "val")]
    for name, opts in wanted:
        try:
            rows.append(build_source(name, **opts).describe())
        except (FileNotFoundError, ValueError) as e:
            rows.append(dict(name=name, split=opts.get("split", "all"), count=0, licence="", root="",
                             note=f"not available: {str(e).splitlines()[0][:160]}"))
    for name, need in (("folder", "--folder DIR"), ("celeba", "--celeba ROOT"), ("places2", "--places2 ROOT")):
        if not roots.get(name):
            rows.append(dict(name=name, split="", count=0, licence="", root="", note=f"pass {need} to count it"))
    return pd.DataFrame(rows)


def _cli_list(args: argparse.Namespace) -> int:
    df = list_sources(dict(folder=args.folder, celeba=args.celeba, places2=args.places2))
    cols = ["name", "split", "count", "licence", "note"]
    print(df[cols].to_markdown(index=False) if _has_tabulate() else df[cols].to_string(index=False))
    return 0


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
        return True
    except ImportError:
        return False


def add_cli(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("data", help="image sources: fetch the offline photo pool, write evaluation pairs, list")
    dsub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    fetch = dsub.add_parser("fetch", help="build or repair the offline photo pool (apt-get download, no install)")
    fetch.add_argument("what", choices=["photos"], help="what to fetch")
    fetch.add_argument("--packages", nargs="+", default=None, help="only these packages (default: all)")
    fetch.add_argument("--manifest", default=None, help="photo manifest (default: isnet/resources/photos_manifest.csv)")
    fetch.add_argument("--debs", default=None, help="use the .deb files in this folder instead of downloading")
    fetch.add_argument("--keep-debs", action="store_true", help="keep downloaded .deb files in the cache")
    fetch.add_argument("--rebuild-manifest", action="store_true",
                       help="maintainers: apply the selection rules afresh and write a new manifest")
    fetch.add_argument("--overwrite", action="store_true", help="with --rebuild-manifest: replace the manifest")
    fetch.set_defaults(func=_cli_fetch)

    pairs = dsub.add_parser("pairs", help="write a fixed manifest of (image, mask) evaluation pairs per bucket")
    pairs.add_argument("--source", choices=sorted(SOURCES), default="photos")
    pairs.add_argument("--root", default=None, help="folder/.flist (folder), data root (celeba, places2)")
    pairs.add_argument("--large", action="store_true", help="places2: the large images instead of 256 px")
    pairs.add_argument("--split", default=None, help="default: the source's held-out split (photos/celeba: test, "
                                                     "places2: val; folder and samples have one split, all)")
    pairs.add_argument("--size", type=int, default=256)
    pairs.add_argument("--per-bucket", type=int, required=True)
    pairs.add_argument("--scheme", default="paper", help="bucket scheme: paper (4 × 10 %%) or nvidia (6 × 10 %%)")
    pairs.add_argument("--family", default=None, help="mask family (default: mixed)")
    pairs.add_argument("--seed", type=int, default=0)
    pairs.add_argument("--upscale", action="store_true", help="enlarge images smaller than --size (logged)")
    pairs.add_argument("--out", required=True, help="pairs CSV; masks go to <stem>_masks/ beside it")
    pairs.add_argument("--overwrite", action="store_true")
    pairs.set_defaults(func=_cli_pairs)

    lst = dsub.add_parser("list", help="image sources with their counts and licences")
    lst.add_argument("--folder", default=None)
    lst.add_argument("--celeba", default=None)
    lst.add_argument("--places2", default=None)
    lst.set_defaults(func=_cli_list)
