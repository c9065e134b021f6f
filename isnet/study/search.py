"""The Optuna search over the five loss weights (paper §III-C and Table 1).

The authors' ``tune_parameters.py`` drew every weight log-uniformly from [0.1, 300] and trained 50 models
for 10 epochs × 3,200 steps at batch 16 (docs/authors-code.md §13); the paper reports ten of them as Table 1.
This module runs the same search space with a choice of sampler ("random", as the authors did, or "tpe"), median
pruning on the validation PSNR reported during training, and a storage several workers can share:

- ``sqlite:///results/<profile>/optuna.db`` (the default) or any SQLAlchemy URL such as
  ``postgresql://user@host:5432/db``: an RDB storage with heartbeats, so a worker that is killed leaves a
  trial that another worker marks FAIL after ``grace_period`` seconds and runs again
  (``RetryHeartbeatStaleTrialCallback``; the retry keeps the killed trial's weights and run folder, and
  training resumes from that folder's last checkpoint);
- ``journal:///path/to/file.log``: Optuna's journal file storage, the easy choice for several processes
  on one machine or a shared file system. Optuna (5.0 here) has **no heartbeat for journal storage**, so
  a killed worker's trial stays RUNNING until someone runs ``isnet search ... --requeue-running`` (only
  when no worker is alive) or ``requeue_running_trials(study)``.

``n_trials`` is the study's total, shared by every worker: each worker keeps going until COMPLETE +
PRUNED trials reach it, and a trial only starts if fewer than ``n_trials`` live trials precede it, so
neither a race between workers nor a retry ever runs more than ``n_trials`` (see ``_budget_check``).
Trial ``k``'s sampler is seeded with ``(seed, k)``, so parallel workers do not draw the same weights and a
one-worker search is reproducible.

>>> study = run_search("loss-weights", "journal:///tmp/search.log", 20, TEST)  # doctest: +SKIP
>>> table1(study)                                                                              # doctest: +SKIP

Why this file is long: one Optuna search with its exact budget across workers, heartbeat retries,
re-queueing of interrupted trials, pruning and its Table 1 and figures; the budget, retry and resume rules
interact and are read together.
"""
from __future__ import annotations

import inspect
import math
import os
import socket
import threading
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import optuna
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

from ..engine.config import Config
from ..engine.train import train
from ..io import refuse_overwrite
from .figures import save_figure

# ----------------------------------------------------------------------------------------- search space
LOW, HIGH = 0.1, 300.0  # tune_parameters.py: every weight log-uniform in [0.1, 300]

# Paper Table 1's column order → (field of isnet.losses.LossWeights, the column's label in the paper).
SEARCHED_WEIGHTS: dict[str, str] = {
    "l1": "L_l1",
    "adversarial": "L_D",
    "style": "L_style",
    "perceptual": "L_perc",
    "feature_matching": "L_FM",
}


def search_space(trial: optuna.Trial, low: float = LOW, high: float = HIGH) -> dict[str, float]:
    """The five loss weights, each log-uniform in [low, high]; param names are ``LossWeights`` fields."""
    return {name: trial.suggest_float(name, low, high, log=True) for name in SEARCHED_WEIGHTS}


def config_for_weights(base: Config, weights: Mapping[str, float], run_dir: str | None = None) -> Config:
    """``base`` with the searched weights as ``loss.weights.<term>`` overrides (and a run folder)."""
    cfg = base.with_overrides({f"loss.weights.{k}": float(v) for k, v in weights.items()})
    if run_dir is not None:
        cfg = replace(cfg, out=replace(cfg.out, dir=str(run_dir)))
    return cfg


# ----------------------------------------------------------------------------------------- samplers and pruners
def _trial_seed(seed: int, number: int) -> int:
    import numpy as np

    return int(np.random.SeedSequence([int(seed), int(number)]).generate_state(1)[0])


def _tpe(seed: int) -> BaseSampler:
    with warnings.catch_warnings():  # multivariate / constant_liar are flagged experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # constant_liar: a parallel worker treats running trials as bad, so workers spread out.
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)


