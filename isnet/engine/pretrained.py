"""Generators in fp16: the one shipped inside the package (a student inpaints without training first), and each
committed run's ``generator-fp16.pt`` (what the study scores, so tables re-score without retraining).

``isnet/resources/<name>.pt`` holds the generator's weights only (the EMA weights when the run kept
them), in half precision, a few MB; ``<name>.json`` beside it records the sha256 of that file and the
provenance: profile, data, iterations, the run's config, and its PSNR against Telea per hole-ratio
bucket on the profile's fixed test pairs. ``load_pretrained`` checks the hash before loading, as
torchvision's weight enums do. ``isnet inpaint`` and ``00_quickstart`` use it when no checkpoint is given.

Made by ``export_pretrained(checkpoint, name, scores)`` from a finished run (``isnet bench learn``).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from ..io import atomic_torch_save, atomic_write_text, refuse_overwrite, sha256_file
from ..models import build_generator
from .checkpoint import FORMAT, load_checkpoint
from .config import Config

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
DEFAULT = "isnet-laptop"


def pretrained_paths(name: str = DEFAULT) -> tuple[Path, Path]:
    return RESOURCES / f"{name}.pt", RESOURCES / f"{name}.json"


def available() -> list[str]:
    return sorted(p.stem for p in RESOURCES.glob("*.json") if (RESOURCES / f"{p.stem}.pt").exists()
                  and "sha256" in json.loads(p.read_text()))


def describe(name: str = DEFAULT) -> dict[str, Any]:
    """The provenance record of a shipped generator."""
    _, meta = pretrained_paths(name)
    if not meta.is_file():
        raise FileNotFoundError(f"no shipped generator {name!r} ({meta} is missing); available: {available()}")
    return json.loads(meta.read_text())


def load_pretrained(name: str = DEFAULT, device: torch.device | str = "cpu") -> nn.Module:
    """The shipped generator in eval mode, float32, its hash checked; ``.isnet_source`` says which it is."""

    weights, _ = pretrained_paths(name)
    info = describe(name)
    digest = sha256_file(weights)
    if digest != info["sha256"]:
        raise ValueError(f"{weights}: sha256 {digest} differs from the recorded {info['sha256']}; "
                         "reinstall the package (the file is damaged or was replaced)")
    cfg = Config.from_dict(info["config"])
    g = build_generator(cfg.model.generator, blocks=cfg.model.blocks, width=cfg.model.width)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    g.load_state_dict({k: v.float() for k, v in state.items()})
    g.isnet_source = (f"shipped generator {name!r}: {info['summary']} ({weights.name}, sha256 {digest[:12]})")
    return g.to(device).eval()


def export_pretrained(checkpoint: str | os.PathLike, name: str, scores: Mapping[str, Any],
                      overwrite: bool = False) -> Path:
    """Write ``resources/<name>.pt`` (fp16 generator weights) and ``<name>.json`` from one of our checkpoints.

    ``scores``: what to record beside it (profile, data, PSNR vs Telea per bucket, ...); it must hold a
    one-line ``summary``.
    """

    assert "summary" in scores, "scores must include a one-line 'summary' of what the model is"
    blob = _our_checkpoint(checkpoint)
    weights, meta = pretrained_paths(name)
    refuse_overwrite(weights, overwrite, "shipped generator")
    atomic_torch_save(_half_generator(blob), weights)
    record = {"name": name, **_weights_record(blob, weights), "config": blob["config"], **dict(scores)}
    atomic_write_text(meta, json.dumps(record, indent=1, default=str) + "\n")
    return weights


def _our_checkpoint(checkpoint: str | os.PathLike) -> dict[str, Any]:
    blob = load_checkpoint(checkpoint)
    if blob.get("format") != FORMAT:
        raise ValueError(f"{checkpoint} is not an isnet checkpoint")
    return blob


def _half_generator(blob: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The generator weights evaluation uses (the EMA copy when there is one), in fp16."""
    state = blob.get("generator_ema") or blob["generator"]
    return {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}


def _weights_record(blob: Mapping[str, Any], weights: Path) -> dict[str, Any]:
    return {"sha256": sha256_file(weights), "bytes": weights.stat().st_size,
            "weights": "EMA" if blob.get("generator_ema") else "raw", "precision": "float16",
            "iteration": int(blob["iteration"]), "config_hash": blob.get("config_hash"), "git": blob.get("git")}


def export_generator(checkpoint: str | os.PathLike, out: str | os.PathLike) -> Path:
    """A run's committed model: ``out`` (e.g. ``generator-fp16.pt``) holds the evaluation generator in fp16 with
    the run's config, loadable by ``load_generator`` / ``isnet evaluate`` (≈ 3 MB at width 0.25 instead of the
    checkpoint's ≈ 44 MB); ``<out>.json`` records its sha256. Overwrites ``out`` (it is derived from the
    checkpoint, which stays the source)."""
    blob = _our_checkpoint(checkpoint)
    out = Path(out)
    config = {**blob["config"], "out": {**blob["config"].get("out", {}), "dir": ""}}  # no machine path in a
    light = {"format": FORMAT, "kind": "generator-fp16", "iteration": blob["iteration"],  # committed file
             "config_hash": blob.get("config_hash"), "config": config, "git": blob.get("git"),
             "generator": None, "generator_ema": _half_generator(blob)}
    atomic_torch_save(light, out)
    atomic_write_text(out.with_suffix(".json"), json.dumps(_weights_record(blob, out), indent=1, default=str) + "\n")
    return out


def verify_generator(path: str | os.PathLike) -> Path:
    """``path`` after checking its sha256 against ``<path>.json``; a one-line error naming the file otherwise."""
    path = Path(path)
    meta = path.with_suffix(".json")
    if not path.is_file() or not meta.is_file():
        raise FileNotFoundError(f"{path} or its record {meta.name} is missing: restore it from git "
                                "(git checkout -- <file>) or retrain the run")
    expected = json.loads(meta.read_text())["sha256"]
    digest = sha256_file(path)
    if digest != expected:
        raise ValueError(f"{path}: sha256 {digest[:12]}… differs from {expected[:12]}… in {meta.name}; the file was "
                         "changed: restore it from git (git checkout -- <file>)")
    return path
