"""Seeded free-form masks: strokes drawn with ``cv2.line`` plus boxes, in three families.

LaMa / DeepFill-v2-like settings (thin, medium, thick), written from the published algorithm
description. Every draw comes from the ``numpy.random.Generator`` passed in, so a mask is a function
of its seed; ``sample_hole_in_bucket`` grows a mask until its hole ratio lies in a bucket.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np
import torch

from .convention import _check_size, _ratio_np, known_from_hole

REFERENCE_SIZE = 256  # the sizes in StrokeFamily are in pixels at a 256×256 image


@dataclass(frozen=True)
class StrokeFamily:
    """Settings of one free-form family, in pixels at 256×256 (scaled by sqrt(H·W)/256).

    A stroke is a polyline of ``segments`` pieces, each drawn with ``cv2.line`` at one brush
    width; its heading turns by up to ``max_turn`` radians between pieces. Boxes (thick family)
    are axis-aligned rectangles kept ``box_margin`` px from the border.
    """

    strokes: tuple[int, int]
    width: tuple[float, float]
    length: tuple[float, float]
    segments: tuple[int, int] = (1, 5)
    max_turn: float = 2.0
    box_prob: float = 0.0
    boxes: tuple[int, int] = (1, 3)
    box_size: tuple[float, float] = (30.0, 150.0)
    box_margin: float = 10.0


# LaMa's public configs (thin, thick) and DeepFill-v2's free-form settings (medium).
FAMILIES: dict[str, StrokeFamily] = {
    "thin": StrokeFamily(strokes=(4, 50), width=(1.0, 10.0), length=(5.0, 40.0)),
    "medium": StrokeFamily(strokes=(4, 12), width=(5.0, 40.0), length=(10.0, 80.0), segments=(1, 4)),
    "thick": StrokeFamily(strokes=(1, 5), width=(10.0, 100.0), length=(10.0, 200.0),
                          box_prob=0.3, boxes=(1, 3), box_size=(30.0, 150.0), box_margin=10.0),
}


def _family(family: str) -> StrokeFamily:
    if family not in FAMILIES:
        raise ValueError(f"unknown mask family {family!r}; choose one of {sorted(FAMILIES)}")
    return FAMILIES[family]


def _scale(height: int, width: int) -> float:
    return math.sqrt(height * width) / REFERENCE_SIZE


def _draw_stroke(canvas: np.ndarray, rng: np.random.Generator, fam: StrokeFamily, scale: float) -> None:
    """Draw one random polyline stroke (value 1) into ``canvas`` in place."""
    height, width = canvas.shape
    brush = max(1, int(round(rng.uniform(*fam.width) * scale)))
    x, y = rng.uniform(0, width), rng.uniform(0, height)
    heading = rng.uniform(0.0, 2.0 * math.pi)
    for _ in range(int(rng.integers(fam.segments[0], fam.segments[1] + 1))):
        step = rng.uniform(*fam.length) * scale
        nx = float(np.clip(x + step * math.cos(heading), 0, width - 1))
        ny = float(np.clip(y + step * math.sin(heading), 0, height - 1))
        cv2.line(canvas, (int(round(x)), int(round(y))), (int(round(nx)), int(round(ny))), 1, brush)
        x, y = nx, ny
        heading += rng.uniform(-fam.max_turn, fam.max_turn)


def _draw_box(canvas: np.ndarray, rng: np.random.Generator, fam: StrokeFamily, scale: float) -> None:
    """Draw one random axis-aligned box (value 1), kept off the border when the image allows it."""
    height, width = canvas.shape
    margin = int(round(fam.box_margin * scale))
    if min(height, width) - 2 * margin < 2:
        margin = 0
    bh = min(max(1, int(round(rng.uniform(*fam.box_size) * scale))), height - 2 * margin)
    bw = min(max(1, int(round(rng.uniform(*fam.box_size) * scale))), width - 2 * margin)
    top = int(rng.integers(margin, height - margin - bh + 1))
    left = int(rng.integers(margin, width - margin - bw + 1))
    canvas[top:top + bh, left:left + bw] = 1


def generate_hole(height: int, width: int, rng: np.random.Generator, family: str = "medium") -> np.ndarray:
    """A free-form hole map, H×W bool (True = hole), drawn from ``rng`` only (so it is reproducible)."""
    _check_size(height, width)
    fam, scale = _family(family), _scale(height, width)
    canvas = np.zeros((height, width), np.uint8)
    if fam.box_prob > 0 and rng.random() < fam.box_prob:
        for _ in range(int(rng.integers(fam.boxes[0], fam.boxes[1] + 1))):
            _draw_box(canvas, rng, fam, scale)
    for _ in range(int(rng.integers(fam.strokes[0], fam.strokes[1] + 1))):
        _draw_stroke(canvas, rng, fam, scale)
    return canvas.astype(bool)


def generate_known(height: int, width: int, seed: int, family: str = "medium") -> torch.Tensor:
    """A seeded free-form known mask, 1×1×H×W float (1 = known)."""
    return known_from_hole(generate_hole(height, width, np.random.default_rng(seed), family))


def _sample_in_bucket(height: int, width: int, rng: np.random.Generator, bounds: tuple[float, float],
                      family: str | None, max_rejects: int = 60, max_restarts: int = 500) -> tuple[np.ndarray, str]:
    """Grow a mask stroke by stroke until its ratio enters ``bounds``; return (hole, family used).

    Each attempt first draws a target ratio uniformly inside the bucket and stops once the mask
    reaches it, so ratios spread over the bucket instead of piling up at its lower bound. A stroke or box that would overshoot the upper bound is thrown away and another is drawn;
    after ``max_rejects`` throws in a row the mask restarts from empty. Every draw comes from
    ``rng``, so the result is a function of the generator's state.
    """
    _check_size(height, width)
    lo, hi = bounds
    if not (0.0 <= lo < hi <= 1.0):
        raise ValueError(f"bounds must satisfy 0 <= lo < hi <= 1, got {bounds}")
    if math.floor(hi * height * width) <= lo * height * width:
        raise ValueError(f"no {height}×{width} mask has a hole ratio in ({lo}, {hi}]; use a larger size")
    picked = sorted(FAMILIES)[int(rng.integers(len(FAMILIES)))]  # drawn always, so a manifest row
    family = picked if family is None else family                 # (seed, family) redraws its mask
    fam, scale = _family(family), _scale(height, width)
    for _ in range(max_restarts):
        canvas = np.zeros((height, width), np.uint8)
        target = max(rng.uniform(lo, hi), np.nextafter(lo, 1.0))
        primitives: list[Callable] = []
        if fam.box_prob > 0 and rng.random() < fam.box_prob:
            primitives = [_draw_box] * int(rng.integers(fam.boxes[0], fam.boxes[1] + 1))
        rejects = 0
        while rejects < max_rejects:
            draw = primitives.pop(0) if primitives else _draw_stroke
            candidate = canvas.copy()
            draw(candidate, rng, fam, scale)
            ratio = _ratio_np(candidate)
            if ratio > hi:
                rejects += 1
                continue
            canvas, rejects = candidate, 0
            if ratio >= target:
                return canvas.astype(bool), family
    raise RuntimeError(f"could not draw a {family} mask with hole ratio in ({lo}, {hi}] at {height}×{width} "
                       f"after {max_restarts} restarts; try another family or a larger size")


def sample_hole_in_bucket(height: int, width: int, rng: np.random.Generator,
                          bounds: tuple[float, float] = (0.1, 0.2), family: str | None = None) -> np.ndarray:
    """A free-form hole map (H×W bool, True = hole) whose ratio r satisfies lo < r <= hi.

    ``family=None`` picks one of :data:`FAMILIES` with ``rng``. Deterministic for a given rng state.
    """
    return _sample_in_bucket(height, width, rng, bounds, family)[0]
