"""A run folder's records: the append-only JSON-lines logs and the run summary."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..io import append_jsonl, atomic_write_text


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
        if self.enabled:
            append_jsonl(self.path, row, default=float)


def read_log(run_dir: str | os.PathLike, which: str = "metrics"):
    """A run's ``metrics`` (per-step losses) or ``val`` (validation) log as a DataFrame."""
    import pandas as pd

    path = Path(run_dir) / f"{which}.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; is {run_dir} a training run folder?")
    return pd.read_json(path, lines=True)


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
    seconds: float = 0.0              # this training session only
    iterations_per_second: float = 0.0
    total_seconds: float = 0.0        # every session of the run (history.jsonl), the figure a cost table wants
    world_size: int = 1
    device: str = "cpu"
    weights: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
