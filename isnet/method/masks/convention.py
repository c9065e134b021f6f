"""The paper's mask convention: known = 1, hole = 0 (N×1×H×W float); hole ratio, its buckets, PRA's growth.

The paper's four 10 % buckets and NVIDIA's six, the one membership test (lower bound exclusive, upper
inclusive), the hole ratio in float64, ``known_from_hole`` (bool hole map → known tensor) and
``grow_known`` (PRA's "dilation" of the known region).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

# --------------------------------------------------------------------------------------------
# Hole ratio and buckets
# --------------------------------------------------------------------------------------------

# Bounds are (lower, upper]: lower exclusive, upper inclusive (as bucket_of tests them).
PAPER_BUCKETS: dict[str, tuple[float, float]] = {
    "10-20": (0.1, 0.2), "20-30": (0.2, 0.3), "30-40": (0.3, 0.4), "40-50": (0.4, 0.5),
}
NVIDIA_BUCKETS: dict[str, tuple[float, float]] = {
    "0-10": (0.0, 0.1), "10-20": (0.1, 0.2), "20-30": (0.2, 0.3),
    "30-40": (0.3, 0.4), "40-50": (0.4, 0.5), "50-60": (0.5, 0.6),
}
BUCKET_SCHEMES: dict[str, dict[str, tuple[float, float]]] = {"paper": PAPER_BUCKETS, "nvidia": NVIDIA_BUCKETS}


def _scheme(scheme: str) -> dict[str, tuple[float, float]]:
    if scheme not in BUCKET_SCHEMES:
        raise ValueError(f"unknown bucket scheme {scheme!r}; choose one of {sorted(BUCKET_SCHEMES)}")
    return BUCKET_SCHEMES[scheme]


def in_bounds(ratio: float, bounds: tuple[float, float]) -> bool:
    """``lo < ratio <= hi``: the one membership test every bucket decision uses."""
    lo, hi = bounds
    return lo < ratio <= hi


def bucket_of(ratio: float, scheme: str = "paper") -> str | None:
    """Name of the bucket holding ``ratio`` (lower bound exclusive, upper inclusive), None outside all."""
    for name, bounds in _scheme(scheme).items():
        if in_bounds(float(ratio), bounds):
            return name
    return None


def hole_ratio(known: torch.Tensor) -> torch.Tensor:
    """Fraction of hole pixels per image, (N,) float64.

    A pixel counts as a hole when ``known < 0.5`` (identical to "is zero" for binary masks).
    float64 so that a ratio sitting on a bucket bound is classified the same way here and in
    the numpy code that wrote the manifest.
    """
    if known.dim() != 4:
        raise ValueError(f"known must be N×1×H×W, got shape {tuple(known.shape)}")
    return (known < 0.5).flatten(1).to(torch.float64).mean(dim=1)


def _ratio_np(hole: np.ndarray) -> float:
    return np.count_nonzero(hole) / hole.size


# --------------------------------------------------------------------------------------------
# Mask growth for PRA
# --------------------------------------------------------------------------------------------

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


def known_from_hole(hole: np.ndarray) -> torch.Tensor:
    """H×W bool hole map → 1×1×H×W float known mask."""
    return torch.from_numpy((~np.asarray(hole, bool)).astype(np.float32))[None, None]


def _check_size(height: int, width: int) -> None:
    if int(height) < 1 or int(width) < 1:
        raise ValueError(f"mask size must be positive, got height={height}, width={width}")
