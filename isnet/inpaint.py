"""Inpaint your own images: ``isnet inpaint --checkpoint C --images DIR --masks DIR --out DIR``.

Images and masks are paired by file name (``photo.jpg`` ↔ ``photo.png``); a single mask file applies to
every image. Masks are white = hole by default (what painting tools make); ``--holes black`` for the
other polarity (the authors' own convention, facts §7). Any image size works: the generator pads to a
multiple of 16 and crops back, never resizes. A mask must have its image's size exactly.

Outputs are PNG composites ``OUT/<name>.png`` (and ``OUT/raw/<name>.png`` with ``--save-raw``). Nothing
is written into the input folders, and no existing file is replaced unless ``--overwrite``; all checks
run before the first file is written. Both our checkpoints and the authors' released
``InpaintingModel_gen.pth`` are accepted.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


# ----------------------------------------------------------------------------------------- files
def _images_in(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not p.name.startswith("."))


def pair_files(images: str | os.PathLike, masks: str | os.PathLike) -> list[tuple[Path, Path]]:
    """(image, mask) pairs: by file stem for folders; one mask file serves every image.

    A missing mask, or two mask files with the image's stem, is an error naming the image.
    """
    images, masks = Path(images), Path(masks)
    for what, p in (("images", images), ("masks", masks)):
        if not p.exists():
            raise FileNotFoundError(f"--{what} {p} does not exist")
    image_files = _images_in(images) if images.is_dir() else [images]
    if not image_files:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {images}")
    if masks.is_file():
        return [(img, masks) for img in image_files]
    by_stem: dict[str, list[Path]] = {}
    for m in _images_in(masks):
        by_stem.setdefault(m.stem, []).append(m)
    pairs = []
    for img in image_files:
        candidates = [m for m in by_stem.get(img.stem, []) if m.resolve() != img.resolve()]
        if not candidates:
            raise FileNotFoundError(f"no mask for image {img}: expected a file named {img.stem}.<png|jpg|...> "
                                    f"in {masks} (masks are matched by file name)")
        if len(candidates) > 1:
            raise ValueError(f"image {img} has several masks in {masks}: "
                             f"{', '.join(c.name for c in candidates)}; keep one")
        pairs.append((img, candidates[0]))
    return pairs


def load_image(path: str | os.PathLike) -> torch.Tensor:
    """An RGB file as a 1×3×H×W float tensor in [0, 1] (grey and RGBA are converted to RGB)."""
    from PIL import Image

    with Image.open(path) as im:
        array = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()


def save_image(path: Path, image: torch.Tensor) -> None:
    """Write a 1×3×H×W (or 3×H×W) [0, 1] tensor as an 8-bit PNG, atomically."""
    import io

    from PIL import Image

    from .io import atomic_write_bytes

    array = image.detach().float().cpu().reshape(-1, *image.shape[-2:])
    array = (array.clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def load_pair(image_path: Path, mask_path: Path, holes: str = "white") -> tuple[torch.Tensor, torch.Tensor]:
    """The image (1×3×H×W) and its known mask (1×1×H×W); a size mismatch names the image."""
    from .masks import load_known

    image = load_image(image_path)
    known = load_known(mask_path, holes=holes)
    if tuple(known.shape[-2:]) != tuple(image.shape[-2:]):
        h, w = image.shape[-2:]
        kh, kw = known.shape[-2:]
        raise ValueError(f"mask {mask_path} is {kw}×{kh} but image {image_path} is {w}×{h}; a mask must have its "
                         "image's size (nothing is resized silently)")
    return image, known.to(image.dtype)


# ----------------------------------------------------------------------------------------- inference
def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@torch.no_grad()
def inpaint_image(generator: nn.Module, image: torch.Tensor, known: torch.Tensor, pra: bool = False,
                  raw: bool = False, **pra_options: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(composite, raw prediction or None) for a batch, one-shot or with PRA.

    With PRA the raw prediction (if asked for) is pass 0's: later passes only predict the shrinking hole.
    """
    from .pra import composite, progressive_inpaint

    if pra:
        result = progressive_inpaint(generator, image, known, **pra_options)
        return result.composite, (generator(image * known) if raw else None)
    pred = generator(image * known)
    return composite(pred, image, known), (pred if raw else None)


def _check_outputs(out: Path, pairs: list[tuple[Path, Path]], save_raw: bool, overwrite: bool) -> list[Path]:
    from .io import refuse_overwrite

    inputs = {p.parent.resolve() for pair in pairs for p in pair}
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


def inpaint_files(checkpoint: str | os.PathLike | nn.Module, images: str | os.PathLike, masks: str | os.PathLike,
                  out: str | os.PathLike, pra: bool = False, holes: str = "white", save_raw: bool = False,
                  overwrite: bool = False, device: str = "auto", progress: bool = True,
                  generator_options: dict[str, Any] | None = None) -> list[Path]:
    """Inpaint every (image, mask) pair and write the composites; returns the written composite paths.

    ``generator_options`` go to ``isnet.checkpoint.load_generator`` (e.g. ``blocks=`` for a released file).
    """
    from tqdm.auto import tqdm

    from .checkpoint import load_generator

    if holes not in ("white", "black"):
        raise ValueError(f"holes must be 'white' or 'black', got {holes!r}")
    out = Path(out)
    pairs = pair_files(images, masks)
    targets = _check_outputs(out, pairs, save_raw, overwrite)
    dev = resolve_device(device)
    generator = (checkpoint if isinstance(checkpoint, nn.Module)
                 else load_generator(checkpoint, **(generator_options or {})))
    generator = generator.to(dev).eval()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for (img_path, mask_path), target in tqdm(list(zip(pairs, targets)), disable=not progress, desc="inpaint",
                                              unit="img"):
        image, known = load_pair(img_path, mask_path, holes)
        comp, raw = inpaint_image(generator, image.to(dev), known.to(dev), pra=pra, raw=save_raw)
        save_image(target, comp)
        if save_raw:
            save_image(out / "raw" / target.name, raw)
        written.append(target)
    return written


# ----------------------------------------------------------------------------------------- CLI
def _cmd_inpaint(args: argparse.Namespace) -> int:
    try:
        written = inpaint_files(args.checkpoint, args.images, args.masks, args.out, pra=args.pra, holes=args.holes,
                                save_raw=args.save_raw, overwrite=args.overwrite, device=args.device,
                                progress=not args.no_progress)
    except (FileNotFoundError, FileExistsError, ValueError) as e:
        print(f"isnet inpaint: {e}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} composite(s) to {args.out}")
    return 0


def add_cli(sub) -> None:
    p = sub.add_parser("inpaint", help="inpaint your own images with a checkpoint (ours or the authors')",
                       description=__doc__.split("\n\n")[1] if __doc__ else None)
    p.add_argument("--checkpoint", required=True,
                   help="a run's checkpoints/best.pt or iter_*.pt, or the authors' InpaintingModel_gen.pth")
    p.add_argument("--images", required=True, help="an image file or a folder of images")
    p.add_argument("--masks", required=True, help="a mask file (used for every image) or a folder, paired by name")
    p.add_argument("--out", required=True, help="output folder (not an input folder)")
    p.add_argument("--pra", action="store_true", help="progressive reconstruction (several passes for big holes)")
    p.add_argument("--holes", choices=("white", "black"), default="white",
                   help="which colour marks the hole in the mask files (default white)")
    p.add_argument("--save-raw", action="store_true", help="also write the raw generator output to OUT/raw/")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_inpaint)
