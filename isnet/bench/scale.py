"""The shipped generator at 48 / 128 / 256 px on the pool's test photos, beside Telea, NS and biharmonic.

For each size every test photo (centre square, resized) gets ``--per-bucket`` seeded holes per paper bucket
(10–20 … 40–50 %). Scored: composite PSNR over the whole image (as the paper scores), its paired difference
against Telea with a 95 % bootstrap interval clustered by photo (per-photo means resampled), the photos on
which the method beats Telea, and the checkerboard measure taken inside the hole only
(``isnet.method.checkerboard.hole_period2_share``: period-2 share of the fill's 2×2 blocks in the hole over
the photos' own under the same holes; the gate fails above ``HOLE_RATIO_LIMIT``). The model runs in each
inference mode of ``isnet.engine.modes`` (at the training size both modes are the same computation).

``--write-modes`` stores the per-size PSNR of every mode and method next to the shipped generator
(``resources/<name>-modes.json``), from which ``isnet inpaint --mode auto`` and the quickstart pick their mode.
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from ..data.sources import PhotoSource
from ..data.transforms import eval_transform
from ..engine.modes import MODES, choose_mode, modes_path, run_mode, training_size
from ..engine.pretrained import DEFAULT, describe, load_pretrained
from ..io import atomic_write_text
from ..markdown import markdown_table
from ..method.baselines import inpaint_classical
from ..method.checkerboard import HOLE_RATIO_LIMIT, checkerboard_gate, hole_period2_energy
from ..method.masks import PAPER_BUCKETS, known_from_hole, sample_hole_in_bucket
from ..method.metrics import paired_bootstrap, psnr

CLASSICAL = ("telea", "ns", "biharmonic")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sizes", type=int, nargs="+", default=[48, 128, 256])
    p.add_argument("--per-bucket", type=int, default=1, help="seeded holes per photo and paper bucket (default 1)")
    p.add_argument("--photos", type=int, default=None, help="only the first N test photos (a quick look)")
    p.add_argument("--model", default=DEFAULT, help=f"a shipped generator (default {DEFAULT})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None, help="also write the summary as JSON to this file")
    p.add_argument("--write-modes", action="store_true",
                   help="store the per-size PSNR of each mode next to the shipped generator (resources/<model>-modes.json)")


def hole(size: int, seed: int, photo: int, bucket: int, item: int) -> torch.Tensor:
    """A seeded known mask 1×1×size×size in one paper bucket (the same for every method)."""
    rng = np.random.default_rng([seed, size, photo, bucket, item])
    bounds = list(PAPER_BUCKETS.values())[bucket]
    return known_from_hole(sample_hole_in_bucket(size, size, rng, bounds=bounds)).float()


def measure(generator: torch.nn.Module, photos: list[np.ndarray], size: int, train_size: int, per_bucket: int = 1,
            seed: int = 0, progress: bool = True) -> tuple[pd.DataFrame, dict[str, tuple[float, float]]]:
    """(per-pair PSNR rows, {method: (period-2 energy, energy) summed inside the holes}); 'photo' is the truth."""
    rows, energy = [], {}
    methods = [*MODES, *CLASSICAL]
    total = len(photos) * len(PAPER_BUCKETS) * per_bucket
    with tqdm(total=total, desc=f"bench scale {size}px", unit="pair", disable=not progress) as bar:
        for i, arr in enumerate(photos):
            image = eval_transform(arr, size)[None]
            for b, bucket in enumerate(PAPER_BUCKETS):
                for j in range(per_bucket):
                    known = hole(size, seed, i, b, j)
                    fills = {m: run_mode(m, generator, image, known, train_size)[0] for m in MODES}
                    fills.update({m: inpaint_classical(m, image, known) for m in CLASSICAL})
                    fills["photo"] = image
                    for m, comp in fills.items():
                        p2, tot = hole_period2_energy(comp, known)
                        e = energy.get(m, (0.0, 0.0))
                        energy[m] = (e[0] + p2, e[1] + tot)
                        if m != "photo":
                            rows.append(dict(size=size, photo=i, bucket=bucket, item=j, method=m,
                                             psnr=float(psnr(comp.clamp(0, 1), image)[0])))
                    bar.update(1)
    return pd.DataFrame(rows), energy


def summarise(rows: pd.DataFrame, energy: dict[str, tuple[float, float]]) -> pd.DataFrame:
    """One row per method: mean PSNR, Δ vs Telea [95 % CI clustered by photo], photos beating Telea, hole
    checkerboard share over the photos'."""
    per_photo = rows.groupby(["method", "photo"])["psnr"].mean().unstack("photo")
    telea = per_photo.loc["telea"]
    photo_share = energy["photo"][0] / energy["photo"][1]
    out = []
    for m in per_photo.index:
        d = paired_bootstrap(per_photo.loc[m].values, telea.values) if m != "telea" else None
        share = energy[m][0] / energy[m][1] if energy[m][1] > 0 else float("nan")
        out.append(dict(method=m, psnr=float(rows[rows["method"] == m]["psnr"].mean()),
                        vs_telea=d["mean_diff"] if d else 0.0,
                        ci95_low=d["ci95_low"] if d else float("nan"), ci95_high=d["ci95_high"] if d else float("nan"),
                        beats_telea=int((per_photo.loc[m] > telea).sum()), photos=int(per_photo.shape[1]),
                        hole_p2_ratio=share / photo_share))
    order = {m: k for k, m in enumerate([*MODES, *CLASSICAL])}
    return pd.DataFrame(out).sort_values("method", key=lambda s: s.map(order)).reset_index(drop=True)


