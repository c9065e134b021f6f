"""The Progressive Reconstruction Algorithm (PRA): inpaint a large hole in several passes.

What the authors' code does (docs/authors-code.md §12, ``CLFNet.progressive_test``), which is the default here:

1. Pass 0: ``out = G(img·M)``, ``comp = out·(1−M) + img·M``.
2. While the image's hole ratio ``r > 0.2`` and at most ``max_passes`` (10) extra passes have run:
   grow the known region ``M' = grow_known(M, 15)`` (a 15×15 max filter: the hole loses 7 px on every side),
   ``out = G(comp·M')``, ``comp = out·(1−M') + comp·M'``, ``r = ratio(M')``, ``M = M'``.

So the model input of a later pass is the previous composite, with only the remaining (smaller) hole zeroed:
the ring that just became "known" carries the previous pass's prediction as context, and each pass overwrites
only the remaining hole. The outer ring of the hole comes from pass 0, inner rings from later passes. No
ground-truth pixel inside the original hole is ever read.

Paper vs code (both selectable, the code is the default; the report says which was used):

- Stop test: Algorithm 1 writes ``ratio ≥ 0.2``, the code ``ratio > 0.2`` → ``strict=True`` (code) / ``False``.
- Kernel: Figure 6 of the paper uses a 9×9 dilation, the code and the latency test (Table 3) use 15 → ``kernel``.
- Algorithm 1 as printed also composites with ``I_gt ⊙ M`` for the *grown* M, which would paste ground truth
  into the ring that was a hole; the code uses the previous composite there (no leak), and so do we.
- Algorithm 1's loop would skip the first pass entirely for a small hole; the code always runs pass 0.

The ratio is the fraction of zero pixels of the N×1×H×W known mask (``isnet.masks.hole_ratio``, float64, so
that ties such as 16/80 = 0.2 behave as the arithmetic says).

Inpainters. Everything here calls an *inpainter*: ``inpainter(image, known) -> prediction`` (N×3×H×W, only
the hole pixels of the prediction are used). A generator ``forward(img·known)`` is wrapped by
``GeneratorInpainter``; the classical methods in ``isnet.baselines`` subclass ``Inpainter`` too, so PRA and
evaluation treat learned and classical methods alike. An inpainter must not read ``image`` where
``known == 0`` (the wrappers multiply by ``known`` before anything else).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Union

import torch
from torch import nn

from .masks import grow_known, hole_ratio
from .metrics import composite  # pred·(1−known) + image·known (docs/authors-code.md §7)

STOP_RATIO = 0.2      # upstream: `while ratio > 0.2`
MAX_EXTRA_PASSES = 10  # upstream: `i <= 10` with i starting at 1 → at most 11 forwards
CODE_KERNEL = 15       # upstream grey_dilation footprint (and the paper's Table 3)
PAPER_FIGURE6_KERNEL = 9


# ----------------------------------------------------------------------------------------- inpainters
class Inpainter:
    """Anything that fills holes: ``__call__(image, known) -> prediction`` (N×3×H×W in [0, 1]).

    ``image`` is N×3×H×W, ``known`` N×1×H×W (1 = known, 0 = hole). Only the hole pixels of the prediction
    are used (callers composite), and an inpainter must not read ``image`` inside the hole.
    """

    name: str = "inpainter"

    def __call__(self, image: torch.Tensor, known: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class GeneratorInpainter(Inpainter):
    """Adapt a generator ``forward(img·known) -> prediction`` (ISNet, UNet-like, ...) to the Inpainter call.

    The generator's train/eval mode is left as it is.
    """

    def __init__(self, generator: Callable[[torch.Tensor], torch.Tensor], name: str | None = None):
        self.generator = generator
        self.name = name or type(generator).__name__

    def __call__(self, image: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        return self.generator(image * known)


InpainterLike = Union[Inpainter, nn.Module, Callable[[torch.Tensor], torch.Tensor]]


def as_inpainter(model: InpainterLike) -> Inpainter:
    """An ``Inpainter`` as is; any other callable is taken to be a generator ``f(img·known)``."""
    if isinstance(model, Inpainter):
        return model
    if not callable(model):
        raise TypeError(f"expected a generator (callable on img*known) or an isnet.pra.Inpainter, got {type(model).__name__}")
    return GeneratorInpainter(model)


# ----------------------------------------------------------------------------------------- checks
def check_image_known(image: torch.Tensor, known: torch.Tensor) -> None:
    """Raise a ValueError that says what is expected of an (image, known) batch and how to fix it."""
    if not isinstance(image, torch.Tensor) or image.dim() != 4 or image.shape[1] != 3:
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"image must be an N×3×H×W float tensor in [0, 1], got {shape}")
    if not image.is_floating_point():
        raise ValueError(f"image must be float in [0, 1], got dtype {image.dtype}; use image.float() / 255")
    if not isinstance(known, torch.Tensor) or known.dim() != 4 or known.shape[1] != 1:
        shape = tuple(known.shape) if isinstance(known, torch.Tensor) else type(known).__name__
        raise ValueError(f"known must be an N×1×H×W mask (1 = known, 0 = hole), got {shape}")
    if known.shape[0] != image.shape[0] or known.shape[-2:] != image.shape[-2:]:
        raise ValueError(f"known {tuple(known.shape)} does not match image {tuple(image.shape)} "
                         "(same N, H and W are needed)")
    if not bool(((known == 0) | (known == 1)).all()):
        raise ValueError("known must be binary (1 = known, 0 = hole); binarise it first, e.g. (known > 0.5).float()")


def _predict(inpainter: Inpainter, image: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    pred = inpainter(image, known)
    if not isinstance(pred, torch.Tensor) or pred.shape != image.shape:
        got = tuple(pred.shape) if isinstance(pred, torch.Tensor) else type(pred).__name__
        raise ValueError(f"{getattr(inpainter, 'name', 'inpainter')} returned {got}, expected {tuple(image.shape)}")
    return pred.to(image.dtype)


# ----------------------------------------------------------------------------------------- one shot / PRA
@torch.no_grad()
def one_shot(generator: InpainterLike, image: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """A single pass: the composite G(img·known)·(1−known) + img·known."""
    check_image_known(image, known)
    return composite(_predict(as_inpainter(generator), image, known), image, known)


@dataclass
class PRAResult:
    """What ``progressive_inpaint`` returns.

    composite: N×3×H×W final composite. passes: (N,) long, generator calls per image (1 = one shot).
    known: N×1×H×W known mask of each image's last pass. trace (with ``trace=True``): one (known, composite)
    pair per pass, batched over all images; an image that has stopped repeats its final state, so image i's
    own passes are ``trace[:passes[i]]`` (see ``steps``).
    """

    composite: torch.Tensor
    passes: torch.Tensor
    known: torch.Tensor
    trace: list[tuple[torch.Tensor, torch.Tensor]] | None = field(default=None, repr=False)

    def steps(self, i: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Image i's own passes: [(known 1×H×W, composite 3×H×W), ...], length ``passes[i]`` (Figure 6)."""
        assert self.trace is not None, "run progressive_inpaint(..., trace=True) to record the passes"
        return [(k[i], c[i]) for k, c in self.trace[: int(self.passes[i])]]


