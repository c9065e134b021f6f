"""The shipped generator vs Telea on a photo from outside the study's data, through the user's own command.

    python scripts/outside_photo.py PHOTO [--width 120] [--bucket 0.1 0.2] [--seed 0] [--out DIR]

Resizes PHOTO to ``--width`` pixels wide (the shipped model was trained on 48 px crops), draws one free-form
hole in the hole-ratio bucket with the study's mask generator (seeded, so the mask is not chosen after
seeing the result), runs ``isnet inpaint`` (no --checkpoint: the shipped generator) and Telea, and prints the
PSNR of each on the hole and on the whole composite. Writes image, mask and both results to ``--out``.
Nothing is downloaded; the photo is yours (no third-party image is committed with the repository).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from isnet.method.baselines import ClassicalInpainter
from isnet.method.masks import sample_hole_in_bucket
from isnet.method.pra import one_shot


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    return 10 * np.log10(1.0 / mse) if mse > 0 else float("inf")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("photo")
    p.add_argument("--width", type=int, default=120)
    p.add_argument("--bucket", type=float, nargs=2, default=(0.1, 0.2))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="outside-photo")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    img = Image.open(args.photo).convert("RGB")
    h = round(img.height * args.width / img.width)
    img = img.resize((args.width, h), Image.LANCZOS)
    hole = sample_hole_in_bucket(h, args.width, np.random.default_rng(args.seed), tuple(args.bucket))
    img.save(out / "photo.png")
    Image.fromarray((hole * 255).astype(np.uint8)).save(out / "photo_mask.png")  # white = hole
    (out / "isnet").mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "isnet", "inpaint", "--images", str(out / "photo.png"), "--masks",
           str(out / "photo_mask.png"), "--out", str(out / "isnet"), "--overwrite", "--no-progress"]
    subprocess.run(cmd, check=True)
    gt = np.asarray(img, dtype=np.float32) / 255
    ours = np.asarray(Image.open(out / "isnet" / "photo.png").convert("RGB"), dtype=np.float32) / 255
    image = torch.from_numpy(gt).permute(2, 0, 1)[None]
    known = torch.from_numpy(~hole).float()[None, None]
    telea = one_shot(ClassicalInpainter("telea"), image, known)[0].permute(1, 2, 0).numpy()
    Image.fromarray((telea * 255).round().astype(np.uint8)).save(out / "telea.png")
    print(f"{args.photo}: {args.width}×{h} px, hole {hole.mean():.1%} (seed {args.seed})")
    for name, pred in (("shipped ISNet", ours), ("Telea", telea)):
        print(f"  {name:14s} hole PSNR {psnr(pred[hole], gt[hole]):6.2f} dB   composite PSNR {psnr(pred, gt):6.2f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
