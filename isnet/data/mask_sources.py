"""Training-time mask sources: generated free-form masks or mask files, one mask per sample."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

from ..method import masks
from .sources import _read_flist


class GeneratedMasks:
    """Free-form masks from :mod:`isnet.masks`, drawn from the per-sample generator.

    ``family=None`` picks a family per sample (uniformly among ``isnet.masks.FAMILIES``).
    ``buckets="paper"`` draws masks as the evaluation pairs are drawn: a hole-ratio bucket uniformly
    (10–20 … 40–50 %), then a mask whose ratio lies in it, so training sees the evaluation's mask
    distribution (families and hole sizes) rather than one family's unbounded ratios.
    """

    kind = "generated"

    def __init__(self, family: str | None = None, buckets: str | None = None):
        if family is not None and family not in masks.FAMILIES:
            raise ValueError(f"unknown mask family {family!r}; choose one of {sorted(masks.FAMILIES)}")
        if buckets is not None and buckets not in masks.BUCKET_SCHEMES:
            raise ValueError(f"unknown bucket scheme {buckets!r}; choose one of {sorted(masks.BUCKET_SCHEMES)}")
        self.family, self.buckets = family, buckets

    def sample(self, rng: np.random.Generator, size: int) -> torch.Tensor:
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


