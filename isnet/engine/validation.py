"""Validation during training: the fixed validation pairs, their scores, and the sample strip PNG of each validation."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data import PairsDataset, Skipped, make_pairs
from ..io import encode_png
from ..method.masks import PAPER_BUCKETS
from ..method.metrics import score_batch
from .config import Config


def validation_pairs(cfg: Config, run_dir: Path | None = None, progress: bool = False):
    """``isnet.data.PairsDataset`` of ``data.pairs``, or fixed pairs made once in the run folder."""

    d = cfg.data
    if d.pairs:
        return PairsDataset(d.pairs)
    assert run_dir is not None, "validation pairs need data.pairs or a run folder to write them to"
    manifest = Path(run_dir) / "val_pairs.csv"
    if not manifest.exists():
        opts = {"root": d.root} if d.root else {}
        per_bucket = max(1, math.ceil(d.val_pairs / len(PAPER_BUCKETS)))
        make_pairs(d.source, d.held_out_split(), d.size, per_bucket, manifest, seed=cfg.train.seed,
                        upscale=d.upscale, source_opts=opts, progress=progress)
    return PairsDataset(manifest)


def validation_batches(cfg: Config, run_dir: Path | None = None, batch_size: int = 8,
                       progress: bool = False) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The validation pairs as (image, known) batches, loaded once (they are few and fixed)."""

    pairs = validation_pairs(cfg, run_dir, progress)
    items = [x for x in (pairs[i] for i in range(len(pairs))) if not isinstance(x, Skipped)]
    if not items:
        raise ValueError(f"no readable validation pairs in {cfg.data.pairs or run_dir}")
    return [(torch.stack([x[0] for x in items[i:i + batch_size]]), torch.stack([x[1] for x in items[i:i + batch_size]]))
            for i in range(0, len(items), batch_size)]


@torch.no_grad()
def validate(generator: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]],
             device: torch.device) -> tuple[dict[str, float], list[torch.Tensor]]:
    """Mean PSNR, SSIM, MAE (and hole-only) over the fixed pairs in fp32, and the outputs for the sample grid.

    Eval mode does no spectral-norm power iteration, so validating never changes the weights or buffers.
    """

    was_training = generator.training
    generator.eval()
    scores: dict[str, list[torch.Tensor]] = {}
    outputs = []
    try:
        for image, known in batches:
            image, known = image.to(device), known.to(device)
            pred = generator(image * known).float()
            outputs.append(pred.cpu())
            for k, v in score_batch(pred, image, known).items():
                scores.setdefault(k, []).append(v.double().cpu())
    finally:
        generator.train(was_training)
    means = {}
    for k, vs in scores.items():
        v = torch.cat(vs)
        v = v[torch.isfinite(v)]
        means[k] = float(v.mean()) if v.numel() else float("nan")
    return means, outputs


def sample_strip(batches: list[tuple[torch.Tensor, torch.Tensor]], outputs: list[torch.Tensor],
                rows: int = 8) -> bytes:
    """PNG bytes of rows [gt | masked input, holes white | output | composite] (the authors' strip + composite)."""
    from torchvision.utils import make_grid

    image = torch.cat([b[0] for b in batches])[:rows].float().cpu()
    known = torch.cat([b[1] for b in batches])[:rows].float().cpu()
    pred = torch.cat(outputs)[:rows].float().cpu()
    masked = image * known + (1 - known)
    comp = pred * (1 - known) + image * known
    tiles = torch.stack([image, masked, pred, comp], 1).flatten(0, 1)
    grid = make_grid(tiles, nrow=4, padding=2, pad_value=1.0)
    return encode_png((grid.clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8))