SAMPLERS: dict[str, Callable[[int], BaseSampler]] = {
    "tpe": _tpe,
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
}


class PerTrialSeedSampler(BaseSampler):
    """Delegate each trial to a fresh sampler seeded with ``(seed, trial.number)``.

    Why: two workers built with the same seed would otherwise draw the same weights (their random
    streams are identical), and a worker-specific seed would make results depend on which worker ran
    which trial. The seed's second part is the trial's *draw slot* (``draw_slot``), not its number: a retry of
    a killed trial takes a number but draws nothing, so the trials after it draw what they would have drawn in
    an uninterrupted search. TPE and random sampling keep no state beyond their random stream (TPE re-reads the
    study's history every time), so a per-trial instance loses nothing.
    """

    def __init__(self, make: Callable[[int], BaseSampler], seed: int = 0) -> None:
        self._make, self._seed = make, int(seed)
        self._by_number: dict[int, BaseSampler] = {}
        self._lock = threading.Lock()

    def _for(self, study, trial: FrozenTrial) -> BaseSampler:
        with self._lock:
            sampler = self._by_number.get(trial.number)
        if sampler is None:
            made = self._make(_trial_seed(self._seed, draw_slot(study, trial)))
            with self._lock:
                sampler = self._by_number.setdefault(trial.number, made)
        return sampler

    def infer_relative_search_space(self, study, trial):
        return self._for(study, trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._for(study, trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._for(study, trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study, trial) -> None:
        self._for(study, trial).before_trial(study, trial)

    def after_trial(self, study, trial, state, values) -> None:
        self._for(study, trial).after_trial(study, trial, state, values)
        with self._lock:
            self._by_number.pop(trial.number, None)

    def reseed_rng(self) -> None:  # Optuna calls this for n_jobs > 1 in its own loop; our seeds are per trial
        pass


def draw_slot(study, trial: FrozenTrial) -> int:
    """How many trials before ``trial`` drew their own weights: not retries (which reuse the weights of the
    trial they replace) and not trials refused by the budget. Equals ``trial.number`` in a search that was
    never interrupted."""
    return sum(1 for t in study.get_trials(deepcopy=False) if t.number < trial.number
               and "failed_trial" not in t.system_attrs and not t.user_attrs.get("over_budget"))


def build_sampler(name: str = "tpe", seed: int = 0) -> BaseSampler:
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; choose one of {sorted(SAMPLERS)}")
    return PerTrialSeedSampler(SAMPLERS[name], seed)


def build_pruner(name: str = "median", iterations: int = 1000, warmup: float = 0.25,
                 n_startup_trials: int = 5) -> optuna.pruners.BasePruner:
    """Median pruning on validation PSNR, off during the first ``warmup`` fraction of training.

    Early GAN validation PSNR is noisy and says little about the end (docs/authors-code.md §13: the authors trained each
    candidate 32,000 steps), hence no pruning before ``warmup·iterations`` and before ``n_startup_trials``
    trials have completed.
    """
    if not 0 <= warmup < 1:
        raise ValueError(f"warmup={warmup!r} must be a fraction of train.iterations in [0, 1)")
    pruners: dict[str, Callable[[], optuna.pruners.BasePruner]] = {
        "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=n_startup_trials,
                                                      n_warmup_steps=int(warmup * iterations)),
        "none": optuna.pruners.NopPruner,
    }
    if name not in pruners:
        raise ValueError(f"unknown pruner {name!r}; choose one of {sorted(pruners)}")
    return pruners[name]()


# ----------------------------------------------------------------------------------------- storage
def _retry_callback(max_retry: int | None):
    cls = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) or optuna.storages.RetryFailedTrialCallback
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", FutureWarning)
        return cls(max_retry=max_retry)


def retried_from(trial: FrozenTrial | optuna.Trial) -> int | None:
    """The number of the trial this one retries (the first of a chain), or None."""
    return _system_attrs(trial).get("failed_trial")


