"""Checkpoints that resume a run exactly, survive a kill, and refuse the wrong model.

A checkpoint is one ``torch.save`` dict of plain types (so ``torch.load(weights_only=True)`` reads it):
generator, discriminator, both optimizers (and AMP scalers), the number of finished iterations, every
RNG state (python, numpy, torch CPU, CUDA), the sampler position, the resolved config as a plain dict
and the git commit. Files are written atomically (temporary file, fsync, rename), so a process killed
while saving leaves the previous checkpoint intact.

Layout under a run folder::

    checkpoints/iter_00000100.pt   the last ``keep_last`` ones
    checkpoints/best.pt            the best by validation PSNR (best.json says which iteration)

Unlike the authors' code (docs/authors-code.md §11: generator/discriminator weights and the epoch only), optimizer
state and the iteration are saved, and loading needs no renaming.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import random
import re
import subprocess
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from .. import models
from ..io import FileError, atomic_write_bytes, atomic_write_text, describe_os_error, load_torch_file
from .config import Config

FORMAT = "isnet-checkpoint/1"
_ITER_RE = re.compile(r"^iter_(\d+)\.pt$")
# Keys that may change between a checkpoint and the run that resumes it (they do not change the
# weights' meaning): run length, where things go, cadence of logs/validation, the device.
RESUME_MAY_DIFFER = ("train.iterations", "train.val_every", "train.log_every", "train.keep_last",
                     "train.device", "data.workers", "out.")


# ----------------------------------------------------------------------------------------- RNG
def capture_rng() -> dict[str, Any]:
    """Every RNG state that training could touch, as weights_only-loadable plain types."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"kind": np_state[0], "key": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
                  "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Mapping[str, Any]) -> None:
    random.setstate(_as_tuple(state["python"]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda = list(state["cuda"])[: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all(cuda)


def _as_tuple(v: Any) -> Any:
    return tuple(_as_tuple(x) for x in v) if isinstance(v, (list, tuple)) else v


# ----------------------------------------------------------------------------------------- provenance
def git_commit(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The commit of the package's repository and whether the tree had changes (None outside git)."""
    where = Path(path) if path else Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": head or None, "dirty": bool(dirty) if head else None}


# ----------------------------------------------------------------------------------------- files
def checkpoint_dir(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / "checkpoints"


def checkpoint_path(run_dir: str | os.PathLike, iteration: int) -> Path:
    return checkpoint_dir(run_dir) / f"iter_{iteration:08d}.pt"


def list_checkpoints(run_dir: str | os.PathLike) -> list[Path]:
    """Rolling checkpoints of a run, oldest first (temporary files of an interrupted save are ignored)."""
    d = checkpoint_dir(run_dir)
    if not d.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in d.iterdir() if (m := _ITER_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def save_checkpoint(run_dir: str | os.PathLike, payload: Mapping[str, Any], keep_last: int = 3,
                    best: bool = False) -> Path:
    """Write ``iter_<iteration>.pt`` atomically, also as ``best.pt`` if ``best``; keep the last ``keep_last``.

    The payload is serialised once; the old files are pruned only after the new one is in place. A write that
    fails (full disk, read-only folder) leaves the earlier checkpoints as they were and raises a ``FileError``
    saying so and how to continue.
    """
    assert keep_last >= 1, f"keep_last must be at least 1, got {keep_last}"
    iteration = int(payload["iteration"])
    buf = io.BytesIO()
    torch.save(dict(payload), buf)
    data = buf.getvalue()
    try:
        path = atomic_write_bytes(checkpoint_path(run_dir, iteration), data)
        if best:
            atomic_write_bytes(checkpoint_dir(run_dir) / "best.pt", data)
            info = {"iteration": iteration, "file": path.name, **(payload.get("val") or {})}
            atomic_write_text(checkpoint_dir(run_dir) / "best.json", json.dumps(info, indent=1))
    except OSError as e:
        if isinstance(e, FileError):
            raise
        earlier = list_checkpoints(run_dir)
        kept = (f"the last complete checkpoint is {earlier[-1]}" if earlier else "the run has no complete checkpoint")
        raise FileError(e.errno, f"{describe_os_error(e)}; the checkpoint of iteration {iteration} was not saved "
                        f"({kept}, nothing half-written is left); then continue with `isnet train --resume` and the "
                        "same config", e.filename) from None
    for old in list_checkpoints(run_dir)[:-keep_last]:
        old.unlink(missing_ok=True)
    _remove_stale_temporaries(checkpoint_dir(run_dir))
    return path


def _remove_stale_temporaries(d: Path) -> None:
    """Temporary files left by a process killed mid-save (``.iter_*.pt.*.tmp``) are garbage."""
    for p in d.glob(".*.tmp"):
        try:
            p.unlink()
        except OSError:
            pass


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """Load one of our checkpoints with ``weights_only=True``; clear errors for other files."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    blob = load_torch_file(path, "checkpoint", map_location)  # truncated, not torch, or unsafe: one-line errors
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        hint = (" It looks like the authors' released generator; use it with `isnet evaluate/inpaint "
                "--checkpoint` (load_generator), not for resuming." if isinstance(blob, dict) and "generator" in blob
                else "")
        raise ValueError(f"{path} is not an isnet training checkpoint (format {FORMAT}).{hint}")
    return blob


def load_latest(run_dir: str | os.PathLike, map_location: Any = "cpu") -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint that loads, or None when the run has none (unreadable ones are skipped, with a warning)."""
    for path in reversed(list_checkpoints(run_dir)):
        try:
            return path, load_checkpoint(path, map_location)
        except ValueError as e:
            warnings.warn(f"skipping unreadable checkpoint: {e}", stacklevel=2)
    return None


def check_compatible(stored: Mapping[str, Any], cfg: Config, source: str = "checkpoint",
                     may_differ: tuple[str, ...] = RESUME_MAY_DIFFER) -> None:
    """Raise a ValueError naming each setting where ``stored`` (a config dict) and ``cfg`` disagree.

    Only settings that change what is trained count; ``may_differ`` (run length, output, device, ...)
    are free. Model settings are listed first because they make the weights unusable.
    """
    diffs = cfg.differences(stored, ignore=may_differ)
    if not diffs:
        return
    diffs.sort(key=lambda d: (not d[0].startswith("model."), d[0]))
    key, mine, theirs = diffs[0]
    more = "; also " + ", ".join(f"{k}: {t!r} vs {m!r}" for k, m, t in diffs[1:6]) if len(diffs) > 1 else ""
    raise ValueError(f"{source} was trained with {key}={theirs!r}, this run has {mine!r}{more}. "
                     "Resume with the checkpoint's settings, or start a new run in another out.dir.")


# ----------------------------------------------------------------------------------------- generators
def build_models(cfg: Config) -> tuple[nn.Module, nn.Module]:
    """The generator and discriminator a config describes (``isnet.models.build_models`` from its plain values;
    D's sigmoid follows the resolved loss's GAN loss)."""
    m = cfg.model
    return models.build_models(m.generator, blocks=m.blocks, width=m.width, init_gain=m.init_gain,
                               d_width=m.d_width, gan_loss=cfg.loss.loss_weights().gan_loss,
                               d_antialias=m.d_antialias, upsample_init=m.upsample_init)


def build_generator(cfg: Config) -> nn.Module:
    """The generator a config describes (``isnet.models.build_generator`` from its plain values)."""
    m = cfg.model
    return models.build_generator(m.generator, blocks=m.blocks, width=m.width, init_gain=m.init_gain,
                                  upsample_init=m.upsample_init)


def load_generator(path: str | os.PathLike, map_location: Any = "cpu", **released_options: Any) -> nn.Module:
    """A generator in eval mode from one of our checkpoints or the authors' ``InpaintingModel_gen.pth``.

    Our checkpoints rebuild the model from their stored config (``model.*``); the authors' file
    is ISNet with blocks=4, width=1 (``isnet.models.load_released_generator``; ``released_options``
    such as ``blocks=`` go to it, for the authors' format only).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found; pass a run's checkpoints/best.pt or iter_*.pt, "
                                "or the authors' InpaintingModel_gen.pth")
    blob = load_torch_file(path, "checkpoint", map_location)
    if isinstance(blob, dict) and blob.get("format") == FORMAT:
        cfg = _stored_config(blob, path)
        g = build_generator(cfg)
        ema = blob.get("generator_ema")  # train.ema > 0: the averaged weights are the ones to use
        _load_fitting(g, ema if ema is not None else blob.get("generator"), cfg, path)
        g.isnet_source = (f"{path} (iteration {blob.get('iteration')}, config {blob.get('config_hash')}"
                          f"{', EMA weights' if ema is not None else ''})")
        check_finite_weights(g, path)
        return g.eval()
    if isinstance(blob, dict) and "generator" in blob:
        try:
            g = models.load_released_generator(path, map_location=map_location, **released_options)
        except ValueError as e:
            if released_options:
                raise
            # the models layer's hint names the Python keyword `blocks`; say what a command-line user can do
            first = str(e).split("\n")[0].split("; check `blocks`")[0].rstrip(":")
            raise ValueError(f"{first}: {path} has a 'generator' but is neither an isnet checkpoint nor the authors' "
                             "released ISNet generator (blocks=4, width=1); pass a run's checkpoints/best.pt or the "
                             "authors' InpaintingModel_gen.pth (another released variant loads in Python with "
                             "isnet.engine.checkpoint.load_generator(path, blocks=..., width=...))") from None
        g.isnet_source = f"{path} (authors' released weights)"
        check_finite_weights(g, path)
        return g.eval()
    keys = sorted(blob)[:6] if isinstance(blob, dict) else type(blob).__name__
    raise ValueError(f"{path} is neither an isnet checkpoint nor the authors' InpaintingModel_gen.pth (found {keys})")


def _stored_config(blob: Mapping[str, Any], path: Path) -> Config:
    """The config a checkpoint stores, or a one-line error naming the file."""
    try:
        return Config.from_dict(blob["config"])
    except (KeyError, ValueError, TypeError, AttributeError) as e:
        detail = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        raise ValueError(f"checkpoint {path}: its stored configuration cannot be read ({detail}); the file was "
                         "written by another isnet version or edited: use a checkpoint from the same version, "
                         "or retrain") from None


def _load_fitting(g: nn.Module, state: Any, cfg: Config, path: Path) -> None:
    """Load ``state`` strictly; a mismatch with the stored config is one line naming the file and the fix."""
    model = (f"model.generator={cfg.model.generator}, model.blocks={cfg.model.blocks}, "
             f"model.width={cfg.model.width}")
    if not isinstance(state, Mapping):
        raise ValueError(f"checkpoint {path} has no generator weights; it is incomplete: use another checkpoint "
                         "of the run (checkpoints/iter_*.pt)")
    expected = g.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = sorted(k for k in set(expected) & set(state)
                    if not isinstance(state[k], torch.Tensor) or tuple(state[k].shape) != tuple(expected[k].shape))
    if missing or unexpected or shapes:
        parts = [f"{len(missing)} missing" if missing else "", f"{len(unexpected)} unexpected" if unexpected else "",
                 f"{len(shapes)} of another shape" if shapes else ""]
        first = (missing or unexpected or shapes)[0]
        raise ValueError(f"checkpoint {path}: its stored configuration ({model}) does not fit its generator weights "
                         f"({', '.join(p for p in parts if p)} tensors, e.g. {first}); the file was edited or mixes "
                         "two runs: use the checkpoint as training wrote it, or retrain")
    g.load_state_dict(state, strict=True)


def check_finite_weights(model: nn.Module, source: str | os.PathLike) -> None:
    """Refuse weights with NaN or inf: such a generator paints every pixel NaN (black), silently."""
    bad = [(k, int((~torch.isfinite(v)).sum())) for k, v in model.state_dict().items()
           if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        total = sum(n for _, n in bad)
        raise ValueError(f"checkpoint {source} has {total} NaN or infinite weight value(s) (first in {bad[0][0]}); "
                         "it cannot inpaint: use an earlier checkpoint of the run (checkpoints/iter_*.pt) or retrain")


def state_hash(module_or_state: nn.Module | Mapping[str, torch.Tensor]) -> str:
    """SHA-256 of every tensor's bytes in key order: equal iff the weights are bitwise equal."""
    state = module_or_state.state_dict() if isinstance(module_or_state, nn.Module) else module_or_state
    h = hashlib.sha256()
    for k in sorted(state):
        t = state[k].detach().cpu().contiguous()
        h.update(k.encode())
        h.update(str(t.dtype).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()
