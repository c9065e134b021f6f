"""PRA's growth kernel per profile size, derived from hole shrinkage alone, before any score is seen.

The paper's PRA grows the known region with a 15×15 max filter at 256 px (the authors' code and Table 3;
docs/authors-code.md §12). A smaller profile cannot use 15 (at 48 px one growth clears almost any hole) and must
not pick its kernel by looking at PSNR. So each profile's kernel is the one whose shrinkage of the profile's own
evaluation masks best matches kernel 15 on the same masks drawn at 256 px (same seeds, same families:
``isnet.method.masks`` draws each mask from ``mask_seed``): mean passes and the fraction of the hole left after
each of the first two growths, per hole-ratio bucket where PRA runs (``isnet.method.pra.match_kernel``).
The profile table stores the chosen kernel first in ``pra_kernels``; a test re-derives it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..method.masks.convention import _scheme, known_from_hole
from ..method.masks.sets import mask_seed
from ..method.masks.strokes import _sample_in_bucket
from ..method.pra import CODE_KERNEL, match_kernel

REFERENCE_SIZE = 256               # the paper's image size ...
REFERENCE_KERNEL = CODE_KERNEL     # ... and its kernel there
CANDIDATES = (1, 3, 5, 7, 9, 11, 13, 15)
PRA_BUCKETS = ("20-30", "30-40", "40-50")  # PRA makes one pass on 10-20 % holes (stop ratio 0.2): nothing to match


def evaluation_masks(size: int, per_bucket: int, seed: int = 0, scheme: str = "paper",
                     buckets: tuple[str, ...] = PRA_BUCKETS) -> tuple[torch.Tensor, list[str]]:
    """The known masks of a profile's evaluation pairs (as ``make_pairs`` draws them), without the photos."""
    masks, labels = [], []
    for b, (name, bounds) in enumerate(_scheme(scheme).items()):
        if name not in buckets:
            continue
        for i in range(per_bucket):
            hole, _ = _sample_in_bucket(size, size, np.random.default_rng(mask_seed(seed, b, i)), bounds, None)
            masks.append(known_from_hole(hole))
            labels.append(name)
    return torch.cat(masks), labels


def derive_pra_kernel(size: int, per_bucket: int, seed: int = 0) -> tuple[int, pd.DataFrame]:
    """(kernel, derivation table) for evaluation masks of ``size`` px, ``per_bucket`` per bucket."""
    known, labels = evaluation_masks(size, per_bucket, seed)
    reference, _ = evaluation_masks(REFERENCE_SIZE, per_bucket, seed)
    best, rows = match_kernel(known, reference, labels, CANDIDATES, REFERENCE_KERNEL)
    table = pd.DataFrame(rows)
    table.insert(0, "size", size)
    table.insert(1, "reference", f"kernel {REFERENCE_KERNEL} at {REFERENCE_SIZE} px")
    return best, table.round(4)
