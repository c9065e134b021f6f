"""Image transforms: the deterministic evaluation view and the seeded training augmentation.

Training follows the authors' pipeline (centre square crop, antialiased bilinear resize, joint
horizontal flip p=0.5, random rot90 of the mask only); ``crop="random"`` (ours) takes square crops at
a random scale instead, which suits a small photo pool at small sizes. Every random choice comes from
the generator the caller passes (per sample, see :mod:`isnet.data.stream`). Evaluation is
deterministic (centre crop + resize).
"""
from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)


class ImageTooSmallError(ValueError):
    """An image whose crop is smaller than the requested size while upscaling is off."""



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