def _system_attrs(trial: FrozenTrial | optuna.Trial) -> dict[str, Any]:
    """A live ``Trial`` has no public ``system_attrs`` in Optuna ≥ 4: read the stored trial."""
    if isinstance(trial, FrozenTrial):
        return trial.system_attrs
    return _frozen(trial).system_attrs


def _open_rdb(url: str, heartbeat_interval: int | None, grace_period: int | None,
              max_retry: int | None) -> optuna.storages.BaseStorage:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.drivername == "postgresql":  # bare URL: whichever driver is installed (SQLAlchemy 2.1 assumes psycopg 3)
        parsed = parsed.set(drivername=f"postgresql+{_pg_driver()}")
        url = parsed.render_as_string(hide_password=False)
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs = {"connect_args": {"timeout": 60}}  # several workers wait for the file lock
    kwargs: dict[str, Any] = {"engine_kwargs": engine_kwargs}
    if heartbeat_interval:
        params = inspect.signature(optuna.storages.RDBStorage).parameters
        cb_name = "heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in params \
            else "failed_trial_callback"
        kwargs.update(heartbeat_interval=int(heartbeat_interval), grace_period=grace_period,
                      **{cb_name: _retry_callback(max_retry)})
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    try:
        for attempt in range(6):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    return optuna.storages.RDBStorage(url, **kwargs)
            except (IntegrityError, ProgrammingError):
                # Workers starting together on an empty PostgreSQL database race in SQLAlchemy's
                # check-then-CREATE of Optuna's tables and enum types; the loser's transaction is rolled
                # back, and by the next attempt the schema exists.
                if attempt == 5:
                    raise
                time.sleep(0.2 * (attempt + 1))
    except ModuleNotFoundError as e:
        raise ModuleNotFoundError(
            f"storage {parsed.render_as_string(hide_password=True)} needs the database driver {e.name!r}; "
            "for PostgreSQL: pip install 'psycopg[binary]'") from e


