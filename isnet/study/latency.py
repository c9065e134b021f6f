"""Timing and PRA studies of a trained run: Table 3's latency, PRA's passes per bucket and its growth trace."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from ..data import PairsDataset
from ..engine.checkpoint import load_generator
from ..engine.device import device_name, sync
from ..method.metrics import aggregate
from ..method.pra import one_shot, progressive_inpaint
from . import paper
from .report import (
    paired_gain,
    side_by_side,
    write_table,
)
from .generators import run_generator
from .samples import _pair_index


class Latency:
    """The part of :class:`isnet.study.Study` that times methods and studies PRA on a trained run."""

    # ---------------------------------------------------------------- Table 3 and PRA
    def latency(self, run: str | Path) -> pd.DataFrame:
        """Table 3: ms/image for one shot and PRA at batch 1 on the same fixed pairs.

        Both methods are first called ``latency_warmup`` times on every timed image (lazy initialisation,
        allocator, caches), then timed in interleaved repeats (one shot, PRA, one shot, ...) so that load on
        a shared machine hits both alike; each image's time is the median of its repeats and the table the
        mean over images. PRA's mean generator passes stand beside its time, and ``ms_per_pass`` says whether
        a pass costs what a one-shot call does.
        """
        import torch

        p = self.profile
        gen = load_generator(run_generator(self.dir / "runs" / Path(run).name))
        dev = torch.device(self.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        gen = gen.to(dev).eval()
        ds = PairsDataset(self.pairs_path())
        idx = np.linspace(0, len(ds) - 1, min(p.latency_pairs, len(ds))).round().astype(int)
        items = [(ds[int(i)][0][None].to(dev), ds[int(i)][1][None].to(dev)) for i in idx]
        kernel = p.pra_kernels[0]
        methods = {"isnet": lambda im, kn: (one_shot(gen, im, kn), 1),
                   "isnet-pra": lambda im, kn: (lambda r: (r.composite, int(r.passes[0])))(
                       progressive_inpaint(gen, im, kn, kernel=kernel))}
        repeats = max(p.latency_repeats, p.latency_min_repeats)
        times = {m: [[] for _ in items] for m in methods}
        passes = {m: [1] * len(items) for m in methods}
        with torch.no_grad():
            for _ in range(p.latency_warmup):
                for fn in methods.values():
                    for image, known in items:
                        fn(image, known)
            for _ in range(repeats):
                for j, (image, known) in enumerate(items):
                    for m, fn in methods.items():
                        sync(dev)
                        t = time.perf_counter()
                        _, passes[m][j] = fn(image, known)
                        sync(dev)
                        times[m][j].append(1000 * (time.perf_counter() - t))
        rows, per_pair = [], []
        for m in methods:
            per_image = np.array([np.median(t) for t in times[m]])
            mean_passes = float(np.mean(passes[m]))
            rows.append({"method": m, "latency_ms": float(per_image.mean()), "passes": mean_passes,
                         "ms_per_pass": float(per_image.mean() / mean_passes), "n": len(items),
                         "repeats": repeats, "warmup": p.latency_warmup,
                         "kernel": kernel if m.endswith("pra") else None, "device": device_name(dev)})
            per_pair += [{"method": m, "pair_id": int(i), "latency_ms": float(t), "passes": n_pass}
                         for i, t, n_pass in zip(idx, per_image, passes[m])]
        df = pd.DataFrame(rows)
        df["ratio_to_one_shot"] = df.latency_ms / df.latency_ms.iloc[0]
        df.attrs["per_pair"] = pd.DataFrame(per_pair)
        return df

    def table3(self, run: str | Path) -> pd.DataFrame:
        """Table 3 beside the paper's, with PRA's passes and ms per pass; written to tables/table3."""

        latency = self.latency(run)
        table = side_by_side(latency.attrs["per_pair"], paper.table3(), keys=["method"], metrics=["latency_ms"],
                             label=self.label)  # mean ± CI over the timed images
        extra = latency.set_index("method")[["passes", "ms_per_pass", "ratio_to_one_shot", "repeats", "warmup",
                                             "device"]]
        table = table.merge(extra.add_prefix("ours "), left_on="method", right_index=True, how="left")
        table.attrs.update(paper_table=3, label=self.label)
        write_table(table, self.dir / "tables", "table3", label=self.label, overwrite=True)
        return table

    def pra_study(self, run: str | Path, seed: int) -> pd.DataFrame:
        """Paired one-shot vs PRA per bucket, for each kernel (15 = code/Table 3, 9 = Figure 6)."""
        parts = [self.evaluate_run("isnet-eq5", run, seed)]
        for k in self.profile.pra_kernels:
            parts.append(self.evaluate_run("isnet-eq5", run, seed, pra=True, kernel=k, name=f"isnet-eq5-pra-k{k}"))
        return pd.concat(parts, ignore_index=True)

    def pra_tables(self, runs: Mapping[int, str | Path] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(summary per method and bucket, paired PRA − one shot per kernel and bucket with mean passes), over
        every training seed (``runs``: seed → run; default: the profile's seeds of Table 5's ISNet); both written
        to tables/. The paired rows use the same pairs for both sides; the first kernel is the derived one (the
        verdict's), the others are the sensitivity table."""

        if runs is None:
            runs = {seed: self.run_of("table5", "isnet-eq5", seed) for seed in self.seeds_of("table5", "isnet-eq5")}
        per_pair = pd.concat([self.pra_study(run, seed) for seed, run in runs.items()], ignore_index=True)
        summary = aggregate(per_pair, by=("method", "bucket"), metrics=("psnr", "ssim", "mae"))
        write_table(summary, self.dir / "tables", "pra_per_bucket", label=self.label, overwrite=True)
        kernels = self.profile.pra_kernels
        paired = paired_gain(per_pair, "isnet-eq5", {k: f"isnet-eq5-pra-k{k}" for k in kernels}, by="bucket",
                             metric="psnr", name="kernel", means=("passes",))
        write_table(paired, self.dir / "tables", "pra_paired", label=self.label, overwrite=True)
        return summary, paired

    def pra_trace(self, run: str | Path, pair: str | None = None, kernel: int = 9):
        """PRAResult with the per-pass trace of one pair (Figure 6); default: the first 40-50 % pair."""

        gen = load_generator(run_generator(self.dir / "runs" / Path(run).name)).eval()
        ds = PairsDataset(self.pairs_path())
        pair = pair or self.pair_ids("40-50")[0]
        image, known, meta = ds[_pair_index(ds, pair)]
        return progressive_inpaint(gen, image[None], known[None], kernel=kernel, trace=True), meta
