"""Inference modes: how a generator trained at one size fills a photo of another size.

- ``native``: the generator runs on the photo at its own size (it is fully convolutional). A model trained at
  48 px sees a 256 px hole as a much larger hole of finer texture than anything it learnt from.
- ``coarse-to-fine``: downscale the photo so its short side is the model's training size, inpaint there
  (a coarse pixel is a hole if any of its source pixels is), upsample the coarse fill to the photo's size and
  put it into the hole, then blend: the fill is shifted by the smoothly spread difference between the photo
  and the upsampled coarse image on the known pixels around the hole (normalised convolution), so the seam
  carries no colour step. At or below the training size it is the same as ``native``.

``auto`` picks, for a photo's size, the mode that measured best there: the best composite PSNR among the modes
without a pixel grid in the hole (all modes when none is clean). ``isnet bench scale --write-modes`` stores the
measurements next to the shipped generator (``resources/<name>-modes.json``); ``choose_mode`` also says when every
mode measured below Telea at that size, so callers can warn.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from ..method.checkerboard import checkerboard_gate
from ..method.pra import composite, progressive_inpaint
from .checkpoint import FORMAT, load_checkpoint
from .pretrained import DEFAULT, RESOURCES, describe

MODES = ("native", "coarse-to-fine")
AUTO = "auto"


# ----------------------------------------------------------------------------------------- the modes
def _fill(generator: Callable, image: torch.Tensor, known: torch.Tensor, pra: bool,
          **pra_options: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(composite, passes) at the given size: one shot or PRA."""
    if pra:
        res = progressive_inpaint(generator, image, known, **pra_options)
        return res.composite, res.passes
    pred = generator(image * known)
    return composite(pred, image, known), torch.ones(image.shape[0], dtype=torch.long)


def coarse_size(height: int, width: int, train_size: int) -> tuple[int, int]:
    """The size whose short side is ``train_size`` (aspect kept); the input size when it is not larger."""
    short = min(height, width)
    if short <= train_size:
        return height, width
    s = train_size / short
    return max(1, round(height * s)), max(1, round(width * s))


