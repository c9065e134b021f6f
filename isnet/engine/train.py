"""The training loop (``train``): single process or ``torchrun``, exact resume, bf16/fp16, deterministic mode.

One iteration (docs/authors-code.md §9, reordered so that it runs on current PyTorch):

1. ``pred = G(img·known)``; generator loss on the raw prediction (D frozen);
2. generator backward and Adam step;
3. discriminator loss on (gt, pred.detach()); discriminator backward and Adam step.

The authors step D before the generator's backward, which raises the "modified by an inplace operation"
error on PyTorch ≥ 1.5 (edge-connect #124/#152/#188); stepping G first is the standard fix.

Exact resume: the sample of iteration ``i``, slot ``j`` is a pure function of ``(seed, i, j)`` (see
``isnet.data.stream.SampleStream``), never of an iterator's hidden state, so ``N + stop + resume N`` equals
``2N`` bitwise on the CPU in deterministic mode. ``train.batch`` is the global batch: under torchrun, rank ``r`` of ``w`` takes
slots ``r·b/w … (r+1)·b/w − 1`` of every step, so each rank sees different samples (its seed offset is its
slot range) and the stream does not depend on the number of processes. Gradients are averaged over ranks
by one flat all-reduce per network (gloo on CPU, NCCL on CUDA); rank 0 logs, validates and checkpoints.

>>> from isnet.study.profiles import TEST
>>> summary = train(TEST.with_overrides(["out.dir=/tmp/run"]))  # doctest: +SKIP

``isnet train --profile smoke train.iterations=50 [--resume]`` is the same from the shell.
"""
from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist

from ..data.stream import SampleStream
from ..io import atomic_write_bytes, atomic_write_text
from .checkpoint import (
    FORMAT,
    capture_rng,
    check_compatible,
    git_commit,
    list_checkpoints,
    load_latest,
    restore_rng,
    save_checkpoint,
    state_hash,
)
from .config import Config, save_config
from .device import pick_device
from .runlog import JsonlLog, RunSummary, read_log
from .step import Dist, Engine, NonFiniteLossError, determinism, seed_everything
from .validation import sample_strip, validate, validation_batches, validation_pairs


# ----------------------------------------------------------------------------------------- train()
def train(config: Config | dict, resume: bool = False, *, progress: bool = True, stop_after: int | None = None,
          on_step: Callable[[int, dict[str, float]], None] | None = None,
          on_validation: Callable[[int, dict[str, float]], None] | None = None) -> RunSummary:
    """Train a generator as ``config`` says; returns a ``RunSummary``.

    ``resume``: continue from the newest checkpoint in the run folder (a fresh start if it has none).
    A run folder that already holds checkpoints is never overwritten: pass ``resume=True`` or choose
    another ``out.dir``. ``stop_after``: stop (with a checkpoint) after this many iterations in total,
    as an interruption would.
    ``on_step(iteration, logged terms)`` is called on rank 0 after every step (notebooks);
    ``on_validation(iteration, metrics)`` after each validation, once its checkpoint is saved (Optuna
    pruning: an exception raised there, such as ``optuna.TrialPruned``, ends the run and propagates).
    """
    cfg = config if isinstance(config, Config) else Config.from_dict(config)
    cfg = cfg.resolve()
    dist_ = Dist.from_env()
    started_group = _init_distributed(dist_, cfg.train.device)
    try:
        device = pick_device(cfg.train.device, dist_.local_rank if dist_.world > 1 else None)
        with determinism(cfg.train.deterministic, device):
            return _Run(cfg, dist_, device, resume, progress, stop_after, on_step, on_validation).run()
    finally:
        if started_group and dist.is_initialized():
            dist.destroy_process_group()


def _init_distributed(dist_: Dist, device_name: str) -> bool:
    if dist_.world == 1 or dist.is_initialized():
        return False
    cuda = device_name.startswith("cuda") or (device_name == "auto" and torch.cuda.is_available())
    backend = "nccl" if cuda else "gloo"
    if cuda:
        torch.cuda.set_device(dist_.local_rank)
    dist.init_process_group(backend=backend)
    return True


