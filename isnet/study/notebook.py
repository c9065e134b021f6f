"""Notebook glue: the one setup call every study notebook makes, and the headline numbers each one records.

Each notebook under ``notebooks/`` starts with its papermill ``parameters`` cell and then one call:

>>> study = setup(profile, results_dir, device=device, keep_checkpoints=keep_checkpoints,
...               notebook="02_loss_ablation")

which builds the :class:`NotebookStudy` (a :class:`isnet.study.Study` that knows its notebook), shows the
profile header and turns on inline figures when running in a Jupyter kernel (harmless anywhere else).
``study.record(name, value)`` then writes the notebook's headline numbers to
``<results>/<profile>/records/<notebook>.json`` (merged per key, written atomically, JSON-safe floats: NaN and
infinities become ``null``), so a test or a script can read them back without parsing the notebook.
Nothing here computes a table or a statistic: that is the study and report layers' work.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..io import atomic_write_text
from .facade import Study
from .figures import save_figure
from .profiles import StudyProfile
from .report import compact_markdown

RECORDS = "records"  # folder under <results>/<profile>/ with one JSON file per notebook


# ------------------------------------------------------------------------------------------ records
def json_safe(value: Any) -> Any:
    """``value`` as plain JSON types: numpy/pandas scalars → Python, non-finite floats → ``None``, mappings and
    Series → dicts with string keys, sequences and arrays → lists. Anything else is refused (a record is data)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, os.PathLike):
        return str(value)
    if isinstance(value, (Mapping, pd.Series)):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [json_safe(v) for v in value]
    raise TypeError(f"cannot record a {type(value).__name__}; record numbers, strings, lists or dicts of them")


def records_path(study_dir: str | os.PathLike, notebook: str) -> Path:
    """``<results>/<profile>/records/<notebook>.json``."""
    return Path(study_dir) / RECORDS / f"{notebook}.json"


def read_records(study_dir: str | os.PathLike, notebook: str) -> dict[str, Any]:
    """What a notebook recorded (empty if it recorded nothing yet)."""
    path = records_path(study_dir, notebook)
    return json.loads(path.read_text()) if path.exists() else {}


def record(study_dir: str | os.PathLike, notebook: str, name: str, value: Any) -> Any:
    """Store ``value`` under ``name`` in the notebook's record file (other keys are kept); returns the stored
    (JSON-safe) value."""
    safe = json_safe(value)
    records = read_records(study_dir, notebook)
    records[str(name)] = safe
    atomic_write_text(records_path(study_dir, notebook),
                      json.dumps(records, indent=1, sort_keys=True, allow_nan=False) + "\n")
    return safe


# ------------------------------------------------------------------------------------------ the notebook's study
class NotebookStudy(Study):
    """A :class:`isnet.study.Study` run from one notebook: ``record`` keeps that notebook's headline numbers."""

    def __init__(self, profile: str | StudyProfile = "smoke", results_dir: str | os.PathLike | None = None, *,
                 notebook: str, **kwargs: Any):
        super().__init__(profile, results_dir, **kwargs)
        self.notebook = notebook

    @property
    def records_path(self) -> Path:
        return records_path(self.dir, self.notebook)

    def record(self, name: str, value: Any) -> Any:
        """Store one headline number (or a dict / list of them) in ``records/<notebook>.json``."""
        return record(self.dir, self.notebook, name, value)

    def records(self) -> dict[str, Any]:
        return read_records(self.dir, self.notebook)

    def figure_path(self, name: str) -> Path:
        """``<results>/<profile>/figures/<name>.png``."""
        return self.dir / "figures" / f"{name}.png"

    def save_figure(self, fig: Any, name: str) -> Any:
        """Write ``fig`` to ``figures/<name>.png`` through the study layer's one figure writer (atomic, replacing
        the previous run's file); returns the figure, so a cell shows what it saved."""
        save_figure(fig, self.figure_path(name), overwrite=True)
        return fig


def metric_means(summary: pd.DataFrame, metric: str = "psnr") -> dict[str, Any]:
    """One metric's means from an ``isnet.metrics.aggregate`` table (a ``TableResult.summary``), in the shape
    a notebook records: ``{method: mean}``, or ``{method: {bucket: mean}}`` for a per-bucket table."""
    rows = summary[summary["metric"] == metric]
    if "bucket" not in rows.columns:
        return {str(r.method): float(r.mean) for r in rows.itertuples()}
    out: dict[str, dict[str, float]] = {}
    for r in rows.itertuples():
        out.setdefault(str(r.method), {})[str(r.bucket)] = float(r.mean)
    return out


def header(study: Study) -> str:
    """The Markdown line every notebook opens with: profile, scale, data, feature weights, results folder."""
    p = study.profile
    return (f"**Profile `{p.name}`** — {p.description}  \nBudget: {p.budget}. Seeds: {list(p.seeds)}. "
            f"Data: {p.data_label}. Feature weights: `{p.base.loss.loss_weights().backbone}`. "
            f"Results: `{study.dir}`.")


def _kernel_shell():
    """The IPython shell of a Jupyter kernel, or None (plain Python, a terminal IPython, no IPython)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return shell if getattr(shell, "kernel", None) is not None else None


def show(obj: Any, title: str | None = None) -> None:
    """Display a table (its compact Markdown form, titled), Markdown text, or anything else IPython displays;
    printed as text outside a kernel."""
    text = compact_markdown(obj, title) if isinstance(obj, pd.DataFrame) and title is not None else obj
    if _kernel_shell() is None:
        print(text)
        return
    from IPython.display import Markdown, display

    display(Markdown(text) if isinstance(text, str) else text)


def setup(profile: str | StudyProfile = "smoke", results_dir: str | os.PathLike | None = None, *,
          notebook: str, device: str | None = None, keep_checkpoints: bool = False) -> NotebookStudy:
    """The first cell after a notebook's parameters: the study, its header shown, figures inline."""
    shell = _kernel_shell()
    if shell is not None:
        shell.run_line_magic("matplotlib", "inline")
    study = NotebookStudy(profile, results_dir, notebook=notebook, device=device, keep_checkpoints=keep_checkpoints)
    show(header(study))
    return study
