"""Writing figures and images: the one atomic PNG writer of the study layer (figures refuse to overwrite unless told)."""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..io import atomic_write_bytes, encode_png, refuse_overwrite


def save_figure(fig: Any, path: str | os.PathLike, overwrite: bool = False, dpi: float | None = None,
                tight: bool = True) -> Path:
    """Write a matplotlib figure as PNG atomically (``dpi``: the figure's own by default; ``tight``: crop to the
    drawn area). An existing file needs ``overwrite``."""
    refuse_overwrite(path, overwrite, what="figure")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi if dpi is None else dpi, **({"bbox_inches": "tight"} if tight else {}))
    return atomic_write_bytes(path, buf.getvalue())


def save_image(img: torch.Tensor | np.ndarray, path: str | os.PathLike) -> Path:
    """Write a 3×H×W tensor or H×W×3 array in [0, 1] as an 8-bit PNG atomically."""
    arr = img.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() if isinstance(img, torch.Tensor) else img
    return atomic_write_bytes(path, encode_png((np.asarray(arr) * 255 + 0.5).astype(np.uint8)))
