"""THE training data path: the seeded training dataset and the stream of every iteration's batch.

Every random draw of a sample (crop, flip, mask) comes from a per-sample generator seeded by
(seed, epoch, index), and the image of each batch slot from the epoch's seeded permutation, so a batch
is a pure function of (seed, iteration, slot): it does not depend on the number of loader workers or
on where a previous process stopped (bitwise resume).
"""
from __future__ import annotations

import random
import warnings
from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..method.masks import BUCKET_SCHEMES, FAMILIES
from .mask_sources import build_mask_source
from .sources import BadImageError, ImageSource, Skipped, build_source
from .transforms import Augment


def _sample_rngs(seed: int, epoch: int, index: int, n: int = 2) -> list[np.random.Generator]:
    """Independent per-sample generators (image, mask) from (seed, epoch, index) alone."""
    ss = np.random.SeedSequence([int(seed), int(epoch), int(index)])
    return [np.random.default_rng(s) for s in ss.spawn(n)]


class TrainDataset(Dataset):
    """Training samples: ``{"image": 3×S×S, "known": 1×S×S, "index": int}``.

    Items are keyed by index or by ``(epoch, index)`` (what :class:`SampleStream` asks for), and every
    random draw comes from generators seeded by (seed, epoch, index). An unreadable image yields a
    :class:`Skipped` marker (and a warning); :attr:`skipped` collects them in the process that iterates
    (``SampleStream.loader`` gathers them from its workers).
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


def build_train_dataset(cfg: Any) -> TrainDataset:
    """:class:`TrainDataset` for a run configuration: source, split, size, crop and the training masks.

    ``cfg`` is read, not imported: anything with ``cfg.data`` (source, root, split, size, crop, upscale,
    cache, masks, holes, as ``isnet.engine.config.DataConfig``) and ``cfg.train.seed``.
    """
    d = cfg.data
    opts = {"split": d.split, **({"root": d.root} if d.root else {})}
    source = build_source(d.source, **opts)
    if d.masks in FAMILIES:
        mask_spec, mask_opts = "generated", {"family": d.masks}
    elif d.masks in ("mixed", "generated"):
        mask_spec, mask_opts = "generated", {"family": None}
    elif d.masks in BUCKET_SCHEMES:  # "paper": the evaluation pairs' families and hole-ratio buckets
        mask_spec, mask_opts = "generated", {"family": None, "buckets": d.masks}
    else:
        mask_spec, mask_opts = d.masks, {"holes": d.holes}
    return TrainDataset(source, d.size, masks=mask_spec, mask_opts=mask_opts, seed=cfg.train.seed, crop=d.crop,
                        upscale=d.upscale, cache=d.cache)


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The seeded permutation of ``range(n)`` for one epoch (``seed + epoch``, as DistributedSampler seeds)."""
    g = torch.Generator().manual_seed(int(seed) + int(epoch))
    return torch.randperm(n, generator=g).tolist()


class EpochSampler:
    """Indices in :func:`epoch_order` for the epoch set by ``set_epoch`` (what ``isnet.engine.train`` used
    before it took :class:`SampleStream` from here; remove once nothing imports it)."""

    def __init__(self, n: int, seed: int = 0, shuffle: bool = True):
        self.n, self.seed, self.shuffle, self.epoch = n, int(seed), shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        return iter(epoch_order(self.n, self.seed, self.epoch) if self.shuffle else range(self.n))

    def __len__(self) -> int:
        return self.n


def seed_worker(worker_id: int) -> None:
    """Seed numpy and random in a loader worker from torch's per-worker seed (for third-party code;
    our own augmentations use per-sample generators)."""
    s = torch.initial_seed() % 2**32
    np.random.seed(s)
    random.seed(s)


