"""One ``evaluate()`` for every method: a learned generator (ours or the authors'), or a classical baseline.

Every method is scored the same way on the same fixed pairs (``isnet data pairs`` manifest): PSNR, SSIM
and MAE (%) of the composite over the whole image, as the paper does, plus hole-only PSNR and MAE
(``isnet.metrics.score_batch``). The result is tidy, one row per (method, pair), so that any number of
methods concatenate into one table, ``isnet.metrics.aggregate`` gives per-bucket means with 95 % CIs, and
``isnet.metrics.paired_bootstrap`` compares two methods pair by pair.

>>> df = evaluate("telea", "pairs.csv")                     # doctest: +SKIP
>>> df = evaluate("runs/x/checkpoints/best.pt", "pairs.csv", pra=True)  # doctest: +SKIP

``isnet evaluate (--checkpoint C | --method telea|ns|biharmonic) --pairs MANIFEST [--pra] --out DIR``
writes ``per_pair.csv`` (every row), ``summary.csv`` (tidy aggregate) and ``summary.md``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import pandas as pd
import torch
from torch import nn

from ..data import PairsDataset, pair_batches
from ..io import StagedFiles, refuse_overwrite
from ..markdown import markdown_table
from ..method.baselines import BASELINES, ClassicalInpainter
from ..method.metrics import METRICS, aggregate, score_batch
from ..method.pra import Inpainter, one_shot, progressive_inpaint
from .checkpoint import load_generator
from .device import pick_device
from .inpaint import GuardedGenerator

SUMMARY_METRICS = ("psnr", "ssim", "mae", "psnr_hole", "mae_hole")
ALL_BUCKETS = "all"


# ----------------------------------------------------------------------------------------- methods
def as_method(method: Any, device: torch.device) -> tuple[Any, str]:
    """(inpainter, label) for a baseline name, a checkpoint path, a generator module or an Inpainter."""

    if isinstance(method, Inpainter):
        return method, getattr(method, "name", type(method).__name__)
    if isinstance(method, nn.Module):
        return method.to(device), type(method).__name__.lower()
    if isinstance(method, (str, os.PathLike)):
        if str(method) in BASELINES:
            return ClassicalInpainter(str(method)), str(method)
        path = Path(method)
        if path.is_file():

            return load_generator(path).to(device).eval(), _checkpoint_label(path)
        raise ValueError(f"method {method!r} is neither a classical method ({', '.join(sorted(BASELINES))}) nor a "
                         "checkpoint file")
    raise TypeError(f"cannot evaluate a {type(method).__name__}; pass a baseline name, a checkpoint path, a "
                    "generator module or an isnet.pra.Inpainter")


def _checkpoint_label(path: Path) -> str:
    """``<run folder>/<file stem>`` for our checkpoints, the file name for others."""
    if path.parent.name == "checkpoints":
        return f"{path.parent.parent.name}/{path.stem}"
    return path.stem


def _pairs_dataset(pairs: Any):
    if isinstance(pairs, (str, os.PathLike)):
        return PairsDataset(pairs)
    return pairs


# ----------------------------------------------------------------------------------------- evaluate
@torch.no_grad()
def evaluate(method: Any, pairs: Any, pra: bool = False, *, name: str | None = None, device: str = "auto",
             batch_size: int = 8, pra_kernel: int = 15, progress: bool = True, limit: int | None = None) -> pd.DataFrame:
    """Score one method on fixed pairs; one row per pair.

    ``method``: ``"telea"``/``"ns"``/``"biharmonic"``/``"patchmatch"``, a checkpoint path (ours or the
    authors' ``InpaintingModel_gen.pth``), a generator module, or an ``isnet.pra.Inpainter``.
    ``pairs``: a pairs manifest path or an ``isnet.data.PairsDataset``. ``pra=True`` runs the progressive
    reconstruction (``isnet.pra.progressive_inpaint``, kernel ``pra_kernel``) instead of one pass.

    ``limit``: only the first ``limit`` pairs (1 or more; None = all).

    Columns: method, pra, pair, image_id, bucket, hole_ratio, passes, psnr, ssim, mae, psnr_hole, mae_hole.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"--limit {limit} is not a number of pairs: give 1 or more (e.g. --limit 20 for a quick "
                         "look), or leave --limit out to score every pair")
    dev = pick_device(device, option="--device")
    inpainter, label = as_method(method, dev)
    label = name or (label + ("+pra" if pra else ""))
    dataset = _pairs_dataset(pairs)
    was_training = isinstance(inpainter, nn.Module) and inpainter.training
    scorer = inpainter
    if isinstance(inpainter, nn.Module):

        inpainter.eval()  # train mode would run spectral-norm power iterations, changing the model
        source = str(method) if isinstance(method, (str, os.PathLike)) else None
        scorer = GuardedGenerator(inpainter, source).eval()  # NaN or inf output stops the run, naming the file
    try:
        df = _score(scorer, label, dataset, pra, dev, batch_size, pra_kernel, progress, limit)
        if df.empty and len(dataset):
            where = f" in {pairs}" if isinstance(pairs, (str, os.PathLike)) else ""
            raise ValueError(f"none of the {len(dataset)} pairs{where} could be read (each is named in a "
                             "warning: on the terminal, or in the executed notebook's output); "
                             "check the image paths, or rebuild the pairs with `isnet data pairs`")
        return df
    finally:
        if was_training:
            inpainter.train()


