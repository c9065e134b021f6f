"""The papermill driver: ``run_study`` executes the notebooks of a profile, shows each run's progress and times them."""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..io import atomic_write_text, locked, locked_append_jsonl, read_jsonl, sha256_file
from .facade import Study
from .kernel import SerialStartKernelManager
from .profiles import (
    get_profile,
)
from .provenance import REPO, git_commit, make_file_portable, make_portable, require_clean_tree
from .report import (
    to_markdown,
)
from .rescore import RESCORE_ENV, compare, set_aside
from .runs import FINISHED_ONLY_ENV, JOBS_ENV, PROGRESS_ENV, RESULTS_ENV, project_root, results_root

NOTEBOOKS = ["00_quickstart", "01_search", "02_loss_ablation", "03_architecture", "04_blocks", "05_pra",
             "06_comparison", "07_report"]


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
                elif ev.get("event") == "wait":
                    self.current = {**ev, "waiting": True}
                elif ev.get("event") == "run_done":
                    if not ev.get("reused"):
                        self.durations.append(float(ev.get("seconds", 0)))
                    self.current = None if self.current and self.current.get("i") == ev.get("i") else self.current
        text = self.notebook + (" · " + self.describe() if self.current else "")
        self.bar.set_postfix_str(text, refresh=True)
        return text

    def describe(self) -> str:
        ev = self.current or {}
        if ev.get("waiting"):
            return f"waiting for run {Path(str(ev.get('run', ''))).name} (another process trains it)"
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
    return pd.DataFrame(read_jsonl(path))