def _table(summary: pd.DataFrame, size: int) -> str:
    rows = [[r.method, f"{r.psnr:.2f}",
             "—" if r.method == "telea" else f"{r.vs_telea:+.2f} [{r.ci95_low:+.2f}, {r.ci95_high:+.2f}]",
             "—" if r.method == "telea" else f"{r.beats_telea}/{r.photos}", f"{r.hole_p2_ratio:.2f}x"]
            for r in summary.itertuples()]
    return markdown_table(["method", "PSNR dB", "vs Telea dB [95 % CI, by photo]", "beats Telea",
                           "hole checkerboard vs photos"], rows)


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    src = PhotoSource("test")
    n = len(src) if args.photos is None else min(args.photos, len(src))
    photos = [src.load(i) for i in range(n)]
    g = load_pretrained(args.model)
    train = training_size(args.model)
    info = describe(args.model)
    print(f"model: {g.isnet_source}\ntrained at {train} px; {n} test photos of the pool, {args.per_bucket} hole(s) "
          f"per photo and bucket, seed {args.seed}; composite PSNR over the whole image; hole checkerboard = "
          f"checkerboard share of the period-2 energy of the 2x2 blocks inside the hole over the photos' own (gate: > {HOLE_RATIO_LIMIT:g}x)")
    result: dict[str, Any] = {"model": args.model, "sha256": info["sha256"], "training_size": train,
                              "photos": n, "per_bucket": args.per_bucket, "seed": args.seed, "sizes": {}}
    for size in args.sizes:
        start = time.perf_counter()
        rows, energy = measure(g, photos, size, train, args.per_bucket, args.seed)
        summary = summarise(rows, energy)
        print(f"\n## {size} px ({'the training size: both modes are one computation' if size == train else 'modes differ'}"
              f"; {time.perf_counter() - start:.0f} s)\n")
        print(_table(summary, size))
        ours = summary[summary["method"].isin(MODES)]
        gates = [msg for r in ours.itertuples() for msg in checkerboard_gate(r.hole_p2_ratio, f"mode {r.method}")]
        entry = result["sizes"][str(size)] = {
            "psnr": {r.method: round(r.psnr, 3) for r in summary.itertuples()},
            "vs_telea": {r.method: [round(r.vs_telea, 3), round(r.ci95_low, 3), round(r.ci95_high, 3)]
                         for r in summary.itertuples() if r.method != "telea"},
            "hole_p2_ratio": {r.method: round(r.hole_p2_ratio, 3) for r in summary.itertuples()},
            "checkerboard_gate": gates}
        choice = choose_mode(size, {"sizes": {str(size): entry}})
        entry["auto"] = choice.mode
        print(f"\n{size} px: auto mode {choice.mode}" + ("; below Telea in every mode" if choice.below_telea else "")
              + "; " + ("; ".join(gates) if gates else "checkerboard gate passed"))
    text = json.dumps(result, indent=1) + "\n"
    if args.json:
        atomic_write_text(args.json, text)
    if args.write_modes:
        atomic_write_text(modes_path(args.model), text)
        print(f"\nwrote {modes_path(args.model).name} (isnet inpaint --mode auto reads it)")
    return 0
