"""Provenance: the commit, package versions, device, feature weights and data manifest every result depends on,
and results that name no machine path (``make_portable``)."""
from __future__ import annotations

import importlib.metadata as md
import os
import platform
import re
import subprocess
import tempfile
import sys
import time
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..data.photos import default_manifest_path
from ..engine.checkpoint import git_commit as checkpoint_git_commit
from ..engine.device import device_name
from ..io import atomic_write_text, cache_dir, sha256_file
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


# Text files a study writes (tables, logs, configs, executed notebooks); binary files hold no paths.
TEXT_SUFFIXES = {".json", ".jsonl", ".yaml", ".yml", ".csv", ".md", ".ipynb", ".txt", ""}
# What a committed file must not contain: an absolute path of some machine (POSIX roots people run from, or a
# Windows drive). ``tests`` scans the committed results with it.
MACHINE_PATH = re.compile(r"(?<![\w.~$])(/(?:work|root|home|tmp|Users|mnt|var|opt|private|scratch|data)/"
                          r"|[A-Za-z]:\\\\)")


def portable_text(text: str, folder: Path, cache: Path | None = None) -> str:
    """``text`` with absolute paths made relative: under ``folder`` (a profile's results folder) → relative to
    it; under the project → relative to the project root; under the data cache → ``$ISNET_CACHE/...``; under the
    home folder → ``~/...``."""
    anchors = [(str(folder.resolve()) + "/", ""), (str(folder.resolve()), "."), (str(REPO) + "/", ""),
               (str(REPO), ".")]
    if cache is not None:
        anchors.append((str(cache.resolve()), "$ISNET_CACHE"))
    anchors.append((str(Path.home()), "~"))
    anchors.append((tempfile.gettempdir(), "$TMPDIR"))  # papermill's output path of a notebook run elsewhere
    for old, new in anchors:
        if old not in ("/", "") and old in text:
            text = text.replace(old, new)
    return text


def make_portable(folder: str | os.PathLike) -> list[Path]:
    """Rewrite every text file under ``folder`` so that it names no machine path (atomically); returns the files
    changed. Run at the end of ``isnet study`` and ``isnet bench learn`` on what they wrote."""
    folder = Path(folder)
    return [path for path in sorted(folder.rglob("*"))
            if path.is_file() and "checkpoints" not in path.parts and make_file_portable(path, folder)]


def make_file_portable(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """``make_portable`` for one text file under ``folder`` (e.g. an executed notebook before its hash is
    recorded); True when it changed."""
    path = Path(path)
    if path.suffix not in TEXT_SUFFIXES:
        return False
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return False
    new = portable_text(text, Path(folder), cache_dir())
    if new != text:
        atomic_write_text(path, new)
    return new != text


# Profiles whose results are committed: writing them from a tree with uncommitted changes needs --allow-dirty.
COMMITTED_PROFILES = ("laptop", "laptop-16k", "night", "ablation", "ablation-maxpool", "gpu", "paper")


class DirtyTreeError(ValueError):
    """Committed results would come from code that is not committed."""


def changed_files() -> list[str] | None:
    """Tracked files with uncommitted changes outside ``results/`` (a study writes those); None outside git."""
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    files = [line[3:].split(" -> ")[-1] for line in out.stdout.splitlines() if len(line) > 3]
    return [f for f in files if not f.startswith("results/")]


def require_clean_tree(profile: str, allow_dirty: bool = False) -> dict[str, Any]:
    """The ``tree`` record for env.json; raises ``DirtyTreeError`` (one line naming the fix) when ``profile``'s
    results are committed ones, the checkout has uncommitted changes outside ``results/`` and ``allow_dirty`` is
    not given."""
    changed = changed_files()
    record = {"uncommitted_changes": changed, "allow_dirty": bool(allow_dirty)}
    if changed and profile in COMMITTED_PROFILES and not allow_dirty:
        raise DirtyTreeError(f"the checkout has uncommitted changes ({len(changed)} file(s), e.g. {changed[0]}): "
                             f"results of profile {profile!r} are committed and must come from committed code; "
                             "commit first, or pass --allow-dirty (recorded in env.json)")
    return record
