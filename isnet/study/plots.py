"""Figures from stored results: training curves, sample grids, PRA strips, per-bucket plots and the search figures' tidy-up."""
from __future__ import annotations

import itertools
import math
import os
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..io import read_jsonl
from .columns import display, summarise
from .figures import save_figure
from .paper import (
    BUCKETS,
)


def _save(fig: Figure, out_path: str | os.PathLike | None, overwrite: bool) -> Figure:
    if out_path is not None:
        save_figure(fig, out_path, overwrite=overwrite)
    return fig


def _read_jsonl(path: Path) -> pd.DataFrame:
    try:
        rows = read_jsonl(path, torn_tail=False)
    except ValueError as e:
        raise ValueError(f"{e}; is it a training log?") from e
    return pd.json_normalize(rows) if rows else pd.DataFrame()


def _as_log(source: str | os.PathLike | pd.DataFrame | Sequence[Mapping] | None) -> pd.DataFrame | None:
    if source is None or isinstance(source, pd.DataFrame):
        return source
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"{path} not found; pass a run folder, its metrics.jsonl, or a DataFrame")
        return _read_jsonl(path)
    return pd.json_normalize(list(source))


NOT_LOSSES = re.compile(r"^(iteration|iter|step|epoch|lr.*|it_per_s|seconds|time.*|wall.*)$|psnr|ssim|mae",
                        re.IGNORECASE)


