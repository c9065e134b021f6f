"""Paper Table 3 (ms/image, one-shot vs PRA) and training it/s, in fp32 / channels-last / bf16 side by side.

Inference: fixed (image, mask) pairs with masks from every paper bucket, batch 1, warm-up passes, then
the median over repeats of the mean time per image, for one-shot and PRA. Each precision path runs the
same weights on the same pairs in one process; the fast path is bf16 autocast + channels-last + spectral
norm folded into the weights, and every path reports its composite's PSNR against the fp32 composite
(how much the speed costs in output). Achieved GFLOP/s use ``torch.utils.flop_counter.FlopCounterMode``
(2 × multiply-adds of one forward; PRA counts one forward per pass).

Training: ``Engine.step`` (the real training step: generator, discriminator, the config's loss) timed
for the same paths, as iterations/s and images/s, with the step's GFLOP/s. The feature backbone defaults
to ``vgg16-random``: the same architecture and cost as the ImageNet VGG16, with no download (timing only).

The paper reports 52.69 vs 85.46 ms on a 1080 Ti (ratio 1.62); compare ratios, not absolute times.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..engine.checkpoint import build_models, load_generator
from ..engine.config import Config
from ..engine.device import (
    autocast,
    bf16_supported,
    device_name,
    median_ms,
    pick_device,
    sync,
)
from ..markdown import markdown_table
from ..engine.train import Engine
from ..method.losses import AuthorsLossPath
from ..method.masks import PAPER_BUCKETS, known_from_hole, sample_hole_in_bucket
from ..method.pra import one_shot, progressive_inpaint
from ..models import fold_spectral_norm
from ..study.profiles import base_config

PAPER = {"one_shot_ms": 52.69, "pra_ms": 85.46, "hardware": "1080 Ti"}


@dataclass(frozen=True)
class Path:
    """One precision / layout path."""

    channels_last: bool
    bf16: bool
    fold: bool = False


INFERENCE_PATHS = {
    "fp32": Path(False, False),
    "channels-last": Path(True, False),
    "bf16": Path(False, True),
    "fast (bf16+cl+folded SN)": Path(True, True, True),
}
TRAINING_PATHS = {"authors' loss path (fp32, 2 backbone copies, 4 passes)": Path(False, False),
                  "fp32": Path(False, False), "channels-last": Path(True, False), "bf16": Path(False, True),
                  "bf16+cl": Path(True, True)}
AUTHORS_PATH = next(iter(TRAINING_PATHS))


def fixed_pairs(size: int, n: int, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``n`` (image, known) pairs, masks cycling through the paper buckets (10–50 % holes).

    Images are smooth seeded noise: latency and pass counts do not depend on image content.
    """

    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    buckets = list(PAPER_BUCKETS.values())
    pairs = []
    for i in range(n):
        low = torch.rand(1, 3, max(2, size // 8), max(2, size // 8), generator=gen)
        image = nn.functional.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)
        known = known_from_hole(sample_hole_in_bucket(size, size, rng, bounds=buckets[i % len(buckets)]))
        pairs.append((image.clamp(0, 1), known))
    return pairs


def gflops(fn) -> float:
    """GFLOPs (2 × multiply-adds) that ``fn()`` runs."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 1e9


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.double() - b.double()) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


# ----------------------------------------------------------------------------------------- inference
def inference_rows(generator: nn.Module, pairs, device: torch.device, repeats: int, warmup: int,
                   kernel: int = 15) -> list[dict]:
    """One row per path: one-shot and PRA ms/image, mean passes, GFLOP/s, PSNR of the composite vs fp32."""

    pairs = [(i.to(device), k.to(device)) for i, k in pairs]
    base = generator.to(device).eval()
    base.validate_inputs = False  # the finite-input check syncs every forward; it is not the model's cost
    with torch.no_grad():
        flops_one = gflops(lambda: base(pairs[0][0] * pairs[0][1]))
    reference: dict[str, list[torch.Tensor]] = {}
    rows = []
    for name, path in INFERENCE_PATHS.items():
        if path.bf16 and not bf16_supported(device):
            rows.append({"path": name, "skipped": "bf16 unsupported on this device"})
            continue
        model = copy.deepcopy(base)
        if path.fold:
            fold_spectral_norm(model)
        fmt = torch.channels_last if path.channels_last else torch.contiguous_format
        model = model.to(memory_format=fmt)
        inputs = [(i.contiguous(memory_format=fmt), k.contiguous(memory_format=fmt)) for i, k in pairs]

        def run_one():
            with autocast(device, "bf16" if path.bf16 else "none"):
                return [one_shot(model, i, k).float() for i, k in inputs]

        def run_pra():
            with autocast(device, "bf16" if path.bf16 else "none"):
                return [progressive_inpaint(model, i, k, kernel=kernel) for i, k in inputs]

        for _ in range(warmup):
            run_one(), run_pra()
        one_ms = median_ms(run_one, repeats, device) / len(inputs)
        pra_ms = median_ms(run_pra, repeats, device) / len(inputs)
        one_out = run_one()
        pra_out = [r.composite.float() for r in run_pra()]
        passes = statistics.fmean(float(r.passes[0]) for r in run_pra())
        reference.setdefault("one", one_out)
        reference.setdefault("pra", pra_out)
        rows.append({
            "path": name, "one_shot_ms": one_ms, "pra_ms": pra_ms, "pra_over_one": pra_ms / one_ms,
            "passes": passes, "gflop_per_image": flops_one,
            "one_shot_gflops": flops_one / (one_ms / 1000), "pra_gflops": flops_one * passes / (pra_ms / 1000),
            "psnr_vs_fp32_one": min(_psnr(a, b) for a, b in zip(one_out, reference["one"])),
            "psnr_vs_fp32_pra": min(_psnr(a, b) for a, b in zip(pra_out, reference["pra"])),
        })
    return rows


# ----------------------------------------------------------------------------------------- training
def training_rows(cfg, device: torch.device, steps: int, warmup: int) -> list[dict]:
    """One row per path: training iterations/s and images/s of ``Engine.step`` and its GFLOP/s."""
    from dataclasses import replace

    batch = cfg.train.batch
    gen = torch.Generator().manual_seed(0)
    size = cfg.data.size
    image = torch.rand(batch, 3, size, size, generator=gen)
    known = torch.stack([p[1][0] for p in fixed_pairs(size, batch, seed=1)])
    rows = []
    flops = None
    for name, path in TRAINING_PATHS.items():
        if path.bf16 and not bf16_supported(device):
            rows.append({"path": name, "skipped": "bf16 unsupported on this device"})
            continue
        c = replace(cfg, train=replace(cfg.train, amp="bf16" if path.bf16 else "none",
                                       channels_last=path.channels_last))
        weights = c.loss.loss_weights()
        loss = AuthorsLossPath(weights, weights.backbone) if name == AUTHORS_PATH else None
        engine = Engine(c, device, loss=loss)
        if flops is None and name != AUTHORS_PATH:
            flops = gflops(lambda: engine.step(image, known))
        for _ in range(warmup):
            engine.step(image, known)
        sync(device)
        times = []
        for _ in range(steps):
            t = time.perf_counter()
            engine.step(image, known)  # the logged floats synchronise the device
            sync(device)
            times.append(time.perf_counter() - t)
        sec = statistics.median(times)
        step_flops = gflops(lambda: engine.step(image, known)) if name == AUTHORS_PATH else flops
        rows.append({"path": name, "it_per_s": 1 / sec, "images_per_s": batch / sec, "ms_per_step": 1000 * sec,
                     "gflop_per_step": step_flops, "gflops": step_flops / sec})
        del engine
    return rows


# ----------------------------------------------------------------------------------------- tables
def _ratio_to_first(rows: list[dict], key: str) -> list[str]:
    base = next((r[key] for r in rows if key in r), None)
    return [f"{base / r[key]:.2f}×" if key in r and base else "—" for r in rows]


def format_inference(rows: list[dict]) -> str:
    header = ["path", "one-shot ms/img", "PRA ms/img", "PRA / one-shot", "mean passes", "speed-up vs fp32 (one-shot)",
              "GFLOP/s one-shot", "GFLOP/s PRA", "composite PSNR vs fp32 one-shot / PRA (dB, worst pair)"]
    cells = []
    for r, s in zip(rows, _ratio_to_first(rows, "one_shot_ms")):
        if "skipped" in r:
            cells.append([r["path"], r["skipped"]] + [""] * 7)
            continue
        cells.append([r["path"], f"{r['one_shot_ms']:.2f}", f"{r['pra_ms']:.2f}", f"{r['pra_over_one']:.2f}×",
                      f"{r['passes']:.2f}", s, f"{r['one_shot_gflops']:.1f}", f"{r['pra_gflops']:.1f}",
                      f"{r['psnr_vs_fp32_one']:.1f} / {r['psnr_vs_fp32_pra']:.1f}"])
    cells.append([f"paper Table 3 ({PAPER['hardware']})", PAPER["one_shot_ms"], PAPER["pra_ms"],
                  f"{PAPER['pra_ms'] / PAPER['one_shot_ms']:.2f}×"] + ["—"] * 5)
    return markdown_table(header, cells)


def format_training(rows: list[dict]) -> str:
    cells = []
    for r, s in zip(rows, _ratio_to_first(rows, "ms_per_step")):
        if "skipped" in r:
            cells.append([r["path"], r["skipped"]] + [""] * 5)
            continue
        cells.append([r["path"], f"{r['it_per_s']:.2f}", f"{r['images_per_s']:.1f}", f"{r['ms_per_step']:.1f}", s,
                      f"{r['gflop_per_step']:.1f}", f"{r['gflops']:.1f}"])
    return markdown_table(["path", "it/s", "images/s", "ms/step", "speed-up vs the authors' path", "GFLOP/step",
                           "GFLOP/s"], cells)


# ----------------------------------------------------------------------------------------- CLI
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--profile", default=None, help="config profile for the model and training step (default: the "
                                                    "paper's model: ISNet B=4, width 1, 256 px, batch 8)")
    p.add_argument("--size", type=int, default=None, help="image side in px (paper: 256)")
    p.add_argument("--blocks", type=int, default=None, help="res blocks per branch per phase (paper: 4)")
    p.add_argument("--width", type=float, default=None, help="channel multiplier (paper: 1.0)")
    p.add_argument("--checkpoint", default=None, help="time these weights (ours or the authors'); default random")
    p.add_argument("--pairs", type=int, default=8, help="fixed pairs (masks cycle through the paper buckets)")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats (median taken)")
    p.add_argument("--warmup", type=int, default=2, help="untimed repeats first")
    p.add_argument("--kernel", type=int, default=15, help="PRA growth kernel (code and Table 3: 15)")
    p.add_argument("--train-batch", type=int, default=None, help="training batch (paper: 8)")
    p.add_argument("--train-steps", type=int, default=5, help="timed training steps per path (median taken)")
    p.add_argument("--backbone", default="vgg16-random",
                   help="feature backbone of the training loss (default random VGG16: same cost, no download)")
    p.add_argument("--no-train", action="store_true", help="skip the training-step table")
    p.add_argument("--no-inference", action="store_true", help="skip the Table 3 latency table")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides for the training step")
    p.add_argument("--quick", action="store_true", help="toy sizes (32 px, B=1, width 0.125) to check the bench works")


def bench_config(args: argparse.Namespace):
    """The config whose model and training step are timed (the paper's sizes unless told otherwise)."""
    cfg = base_config(args.profile) if args.profile else Config()
    over = {"loss.backbone": args.backbone, "loss.allow_test_backbone": True, "out.dir": "unused"}
    for key, value in (("data.size", args.size), ("model.blocks", args.blocks), ("model.width", args.width),
                       ("train.batch", args.train_batch)):
        if value is not None:
            over[key] = value
    return cfg.with_overrides(over).with_overrides(args.overrides).resolve()


def run(args: argparse.Namespace) -> int:
    if args.quick:
        args.size, args.blocks, args.width = args.size or 32, args.blocks or 1, args.width or 0.125
        args.pairs, args.repeats, args.warmup = min(args.pairs, 2), min(args.repeats, 2), min(args.warmup, 1)
        args.train_batch, args.train_steps = args.train_batch or 2, min(args.train_steps, 2)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = bench_config(args)
    device = pick_device(args.device)
    size = cfg.data.size
    print(f"# isnet bench table3 — {cfg.model.generator} B={cfg.model.blocks} width {cfg.model.width}, {size}×{size}, "
          f"device {device_name(device)}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    if not args.no_inference:
        if args.checkpoint:
            generator = load_generator(args.checkpoint)
            weights = f"weights {args.checkpoint}"
        else:
            torch.manual_seed(0)
            generator = build_models(cfg)[0]
            weights = "random weights (latency depends on the architecture, passes on the masks)"
        pairs = fixed_pairs(size, args.pairs)
        rows = inference_rows(generator, pairs, device, args.repeats, args.warmup, args.kernel)
        print(f"\n## Table 3: ms/image, batch 1, {len(pairs)} fixed pairs (paper buckets), median of {args.repeats} "
              f"after {args.warmup} warm-up; PRA kernel {args.kernel}; {weights}")
        print(format_inference(rows), end="")
    if not args.no_train:
        rows = training_rows(cfg, device, args.train_steps, max(1, args.warmup))
        w = cfg.loss.loss_weights()
        print(f"\n## Training step ({cfg.train.batch} images of {size}², G then D; loss {cfg.loss.preset} with "
              f"{w.backbone}, {w.gan_loss}); median of {args.train_steps} steps")
        print(format_training(rows), end="")
    return 0


