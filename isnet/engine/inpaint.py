"""Inpaint your own images: ``isnet inpaint --checkpoint C --images DIR --masks DIR --out DIR``.

Images and masks are paired by file name (photo.jpg with photo.png); a single mask file applies to
every image. Masks are white = hole by default (what painting tools make); --holes black for the
other polarity (the authors' convention); --holes alpha, without --masks, takes each image's
transparent pixels as the hole. Any image size works: the generator pads to a multiple of 16 and
crops back, never resizes; an image too big for --max-memory is inpainted in overlapping tiles.
Images and masks are read as a viewer shows them (a phone photo's EXIF orientation is applied), so paint
the mask on the photo as you see it; outputs are stored upright, with the photo's colour profile.

Every pair is decoded and checked (size, mask, memory) before the first file is written; a bad
pair stops the run with one line per bad file and nothing written. Outputs are PNG composites
OUT/<name>.png (and OUT/raw/<name>.png with --save-raw), all or nothing: a failure on the way (a full
disk, a broken generator, Ctrl-C) leaves none of them; nothing is written into the input folders and no
existing file is replaced unless --overwrite. Known pixels are always the
input's. Both our checkpoints and the authors' released InpaintingModel_gen.pth are accepted.
"""
from __future__ import annotations

import contextlib
import math
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

from ..io import (
    ORIENTATIONS,
    FileError,
    StagedFiles,
    atomic_write_bytes,
    describe_os_error,
    image_size,
    read_pixels,
    refuse_overwrite,
)
from ..method.masks import load_known
from ..method.pra import composite, progressive_inpaint
from .checkpoint import load_generator
from .device import pick_device
from .modes import AUTO, checkpoint_training_size, resolve_mode, run_mode
from .pretrained import load_pretrained
from .pairing import IMAGE_SUFFIXES, pair_files
from .tiles import (
    GuardedGenerator,
    NonFiniteOutputError,
    Plan,
    generator_bytes_per_pixel,
    plan_image,
)

HOLES = ("white", "black", "alpha")
DEFAULT_MAX_MEMORY_GB = 4.0
MIN_MAX_MEMORY_GB = 0.05  # below this not even a small image and the smallest tile fit (and 0.001 is a typo)
MANY_HOLES = 0.7  # a mask that makes more of its image a hole is likely of inverted polarity: a warning


class InputErrors(ValueError):
    """Several bad inputs at once: one line per file (``lines``), raised before anything is written."""

    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines


# ----------------------------------------------------------------------------------------- files
def load_image(path: str | os.PathLike) -> torch.Tensor:
    """An image file as a 1×3×H×W float tensor in [0, 1], at its true intensities (``isnet.io.read_pixels``)."""

    return _as_tensor(read_pixels(path, "image").rgb)


def _as_tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0).contiguous()