def _pg_driver() -> str:
    import importlib.util

    for module, dialect in (("psycopg", "psycopg"), ("psycopg2", "psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return dialect
    raise ModuleNotFoundError("PostgreSQL storage needs a driver: pip install 'psycopg[binary]' (or psycopg2-binary)",
                              name="psycopg")


def _open_journal(url: str, *_: Any) -> optuna.storages.BaseStorage:
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    path = url[len("journal://"):]
    if not path or path.endswith("/"):
        raise ValueError(f"storage {url!r}: give a file, e.g. journal:///abs/path/optuna.log or "
                         "journal://relative/optuna.log")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(path))


STORAGES: dict[str, Callable[..., optuna.storages.BaseStorage]] = {
    "sqlite": _open_rdb,
    "postgresql": _open_rdb,
    "mysql": _open_rdb,
    "journal": _open_journal,
}


def open_storage(url: str | optuna.storages.BaseStorage | None, *, heartbeat_interval: int | None = 60,
                 grace_period: int | None = None, max_retry: int | None = 3) -> optuna.storages.BaseStorage:
    """An Optuna storage from a URL: ``sqlite:///…``, ``postgresql[+driver]://…``, ``journal:///file.log``.

    RDB storages get heartbeats every ``heartbeat_interval`` s; a RUNNING trial silent for ``grace_period``
    s (default 2 × interval) is marked FAIL and re-queued up to ``max_retry`` times. ``None`` = in memory.
    """
    if url is None:
        return optuna.storages.InMemoryStorage()
    if isinstance(url, optuna.storages.BaseStorage):
        return url
    scheme = str(url).split(":", 1)[0].split("+", 1)[0].lower()
    if scheme not in STORAGES:
        raise ValueError(f"storage URL {url!r} not understood; use one of "
                         + ", ".join(f"{s}://…" for s in STORAGES) + " (e.g. sqlite:///results/smoke/optuna.db)")
    return STORAGES[scheme](str(url), heartbeat_interval, grace_period, max_retry)


def default_storage(profile: str) -> str:
    return f"sqlite:///results/{profile}/optuna.db"


def has_heartbeat(storage: optuna.storages.BaseStorage) -> bool:
    """Whether the storage records heartbeats (Optuna's RDB storages with an interval; journal has none)."""
    return getattr(storage, "get_heartbeat_interval", lambda: None)() is not None


def requeue_running_trials(study: optuna.Study, max_retry: int | None = 3) -> list[int]:
    """Mark every RUNNING trial FAIL and queue a retry of it; for storages without heartbeats (journal).

    Only safe when no worker is alive: a live worker's trial would be run twice. Returns the numbers.
    """
    callback, done = _retry_callback(max_retry), []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        failed = study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
        if failed.state == TrialState.FAIL:
            callback(study, failed)
            done.append(t.number)
    return done


DEAD_WORKER_GRACE_S = 10.0  # a trial this young may not have recorded its worker yet (a popped retry): left alone


def _worker_dead(worker: str | None) -> bool:
    """Whether a trial's ``worker`` attribute (``host:pid``) names a process on this host that is gone."""
    if not worker or ":" not in worker:
        return False
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False  # this process: its own threads' trials are alive
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # killed but not yet reaped by its parent
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def retry_dead_workers_trials(study: optuna.Study, max_retry: int | None = 3) -> list[int]:
    """Fail and re-queue (same weights, same run folder: training resumes from its last checkpoint) every RUNNING
    trial whose worker process is dead on this host (SIGKILL, a full disk, a crashed kernel). Safe with live
    workers: only trials of dead processes are touched. Other hosts' dead workers are found by the heartbeat
    (RDB storages) or ``requeue_running_trials`` (journal). Returns the trial numbers."""
    import datetime

    callback, done = _retry_callback(max_retry), []
    now = datetime.datetime.now()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        young = t.datetime_start is not None and (now - t.datetime_start).total_seconds() < DEAD_WORKER_GRACE_S
        if young or not _worker_dead(t.user_attrs.get("worker")):
            continue
        with warnings.catch_warnings():  # "Heartbeat of storage is supposed to be used with Study.optimize"
            warnings.simplefilter("ignore", UserWarning)
            failed = study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
        if failed.state == TrialState.FAIL:
            frozen = next(x for x in study.get_trials(deepcopy=True) if x.number == t.number)
            frozen.user_attrs = {k: v for k, v in frozen.user_attrs.items() if k != "worker"}  # the retry's own
            callback(study, frozen)
            done.append(t.number)
    return done


def load_search(study_name: str, storage: str | optuna.storages.BaseStorage) -> optuna.Study:
    """An existing study, for tables and figures (no heartbeat: reading never fails anyone's trial)."""
    return optuna.load_study(study_name=study_name, storage=open_storage(storage, heartbeat_interval=None))


# ----------------------------------------------------------------------------------------- objective
class _OverBudget(Exception):
    """This trial would exceed the study's ``n_trials``; it ends FAIL without training."""


LIVE = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)


def _budget_check(trial: optuna.Trial, n_trials: int) -> None:
    """Refuse a trial that has ``n_trials`` live (not FAIL) trials before it.

    Trial numbers follow creation order and FAIL is final, so the ``n_trials``-th good trial by number saw
    at most ``n_trials − 1`` live predecessors: the total of COMPLETE + PRUNED can never exceed
    ``n_trials``, whatever the workers' timing. A retry does not count the trial(s) it replaces. Refused
    trials (a rare race at the very end) are FAIL with the user attribute ``over_budget`` and no params.
    """
    replaced = set(_system_attrs(trial).get("retry_history", []))
    before = sum(1 for t in trial.study.get_trials(deepcopy=False, states=LIVE)
                 if t.number < trial.number and t.number not in replaced)
    if before >= n_trials:
        trial.set_user_attr("over_budget", True)
        raise _OverBudget(f"trial {trial.number}: the study already has {n_trials} trials")


