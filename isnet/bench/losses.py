"""Loss-path cost: our shared-backbone generator loss vs the authors' two VGG copies and four passes.

One generator step's loss part (forward + backward of L1, adversarial and feature-matching through the
discriminator, perceptual and style through the VGG) for a prediction that requires grad, so the
generator's own cost is left out. Both paths run side by side in one process, interleaved, NCHW fp32.
Random VGG weights (``vgg19-random`` / ``vgg16-random``) are used: weights do not change the cost.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from ..markdown import markdown_table
from ..method.features import BACKBONES
from ..method.losses import LOSS_PRESETS, AuthorsLossPath, InpaintingLoss, loss_weights
from ..models import build_discriminator

PATHS = {"ours": InpaintingLoss, "authors": AuthorsLossPath}


def _random_backbone(preset: str) -> str:
    return f"{BACKBONES[LOSS_PRESETS[preset].backbone].arch}-random"


def _count_backbone_calls(loss: InpaintingLoss) -> list:
    """Forward hooks that count VGG forwards (one per call, whatever the batch)."""
    nets = [m for m in (getattr(loss, n, None) for n in ("backbone", "perceptual_net", "style_net")) if m is not None]
    counter = [0]
    for net in nets:
        net.register_forward_hook(lambda *_: counter.__setitem__(0, counter[0] + 1))
    return counter


def _step(loss: InpaintingLoss, disc, gt, known, device) -> float:
    pred = torch.rand_like(gt).requires_grad_(True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    total, _ = loss.generator_loss(pred, gt, known, disc)
    total.backward()
    if device.type == "cuda":
        torch.cuda.synchronize()
    disc.zero_grad(set_to_none=True)
    return time.perf_counter() - t


def bench_rows(presets, sizes, batch: int, repeats: int, warmup: int, device: torch.device) -> list[dict]:
    rows = []
    for preset in presets:
        weights = loss_weights(preset, backbone=_random_backbone(preset))
        disc = build_discriminator(weights.gan_loss).to(device).train()
        losses = {name: cls(weights).to(device) for name, cls in PATHS.items()}
        counters = {name: _count_backbone_calls(loss) for name, loss in losses.items()}
        for size in sizes:
            gt = torch.rand(batch, 3, size, size, device=device)
            known = (torch.rand(batch, 1, size, size, device=device) > 0.3).float()
            times = {name: [] for name in PATHS}
            passes = {}
            for i in range(warmup + repeats):
                for name, loss in losses.items():  # interleaved, so drift hits both paths alike
                    before = counters[name][0]
                    sec = _step(loss, disc, gt, known, device)
                    passes[name] = counters[name][0] - before
                    if i >= warmup:
                        times[name].append(sec)
            ours, theirs = statistics.median(times["ours"]), statistics.median(times["authors"])
            rows.append(dict(preset=preset, backbone=weights.backbone, size=size, batch=batch,
                             ours_ms=1000 * ours, authors_ms=1000 * theirs, ratio=theirs / ours,
                             ours_passes=passes["ours"], authors_passes=passes["authors"]))
    return rows


def markdown(rows: list[dict]) -> str:
    return markdown_table(
        ["preset", "VGG", "size", "batch", "VGG passes ours / authors", "ours (ms)", "authors (ms)", "authors ÷ ours"],
        [[r["preset"], r["backbone"], f"{r['size']}²", r["batch"], f"{r['ours_passes']} / {r['authors_passes']}",
          f"{r['ours_ms']:.1f}", f"{r['authors_ms']:.1f}", f"{r['ratio']:.2f}"] for r in rows])


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--presets", nargs="+", default=["code-master"], choices=sorted(LOSS_PRESETS),
                   help="loss presets to time (default: code-master, the config the authors' path belongs to)")
    p.add_argument("--sizes", nargs="+", type=int, default=[64, 256], help="image sizes (square)")
    p.add_argument("--batch", type=int, default=None, help="batch size (default 2 on CPU, 8 on GPU)")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats per path; the median is reported")
    p.add_argument("--warmup", type=int, default=1, help="untimed repeats first")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--quick", action="store_true", help="toy run (32², batch 1, 1 repeat, no warm-up) to check it works")


def run(args: argparse.Namespace) -> int:
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    batch = args.batch or (8 if device.type == "cuda" else 2)
    sizes, repeats, warmup = args.sizes, args.repeats, args.warmup
    if args.quick:
        sizes, batch, repeats, warmup = [32], 1, 1, 0
    rows = bench_rows(args.presets, sizes, batch, repeats, warmup, device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"Generator-loss forward+backward (L1, adversarial, FM through D; perceptual+style through VGG), "
          f"median of {repeats} after {warmup} warm-up, {name}, torch {torch.__version__}, NCHW fp32.")
    print("Random VGG weights: the weights do not change the cost. Ours: one shared VGG, gt once without grad, "
          "pred once, stopping at the deepest layer needed. Authors: two VGG copies to the last ReLU, four passes, "
          "and D weight gradients computed in the G step.\n")
    print(markdown(rows), end="")
    return 0
