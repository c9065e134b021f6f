"""The run cache: where results live, a run folder's status, checkpoint pruning, progress events for the driver.

A run is keyed by the hash of its resolved configuration (``Config.config_hash``) and its seed; a run folder with a
finished ``summary.json`` is never trained again, an unfinished one resumes from its last checkpoint.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

from ..engine.checkpoint import list_checkpoints
from ..io import append_jsonl, sha256_file
from .provenance import REPO

RESULTS_ENV = "ISNET_RESULTS"     # results root for notebooks opened anywhere (JupyterLab starts kernels in notebooks/)


PROGRESS_ENV = "ISNET_PROGRESS"   # set by ``run_study``: a JSON-lines file the kernel reports each run to


def project_root() -> Path:
    """The checkout this package runs from (an editable install), else the working directory."""
    return REPO if (REPO / "pyproject.toml").exists() else Path.cwd()


def results_root(results_dir: str | os.PathLike | None = None) -> Path:
    """Where results live, never relative to a kernel's working directory.

    An absolute ``results_dir`` is used as is; ``None`` means ``$ISNET_RESULTS`` or ``<project>/results``; a
    relative one is taken from the project root (so a notebook opened in ``notebooks/`` finds the runs that
    ``isnet study`` trained instead of retraining them into the source tree).
    """
    if results_dir is None or str(results_dir) == "":
        results_dir = os.environ.get(RESULTS_ENV) or "results"
    path = Path(results_dir).expanduser()
    return (path if path.is_absolute() else project_root() / path).resolve()


def under_driver() -> bool:
    """True inside a notebook that ``isnet study`` executes: progress goes to the terminal, not the notebook."""
    return bool(os.environ.get(PROGRESS_ENV))


def report_progress(**event: Any) -> None:
    """Append one progress event for ``run_study``'s terminal line (no-op outside the driver)."""
    path = os.environ.get(PROGRESS_ENV)
    if not path:
        return
    try:
        append_jsonl(path, {"t": time.time(), **event})
    except OSError:
        pass


def _tqdm():
    """tqdm for notebooks when ipywidgets is there, else the text bar (no 'IProgress not found' warning)."""
    try:
        import ipywidgets  # noqa: F401
        from tqdm.auto import tqdm
    except ImportError:
        from tqdm.std import tqdm
    return tqdm


def _finished(run: Path, iterations: int) -> bool:
    path = run / "summary.json"
    if not path.exists():
        return False
    s = json.loads(path.read_text())
    return s.get("iteration", 0) >= iterations and not s.get("stopped_early", False)


def prune_checkpoints(run: Path) -> list[Path]:
    """Keep only a finished run's final checkpoint (evaluation, figures and PRA use that one); returns what
    was removed. ``best.pt`` goes too: its iteration and PSNR stay in ``checkpoints/best.json``."""

    ckpts = list_checkpoints(run)
    removed = [*ckpts[:-1], *[p for p in [run / "checkpoints" / "best.pt"] if p.exists() and ckpts]]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def adopt_finished_run(run: Path, iterations: int) -> Path | None:
    """Copy a finished run of the same configuration from another profile's folder into ``run``.

    Runs are keyed by config hash, so ``results/laptop/runs/<hash>`` and ``results/night/runs/<hash>`` trained the
    same thing (the night profile repeats the laptop's runs and adds seeds). The copy is made beside ``run`` and
    renamed into place, and ``COPIED_FROM`` records its origin. Returns the origin, or None when there is none."""

    if run.exists():
        return None
    for other in sorted(run.parent.parent.parent.glob(f"*/runs/{run.name}")):
        if other.resolve() == run.resolve() or not _finished(other, iterations):
            continue
        partial = run.with_name(run.name + ".copying")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(other, partial)
        (partial / "COPIED_FROM").write_text(f"{other}\n")
        partial.rename(run)
        return other
    return None


def run_status(run: Path) -> dict[str, Any]:
    """status (finished / partial / not started), iteration, final and best validation PSNR of a run folder."""

    ckpts = list_checkpoints(run)
    out: dict[str, Any] = {"status": "not started", "iteration": 0, "iterations": None, "final_psnr": None,
                           "best_psnr": None, "minutes": None, "checkpoint": ckpts[-1].name if ckpts else None}
    path = run / "summary.json"
    if path.exists():
        s = json.loads(path.read_text())
        done = s.get("iteration", 0) >= s.get("iterations", math.inf) and not s.get("stopped_early")
        psnr = (s.get("val") or {}).get("psnr")
        out.update(status="finished" if done else "partial", iteration=s.get("iteration"),
                   iterations=s.get("iterations"), final_psnr=None if psnr is None else round(float(psnr), 3),
                   best_psnr=None if s.get("best_psnr") is None else round(float(s["best_psnr"]), 3),
                   minutes=round(float(s.get("seconds") or 0) / 60, 2))
    elif ckpts:
        out["status"] = "partial"
    return out


def _final_checkpoint(run: Path) -> Path:
    ckpts = list_checkpoints(run)
    if not ckpts:
        raise FileNotFoundError(f"run {run} has no checkpoint; train it first (the notebook or isnet study --resume)")
    return ckpts[-1]


def _short_hash(path: Path) -> str:
    return sha256_file(path)[:8]