def _metric(source: Mapping[str, Any] | Any, name: str) -> float:
    """``name`` from validation metrics (a dict) or a train summary (its ``val`` dict, attribute or key)."""
    if not isinstance(source, Mapping):
        source = {"val": getattr(source, "val", None)}
    value = source.get(name)
    if value is None and isinstance(source.get("val"), Mapping):
        value = source["val"].get(name)
    return float("nan") if value is None else float(value)


def _field(summary: Any, name: str) -> Any:
    return summary.get(name) if isinstance(summary, Mapping) else getattr(summary, name, None)


def _frozen(trial: optuna.Trial) -> FrozenTrial:
    return next(t for t in trial.study.get_trials(deepcopy=True) if t.number == trial.number)


class SearchInterrupted(Exception):
    """Training was stopped by a signal; the trial is re-queued and this worker stops."""


def _default_train_fn() -> Callable:
    return train


@dataclass
class Objective:
    """Train one weight combination and return its final validation PSNR (higher is better).

    ``train_fn(config, resume=..., on_validation=cb, progress=...)`` is ``isnet.train.train`` by default (any
    ``train_fn`` takes those keywords);
    ``cb(iteration, metrics)`` reports ``metrics["psnr"]`` to Optuna and raises ``optuna.TrialPruned``
    when the median pruner says so. Each trial trains in ``runs_dir/trial-NNNN``; a retried trial
    (heartbeat) reuses the killed trial's folder with ``resume=True``.
    """

    base: Config
    runs_dir: str | None = None
    train_fn: Callable[..., Any] | None = None
    train_progress: bool = False
    _warned: bool = field(default=False, repr=False)

    def __call__(self, trial: optuna.Trial) -> float:
        weights = search_space(trial)
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        origin = retried_from(trial)  # a retry trains on in the folder of the trial it replaces
        resume = origin is not None
        run_dir = trial.user_attrs.get("run_dir")
        if run_dir is None:
            parent = self.runs_dir or Path(self.base.out.dir or "runs") / f"search-{trial.study.study_name}"
            run_dir = str(Path(parent) / f"trial-{trial.number if origin is None else origin:04d}")
        cfg = config_for_weights(self.base, weights, run_dir)
        trial.set_user_attr("run_dir", run_dir)

        last: dict[str, float] = {}

        def on_validation(iteration: int, metrics: Mapping[str, Any]) -> None:
            psnr, mae = _metric(metrics, "psnr"), _metric(metrics, "mae")
            last.update(psnr=psnr, mae=mae, iteration=iteration)
            trial.set_user_attr("psnr", psnr)
            trial.set_user_attr("mae", mae)
            trial.set_user_attr("iteration", int(iteration))
            if math.isfinite(psnr):
                trial.report(psnr, int(iteration))
                if trial.should_prune():
                    raise optuna.TrialPruned(f"validation PSNR {psnr:.2f} at iteration {iteration} "
                                             "is below the median of earlier trials")

        fn = self.train_fn or _default_train_fn()
        summary = fn(cfg, resume=resume, on_validation=on_validation, progress=self.train_progress)
        if _field(summary, "stopped_early"):  # SIGINT/SIGTERM: train saved a checkpoint and returned
            _retry_callback(None)(trial.study, _frozen(trial))  # a WAITING copy resumes from run_dir
            raise SearchInterrupted(f"trial {trial.number} was interrupted at iteration "
                                    f"{_field(summary, 'iteration')}; it is queued to resume from {run_dir}")
        if not last and not self._warned:
            self._warned = True
            warnings.warn(f"{getattr(fn, '__name__', fn)!s} made no on_validation hook call: no pruning, the "
                          "objective is the PSNR in the returned summary", RuntimeWarning, stacklevel=2)

        psnr, mae = _metric(summary, "psnr"), _metric(summary, "mae")
        if not math.isfinite(psnr):  # no validation in the summary: the last one reported
            psnr, mae = last.get("psnr", float("nan")), last.get("mae", float("nan"))
        trial.set_user_attr("psnr", psnr)
        trial.set_user_attr("mae", mae)
        return psnr  # NaN → Optuna marks the trial FAIL (and the search goes on)


