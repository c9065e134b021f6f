"""Image sources: the five places training and evaluation images come from, and the one image decoder.

Sources (``SOURCES``, built by name with :func:`build_source`):

- ``samples``: the 8 colour photos installed Python dependencies ship; works right after pip install.
- ``photos``: the offline pool of ~240 photos from Debian packages, split by near-duplicate group
  (see :mod:`isnet.data.photos`; ``isnet data fetch photos`` builds it).
- ``folder``: any directory (recursive) or an ``.flist`` file of image paths.
- ``celeba``: ``img_align_celeba/`` + ``list_eval_partition.txt`` (partitions 0/1/2).
- ``places2``: the Places365-Standard layout as ``torchvision.datasets.Places365`` downloads it.

Every source has ``.ids``, ``.paths``, ``len()``, ``load(i) -> H×W×3 float32 in [0, 1]`` and
``describe()``. Images are read with Pillow; grey, RGBA, palette and 16-bit files are converted, and
a corrupt or truncated file raises :class:`BadImageError`, which the datasets turn into a counted,
reported skip (a :class:`Skipped` marker) — never into a silent substitute (the authors' loader falls
back to item 0).
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from .. import io as _io
from . import photos as _photos

# The authors' scripts/flist.py keeps .jpg/.jpeg/.png/.tif (case-insensitive); we also accept
# .tiff (flist.py means to, but its entry lacks the dot) and .webp.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp")


BadImageError = _io.BadImageError  # defined beside the one image reader (isnet.io.read_pixels)


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

@dataclass(frozen=True)
class Skipped:
    """Stands in for an item whose image could not be decoded; batches leave it out (never replace it)."""

    index: int
    path: str
    reason: str


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
    """Image files under ``root`` (recursive, sorted); a broken or looping symbolic link is named in a warning."""
    found, broken = [], []
    for p in root.rglob("*"):
        if p.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        if p.is_file():
            found.append(p)
        elif p.is_symlink():
            broken.append(p)
    if broken:
        names = ", ".join(str(p) for p in sorted(broken)[:5]) + (", ..." if len(broken) > 5 else "")
        warnings.warn(f"skipped {len(broken)} symbolic link(s) under {root} that point to nothing or loop: {names}; "
                      "fix or remove them", stacklevel=3)
    return sorted(found)


def _other_files(root: Path) -> str:
    """What a folder without images holds instead ("3 .gif files, 1 .txt file"), for the error message."""
    counts: dict[str, int] = {}
    for p in root.rglob("*"):
        if p.is_file() and not p.name.startswith("."):
            counts[p.suffix.lower() or "(no suffix)"] = counts.get(p.suffix.lower() or "(no suffix)", 0) + 1
    if not counts:
        return "it holds no files"
    parts = [f"{n} {suffix} file{'s' if n > 1 else ''}" for suffix, n in sorted(counts.items(), key=lambda kv: -kv[1])]
    return "it holds " + ", ".join(parts[:5]) + (", ..." if len(parts) > 5 else "")


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
            found = "" if root.is_file() else f" ({_other_files(root)})"
            raise FileNotFoundError(f"no images in {what}{found}; convert the files to PNG or JPEG (GIF and other "
                                    "formats are not read for training), or point root at a folder of photos or an "
                                    ".flist file")
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
        df = _photos.select_split(df, split)  # train / test as committed; val / fit: held-out training groups
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


EVAL_SPLITS = {"photos": "test", "celeba": "test", "places2": "val", "folder": "all", "samples": "all"}


def list_sources(roots: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per source and split that can be built here (others say what they need)."""
    roots = roots or {}
    rows = []
    photo_splits = ("train", "test", "mix-train", "mix-test", "mix-val")  # old split (committed runs), mixed split
    wanted: list[tuple[str, dict[str, Any]]] = [("samples", {})] + [("photos", dict(split=s)) for s in photo_splits]
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
