"""Checkpoints: plain-type payloads, rolling + best files, kill-safety, clear errors on the wrong model."""
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from isnet.engine.checkpoint import (FORMAT, capture_rng, check_compatible, list_checkpoints, load_checkpoint,
                              load_generator, load_latest, restore_rng, save_checkpoint, state_hash)
from isnet.study.profiles import TEST
from isnet.models import build_generator, ours_to_upstream

SMOKE = TEST.resolve()


def _payload(iteration, value=0.0, size=8):
    return {"format": FORMAT, "iteration": iteration, "generator": {"w": torch.full((size,), float(value))},
            "config": SMOKE.to_dict(), "rng": capture_rng(), "val": {"psnr": float(value)}}


def test_rng_state_round_trip_through_a_weights_only_file(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    state = capture_rng()
    expected = (random.random(), np.random.rand(), torch.rand(3))
    torch.save({"rng": state}, tmp_path / "rng.pt")
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    restore_rng(torch.load(tmp_path / "rng.pt", weights_only=True)["rng"])
    again = (random.random(), np.random.rand(), torch.rand(3))
    assert again[0] == expected[0] and again[1] == expected[1] and torch.equal(again[2], expected[2])


def test_keep_last_and_best(tmp_path):
    for it, psnr in [(10, 20.0), (20, 25.0), (30, 22.0), (40, 21.0)]:
        save_checkpoint(tmp_path, _payload(it, psnr), keep_last=2, best=psnr == 25.0)
    names = [p.name for p in list_checkpoints(tmp_path)]
    assert names == ["iter_00000030.pt", "iter_00000040.pt"]
    best = load_checkpoint(tmp_path / "checkpoints" / "best.pt")
    assert best["iteration"] == 20 and best["val"]["psnr"] == 25.0
    path, latest = load_latest(tmp_path)
    assert path.name == "iter_00000040.pt" and latest["iteration"] == 40


def test_latest_skips_an_unreadable_file(tmp_path):
    save_checkpoint(tmp_path, _payload(1), keep_last=5)
    (tmp_path / "checkpoints" / "iter_00000002.pt").write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match="iter_00000002"):
        path, ck = load_latest(tmp_path)
    assert ck["iteration"] == 1


def test_foreign_files_are_refused_with_a_hint(tmp_path):
    torch.save({"generator": {}}, tmp_path / "InpaintingModel_gen.pth")
    with pytest.raises(ValueError, match="released generator"):
        load_checkpoint(tmp_path / "InpaintingModel_gen.pth")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "nope.pt")


def test_incompatible_config_names_the_setting():
    other = TEST.with_overrides(["model.blocks=2"]).resolve()
    with pytest.raises(ValueError, match=r"trained with model\.blocks=1, this run has 2"):
        check_compatible(SMOKE.to_dict(), other, source="checkpoint x")
    longer = TEST.with_overrides(["train.iterations=500", "out.dir=elsewhere", "data.workers=2"])
    check_compatible(SMOKE.to_dict(), longer.resolve())  # run length and bookkeeping may change


def test_load_generator_from_our_checkpoint_and_the_authors_format(tmp_path):
    g = build_generator("isnet", blocks=1, width=0.25)
    save_checkpoint(tmp_path, {**_payload(5), "generator": g.state_dict()}, keep_last=1)
    loaded = load_generator(tmp_path / "checkpoints" / "iter_00000005.pt")
    assert state_hash(loaded) == state_hash(g) and not loaded.training
    # the authors' file layout: {"generator": upstream names with DataParallel's "module." prefix}
    small = build_generator("isnet", blocks=2, width=0.25)
    torch.save({"generator": {f"module.{k}": v for k, v in ours_to_upstream(small.state_dict()).items()}},
               tmp_path / "InpaintingModel_gen.pth")
    released = load_generator(tmp_path / "InpaintingModel_gen.pth", blocks=2, width=0.25)
    assert state_hash(released) == state_hash(small)
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="neither"):
        load_generator(tmp_path / "list.pt")


def test_state_hash_sees_one_bit():
    g = build_generator("isnet", blocks=1, width=0.125)
    h = state_hash(g)
    with torch.no_grad():
        p = next(g.parameters())
        p.view(-1)[0] = torch.nextafter(p.view(-1)[0], torch.tensor(1.0))
    assert state_hash(g) != h


SAVER = textwrap.dedent("""
    import sys, torch
    from isnet.engine.checkpoint import FORMAT, save_checkpoint
    run = sys.argv[1]
    it = 0
    while True:
        it += 1
        save_checkpoint(run, {"format": FORMAT, "iteration": it, "generator": {"w": torch.full((1_500_000,), float(it))},
                              "config": {}}, keep_last=2)
""")


@pytest.mark.parametrize("delay", [0.0, 0.07])
def test_sigkill_while_saving_leaves_a_loadable_checkpoint(tmp_path, delay):
    script = tmp_path / "saver.py"
    script.write_text(SAVER)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "run")],
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.time() + 60
        while len(list_checkpoints(tmp_path / "run")) < 2:
            assert proc.poll() is None, "the saver died on its own"
            assert time.time() < deadline, "the saver wrote no checkpoints"
            time.sleep(0.01)
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    path, ck = load_latest(tmp_path / "run")
    assert ck["iteration"] >= 1
    assert torch.equal(ck["generator"]["w"], torch.full((1_500_000,), float(ck["iteration"])))
