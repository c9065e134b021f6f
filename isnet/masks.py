"""Masks: the paper's M ("known": 1 = known pixel, 0 = hole, N×1×H×W float).

Files on disk follow painting tools (white = hole) unless told otherwise; conversion happens
here, at the boundary, in one tested function.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def grow_known(known: torch.Tensor, kernel: int = 15) -> torch.Tensor:
    """Grow the known region by a k×k square max filter (PRA's "dilation"; the hole erodes by k//2 px).

    Batched on any device. Borders behave like scipy's ``grey_dilation(mode='reflect')`` used
    upstream: a max filter never takes values from outside, so padding with -inf is equivalent.
    """
    assert kernel % 2 == 1 and kernel >= 1, f"kernel must be an odd positive size, got {kernel}"
    assert known.dim() == 4 and known.shape[1] == 1, f"known must be N×1×H×W, got {tuple(known.shape)}"
    r = kernel // 2
    padded = F.pad(known, (r, r, r, r), mode="constant", value=float("-inf"))
    return F.max_pool2d(padded, kernel, stride=1)
