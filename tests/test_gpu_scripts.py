"""The prepared device scripts (``benchmarks/*.sh``) dry-run on a CPU, so a lent GPU's minutes are not spent on a
script error: ``gpu_ablation.sh`` trains a profile's grid with ``isnet study --jobs`` and reports what finished."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


# a smoke study's architecture notebook in 2 worker processes: ~30 s on 2 cores
def test_gpu_ablation_dry_run_trains_the_grid_in_workers_and_keeps_only_small_files(tmp_path):
    env = {**os.environ, "DEVICE": "cpu", "PROFILE": "smoke", "JOBS": "2", "ONLY": "03_architecture",
           "LIMIT": "900", "OUT": str(tmp_path)}
    out = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_ablation.sh")], env=env, capture_output=True,
                         text=True, timeout=1200)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "gpu_ablation done in" in out.stdout and "runs finished" in out.stdout
    folder = tmp_path / "results" / "smoke"
    runs = pd.read_csv(folder / "runs" / "index.csv")
    assert len(runs) and (runs.status == "finished").all()
    scored = [d for d in (folder / "runs").iterdir() if (d / "generator-fp16.pt").exists()]
    assert scored and not any((d / "checkpoints").exists() for d in scored)  # only small files come back
    assert "jobs=2" in (tmp_path / "env.txt").read_text()