def png_bytes(image: torch.Tensor, icc_profile: bytes | None = None) -> bytes:
    """A 1×3×H×W (or 3×H×W) [0, 1] tensor as 8-bit PNG bytes: upright pixels, no orientation tag, and the
    input's colour profile when it had one (so a viewer shows the output as it showed the input)."""
    import io

    from PIL import Image

    array = image.detach().float().cpu().reshape(-1, *image.shape[-2:])
    array = (array.clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", **({"icc_profile": icc_profile} if icc_profile else {}))
    return buf.getvalue()


def save_image(path: Path, image: torch.Tensor, icc_profile: bytes | None = None) -> None:
    """Write a 1×3×H×W (or 3×H×W) [0, 1] tensor as an 8-bit PNG, atomically (see ``png_bytes``)."""
    atomic_write_bytes(path, png_bytes(image, icc_profile))


def load_pair(image_path: Path, mask_path: Path | None, holes: str = "white") -> tuple[torch.Tensor, torch.Tensor]:
    """The image (1×3×H×W) and its known mask (1×1×H×W, 1 = known), checked; errors and warnings name the file.

    ``holes="alpha"`` (no mask file): transparent pixels (alpha < 0.5) are the hole. With a mask file, an image's
    transparency is ignored, with a warning. A mask of another size, or one that leaves nothing known, is refused;
    one that makes more than ``MANY_HOLES`` of the image a hole gets a warning (inverted polarity?). Both files
    are read as a viewer shows them (EXIF orientation applied).
    """
    image, known, _ = _load_pair(image_path, mask_path, holes)
    return image, known


def _load_pair(image_path: Path, mask_path: Path | None, holes: str = "white"):
    """``load_pair`` plus the image's ``Pixels`` (its colour profile goes to the output)."""
    if holes not in HOLES:
        raise ValueError(f"holes must be one of {', '.join(HOLES)}, got {holes!r}")
    px = read_pixels(image_path, "image")
    image = _as_tensor(px.rgb)
    if holes == "alpha":
        if mask_path is not None:
            raise ValueError(f"--holes alpha takes the holes from each image's transparency, but mask {mask_path} "
                             "was given; drop --masks, or choose --holes white/black for the mask files")
        if px.alpha is None:
            raise ValueError(f"image {image_path} has no alpha channel (mode {px.mode}), so --holes alpha finds no "
                             "hole; give a mask with --masks, or save the image with transparent holes (RGBA PNG)")
        known = torch.from_numpy((px.alpha >= 0.5).astype(np.float32))[None, None]
        name = f"image {image_path} (alpha)"
    else:
        if mask_path is None:
            raise ValueError(f"no mask for image {image_path}: pass --masks, or --holes alpha to use its transparency")
        if px.transparent_pixels():
            warnings.warn(f"image {image_path} has {px.transparent_pixels()} transparent pixels; its alpha is ignored "
                          f"(the holes come from {mask_path.name}); use --holes alpha without --masks to take the "
                          "transparent pixels as the hole", stacklevel=2)
        known = load_known(mask_path, holes=holes).to(image.dtype)
        name = f"mask {mask_path}"
        if tuple(known.shape[-2:]) != tuple(image.shape[-2:]):
            raise ValueError(_size_mismatch(image_path, px.orientation, mask_path, tuple(image.shape[-2:]),
                                            tuple(known.shape[-2:])))
    if not bool(known.any()):
        polarity = "" if holes == "alpha" else f" (with --holes {holes}; is the polarity inverted?)"
        raise ValueError(f"{name} marks every pixel of {image_path.name} as a hole{polarity}: nothing is known, so "
                         "the output would be the network's prior, not an inpainting; mark only the hole")
    if bool(known.all()):
        warnings.warn(f"{name} marks no hole in {image_path.name}: the output is the input unchanged", stacklevel=2)
    hole = 1.0 - float(known.mean())
    if hole > MANY_HOLES:
        fix = ("is the polarity inverted? the hole is the transparent part with --holes alpha" if holes == "alpha"
               else f"is the polarity inverted? with --holes {holes} {holes} marks the hole; pass --holes "
                    f"{'black' if holes == 'white' else 'white'} if your mask marks the hole in "
                    f"{'black' if holes == 'white' else 'white'}")
        warnings.warn(f"{name} marks {100 * hole:.0f} % of {image_path.name} as hole (more than "
                      f"{100 * MANY_HOLES:.0f} %): {fix}", stacklevel=2)
    if px.frames > 1:
        warnings.warn(f"image {image_path} has {px.frames} frames (an animation); only the first is inpainted",
                      stacklevel=2)
    if any(n.startswith(("16-bit", "32-bit", "float")) or "bit grey" in n for n in px.notes):
        warnings.warn(f"image {image_path} is {', '.join(px.notes)}: read at its true intensity, written as an "
                      "8-bit PNG", stacklevel=2)
    return image, known, px


def _size_mismatch(image_path: Path, orientation: int, mask_path: Path, size: tuple[int, int],
                   mask_size: tuple[int, int]) -> str:
    """A mask of another size than its image; when the mask has the image's sides swapped, say how orientation
    explains it (the photo is read as a viewer shows it, after its EXIF orientation)."""
    (h, w), (kh, kw) = size, mask_size
    text = f"mask {mask_path} is {kw}×{kh} but image {image_path} is {w}×{h}"
    if orientation != 1:
        text += f" as a viewer shows it (its EXIF orientation {orientation}, {ORIENTATIONS[orientation]}, is applied)"
    if (kh, kw) == (w, h):
        if orientation != 1:
            return (text + "; the mask has the sides of the photo's stored, unturned pixels: paint the mask on the "
                    "photo as a viewer shows it (or turn the mask to match), then run again")
        return (text + "; the mask is turned by 90°: turn it to the image's orientation (a photo and its mask must "
                "be painted the same way up), then run again")
    return text + "; a mask must have its image's size (nothing is resized silently)"


# ----------------------------------------------------------------------------------------- inference
@torch.no_grad()
def inpaint_image(generator: nn.Module, image: torch.Tensor, known: torch.Tensor, pra: bool = False,
                  raw: bool = False, **pra_options: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(composite, raw prediction or None) for a batch, one-shot or with PRA; known pixels are the input's.

    With PRA the raw prediction (if asked for) is pass 0's: later passes only predict the shrinking hole.
    """
    comp, pred, _ = _inpaint(generator, image, known, pra, raw, **pra_options)
    return comp, pred


@torch.no_grad()
def _inpaint(generator: nn.Module, image: torch.Tensor, known: torch.Tensor, pra: bool, raw: bool,
             **pra_options: Any) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:

    if pra:
        result = progressive_inpaint(generator, image, known, **pra_options)
        comp, passes = result.composite, result.passes
        pred = generator(image * known) if raw else None
    else:
        pred = generator(image * known)
        comp, passes = composite(pred, image, known), torch.ones(image.shape[0], dtype=torch.long)
        pred = pred if raw else None
    # whatever the network returned, a known pixel is the input's, bit for bit
    comp = torch.where(known.bool().expand_as(image), image, comp)
    return comp, pred, passes


def _check_outputs(out: Path, pairs: list[tuple[Path, Path | None]], save_raw: bool, overwrite: bool) -> list[Path]:
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out} exists and is not a folder; choose a folder")
    inputs = {p.parent.resolve() for pair in pairs for p in pair if p is not None}
    if out.resolve() in inputs:
        raise ValueError(f"--out {out} is an input folder; choose another folder so no input file can be replaced")
    targets = []
    seen: dict[Path, Path] = {}
    for img, _ in pairs:
        target = out / f"{img.stem}.png"
        if target in seen:
            raise ValueError(f"images {seen[target]} and {img} would both be written to {target}; rename one")
        seen[target] = img
        targets.append(target)
        refuse_overwrite(target, overwrite, "output")
        if save_raw:
            refuse_overwrite(out / "raw" / target.name, overwrite, "output")
    return targets


@dataclass(frozen=True)
class ImageReport:
    """What happened to one image: where it went, how it was run, PRA's passes, the wall time."""

    image: Path
    target: Path
    plan: Plan
    passes: int
    seconds: float

    def line(self, pra: bool) -> str:
        how = f"PRA {self.passes} pass{'es' if self.passes != 1 else ''}" if pra else "one pass"
        return f"{self.image.name} -> {self.target} ({self.plan.describe()}; {how}; {self.seconds:.1f} s)"


def validate_pairs(pairs: list[tuple[Path, Path | None]], holes: str, generator: nn.Module, max_bytes: float,
                   tile: int | None = None, pra: bool = False) -> list[Plan]:
    """Decode and check every pair (image, mask, sizes, memory) before anything is written.

    Raises ``InputErrors`` with one line per bad pair, so all of them can be fixed in one go.
    """

    plans, errors = [], []
    for img, msk in pairs:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # they are shown once, when the pair is run
                h, w = image_size(img, "image")
                plan = plan_image(h, w, generator, max_bytes, tile, name=f"image {img}", pra=pra)
                load_pair(img, msk, holes)
            plans.append(plan)
        except (ValueError, FileNotFoundError) as e:
            errors.append(str(e))
    if errors:
        raise InputErrors(errors + [f"nothing was written: {len(errors)} of {len(pairs)} input(s) are bad "
                                    "(fix or remove them, then run again)"] if len(pairs) > 1 else errors)
    return plans


@contextlib.contextmanager
def _output_folder(out: Path) -> Iterator[None]:
    """Remove ``out`` (and ``out/raw``) again if this run created them and a failure left them empty."""
    created = [p for p in (out, out / "raw") if not p.exists()]
    try:
        yield
    except BaseException:
        for p in reversed(created):
            with contextlib.suppress(OSError):
                p.rmdir()  # only when empty
        raise


def inpaint_files(checkpoint: str | os.PathLike | nn.Module | None, images: str | os.PathLike,
                  masks: str | os.PathLike | None, out: str | os.PathLike, pra: bool = False, holes: str = "white",
                  save_raw: bool = False, overwrite: bool = False, device: str = "auto", progress: bool = True,
                  generator_options: dict[str, Any] | None = None, max_memory_gb: float = DEFAULT_MAX_MEMORY_GB,
                  tile: int | None = None, on_image: Callable[[ImageReport], None] | None = None,
                  mode: str = AUTO) -> list[Path]:
    """Inpaint every (image, mask) pair and write the composites; returns the written composite paths.

    All pairs are checked before the first write (``validate_pairs``); a failure later (a broken generator)
    leaves only complete outputs and no empty folder. ``max_memory_gb`` bounds the estimated memory per image
    (tiles above it, see ``plan_image``); ``tile`` forces tiling. ``on_image`` gets an ``ImageReport`` per image.
    ``generator_options`` go to ``isnet.checkpoint.load_generator`` (e.g. ``blocks=`` for a released file).
    ``checkpoint=None`` uses the small generator shipped with the package (``isnet.pretrained``). ``mode``: an
    inference mode of ``isnet.engine.modes`` (``auto``: the shipped generator's best measured mode at each photo's
    size, with a warning where every mode measured below Telea; ``native`` for other checkpoints).
    """
    from tqdm.auto import tqdm

    if holes not in HOLES:
        raise ValueError(f"holes must be one of {', '.join(HOLES)}, got {holes!r}")
    if holes == "alpha" and masks is not None:
        raise ValueError(f"--holes alpha takes the holes from each image's transparency, but --masks {masks} was "
                         "given; drop --masks, or choose --holes white/black for the mask files")
    if holes != "alpha" and masks is None:
        raise ValueError("no --masks given: pass a mask file or folder, or --holes alpha to use the images' "
                         "transparency as the hole")
    _check_max_memory(max_memory_gb)
    out = Path(out)
    pairs = pair_files(images, masks)
    targets = _check_outputs(out, pairs, save_raw, overwrite)
    dev = pick_device(device, option="--device")
    measured = checkpoint is None  # isnet bench scale measured the shipped generator's modes
    train_size = None if isinstance(checkpoint, nn.Module) else checkpoint_training_size(checkpoint)
    if checkpoint is None:

        checkpoint = load_pretrained()
    generator = (checkpoint if isinstance(checkpoint, nn.Module)
                 else load_generator(checkpoint, **(generator_options or {})))
    generator = generator.to(dev).eval()
    source = getattr(generator, "isnet_source", None)
    guarded = GuardedGenerator(generator, str(checkpoint) if not isinstance(checkpoint, nn.Module) else source)
    if progress and source:
        tqdm.write(f"model: {source}")
    plans = validate_pairs(pairs, holes, generator, max_memory_gb * 2**30, tile, pra)
    written = []
    bar = tqdm(total=len(pairs), disable=not progress, desc="inpaint", unit="img", dynamic_ncols=True)
    # all or nothing: each output is staged beside its target and every one is renamed into place at the end
    staged = StagedFiles()
    with bar, _output_folder(out), _all_or_nothing(staged, len(pairs)):
        for (img_path, mask_path), target, plan in zip(pairs, targets, plans):
            bar.set_postfix_str(f"{img_path.name} {plan.describe()}", refresh=True)
            tile_bar = tqdm(total=plan.tiles, disable=not progress or plan.tile is None, leave=False,
                            desc=f"  {img_path.name} tiles", unit="tile", dynamic_ncols=True)
            with tile_bar:
                guarded.plan = plan
                guarded.on_tile = lambda done, total: (tile_bar.reset(total) if done == 1 else None,
                                                       tile_bar.update(1))
                start = time.perf_counter()
                image, known, px = _load_pair(img_path, mask_path, holes)
                run = resolve_mode(mode, min(image.shape[-2:]), measured)
                if run == "native":
                    comp, raw, passes = _inpaint(guarded, image.to(dev), known.to(dev), pra=pra, raw=save_raw)
                else:  # the raw output of --save-raw stays the native pass's
                    comp, passes = run_mode(run, guarded, image.to(dev), known.to(dev), train_size, pra=pra)
                    raw = guarded(image.to(dev) * known.to(dev)) if save_raw else None
                del image, known
                staged.write_bytes(target, png_bytes(comp, px.icc_profile))
                if save_raw:
                    staged.write_bytes(out / "raw" / target.name, png_bytes(raw, px.icc_profile))
            written.append(target)
            bar.update(1)
            if on_image is not None:  # the file is renamed into place when the whole batch is done
                on_image(ImageReport(img_path, target, plan, int(passes[0]), time.perf_counter() - start))
    return written


def _check_max_memory(max_memory_gb: float) -> None:
    """--max-memory is a positive, finite number of GiB, at least ``MIN_MAX_MEMORY_GB``."""
    try:
        value = float(max_memory_gb)
    except (TypeError, ValueError):
        value = float("nan")
    if not math.isfinite(value) or value < MIN_MAX_MEMORY_GB:
        raise ValueError(f"--max-memory {max_memory_gb} is not a usable limit: give the memory per image in GiB, a "
                         f"finite number of at least {MIN_MAX_MEMORY_GB:g} (default {DEFAULT_MAX_MEMORY_GB:g}; "
                         "bigger images are then run in tiles)")


@contextlib.contextmanager
def _all_or_nothing(staged: StagedFiles, total: int) -> Iterator[None]:
    """Commit ``staged`` when the batch finished, discard it otherwise; a write failure says nothing was kept."""
    try:
        yield
    except OSError as e:
        done = len({t for _, t in staged.staged})
        staged.discard()
        if isinstance(e, FileError):
            raise
        raise FileError(e.errno, f"{describe_os_error(e)}; nothing was written: {total} input(s), the "
                        f"{done} output file(s) finished before the failure were removed", e.filename) from None
    except BaseException:
        staged.discard()
        raise
    staged.commit()


__all__ = ["DEFAULT_MAX_MEMORY_GB", "GuardedGenerator", "HOLES", "IMAGE_SUFFIXES", "ImageReport", "InputErrors", "NonFiniteOutputError", "Plan", "generator_bytes_per_pixel", "inpaint_files", "inpaint_image", "load_image", "load_pair", "pair_files", "plan_image", "save_image", "validate_pairs"]