def _score(inpainter, label: str, dataset, pra: bool, dev: torch.device, batch_size: int, pra_kernel: int,
           progress: bool, limit: int | None) -> pd.DataFrame:
    from tqdm.auto import tqdm

    rows = []
    total = len(dataset) if limit is None else min(limit, len(dataset))
    with tqdm(total=total, disable=not progress, desc=f"evaluate {label}", unit="pair") as bar:
        for image, known, metas in pair_batches(dataset, batch_size):
            if limit is not None and len(rows) >= limit:
                break
            image, known = image.to(dev), known.to(dev)
            if pra:
                result = progressive_inpaint(inpainter, image, known, kernel=pra_kernel)
                comp, passes = result.composite, result.passes.tolist()
            else:
                comp, passes = one_shot(inpainter, image, known), [1] * len(image)
            scores = {k: v.double().cpu().tolist() for k, v in score_batch(comp.float(), image, known).items()}
            for j, meta in enumerate(metas):
                rows.append({"method": label, "pra": pra, "pair": meta.get("pair"), "image_id": meta.get("image_id"),
                             "bucket": meta.get("bucket"), "hole_ratio": meta.get("hole_ratio"),
                             "passes": int(passes[j]), **{k: scores[k][j] for k in METRICS}})
            bar.update(len(metas))
    if limit is not None:
        rows = rows[:limit]
    columns = ["method", "pra", "pair", "image_id", "bucket", "hole_ratio", "passes", *METRICS]
    return pd.DataFrame(rows, columns=columns)


def summarize(df: pd.DataFrame, metrics: Sequence[str] = SUMMARY_METRICS) -> pd.DataFrame:
    """Per (method, bucket) aggregate with 95 % CIs, plus an ``all`` bucket over every pair of a method."""
    import warnings

    everything = df.assign(bucket=ALL_BUCKETS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # non-finite values are counted in n_nonfinite
        parts = [aggregate(df, by=("method", "bucket"), metrics=metrics),
                 aggregate(everything, by=("method", "bucket"), metrics=metrics)]
    return pd.concat(parts, ignore_index=True)


def summary_markdown(summary: pd.DataFrame) -> str:
    """One row per (method, bucket): n and each metric as ``mean [ci95_low, ci95_high]``."""
    labels = {"psnr": "PSNR (dB)", "ssim": "SSIM", "mae": "MAE (%)", "psnr_hole": "PSNR hole (dB)",
              "mae_hole": "MAE hole (%)"}
    metrics = [m for m in labels if m in set(summary["metric"])]
    rows = []
    for (method, bucket), g in summary.groupby(["method", "bucket"], sort=False):
        cells = []
        by_metric = {r.metric: r for r in g.itertuples(index=False)}
        n = int(by_metric[metrics[0]].n) if metrics else 0
        for m in metrics:
            r = by_metric[m]
            digits = 3 if m == "ssim" else 2
            ci = "" if pd.isna(r.ci95_low) else f" [{r.ci95_low:.{digits}f}, {r.ci95_high:.{digits}f}]"
            cells.append(f"{r.mean:.{digits}f}{ci}")
        rows.append([method, bucket, n, *cells])
    return markdown_table(["method", "bucket", "n", *(labels[m] for m in metrics)], rows)


def write_results(df: pd.DataFrame, out: str | os.PathLike, overwrite: bool = False) -> dict[str, Path]:
    """``per_pair.csv``, ``summary.csv`` and ``summary.md`` in ``out``, all or none; existing files need ``overwrite``."""

    out = Path(out)
    paths = {"per_pair": out / "per_pair.csv", "summary": out / "summary.csv", "markdown": out / "summary.md"}
    for p in paths.values():
        refuse_overwrite(p, overwrite, "result file")
    summary = summarize(df)
    with StagedFiles() as staged:  # a full disk after the first file leaves none of them
        staged.write_bytes(paths["per_pair"], df.to_csv(index=False).encode())
        staged.write_bytes(paths["summary"], summary.to_csv(index=False).encode())
        staged.write_bytes(paths["markdown"], summary_markdown(summary).encode())
    return paths
