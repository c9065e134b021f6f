"""The run cache: where results live, a run folder's status, checkpoint pruning, progress events for the driver.

Why this file is long: a run folder's whole life on shared storage is here: its status and minutes, pruning,
copying a finished run, and the atomic per-run claim with its heartbeat and take-over rules that let several
processes or machines share one results folder; splitting them would spread one protocol over files.

A run is keyed by the hash of its resolved configuration (``Config.config_hash``) and its seed; a run folder with a
finished ``summary.json`` is never trained again, an unfinished one resumes from its last checkpoint.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

from ..engine.checkpoint import list_checkpoints
from ..io import append_jsonl, atomic_write_text, locked, sha256_file
from .provenance import REPO

RESULTS_ENV = "ISNET_RESULTS"     # results root for notebooks opened anywhere (JupyterLab starts kernels in notebooks/)


PROGRESS_ENV = "ISNET_PROGRESS"   # set by ``run_study``: a JSON-lines file the kernel reports each run to


FINISHED_ONLY_ENV = "ISNET_FINISHED_ONLY"  # set by ``isnet study --finished-only``: train nothing, use finished runs


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
        append_jsonl(path, {"t": time.time(), **event})
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


def adopt_finished_run(run: Path, iterations: int) -> Path | None:
    """Copy a finished run of the same configuration from another profile's folder into ``run``.

    Runs are keyed by config hash, so ``results/laptop-16k/runs/<hash>`` and ``results/night/runs/<hash>`` trained the
    same thing (the night profile repeats the laptop-16k runs and adds seeds; the laptop profile repeats the ablation
    profile's ISNet runs). The copy is made beside ``run`` and
    renamed into place, and ``COPIED_FROM`` records its origin (``<profile>/runs/<hash>``, relative to the results
    folder). Returns the origin, or None when there is none."""

    if run.exists():
        return None
    for other in sorted(run.parent.parent.parent.glob(f"*/runs/{run.name}")):
        if other.resolve() == run.resolve() or not _finished(other, iterations):
            continue
        partial = run.with_name(run.name + ".copying")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(other, partial)
        (partial / "COPIED_FROM").write_text(f"{other.relative_to(run.parent.parent.parent)}\n")  # no machine path
        partial.rename(run)
        return other
    return None


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
                   minutes=training_minutes(run))  # every session, not only the last
    elif ckpts:
        out["status"] = "partial"
    return out


def training_minutes(run: str | os.PathLike) -> float | None:
    """Minutes a run spent training, summed over all its sessions: ``summary.json``'s ``total_seconds`` (runs since
    history.jsonl), else the last ``seconds`` of each session in ``metrics.jsonl`` (a resumed run starts its clock
    again). None without either."""
    run = Path(run)
    summary = run / "summary.json"
    if summary.exists():
        total = json.loads(summary.read_text()).get("total_seconds")
        if total:
            return round(float(total) / 60, 1)
    path = run / "metrics.jsonl"
    if not path.exists():
        return None
    total, last = 0.0, None
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        sec, it = row.get("seconds"), row.get("iteration")
        if sec is None:
            continue
        if last is not None and (sec < last[0] or (it is not None and last[1] is not None and it <= last[1])):
            total += last[0]  # a new session began
        last = (float(sec), it)
    return round((total + (last[0] if last else 0.0)) / 60, 1)


def _final_checkpoint(run: Path) -> Path:
    ckpts = list_checkpoints(run)
    if not ckpts:
        raise FileNotFoundError(f"run {run} has no checkpoint; train it first (the notebook or isnet study --resume)")
    return ckpts[-1]


def _short_hash(path: Path) -> str:
    return sha256_file(path)[:8]


# ----------------------------------------------------------------------------------------- claims and locks
# Several ``isnet study`` processes (``--jobs N``, or machines sharing one results folder) may work on one study.
# Each run is trained by the process that holds its claim, ``<run>.claim`` beside the run folder, created with
# O_CREAT | O_EXCL and holding host, pid, start time and a heartbeat the holder refreshes while it trains. A claim
# whose pid is dead on this host, or whose heartbeat is older than ``CLAIM_STALE_S``, is taken over. Every claim
# operation (create, check, take over, refresh, release) runs under a short ``flock`` on ``.claims.lock`` in the
# runs folder, so a take-over never removes a fresh claim. Study-level files that several processes write
# (timings.jsonl, runs/index.csv, finished.json) are updated under the same kind of short lock (``locked``).

CLAIM_STALE_ENV = "ISNET_CLAIM_STALE_S"     # seconds without heartbeat before a claim is stale (default 180)
CLAIM_HEARTBEAT_S = 20.0
CLAIM_POLL_S = 5.0
_HELD: set[str] = set()                      # tokens of the claims this process holds


def claim_stale_after() -> float:
    return float(os.environ.get(CLAIM_STALE_ENV) or 180)


def claim_path(run: Path) -> Path:
    """``runs/<hash>.claim``: beside the run folder, so claiming never creates the folder a copy renames into."""
    return run.with_name(run.name + ".claim")


def _claims_lock(run: Path) -> locked:
    return locked(run.parent / ".claims.lock")


def _host() -> str:
    import socket

    return socket.gethostname()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child its parent has not reaped yet is a zombie: dead for our purpose
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def read_claim(run: Path) -> dict[str, Any] | None:
    """The claim on ``run`` (host, pid, started, heartbeat, token), or None when it is not claimed."""
    try:
        text = claim_path(run).read_text()
    except FileNotFoundError:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:  # written by a process killed in the middle (we write under the lock)
        return {"torn": True, "heartbeat": claim_path(run).stat().st_mtime}


def claim_is_live(info: dict[str, Any], stale_after: float | None = None) -> bool:
    """A claim is live while its heartbeat is fresh and, on this host, its process is alive."""
    stale_after = claim_stale_after() if stale_after is None else stale_after
    if time.time() - float(info.get("heartbeat", 0)) > stale_after:
        return False
    if info.get("host") == _host() and info.get("pid") is not None:
        pid = int(info["pid"])
        if pid == os.getpid():
            return info.get("token") in _HELD
        return _pid_alive(pid)
    return True  # another host: its heartbeat is all we can see


def describe_claim(info: dict[str, Any]) -> str:
    started = time.strftime("%H:%M:%S", time.localtime(float(info.get("started", 0))))
    return f"{info.get('host')}:{info.get('pid')} (since {started})"


class RunClaim:
    """A held claim on one run; refreshes its heartbeat from a thread while the ``with`` block trains."""

    def __init__(self, run: Path, info: dict[str, Any], heartbeat_s: float = CLAIM_HEARTBEAT_S):
        import threading

        self.run, self.info, self.heartbeat_s = run, info, heartbeat_s
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name=f"claim-{run.name}")

    @property
    def token(self) -> str:
        return self.info["token"]

    def __enter__(self) -> "RunClaim":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                self.refresh()
            except OSError:
                pass

    def refresh(self) -> None:
        with _claims_lock(self.run):
            current = read_claim(self.run)
            if not current or current.get("token") != self.token:
                self.lost = True  # taken over (this process stalled past the stale limit): nothing to refresh
                return
            self.info["heartbeat"] = time.time()
            atomic_write_text(claim_path(self.run), json.dumps(self.info))

    def release(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        with _claims_lock(self.run):
            current = read_claim(self.run)
            if current and current.get("token") == self.token:
                claim_path(self.run).unlink(missing_ok=True)
        _HELD.discard(self.token)


def try_claim(run: Path, stale_after: float | None = None) -> RunClaim | dict[str, Any]:
    """Claim ``run`` for this process: a ``RunClaim`` (use it as a context manager while training), or the
    live holder's claim record when another process holds it. A stale claim (dead pid on this host, or no
    heartbeat for ``stale_after`` s) is taken over."""
    import uuid

    path = claim_path(run)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _claims_lock(run):
        current = read_claim(run)
        if current is not None:
            if claim_is_live(current, stale_after):
                return current
            path.unlink(missing_ok=True)  # stale: take it over
        now = time.time()
        info = {"host": _host(), "pid": os.getpid(), "started": now, "heartbeat": now, "token": uuid.uuid4().hex}
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(info))
            f.flush()
            os.fsync(f.fileno())
        _HELD.add(info["token"])
    return RunClaim(run, info)


def wait_message(run: Path, holder: dict[str, Any]) -> str:
    return (f"run {run.name} is being trained by {describe_claim(holder)}; waiting for it to finish (it is reused "
            f"then). If that process is gone, its claim {claim_path(run)} is taken over after "
            f"{claim_stale_after():.0f} s without heartbeat")


# ----------------------------------------------------------------------------------------- --jobs N
JOBS_ENV = "ISNET_JOBS"   # set by ``isnet study --jobs N``: worker processes per table (read by ``Study``)


def _cuda_devices() -> list[str]:
    """The visible CUDA devices (as CUDA_VISIBLE_DEVICES entries), without creating a CUDA context."""
    import torch

    if not torch.cuda.is_available():
        return []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible:
        return [d.strip() for d in visible.split(",") if d.strip()]
    return [str(i) for i in range(torch.cuda.device_count())]


def worker_envs(n: int, device: str | None, cpus: int | None = None, gpus: list[str] | None = None) -> list[dict]:
    """The environment of each of ``n`` worker processes: on GPUs, one device each, round robin (several
    workers per GPU when ``n`` exceeds them); on a CPU, the cores split between workers (torch threads)."""
    cpus = cpus or os.cpu_count() or 1
    if gpus is None:
        gpus = [] if (device or "auto").startswith("cpu") else _cuda_devices()
    threads = str(max(1, cpus // n))
    envs = []
    for k in range(n):
        env = {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, JOBS_ENV: "1"}
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = gpus[k % len(gpus)]
        envs.append(env)
    return envs


def train_in_workers(study: Any, jobs: list, table: str = "") -> None:
    """Train ``jobs`` (``(row, seed)`` pairs of ``study``) in ``study.jobs`` worker processes at once.

    Workers coordinate through the run claims only (each trains the runs nobody else has claimed), exactly as
    separate ``isnet study`` processes or machines do. A worker that fails leaves its run unfinished: the caller,
    which goes through the jobs afterwards, resumes it (and shows its error, if it recurs). Worker logs:
    ``runs/.worker-<pid>-<k>.log``."""
    import pickle
    import subprocess
    import sys

    todo = [(row, seed) for row, seed in jobs if not _finished(Path(study.config_for(row, seed).out.dir),
                                                             study.config_for(row, seed).train.iterations)]
    n = min(int(study.jobs), len(todo))
    if n <= 1:
        return
    runs = study.dir / "runs"
    spec = runs / f".jobs-{os.getpid()}.pkl"
    runs.mkdir(parents=True, exist_ok=True)
    spec.write_bytes(pickle.dumps({"profile": study.profile, "results": str(study.dir.parent), "device": study.device,
                                   "keep_checkpoints": study.keep_checkpoints, "jobs": todo, "table": table}))
    code = "import sys; from isnet.study.facade import work_on; sys.exit(work_on(sys.argv[1], int(sys.argv[2])))"
    procs, logs = [], []
    try:
        for k, extra in enumerate(worker_envs(n, study.device)):
            log = runs / f".worker-{os.getpid()}-{k}.log"
            logs.append(log)
            with open(log, "w") as f:
                procs.append(subprocess.Popen([sys.executable, "-c", code, str(spec), str(k)], env={**os.environ, **extra},
                                              stdout=f, stderr=subprocess.STDOUT, cwd=str(project_root())))
        codes = [p.wait() for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait()
        spec.unlink(missing_ok=True)
    for code_, log in zip(codes, logs):
        if code_ == 0:
            log.unlink(missing_ok=True)
        else:
            print(f"a --jobs worker exited with status {code_} (log: {log}); its runs are resumed here", flush=True)
