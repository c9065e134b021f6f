"""Devices: choosing one, naming it, autocast, bf16 support, and timing work on it (synchronise, median)."""
from __future__ import annotations

import contextlib
import os
import platform
import statistics
import time
from typing import Callable

import torch

AMP_DTYPES = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class DeviceError(ValueError):
    """A device option this machine cannot honour (no CUDA, no such GPU, not a device name)."""


def pick_device(name: str = "auto", local_rank: int | None = None, option: str = "train.device") -> torch.device:
    """``auto`` = CUDA if present; a bare ``cuda`` takes ``cuda:local_rank`` (under torchrun) or the current one.

    ``option`` is how the user gave ``name`` (``train.device`` in a config, ``--device`` on a command line), so
    that a refusal names what to change. Raises ``DeviceError`` (a ValueError).
    """
    given = f"{option}={name}" if "." in option else f"{option} {name}"
    fix = f"use {option}{'=' if '.' in option else ' '}cpu or auto"
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise DeviceError(f"{given} is not a device; use auto, cpu, cuda or cuda:N (N = the GPU's index)"
                          f"{', or mps' if _mps_available() else ''}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            why = ("this PyTorch build has no CUDA support" if torch.version.cuda is None else
                   f"this PyTorch (CUDA {torch.version.cuda}) finds no usable NVIDIA GPU or driver")
            raise DeviceError(f"{given} but CUDA is not available ({why}); {fix}")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise DeviceError(f"{given} but this machine has {count} CUDA device(s) (cuda:0 to cuda:{count - 1}); "
                              f"choose one of them, or {fix}")
        if device.index is None:
            device = torch.device("cuda", local_rank if local_rank is not None else torch.cuda.current_device())
        torch.cuda.set_device(device)
    elif device.type == "mps" and not _mps_available():
        raise DeviceError(f"{given} but Apple's MPS is not available here; {fix}")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"{given} is not supported by isnet; use auto, cpu, cuda or cuda:N")
    return device


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's with its cores and torch threads (for tables and provenance)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads)"


def autocast(device: torch.device, amp: str):
    """``torch.autocast`` for ``amp`` in ``AMP_DTYPES`` (``none``: a null context)."""
    dtype = AMP_DTYPES[amp]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def bf16_supported(device: torch.device, fast: bool = False) -> bool:
    """Whether bf16 autocast runs here; ``fast``: in hardware (CUDA with bf16, or a CPU whose oneDNN has bf16
    kernels), not emulated."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    if not fast:
        return True
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def sync(device: torch.device) -> None:
    """Wait for queued GPU work so wall time measures it (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(fn: Callable[[], object], repeats: int, device: torch.device, warmup: int = 0) -> float:
    """Median wall time of ``fn()`` in ms over ``repeats`` calls after ``warmup`` untimed calls, without grad."""
    times = []
    with torch.no_grad():
        for i in range(warmup + repeats):
            sync(device)
            t = time.perf_counter()
            fn()
            sync(device)
            if i >= warmup:
                times.append(1000 * (time.perf_counter() - t))
    return statistics.median(times)