class _Run:
    """One call of ``train``: the run folder, the loop, and what happens at each validation."""

    def __init__(self, cfg: Config, dist_: Dist, device: torch.device, resume: bool, progress: bool,
                 stop_after: int | None, on_step, on_validation):
        self.cfg, self.dist, self.device = cfg, dist_, device
        self.resume, self.progress = resume, progress
        self.stop_after = stop_after
        self.on_step, self.on_validation = on_step, on_validation
        self.run_dir = Path(cfg.out.dir)
        t = cfg.train
        if t.batch % dist_.world:
            raise ValueError(f"train.batch={t.batch} must be divisible by the number of processes ({dist_.world})")
        self.last_checkpoint: Path | None = None
        self.resumed_from: str | None = None
        self.best: dict[str, Any] = {}
        self.val: dict[str, float] = {}
        self.val_iteration = 0
        self.stop_requested = False

    # -- setup ---------------------------------------------------------------------------------
    def _prepare_folder(self) -> tuple[Path, dict] | None:
        existing = list_checkpoints(self.run_dir)
        if existing and not self.resume:
            raise FileExistsError(
                f"run folder {self.run_dir} already has checkpoints (newest {existing[-1].name}); pass --resume "
                "(resume=True) to continue it, or set out.dir to a new folder")
        found = load_latest(self.run_dir, map_location="cpu") if self.resume else None
        if self.resume and existing and found is None:
            raise ValueError(f"none of the {len(existing)} checkpoints in {self.run_dir / 'checkpoints'} could be read "
                             "(each is named in a warning: on the terminal, or in the executed notebook's output "
                             "under isnet study); nothing was changed")
        if found is not None:
            path, ckpt = found
            check_compatible(ckpt["config"], self.cfg, source=f"checkpoint {path}")
            if ckpt["sampler"]["world_size"] != self.dist.world and self.dist.main:
                print(f"note: resuming a {ckpt['sampler']['world_size']}-process run with {self.dist.world} "
                      "processes; the sample stream is the same, the summation order differs", file=sys.stderr)
        elif self.resume and self.dist.main:
            print(f"no checkpoint in {self.run_dir}; starting from scratch", file=sys.stderr)
        if self.dist.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "samples").mkdir(exist_ok=True)
            save_config(self.cfg, self.run_dir / "config.yaml")
            provenance = self._provenance()
            atomic_write_text(self.run_dir / "run.json", json.dumps(provenance, indent=1))  # the latest session
            self._history({"event": "resume" if found is not None else "start",
                           "from_iteration": int(found[1]["iteration"]) if found is not None else 0, **provenance})
        return found

    def _history(self, record: dict[str, Any]) -> None:
        """Append one line to ``history.jsonl``: every (re)start and end of the run, never rewritten."""
        line = json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **record}, default=str)
        with open(self.run_dir / "history.jsonl", "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    def _earlier_seconds(self) -> float:
        """Training seconds of the run's earlier sessions (0 for a fresh start)."""
        if self.resumed_from is None:
            return 0.0
        try:
            prev = json.loads((self.run_dir / "summary.json").read_text())
        except (OSError, ValueError):
            return 0.0
        return float(prev.get("total_seconds") or prev.get("seconds") or 0.0)

    def _provenance(self) -> dict[str, Any]:
        import platform

        return {"config_hash": self.cfg.config_hash(), "git": git_commit(), "torch": str(torch.__version__),
                "python": platform.python_version(), "device": str(self.device), "world_size": self.dist.world,
                "cuda": torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else None}

    def _payload(self, iteration: int) -> dict[str, Any]:
        return {
            "format": FORMAT, "iteration": iteration, **self.engine.state_dict(),
            "rng": capture_rng(),
            "sampler": {"seed": self.cfg.train.seed, "next_iteration": iteration, "batch": self.cfg.train.batch,
                        "world_size": self.dist.world, "rule": "sample(seed, iteration, slot)"},
            "config": self.cfg.to_dict(), "config_hash": self.cfg.config_hash(),
            "git": git_commit(), "torch_version": str(torch.__version__),
            "best": dict(self.best), "val": dict(self.val),
        }

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> RunSummary:
        from tqdm.auto import tqdm

        cfg, t, main = self.cfg, self.cfg.train, self.dist.main
        found = self._prepare_folder()
        seed_everything(t.seed)
        self.engine = Engine(cfg, self.device, self.dist)
        start = 0
        if found is not None:
            path, ckpt = found
            self.engine.load_state_dict(ckpt)
            start = int(ckpt["iteration"])
            self.best, self.val = dict(ckpt.get("best") or {}), dict(ckpt.get("val") or {})
            self.val_iteration = start
            self.last_checkpoint = path
            self.resumed_from = str(path)
            restore_rng(ckpt["rng"])
        self.metrics_log = JsonlLog(self.run_dir / "metrics.jsonl", main)
        self.val_log = JsonlLog(self.run_dir / "val.jsonl", main)
        self.metrics_log.truncate_after(start)
        self.val_log.truncate_after(start)

        stream = SampleStream(cfg, rank=self.dist.rank, world=self.dist.world)
        self.val_batches = validation_batches(cfg, self.run_dir) if main else []
        end = min(t.iterations, self.stop_after) if self.stop_after is not None else t.iterations
        loader = stream.loader(start, end)
        bar = tqdm(total=t.iterations, initial=start, disable=not (self.progress and main), dynamic_ncols=True,
                   desc=f"train {self.run_dir.name}", unit="it")
        window: dict[str, float] = {}
        counts: dict[str, int] = {}
        postfix: dict[str, str] = {}  # nothing about validation until one has run
        window_n, window_t = 0, time.perf_counter()
        t0, iteration = time.perf_counter(), start
        restore_signals = self._install_stop_handler() if self.dist.world == 1 else (lambda: None)
        try:
            for image, known in loader:
                iteration += 1
                try:
                    lrs = self.engine.set_learning_rates(iteration)
                    terms = self.engine.step(image, known, iteration=iteration)
                except FloatingPointError as e:
                    last = str(self.last_checkpoint) if self.last_checkpoint else "none (no checkpoint yet)"
                    raise NonFiniteLossError(
                        f"{e} at iteration {iteration} of {self.run_dir}; stopping. Last good checkpoint: {last}. "
                        "Try a lower learning rate, train.amp=none, or check the data.") from e
                for k, v in terms.items():  # D's terms are absent while D is not stepped (warm-up)
                    window[k] = window.get(k, 0.0) + v
                    counts[k] = counts.get(k, 0) + 1
                window_n += 1
                bar.update(1)
                if main and self.on_step is not None:
                    self.on_step(iteration, terms)
                if iteration % t.log_every == 0 or iteration == end:
                    now = time.perf_counter()
                    row = {"iteration": iteration, **{k: v / counts[k] for k, v in window.items()},
                           "lr_g": lrs[0], "lr_d": lrs[1], "it_per_s": window_n / max(now - window_t, 1e-9),
                           "seconds": now - t0}
                    self.metrics_log.write(row)
                    postfix["g"] = f"{row['g_total']:.3f}"
                    if "d_total" in row:
                        postfix["d"] = f"{row['d_total']:.3f}"
                    if "psnr" in self.val:
                        postfix["val_psnr"] = f"{self.val['psnr']:.2f}@{self.val_iteration}"
                    bar.set_postfix(postfix, refresh=False)
                    window, counts, window_n, window_t = {}, {}, 0, now
                stopping = self.stop_requested or iteration == end
                if iteration % t.val_every == 0 or stopping:
                    self._validate_and_save(iteration)
                    if "psnr" in self.val:
                        postfix["val_psnr"] = f"{self.val['psnr']:.2f}@{iteration}"
                        bar.set_postfix(postfix)
                if self.stop_requested:
                    break
        finally:
            bar.close()
            restore_signals()
        seconds = time.perf_counter() - t0
        return self._finish(iteration, start, seconds, stopped=iteration < t.iterations)

    def _validate_and_save(self, iteration: int) -> None:
        if self.dist.main:
            self.val, outputs = validate(self.engine.eval_generator, self.val_batches, self.device)
            self.val_iteration = iteration
            self.val_log.write({"iteration": iteration, **self.val})
            atomic_write_bytes(self.run_dir / "samples" / f"iter_{iteration:08d}.png",
                               sample_strip(self.val_batches, outputs))
            psnr = self.val.get("psnr", float("nan"))
            is_best = math.isfinite(psnr) and psnr > self.best.get("psnr", -math.inf)
            if is_best:
                self.best = {"psnr": psnr, "iteration": iteration}
            self.last_checkpoint = save_checkpoint(self.run_dir, self._payload(iteration),
                                                   keep_last=self.cfg.train.keep_last, best=is_best)
        if self.dist.world > 1:
            dist.barrier()
        if self.dist.main and self.on_validation is not None:
            self.on_validation(iteration, dict(self.val))

    def _install_stop_handler(self) -> Callable[[], None]:
        """SIGINT/SIGTERM finish the current step, save a checkpoint and return (main thread only)."""
        import threading

        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

        def handler(signum, frame):
            if self.stop_requested:  # second signal: give up at once
                signal.signal(signum, old[signum])
                raise KeyboardInterrupt
            self.stop_requested = True
            print("\nstopping after this iteration (a checkpoint will be saved); signal again to abort",
                  file=sys.stderr)

        for s in old:
            signal.signal(s, handler)
        return lambda: [signal.signal(s, h) for s, h in old.items()]

    def _finish(self, iteration: int, start: int, seconds: float, stopped: bool) -> RunSummary:
        weights = {"generator": state_hash(self.engine.G), "discriminator": state_hash(self.engine.D)}
        best_path = self.run_dir / "checkpoints" / "best.pt"
        summary = RunSummary(
            run_dir=str(self.run_dir), config_hash=self.cfg.config_hash(), iteration=iteration,
            iterations=self.cfg.train.iterations, stopped_early=stopped,
            resumed_from=self.resumed_from,
            last_checkpoint=str(self.last_checkpoint) if self.last_checkpoint else None,
            best_checkpoint=str(best_path) if best_path.exists() else None,
            best_psnr=self.best.get("psnr"), val=dict(self.val), seconds=seconds,
            iterations_per_second=(iteration - start) / seconds if seconds > 0 else 0.0,
            total_seconds=self._earlier_seconds() + seconds,
            world_size=self.dist.world, device=str(self.device), weights=weights)
        rank_dir = self.run_dir / "ranks"
        rank_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(rank_dir / f"rank{self.dist.rank}.json",
                          json.dumps({"rank": self.dist.rank, "iteration": iteration, **weights}))
        if self.dist.main:
            atomic_write_text(self.run_dir / "summary.json", json.dumps(summary.to_dict(), indent=1, default=str))
            self._history({"event": "stop" if stopped else "finish", "iteration": iteration,
                           "seconds": round(seconds, 3), "total_seconds": round(summary.total_seconds, 3)})
        return summary


__all__ = ["Dist", "Engine", "JsonlLog", "NonFiniteLossError", "RunSummary", "determinism", "read_log", "sample_strip",
           "seed_everything", "train", "validate", "validation_batches", "validation_pairs"]