# ----------------------------------------------------------------------------------------- run_search
def _counts(study: optuna.Study) -> Counter:
    return Counter(t.state for t in study.get_trials(deepcopy=False))


def _real_failures(study: optuna.Study) -> int:
    """FAIL trials that were neither refused by the budget nor replaced by a retry."""
    trials = study.get_trials(deepcopy=False)
    replaced = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    return sum(1 for t in trials if t.state == TrialState.FAIL and not t.user_attrs.get("over_budget")
               and t.number not in replaced)


def _check_base(study: optuna.Study, base: Config) -> None:
    """One study, one base config: refuse to mix trials trained under different settings."""
    stored = study.user_attrs.get("base_config")
    if stored is None:
        study.set_user_attr("base_config", base.flat())
        return
    ignore = ["loss.weights"] + [f"{s}.{k}" for s, k in (("out", "dir"), ("out", "name"), ("train", "device"),
                                                          ("data", "workers"), ("train", "log_every"))]
    diff = base.differences(stored, ignore=ignore)
    if diff:
        shown = "; ".join(f"{k}: study has {b!r}, given {a!r}" for k, a, b in diff[:5])
        raise ValueError(f"study {study.study_name!r} was run with another base config ({shown}); "
                         "use a new --study-name or the same config")


def create_search(study_name: str, storage: str | optuna.storages.BaseStorage | None, sampler: str = "tpe",
                  seed: int = 0, pruner: optuna.pruners.BasePruner | None = None,
                  **storage_kwargs: Any) -> optuna.Study:
    """Create or load (``load_if_exists``) the maximise-PSNR study with a per-trial seeded sampler."""
    return optuna.create_study(study_name=study_name, storage=open_storage(storage, **storage_kwargs),
                               sampler=build_sampler(sampler, seed), pruner=pruner or optuna.pruners.NopPruner(),
                               direction="maximize", load_if_exists=True)