class SampleStream:
    """The training samples of every iteration as a pure function of (seed, iteration, slot).

    Global position ``p = iteration·batch + slot`` falls in epoch ``p // n`` at place ``p % n`` of that
    epoch's seeded permutation (:func:`epoch_order`), so every image is seen once per epoch as in the
    authors' shuffled loader, and ``TrainDataset[(epoch, index)]`` draws its crop, flip and mask from
    (seed, epoch, index). Nothing depends on an iterator's state, the number of loader workers or where
    a previous process stopped.

    ``cfg`` is read, not imported: ``cfg.train.batch`` (the global batch; each of ``world`` ranks takes
    its share), ``cfg.train.seed``, ``cfg.data.workers`` and, unless ``dataset`` is given, what
    :func:`build_train_dataset` reads. An unreadable image is left out of its batch (not replaced).
    """

    def __init__(self, cfg: Any, rank: int = 0, world: int = 1, dataset: Dataset | None = None):
        self.cfg, self.rank, self.world = cfg, rank, world
        self.dataset = dataset if dataset is not None else build_train_dataset(cfg)
        self.batch = cfg.train.batch
        if self.batch < 1:
            raise ValueError(f"batch_size (train.batch) must be positive, got {self.batch}")
        assert self.batch % world == 0, f"train.batch={self.batch} must be divisible by the world size {world}"
        self.per_rank = self.batch // world
        self._perms: dict[int, list[int]] = {}

    def _order(self, epoch: int) -> list[int]:
        if epoch not in self._perms:
            self._perms = {epoch: epoch_order(len(self.dataset), self.cfg.train.seed, epoch)}  # positions only move forward
        return self._perms[epoch]

    def keys(self, iteration: int) -> list[tuple[int, int]]:
        """``(epoch, image index)`` of this rank's slots of ``iteration`` (0-based)."""
        n = len(self.dataset)
        out = []
        for slot in range(self.rank * self.per_rank, (self.rank + 1) * self.per_rank):
            p = iteration * self.batch + slot
            out.append((p // n, self._order(p // n)[p % n]))
        return out

    def __getitem__(self, iteration: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, known, _ = self._batch(iteration)
        return image, known

    def _batch(self, iteration: int) -> tuple[torch.Tensor, torch.Tensor, list[Skipped]]:
        items = [self.dataset[k] for k in self.keys(iteration)]
        kept = [x for x in items if not isinstance(x, Skipped)]
        if not kept:
            raise RuntimeError(f"iteration {iteration}: every image of the batch was unreadable: "
                               + ", ".join(x.path for x in items))
        skipped = [x for x in items if isinstance(x, Skipped)]
        return torch.stack([x["image"] for x in kept]), torch.stack([x["known"] for x in kept]), skipped

    def loader(self, start: int, end: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches of iterations ``start … end − 1`` (``cfg.data.workers`` processes prefetch them).

        Images skipped in worker processes are added to ``dataset.skipped`` here too, and a warning at
        the end of the range says how many were skipped.
        """
        workers = self.cfg.data.workers
        batches = iter(DataLoader(_Steps(self, start, end), batch_size=None, shuffle=False, num_workers=workers,
                                  worker_init_fn=seed_worker,
                                  generator=torch.Generator().manual_seed(self.cfg.train.seed),
                                  pin_memory=torch.cuda.is_available(), persistent_workers=False,
                                  prefetch_factor=4 if workers else None))
        return self._report_skips(batches, workers > 0)

    def _report_skips(self, batches: Iterator, in_workers: bool) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        seen = getattr(self.dataset, "skipped", None)
        new: list[Skipped] = []
        for image, known, skipped in batches:
            new += skipped
            if seen is not None and in_workers:
                seen.extend(skipped)  # an in-process dataset recorded them already
            yield image, known
        if new:
            warnings.warn(f"{len(new)} unreadable image(s) were skipped in this pass (not replaced): "
                          f"{', '.join(s.path for s in new[:5])}{' …' if len(new) > 5 else ''}", stacklevel=2)


class _Steps(Dataset):
    def __init__(self, stream: SampleStream, start: int, end: int):
        self.stream, self.start, self.end = stream, start, end

    def __len__(self) -> int:
        return max(0, self.end - self.start)

    def __getitem__(self, k: int):
        return self.stream._batch(self.start + k)
