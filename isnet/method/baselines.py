"""Classical inpainting baselines behind the same call as the learned models.

Methods (``BASELINES``): OpenCV Telea and Navier–Stokes (``cv2.inpaint``), scikit-image biharmonic
(``inpaint_biharmonic``) and PatchMatch (optional package ``pypatchmatch``).

Two ways in, both torch N×3×H×W float [0, 1] images and N×1×H×W known masks (1 = known, 0 = hole):

- ``inpaint_classical(name, image, known)`` returns the **composite** (known pixels are the input's exactly);
  ``raw=True`` returns what the method itself produced.
- ``ClassicalInpainter(name)`` is an ``isnet.pra.Inpainter``: ``inpainter(image, known) -> raw prediction``,
  exactly the call a wrapped generator answers (``isnet.pra.GeneratorInpainter``), so evaluation and PRA
  run learned and classical methods the same way.

What each raw method does outside the hole (checked in tests/test_baselines.py): Telea and Navier–Stokes
return the known pixels as the uint8-quantised input, biharmonic returns them unchanged, and none of the
three reads the hole's pixel values. PatchMatch (not installed where this was written) is not checked;
every method gets the hole zeroed anyway, and the composite never depends on a raw known pixel.

Quantisation: OpenCV and PatchMatch work on uint8, so the image is rounded to k/255 on the way in and
their hole pixels are multiples of 1/255 on the way out (an error of at most 0.5/255 ≈ 0.002 before the
method itself, far below inpainting errors). The composite takes known pixels from the float input, so
only the hole carries this quantisation. Biharmonic runs in float64 and is clipped to [0, 1].
"""
from __future__ import annotations

from functools import partial
from typing import Callable

import numpy as np
import torch

from .metrics import composite
from .pra import Inpainter, check_image_known

# One method: (H×W×3 float32 image in [0, 1] with zeros in the hole, H×W bool hole) -> H×W×3 float in [0, 1].
Method = Callable[..., np.ndarray]

PATCHMATCH_HINT = "PatchMatch needs the optional package pypatchmatch: pip install pypatchmatch"


def to_uint8(image: np.ndarray) -> np.ndarray:
    """[0, 1] float → uint8 by rounding (the quantisation documented above)."""
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


def _opencv(image: np.ndarray, hole: np.ndarray, flag_name: str, radius: float = 3.0) -> np.ndarray:
    import cv2

    out = cv2.inpaint(np.ascontiguousarray(to_uint8(image)), hole.astype(np.uint8) * 255, float(radius),
                      getattr(cv2, flag_name))
    return out.astype(np.float32) / 255.0


def _biharmonic(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    from skimage.restoration import inpaint_biharmonic

    out = inpaint_biharmonic(image.astype(np.float64), hole, channel_axis=-1)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def load_patchmatch():
    """The pypatchmatch module, or an ImportError that says how to install it."""
    try:
        from patchmatch import patch_match
    except ImportError as e:  # also raised when the package is present but its C++ library failed to build
        raise ImportError(f"{PATCHMATCH_HINT} (import failed: {e})") from e
    return patch_match


def _patchmatch(image: np.ndarray, hole: np.ndarray, patch_size: int = 3) -> np.ndarray:
    patch_match = load_patchmatch()
    out = patch_match.inpaint(to_uint8(image), hole.astype(np.uint8) * 255, patch_size=patch_size)
    return np.asarray(out, dtype=np.float32)[..., :3] / 255.0


BASELINES: dict[str, Method] = {
    "telea": partial(_opencv, flag_name="INPAINT_TELEA"),  # Telea 2004, fast marching; option radius (default 3)
    "ns": partial(_opencv, flag_name="INPAINT_NS"),        # Bertalmio et al. 2001, Navier–Stokes; option radius
    "biharmonic": _biharmonic,                            # skimage inpaint_biharmonic, no options
    "patchmatch": _patchmatch,                            # Barnes et al. 2009 via pypatchmatch; option patch_size
}


def _method(name: str) -> Method:
    if name not in BASELINES:
        raise ValueError(f"unknown classical inpainting method {name!r}; choose one of {sorted(BASELINES)}")
    return BASELINES[name]


def _run(name: str, image: torch.Tensor, known: torch.Tensor, **options) -> torch.Tensor:
    """The raw prediction of one method for a batch, image by image on the CPU."""
    check_image_known(image, known)
    method = _method(name)
    imgs = (image * known).detach().permute(0, 2, 3, 1).cpu().float().clamp(0, 1).numpy()
    holes = (known[:, 0] == 0).cpu().numpy()
    preds = []
    for i, (img, hole) in enumerate(zip(imgs, holes)):
        if not hole.any():
            preds.append(img)
            continue
        if hole.all():
            raise ValueError(f"image {i} of the batch has no known pixel; {name} needs some context to fill from")
        preds.append(method(img, hole, **options))
    pred = torch.from_numpy(np.stack(preds)).permute(0, 3, 1, 2)
    return pred.to(device=image.device, dtype=image.dtype).contiguous()


def inpaint_classical(name: str, image: torch.Tensor, known: torch.Tensor, raw: bool = False,
                      **options) -> torch.Tensor:
    """Fill the holes of a batch with a classical method; the composite unless ``raw=True``.

    ``options`` go to the method: ``radius`` for telea/ns (default 3), ``patch_size`` for patchmatch (default 3).
    """
    pred = _run(name, image, known, **options)
    return pred if raw else composite(pred, image, known.to(image.dtype))


class ClassicalInpainter(Inpainter):
    """A classical method as an ``isnet.pra.Inpainter``: ``(image, known) -> raw prediction``."""

    def __init__(self, name: str, **options):
        _method(name)  # fail early on a bad name
        if name == "patchmatch":
            load_patchmatch()  # and on a missing optional package
        self.name = name
        self.options = options

    def __call__(self, image: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        return _run(self.name, image, known, **self.options)

    def __repr__(self) -> str:
        opts = "".join(f", {k}={v!r}" for k, v in self.options.items())
        return f"ClassicalInpainter({self.name!r}{opts})"