def run_search(study_name: str, storage: str | optuna.storages.BaseStorage | None, n_trials: int,
               objective_config: Config | Mapping[str, Any], sampler: str = "tpe", seed: int = 0,
               n_jobs: int = 1, *, objective: Callable[[optuna.Trial], float] | None = None,
               train_fn: Callable[..., Any] | None = None, runs_dir: str | None = None,
               pruner: str = "median", warmup: float = 0.25, n_startup_trials: int = 5,
               heartbeat_interval: int | None = 60, grace_period: int | None = None, max_retry: int | None = 3,
               poll_interval: float | None = None, catch: tuple[type[Exception], ...] = (FloatingPointError,),
               max_failures: int | None = None, progress: bool = True) -> optuna.Study:
    """Work on the study until it holds ``n_trials`` COMPLETE + PRUNED trials; returns the study.

    Any number of processes may call this on one storage (each with ``n_jobs`` threads); together they
    finish exactly ``n_trials`` trials. With heartbeats (RDB storages) a worker that runs out of new
    trials stays to take over a dead worker's trial, until every trial has finished. ``objective``
    replaces the training objective (tests, other searches); otherwise ``Objective(objective_config,
    runs_dir, train_fn)``. ``catch``: exceptions that fail one trial without stopping the worker (a
    diverging GAN raises ``FloatingPointError``); after ``max_failures`` (default ``n_trials``) failed
    trials the worker stops with a RuntimeError rather than sampling forever.
    """
    if n_trials < 1:
        raise ValueError(f"n_trials={n_trials!r} must be at least 1 (the study's total over all workers)")
    if n_jobs < 1:
        raise ValueError(f"n_jobs={n_jobs!r} must be at least 1")
    base = objective_config if isinstance(objective_config, Config) else Config.from_dict(objective_config)
    opened = open_storage(storage, heartbeat_interval=heartbeat_interval, grace_period=grace_period,
                          max_retry=max_retry)
    study = create_search(study_name, opened, sampler, seed,
                          build_pruner(pruner, base.train.iterations, warmup, n_startup_trials))
    _check_base(study, base)
    for key, value in {"n_trials": int(n_trials), "sampler": sampler, "seed": int(seed)}.items():
        if study.user_attrs.get(key, value) != value:
            warnings.warn(f"study {study_name!r} was run with {key}={study.user_attrs[key]!r}, now {value!r} "
                          "(every worker should use the same)", RuntimeWarning, stacklevel=2)
        study.set_user_attr(key, value)

    inner = objective or Objective(base, runs_dir=runs_dir, train_fn=train_fn)

    def budgeted(trial: optuna.Trial) -> float:
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")  # a dead worker's trial is retried
        _budget_check(trial, n_trials)
        return inner(trial)

    from tqdm.auto import tqdm

    heartbeat = has_heartbeat(opened)
    max_failures = n_trials if max_failures is None else max_failures
    poll = poll_interval if poll_interval is not None else (min(5.0, float(heartbeat_interval)) if heartbeat else 1.0)
    bar = tqdm(total=n_trials, desc=f"search {study_name}", unit="trial", disable=not progress, dynamic_ncols=True)
    lock = threading.Lock()

    def worker() -> None:
        while True:
            retry_dead_workers_trials(study, max_retry)
            if heartbeat:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    optuna.storages.fail_stale_trials(study)
            c = _counts(study)
            done = c[TrialState.COMPLETE] + c[TrialState.PRUNED]
            with lock:
                bar.n = min(done, n_trials)
                bar.refresh()
            if done >= n_trials:
                return
            failed = _real_failures(study)
            if failed >= max_failures:
                raise RuntimeError(f"study {study_name!r}: {failed} trials failed (limit max_failures="
                                   f"{max_failures}); each trial's error is in its warning (on the terminal, or in the executed "
                                   "notebook's output under isnet study): fix the cause and run again")
            claimed = done + c[TrialState.RUNNING] + c[TrialState.WAITING]
            if claimed >= n_trials and not c[TrialState.WAITING]:
                if not (heartbeat and c[TrialState.RUNNING]):
                    return  # the rest is running elsewhere, and nothing here could take it over
                time.sleep(poll)  # stay to take over a trial whose worker dies
                continue
            study.optimize(budgeted, n_trials=1, catch=(_OverBudget, *catch), gc_after_trial=True,
                           show_progress_bar=False)

    errors: list[BaseException] = []

    def guarded() -> None:
        try:
            worker()
        except BaseException as e:  # handed to the main thread below
            errors.append(e)

    try:
        threads = [threading.Thread(target=guarded, name=f"search-{i}") for i in range(n_jobs - 1)]
        for t in threads:
            t.start()
        worker()
        for t in threads:
            t.join()
    finally:
        bar.close()
    if errors:
        raise errors[0]
    return study


