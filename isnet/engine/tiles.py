"""Memory planning for inpainting big images: peak bytes per pixel, tiles with feathered overlaps, and the guarded generator that runs them."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

MIN_TILE = 256


MAX_TILE = 2048


# Measured peak memory of a no-grad forward per pixel (see README "Training, evaluation, inference"): about
# 32 B per high-branch channel + 50 B (ISNet, CPU, width 0.25 and 1); the constants leave a margin.
BYTES_PER_PIXEL_PER_CHANNEL = 40


BYTES_PER_PIXEL_FIXED = 64


BYTES_PER_PIXEL_UNKNOWN_MODEL = 2000


# Full-size buffers besides the network: decoded image and mask, masked input, prediction, composite,
# the tile accumulators and PRA's grown masks and composites (float32), and the 8-bit output.
IMAGE_BYTES_PER_PIXEL = 120


PRA_BYTES_PER_PIXEL = 80  # PRA's grown masks, per-pass composites and index copies on top


class NonFiniteOutputError(ValueError):
    """The generator returned NaN or inf: its weights (or the hardware) are broken; nothing is written."""


def generator_bytes_per_pixel(generator: nn.Module) -> int:
    """Peak bytes per input pixel of a no-grad forward (ISNet: from its high-branch width; else a safe guess)."""
    b = getattr(generator, "base_channels", None)
    return BYTES_PER_PIXEL_PER_CHANNEL * int(b) + BYTES_PER_PIXEL_FIXED if b else BYTES_PER_PIXEL_UNKNOWN_MODEL


@dataclass(frozen=True)
class Plan:
    """How one image is run: whole (``tile`` None) or in ``tile``-px tiles overlapping by ``overlap`` px."""

    height: int
    width: int
    tile: int | None
    overlap: int
    tiles: int
    estimate: int  # bytes

    def describe(self) -> str:
        how = "whole" if self.tile is None else f"{self.tiles} tiles of {self.tile} px"
        size = (f"{self.estimate / 2**30:.1f} GiB" if self.estimate >= 2**30 else
                f"{max(1, round(self.estimate / 2**20))} MiB")
        return f"{self.width}×{self.height}, {how}, about {size}"


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    return starts + [length - tile]


def plan_image(height: int, width: int, generator: nn.Module, max_bytes: float, tile: int | None = None,
               name: str = "image", pra: bool = False) -> Plan:
    """Estimate memory from the size alone; tile when the whole image would pass ``max_bytes``, refuse if tiles do.

    ``tile`` forces a tile size (a multiple of 16). The refusal names the limit and the flag that raises it.
    """
    per_px = generator_bytes_per_pixel(generator)
    pixels = height * width
    buffers = (IMAGE_BYTES_PER_PIXEL + (PRA_BYTES_PER_PIXEL if pra else 0)) * pixels
    whole = buffers + per_px * pixels
    if tile is None and whole <= max_bytes:
        return Plan(height, width, None, 0, 1, whole)

    def refuse(side: int) -> ValueError:
        need = buffers + per_px * min(side, height) * min(side, width)
        return ValueError(f"{name} is {width}×{height} ({pixels / 1e6:.1f} MP): it needs about {_amount(need)} "
                          f"even in {side}-px tiles, over the limit of {_amount(max_bytes)}; raise it with "
                          f"--max-memory GB (at least {math.ceil(need / 2**30 * 10) / 10:g}), or downscale the image")

    if tile is None:
        room = max_bytes - buffers
        tile = min(MAX_TILE, int(math.sqrt(room / per_px)) // 16 * 16) if room > 0 else 0
        if tile < MIN_TILE:
            raise refuse(MIN_TILE)
    elif tile < 32 or tile % 16:
        raise ValueError(f"--tile must be a multiple of 16, at least 32; got {tile}")
    need = buffers + per_px * min(tile, height) * min(tile, width)
    if need > max_bytes:
        raise refuse(tile)
    overlap = min(max(16, tile // 8 // 16 * 16), tile // 2)  # 1/8 of a tile, in steps of 16
    tiles = len(_starts(height, tile, overlap)) * len(_starts(width, tile, overlap))
    return Plan(height, width, tile, overlap, tiles, int(need))


def _amount(n_bytes: float) -> str:
    """Bytes as GiB (≥ 1 GiB, 1 decimal) or MiB, never "0.0 GiB"."""
    return f"{n_bytes / 2**30:.1f} GiB" if n_bytes >= 2**30 else f"{max(1, round(n_bytes / 2**20))} MiB"


def _ramp(n: int, overlap: int, before: bool, after: bool) -> torch.Tensor:
    w = torch.ones(n)
    ramp = torch.arange(1, overlap + 1, dtype=torch.float32) / (overlap + 1)
    k = min(overlap, n)
    if before:
        w[:k] = torch.minimum(w[:k], ramp[:k])
    if after:
        w[n - k:] = torch.minimum(w[n - k:], ramp[:k].flip(0))
    return w


class GuardedGenerator(nn.Module):
    """A generator that refuses non-finite output (naming the checkpoint) and, given a ``Plan`` with tiles,
    runs big inputs in overlapping tiles blended by linear ramps (the network is fully convolutional).

    Tiles see only their own context, so a tiled result differs slightly from a whole-image one (which
    would not fit the memory limit); overlaps hide the seams.
    """

    def __init__(self, generator: nn.Module, source: str | None = None):
        super().__init__()
        self.generator = generator
        self.source = source or getattr(generator, "isnet_source", None) or type(generator).__name__
        self.plan: Plan | None = None
        self.on_tile: Callable[[int, int], None] | None = None
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        plan = self.plan
        if plan is not None and plan.tile is not None and (x.shape[-2] > plan.tile or x.shape[-1] > plan.tile):
            pred = self._tiled(x, plan.tile, plan.overlap)
        else:
            pred = self.generator(x)
        self.calls += 1
        if not bool(torch.isfinite(pred).all()):
            bad = int((~torch.isfinite(pred)).sum())
            raise NonFiniteOutputError(f"the generator from {self.source} returned {bad} NaN or infinite values; "
                                       "its weights are broken: use an earlier checkpoint of the run or retrain "
                                       "(nothing was written for this image)")
        return pred

    def _tiled(self, x: torch.Tensor, tile: int, overlap: int) -> torch.Tensor:
        n, _, height, width = x.shape
        ys, xs = _starts(height, tile, overlap), _starts(width, tile, overlap)
        out = torch.zeros(n, 3, height, width, dtype=x.dtype, device=x.device)
        weight = torch.zeros(1, 1, height, width, dtype=x.dtype, device=x.device)
        total, done = len(ys) * len(xs), 0
        for y0 in ys:
            th = min(tile, height)
            wy = _ramp(th, overlap, y0 > 0, y0 + th < height)
            for x0 in xs:
                tw = min(tile, width)
                wx = _ramp(tw, overlap, x0 > 0, x0 + tw < width)
                w = (wy[:, None] * wx[None, :]).to(x.device, x.dtype)
                pred = self.generator(x[..., y0:y0 + th, x0:x0 + tw])
                out[..., y0:y0 + th, x0:x0 + tw] += pred * w
                weight[..., y0:y0 + th, x0:x0 + tw] += w
                done += 1
                if self.on_tile is not None:
                    self.on_tile(done, total)
        return out.div_(weight)
