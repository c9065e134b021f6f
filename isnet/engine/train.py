"""The training loop: single process or ``torchrun``, exact resume, bf16/fp16, deterministic mode.

One iteration (docs/authors-code.md §9, reordered so that it runs on current PyTorch):

1. ``pred = G(img·known)``; generator loss on the raw prediction (D frozen);
2. generator backward and Adam step;
3. discriminator loss on (gt, pred.detach()); discriminator backward and Adam step.

The authors step D before the generator's backward, which raises the "modified by an inplace operation"
error on PyTorch ≥ 1.5 (edge-connect #124/#152/#188); stepping G first is the standard fix.

Exact resume: the sample of iteration ``i``, slot ``j`` is a pure function of ``(seed, i, j)`` (see
``isnet.data.stream.SampleStream``), never of an iterator's hidden state, so ``N + stop + resume N`` equals ``2N`` bitwise on
the CPU in deterministic mode. ``train.batch`` is the global batch: under torchrun, rank ``r`` of ``w`` takes
slots ``r·b/w … (r+1)·b/w − 1`` of every step, so each rank sees different samples (its seed offset is its
slot range) and the stream does not depend on the number of processes. Gradients are averaged over ranks
by one flat all-reduce per network (gloo on CPU, NCCL on CUDA); rank 0 logs, validates and checkpoints.

>>> from isnet.config import PROFILES
>>> summary = train(PROFILES["test"].with_overrides(["out.dir=/tmp/run"]))  # doctest: +SKIP

``isnet train --profile smoke train.iterations=50 [--resume]`` is the same from the shell.
"""
from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import random
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ..data import PairsDataset, Skipped, make_pairs
from ..data.stream import SampleStream
from ..io import atomic_write_bytes, atomic_write_text, encode_png
from ..method.losses import InpaintingLoss
from ..method.masks import PAPER_BUCKETS
from ..method.metrics import score_batch
from .checkpoint import (
    FORMAT,
    build_models,
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
from .device import autocast, pick_device


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or inf; the message names the iteration and the last good checkpoint."""


# ----------------------------------------------------------------------------------------- environment
@dataclass(frozen=True)
class Dist:
    """Where this process sits in a (possibly one-process) job."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> "Dist":
        world = int(os.environ.get("WORLD_SIZE", "1"))
        return cls(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def determinism(enabled: bool, device: torch.device) -> Iterator[None]:
    """Deterministic algorithms (strict on the CPU, warn-only on CUDA) and no cuDNN autotuning; restored after.

    On CUDA some ops used by variants or losses have no deterministic kernel (e.g. reflection-pad or
    bilinear backward); there the flag warns instead of stopping the run, and bitwise reproducibility
    is claimed for the CPU only.
    """
    old = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
           torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    if enabled:
        if device.type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=device.type != "cpu")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    else:
        torch.backends.cudnn.benchmark = device.type == "cuda"
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(old[0], warn_only=old[1])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = old[2], old[3]


# ----------------------------------------------------------------------------------------- the step
class Engine:
    """Generator, discriminator, loss, optimizers and AMP scalers; ``step(image, known)`` trains once.

    Also used by ``isnet bench table3`` to time training steps without a data loader.
    """

    def __init__(self, cfg: Config, device: torch.device | str = "cpu", dist_: Dist = Dist(),
                 loss: nn.Module | None = None):

        self.cfg, self.device, self.dist = cfg, torch.device(device), dist_
        t = cfg.train
        torch.manual_seed(t.seed)  # same initial weights on every rank (and broadcast below to be sure)
        g, d = build_models(cfg)
        self.memory_format = torch.channels_last if t.channels_last else torch.contiguous_format
        self.G = g.to(self.device, memory_format=self.memory_format).train()
        self.D = d.to(self.device, memory_format=self.memory_format).train()
        self.loss = (loss or InpaintingLoss(cfg.loss.loss_weights())).to(self.device)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=t.lr_g, betas=tuple(t.betas))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=t.lr_d, betas=tuple(t.betas))
        fp16 = t.amp == "fp16"
        self.scaler_g = torch.amp.GradScaler(self.device.type, enabled=fp16)
        self.scaler_d = torch.amp.GradScaler(self.device.type, enabled=fp16)
        if dist_.world > 1:
            self._broadcast_from_rank0()
        # train.ema > 0: an averaged copy of G (eval mode: its spectral norms use the copied u/v as they are)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False) if t.ema > 0 else None
        self.ema_updates = 0
        if t.compile:
            self._compile()

    def _compile(self) -> None:
        """``train.compile``: ``nn.Module.compile`` of G, in place (state-dict keys and checkpoints unchanged).

        G's finite-input check is dropped (a graph break; the loss's finite check still stops a bad run). Only
        G: the VGG backbone compiled ran slower than eager oneDNN on the CPU (0.83× the step, ``isnet bench
        train``), and D's step runs D twice before one backward, so spectral norm's in-place u/v updates would
        invalidate tensors a compiled D saved. The EMA copy stays eager (validation only).
        """
        if hasattr(self.G, "validate_inputs"):
            self.G.validate_inputs = False
        self.G.compile()

    @property
    def eval_generator(self) -> nn.Module:
        """The generator that validation, evaluation and inference use: the EMA copy when there is one."""
        return self.G_ema if self.G_ema is not None else self.G

    def adversarial_active(self, iteration: int | None) -> bool:
        """Whether the adversarial terms and D's update run at this (1-based) iteration.

        Never when the adversarial weight is 0 (the generator's loss does not look at D, so D's step
        would be wasted work), and not during the ``train.adv_warmup`` iterations.
        """
        if self.loss.weights.adversarial == 0:
            return False
        return iteration is None or iteration > self.cfg.train.adv_warmup

    @torch.no_grad()
    def _update_ema(self) -> None:
        """ema ← d·ema + (1 − d)·G with d = min(decay, (1 + n)/(10 + n)), so early averages are not stale."""
        self.ema_updates += 1
        n = self.ema_updates
        d = min(self.cfg.train.ema, (1 + n) / (10 + n))
        for pe, p in zip(self.G_ema.parameters(), self.G.parameters()):
            pe.lerp_(p.detach(), 1 - d)
        for be, b in zip(self.G_ema.buffers(), self.G.buffers()):
            be.copy_(b)

    # -- distributed helpers -------------------------------------------------------------------
    @torch.no_grad()
    def _broadcast_from_rank0(self) -> None:
        for module in (self.G, self.D):
            for t in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(t.data, 0)

    def _average_gradients(self, module: nn.Module) -> None:
        """One flat all-reduce of every gradient, divided by the world size (what DDP computes)."""
        if self.dist.world == 1:
            return
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.dist.world
        offset = 0
        for g in grads:
            n = g.numel()
            g.copy_(flat[offset:offset + n].view_as(g))
            offset += n

    def _require_finite(self, which: str, value: float) -> None:
        """Raise on a NaN/inf loss; under torchrun every rank raises together (one tiny all-reduce)."""
        if self.dist.world > 1:
            flag = torch.tensor([0.0 if math.isfinite(value) else 1.0], device=self.device)
            dist.all_reduce(flag)
            if flag.item() and math.isfinite(value):
                raise FloatingPointError(f"the {which} loss is not finite on another rank")
        if not math.isfinite(value):
            raise FloatingPointError(f"the {which} loss is {value}")

    # -- one iteration -------------------------------------------------------------------------
    def prepare(self, image: torch.Tensor, known: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        image = image.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
        known = known.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
        return image, known

    def step(self, image: torch.Tensor, known: torch.Tensor, iteration: int | None = None) -> dict[str, float]:
        """Generator backward and step first, then the discriminator's. Returns the logged terms.

        ``iteration`` (1-based) decides whether the adversarial warm-up is over; None = it is.
        Raises ``FloatingPointError`` (before any weight changes) if the generator or
        discriminator loss is not finite.
        """
        image, known = self.prepare(image, known)
        amp = self.cfg.train.amp
        adversarial = self.adversarial_active(iteration)
        with autocast(self.device, amp):
            pred = self.G(image * known)
            g_total, g_log = self.loss.generator_loss(pred, image, known, self.D, adversarial=adversarial)
        self._require_finite("generator", g_log["total"])
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler_g.scale(g_total).backward()
        self._average_gradients(self.G)
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        if self.G_ema is not None:
            self._update_ema()
        g_terms = {f"g_{k}": v for k, v in g_log.items()}
        if not adversarial:
            return g_terms

        with autocast(self.device, amp):
            d_total, d_log = self.loss.discriminator_loss(pred.detach(), image, self.D)
        self._require_finite("discriminator", d_log["total"])
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler_d.scale(d_total).backward()
        self._average_gradients(self.D)
        self.scaler_d.step(self.opt_d)
        self.scaler_d.update()
        return {**g_terms, **{f"d_{k.removeprefix('d_')}": v for k, v in d_log.items()}}

    # -- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = {
            "generator": self.G.state_dict(), "discriminator": self.D.state_dict(),
            "optimizer_g": self.opt_g.state_dict(), "optimizer_d": self.opt_d.state_dict(),
            "scaler_g": self.scaler_g.state_dict(), "scaler_d": self.scaler_d.state_dict(),
        }
        if self.G_ema is not None:
            state["generator_ema"] = self.G_ema.state_dict()
            state["ema_updates"] = self.ema_updates
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.G.load_state_dict(state["generator"])
        if self.G_ema is not None:
            self.G_ema.load_state_dict(state["generator_ema"])
            self.ema_updates = int(state["ema_updates"])
        self.D.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["optimizer_g"])
        self.opt_d.load_state_dict(state["optimizer_d"])
        if state.get("scaler_g"):
            self.scaler_g.load_state_dict(state["scaler_g"])
        if state.get("scaler_d"):
            self.scaler_d.load_state_dict(state["scaler_d"])


