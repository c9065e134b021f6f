"""Data loading (images/s, 0/1/2 workers) beside the training step's consumption rate, same size and batch.

Why: a loader slower than the step it feeds wastes the training budget. For each image size this
measures the images per second that training's data path (:class:`isnet.data.SampleStream`) delivers
(decode, crop, resize, flip, free-form mask) with 0, 1 and 2 workers, and the images per second one ISNet training step
consumes (forward + L1 on the composite + backward + Adam step, batch and size identical). A ratio
loader/step above 1 means loading is not the bottleneck. Absolute numbers are this machine's; the
ratios are the point.
"""
from __future__ import annotations

import argparse
import itertools
import time

import torch

from ..data import SampleStream, TrainDataset, build_source
from ..engine.config import Config
from ..markdown import markdown_table
from ..models import build_generator


def loader_rate(dataset: TrainDataset, batch_size: int, workers: int, batches: int, seed: int = 0) -> float:
    """Images/s over ``batches`` batches after the first (worker start-up and first decode excluded)."""
    cfg = Config.from_dict({"train.batch": batch_size, "train.seed": seed, "data.workers": workers})
    it = SampleStream(cfg, dataset=dataset).loader(0, batches + 1)
    next(it)
    n, t = 0, time.perf_counter()
    for image, _known in itertools.islice(it, batches):
        n += len(image)
    dt = time.perf_counter() - t
    del it
    return n / dt if dt > 0 else float("nan")


def step_rate(size: int, batch_size: int, blocks: int, width: float, steps: int, seed: int = 0) -> float:
    """Images/s of generator training steps (forward, L1 on the composite, backward, Adam)."""
    torch.manual_seed(seed)
    gen = build_generator("isnet", blocks=blocks, width=width)
    opt = torch.optim.Adam(gen.parameters(), lr=1e-4, betas=(0.0, 0.9))
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(batch_size, 3, size, size, generator=g)
    known = (torch.rand(batch_size, 1, size, size, generator=g) > 0.3).float()

    def step() -> None:
        pred = gen(image * known)
        loss = (pred * (1 - known) + image * known - image).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()  # warm-up
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch_size / (time.perf_counter() - t)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", default="photos", help="image source (falls back to samples if unavailable)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--batches", type=int, default=10, help="batches timed per loader setting")
    parser.add_argument("--steps", type=int, default=3, help="training steps timed per size")
    parser.add_argument("--crop", default="random", choices=["center", "random"])
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--quick", action="store_true", help="toy settings for a test (size 32, 2 batches)")


def run(args: argparse.Namespace) -> int:
    if args.quick:
        args.sizes, args.workers, args.batch_size, args.batches, args.steps = [32], [0, 1], 2, 2, 1
        args.blocks, args.width = 1, 0.25
    try:
        source = build_source(args.source, split=args.split)
    except (FileNotFoundError, ValueError) as e:
        print(f"source {args.source!r} unavailable ({str(e).splitlines()[0][:120]}); using samples")
        source = build_source("samples")
    print(f"source {source.name} ({source.split}, {len(source)} images), batch {args.batch_size}, crop {args.crop}, "
          f"ISNet blocks={args.blocks} width={args.width}, torch threads {torch.get_num_threads()}\n")
    rows = []
    for size in args.sizes:
        dataset = TrainDataset(source, size, crop=args.crop, upscale=True)
        consume = step_rate(size, args.batch_size, args.blocks, args.width, args.steps)
        for w in args.workers:
            rate = loader_rate(dataset, args.batch_size, w, args.batches)
            rows.append([size, w, f"{rate:.1f}", f"{consume:.1f}", f"{rate / consume:.2f}"])
    print(markdown_table(["size", "workers", "loader img/s", "train step img/s", "loader / step"], rows), end="")
    return 0
