"""The training step: the process's place in a (torchrun) job, seeding and determinism, and ``Engine`` (G, D, loss, optimizers, one ``step``)."""
from __future__ import annotations

import contextlib
import copy
import math
import os
import random
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ..method.losses import InpaintingLoss
from .checkpoint import (
    build_models,
)
from .config import Config
from .device import autocast


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or inf; the message names the iteration and the last good checkpoint."""


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

    def set_learning_rates(self, iteration: int) -> tuple[float, float]:
        """``train.lr_schedule``: set G's and D's rates for the (1-based) ``iteration``; returns them."""
        t = self.cfg.train
        factor = t.lr_factor(iteration)
        for opt, base in ((self.opt_g, t.lr_g), (self.opt_d, t.lr_d)):
            for group in opt.param_groups:
                group["lr"] = base * factor
        return t.lr_g * factor, t.lr_d * factor

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