def _spread(values: torch.Tensor, weight: torch.Tensor, sigma: float) -> torch.Tensor:
    """Normalised convolution: a Gaussian-weighted average of ``values`` where ``weight`` is 1, defined everywhere
    the weights reach (elsewhere 0)."""
    radius = max(1, int(math.ceil(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=values.dtype, device=values.device)
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    g = g / g.sum()
    c = values.shape[1]

    def blur(t: torch.Tensor) -> torch.Tensor:
        k = t.shape[1]
        t = F.conv2d(F.pad(t, (radius, radius, 0, 0), mode="replicate"), g.view(1, 1, 1, -1).expand(k, 1, 1, -1),
                     groups=k)
        return F.conv2d(F.pad(t, (0, 0, radius, radius), mode="replicate"), g.view(1, 1, -1, 1).expand(k, 1, -1, 1),
                        groups=k)

    num, den = blur(values * weight), blur(weight)
    return torch.where(den > 1e-6, num / den.clamp(min=1e-6), torch.zeros_like(num)).expand(-1, c, -1, -1)


@torch.no_grad()
def coarse_to_fine(generator: Callable, image: torch.Tensor, known: torch.Tensor, train_size: int,
                   pra: bool = False, blend: bool = True, **pra_options: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(composite at the photo's size, passes): inpaint at the training scale, upsample the fill into the hole.

    Known pixels are the photo's own, bit for bit.
    """
    h, w = image.shape[-2:]
    ch, cw = coarse_size(h, w, train_size)
    if (ch, cw) == (h, w):
        return _fill(generator, image, known, pra, **pra_options)
    small = F.interpolate(image * known, size=(ch, cw), mode="area")
    cover = F.interpolate(known, size=(ch, cw), mode="area")
    small_known = (cover > 1 - 1e-6).to(image.dtype)
    # the coarse image's known pixels: the area average of the photo's known pixels (no hole colour leaks in)
    small = torch.where(small_known.bool().expand_as(small), small / cover.clamp(min=1e-6), torch.zeros_like(small))
    small_comp, passes = _fill(generator, small, small_known, pra, **pra_options)
    up = F.interpolate(small_comp, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)
    if blend:
        # shift the fill by the photo's residual against the upsampled coarse image, spread in from the hole's edge
        scale = h / ch
        residual = (image - up) * known
        up = (up + _spread(residual, known, sigma=max(1.0, scale))).clamp(0, 1)
    out = composite(up, image, known)
    return torch.where(known.bool().expand_as(image), image, out), passes


@torch.no_grad()
def run_mode(mode: str, generator: Callable, image: torch.Tensor, known: torch.Tensor, train_size: int | None,
             pra: bool = False, **pra_options: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(composite, passes) of one named mode (``native`` or ``coarse-to-fine``)."""
    if mode not in MODES:
        raise ValueError(f"unknown inference mode {mode!r}; choose one of {', '.join(MODES)} (or {AUTO!r})")
    if mode == "native" or train_size is None:
        return _fill(generator, image, known, pra, **pra_options)
    return coarse_to_fine(generator, image, known, train_size, pra=pra, **pra_options)


# ----------------------------------------------------------------------------------------- which mode where
def modes_path(name: str = DEFAULT) -> Path:
    """Where ``isnet bench scale --write-modes`` stores a shipped generator's per-size measurements."""
    return RESOURCES / f"{name}-modes.json"


def training_size(name: str = DEFAULT) -> int:
    """The image size a shipped generator was trained at (from its provenance record)."""
    return int(describe(name)["config"]["data"]["size"])


def checkpoint_training_size(checkpoint: str | os.PathLike | None) -> int | None:
    """The training size of a checkpoint: the shipped generator's for ``None``, our checkpoints' stored
    ``data.size``, 256 for the authors' released file (the paper's size), else ``None`` (unknown)."""
    if checkpoint is None:
        return training_size()
    try:
        blob = load_checkpoint(checkpoint)
    except Exception:  # unreadable here: load_generator reports it properly later
        return None
    if isinstance(blob, dict) and blob.get("format") == FORMAT:
        return int(blob["config"]["data"]["size"])
    if isinstance(blob, dict) and "generator" in blob:
        return 256
    return None


@dataclass(frozen=True)
class ModeChoice:
    """The mode picked for one size, why, and whether every mode measured below Telea there."""

    mode: str
    size: int
    measured_at: int | None
    psnr: dict[str, float]
    below_telea: bool

    def describe(self) -> str:
        if self.measured_at is None:
            return f"mode {self.mode} (no measurements for this model; native is the default)"
        scores = ", ".join(f"{k} {v:.2f} dB" for k, v in self.psnr.items())
        return f"mode {self.mode} (measured at {self.measured_at} px, the nearest to {self.size} px: {scores})"

    def warning(self) -> str | None:
        if not self.below_telea:
            return None
        return (f"at {self.measured_at} px every inference mode of this model measured below Telea "
                f"({self.describe()}); a classical fill (Telea, NS, biharmonic) is likely better at {self.size} px")


def read_measurements(name: str = DEFAULT) -> dict[str, Any] | None:
    path = modes_path(name)
    return json.loads(path.read_text()) if path.is_file() else None


def choose_mode(size: int, measurements: dict[str, Any] | None = None, name: str = DEFAULT) -> ModeChoice:
    """The mode with the best measured composite PSNR at the measured size nearest to ``size`` (log scale), among
    the modes that pass the in-hole checkerboard gate when any does (``isnet.method.checkerboard``).

    ``size`` is the photo's short side. Without measurements: ``native``, no warning.
    """
    m = measurements if measurements is not None else read_measurements(name)
    if not m or not m.get("sizes"):
        return ModeChoice("native", size, None, {}, False)
    sizes = sorted(int(s) for s in m["sizes"])
    nearest = min(sizes, key=lambda s: abs(math.log(s) - math.log(max(size, 1))))
    entry = m["sizes"][str(nearest)]
    psnr = {k: float(v) for k, v in entry["psnr"].items()}
    ours = {k: v for k, v in psnr.items() if k in MODES}
    grid = entry.get("hole_p2_ratio", {})
    clean = {k: v for k, v in ours.items() if not checkerboard_gate(grid.get(k, float("nan")))}
    best = max(clean or ours, key=(clean or ours).get)
    below = "telea" in psnr and all(v < psnr["telea"] for v in ours.values())
    return ModeChoice(best, size, nearest, psnr, below)


def resolve_mode(mode: str, size: int, measured: bool) -> str:
    """The mode to run for a photo whose short side is ``size``: ``mode`` itself, or for ``auto`` the best measured
    one (``measured``: the shipped generator, whose measurements exist; any other model runs ``native``). Warns
    (``UserWarning``) where every mode of the shipped generator measured below Telea at that size."""
    import warnings

    if mode != AUTO:
        if mode not in MODES:
            raise ValueError(f"unknown inference mode {mode!r}; choose one of {AUTO}, {', '.join(MODES)}")
        return mode
    if not measured:
        return "native"
    choice = choose_mode(size)
    if choice.warning():
        warnings.warn(choice.warning(), stacklevel=2)
    return choice.mode


__all__ = ["AUTO", "MODES", "ModeChoice", "checkpoint_training_size", "choose_mode", "coarse_size", "coarse_to_fine",
           "modes_path", "read_measurements", "resolve_mode", "run_mode", "training_size"]