def _keep_going(ratio: torch.Tensor, stop_ratio: float, strict: bool) -> torch.Tensor:
    return ratio > stop_ratio if strict else ratio >= stop_ratio


@torch.no_grad()
def progressive_inpaint(generator: InpainterLike, image: torch.Tensor, known: torch.Tensor, kernel: int = CODE_KERNEL,
                        stop_ratio: float = STOP_RATIO, max_passes: int = MAX_EXTRA_PASSES, trace: bool = False,
                        strict: bool = True) -> PRAResult:
    """Inpaint a batch with PRA; each image stops on its own, and stopped images are not run again.

    ``generator``: a generator ``forward(img·known)`` or an ``Inpainter``. ``kernel``: the square max filter that
    grows the known region per extra pass (code 15, paper Figure 6 9). ``stop_ratio``/``strict``: continue while
    the hole ratio is > (code) or ≥ (paper's Algorithm 1) ``stop_ratio``. ``max_passes``: at most this many
    passes after pass 0 (code 10, i.e. 11 forwards). The generator's train/eval mode is not changed.
    """
    check_image_known(image, known)
    if max_passes < 0:
        raise ValueError(f"max_passes must be >= 0, got {max_passes}")
    if kernel < 1 or kernel % 2 == 0:
        raise ValueError(f"kernel must be an odd positive size, got {kernel} (the code uses 15, Figure 6 uses 9)")
    inpainter = as_inpainter(generator)
    known = known.to(image.dtype)
    comp = composite(_predict(inpainter, image, known), image, known)
    passes = torch.ones(image.shape[0], dtype=torch.long, device=image.device)
    steps = [(known.clone(), comp.clone())] if trace else None
    active = _keep_going(hole_ratio(known), stop_ratio, strict)
    for _ in range(max_passes):
        idx = active.nonzero().flatten()
        if idx.numel() == 0:
            break
        grown = grow_known(known[idx], kernel)
        pred = _predict(inpainter, comp[idx], grown)
        comp = comp.index_copy(0, idx, composite(pred, comp[idx], grown))
        known = known.index_copy(0, idx, grown)
        passes[idx] += 1
        if steps is not None:
            steps.append((known.clone(), comp.clone()))
        active[idx] = _keep_going(hole_ratio(grown), stop_ratio, strict).to(active.device)
    return PRAResult(composite=comp, passes=passes, known=known, trace=steps)