def run_study(profile: str, only: Sequence[str] | None = None, resume: bool = False,
              results_dir: str | os.PathLike | None = None, kernel_name: str | None = None,
              device: str | None = None, notebooks: str | os.PathLike | None = None,
              keep_checkpoints: bool = False, jobs: int = 1, allow_dirty: bool = False,
              rescore: bool = False, finished_only: bool = False) -> list[dict[str, Any]]:
    """Execute the notebooks with papermill into <results>/<profile>/notebooks/; returns one record each.

    ``resume`` skips notebooks that really finished (``finished_notebook``: the marker in
    ``notebooks/finished.json`` matches the executed copy and the current notebook, and the copy holds no error);
    runs are reused by config hash anyway. ``rescore``: every notebook again, every run's scores recomputed from
    its committed fp16 generator, nothing trained (``isnet.study.rescore``). ``finished_only``: an interim report
    of a campaign that spans sessions: every notebook on the runs that have finished, nothing trained, each claim
    whose runs are not all finished "pending"; the notebooks are not marked finished, so ``resume`` runs them again. Committed profiles' results are
    refused from a checkout with uncommitted changes unless ``allow_dirty`` (recorded in env.json). A failing notebook keeps its partly executed copy, and the error says
    which cell failed. The terminal shows the notebook and, inside it, run i of n with iteration and ETA. Every
    notebook's time is appended to ``<profile>/timings.jsonl`` (one line per notebook per study run, never
    overwritten, each with this study run's ``session``).

    Several ``isnet study`` processes may share one results folder: each run is trained by the one process that
    claims it (``isnet.study.runs.try_claim``), the others wait for it and reuse it; executed notebooks are renamed
    into place whole; the shared files are updated under short locks. ``jobs`` > 1 trains each table's independent
    runs in that many worker processes (``Study.jobs``).
    """
    import papermill as pm
    from tqdm.std import tqdm

    prof = get_profile(profile)
    names = list(NOTEBOOKS) if not only else [_notebook_name(n) for n in only]
    if int(jobs) < 1:
        raise ValueError(f"jobs={jobs!r}: give at least 1 (--jobs N trains N runs at once)")
    tree = require_clean_tree(prof.name, allow_dirty)
    root = results_root(results_dir)
    study = Study(prof, results_dir=root, progress=False)
    out_dir = study.dir / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    with locked(study.dir / ".setup.lock"):  # one process fetches weights and data while the others wait
        study.ensure_weights()
        study.ensure_data()
        study.write_env(tree)
    if rescore:
        resume = False  # every notebook again, on the recomputed scores
        set_aside(study.dir)
    done_marker = out_dir / "finished.json"
    timings = study.dir / "timings.jsonl"
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    session = f"{platform.node()}-{os.getpid()}-{int(time.time())}"
    runs_before = {p.parent.name for p in (study.dir / "runs").glob("*/summary.json")}
    progress_file = out_dir / f".progress-{os.getpid()}.jsonl"  # one per study process
    progress_file.unlink(missing_ok=True)
    env_before = {k: os.environ.get(k) for k in (PROGRESS_ENV, RESULTS_ENV, JOBS_ENV, RESCORE_ENV, FINISHED_ONLY_ENV)}
    if rescore:
        os.environ[RESCORE_ENV] = "1"
    if finished_only:
        resume = False  # an interim report is made again from whatever has finished by now
        os.environ[FINISHED_ONLY_ENV] = "1"
    os.environ[PROGRESS_ENV] = str(progress_file)
    os.environ[RESULTS_ENV] = str(root)
    os.environ[JOBS_ENV] = str(int(jobs))
    records, events = [], []
    t0 = time.time()
    try:
        with tqdm(total=len(names), desc=f"study {prof.name}", unit="notebook", dynamic_ncols=True) as bar, \
                _RunTicker(progress_file, bar) as ticker:
            for n_done, name in enumerate(names):
                src = Path(notebooks or notebook_dir()) / f"{name}.ipynb"
                dst = out_dir / f"{name}.ipynb"
                if resume and finished_notebook(done_marker, src, dst):
                    records.append({"notebook": name, "status": "skipped (finished)", "seconds": 0.0})
                    bar.update()
                    continue
                ticker.notebook = name
                bar.set_postfix_str(name)
                start = time.time()
                params = {"profile": prof.name, "results_dir": str(root)}
                if _has_parameter(src, "interactive"):
                    # No one draws in a papermill run: the static figures only. The drawing app's widgets send
                    # hundreds of iopub messages; with another study busy on the CPU, ZeroMQ dropped some, the
                    # cell's final "idle" among them, and the notebook waited forever (seen in CI).
                    params["interactive"] = False
                if device:
                    params["device"] = device
                if keep_checkpoints:
                    params["keep_checkpoints"] = True
                status = "ran"
                partial = out_dir / f".{name}.{os.getpid()}.ipynb"  # renamed into place whole, even on failure
                try:
                    pm.execute_notebook(str(src), str(partial), parameters=params, kernel_name=kernel_name,
                                        cwd=str(project_root()), progress_bar=False, log_output=False,
                                        extra_arguments=["--log-level=ERROR"],
                                        kernel_manager_class=SerialStartKernelManager)
                except pm.PapermillExecutionError as e:
                    status = "failed"
                    raise NotebookFailed(f"notebook {name} failed in cell [{e.exec_count}] of the executed copy "
                                         f"({e.ename}: {e.evalue}); the partly executed copy is {dst}. Fix it, "
                                         "then rerun with --resume") from None
                except BaseException:
                    status = "failed"
                    raise
                finally:
                    seconds = time.time() - start
                    if partial.exists():
                        os.replace(partial, dst)
                        make_file_portable(dst, study.dir)  # before its hash goes into finished.json
                    _mark_finished(done_marker, name, src, dst, seconds, ok=status == "ran" and not finished_only)
                    locked_append_jsonl(timings, {"started": started, "session": session, "notebook": name,
                                                  "status": status, "seconds": round(seconds, 1),
                                                  "profile": prof.name, "host": platform.node(),
                                                  "cpus": os.cpu_count(), "device": device or "auto",
                                                  "jobs": int(jobs), "git_commit": git_commit()})
                records.append({"notebook": name, "status": "ran", "seconds": seconds})
                bar.update()
    finally:
        for k, v in env_before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if progress_file.exists():
            events = read_jsonl(progress_file)
        progress_file.unlink(missing_ok=True)
    total = time.time() - t0
    trained = {Path(e["run"]).name for e in events if e.get("event") == "trained"}
    reused = {Path(e["run"]).name for e in events if e.get("event") == "run_done" and e.get("run")} - trained
    locked_append_jsonl(timings, {"started": started, "session": session, "notebook": "(study)", "status": "finished",
                                  "seconds": round(total, 1), "profile": prof.name, "host": platform.node(),
                                  "cpus": os.cpu_count(), "device": device or "auto", "jobs": int(jobs),
                                  "git_commit": git_commit(), "finished_only": finished_only, "notebooks_run": sum(r["status"] == "ran" for r in records),
                                  "runs_trained": len(trained), "runs_reused": len(reused),
                                  "runs_before": len(runs_before), "disk_mb": round(_disk_mb(study.dir), 1)})
    make_portable(study.dir)  # committed results name no machine path
    print(to_markdown(pd.DataFrame(records)))
    if rescore:
        check = compare(study.dir)
        print(f"\nrescore: {int(check.identical.sum())} of {len(check)} per-run score files reproduced byte for byte"
              + ("" if check.identical.all() else "; differing:\n" + to_markdown(check[~check.identical])))
    print(f"\nstudy {prof.name}: {total / 60:.1f} min ({len(trained)} runs trained here, {len(reused)} reused); "
          f"results in {study.dir}; every study run's timings: {timings}")
    return records


