"""Is a checkpoint's fill input-dependent and free of checkerboard? Numbers on a profile's fixed test pairs.

    python scripts/fill_checks.py CHECKPOINT [--pairs results/laptop-16k/pairs/pairs.csv] [--n 200]

Prints the spread of the raw output across images (std of each image's mean: ~0 for a network that ignores its
input), the correlation of the raw output with the hidden pixels over the holes, and the share of spectral energy
at the period-2 frequencies (the checkerboard of transposed convolutions / pixel shuffle) in the output beside the
same share in the photos themselves.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from isnet.data import PairsDataset, pair_batches
from isnet.engine.checkpoint import load_generator
from isnet.method.pra import _predict, as_inpainter


def period2_share(x: torch.Tensor) -> float:
    f = torch.fft.fft2(x - x.mean(dim=(-2, -1), keepdim=True)).abs() ** 2
    n, m = x.shape[-2] // 2, x.shape[-1] // 2
    return float((f[..., n, m] + f[..., 0, m] + f[..., n, 0]).sum() / f.sum())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint")
    p.add_argument("--pairs", default="results/laptop-16k/pairs/pairs.csv")
    p.add_argument("--n", type=int, default=200)
    args = p.parse_args()
    g = load_generator(args.checkpoint, device="cpu").eval()
    outs, gts, knowns = [], [], []
    with torch.no_grad():
        for img, known, _ in pair_batches(PairsDataset(args.pairs), 50):
            outs.append(_predict(as_inpainter(g), img, known))
            gts.append(img)
            knowns.append(known)
            if sum(len(o) for o in outs) >= args.n:
                break
    out, gt, known = torch.cat(outs)[: args.n], torch.cat(gts)[: args.n], torch.cat(knowns)[: args.n]
    hole = known.expand_as(out) == 0
    print(f"pairs {len(out)}; output spread across images (std of per-image mean): {out.mean(dim=(1, 2, 3)).std():.4f}")
    print(f"correlation of the raw output with the hidden pixels: {np.corrcoef(out[hole].numpy(), gt[hole].numpy())[0, 1]:.3f}")
    print(f"period-2 share of spectral energy: output {period2_share(out):.5f}, photos {period2_share(gt):.5f}")


if __name__ == "__main__":
    main()
