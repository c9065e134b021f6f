"""The loss-weight search: space, seeding, pruning, exact budgets over several workers, retries of killed
workers (SQLite heartbeats), journal and PostgreSQL storages, Table 1 and figures, the CLI.

Training is replaced by ``fake_train``, a deterministic PSNR curve computed from the weights, so every
test runs in seconds; the worker subprocesses import it from this file.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import fields
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from isnet.study import search
from isnet.study.profiles import TEST
from isnet.study.search import (SEARCHED_WEIGHTS, build_sampler, config_for_weights, create_search, load_search,
                          open_storage, requeue_running_trials, run_search, save_figures, search_figures,
                          search_space, table1)

optuna.logging.set_verbosity(optuna.logging.WARNING)

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
BASE = TEST.with_overrides(["train.iterations=40", "train.val_every=10"])
GOOD = {"l1": 100.0, "adversarial": 1.0, "style": 1.0, "perceptual": 1.0, "feature_matching": 1.0}


def fake_train(cfg, on_validation=None, resume=False, progress=False):
    """A stand-in for ``isnet.engine.train.train``: PSNR rises to a value set by the L1 and adversarial weights.

    ``style > 100`` makes the first quarter of training terrible (inside the pruner's warm-up); ``l1 < 1``
    makes the whole curve poor. ``$FAKE_TRAIN_SLEEP`` seconds pass before each validation.
    """
    w = dict(cfg.loss.weights)
    iters, every = cfg.train.iterations, cfg.train.val_every
    sleep = float(os.environ.get("FAKE_TRAIN_SLEEP", "0"))
    run_dir = Path(cfg.out.dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if resume:
        (run_dir / "resumed").touch()
    final = 20 + math.log10(w["l1"]) - 0.5 * math.log10(w["adversarial"])
    psnr = final
    for it in range(every, iters + 1, every):
        time.sleep(sleep)
        psnr = final - 2 * (1 - it / iters)
        if w["style"] > 100 and it <= iters // 4:
            psnr = 5.0
        if on_validation is not None:
            on_validation(it, {"psnr": psnr, "mae": 30 - psnr})
    return {"val": {"psnr": psnr, "mae": 30 - psnr}, "iteration": iters, "stopped_early": False}


def good_trials(study):
    return study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))


# ----------------------------------------------------------------------------------------- space and samplers
def test_search_space_is_log_uniform_on_the_authors_range():
    from isnet.losses import LossWeights

    assert set(SEARCHED_WEIGHTS) <= {f.name for f in fields(LossWeights)}, "params must be LossWeights fields"
    study = optuna.create_study(sampler=build_sampler("random", seed=0))
    study.optimize(lambda t: sum(search_space(t).values()), n_trials=300)
    for name in SEARCHED_WEIGHTS:
        dist = study.trials[0].distributions[name]
        assert (dist.low, dist.high, dist.log) == (0.1, 300.0, True)
        values = [t.params[name] for t in study.trials]
        assert 0.1 <= min(values) and max(values) <= 300
        # log-uniform: half the mass below the geometric midpoint sqrt(0.1 * 300) ≈ 5.5 (uniform: 1.8 %)
        below = sum(v < math.sqrt(30) for v in values) / len(values)
        assert 0.4 < below < 0.6, (name, below)


def test_searched_weights_reach_the_loss_config():
    weights = {"l1": 2.5, "adversarial": 0.3, "style": 120.0, "perceptual": 7.0, "feature_matching": 0.2}
    cfg = config_for_weights(BASE, weights, run_dir="/tmp/x")
    lw = cfg.loss.loss_weights()
    assert {k: getattr(lw, k) for k in weights} == weights
    assert cfg.out.dir == "/tmp/x" and cfg.train == BASE.train


@pytest.mark.parametrize("sampler", ["tpe", "random"])
def test_sampler_is_reproducible_with_a_seed(sampler):
    def params(seed):
        study = optuna.create_study(sampler=build_sampler(sampler, seed), direction="maximize")
        study.optimize(lambda t: -sum(math.log(v) ** 2 for v in search_space(t).values()), n_trials=13)
        return [t.params for t in study.trials]

    first = params(3)
    assert first == params(3)  # 13 trials: past TPE's 10 random start-up trials
    assert first != params(4)
    assert len({tuple(p.values()) for p in first}) == len(first)


def test_unknown_sampler_pruner_and_storage_are_refused():
    with pytest.raises(ValueError, match="unknown sampler 'grid'"):
        build_sampler("grid")
    with pytest.raises(ValueError, match="unknown pruner 'hyperband'"):
        search.build_pruner("hyperband")
    with pytest.raises(ValueError, match="redis://x.*not understood"):
        open_storage("redis://x")
    with pytest.raises(ValueError, match="give a file"):
        open_storage("journal://")


# ----------------------------------------------------------------------------------------- objective and pruning
def test_bad_curve_is_pruned_after_warmup_not_before(tmp_path):
    storage = open_storage(None)
    study = create_search("prune", storage)
    for _ in range(3):
        study.enqueue_trial(GOOD)
    study.enqueue_trial({**GOOD, "style": 200.0})  # terrible at iteration 10 only (inside the warm-up)
    study.enqueue_trial({**GOOD, "l1": 0.1})        # poor throughout
    run_search("prune", storage, 5, BASE, train_fn=fake_train, runs_dir=str(tmp_path), pruner="median",
               warmup=0.5, n_startup_trials=3, progress=False)
    t = study.trials
    assert [x.state for x in t] == [TrialState.COMPLETE] * 4 + [TrialState.PRUNED]
    # warm-up = 0.5 · 40 = 20 iterations: reported at 10 and 20, pruned at the first step past the warm-up
    assert sorted(t[4].intermediate_values) == [10, 20]
    assert t[3].intermediate_values[10] == 5.0 and t[3].value == pytest.approx(22.0)
    assert t[0].value == pytest.approx(22.0) and t[0].user_attrs["mae"] == pytest.approx(8.0)
    df = table1(study)
    assert df["state"].tolist() == ["COMPLETE"] * 4 + ["PRUNED"]
    assert df["PSNR"].iloc[-1] == pytest.approx(t[4].intermediate_values[20])


def test_objective_without_validation_hook_uses_the_summary(tmp_path):
    def no_hook(cfg, **_):  # never calls on_validation
        return fake_train(cfg)

    study = create_search("nohook", None)
    study.enqueue_trial(GOOD)
    objective = search.Objective(BASE, runs_dir=str(tmp_path), train_fn=no_hook)
    with pytest.warns(RuntimeWarning, match="no on_validation hook"):
        study.optimize(objective, n_trials=1)
    assert study.trials[0].value == pytest.approx(22.0)
    assert study.trials[0].intermediate_values == {}


def test_interrupted_training_is_requeued_and_resumed(tmp_path):
    def interrupted(cfg, on_validation=None, resume=False, progress=False):
        return {"val": {"psnr": 18.0}, "iteration": 7, "stopped_early": True}

    storage = open_storage(None)
    with pytest.raises(search.SearchInterrupted, match="trial 0 was interrupted at iteration 7"):
        run_search("int", storage, 1, BASE, train_fn=interrupted, runs_dir=str(tmp_path), progress=False)
    study = run_search("int", storage, 1, BASE, train_fn=fake_train, runs_dir=str(tmp_path), progress=False)
    first, retry = study.trials
    assert first.state == TrialState.FAIL and retry.state == TrialState.COMPLETE
    assert search.retried_from(retry) == 0 and retry.params == first.params
    assert retry.user_attrs["run_dir"] == first.user_attrs["run_dir"]
    assert (Path(retry.user_attrs["run_dir"]) / "resumed").exists()


# ----------------------------------------------------------------------------------------- exact budgets
def test_budget_rule_counts_live_trials_before_and_ignores_the_replaced_one():
    study = optuna.create_study()
    t0, t1, t2 = study.ask(), study.ask(), study.ask()
    search._budget_check(t0, 2)
    search._budget_check(t1, 2)
    with pytest.raises(search._OverBudget):
        search._budget_check(t2, 2)
    study.tell(t0, state=TrialState.FAIL)
    search._budget_check(t2, 2)  # t0 failed: t2 takes its place
    search._retry_callback(None)(study, study.trials[1])  # t1 re-queued while still RUNNING (interrupt path)
    t3 = study.ask()
    assert search.retried_from(t3) == 1
    study.tell(t2, 1.0)
    search._budget_check(t3, 2)  # t1 is not counted against its own retry


def test_threads_in_one_worker_finish_exactly_n(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_TRAIN_SLEEP", "0.01")
    study = run_search("threads", f"sqlite:///{tmp_path}/o.db", 7, BASE, sampler="random", n_jobs=3,
                       train_fn=fake_train, runs_dir=str(tmp_path / "runs"), heartbeat_interval=None,
                       progress=False)
    assert len(good_trials(study)) == 7
    assert all(t.user_attrs.get("over_budget") for t in study.get_trials(states=(TrialState.FAIL,)))


def test_diverging_trials_fail_alone_and_a_broken_setup_stops_the_search(tmp_path):
    calls = []

    def diverges(cfg, on_validation=None, resume=False, progress=False):
        calls.append(cfg.out.dir)
        if len(calls) == 2:
            raise FloatingPointError("the generator loss is nan")
        return fake_train(cfg, on_validation)

    study = run_search("nan", None, 3, BASE, train_fn=diverges, runs_dir=str(tmp_path), progress=False)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.FAIL] + [TrialState.COMPLETE] * 2

    def always(cfg, **_):
        raise FloatingPointError("the generator loss is nan")

    with pytest.raises(RuntimeError, match=r"[34] trials failed \(limit max_failures=3\)"):
        run_search("broken", None, 3, BASE, n_jobs=2, train_fn=always, runs_dir=str(tmp_path), progress=False)


def test_a_study_refuses_a_different_base_config(tmp_path):
    url = f"journal://{tmp_path}/j.log"
    run_search("same", url, 1, BASE, train_fn=fake_train, runs_dir=str(tmp_path / "r"), progress=False)
    with pytest.raises(ValueError, match="train.iterations: study has 40, given 80"):
        run_search("same", url, 2, BASE.with_overrides(["train.iterations=80"]), train_fn=fake_train,
                   runs_dir=str(tmp_path / "r"), progress=False)


# ----------------------------------------------------------------------------------------- worker processes
WORKER = textwrap.dedent("""
    import json, os, sys, time
    sys.path.insert(0, {tests!r})
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from test_search import BASE, fake_train
    from isnet.study.search import run_search

    opts = json.loads(sys.argv[1])
    if opts.get("ready"):
        open(opts["ready"] + str(os.getpid()), "w").close()
        while not os.path.exists(opts["go"]):
            time.sleep(0.02)
    run_search(opts["name"], opts["storage"], opts["n"], BASE, sampler=opts["sampler"], seed=0,
               train_fn=fake_train, runs_dir=opts["runs"], heartbeat_interval=opts.get("hb"),
               grace_period=opts.get("grace"), progress=False)
""")


def _spawn(tmp_path: Path, opts: dict, sleep: float) -> subprocess.Popen:
    script = tmp_path / "worker.py"
    if not script.exists():
        script.write_text(WORKER.format(tests=str(TESTS)))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "FAKE_TRAIN_SLEEP": str(sleep)}
    return subprocess.Popen([sys.executable, str(script), json.dumps(opts)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _two_workers_finish_n(tmp_path: Path, storage: str, n: int = 8) -> None:
    opts = {"name": "pair", "storage": storage, "n": n, "sampler": "random", "runs": str(tmp_path / "runs"),
            "ready": str(tmp_path / "ready-"), "go": str(tmp_path / "go")}
    procs = [_spawn(tmp_path, opts, sleep=0.1) for _ in range(2)]
    deadline = time.time() + 60
    while len(list(tmp_path.glob("ready-*"))) < 2:  # both imported: start them together
        assert time.time() < deadline and all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        time.sleep(0.05)
    (tmp_path / "go").touch()
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0, out
    study = load_search("pair", storage)
    good = good_trials(study)
    assert len(good) == n, [(t.number, t.state) for t in study.trials]
    assert len({t.number for t in good}) == n
    assert len({tuple(sorted(t.params.items())) for t in good}) == n, "two trials drew the same weights"
    assert len({t.user_attrs["worker"] for t in good}) == 2, "one worker did all the work"
    others = [t for t in study.trials if t.state not in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert all(t.state == TrialState.FAIL and t.user_attrs.get("over_budget") and not t.params for t in others)


def test_two_worker_processes_share_a_journal_file(tmp_path):
    _two_workers_finish_n(tmp_path, f"journal://{tmp_path}/optuna.log")


def test_killed_worker_trial_is_failed_and_retried_on_sqlite(tmp_path):
    _killed_worker_is_retried(tmp_path, f"sqlite:///{tmp_path}/optuna.db")


def _killed_worker_is_retried(tmp_path: Path, storage: str) -> None:
    opts = {"name": "kill", "storage": storage, "n": 1, "sampler": "random", "runs": str(tmp_path / "runs"),
            "hb": 1, "grace": 2}
    victim = _spawn(tmp_path, opts, sleep=60)  # would train for minutes
    deadline = time.time() + 60
    while True:
        assert victim.poll() is None, victim.communicate()[0]
        assert time.time() < deadline, "the first worker never started its trial"
        try:
            running = load_search("kill", storage).get_trials(states=(TrialState.RUNNING,))
        except KeyError:  # study not created yet
            running = []
        # Its weights are drawn one by one; run_dir is recorded after the last draw, before training. (Waiting on
        # the first drawn weight alone killed some victims mid-draw: a partial set the retry then completed.)
        if running and "run_dir" in running[0].user_attrs:
            break
        time.sleep(0.1)
    victim.send_signal(signal.SIGKILL)
    victim.wait()

    rescuer = _spawn(tmp_path, opts, sleep=0)
    out, _ = rescuer.communicate(timeout=60)
    assert rescuer.returncode == 0, out
    killed, retry = load_search("kill", storage).trials
    assert killed.state == TrialState.FAIL
    assert retry.state == TrialState.COMPLETE
    assert search.retried_from(retry) == killed.number == 0
    assert retry.params == killed.params
    assert (Path(retry.user_attrs["run_dir"]) / "resumed").exists(), "the retry did not resume the trial's folder"


def test_journal_has_no_heartbeat_so_running_trials_are_requeued_by_hand(tmp_path):
    url = f"journal://{tmp_path}/j.log"
    storage = open_storage(url)
    assert not search.has_heartbeat(storage) and search.has_heartbeat(open_storage(f"sqlite:///{tmp_path}/a.db"))
    study = create_search("orphan", storage)
    orphan = study.ask()  # a worker that died mid-trial
    search_space(orphan)
    assert requeue_running_trials(study) == [0]
    run_search("orphan", url, 1, BASE, train_fn=fake_train, runs_dir=str(tmp_path / "runs"), progress=False)
    states = [t.state for t in load_search("orphan", url).trials]
    assert states == [TrialState.FAIL, TrialState.COMPLETE]


# ----------------------------------------------------------------------------------------- PostgreSQL
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """A throwaway server from scripts/pg_test_server.sh; skipped only where binaries are absent (never in CI)."""
    data = tempfile.mkdtemp(prefix="isnet-pg-")
    script = ROOT / "scripts" / "pg_test_server.sh"
    env = {**os.environ, "PG_TEST_PORT": str(_free_port())}
    proc = subprocess.run(["bash", str(script), "start", data], capture_output=True, text=True, env=env, timeout=120)
    if proc.returncode == 3:
        reason = f"no PostgreSQL server binaries: {proc.stderr.strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the PostgreSQL test: {reason}")
        pytest.skip(reason)
    assert proc.returncode == 0, f"pg_test_server.sh failed:\n{proc.stdout}\n{proc.stderr}"
    try:
        yield proc.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run(["bash", str(script), "stop", data], capture_output=True, timeout=60)
        shutil.rmtree(data, ignore_errors=True)


def test_pg_script_reports_missing_binaries_with_the_install_line(tmp_path):
    env = {**os.environ, "PG_BIN": str(tmp_path / "nowhere")}
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "pg_test_server.sh"), "start", str(tmp_path / "pg")],
                          capture_output=True, text=True, env=env, timeout=30)
    assert proc.returncode == 3 and "apt-get install -y postgresql" in proc.stderr


def test_two_worker_processes_share_a_postgresql_server(tmp_path, postgres_url):
    assert postgres_url.startswith("postgresql://")
    _two_workers_finish_n(tmp_path, postgres_url)


# ----------------------------------------------------------------------------------------- outputs
def test_table1_and_figures(tmp_path):
    study = run_search("out", None, 8, BASE, sampler="random", train_fn=fake_train, runs_dir=str(tmp_path / "r"),
                       pruner="none", progress=False)
    df = table1(study, top=5)
    assert list(df.columns[:7]) == ["L_l1", "L_D", "L_style", "L_perc", "L_FM", "PSNR", "MAE"]
    assert len(df) == 5 and df["PSNR"].is_monotonic_decreasing
    best = study.best_trial
    assert df.loc[0, "trial"] == best.number and df.loc[0, "L_l1"] == best.params["l1"]
    assert df.loc[0, "MAE"] == pytest.approx(30 - best.value)

    import matplotlib

    matplotlib.use("Agg")
    figs = search_figures(study)
    assert set(figs) == {"history", "importances", "slices", "intermediate"}
    paths = save_figures(figs, tmp_path / "fig")
    assert [p.name for p in paths] == [f"search_{k}.png" for k in figs]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)
    with pytest.raises(FileExistsError, match="search_history.png"):
        save_figures(figs, tmp_path / "fig")
    save_figures(figs, tmp_path / "fig", overwrite=True)
    with pytest.raises(ValueError, match="at least 2 completed trials"):
        search.plot_importances(create_search("empty", None))


# ----------------------------------------------------------------------------------------- CLI
def test_cli_runs_a_search_and_prints_table1(tmp_path, monkeypatch, capsys):
    from isnet.cli import main

    monkeypatch.setattr(search, "_default_train_fn", lambda: fake_train)
    log = tmp_path / "cli.log"
    argv = ["search", "--profile", "test", "train.iterations=20", "--storage", f"journal://{log}",
            "--n-trials", "3", "--sampler", "random", "--seed", "1", "--runs-dir", str(tmp_path / "runs"),
            "--no-progress", "--figures", str(tmp_path / "fig")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "L_l1" in out and "COMPLETE 3" in out and "search_slices.png" in out
    study = load_search("loss-weights", f"journal://{log}")
    assert study.user_attrs["n_trials"] == 3 and study.user_attrs["sampler"] == "random"
    assert study.user_attrs["base_config"]["train.iterations"] == 20

    cfg = tmp_path / "c.yaml"
    cfg.write_text("train:\n  iterations: 20\n")
    assert main(["search", "--config", str(cfg), "--storage", "bogus://x", "--n-trials", "1"]) == 2
    assert "bogus://x" in capsys.readouterr().err


@pytest.mark.slow
def test_a_real_training_trial_reports_each_validation(tmp_path):
    """isnet.engine.train.train's on_validation hook feeds the pruner; the objective is the final validation PSNR."""
    base = TEST.with_overrides(["train.iterations=4", "train.val_every=2", "data.val_pairs=2"])
    study = run_search("real", None, 1, base, sampler="random", runs_dir=str(tmp_path), progress=False)
    (trial,) = study.trials
    assert trial.state == TrialState.COMPLETE
    assert sorted(trial.intermediate_values) == [2, 4] and trial.value == trial.intermediate_values[4]
    summary = json.loads((Path(trial.user_attrs["run_dir"]) / "summary.json").read_text())
    assert summary["val"]["psnr"] == pytest.approx(trial.value)
    assert summary["val"]["mae"] == pytest.approx(trial.user_attrs["mae"])
