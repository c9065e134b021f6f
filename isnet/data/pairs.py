"""Fixed evaluation pairs: a manifest of (image, mask) pairs per hole-ratio bucket, and its dataset."""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from ..io import atomic_write_text, refuse_overwrite, sha256_file
from ..method import masks
from .sources import BadImageError, ImageSource, Skipped, build_source
from .transforms import eval_transform


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

    Yields ``(image 3×S×S, known 1×S×S, meta)``; :func:`pair_batches` makes N×3×S×S batches of them.
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




def pair_batches(dataset: Any, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, list[dict[str, Any]]]]:
    """``(image N×3×S×S, known N×1×S×S, [meta] × N)`` batches of the pairs in order, unreadable images left
    out (:class:`PairsDataset` warns about each); the last batch may be smaller."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    chunk: list = []
    for i in range(len(dataset)):
        item = dataset[i]
        if isinstance(item, Skipped):
            continue
        chunk.append(item)
        if len(chunk) == batch_size:
            yield _stack(chunk)
            chunk = []
    if chunk:
        yield _stack(chunk)


def _stack(items: list) -> tuple[torch.Tensor, torch.Tensor, list[dict[str, Any]]]:
    if len({tuple(x[0].shape) for x in items}) > 1:
        raise ValueError("pairs of different sizes in one batch; use batch_size=1")
    return torch.stack([x[0] for x in items]), torch.stack([x[1] for x in items]), [dict(x[2]) for x in items]
