"""Provenance: the commit, package versions, device, feature weights and data manifest every result depends on."""
from __future__ import annotations

import importlib.metadata as md
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..data.photos import default_manifest_path
from ..engine.checkpoint import git_commit as checkpoint_git_commit
from ..engine.device import device_name
from ..io import sha256_file
from ..method.features import provenance
from .profiles import (
    StudyProfile,
)

REPO = Path(__file__).resolve().parents[2]


def git_commit() -> str | None:
    """``<sha>`` or ``<sha>+dirty`` of this checkout (None outside git): ``isnet.engine.checkpoint.git_commit``."""
    g = checkpoint_git_commit(REPO)
    return None if g["commit"] is None else g["commit"] + ("+dirty" if g["dirty"] else "")


def environment(profile: StudyProfile | None = None) -> dict[str, Any]:
    """Versions, commit, device, feature weights and data manifest hash: what every result depends on."""
    pkgs = {}
    for name in ("torch", "torchvision", "numpy", "scipy", "scikit-image", "pandas", "optuna", "papermill",
                 "opencv-python-headless", "matplotlib"):
        try:
            pkgs[name] = md.version(name)
        except md.PackageNotFoundError:
            pkgs[name] = None
    env: dict[str, Any] = {
        "isnet": __version__, "git_commit": git_commit(), "python": sys.version.split()[0],
        "platform": platform.platform(), "packages": pkgs,
        "device": device_name(torch.device("cuda" if torch.cuda.is_available() else "cpu")),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if profile is not None:
        weights = profile.base.loss.loss_weights()
        env["profile"] = {"name": profile.name, "description": profile.description, "budget": profile.budget,
                          "seeds": list(profile.seeds), "base_config": profile.base.to_dict()}
        env["feature_weights"] = provenance(weights.backbone)
        manifest = default_manifest_path()
        env["data"] = {"train": f"{profile.base.data.source}:{profile.base.data.split}",
                       "eval": f"{profile.eval_source}:{profile.eval_split}",
                       "photos_manifest_sha256": sha256_file(manifest) if manifest.exists() else None}
    return env
