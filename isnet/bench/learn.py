"""Learning curve: a profile's ISNet and UNet-like scored against Telea / NS / biharmonic as they train.

``isnet bench learn --profile laptop`` trains each model (the profile's own configuration, so the study
reuses the runs when the iteration counts agree) and, every ``--every`` iterations, scores the
checkpoint on the profile's fixed evaluation pairs, the same pairs the classical methods are scored
on. Per hole-ratio bucket it records the mean composite PSNR and the paired difference to each
classical method with a bootstrap 95 % CI over pairs; the first iteration at which that CI lies above
0 is where a model "beats" the method. This curve sets each profile's budget (README, *Profiles*: depth before
breadth).

Resumable: the runs resume from their checkpoints, and points already in the curve file are not
recomputed. Writes ``results/<profile>/tables/learning_curve.csv`` and
``results/<profile>/figures/learning_curve.png``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import pandas as pd

from ..engine.checkpoint import list_checkpoints, load_generator
from ..engine.evaluate import evaluate
from ..engine.pretrained import export_pretrained
from ..engine.train import train
from ..io import atomic_write_text, locked
from ..method.metrics import paired_bootstrap
from ..study import PROFILES, Study
from ..study.curves import first_win_points, first_wins, vs_interval
from ..study.experiments import run_config, trained_rows
from ..study.scoring import gate_measures
from ..study.figures import save_figure
from ..study.provenance import make_portable

BASELINES = ("telea", "ns", "biharmonic")
ALL = "all"
PROFILE_RECIPE = "profile"  # the recipe label of runs trained with the profile's own config


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="laptop", choices=sorted(PROFILES))
    p.add_argument("--models", nargs="+", default=["isnet", "unet"], metavar="METHOD",
                   help="method ids of the rows the profile's study trains (Table 7's isnet, unet, isnet-base, "
                        "isnet-base-ff; isnet-eq4; isnet-b1 ...): the study's own runs, same config hashes")
    p.add_argument("--seeds", nargs="+", type=int, default=None, help="default: the profile's first seed")
    p.add_argument("--iterations", type=int, default=None, help="default: the profile's training length")
    p.add_argument("--every", type=int, default=None, help="score every N iterations (default: 10 points)")
    p.add_argument("--results-dir", default=None, help="default: the project's results/ folder")
    p.add_argument("--ship", metavar="NAME", help="export the last scored checkpoint of the first model and seed "
                                                  "as the package's shipped generator NAME (isnet.pretrained)")
    p.add_argument("--report-only", action="store_true",
                   help="train and score nothing: print, plot (and --ship) from the points already measured")
    p.add_argument("--recipe", default=None, metavar="NAME",
                   help="label of these runs' recipe in the curve (default: 'profile' without overrides, else the "
                        "overrides joined); time to signal is reported per recipe")
    p.add_argument("--pra", type=int, default=None, metavar="K",
                   help="also score PRA with kernel K at every point (its gain over the one shot, paired CI per "
                        "bucket: does PRA's penalty shrink as the one-shot model improves?)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides for every run")


def run(args: argparse.Namespace) -> int:
    study = Study(args.profile, **({"results_dir": args.results_dir} if args.results_dir else {}),
                  progress=not args.no_progress)
    study.ensure_weights()
    study.ensure_data()
    curve = LearningCurve(study, overrides=args.overrides, recipe=args.recipe, pra_kernel=args.pra)
    unknown = [m for m in args.models if m not in curve.rows]
    if unknown:
        print(f"isnet bench learn: --models {' '.join(unknown)}: not a row of the {args.profile} study; choose from "
              f"{', '.join(sorted(curve.rows))}", file=sys.stderr)
        return 2
    iterations = args.iterations or study.profile.base.train.iterations
    every = args.every or max(1, iterations // 10)
    seeds = args.seeds if args.seeds is not None else [study.profile.seeds[0]]
    for model in args.models if not args.report_only else ():
        for seed in seeds:
            curve.trace(model, seed, iterations, every)
    if curve.points.empty:
        print(f"no learning-curve points in {curve.csv_path} yet; run without --report-only", file=sys.stderr)
        return 2
    print(curve.first_wins().to_string(index=False))
    signal = curve.time_to_signal()
    print("\ntime to signal (first point whose paired 95 % CI against Telea over all test pairs is above 0):")
    print(signal.to_string(index=False))
    print(f"time to signal: {curve.signal_path}")
    print(f"curve: {curve.csv_path}\nfigure: {curve.figure()}")
    if args.ship:
        print(f"shipped: {curve.ship(args.models[0], seeds[0], args.ship)}")
    make_portable(study.dir)  # the runs' configs and summaries name the results folder: relative paths only
    return 0


def training_seconds(wall: dict[str, float], start: int, seconds: float) -> float:
    """Training seconds up to the end of a chunk that resumed from iteration ``start`` (0: a fresh start) and took
    ``seconds``: the recorded seconds up to ``start`` plus the chunk's. A fresh start counts nothing recorded before
    it (a run whose checkpoints were lost trains again from 0, and its earlier attempt's time is not this run's)."""
    if start == 0:
        return seconds
    return max((v for i, v in wall.items() if int(i) <= start), default=0.0) + seconds

class LearningCurve:
    """The curve of one profile: points (model, seed, iteration, bucket) in a CSV, a figure from it."""

    def __init__(self, study, overrides: list[str] | tuple[str, ...] = (), recipe: str | None = None,
                 pra_kernel: int | None = None):
        self.study = study
        self.pra_kernel = pra_kernel
        self.overrides = list(overrides)
        self.recipe = recipe or (" ".join(self.overrides) if self.overrides else PROFILE_RECIPE)
        self.csv_path = study.dir / "tables" / "learning_curve.csv"
        self.signal_path = study.dir / "tables" / "time_to_signal.csv"
        self.points = pd.read_csv(self.csv_path) if self.csv_path.exists() else pd.DataFrame()
        self.pairs = study.pairs_path()
        self.baselines = {m: study.evaluate_classical(m) for m in BASELINES}

    @property
    def profile(self):
        """The study's profile with this curve's overrides joined to its recipe."""
        return self.study.profile.with_recipe(self.overrides)

    @property
    def rows(self) -> dict:
        """The study's trained rows by method id (the UNet-like matched at this curve's width and B)."""
        return trained_rows(self.profile)

    def config(self, model: str, seed: int, iterations: int):
        return run_config(self.profile, self.rows[model], seed, self.study.dir / "runs",
                          **{"train.iterations": iterations})

    def _done(self, model: str, seed: int, iteration: int, config_hash: str) -> bool:
        p = self.points
        if not len(p):
            return False
        here = p[(p.model == model) & (p.seed == seed) & (p.iteration == iteration) & (p.config_hash == config_hash)]
        if self.pra_kernel is None or not len(here):
            return bool(len(here))
        return "pra_kernel" in here and bool((here.pra_kernel == self.pra_kernel).all())

    def trace(self, model: str, seed: int, iterations: int, every: int) -> None:
        """Train ``model`` to ``iterations`` in chunks of ``every``, scoring each checkpoint."""

        cfg = self.config(model, seed, iterations)
        run = Path(cfg.out.dir)
        wall_file = run / "wall_seconds.json"  # training seconds up to each scored iteration (survives resumes)
        wall = json.loads(wall_file.read_text()) if wall_file.exists() else {}
        for k in range(every, iterations + 1, every):
            if self._done(model, seed, k, cfg.config_hash()):
                continue
            ckpt = run / "checkpoints" / f"iter_{k:08d}.pt"
            done = [int(c.stem.split("_")[1]) for c in list_checkpoints(run) if c.stem.startswith("iter_")]
            if not ckpt.exists() and done and max(done) > k:
                print(f"{model} seed {seed}: iteration {k} was trained but not scored and its checkpoint is gone "
                      "(train.keep_last); skipped", flush=True)
                continue
            if not ckpt.exists():
                start = max(done, default=0)
                summary = train(cfg, resume=bool(done), stop_after=k, progress=self.study.progress)
                wall[str(k)] = training_seconds(wall, start, summary.seconds)
                atomic_write_text(wall_file, json.dumps(wall))
                if not ckpt.exists():
                    raise FileNotFoundError(f"training {run} to iteration {k} left no {ckpt.name}")
            device = self.study.device or "auto"
            scores = evaluate(str(ckpt), self.pairs, progress=False, device=device)
            pra = None if self.pra_kernel is None else evaluate(str(ckpt), self.pairs, pra=True,
                                                                 pra_kernel=self.pra_kernel, progress=False,
                                                                 device=device)
            gates = gate_measures(load_generator(ckpt), self.pairs)  # what the claims' sanity gates will read
            self._add(model, seed, k, wall.get(str(k), float("nan")), cfg.config_hash(), scores, pra, gates)

    def _add(self, model: str, seed: int, iteration: int, wall: float, config_hash: str,
             scores: pd.DataFrame, pra: pd.DataFrame | None = None, gates: dict | None = None) -> None:

        rows = []
        for bucket in [*sorted(scores.bucket.unique()), ALL]:
            ours = scores if bucket == ALL else scores[scores.bucket == bucket]
            row = {"recipe": self.recipe, "model": model, "seed": seed, "iteration": iteration, "wall_min": wall / 60,
                   "load1": round(os.getloadavg()[0], 2),
                   "config_hash": config_hash, "bucket": bucket, "n": len(ours), "psnr": ours.psnr.mean(),
                   "psnr_hole": ours.psnr_hole.mean(),
                   **({} if gates is None else {"output_spread": gates["output_spread"],
                                                "hole_checkerboard": gates["hole_checkerboard"]})}
            for name, base in self.baselines.items():
                b = base.set_index(_pair_column(base)).loc[ours[_pair_column(ours)]]
                res = paired_bootstrap(ours.psnr.to_numpy(), b.psnr.to_numpy())
                row[f"{name}_psnr"] = float(b.psnr.mean())
                row[f"vs_{name}"] = res["mean_diff"]
                row[f"vs_{name}_low"], row[f"vs_{name}_high"] = res["ci95_low"], res["ci95_high"]
            if pra is not None:  # PRA against this checkpoint's own one shot, pair by pair
                q = pra.set_index(_pair_column(pra)).loc[ours[_pair_column(ours)]]
                res = paired_bootstrap(q.psnr.to_numpy(), ours.psnr.to_numpy())
                row.update(pra_kernel=self.pra_kernel, pra_psnr=float(q.psnr.mean()),
                           pra_passes=float(q.passes.mean()), pra_vs_oneshot=res["mean_diff"],
                           pra_vs_oneshot_low=res["ci95_low"], pra_vs_oneshot_high=res["ci95_high"])
            rows.append(row)
        # Merge with what is on disk: another process may be tracing another model into the same file (or have
        # filled in a column), so the file wins over what this process read at its start; the new rows win over both.
        # The read-merge-write runs under the file's lock, so two processes scoring at once keep both their rows.
        with locked(self.csv_path.with_name(f".{self.csv_path.name}.lock")):
            on_disk = pd.read_csv(self.csv_path) if self.csv_path.exists() else pd.DataFrame()
            merged = pd.concat([self.points, on_disk, pd.DataFrame(rows)], ignore_index=True)
            self.points = merged.drop_duplicates(["model", "seed", "iteration", "config_hash", "bucket"], keep="last")
            atomic_write_text(self.csv_path, self.points.to_csv(index=False))
        best = rows[-1]
        print(f"{model} seed {seed} it {iteration}: PSNR {best['psnr']:.2f} dB, vs Telea {vs_interval(best)}"
              + ("" if gates is None else f"; in-hole checkerboard {gates['hole_checkerboard']:.2f}x the photos' own")
              + (f"; PRA k{self.pra_kernel} vs one shot {vs_interval(best, column='pra_vs_oneshot')}"
                 if pra is not None else ""), flush=True)

    def ship(self, model: str, seed: int, name: str) -> Path:
        """Export the last scored checkpoint as ``isnet.pretrained`` generator ``name``, with its scores."""

        p = self.points[(self.points.model == model) & (self.points.seed == seed)]
        if not len(p):
            raise ValueError(f"no scored checkpoint of {model} seed {seed} to ship; run the curve first")
        k = int(p.iteration.max())
        last = p[p.iteration == k]
        run = self.study.dir / "runs" / str(last.config_hash.iloc[0])  # the run that was scored (its own config)
        per_bucket = {r.bucket: {"psnr": round(r.psnr, 3), "telea_psnr": round(r.telea_psnr, 3),
                                 "vs_telea": round(r.vs_telea, 3),
                                 "vs_telea_ci95": [round(r.vs_telea_low, 3), round(r.vs_telea_high, 3)]}
                      for r in last.itertuples()}
        everything = per_bucket["all"]
        summary = (f"{model} trained {k} iterations on profile {self.study.profile.name} "
                   f"({self.study.profile.data_label}); composite PSNR {everything['psnr']:.2f} dB vs Telea "
                   f"{everything['telea_psnr']:.2f} dB on the profile's {int(last[last.bucket == ALL].n.iloc[0])} "
                   "test pairs")
        scores = {"summary": summary, "profile": self.study.profile.name, "data": self.study.profile.data_label,
                  "pairs": str(self.pairs.relative_to(self.study.dir.parent.parent))
                  if self.pairs.is_relative_to(self.study.dir.parent.parent) else str(self.pairs),
                  "scores_per_bucket": per_bucket}
        return export_pretrained(run / "checkpoints" / f"iter_{k:08d}.pt", name, scores, overwrite=True)

    def time_to_signal(self, baseline: str = "telea") -> pd.DataFrame:
        """Per recipe, model and seed: training minutes and iterations until the paired 95 % CI against
        ``baseline`` over all test pairs is above 0 (issue 18's headline figure); written to ``signal_path``."""
        table = time_to_signal(self.points, baseline)
        if len(table):
            atomic_write_text(self.signal_path, table.to_csv(index=False))
        return table

    def first_wins(self, baseline: str = "telea") -> pd.DataFrame:
        """Per model, seed and bucket: the first iteration whose paired CI against ``baseline`` is above 0."""
        return first_wins(_with_recipe(self.points), baseline, ("recipe", "model", "seed", "bucket"))

    def figure(self) -> Path:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        p = self.points
        buckets = [b for b in sorted(p.bucket.unique()) if b != ALL] + [ALL]
        fig, axes = plt.subplots(2, len(buckets), figsize=(3.4 * len(buckets), 6.4), squeeze=False)
        styles = {"telea": ":", "ns": "--", "biharmonic": "-."}
        # one colour per recipe, one line style and marker per model; a model's seeds share both (one legend entry)
        curves = _with_recipe(p)
        recipes = list(dict.fromkeys(curves.recipe))
        colours = dict(zip(recipes, plt.get_cmap("tab20" if len(recipes) > 10 else "tab10").colors))
        looks = dict(zip(dict.fromkeys(curves.model), [("-", "o"), ("--", "s"), ("-.", "^"), (":", "D"),
                                                       ((0, (5, 1)), "v"), ((0, (1, 1)), "P"), ("-", "x")] * 4))
        seeds = curves.groupby(["recipe", "model"]).seed.unique()
        for j, bucket in enumerate(buckets):
            q = p[p.bucket == bucket]
            for i, x in enumerate(("iteration", "wall_min")):
                ax = axes[i, j]
                for (recipe, model, seed), g in _with_recipe(q).groupby(["recipe", "model", "seed"]):
                    g = g.sort_values("iteration")
                    ss = sorted(seeds[(recipe, model)])
                    label = f"{model} s{','.join(map(str, ss))}" + ("" if recipe == PROFILE_RECIPE else
                                                                      f" · {recipe[:48]}")
                    ls, marker = looks[model]
                    ax.plot(g[x], g.psnr, ls=ls, marker=marker, ms=3, color=colours[recipe],
                            label=label if seed == ss[0] else None)
                for name, ls in styles.items():
                    if f"{name}_psnr" in q and len(q):
                        ax.axhline(q[f"{name}_psnr"].iloc[0], color="grey", ls=ls, lw=1, label=name)
                ax.set_xlabel("iteration" if x == "iteration" else "training wall time (min)")
                ax.set_ylabel("composite PSNR (dB)")
                ax.grid(alpha=0.3)
                if i == 0:
                    ax.set_title(f"holes {bucket}" if bucket != ALL else "all pairs")
        # one legend for every panel, below them (inside a panel it hides the curves once recipes are compared)
        handles, labels = axes[0, 0].get_legend_handles_labels()
        rows = -(-len(labels) // 3)
        height = 6.4 + 0.2 * rows
        fig.set_size_inches(3.4 * len(buckets), height)
        fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=7, frameon=False)
        fig.suptitle(f"Learning curve, profile {self.study.profile.name} "
                     f"({self.study.profile.data_label}); classical methods on the same pairs")
        fig.tight_layout(rect=(0, 0.2 * rows / height + 0.01, 1, 1))
        out = self.study.dir / "figures" / "learning_curve.png"
        save_figure(fig, out, overwrite=True, dpi=110, tight=False)
        plt.close(fig)
        return out


def _with_recipe(points: pd.DataFrame) -> pd.DataFrame:
    """Curves written before recipes were labelled are the profile's own recipe."""
    p = points.copy()
    p["recipe"] = p["recipe"].fillna(PROFILE_RECIPE) if "recipe" in p else PROFILE_RECIPE
    return p


def time_to_signal(points: pd.DataFrame, baseline: str = "telea") -> pd.DataFrame:
    """The first scored point of each (recipe, model, seed) whose CI over all pairs against ``baseline`` is above
    0: its iteration and training minutes (``wall_min``: training only, summed over every session of the run),
    with the machine's load average when it was scored (idle 2-core machine: below ~0.5 before the run), and the
    last point's in-hole checkerboard ratio (NaN for points scored before the curve measured it)."""
    if not len(points):
        return pd.DataFrame()
    p = _with_recipe(points)
    out = pd.DataFrame([{**key, "config_hash": last.config_hash,
                         "signal_iteration": int(first.iteration) if first is not None else None,
                         "signal_minutes": round(float(first.wall_min), 1) if first is not None else None,
                         "last_iteration": int(last.iteration), "last_minutes": round(float(last.wall_min), 1),
                         f"last_vs_{baseline}": vs_interval(last, baseline),
                         # the sanity gate a verdict needs (isnet.method.checkerboard: > 1.5 fails)
                         "last_hole_checkerboard": round(float(getattr(last, "hole_checkerboard", float("nan"))), 2)}
                        for key, first, last in first_win_points(p[p.bucket == ALL], baseline,
                                                                 ("recipe", "model", "seed"))])
    return out.astype({"signal_iteration": "Int64"})


def _pair_column(df: pd.DataFrame) -> str:
    """``evaluate`` names the pair id ``pair``; the study's cached tables ``pair_id``."""
    return "pair_id" if "pair_id" in df.columns else "pair"
