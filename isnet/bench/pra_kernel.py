"""PRA's kernel for a profile: the derivation table (hole shrinkage vs kernel 15 at 256 px), from masks alone.

``isnet bench pra-kernel --profile laptop`` prints, per candidate kernel and hole-ratio bucket, mean passes and the
fraction of the hole left after the first two growths, beside kernel 15 on the same masks drawn at 256 px, and the
kernel that matches best (``isnet.study.kernels``). The profile table stores that kernel first in ``pra_kernels``.
Writes ``results/<profile>/tables/pra_kernel.csv``.
"""
from __future__ import annotations

import argparse

from ..io import atomic_write_text
from ..study import PROFILES
from ..study.kernels import derive_pra_kernel
from ..study.runs import results_root


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="laptop", choices=sorted(PROFILES))
    p.add_argument("--per-bucket", type=int, default=None, help="masks per bucket (default: the profile's pairs)")
    p.add_argument("--results-dir", default=None, help="default: the project's results/ folder")


def run(args: argparse.Namespace) -> int:
    prof = PROFILES[args.profile]
    kernel, table = derive_pra_kernel(prof.eval_size, args.per_bucket or prof.pairs_per_bucket)
    print(table.drop(columns=["reference"]).to_string(index=False))
    print(f"\nderived kernel at {prof.eval_size} px: {kernel}; the profile table has {prof.pra_kernels[0]}"
          + ("" if kernel == prof.pra_kernels[0] else "  ← differs: update pra_kernels in isnet/study/profiles.py"))
    if args.per_bucket is None:
        out = results_root(args.results_dir) / prof.name / "tables" / "pra_kernel.csv"
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, table.to_csv(index=False))
        print(f"derivation: {out}")
    return 0 if kernel == prof.pra_kernels[0] else 1
