"""Generator cost: parameters, GFLOPs, CPU/GPU latency and fast paths (channels-last, bf16, folded SN).

Every row of one run is measured on the same machine, side by side; the fast-path rows also give the
output difference against plain fp32 NCHW (max abs and PSNR), so speed is never bought silently with
accuracy. Untrained weights (primed spectral norm) give representative timings.
"""
from __future__ import annotations

import argparse
import copy
import math
import statistics
import time
from contextlib import nullcontext

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..markdown import markdown_table
from ..io import atomic_write_text
from ..models import build_generator, count_parameters, fold_spectral_norm
from ..study import PROFILES

PATHS = {  # name → (channels_last, bf16 autocast, fold spectral norm)
    "fp32": (False, False, False),
    "channels-last": (True, False, False),
    "bf16": (False, True, False),
    "bf16+cl+fold": (True, True, True),
}


def count_gflops(model: torch.nn.Module, x: torch.Tensor) -> float:
    """GFLOPs (2 × multiply-adds) of one forward, counted by torch's FlopCounterMode."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() / 1e9


def time_forward(model, x, repeats: int, warmup: int, device: torch.device, bf16: bool) -> tuple[float, torch.Tensor]:
    """Median seconds per forward (no grad), and the last output in fp32."""
    ctx = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
    times = []
    with torch.inference_mode(), ctx:
        for i in range(warmup + repeats):
            if device.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            y = model(x)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i >= warmup:
                times.append(time.perf_counter() - t)
    return statistics.median(times), y.float()


def psnr_db(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = torch.mean((a - b) ** 2).item()
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def profile_settings(names) -> list[tuple[str, int, float, int]]:
    """(profile, blocks, width, size) of study profiles: the generator each one trains and evaluates."""
    out = []
    for name in names:
        if name not in PROFILES:
            raise SystemExit(f"isnet bench model: unknown profile {name!r}; choose from {sorted(PROFILES)}")
        p = PROFILES[name]
        out.append((name, p.blocks, p.base.model.width, p.eval_size))
    return out


def bench_rows(blocks, widths, sizes, paths, repeats, warmup, device, batch=1, name="isnet"):
    rows = []
    for width in widths:
        for b in blocks:
            base = build_generator(name, blocks=b, width=width).eval().to(device)
            base.validate_inputs = False
            params = count_parameters(base)
            for size in sizes:
                x = torch.rand(batch, 3, size, size, device=device)
                gflops = count_gflops(base, x[:1])
                ref = None
                for path in paths:
                    cl, bf16, fold = PATHS[path]
                    model = fold_spectral_norm(copy.deepcopy(base)) if fold else base
                    xin = x.contiguous(memory_format=torch.channels_last) if cl else x
                    if cl:
                        model = model.to(memory_format=torch.channels_last)
                    sec, y = time_forward(model, xin, repeats, warmup, device, bf16)
                    if cl and not fold:
                        base = base.to(memory_format=torch.contiguous_format)
                    ref = y if path == "fp32" else ref
                    row = dict(blocks=b, width=width, size=size, path=path, params=params, gflops=gflops,
                               ms_per_image=1000 * sec / batch, gflops_per_s=gflops * batch / sec)
                    if ref is not None and path != "fp32":
                        row["max_abs_diff"] = (y - ref).abs().max().item()
                        row["psnr_vs_fp32"] = psnr_db(y, ref)
                    rows.append(row)
    return rows


def format_table(rows) -> str:
    by_profile = any("profile" in r for r in rows)  # the profile column only for --profile runs
    header = ["profile"] * by_profile + ["B", "width", "size", "path", "params", "GFLOPs", "ms/image", "GFLOP/s",
                                         "speed-up vs fp32", "max abs diff", "PSNR vs fp32 (dB)"]
    cells = []
    ref_ms = {}
    for r in rows:
        key = (r["blocks"], r["width"], r["size"])
        if r["path"] == "fp32":
            ref_ms[key] = r["ms_per_image"]
        speed = ref_ms.get(key, float("nan")) / r["ms_per_image"]
        diff = f"{r['max_abs_diff']:.2e}" if "max_abs_diff" in r else "—"
        ps = f"{r['psnr_vs_fp32']:.1f}" if "psnr_vs_fp32" in r else "—"
        cells.append([r.get("profile", "—")] * by_profile +
                     [r["blocks"], r["width"], r["size"], r["path"], f"{r['params']:,}", f"{r['gflops']:.2f}",
                      f"{r['ms_per_image']:.1f}", f"{r['gflops_per_s']:.1f}", f"{speed:.2f}×", diff, ps])
    return markdown_table(header, cells)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--blocks", type=int, nargs="+", default=[1, 2, 3, 4])
    p.add_argument("--widths", type=float, nargs="+", default=[1.0, 0.25])
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    p.add_argument("--channels-last", action="store_true", help="add a channels-last row beside fp32 NCHW")
    p.add_argument("--bf16", action="store_true", help="add a bf16-autocast row (with --channels-last also "
                   "bf16 + channels-last + folded spectral norm)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument("--csv", default=None, help="also write the rows to this CSV file")
    p.add_argument("--profile", nargs="+", default=None, metavar="PROFILE",
                   help="instead of --blocks/--widths/--sizes: one row set per study profile (its B, width and "
                        "evaluation size), e.g. --profile smoke laptop paper")
    p.add_argument("--quick", action="store_true", help="toy run (B=1, width 0.25, 32 px, 1 repeat) to check it works")


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.blocks, args.widths, args.sizes, args.repeats, args.warmup = [1], [0.25], [32], 1, 0
    paths = ["fp32"] + (["channels-last"] if args.channels_last else []) + (["bf16"] if args.bf16 else [])
    if args.channels_last and args.bf16:
        paths.append("bf16+cl+fold")
    device = torch.device(args.device)
    print(f"# isnet bench model — device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"median of {args.repeats} after {args.warmup} warm-up, batch 1")
    if args.profile:
        rows = []
        for prof, b, w, size in profile_settings(args.profile):
            rows += [{"profile": prof, **r} for r in bench_rows([b], [w], [size], paths, args.repeats, args.warmup, device)]
    else:
        rows = bench_rows(args.blocks, args.widths, args.sizes, paths, args.repeats, args.warmup, device)
    print(format_table(rows), end="")
    if args.csv:
        import pandas as pd

        atomic_write_text(args.csv, pd.DataFrame(rows).to_csv(index=False))
    return 0
