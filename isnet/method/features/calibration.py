"""Calibration of a backbone: per-layer output scales that give unit mean activation on natural photos.

The paper's weights (Eq. 5: perceptual 1, style 3 beside L1 1) were chosen for ImageNet VGG
fed ImageNet-normalised input, whose activations are O(1). HED-VGG16 expects Caffe input (×255, BGR,
mean-subtracted), so its features are ~50× larger, its perceptual term ~200× L1 and its Gram terms larger
still: a "paper-eq5" run with it trains on HED-perceptual alone. A calibrated backbone multiplies each
returned layer by a stored scale s_l = 1 / mean|φ_l(x)| over the offline photo pool's training split, so
every layer's mean activation on natural photos is 1 (Gatys et al.'s normalisation of VGG, per layer
rather than per filter). The scales live in ``isnet/resources/<backbone>-calibration.json`` with the
images, size and weight digest they came from; ``isnet weights calibrate NAME`` derives them again.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import torch

from .registry import MissingWeightsError, _spec, _weights_spec
from .vgg import VGGFeatures, layer_names
from .weights import LOADERS

RESOURCES = Path(__file__).resolve().parents[2] / "resources"


def calibration_path(name: str) -> Path:
    return RESOURCES / f"{name}-calibration.json"


def load_calibration(name: str) -> dict[str, float]:
    """The stored per-layer scales of a calibrated backbone, checked against its weights' digest."""
    path = calibration_path(name)
    if not path.is_file():
        raise MissingWeightsError(f"backbone {name!r} is calibrated but {path} is missing; derive it with "
                                  f"`isnet weights calibrate {name}` or reinstall the package")
    data = json.loads(path.read_text())
    expected = (_spec(name).sha256 or {}).get("tensors")
    if expected and data.get("tensors_sha256") != expected:
        raise ValueError(f"{path} was derived for other weights (tensors {data.get('tensors_sha256')}, "
                         f"expected {expected}); run `isnet weights calibrate {name} --overwrite`")
    return {k: float(v) for k, v in data["layer_scales"].items()}


@torch.no_grad()
def mean_activations(name: str, images: Iterable[torch.Tensor]) -> dict[str, float]:
    """mean |φ_l(x)| of every layer of the UNCALIBRATED backbone over ``images`` (N×3×H×W in [0, 1])."""
    spec = _spec(name)
    model = VGGFeatures(spec.arch, layer_names(spec.arch), spec.preprocess, ceil_mode=spec.ceil_mode, name=name)
    model.load_features(LOADERS[spec.kind](_weights_spec(spec), False))
    sums: dict[str, float] = {}
    count = 0
    for batch in images:
        feats = model(batch.float())
        for layer, f in feats.items():
            sums[layer] = sums.get(layer, 0.0) + float(f.abs().mean(dim=(1, 2, 3)).sum())
        count += batch.shape[0]
    assert count, "calibration needs at least one image"
    return {layer: total / count for layer, total in sums.items()}