def expected_passes(known: torch.Tensor, kernel: int = CODE_KERNEL, stop_ratio: float = STOP_RATIO,
                    max_passes: int = MAX_EXTRA_PASSES, strict: bool = True) -> torch.Tensor:
    """PRA's pass count per image (N,) from the masks alone, without running a model.

    Passes depend only on the mask, so this is how benchmarks and reports can predict PRA's cost.
    """
    check_image_known(torch.zeros(known.shape[0], 3, *known.shape[-2:], dtype=torch.float32), known)
    known = known.float()
    passes = torch.ones(known.shape[0], dtype=torch.long)
    active = _keep_going(hole_ratio(known), stop_ratio, strict).cpu()
    for _ in range(max_passes):
        if not bool(active.any()):
            break
        known = grow_known(known, kernel)
        passes += active.long()
        active &= _keep_going(hole_ratio(known), stop_ratio, strict).cpu()
    return passes


def shrinkage(known: torch.Tensor, kernel: int = CODE_KERNEL, stop_ratio: float = STOP_RATIO,
              max_passes: int = MAX_EXTRA_PASSES, strict: bool = True, growths: int = 2) -> dict[str, torch.Tensor]:
    """How PRA's growth shrinks each hole, from the masks alone: ``passes`` (N,) as ``expected_passes``, and
    ``left`` (N × ``growths``): the fraction of the original hole still a hole after each of the first growths.

    Two mask sets at different sizes are comparable by these (a kernel scales with the image only roughly:
    strokes are drawn with widths that do not scale linearly), which is what ``match_kernel`` uses.
    """
    known = known.float()
    hole0 = (1 - known).flatten(1).sum(1).clamp_min(1)
    left, grown = [], known
    for _ in range(growths):
        grown = grow_known(grown, kernel)
        left.append((1 - grown).flatten(1).sum(1) / hole0)
    return {"passes": expected_passes(known, kernel, stop_ratio, max_passes, strict).double(),
            "left": torch.stack(left, 1).double()}


def match_kernel(known: torch.Tensor, reference: torch.Tensor, groups: list[str], candidates: tuple[int, ...],
                 reference_kernel: int = CODE_KERNEL) -> tuple[int, list[dict]]:
    """The kernel for ``known`` (N×1×h×w) whose hole shrinkage best matches ``reference_kernel`` on ``reference``
    (the same N masks drawn at the reference size). ``groups`` (N labels, e.g. hole-ratio buckets): the match is
    taken per group. Distance of a kernel: summed over groups, |Δ mean passes| + Σ over the first two growths
    |Δ mean fraction of the hole left|. Returns (best kernel, one row per (kernel, group) with the means and the
    reference's). Needs masks only, so the kernel is fixed before any score is seen."""
    ref = shrinkage(reference, reference_kernel)
    labels = sorted(set(groups))
    index = {g: torch.tensor([i for i, x in enumerate(groups) if x == g]) for g in labels}
    rows, distance = [], {}
    for k in candidates:
        s = shrinkage(known, k)
        distance[k] = 0.0
        for g in labels:
            i = index[g]
            row = {"kernel": k, "group": g, "n": len(i), "passes": s["passes"][i].mean().item(),
                   "ref_passes": ref["passes"][i].mean().item()}
            d = abs(row["passes"] - row["ref_passes"])
            for j in range(s["left"].shape[1]):
                row[f"left{j + 1}"] = s["left"][i, j].mean().item()
                row[f"ref_left{j + 1}"] = ref["left"][i, j].mean().item()
                d += abs(row[f"left{j + 1}"] - row[f"ref_left{j + 1}"])
            row["distance"] = d
            distance[k] += d
            rows.append(row)
    best = min(candidates, key=lambda k: (distance[k], k))
    for r in rows:
        r["kernel_distance"], r["chosen"] = distance[r["kernel"]], r["kernel"] == best
    return best, rows