def notebook_errors(path: Path) -> list[str]:
    """The error outputs of an executed notebook (``ename: evalue`` each); [] when it holds none."""
    nb = json.loads(Path(path).read_text())
    errors = [f"{o.get('ename')}: {o.get('evalue')}" for c in nb.get("cells", []) for o in c.get("outputs", []) or []
              if o.get("output_type") == "error"]
    if not errors and (nb.get("metadata", {}).get("papermill", {}) or {}).get("exception"):
        errors.append("papermill recorded an exception")
    return errors


def finished_notebook(marker: Path, src: Path, dst: Path) -> bool:
    """Whether ``--resume`` may skip a notebook: ``finished.json`` records it as finished, for this very source
    notebook (its hash: a notebook fixed or changed since runs again) and this very executed copy (its hash: a
    copy overwritten by a later failed run is not trusted), and the copy holds no error output."""
    if not (marker.exists() and dst.exists()):
        return False
    try:
        entry = json.loads(marker.read_text()).get(src.stem)
        if not entry or entry.get("source_sha256") != sha256_file(src) or entry.get("sha256") != sha256_file(dst):
            return False
        return not notebook_errors(dst)
    except (OSError, ValueError, AttributeError):
        return False


def _has_parameter(notebook: Path, name: str) -> bool:
    """Whether the notebook's cell tagged ``parameters`` assigns ``name``."""
    import re

    import nbformat

    cells = nbformat.read(str(notebook), as_version=4).cells
    return any(re.search(rf"^{re.escape(name)}\s*=", c.source, re.M) for c in cells
               if "parameters" in c.get("metadata", {}).get("tags", []))


def _mark_finished(marker: Path, name: str, src: Path, dst: Path, seconds: float, ok: bool) -> None:
    """Record (``ok``) or forget a notebook in ``finished.json``, merged under a lock with other processes'."""
    with locked(marker.with_name(".finished.lock")):
        try:
            finished = json.loads(marker.read_text()) if marker.exists() else {}
        except ValueError:
            finished = {}
        if ok and dst.exists():
            finished[name] = {"seconds": round(seconds, 1), "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                              "sha256": sha256_file(dst), "source_sha256": sha256_file(src)}
        else:
            finished.pop(name, None)
        atomic_write_text(marker, json.dumps(finished, indent=1))


def _disk_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2 ** 20


class NotebookFailed(RuntimeError):
    """A notebook raised; its partly executed copy is kept and the message names the cell."""


def _notebook_name(name: str) -> str:
    for n in NOTEBOOKS:
        if name in (n, n.split("_", 1)[1], n.split("_", 1)[0]):
            return n
    raise ValueError(f"unknown notebook {name!r}; choose from {NOTEBOOKS} (or their short names)")