# ----------------------------------------------------------------------------------------- outputs
def table1(study: optuna.Study, top: int = 10, states: Iterable[TrialState] = (TrialState.COMPLETE,
                                                                                  TrialState.PRUNED)):
    """Paper Table 1's columns (five weights, PSNR, MAE %) for the ``top`` trials, best PSNR first.

    ``trial`` counts the weight draws (``draw_slot``): a retry of a killed trial shows the killed trial's draw and
    the trials after it their own, so a resumed search's table reads as an uninterrupted one's (where ``trial``
    is the Optuna trial number); ``number`` is the Optuna number, ``retry_of`` the trial a retry replaces.

    Pruned trials show the last validation PSNR/MAE they reached and sort after completed ones.
    """
    import pandas as pd

    wanted = tuple(states)
    trials = study.get_trials(deepcopy=False)
    slot, drawn = {}, 0
    for t in sorted(trials, key=lambda t: t.number):  # the draw slot of each trial (a retry: its origin's)
        if "failed_trial" not in t.system_attrs and not t.user_attrs.get("over_budget"):
            slot[t.number], drawn = drawn, drawn + 1
    rows = []
    for t in trials:
        if t.state not in wanted:
            continue
        row = {label: t.params.get(name, float("nan")) for name, label in SEARCHED_WEIGHTS.items()}
        psnr = t.value if t.value is not None else t.user_attrs.get("psnr", float("nan"))
        origin = retried_from(t)  # a retry stands for the trial it replaces: same weights, same run folder
        row.update(PSNR=psnr, MAE=t.user_attrs.get("mae", float("nan")), state=t.state.name,
                   trial=slot.get(t.number if origin is None else origin, t.number),
                   iteration=t.user_attrs.get("iteration"), retry_of=origin, number=t.number)
        rows.append(row)
    columns = [*SEARCHED_WEIGHTS.values(), "PSNR", "MAE", "state", "trial", "iteration", "retry_of", "number"]
    df = pd.DataFrame(rows, columns=columns)
    if df.empty:
        return df
    df["_complete"] = df["state"] == TrialState.COMPLETE.name
    df = df.sort_values(["_complete", "PSNR"], ascending=[False, False], na_position="last").drop(columns="_complete")
    return df.head(top).reset_index(drop=True)


def _figure(plot: Callable[..., Any], study: optuna.Study, **kwargs: Any):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        axes = plot(study, **kwargs)
    first = axes.flat[0] if hasattr(axes, "flat") else axes
    return first.figure  # Optuna lays the figure out (tight_layout would push the slice plot's colour bar
                         # onto the last panel); save_figures crops with bbox_inches="tight"


def plot_history(study: optuna.Study):
    from optuna.visualization.matplotlib import plot_optimization_history

    return _figure(plot_optimization_history, study, target_name="validation PSNR (dB)")


def plot_importances(study: optuna.Study):
    """fANOVA importances of the five weights for PSNR; needs at least two completed trials."""
    from optuna.visualization.matplotlib import plot_param_importances

    n = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    if n < 2:
        raise ValueError(f"parameter importances need at least 2 completed trials; study {study.study_name!r} "
                         f"has {n}")
    return _figure(plot_param_importances, study, target_name="validation PSNR")


def plot_slices(study: optuna.Study):
    from optuna.visualization.matplotlib import plot_slice

    return _figure(plot_slice, study, params=list(SEARCHED_WEIGHTS), target_name="validation PSNR (dB)")


def plot_intermediate(study: optuna.Study):
    """Validation PSNR curves as reported during training (shows where pruning cut trials)."""
    from optuna.visualization.matplotlib import plot_intermediate_values

    return _figure(plot_intermediate_values, study)


FIGURES: dict[str, Callable[[optuna.Study], Any]] = {
    "history": plot_history,
    "importances": plot_importances,
    "slices": plot_slices,
    "intermediate": plot_intermediate,
}


def search_figures(study: optuna.Study) -> dict[str, Any]:
    """Every figure the study can support so far (importances need two completed trials)."""
    figs = {}
    for name, make in FIGURES.items():
        try:
            figs[name] = make(study)
        except ValueError as e:
            warnings.warn(f"skipping the {name} figure: {e}", RuntimeWarning, stacklevel=2)
    return figs


def save_figures(figs: Mapping[str, Any], out_dir: str | os.PathLike, prefix: str = "search_",
                 overwrite: bool = False, dpi: int = 120) -> list[Path]:
    """Write each figure as ``out_dir/<prefix><name>.png`` (atomically; existing files need overwrite)."""
    paths = [Path(out_dir) / f"{prefix}{name}.png" for name in figs]
    for path in paths:  # refuse before writing any
        refuse_overwrite(path, overwrite, what="figure")
    return [save_figure(fig, path, overwrite=True, dpi=dpi) for path, fig in zip(paths, figs.values())]
