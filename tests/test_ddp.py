"""torchrun: 2 CPU processes (gloo) end with identical weights, and resume works under torchrun too."""
import json
import os
import subprocess
import sys

import pytest

TINY = ["--profile", "test", "--no-progress", "model.width=0.125", "train.batch=2", "train.val_every=2",
        "data.val_pairs=1", "train.log_every=1"]


def _torchrun(run_dir, *extra, resume=False, timeout=240):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "isnet",
           "train", *(["--resume"] if resume else []), *TINY, f"out.dir={run_dir}", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout[out.stdout.index("{"):])


def _rank_hashes(run_dir):
    ranks = [json.loads((run_dir / "ranks" / f"rank{r}.json").read_text()) for r in (0, 1)]
    return [(r["iteration"], r["generator"], r["discriminator"]) for r in ranks]


def test_two_processes_agree_and_resume(tmp_path):
    straight = _torchrun(tmp_path / "a", "train.iterations=4")
    h0, h1 = _rank_hashes(tmp_path / "a")
    assert h0 == h1, "ranks ended with different weights"
    assert straight["world_size"] == 2 and h0[0] == 4

    _torchrun(tmp_path / "b", "train.iterations=2")
    resumed = _torchrun(tmp_path / "b", "train.iterations=4", resume=True)
    r0, r1 = _rank_hashes(tmp_path / "b")
    assert r0 == r1
    assert resumed["resumed_from"].endswith("iter_00000002.pt")
    assert resumed["weights"] == straight["weights"], "2 + resume 2 under torchrun differs from 4 in one go"
    # rank 0 alone logs: one row per iteration
    lines = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["iteration"] for x in lines] == [1, 2, 3, 4]