# ----------------------------------------------------------------------------------------- data
def validation_pairs(cfg: Config, run_dir: Path | None = None, progress: bool = False):
    """``isnet.data.PairsDataset`` of ``data.pairs``, or fixed pairs made once in the run folder."""

    d = cfg.data
    if d.pairs:
        return PairsDataset(d.pairs)
    assert run_dir is not None, "validation pairs need data.pairs or a run folder to write them to"
    manifest = Path(run_dir) / "val_pairs.csv"
    if not manifest.exists():
        opts = {"root": d.root} if d.root else {}
        per_bucket = max(1, math.ceil(d.val_pairs / len(PAPER_BUCKETS)))
        make_pairs(d.source, d.held_out_split(), d.size, per_bucket, manifest, seed=cfg.train.seed,
                        upscale=d.upscale, source_opts=opts, progress=progress)
    return PairsDataset(manifest)


def validation_batches(cfg: Config, run_dir: Path | None = None, batch_size: int = 8,
                       progress: bool = False) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The validation pairs as (image, known) batches, loaded once (they are few and fixed)."""

    pairs = validation_pairs(cfg, run_dir, progress)
    items = [x for x in (pairs[i] for i in range(len(pairs))) if not isinstance(x, Skipped)]
    if not items:
        raise ValueError(f"no readable validation pairs in {cfg.data.pairs or run_dir}")
    return [(torch.stack([x[0] for x in items[i:i + batch_size]]), torch.stack([x[1] for x in items[i:i + batch_size]]))
            for i in range(0, len(items), batch_size)]


# ----------------------------------------------------------------------------------------- validation
@torch.no_grad()
def validate(generator: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]],
             device: torch.device) -> tuple[dict[str, float], list[torch.Tensor]]:
    """Mean PSNR, SSIM, MAE (and hole-only) over the fixed pairs in fp32, and the outputs for the sample grid.

    Eval mode does no spectral-norm power iteration, so validating never changes the weights or buffers.
    """

    was_training = generator.training
    generator.eval()
    scores: dict[str, list[torch.Tensor]] = {}
    outputs = []
    try:
        for image, known in batches:
            image, known = image.to(device), known.to(device)
            pred = generator(image * known).float()
            outputs.append(pred.cpu())
            for k, v in score_batch(pred, image, known).items():
                scores.setdefault(k, []).append(v.double().cpu())
    finally:
        generator.train(was_training)
    means = {}
    for k, vs in scores.items():
        v = torch.cat(vs)
        v = v[torch.isfinite(v)]
        means[k] = float(v.mean()) if v.numel() else float("nan")
    return means, outputs


def sample_strip(batches: list[tuple[torch.Tensor, torch.Tensor]], outputs: list[torch.Tensor],
                rows: int = 8) -> bytes:
    """PNG bytes of rows [gt | masked input, holes white | output | composite] (the authors' strip + composite)."""
    from torchvision.utils import make_grid

    image = torch.cat([b[0] for b in batches])[:rows].float().cpu()
    known = torch.cat([b[1] for b in batches])[:rows].float().cpu()
    pred = torch.cat(outputs)[:rows].float().cpu()
    masked = image * known + (1 - known)
    comp = pred * (1 - known) + image * known
    tiles = torch.stack([image, masked, pred, comp], 1).flatten(0, 1)
    grid = make_grid(tiles, nrow=4, padding=2, pad_value=1.0)
    return encode_png((grid.clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8))


# ----------------------------------------------------------------------------------------- logs
class JsonlLog:
    """Append-only JSON-lines log (one dict per line) that reports read with ``pandas.read_json(lines=True)``.

    On resume, rows after the checkpoint's iteration (written before a crash) are dropped so the log
    matches the weights.
    """

    def __init__(self, path: Path, enabled: bool = True):
        self.path, self.enabled = path, enabled

    def truncate_after(self, iteration: int) -> None:
        if not (self.enabled and self.path.exists()):
            return
        keep = [line for line in self.path.read_text().splitlines()
                if line.strip() and json.loads(line).get("iteration", 0) <= iteration]
        atomic_write_text(self.path, "".join(line + "\n" for line in keep))

    def write(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(row, default=float) + "\n")
            f.flush()


def read_log(run_dir: str | os.PathLike, which: str = "metrics"):
    """A run's ``metrics`` (per-step losses) or ``val`` (validation) log as a DataFrame."""
    import pandas as pd

    path = Path(run_dir) / f"{which}.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; is {run_dir} a training run folder?")
    return pd.read_json(path, lines=True)


# ----------------------------------------------------------------------------------------- summary
@dataclass
class RunSummary:
    """What ``train`` returns (and writes to ``summary.json``)."""

    run_dir: str
    config_hash: str
    iteration: int
    iterations: int
    stopped_early: bool
    resumed_from: str | None
    last_checkpoint: str | None
    best_checkpoint: str | None
    best_psnr: float | None
    val: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    iterations_per_second: float = 0.0
    world_size: int = 1
    device: str = "cpu"
    weights: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
                             "(see the warnings above); nothing was changed")
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
            atomic_write_text(self.run_dir / "run.json", json.dumps(self._provenance(), indent=1))
        return found

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
                           "lr_g": t.lr_g, "lr_d": t.lr_d, "it_per_s": window_n / max(now - window_t, 1e-9),
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
            world_size=self.dist.world, device=str(self.device), weights=weights)
        rank_dir = self.run_dir / "ranks"
        rank_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(rank_dir / f"rank{self.dist.rank}.json",
                          json.dumps({"rank": self.dist.rank, "iteration": iteration, **weights}))
        if self.dist.main:
            atomic_write_text(self.run_dir / "summary.json", json.dumps(summary.to_dict(), indent=1, default=str))
        return summary
