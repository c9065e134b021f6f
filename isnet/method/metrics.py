"""PSNR, SSIM and MAE on the composite, per image; aggregation with confidence intervals.

The paper scores the composite ``pred·(1−M) + gt·M`` over the whole image; we do the same and add
hole-only PSNR/MAE as extra columns. PSNR and SSIM match scikit-image (``peak_signal_noise_ratio``
and ``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
data_range=1, channel_axis=-1)``) to 1e-4, but run batched in torch on any device.

Identical images have infinite PSNR. ``psnr`` returns ``inf`` for them (the honest value);
:func:`aggregate` leaves non-finite values out of mean/std/CI, counts them in ``n_nonfinite``
and warns. The authors' PSNR (8-bit truncation, 0 for identical images) is :func:`psnr_legacy`.
"""
from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy import stats

METRICS = ("psnr", "ssim", "mae", "psnr_hole", "mae_hole")
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _check_pair(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape != b.shape or a.dim() != 4:
        raise ValueError(f"expected two N×C×H×W images of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")


def composite(pred: torch.Tensor, gt: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """pred in the holes, gt where known: ``pred·(1−known) + gt·known`` (docs/authors-code.md §7).

    The one composite of the package: PRA, the baselines and the metrics all use it.
    """
    _check_pair(pred, gt)
    if known.dim() != 4 or known.shape[0] != pred.shape[0] or known.shape[-2:] != pred.shape[-2:]:
        raise ValueError(f"known must be N×1×H×W matching the images {tuple(pred.shape)}, got {tuple(known.shape)}")
    return pred * (1 - known) + gt * known


def _mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a.double() - b.double()).pow(2).flatten(1).mean(dim=1)


def _psnr_from_mse(mse: torch.Tensor, data_range: float) -> torch.Tensor:
    """10·log10(R²/MSE); MSE = 0 gives +inf."""
    return 10.0 * torch.log10(data_range ** 2 / mse)


def psnr(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-image PSNR in dB (N,), float64; MSE over channels and pixels; identical images give inf."""
    _check_pair(a, b)
    return _psnr_from_mse(_mse(a, b), data_range)


def psnr_legacy(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The authors' PSNR (upstream ``src/metrics.py``), per image (N,).

    Both images ×255 in their own dtype and truncated to int; MSE over the image;
    20·log10(255) − 10·log10(MSE); 0 when MSE is 0. For comparison with the paper's numbers only.
    """
    _check_pair(a, b)
    a8, b8 = (a * 255).int().double(), (b * 255).int().double()
    mse = (a8 - b8).pow(2).flatten(1).mean(dim=1)
    value = 20 * math.log10(255.0) - 10 * torch.log10(mse)
    return torch.where(mse == 0, torch.zeros_like(value), value)


def mae(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image mean absolute error in percent of the data range (N,): mean |a−b| × 100."""
    _check_pair(a, b)
    return (a.double() - b.double()).abs().flatten(1).mean(dim=1) * 100.0


def gaussian_taps(sigma: float = 1.5, truncate: float = 3.5, dtype=torch.float64, device=None) -> torch.Tensor:
    """1-D Gaussian as scipy's ``gaussian_filter`` builds it: radius int(truncate·σ + 0.5), sum 1."""
    radius = int(truncate * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    taps = torch.exp(-0.5 * (x / sigma) ** 2)
    return taps / taps.sum()


def _blur_valid(x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian per channel, 'valid' (no padding): the border-cropped map scikit-image averages."""
    c = x.shape[1]
    x = F.conv2d(x, taps.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, taps.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def ssim_map(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0, sigma: float = 1.5) -> torch.Tensor:
    """SSIM map per channel, N×C×(H−10)×(W−10) for σ=1.5: only positions whose window fits inside."""
    _check_pair(a, b)
    taps = gaussian_taps(sigma, dtype=torch.float64, device=a.device)
    win = taps.numel()
    if min(a.shape[-2:]) < win:
        raise ValueError(f"SSIM needs images of at least {win}×{win} px, got {tuple(a.shape[-2:])}")
    x, y = a.double(), b.double()
    n, c = x.shape[:2]
    stacked = torch.cat([x, y, x * x, y * y, x * y], dim=1)  # one grouped conv for all five moments
    mx, my, mxx, myy, mxy = _blur_valid(stacked, taps).split(c, dim=1)
    vx, vy, cxy = mxx - mx * mx, myy - my * my, mxy - mx * my
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    return ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))


def ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0, sigma: float = 1.5) -> torch.Tensor:
    """Per-image SSIM (N,): Gaussian 11×11 window, σ=1.5, per channel, averaged over the valid map."""
    return ssim_map(a, b, data_range, sigma).flatten(1).mean(dim=1)


def _hole_error(pred: torch.Tensor, gt: torch.Tensor, known: torch.Tensor, power: int) -> torch.Tensor:
    """Mean |pred−gt|^power over hole pixels and channels per image; NaN when an image has no hole."""
    hole = (known < 0.5).double().expand_as(pred)
    err = (pred.double() - gt.double()).abs().pow(power) * hole
    count = hole.flatten(1).sum(dim=1)
    return err.flatten(1).sum(dim=1) / count  # 0/0 → NaN for hole-free images


@torch.no_grad()
def score_batch(pred: torch.Tensor, gt: torch.Tensor, known: torch.Tensor, legacy: bool = False,
                data_range: float = 1.0) -> dict[str, torch.Tensor]:
    """All metrics on the composite, per image: psnr, ssim, mae (whole image), psnr_hole, mae_hole.

    Hole-only values come from hole pixels only (NaN for an image without holes). ``legacy=True``
    adds ``psnr_legacy`` (the authors' 8-bit PSNR).
    """
    comp = composite(pred, gt, known)
    scores = {
        "psnr": psnr(comp, gt, data_range),
        "ssim": ssim(comp, gt, data_range),
        "mae": mae(comp, gt),
        "psnr_hole": _psnr_from_mse(_hole_error(comp, gt, known, 2), data_range),
        "mae_hole": _hole_error(comp, gt, known, 1) * 100.0,
    }
    if legacy:
        scores["psnr_legacy"] = psnr_legacy(comp, gt)
    return scores


# --------------------------------------------------------------------------------------------
# Aggregation and paired comparison
# --------------------------------------------------------------------------------------------

AGGREGATE_COLUMNS = ("metric", "n", "mean", "std", "ci95_low", "ci95_high", "n_nonfinite")


def mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[int, float, float, float, float]:
    """(n, mean, std, low, high): t-based CI of the mean; NaN spread when n < 2."""
    values = np.asarray(values, np.float64)
    n = int(values.size)
    if n == 0:
        return 0, math.nan, math.nan, math.nan, math.nan
    mean = float(values.mean())
    if n < 2:
        return n, mean, math.nan, math.nan, math.nan
    std = float(values.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * std / math.sqrt(n)
    return n, mean, std, mean - half, mean + half


def aggregate(df: pd.DataFrame, by: Sequence[str] = ("method", "bucket"),
              metrics: Sequence[str] = ("psnr", "ssim", "mae")) -> pd.DataFrame:
    """Per-image scores → tidy table: by…, metric, n, mean, std, ci95_low, ci95_high, n_nonfinite.

    Non-finite values (inf PSNR of an exact reconstruction, NaN hole metrics of hole-free
    images) are left out of n/mean/std/CI and counted in ``n_nonfinite`` (with a warning), so
    one perfect image cannot turn a mean into inf.
    """
    by, metrics = list(by), list(metrics)
    missing = [c for c in by + metrics if c not in df.columns]
    if missing:
        raise ValueError(f"aggregate: columns {missing} are not in the table (it has {list(df.columns)}); "
                         "pass by=/metrics= that exist")
    rows, dropped = [], 0
    groups = df.groupby(by, sort=True, dropna=False) if by else [((), df)]
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        for metric in metrics:
            values = group[metric].to_numpy(np.float64)
            finite = values[np.isfinite(values)]
            dropped += values.size - finite.size
            rows.append(dict(zip(by, key)) | dict(zip(AGGREGATE_COLUMNS, (metric, *mean_ci(finite),
                                                                          int(values.size - finite.size)))))
    if dropped:
        warnings.warn(f"aggregate: {dropped} non-finite values (inf PSNR of identical images, or NaN hole "
                      "metrics of hole-free images) were left out of the means; see column n_nonfinite",
                      stacklevel=2)
    return pd.DataFrame(rows, columns=by + list(AGGREGATE_COLUMNS))


def paired_bootstrap(a: Sequence[float], b: Sequence[float], n_boot: int = 2000, seed: int = 0,
                     chunk: int = 256) -> dict[str, float]:
    """Bootstrap the mean of paired differences a−b (same evaluation pairs, same order).

    Returns mean_diff, a percentile 95 % CI, and a two-sided p-value for "mean difference = 0"
    from the bootstrap distribution shifted to the null: (1 + #|boot − mean| ≥ |mean|) / (n_boot + 1).
    Pairs with a non-finite value on either side are dropped (with a warning).
    """
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired_bootstrap needs paired samples of equal length, got {a.size} and {b.size}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be positive, got {n_boot}")
    d = a - b
    finite = np.isfinite(d)
    if not finite.all():
        warnings.warn(f"paired_bootstrap: dropped {np.count_nonzero(~finite)} pairs with non-finite values",
                      stacklevel=2)
        d = d[finite]
    n = d.size
    if n < 2:
        return dict(mean_diff=float(d.mean()) if n else math.nan, ci95_low=math.nan, ci95_high=math.nan,
                    p_value=math.nan)
    rng = np.random.default_rng(seed)
    boot = np.concatenate([d[rng.integers(0, n, size=(min(chunk, n_boot - start), n))].mean(axis=1)
                           for start in range(0, n_boot, chunk)])
    mean_diff = float(d.mean())
    low, high = np.percentile(boot, [2.5, 97.5])
    extreme = np.count_nonzero(np.abs(boot - mean_diff) >= abs(mean_diff))
    return dict(mean_diff=mean_diff, ci95_low=float(low), ci95_high=float(high),
                p_value=float((1 + extreme) / (n_boot + 1)))
