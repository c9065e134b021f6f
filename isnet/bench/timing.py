"""One way to time things, shared by every benchmark: synchronise, perf_counter, median of repeats."""
from __future__ import annotations

import statistics
import time
from typing import Callable

import torch


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
