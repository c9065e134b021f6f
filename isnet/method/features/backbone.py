"""Frozen feature modules built from named weights: ``build_backbone`` and HED's own edge map.

``build_backbone(name, layers)`` returns a frozen module whose forward gives ``{layer: feature}`` in ONE
pass that stops after the deepest requested layer. Missing weights raise an error that names the
command that fetches them and the alternatives; there is never a silent fallback to other weights.

``hed_edge_map`` runs HED's full network from the converted weights: the check that the conversion is right.
"""
from __future__ import annotations

from typing import Iterable

import torch
import torch.nn.functional as F

from .calibration import load_calibration
from .registry import BACKBONES, _spec, _weights_spec
from .vgg import VGGFeatures
from .weights import LOADERS, _load_hed


def build_backbone(name: str, layers: Iterable[str], device: torch.device | str | None = None,
                   normalize_input: bool = True, download: bool = False, pool: str = "max") -> VGGFeatures:
    """A frozen VGG returning ``{layer: feature}`` for ``layers`` in one forward.

    ``normalize_input=False`` feeds raw [0, 1] RGB, as the authors' loss code does (docs/authors-code.md §8).
    ``download=True`` lets torchvision fetch ImageNet weights when they are not cached; by default a
    missing file is an error naming ``isnet weights fetch NAME``, so no run downloads 500 MB by surprise.
    ``pool="avg"``: average instead of max pooling (``vgg.POOLS``; the same weights).
    """
    spec = _spec(name)
    state = LOADERS[spec.kind](_weights_spec(spec), download)  # missing weights: say so before anything else
    scales = load_calibration(name) if spec.calibrated and normalize_input else None
    model = VGGFeatures(spec.arch, layers, spec.preprocess if normalize_input else "none",
                        ceil_mode=spec.ceil_mode, name=name, scales=scales, pool=pool)
    model.load_features(state)
    return model.to(device) if device is not None else model


def hed_edge_map(image: torch.Tensor, state: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """HED's fused edge probability (N×1×H×W) from converted weights: proof that the conversion is right."""
    state = state if state is not None else _load_hed(BACKBONES["vgg16-hed"], download=False)
    stops = ["relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"]
    vgg = VGGFeatures("vgg16", stops, "caffe-bgr", ceil_mode=True, name="vgg16-hed")
    vgg.load_features(state)
    with torch.no_grad():
        feats = vgg(image)
        h, w = image.shape[-2:]
        sides = [F.interpolate(F.conv2d(feats[s], state[f"side.dsn{k}.weight"], state[f"side.dsn{k}.bias"]),
                               size=(h, w), mode="bilinear", align_corners=False)
                 for k, s in enumerate(stops, start=1)]
        fused = F.conv2d(torch.cat(sides, 1), state["side.fuse.weight"], state["side.fuse.bias"])
    return torch.sigmoid(fused)
