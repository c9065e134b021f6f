"""Faults a user meets with a study (issues 21 and 18): two studies on one results folder, ``--jobs``, a resume that
must not trust a failed notebook, a search trial left RUNNING by a killed process, a torch/torchvision install
that mixes builds, ``isnet bench`` overrides in any position."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from isnet.study import runs
from isnet.study.profiles import TEST

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


# ----------------------------------------------------------------------------------------- claims and locks
def test_a_run_is_claimed_once_and_a_dead_or_silent_claim_is_taken_over(tmp_path):
    run = tmp_path / "runs" / "abc123"
    first = runs.try_claim(run)
    assert isinstance(first, runs.RunClaim) and runs.claim_path(run).exists() and not run.exists()
    again = runs.try_claim(run)  # held by this process (a live claim): refused, the holder's record returned
    assert isinstance(again, dict) and again["token"] == first.token
    first.release()
    assert not runs.claim_path(run).exists()

    # a claim left by a process that died on this host is taken over at once
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    record = {"host": runs._host(), "pid": dead.pid, "started": time.time(), "heartbeat": time.time(), "token": "x"}
    runs.claim_path(run).write_text(json.dumps(record))
    taken = runs.try_claim(run)
    assert isinstance(taken, runs.RunClaim) and taken.token != "x"
    taken.release()

    # another host's claim: live while its heartbeat is fresh, taken over once it is stale
    runs.claim_path(run).write_text(json.dumps({**record, "host": "elsewhere", "pid": 1}))
    assert isinstance(runs.try_claim(run, stale_after=60), dict)
    stale = runs.try_claim(run, stale_after=-1)
    assert isinstance(stale, runs.RunClaim)

    # the holder's heartbeat thread refreshes the claim; a claim taken over meanwhile is reported lost
    with runs.RunClaim(run, stale.info, heartbeat_s=0.05) as held:
        before = runs.read_claim(run)["heartbeat"]
        time.sleep(0.3)
        assert runs.read_claim(run)["heartbeat"] > before
        runs.claim_path(run).write_text(json.dumps({**record, "host": "elsewhere", "token": "y"}))
        time.sleep(0.2)
        assert held.lost
    assert runs.read_claim(run)["token"] == "y", "releasing a lost claim removed the new holder's claim"


def test_locked_appends_from_many_processes_never_interleave(tmp_path):
    path = tmp_path / "timings.jsonl"
    code = ("import sys; from isnet.io import locked_append_jsonl as a\n"
            "for i in range(200): a(sys.argv[1], {'p': sys.argv[2], 'i': i, 'pad': 'x' * 5000})")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), str(k)]) for k in range(3)]
    assert [p.wait() for p in procs] == [0, 0, 0]
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 600
    for k in range(3):
        assert [r["i"] for r in rows if r["p"] == str(k)] == list(range(200))


def test_jobs_workers_split_cpus_or_spread_over_gpus():
    cpu = runs.worker_envs(2, "cpu", cpus=8)
    assert [e["OMP_NUM_THREADS"] for e in cpu] == ["4", "4"] and all("CUDA_VISIBLE_DEVICES" not in e for e in cpu)
    assert runs.worker_envs(3, "cpu", cpus=2)[0]["OMP_NUM_THREADS"] == "1"
    gpu = runs.worker_envs(5, "cuda", gpus=["0", "1"])
    assert [e["CUDA_VISIBLE_DEVICES"] for e in gpu] == ["0", "1", "0", "1", "0"]
    assert all(e[runs.JOBS_ENV] == "1" for e in gpu), "a worker must not start workers of its own"


# ----------------------------------------------------------------------------------------- --resume and notebooks
def _notebook(path: Path, code: str) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("profile = 'smoke'\nresults_dir = None")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, path)


def test_resume_trusts_only_a_marker_that_matches_an_error_free_executed_copy(tmp_path):
    from isnet.study.driver import _mark_finished, finished_notebook

    src, dst, marker = tmp_path / "01_x.ipynb", tmp_path / "out" / "01_x.ipynb", tmp_path / "out" / "finished.json"
    _notebook(src, "print(1)")
    dst.parent.mkdir()
    nb = nbformat.read(src, as_version=4)
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="1\n")]
    nbformat.write(nb, dst)
    assert not finished_notebook(marker, src, dst)  # no marker
    _mark_finished(marker, "01_x", src, dst, 1.0, ok=True)
    assert finished_notebook(marker, src, dst)

    nb.cells[1].outputs.append(nbformat.v4.new_output("error", ename="RuntimeError", evalue="boom", traceback=[]))
    nbformat.write(nb, dst)  # a later failed run overwrote the copy: marker and copy disagree
    assert not finished_notebook(marker, src, dst)
    _mark_finished(marker, "01_x", src, dst, 1.0, ok=True)  # even a marker that matches: the copy holds an error
    assert not finished_notebook(marker, src, dst)

    nb.cells[1].outputs = nb.cells[1].outputs[:1]
    nbformat.write(nb, dst)
    _mark_finished(marker, "01_x", src, dst, 1.0, ok=True)
    assert finished_notebook(marker, src, dst)
    _notebook(src, "print(2)")  # the notebook was changed (fixed) since it ran
    assert not finished_notebook(marker, src, dst)
    marker.write_text(json.dumps({"01_x": {"seconds": 1.0, "time": "2020-01-01T00:00:00Z"}}))  # an old-style marker
    assert not finished_notebook(marker, src, dst)
    _mark_finished(marker, "01_x", src, dst, 1.0, ok=False)  # a failure forgets the notebook
    assert "01_x" not in json.loads(marker.read_text())


@pytest.mark.notebooks
def test_resume_reruns_a_notebook_that_failed_after_it_once_finished(tmp_path):
    from isnet.study import NotebookFailed, run_study

    nbs, res = tmp_path / "nbs", tmp_path / "res"
    nbs.mkdir()
    _notebook(nbs / "00_quickstart.ipynb", "print('first')")
    assert [r["status"] for r in run_study("smoke", only=["quickstart"], results_dir=res, notebooks=nbs)] == ["ran"]
    _notebook(nbs / "00_quickstart.ipynb", "raise RuntimeError('boom')")
    with pytest.raises(NotebookFailed, match="boom"):
        run_study("smoke", only=["quickstart"], results_dir=res, notebooks=nbs, resume=True)
    executed = res / "smoke" / "notebooks" / "00_quickstart.ipynb"
    assert "RuntimeError" in executed.read_text(), "the partly executed copy is kept"
    assert not list(executed.parent.glob(".00_quickstart.*")), "a temporary copy was left behind"
    _notebook(nbs / "00_quickstart.ipynb", "print('fixed')")
    records = run_study("smoke", only=["quickstart"], results_dir=res, notebooks=nbs, resume=True)
    assert [r["status"] for r in records] == ["ran"] and "fixed" in executed.read_text()
    records = run_study("smoke", only=["quickstart"], results_dir=res, notebooks=nbs, resume=True)
    assert [r["status"] for r in records] == ["skipped (finished)"]


# ----------------------------------------------------------------------------------------- search: killed trial
SEARCH_BASE = TEST.with_overrides(["train.iterations=40", "train.val_every=10"])


def scored_train(cfg, on_validation=None, resume=False, progress=False):
    """A stand-in for training whose PSNR is a function of the weights; ``$KILL_IN`` names a trial folder in which
    the process SIGKILLs itself halfway (after a checkpoint-like file), as a crash or ``kill -9`` would."""
    w = dict(cfg.loss.weights)
    run_dir = Path(cfg.out.dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if resume:
        (run_dir / "resumed").touch()
    psnr = 20 + math.log(w["l1"]) - 0.1 * math.log(w["style"]) + 0.01 * math.log(w["perceptual"])
    for it in range(cfg.train.val_every, cfg.train.iterations + 1, cfg.train.val_every):
        if on_validation:
            on_validation(it, {"psnr": psnr, "mae": 1 / psnr})
        if it == cfg.train.iterations // 2 and os.environ.get("KILL_IN") == run_dir.name and not resume:
            (run_dir / "half").touch()
            os.kill(os.getpid(), signal.SIGKILL)
    return {"val": {"psnr": psnr, "mae": 1 / psnr}, "stopped_early": False, "iteration": cfg.train.iterations}


def _search(name: str, storage: str, runs_dir: Path, n: int = 3):
    from isnet.study.search import run_search

    return run_search(name, storage, n, SEARCH_BASE, sampler="tpe", seed=0, train_fn=scored_train,
                      runs_dir=str(runs_dir), progress=False)


@pytest.mark.parametrize("killed", ["trial-0000", "trial-0001"])
def test_a_trial_killed_mid_run_is_retried_with_its_weights_and_table1_equals_an_uninterrupted_one(tmp_path, monkeypatch,
                                                                                                    killed):
    from optuna.trial import TrialState

    from isnet.study import search

    whole = _search("s", f"sqlite:///{tmp_path}/whole.db", tmp_path / "whole")
    storage = f"sqlite:///{tmp_path}/killed.db"
    code = (f"import sys; sys.path.insert(0, {str(TESTS)!r}); import optuna; "
            "optuna.logging.set_verbosity(optuna.logging.WARNING); from test_study_faults import _search; "
            f"from pathlib import Path; _search('s', {storage!r}, Path({str(tmp_path / 'killed')!r}))")
    victim = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "KILL_IN": killed},
                            capture_output=True, text=True, timeout=120)
    assert victim.returncode == -signal.SIGKILL, victim.stderr
    left = search.load_search("s", storage)
    assert [t.state for t in left.trials][-1] == TrialState.RUNNING  # what a kill -9 leaves behind

    monkeypatch.setattr(search, "DEAD_WORKER_GRACE_S", 0.0)  # the killed trial is seconds old here
    t0 = time.time()
    resumed = _search("s", storage, tmp_path / "killed")
    assert time.time() - t0 < 30, "the resume waited for the heartbeat instead of seeing the dead process"
    keep = ["L_l1", "L_D", "L_style", "L_perc", "L_FM", "PSNR", "MAE", "state", "trial", "iteration"]
    a, b = search.table1(whole)[keep], search.table1(resumed)[keep]
    assert a.equals(b), f"\n{a}\n{b}"
    retry = [t for t in resumed.trials if search.retried_from(t) is not None]
    assert len(retry) == 1 and retry[0].user_attrs["run_dir"].endswith(killed)
    assert (tmp_path / "killed" / killed / "resumed").exists(), "the retry did not resume the killed trial's folder"
    assert search.table1(resumed).loc[lambda d: d.retry_of.notna(), "trial"].tolist() == [int(killed[-4:])]
    assert sorted(search.table1(resumed)["number"]) != sorted(search.table1(whole)["number"])  # they differ


def test_a_live_workers_running_trial_is_never_failed(tmp_path):
    from isnet.study import search

    study = search.create_search("live", f"sqlite:///{tmp_path}/a.db")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        for worker in (f"{runs._host()}:{other.pid}", f"elsewhere:{other.pid}", None):
            trial = study.ask()
            search.search_space(trial)
            if worker:
                trial.set_user_attr("worker", worker)
        assert search.retry_dead_workers_trials(study) == []
    finally:
        other.kill()
        other.wait()
    old = search.DEAD_WORKER_GRACE_S
    search.DEAD_WORKER_GRACE_S = 0.0
    try:
        assert search.retry_dead_workers_trials(study) == [0]  # now dead (only the one on this host is known)
    finally:
        search.DEAD_WORKER_GRACE_S = old


# ----------------------------------------------------------------------------------------- two studies, --jobs
def test_a_notebook_kernel_starts_under_the_host_lock_and_is_ready_when_start_returns(tmp_path, monkeypatch):
    """Two study processes must not start kernels at once (jupyter_client's port race): ``start_kernel`` waits for
    the host-wide lock another process holds, and returns only once the kernel answers."""
    import asyncio

    from isnet.study import kernel

    monkeypatch.setenv("ISNET_CACHE", str(tmp_path / "cache"))
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from isnet.io import locked; "
                               "l = locked(sys.argv[1]).__enter__(); print('held', flush=True); time.sleep(3)",
                               str(kernel.start_lock_path())], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    km = kernel.SerialStartKernelManager(kernel_name="python3")

    async def start_and_ask():
        t0 = time.time()
        await km.start_kernel()
        waited = time.time() - t0
        client = km.client()
        client.start_channels()
        try:
            reply = await client.kernel_info(reply=True, timeout=5)  # answers at once: it was ready already
        finally:
            client.stop_channels()
        return waited, reply

    try:
        waited, reply = asyncio.run(start_and_ask())
        assert holder.poll() == 0, "start_kernel returned while another process held the lock"
        assert waited >= 2.0 and reply["content"]["status"] == "ok"
    finally:
        asyncio.run(km.shutdown_kernel(now=True))
        holder.wait()


def _iterations(run: Path) -> list[int]:
    return [json.loads(line)["iteration"] for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


@pytest.mark.notebooks
def test_two_studies_on_one_results_folder_train_each_run_once_with_clean_logs(tmp_path):
    from isnet.study import NOTEBOOKS

    results = tmp_path / "results"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "isnet", "study", "--profile", "smoke", "--results", str(results)]
    logs = [tmp_path / f"study-{i}.log" for i in range(2)]
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True,
                              start_new_session=True) for log in logs]
    deadline = time.time() + 1200  # alone, idle: ~4 min; a hang is reported with what each process was doing
    try:
        for p in procs:
            p.wait(timeout=max(1.0, deadline - time.time()))
    except subprocess.TimeoutExpired:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        claims = {c.name: c.read_text() for c in (results / "smoke" / "runs").glob("*.claim")}
        pytest.fail("the two studies did not finish in 20 min; claims left: " + json.dumps(claims) + "\n\n" +
                    "\n\n".join(f"study {i}:\n" + log.read_text()[-3000:] for i, log in enumerate(logs)))
    outs = [log.read_text() for log in logs]
    assert [p.returncode for p in procs] == [0, 0], "\n\n".join(o[-3000:] for o in outs)

    out = results / "smoke"
    finished = sorted(p.parent for p in (out / "runs").glob("*/summary.json"))
    assert finished and not list((out / "runs").glob("*.claim")), "a claim outlived its study"
    for run in finished:
        iters = _iterations(run)
        assert iters == sorted(set(iters)), f"{run.name}: metrics.jsonl holds duplicate or interleaved iterations"
        summary = json.loads((run / "summary.json").read_text())
        assert summary.get("resumed_from") is None, f"{run.name} was trained in two sessions"
        assert len(list((run / "checkpoints").glob("*.pt"))) == 1

    timings = [json.loads(line) for line in (out / "timings.jsonl").read_text().splitlines()]
    sessions = {t["session"] for t in timings}
    assert len(sessions) == 2
    for s in sessions:  # each study's lines: its eight notebooks in order, then its own summary line
        assert [t["notebook"] for t in timings if t["session"] == s] == [*NOTEBOOKS, "(study)"]
    totals = [t for t in timings if t["notebook"] == "(study)"]
    assert sum(t["runs_trained"] for t in totals) == len(finished), "a run was trained by both studies"

    import optuna

    trials = optuna.load_study(study_name="smoke-loss-weights", storage=f"sqlite:///{out / 'optuna.db'}").trials
    assert sorted(t.state.name for t in trials) == ["COMPLETE", "COMPLETE"]
    index = __import__("pandas").read_csv(out / "runs" / "index.csv", dtype={"run": str})
    assert not index.duplicated(["table", "method", "seed"]).any() and (index.status == "finished").all()
    nb = out / "notebooks"
    assert not list(nb.glob(".*.ipynb")) and not list(nb.glob(".progress*")), "temporary files were left behind"
    assert sorted(json.loads((nb / "finished.json").read_text())) == sorted(NOTEBOOKS)


def test_jobs_train_a_tables_runs_in_worker_processes_once_each(tmp_path, monkeypatch):
    from isnet.study import Study, table_rows

    events = tmp_path / "events.jsonl"
    monkeypatch.setenv(runs.PROGRESS_ENV, str(events))
    study = Study("smoke", results_dir=tmp_path / "res", progress=False, jobs=2)
    rows = [r for r in table_rows("table8", study.profile) if r.id in ("isnet-b1", "isnet-b2")]
    table = study.run_rows(rows, table="table8")
    assert list(table.method) == ["isnet-b1", "isnet-b2"]
    log = [json.loads(line) for line in events.read_text().splitlines()]
    trained = [e for e in log if e["event"] == "run_done" and e.get("trained")]
    assert sorted(Path(e["run"]).name for e in trained) == sorted(table.run), "each run trained once, by a worker"
    parent = [e for e in log if e["event"] == "run_done" and not e.get("trained")]
    assert len(parent) == 2, "the table's own pass reuses what the workers trained"
    assert not list((study.dir / "runs").glob(".worker-*.log")) and not list((study.dir / "runs").glob(".jobs-*"))
    for run in table.run:
        assert _iterations(study.dir / "runs" / run) == sorted(set(_iterations(study.dir / "runs" / run)))


def test_a_run_claimed_by_another_process_is_waited_for_then_reused(tmp_path, monkeypatch, capsys):
    from isnet.study import Study, table_rows

    study = Study("smoke", results_dir=tmp_path / "res", progress=False)
    row = table_rows("table8", study.profile)[0]
    cfg = study.config_for(row, 0)
    run = Path(cfg.out.dir)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        runs.claim_path(run).write_text(json.dumps({"host": runs._host(), "pid": holder.pid, "started": time.time(),
                                                    "heartbeat": time.time(), "token": "other"}))
        assert study._train_claimed(cfg) is None  # claimed by a live process: not trained here
        calls = []

        def finish_elsewhere(seconds):  # the other process finishes the run while we wait
            calls.append(seconds)
            (run / "checkpoints").mkdir(parents=True, exist_ok=True)
            (run / "summary.json").write_text(json.dumps({"iteration": cfg.train.iterations}))
            runs.claim_path(run).unlink()

        monkeypatch.setattr("isnet.study.facade.time.sleep", finish_elsewhere)
        assert study.train_row(row, 0) == run and calls
        assert f"run {run.name} is being trained by {runs._host()}:{holder.pid}" in capsys.readouterr().out
    finally:
        holder.kill()
        holder.wait()


# ----------------------------------------------------------------------------------------- the install check
def _check_torch():
    import importlib.util

    spec = importlib.util.spec_from_file_location("check_torch", ROOT / "scripts" / "check_torch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_install_check_names_mixed_builds_and_the_fix_in_one_line():
    c = _check_torch()
    assert c.diagnose("2.14.1+cu130", "13.0", "0.29.1+cu130", None) is None
    assert c.diagnose("2.13.0+cpu", None, "0.28.0+cpu", None, cpu_requested=True) is None
    assert c.diagnose("2.14.1", "12.8", "0.29.1", None) is None  # plain PyPI wheels carry no tag
    # the venv: a CPU torch beside PyPI's CUDA torchvision
    msg = c.diagnose("2.13.0+cpu", None, "0.28.0", "RuntimeError: operator torchvision::nms does not exist", True)
    assert "\n" not in msg and "torch 2.13.0+cpu (CPU build)" in msg and "torchvision 0.28.0" in msg
    assert "nms" in msg and "make clean-venv venv TORCH=cpu" in msg
    msg = c.diagnose("2.13.0+cpu", None, "0.28.0+cu128", None)
    assert "a CPU torch beside a CUDA 12.8 torchvision" in msg and "TORCH=cpu" in msg
    msg = c.diagnose("2.14.1+cu128", "12.8", "0.28.0+cu128", None)
    assert "not released with torch 2.14.1+cu128 (that is 0.29.*)" in msg and "torchvision==0.29.*" in msg
    assert "TORCH=cpu asked for a CPU build" in c.diagnose("2.14.1+cu128", "12.8", "0.29.1+cu128", None, True)
    assert "not installed" in c.diagnose("2.14.1", "12.8", None, None)


def test_install_check_loads_the_real_ops_and_fails_when_nms_fails(monkeypatch, capsys):
    c = _check_torch()
    assert c.ops_error() is None and c.main([]) == 0  # this venv is sound
    import torchvision

    def broken(*a, **k):
        raise RuntimeError("operator torchvision::nms does not exist\nmore text")

    monkeypatch.setattr(torchvision.ops, "nms", broken)
    assert c.ops_error() == "RuntimeError: operator torchvision::nms does not exist"
    assert c.main([]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("check_torch: torch ") and "Run: " in err


def test_install_check_stops_when_the_cpu_index_cannot_be_reached():
    c = _check_torch()
    msg = c.check_index("http://127.0.0.1:9/whl/cpu", timeout=2)
    assert "cannot be reached" in msg and "TORCH_CPU_INDEX" in msg and "\n" not in msg
    makefile = (ROOT / "Makefile").read_text()
    assert "scripts/check_torch.py --index $(TORCH_CPU_INDEX)" in makefile
    assert "PIP_CONFIG_FILE=/dev/null" in makefile, "pip.conf's extra indexes could mix builds"
    install = makefile.index("pip install -e '.[test]'")
    assert install < makefile.index("@$(BIN)/python scripts/check_torch.py $(") < makefile.index("@touch $(STAMP)")


# ----------------------------------------------------------------------------------------- isnet bench overrides
@pytest.mark.parametrize("argv, paths, overrides", [
    (["train", "--paths", "fp32", "train.batch=4"], ["fp32"], ["train.batch=4"]),
    (["train", "train.batch=4", "--paths", "fp32", "channels-last", "model.width=0.5", "--quick"],
     ["fp32", "channels-last"], ["train.batch=4", "model.width=0.5"]),
    (["train", "--profile", "smoke", "loss.weights.style_layers=[relu2_2,relu3_3]", "--paths", "channels-last"],
     ["channels-last"], ["loss.weights.style_layers=[relu2_2,relu3_3]"]),
])
def test_bench_overrides_are_accepted_in_any_position(argv, paths, overrides):
    from isnet.cli import build_parser

    args = build_parser().parse_args(["bench", *argv])
    assert args.paths == paths and args.overrides == overrides
    learn = build_parser().parse_args(["bench", "learn", "--models", "isnet", "train.iterations=10", "--seeds", "0"])
    assert learn.models == ["isnet"] and learn.overrides == ["train.iterations=10"] and learn.seeds == [0]
