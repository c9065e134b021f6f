"""Masks: the paper's M ("known": 1 = known pixel, 0 = hole, N×1×H×W float); this file only re-exports.

One concern per module (they import each other directly, never this file):

- :mod:`.convention`  hole ratio, the two bucket schemes (the paper's four 10 % bins, NVIDIA's six),
  ``known_from_hole``, ``grow_known`` (PRA's growth of the known region);
- :mod:`.strokes`     the seeded free-form generator (strokes with ``cv2.line`` plus boxes, three families);
- :mod:`.files`       polarity (white = hole on disk unless told otherwise) and mask file IO;
- :mod:`.sets`        fixed test-mask sets with an exact count per bucket and a ``manifest.csv``;
- :mod:`.nvidia`      a user's copy of the NVIDIA irregular test masks (Liu et al. 2018; white = valid).
"""
from __future__ import annotations

from .convention import (
    BUCKET_SCHEMES,
    NVIDIA_BUCKETS,
    PAPER_BUCKETS,
    bucket_of,
    grow_known,
    hole_ratio,
    in_bounds,
    known_from_hole,
)
from .files import (
    BINARY_THRESHOLD,
    HOLES,
    known_from_pixels,
    load_known,
    pixels_from_known,
    read_grey,
    resize_nearest,
    save_known,
)
from .nvidia import NVIDIA_GROUP_SIZE, NVIDIA_TOLERANCE, NvidiaMasks, index_nvidia_masks
from .sets import MANIFEST, MANIFEST_COLUMNS, make_mask_set, mask_seed
from .strokes import (
    FAMILIES,
    REFERENCE_SIZE,
    StrokeFamily,
    generate_hole,
    generate_known,
    sample_hole_in_bucket,
)

__all__ = [
    "BINARY_THRESHOLD", "BUCKET_SCHEMES", "FAMILIES", "HOLES", "MANIFEST", "MANIFEST_COLUMNS", "NVIDIA_BUCKETS",
    "NVIDIA_GROUP_SIZE", "NVIDIA_TOLERANCE", "PAPER_BUCKETS", "REFERENCE_SIZE", "NvidiaMasks", "StrokeFamily",
    "bucket_of", "generate_hole", "generate_known", "grow_known", "hole_ratio", "in_bounds", "index_nvidia_masks",
    "known_from_hole", "known_from_pixels", "load_known", "make_mask_set", "mask_seed", "pixels_from_known",
    "read_grey", "resize_nearest", "sample_hole_in_bucket", "save_known",
]
