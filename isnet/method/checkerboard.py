"""Checkerboard (period-2) energy of a fill: over the whole frame, and inside the hole only.

A network that upsamples by sub-pixel convolutions (ISNet's low→high units and head) can print a grid with a
period of two pixels. Two measures, each compared with the same measure on the photos themselves:

- ``period2_share(x)``: the share of the frame's spectral energy (mean removed) at the three period-2
  frequencies of the 2-D FFT. Over a whole composite most pixels are the photo's own, so a grid confined to
  the hole barely moves it.
- ``hole_period2_share(x, known)``: the same idea restricted to the hole. Each 2×2 block (aligned on even
  coordinates) that lies entirely inside the hole is split into its mean and three period-2 patterns
  (horizontal, vertical, diagonal: the 2×2 Hadamard basis); the share is the checkerboard (diagonal) pattern's
  energy over the energy of all three period-2 patterns, summed over those blocks. Edges and texture of a photo
  put most of their fine energy into the horizontal and vertical patterns; a pixel-level grid puts it into the
  checkerboard, so a grainy fill has a larger share than the photo under the same hole (``hole_period2_ratio``
  divides the two).

``checkerboard_gate`` turns the ratio into a sanity-gate message (empty when the fill passes).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

HOLE_RATIO_LIMIT = 1.5  # a fill whose in-hole checkerboard share exceeds the photos' own by half fails the gate


def period2_share(x: torch.Tensor) -> float:
    """Share of the spectral energy (per image and channel, mean removed) at the period-2 frequencies, pooled."""
    f = torch.fft.fft2(x - x.mean(dim=(-2, -1), keepdim=True)).abs() ** 2
    n, m = x.shape[-2] // 2, x.shape[-1] // 2
    return float((f[..., n, m] + f[..., 0, m] + f[..., n, 0]).sum() / f.sum())


def _hole_blocks(known: torch.Tensor) -> torch.Tensor:
    """N×1×H/2×W/2 bool: the aligned 2×2 blocks whose four pixels are all hole."""
    h, w = known.shape[-2] // 2 * 2, known.shape[-1] // 2 * 2
    hole = (known[..., :h, :w] == 0).float()
    return F.avg_pool2d(hole, 2) == 1


def hole_period2_energy(x: torch.Tensor, known: torch.Tensor) -> tuple[float, float]:
    """(checkerboard energy, energy of all three period-2 patterns) summed over every all-hole 2×2 block."""
    assert x.dim() == 4 and known.dim() == 4 and known.shape[1] == 1 and x.shape[-2:] == known.shape[-2:], (
        f"expected N×C×H×W images and an N×1×H×W known mask, got {tuple(x.shape)} and {tuple(known.shape)}")
    h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    x = x[..., :h, :w].double()
    a, b = x[..., 0::2, 0::2], x[..., 0::2, 1::2]
    c, d = x[..., 1::2, 0::2], x[..., 1::2, 1::2]
    blocks = _hole_blocks(known).expand(-1, x.shape[1], -1, -1)
    if not bool(blocks.any()):
        return 0.0, 0.0
    # 2×2 Hadamard basis, orthonormal: each coefficient's square is that pattern's energy in the block
    horizontal, vertical, diagonal = (a - b + c - d) / 2, (a + b - c - d) / 2, (a - b - c + d) / 2
    checker = (diagonal ** 2)[blocks].sum()
    period2 = (horizontal ** 2 + vertical ** 2 + diagonal ** 2)[blocks].sum()
    return float(checker), float(period2)


def hole_period2_share(x: torch.Tensor, known: torch.Tensor) -> float:
    """Checkerboard share of the period-2 energy inside the hole (all-hole 2×2 blocks only); NaN without such a block."""
    p2, total = hole_period2_energy(x, known)
    return p2 / total if total > 0 else float("nan")


def hole_period2_ratio(fill: torch.Tensor, photo: torch.Tensor, known: torch.Tensor) -> float:
    """``hole_period2_share`` of the fill over that of the photo under the same hole (1 = as grainy as the photo)."""
    own = hole_period2_share(photo, known)
    return hole_period2_share(fill, known) / own if own > 0 else float("nan")


def checkerboard_gate(ratio: float, name: str = "the fill", limit: float = HOLE_RATIO_LIMIT) -> list[str]:
    """Reasons ``name`` fails the in-hole checkerboard gate (empty when ``ratio`` ≤ ``limit`` or unknown)."""
    if ratio == ratio and ratio > limit:  # NaN (no all-hole block) is not judged
        return [f"{name} prints a pixel grid inside the hole (checkerboard share {ratio:.2f}x the photos' own > {limit:g}x)"]
    return []


__all__ = ["HOLE_RATIO_LIMIT", "checkerboard_gate", "hole_period2_energy", "hole_period2_ratio", "hole_period2_share",
           "period2_share"]
