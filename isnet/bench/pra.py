"""PRA vs one-shot: latency (ms/image, batch 1) and generator passes per hole-ratio bucket.

The paper's Table 3 reports 52.69 ms (one shot) vs 85.46 ms (PRA) per image on a 1080 Ti, a ratio of
1.62, over 10,000 Places2 samples without saying which masks. Here both are measured side by side on the
same model, masks and machine, per paper bucket (10–20 … 40–50 %), with the mean number of generator passes
(the ratio PRA/one-shot should be close to it: PRA's extra cost is its extra forwards).

Untrained weights are fine for this: the pass count depends only on the masks (the hole ratio after each
growth), and the latency only on the architecture and the image size.
"""
from __future__ import annotations

import argparse
import statistics

import numpy as np
import torch
from tqdm import tqdm

from ..engine.device import median_ms, sync
from ..markdown import markdown_table
from ..io import atomic_write_text, refuse_overwrite
from ..method.masks import PAPER_BUCKETS, hole_ratio, sample_hole_in_bucket
from ..method.pra import CODE_KERNEL, MAX_EXTRA_PASSES, STOP_RATIO, one_shot, progressive_inpaint
from ..models import build_generator
from ..study import PROFILES

PAPER_TABLE3 = {"one_shot_ms": 52.69, "pra_ms": 85.46, "hardware": "1080 Ti", "samples": 10_000}


def bucket_masks(size: int, per_bucket: int, seed: int) -> dict[str, list[torch.Tensor]]:
    """``per_bucket`` known masks (1×1×size×size) per paper bucket, from ``isnet.masks.sample_hole_in_bucket``."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[torch.Tensor]] = {}
    for name, bounds in PAPER_BUCKETS.items():
        holes = [sample_hole_in_bucket(size, size, rng, bounds=bounds) for _ in range(per_bucket)]
        out[name] = [torch.from_numpy(~np.asarray(h, dtype=bool)).float()[None, None] for h in holes]
    return out


def bench_rows(generator: torch.nn.Module, masks: dict[str, list[torch.Tensor]], size: int, kernel: int,
               repeats: int, warmup: int, device: torch.device, seed: int = 0) -> list[dict]:
    """One row per (bucket, mask): hole ratio, passes, one-shot and PRA ms/image (medians of ``repeats``)."""
    image = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(seed)).to(device)
    with torch.no_grad():
        for _ in range(warmup):
            generator(image)
    sync(device)
    rows = []
    total = sum(len(v) for v in masks.values())
    with tqdm(total=total, desc="bench pra", unit="mask") as bar:
        for bucket, knowns in masks.items():
            for known in knowns:
                known = known.to(device)
                passes = int(progressive_inpaint(generator, image, known, kernel=kernel).passes[0])
                rows.append(dict(
                    bucket=bucket, hole_ratio=float(hole_ratio(known)[0]), passes=passes,
                    one_shot_ms=median_ms(lambda: one_shot(generator, image, known), repeats, device),
                    pra_ms=median_ms(lambda: progressive_inpaint(generator, image, known, kernel=kernel),
                                     repeats, device)))
                bar.update()
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    """Per-bucket means (and an "all" row over every mask): ms/image, passes, and the PRA / one-shot ratio."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["bucket"], []).append(r)
    groups["all"] = rows
    out = []
    for name, rs in groups.items():
        one, pra = statistics.fmean(r["one_shot_ms"] for r in rs), statistics.fmean(r["pra_ms"] for r in rs)
        out.append(dict(bucket=name, n=len(rs), hole_pct=100 * statistics.fmean(r["hole_ratio"] for r in rs),
                        passes=statistics.fmean(r["passes"] for r in rs), one_shot_ms=one, pra_ms=pra,
                        ratio=pra / one))
    return out


def format_table(summary: list[dict]) -> str:
    rows = [[s["bucket"], s["n"], f"{s['hole_pct']:.1f}", f"{s['passes']:.2f}", f"{s['one_shot_ms']:.1f}",
             f"{s['pra_ms']:.1f}", f"{s['ratio']:.2f}×"] for s in summary]
    p = PAPER_TABLE3
    rows.append([f"paper Table 3 ({p['hardware']}, {p['samples']:,} Places2 samples, masks unstated)", "—", "—", "—",
                 p["one_shot_ms"], p["pra_ms"], f"{p['pra_ms'] / p['one_shot_ms']:.2f}×"])
    return markdown_table(["bucket", "masks", "mean hole %", "mean passes", "one-shot ms/image", "PRA ms/image",
                           "PRA / one-shot"], rows)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", type=int, default=256, help="image side in px (paper: 256)")
    p.add_argument("--blocks", type=int, default=4, help="res blocks per branch per phase (paper: 4)")
    p.add_argument("--width", type=float, default=1.0, help="channel width multiplier (paper: 1.0)")
    p.add_argument("--kernel", type=int, default=CODE_KERNEL,
                   help="PRA growth kernel (code and Table 3: 15; the paper's Figure 6: 9)")
    p.add_argument("--per-bucket", type=int, default=5, help="masks per bucket")
    p.add_argument("--repeats", type=int, default=3, help="timed calls per mask and method (median taken)")
    p.add_argument("--warmup", type=int, default=2, help="untimed forwards before timing")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument("--csv", default=None, help="also write the per-mask rows to this CSV file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --csv file")
    p.add_argument("--profile", default=None, metavar="PROFILE",
                   help="a study profile's setting instead of --size/--blocks/--width/--kernel: its evaluation size, "
                        "B, width and first PRA kernel (e.g. laptop: 48 px, B=2, width 0.25, kernel 3)")
    p.add_argument("--quick", action="store_true",
                   help="toy run (32 px, B=1, width 0.25, 1 mask per bucket, 1 repeat) to check it works")


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.profile:
        if args.profile not in PROFILES:
            raise SystemExit(f"isnet bench pra: unknown profile {args.profile!r}; choose from {sorted(PROFILES)}")
        p = PROFILES[args.profile]
        args.size, args.blocks, args.width, args.kernel = p.eval_size, p.blocks, p.base.model.width, p.pra_kernels[0]
    if args.quick:
        args.size, args.blocks, args.width, args.per_bucket, args.repeats, args.warmup = 32, 1, 0.25, 1, 1, 0
    if args.csv:
        refuse_overwrite(args.csv, args.overwrite, "CSV file")
    device = torch.device(args.device)
    generator = build_generator("isnet", blocks=args.blocks, width=args.width).eval().to(device)
    masks = bucket_masks(args.size, args.per_bucket, args.seed)
    rows = bench_rows(generator, masks, args.size, args.kernel, args.repeats, args.warmup, device, args.seed)
    label = f"profile {args.profile}: " if args.profile else ""
    print(f"# isnet bench pra — {label}ISNet B={args.blocks} width {args.width}, {args.size}×{args.size}, device {device}, "
          f"torch {torch.__version__}, threads {torch.get_num_threads()}, batch 1, median of {args.repeats} after "
          f"{args.warmup} warm-up forwards; PRA kernel {args.kernel}, stop when hole ratio ≤ {STOP_RATIO}, "
          f"at most {MAX_EXTRA_PASSES} extra passes (authors' code)")
    print("# untrained weights: pass counts depend only on the masks and latency only on the architecture, "
          "so both are meaningful; compare the ratio, not the absolute ms, with the paper")
    print(format_table(summarise(rows)), end="")
    if args.csv:
        import pandas as pd

        atomic_write_text(args.csv, pd.DataFrame(rows).to_csv(index=False))
    return 0
