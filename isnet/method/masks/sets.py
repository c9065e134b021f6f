"""Fixed test-mask sets on disk: an exact count of seeded masks per bucket and a ``manifest.csv``."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ...io import atomic_write_bytes, atomic_write_text
from .convention import _ratio_np, _scheme, bucket_of
from .files import _as_size, _check_holes, _png_bytes, pixels_from_known
from .strokes import _family, _sample_in_bucket

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
