"""Training: step order, exact resume, the sample stream, NaN stops, run-folder safety, the CLI."""
import copy
import json

import pytest
import torch

from isnet.engine.checkpoint import list_checkpoints, load_checkpoint, state_hash
from isnet.cli import main as cli_main
from isnet.study.profiles import TEST
from isnet.data.stream import SampleStream
from isnet.method.losses import InpaintingLoss
from isnet.engine.train import (Engine, NonFiniteLossError, read_log, sample_strip, train, validate,
                         validation_batches)

# tiny and fast: 32 px, width 0.125, one block, a random VGG16 for the feature losses
TINY = TEST.with_overrides(["model.width=0.125", "train.batch=2", "train.iterations=4",
                                         "train.val_every=2", "train.log_every=1", "data.val_pairs=2"]).resolve()


def _run(tmp_path, name="run", *over, **kwargs):
    return train(TINY.with_overrides([f"out.dir={tmp_path / name}", *over]), progress=False, **kwargs)


def _batch(n=2, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(n, 3, size, size, generator=g)
    known = torch.ones(n, 1, size, size)
    known[:, :, 8:20, 6:24] = 0
    return image, known


def test_generator_steps_before_discriminator():
    """G's gradient is taken with D's weights from before D's step; D's with D's own loss only."""
    engine = Engine(TINY, "cpu")
    G0, D0 = copy.deepcopy(engine.G), copy.deepcopy(engine.D)
    image, known = _batch()
    engine.step(image, known)
    pred = G0(image * known)
    g_total, _ = engine.loss.generator_loss(pred, image, known, D0)
    g_total.backward()
    for (name, p), p0 in zip(engine.G.named_parameters(), G0.parameters()):
        assert torch.equal(p.grad, p0.grad), f"generator grad {name} differs: D was not the pre-step D"
    D0.zero_grad()
    d_total, _ = engine.loss.discriminator_loss(pred.detach(), image, D0)
    d_total.backward()
    for (name, p), p0 in zip(engine.D.named_parameters(), D0.parameters()):
        assert torch.equal(p.grad, p0.grad), f"discriminator grad {name} differs"
    assert state_hash(engine.G) != state_hash(G0), "the generator did not move"


@pytest.mark.parametrize("amp,channels_last", [("bf16", True), ("bf16", False), ("none", True)])
def test_bf16_and_channels_last_steps_are_finite(amp, channels_last):
    cfg = TINY.with_overrides([f"train.amp={amp}", f"train.channels_last={channels_last}"]).resolve()
    engine = Engine(cfg, "cpu")
    before = state_hash(engine.G)
    for _ in range(2):
        terms = engine.step(*_batch())
    assert all(torch.isfinite(torch.tensor(v)) for v in terms.values()), terms
    assert state_hash(engine.G) != before
    assert all(torch.isfinite(p).all() for p in engine.G.parameters())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run "a": 6 iterations in one go. Run "b": 4, stopped (then a crash-like extra log row), resumed to 6."""
    root = tmp_path_factory.mktemp("runs")
    over = ("train.iterations=6", "train.keep_last=2")
    straight = _run(root, "a", *over)
    first = _run(root, "b", *over, stop_after=4)
    with open(root / "b" / "metrics.jsonl", "a") as f:  # a crash after iteration 5 had been logged
        f.write(json.dumps({"iteration": 5, "g_total": 99.0}) + "\n")
    resumed = _run(root, "b", *over, resume=True)
    return root, straight, first, resumed


def test_resume_is_bitwise_identical(runs):
    root, straight, first, resumed = runs
    assert first.stopped_early and first.iteration == 4
    assert resumed.resumed_from.endswith("iter_00000004.pt") and resumed.iteration == 6
    assert resumed.weights == straight.weights
    a = load_checkpoint(root / "a" / "checkpoints" / "iter_00000006.pt")
    b = load_checkpoint(root / "b" / "checkpoints" / "iter_00000006.pt")
    for key in ("optimizer_g", "optimizer_d"):
        for sa, sb in zip(a[key]["state"].values(), b[key]["state"].values()):
            assert all(torch.equal(sa[k], sb[k]) for k in ("exp_avg", "exp_avg_sq")), key
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])


def test_history_records_every_session_and_total_seconds_sum_them(runs):
    """Issue 19: run.json is the latest session; history.jsonl keeps every (re)start and end, append-only, and
    summary.json's total_seconds covers all sessions (seconds: the last one only)."""
    root, straight, first, resumed = runs
    events = [json.loads(line) for line in (root / "b" / "history.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events] == ["start", "stop", "resume", "finish"]
    assert events[2]["from_iteration"] == 4 and events[3]["iteration"] == 6
    assert all(e["config_hash"] == straight.config_hash for e in events if "config_hash" in e)
    assert resumed.total_seconds == pytest.approx(first.seconds + resumed.seconds)
    assert straight.total_seconds == straight.seconds > 0


def test_resumed_logs_cover_every_iteration_once(runs):
    root = runs[0]
    log = read_log(root / "b")
    assert list(log["iteration"]) == [1, 2, 3, 4, 5, 6] and 99.0 not in set(log["g_total"])
    assert list(read_log(root / "b", "val")["iteration"]) == [2, 4, 6]
    assert list(read_log(root / "b", "val")["psnr"]) == list(read_log(root / "a", "val")["psnr"])


def test_run_folder_is_never_overwritten_and_configs_must_match(runs):
    root = runs[0]
    with pytest.raises(FileExistsError, match="resume"):
        _run(root, "b", "train.iterations=6")
    with pytest.raises(ValueError, match=r"model\.blocks=1, this run has 2"):
        _run(root, "b", "train.iterations=8", "model.blocks=2", resume=True)
    assert [p.name for p in list_checkpoints(root / "b")] == ["iter_00000004.pt", "iter_00000006.pt"]


def test_keep_last_best_samples_and_summary(runs):
    root, straight = runs[0], runs[1]
    run = root / "a"
    assert [p.name for p in list_checkpoints(run)] == ["iter_00000004.pt", "iter_00000006.pt"]
    best = load_checkpoint(run / "checkpoints" / "best.pt")
    val = read_log(run, "val")
    assert best["iteration"] == int(val.loc[val["psnr"].idxmax(), "iteration"])
    assert straight.best_psnr == pytest.approx(val["psnr"].max())
    assert sorted(p.name for p in (run / "samples").iterdir()) == [f"iter_{i:08d}.png" for i in (2, 4, 6)]
    assert json.loads((run / "summary.json").read_text())["weights"] == straight.weights
    assert {"g_total", "g_l1", "g_adv", "d_total", "it_per_s"} <= set(read_log(run).columns)


def test_nan_loss_stops_naming_the_iteration_and_last_checkpoint(tmp_path, monkeypatch):
    real, calls = InpaintingLoss.generator_loss, []

    def nan_at_third_step(self, *args, **kwargs):  # the generator loss of training iteration 3 is NaN
        total, log = real(self, *args, **kwargs)
        calls.append(1)
        return (total * float("nan"), {**log, "total": float("nan")}) if len(calls) == 3 else (total, log)

    monkeypatch.setattr(InpaintingLoss, "generator_loss", nan_at_third_step)
    with pytest.raises(NonFiniteLossError, match=r"iteration 3 .*iter_00000002\.pt"):
        _run(tmp_path, "e")
    ckpts = list_checkpoints(tmp_path / "e")
    assert [p.name for p in ckpts] == ["iter_00000002.pt"]
    assert all(torch.isfinite(v).all() for v in load_checkpoint(ckpts[0])["generator"].values())


def test_sample_stream_is_a_function_of_seed_and_iteration():
    a, b = SampleStream(TINY), SampleStream(TINY)
    ia, ka = a[5]
    ib, kb = b[5]
    assert torch.equal(ia, ib) and torch.equal(ka, kb)
    assert not torch.equal(a[5][0], a[6][0])
    # every image once per epoch
    n = len(a.dataset)
    keys = [k for it in range(n) for k in a.keys(it)][:n]
    assert sorted(idx for _, idx in keys) == list(range(n)) and {e for e, _ in keys} == {0}
    # ranks split the global batch: together they are the one-process stream
    r0, r1 = SampleStream(TINY, rank=0, world=2), SampleStream(TINY, rank=1, world=2)
    assert r0.keys(3) + r1.keys(3) == a.keys(3)
    # loader workers do not change the stream
    inline = [x for x in a.loader(2, 5)]
    with_workers = [x for x in SampleStream(TINY.with_overrides(["data.workers=2"])).loader(2, 5)]
    assert all(torch.equal(p[0], q[0]) and torch.equal(p[1], q[1]) for p, q in zip(inline, with_workers))


def test_validation_leaves_weights_alone_and_grid_has_four_columns(tmp_path):
    engine = Engine(TINY, "cpu")
    batches = validation_batches(TINY, tmp_path)
    before = state_hash(engine.G)
    metrics, outputs = validate(engine.G, batches, torch.device("cpu"))
    assert state_hash(engine.G) == before and engine.G.training
    assert {"psnr", "ssim", "mae", "psnr_hole", "mae_hole"} <= set(metrics)
    from io import BytesIO

    from PIL import Image
    n = sum(len(b[0]) for b in batches)
    img = Image.open(BytesIO(sample_strip(batches, outputs)))
    assert img.size == (4 * 34 + 2, n * 34 + 2)  # 32 px tiles, 2 px padding


def test_cli_train_and_refusal(tmp_path, capsys):
    args = ["train", "--profile", "test", f"out.dir={tmp_path / 'g'}", "model.width=0.125", "train.batch=2",
            "train.iterations=2", "train.val_every=2", "data.val_pairs=1", "--no-progress"]
    assert cli_main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["iteration"] == 2 and summary["stopped_early"] is False
    assert cli_main(args) == 2
    assert "--resume" in capsys.readouterr().err
    assert cli_main(args[:-1] + ["model.nope=1", "--no-progress"]) == 2
    assert "model.nope" in capsys.readouterr().err


def test_bench_table3_quick(capsys):
    assert cli_main(["bench", "table3", "--quick", "--device", "cpu", "--repeats", "1", "--train-steps", "1"]) == 0
    out = capsys.readouterr().out
    assert "## Table 3" in out and "## Training step" in out
    for path in ("| fp32 |", "| channels-last |", "| bf16 |", "| fast (bf16+cl+folded SN) |", "| bf16+cl |"):
        assert path in out, path


def test_sigint_finishes_the_step_saves_and_returns(tmp_path):
    import os
    import signal

    def interrupt(iteration, terms):
        if iteration == 3:
            os.kill(os.getpid(), signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)  # default_int_handler, or SIG_IGN when pytest runs in the background
    s = _run(tmp_path, "h", on_step=interrupt)
    assert s.stopped_early and s.iteration == 3
    assert s.last_checkpoint.endswith("iter_00000003.pt")
    assert load_checkpoint(s.last_checkpoint)["iteration"] == 3
    assert signal.getsignal(signal.SIGINT) is before, "the handler must be restored"


def test_cli_config_layers_profile_then_file_then_overrides(tmp_path):
    from isnet.cli import build_parser
    from isnet.engine.cli import config_from_args
    from isnet.study.profiles import base_configs

    (tmp_path / "c.yaml").write_text("model:\n  blocks: 3\ntrain:\n  seed: 7\n  iterations: 11\n")
    args = build_parser().parse_args(["train", "--profile", "test", "--config", str(tmp_path / "c.yaml"),
                                      "train.seed=9"])
    cfg = config_from_args(args, base_configs())
    assert (cfg.model.blocks, cfg.train.seed, cfg.train.iterations, cfg.data.size) == (3, 9, 11, 32)
