"""Column names of the report's tables (ours vs the paper's, display names, decimals) and per-method summaries."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..method.metrics import aggregate

DISPLAY = {"psnr": "PSNR", "ssim": "SSIM", "mae": "MAE(%)", "latency_ms": "latency (ms/image)",
           "params_m": "parameters (M=2^20)", "params_exact": "parameters (exact count)",
           "params_exact_m": "parameters (exact / 2^20)", "l1": "L1 weight", "adversarial": "L_D weight",
           "style": "L_style weight", "perceptual": "L_perc weight", "fm": "L_FM weight",
           "method_printed": "name as printed", "bucket_printed": "bucket as printed",
           "mae_printed": "MAE label as printed", "authors_own": "authors' own run", "psnr_hole": "PSNR hole",
           "mae_hole": "MAE hole(%)"}


DECIMALS = {"psnr": 2, "ssim": 3, "mae": 2, "latency_ms": 2, "psnr_hole": 2, "mae_hole": 2}


NOT_RUN = "not run"


def display(column: str) -> str:
    """Human name of a column (``psnr`` → ``PSNR``)."""
    return DISPLAY.get(column, column)


def paper_column(column: str) -> str:
    return f"paper {display(column)}"


def ours_column(metric: str) -> str:
    return f"ours {display(metric)} (mean ± CI95, n)"


def _method_column(df: pd.DataFrame) -> pd.DataFrame:
    if "method" not in df.columns and "row" in df.columns:
        df = df.rename(columns={"row": "method"})
    return df


def summarise(ours: pd.DataFrame, keys: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """Per key: n, mean and 95 % CI of each metric, from per-pair rows or an isnet.metrics.aggregate table."""

    ours = _method_column(ours)
    keys, metrics = list(keys), list(metrics)
    missing = [k for k in keys if k not in ours.columns]
    if missing:
        raise ValueError(f"our results have no column(s) {missing} to join on (they have {list(ours.columns)}); "
                         "pass keys= that both tables share")
    if {"metric", "mean"} <= set(ours.columns):  # already aggregated (isnet.metrics.aggregate's shape)
        long = ours[ours["metric"].isin(metrics)]
    else:
        present = [m for m in metrics if m in ours.columns]
        long = aggregate(ours, by=keys, metrics=present) if present else pd.DataFrame(
            columns=keys + ["metric", "n", "mean", "ci95_low", "ci95_high"])
    return long


def _cell(mean: float, low: float, high: float, n: int, metric: str) -> str:
    if n == 0 or not np.isfinite(mean):
        return NOT_RUN
    d = DECIMALS.get(metric, 3)
    if np.isfinite(low) and np.isfinite(high):
        return f"{mean:.{d}f} ± {(high - low) / 2:.{d}f} (n={int(n)})"
    return f"{mean:.{d}f} (n={int(n)})"
