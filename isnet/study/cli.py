"""The study's commands: ``isnet search`` (Optuna over the loss weights) and ``isnet study`` (the notebooks)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from optuna.trial import TrialState

from ..engine.config import Config, load_config
from . import RESULTS_ENV, NotebookFailed, run_study
from .profiles import PROFILES, base_config, base_configs
from .search import (
    SAMPLERS,
    _counts,
    default_storage,
    load_search,
    requeue_running_trials,
    run_search,
    save_figures,
    search_figures,
    table1,
)


def add_cli(sub) -> None:
    """Register ``search`` and ``study``."""
    _add_search(sub)
    _add_study(sub)


# ----------------------------------------------------------------------------------------- search
def _base_from_args(args: argparse.Namespace) -> tuple[Config, str]:
    """``(config, profile name)``: a profile or a YAML file as the base, then ``key=value`` overrides."""
    if args.profile:
        base, profile = base_config(args.profile), args.profile
    else:
        base, profile = load_config(args.config), Path(args.config).stem
    return base.with_overrides(args.overrides), profile


INCOMPLETE_EXIT = 3  # the worker ended while trials of the study are unfinished (2 = bad input, 1 = a crash)


def _cmd_search(args: argparse.Namespace) -> int:
    try:
        base, profile = _base_from_args(args)
        storage = args.storage or default_storage(profile)
        study_name = args.study_name
        if args.requeue_running:
            try:
                requeued = requeue_running_trials(load_search(study_name, storage), args.max_retry)
            except KeyError:  # no such study yet: nothing to re-queue
                requeued = []
            print(f"re-queued running trials {requeued} of {study_name!r}")
        study = run_search(study_name, storage, args.n_trials, base, sampler=args.sampler, seed=args.seed,
                           n_jobs=args.n_jobs, runs_dir=args.runs_dir or f"results/{profile}/search/{study_name}",
                           pruner=args.pruner, warmup=args.warmup, heartbeat_interval=args.heartbeat_interval or None,
                           grace_period=args.grace_period, max_retry=args.max_retry, progress=not args.no_progress)
        df = table1(study, top=args.top)
        print(df.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        c = _counts(study)
        print(f"study {study_name!r} in {storage}: " + ", ".join(f"{s.name} {n}" for s, n in sorted(c.items())))
        if args.figures:
            import matplotlib

            matplotlib.use("Agg")
            for path in save_figures(search_figures(study), args.figures, overwrite=args.overwrite):
                print(f"wrote {path}")
    except (ValueError, KeyError, FileNotFoundError, FileExistsError, ModuleNotFoundError) as e:
        print(f"isnet search: {e}", file=sys.stderr)
        return 2
    done = c[TrialState.COMPLETE] + c[TrialState.PRUNED]
    if done < args.n_trials:  # exit 3 (not 0) so that scripts notice: the study is incomplete
        print(f"isnet search: incomplete: {args.n_trials - done} of {args.n_trials} trial(s) unfinished "
              f"({c[TrialState.RUNNING]} RUNNING): still running in another worker, or left RUNNING by a dead one "
              "(journal storage: once no worker is alive, rerun with --requeue-running)", file=sys.stderr)
        return INCOMPLETE_EXIT
    return 0


def _add_search(sub) -> None:
    p = sub.add_parser(
        "search", help="Optuna search over the five loss weights (paper Table 1)",
        description="Search the L1, adversarial, style, perceptual and feature-matching weights, each "
                    "log-uniform in [0.1, 300] as the authors did. Start the same command in several shells or "
                    "machines on one --storage to run workers in parallel; --n-trials is the total.")
    p.epilog = (f"Exit status: 0 when the study holds --n-trials finished trials; {INCOMPLETE_EXIT} when this worker "
                "ended with trials unfinished (RUNNING in another worker or left by a dead one); 2 for bad input.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--profile", choices=sorted(base_configs()), help="a built-in profile as the base config")
    src.add_argument("--config", help="YAML file with sections model, loss, data, train, out")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides (dotted keys)")
    p.add_argument("--storage", help="sqlite:///…, postgresql://…, or journal:///file.log "
                                     "(default sqlite:///results/<profile>/optuna.db)")
    p.add_argument("--study-name", default="loss-weights")
    p.add_argument("--n-trials", type=int, required=True, help="total trials of the study, over all workers")
    p.add_argument("--sampler", choices=sorted(SAMPLERS), default="tpe")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-jobs", type=int, default=1, help="threads in this worker")
    p.add_argument("--pruner", choices=("median", "none"), default="median")
    p.add_argument("--warmup", type=float, default=0.25, help="no pruning before this fraction of train.iterations")
    p.add_argument("--heartbeat-interval", type=int, default=60, help="seconds; 0 = off (RDB storages only)")
    p.add_argument("--grace-period", type=int, default=None, help="seconds without heartbeat before a trial "
                                                                   "is failed and retried (default 2 × interval)")
    p.add_argument("--max-retry", type=int, default=3)
    p.add_argument("--runs-dir", help="folder for the trials' run folders (default results/<profile>/search/<name>)")
    p.add_argument("--requeue-running", action="store_true",
                   help="first fail and re-queue RUNNING trials (journal storage after a crash; no worker may be alive)")
    p.add_argument("--top", type=int, default=10, help="rows of the Table-1-style summary to print")
    p.add_argument("--figures", help="also save history/importance/slice/intermediate PNGs into this folder")
    p.add_argument("--overwrite", action="store_true", help="replace existing figure files")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_search)


# ----------------------------------------------------------------------------------------- study
def _cmd_study(args: argparse.Namespace) -> int:
    try:
        results = None if args.results is None else Path(args.results).resolve()  # a flag is relative to where you are
        run_study(args.profile, only=args.only, resume=args.resume, results_dir=results, device=args.device,
                  keep_checkpoints=args.keep_checkpoints, jobs=args.jobs, allow_dirty=args.allow_dirty,
                  rescore=args.rescore, finished_only=args.finished_only)
    except NotebookFailed as e:
        print(f"isnet study: {e}", file=sys.stderr)
        return 1
    return 0


def _add_study(sub) -> None:
    p = sub.add_parser("study", help="run the study's notebooks (papermill) for a profile",
                       description="Execute notebooks/*.ipynb with papermill into results/<profile>/; "
                                   "profiles: " + "; ".join(f"{k}: {v.budget}" for k, v in PROFILES.items()))
    p.add_argument("--profile", default="smoke", choices=sorted(PROFILES))
    p.add_argument("--only", nargs="+", default=None, help="notebook names (e.g. 03_architecture or architecture)")
    p.add_argument("--resume", action="store_true", help="skip finished notebooks; runs are always reused")
    p.add_argument("--results", default=None,
                   help=f"results root (default: ${RESULTS_ENV}, else results/ in the project root)")
    p.add_argument("--keep-checkpoints", action="store_true",
                   help="keep every rolling checkpoint and best.pt of finished runs (default: the final one only)")
    p.add_argument("--device", default=None, help="cpu | cuda (default: auto)")
    p.add_argument("--rescore", action="store_true",
                   help="recompute every score, table, verdict and figure from the runs' committed fp16 generators "
                        "(runs/<hash>/generator-fp16.pt); trains nothing; says which score files were reproduced")
    p.add_argument("--finished-only", action="store_true",
                   help="an interim report of a study whose runs train across sessions: every table, figure and "
                        "verdict from the runs that have finished; trains nothing; a claim whose rows have not "
                        "finished every seed is 'pending' (never judged on part of its seeds); SUMMARY.md lists what "
                        "is still to train")
    p.add_argument("--allow-dirty", action="store_true",
                   help="write a committed profile's results from a checkout with uncommitted changes (recorded in "
                        "env.json); refused otherwise")
    p.add_argument("--jobs", type=_positive_int, default=1, metavar="N",
                   help="train each table's independent runs in N processes at once (GPUs: spread over the devices, "
                        "several per device when N exceeds them; CPU: the cores split between them). Other "
                        "`isnet study` processes or machines may share the results folder: each run is trained once")
    p.set_defaults(func=_cmd_study)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number ≥ 1")
    return value
