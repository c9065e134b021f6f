"""The NVIDIA irregular test masks (Liu et al. 2018), user-supplied: polarity check, groups, index.

The data set's own polarity is white = valid, black = hole; :class:`NvidiaMasks` measures which
polarity fits the file groups and refuses one that does not.
"""
from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ...io import atomic_write_text, refuse_overwrite
from .convention import NVIDIA_BUCKETS, _ratio_np, bucket_of
from .files import (
    BINARY_THRESHOLD,
    HOLES,
    _as_size,
    _check_holes,
    known_from_pixels,
    read_grey,
    resize_nearest,
)
from .sets import MANIFEST_COLUMNS

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