def training_curves(run: str | os.PathLike | pd.DataFrame | Sequence[Mapping],
                    val: str | os.PathLike | pd.DataFrame | Sequence[Mapping] | None = None,
                    out_path: str | os.PathLike | None = None, overwrite: bool = False,
                    title: str | None = None) -> Figure:
    """Loss terms and validation PSNR against iteration, from a run folder (metrics.jsonl + val.jsonl), a
    metrics.jsonl path (val.jsonl beside it is used if present), or DataFrames / lists of dicts."""
    if isinstance(run, (str, os.PathLike)) and Path(run).is_dir():
        run_dir = Path(run)
        run = run_dir / "metrics.jsonl"
        if val is None and (run_dir / "val.jsonl").exists():
            val = run_dir / "val.jsonl"
    elif isinstance(run, (str, os.PathLike)) and val is None and (Path(run).parent / "val.jsonl").exists():
        val = Path(run).parent / "val.jsonl"
    log, vlog = _as_log(run), _as_log(val)
    if log is None or "iteration" not in log.columns:
        raise ValueError("the training log needs an 'iteration' column (isnet.train writes one per row)")
    losses = [c for c in log.columns if not NOT_LOSSES.search(str(c)) and pd.api.types.is_numeric_dtype(log[c])]
    psnr_src = vlog if vlog is not None and len(vlog) else log
    psnr_cols = [c for c in psnr_src.columns if "psnr" in str(c).lower() and "hole" not in str(c).lower()]
    if not losses and not psnr_cols:
        raise ValueError(f"no loss terms or PSNR found in the log (columns {list(log.columns)})")

    n_terms = len(losses)
    cols = 4
    term_rows = math.ceil(n_terms / cols) if n_terms else 0
    fig = Figure(figsize=(12, 4 + 2.4 * term_rows), dpi=100, layout="constrained")
    grid = fig.add_gridspec(1 + term_rows, cols, height_ratios=[1.6] + [1] * term_rows)
    ax_loss, ax_psnr = fig.add_subplot(grid[0, :2]), fig.add_subplot(grid[0, 2:])
    for c in losses:  # overview: each term divided by its largest |value|, so no term flattens the others
        series = log[["iteration", c]].dropna()
        scale = float(series[c].abs().max()) or 1.0
        ax_loss.plot(series["iteration"], series[c] / scale, label=f"{c}", lw=2.0 if c.endswith("total") else 1.0)
    ax_loss.set(xlabel="iteration", ylabel="term / max |term|", title="loss terms (each normalised)")
    if losses:
        ax_loss.legend(fontsize=7, ncol=2)
    if psnr_cols:
        for c in psnr_cols:
            series = psnr_src[["iteration", c]].dropna()
            ax_psnr.plot(series["iteration"], series[c], marker="o", label=c)
        ax_psnr.legend(fontsize=7)
    else:
        ax_psnr.text(0.5, 0.5, "no validation PSNR logged", ha="center", va="center", transform=ax_psnr.transAxes)
    ax_psnr.set(xlabel="iteration", ylabel="PSNR (dB)", title="validation PSNR")
    for i, c in enumerate(losses):  # and each term on its own axis, in its own units
        ax = fig.add_subplot(grid[1 + i // cols, i % cols])
        series = log[["iteration", c]].dropna()
        ax.plot(series["iteration"], series[c], lw=1.0, color="C%d" % (i % 10))
        ax.set_title(c, fontsize=9)
        ax.tick_params(labelsize=7)
        if i // cols == term_rows - 1:
            ax.set_xlabel("iteration", fontsize=8)
    for ax in fig.axes:
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    if title:
        fig.suptitle(title)
    return _save(fig, out_path, overwrite)


def _to_hwc(img: Any) -> np.ndarray:
    """One image (torch C×H×W / 1×C×H×W, numpy H×W×C or H×W, float [0,1] or uint8) → H×W×3 float [0,1]."""
    if hasattr(img, "detach"):
        img = img.detach().cpu().float().numpy()
        if img.ndim == 4 and img.shape[0] == 1:
            img = img[0]
        if img.ndim == 3 and img.shape[0] in (1, 3):
            img = img.transpose(1, 2, 0)
    arr = np.asarray(img)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(f"expected an image H×W×3, H×W or C×H×W tensor, got shape {np.shape(img)}")
    return np.clip(arr.astype(np.float32), 0.0, 1.0)


def _as_list(images: Any) -> list[np.ndarray]:
    if hasattr(images, "detach") and images.dim() == 4:
        return [_to_hwc(x) for x in images]
    if isinstance(images, np.ndarray) and images.ndim == 4:
        return [_to_hwc(x) for x in images]
    return [_to_hwc(x) for x in images]


def masked_input(image: Any, known: Any, fill: float = 1.0) -> Any:
    """What the model is given, for display: holes filled with ``fill`` (white, as the authors' previews)."""
    return image * known + fill * (1 - known)


def sample_grid(rows: Mapping[str, Any], out_path: str | os.PathLike | None = None,
                column_titles: Sequence[str] | None = None, overwrite: bool = False, title: str | None = None,
                cell_size: float = 1.6, cell_text: Mapping[str, Sequence[str]] | None = None,
                min_width: float = 0.0) -> Figure:
    """A grid of images, one row per entry (e.g. masked input, each method, ground truth; Figures 5, 8, 9)
    and one column per sample. Each entry is an N×3×H×W tensor or a list of images. ``cell_text`` puts a
    line under each image of a row (e.g. its PSNR); the figure is at least ``min_width`` inches wide."""
    if not rows:
        raise ValueError("sample_grid needs at least one row, e.g. {'masked input': x, 'ISNet': y, 'ground truth': z}")
    images = {name: _as_list(v) for name, v in rows.items()}
    counts = {name: len(v) for name, v in images.items()}
    if len(set(counts.values())) != 1 or 0 in counts.values():
        raise ValueError(f"every row needs the same, non-zero number of images; got {counts}")
    n_cols = next(iter(counts.values()))
    if column_titles is not None and len(column_titles) != n_cols:
        raise ValueError(f"column_titles has {len(column_titles)} entries for {n_cols} columns")
    cell_text = dict(cell_text or {})
    for name, texts in cell_text.items():
        if name not in images or len(texts) != n_cols:
            raise ValueError(f"cell_text[{name!r}] must name a row and give {n_cols} strings")
    cell_size = max(cell_size, (min_width - 1.2) / n_cols)
    extra = 0.25 if cell_text else 0.0
    fig = Figure(figsize=(cell_size * n_cols + 1.2, (cell_size + extra) * len(images) + (0.5 if title else 0)),
                 dpi=100)
    axes = np.atleast_2d(fig.subplots(len(images), n_cols, squeeze=False))
    for r, (name, imgs) in enumerate(images.items()):
        for c, img in enumerate(imgs):
            ax = axes[r, c]
            ax.imshow(img, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name, fontsize=9)
            if r == 0 and column_titles is not None:
                ax.set_title(column_titles[c], fontsize=9)
            if name in cell_text and cell_text[name][c]:
                ax.set_xlabel(cell_text[name][c], fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, out_path, overwrite)


def pra_strip(steps: Sequence[tuple[Any, Any]], out_path: str | os.PathLike | None = None,
              overwrite: bool = False, title: str | None = None, kernel: int | None = None) -> Figure:
    """Figure 6: per PRA pass, the known mask (white = valid, as the paper draws it) above the composite.
    ``steps`` is ``PRAResult.steps(i)``: [(known 1×H×W, composite 3×H×W), ...]; each column says how much of
    the image is still hole, and the title the growth kernel."""
    if not steps:
        raise ValueError("pra_strip needs at least one (known, composite) step; run progressive_inpaint(trace=True)")
    holes = [1.0 - float(np.asarray(_to_hwc(k)).mean()) for k, _ in steps]
    head = title or f"PRA pass by pass ({len(steps)} passes" + (f", kernel {kernel}×{kernel}" if kernel else "") + ")"
    return sample_grid({"known (white = valid)": [k for k, _ in steps], "composite": [c for _, c in steps]},
                       out_path=out_path, column_titles=[f"pass {i + 1}: hole {h:.0%}" for i, h in enumerate(holes)],
                       overwrite=overwrite, title=head, cell_size=2.2, min_width=8.0)


def tidy_search_figure(fig: Any, name: str, profile: str) -> Any:
    """An Optuna figure made readable: integer ticks on trial/step axes, a title naming the profile, and
    detached from pyplot (so a notebook shows it once, where it is displayed)."""
    import matplotlib.pyplot as plt

    for ax in fig.axes:
        if re.search(r"trial|step", ax.get_xlabel(), re.IGNORECASE):
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    fig.suptitle(f"Table 1 search — {name} (profile {profile})", fontsize=11)
    plt.close(fig)
    return fig


def bucket_metric_plot(ours: pd.DataFrame, paper: pd.DataFrame, metric: str = "psnr",
                       methods: Sequence[str] | None = None, paper_methods: Sequence[str] = (),
                       out_path: str | os.PathLike | None = None, overwrite: bool = False,
                       title: str | None = None) -> Figure:
    """Per-bucket metric: ours (mean with 95 % CI, solid) against the paper's (dashed, same colour).

    ``ours`` is per-pair rows (or isnet.metrics.aggregate output) with method and bucket; ``paper`` is
    isnet.paper.table5() or table6(). ``methods`` defaults to ours; ``paper_methods`` adds paper-only lines.
    """
    if "bucket" not in paper.columns:
        raise ValueError("bucket_metric_plot needs a per-bucket paper table (isnet.paper.table5() or table6())")
    long = summarise(ours, ["method", "bucket"], [metric])
    long = long[long["metric"] == metric]
    methods = list(methods) if methods is not None else list(dict.fromkeys(long["method"]))
    buckets = [b for b in BUCKETS if b in set(paper["bucket"]) | set(long["bucket"].astype(str))]
    x = np.arange(len(buckets))
    fig = Figure(figsize=(7, 4.5), dpi=100)
    ax = fig.subplots()
    colours = itertools.cycle(matplotlib.rcParams["axes.prop_cycle"].by_key()["color"])
    for m in list(methods) + [p for p in paper_methods if p not in methods]:
        colour = next(colours)
        sub = long[long["method"] == m].set_index(long[long["method"] == m]["bucket"].astype(str))
        if m in methods and len(sub):
            mean = [sub.loc[b, "mean"] if b in sub.index else np.nan for b in buckets]
            lo = [sub.loc[b, "ci95_low"] if b in sub.index else np.nan for b in buckets]
            hi = [sub.loc[b, "ci95_high"] if b in sub.index else np.nan for b in buckets]
            err = np.abs(np.array([np.subtract(mean, lo), np.subtract(hi, mean)], dtype=float))
            ax.errorbar(x, mean, yerr=np.nan_to_num(err), color=colour, marker="o", capsize=3, label=f"ours {m}")
        pp = paper[paper["method"] == m].set_index("bucket")
        if len(pp):
            ax.plot(x, [pp.loc[b, metric] if b in pp.index else np.nan for b in buckets], ls="--", marker="s",
                    mfc="none", color=colour, label=f"paper {m}")
    ax.set_xticks(x, [f"{b} %" for b in buckets])
    ax.set(xlabel="hole ratio", ylabel=display(metric), title=title or f"{display(metric)} per hole-ratio bucket")
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, out_path, overwrite)
