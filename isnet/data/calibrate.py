"""Backbone calibration from photos: each layer's scale 1 / mean |φ_l(x)| (``isnet weights calibrate``).

The method layer (:mod:`isnet.method.features`) loads and applies the stored scales; deriving them needs
images, so it lives here in the data layer. The rule is written in ``isnet.method.features``' docstring.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from ..io import atomic_write_text, refuse_overwrite
from ..method.features import calibration_path, mean_activations
from ..method.features.registry import _spec, _weights_spec
from .sources import build_source
from .transforms import eval_transform


def calibrate(name: str, source: str = "photos", split: str = "train", size: int = 128,
              out: str | os.PathLike | None = None, overwrite: bool = False) -> tuple[Path, dict[str, Any], int]:
    """Derive backbone ``name``'s per-layer scales from every image of ``source:split`` (centre square
    resized to ``size``) and write them to ``out`` (default: the package's resource file).

    Returns the file, the record written and the number of images.
    """
    spec = _spec(name)
    out = Path(out) if out else calibration_path(name)
    refuse_overwrite(out, overwrite, "calibration file")
    src = build_source(source, split=split)
    tensors = [eval_transform(src.load(i), size, upscale=True, where=str(src.paths[i])) for i in range(len(src))]
    batches = [torch.stack(tensors[i:i + 16]) for i in range(0, len(tensors), 16)]
    means = mean_activations(name, batches)
    record = {
        "backbone": name, "tensors_sha256": (_weights_spec(spec).sha256 or {}).get("tensors"),
        "rule": "layer_scales[l] = 1 / mean |phi_l(x)| (unit mean activation per layer)",
        "images": f"{source}:{split}, {len(tensors)} images, centre square resized to {size} px",
        "command": f"isnet weights calibrate {name} --source {source} --split {split} --size {size}",
        "mean_activation": {k: round(v, 6) for k, v in means.items()},
        "layer_scales": {k: float(f"{1.0 / v:.6g}") for k, v in means.items()},
    }
    atomic_write_text(out, json.dumps(record, indent=1) + "\n")
    return out, record, len(tensors)
