"""Small networks that learn: init gain, discriminator width, adversarial warm-up, EMA, training masks,
the calibrated feature backbone, and the learning-curve benchmark."""
import math

import pytest
import torch

from isnet.engine.checkpoint import load_checkpoint, load_generator
from isnet.study.profiles import TEST
from isnet.models import GENERATORS, build_discriminator, build_generator, count_parameters
from isnet.data.stream import SampleStream
from isnet.engine.train import Engine, train

# 32 px sample photos, width 0.25, B = 1; L1 + a light adversarial term, no feature network
BASE = TEST.with_overrides({"model.d_width": 0.25, "loss.adversarial": 1.0, "loss.perceptual": 0,
                                        "loss.style": 0, "train.batch": 4})


def _spreads(cfg, steps: int) -> tuple[float, float]:
    """Train ``steps`` iterations; return the mean over pixels of the across-image std of G's and D's outputs."""
    cfg = cfg.resolve()
    torch.manual_seed(0)
    engine, stream = Engine(cfg), SampleStream(cfg)
    for i in range(steps):
        engine.step(*stream[i], iteration=i + 1)
    image, known = stream[10_000]  # images and masks the steps did not draw in this order
    engine.G.eval(), engine.D.eval()
    with torch.no_grad():
        out = engine.G(image * known)
        d, _ = engine.D(image)
    return out.std(0).mean().item(), d.std(0).mean().item()


def test_authors_init_gain_collapses_a_small_generator_and_002_does_not():
    """The finding behind model.init_gain: at N(0, 0.001) Adam's steps of ~lr are ~10 % of each raw
    spectral-norm weight and the small ISNet's output stops depending on the input within ~80 steps."""
    collapsed, _ = _spreads(BASE.with_overrides({"model.init_gain": 0.001}), 80)
    alive, d_alive = _spreads(BASE.with_overrides({"model.init_gain": 0.02}), 80)
    assert collapsed < 0.005, collapsed
    assert alive > 0.03, alive
    assert d_alive > 1e-3, d_alive


@pytest.mark.parametrize("generator", sorted(GENERATORS))
def test_every_generator_stays_input_dependent_at_gain_002(generator):
    # ISNet's spread grows as it learns to use the input (0.010 at 40 steps, 0.029 at 60, 0.088 at 80)
    g_spread, d_spread = _spreads(BASE.with_overrides({"model.generator": generator, "model.init_gain": 0.02}), 60)
    assert g_spread > 0.015, f"{generator}: output spread across images {g_spread:.5f}"
    assert d_spread > 1e-4, f"discriminator beside {generator}: output spread {d_spread:.6f}"


def test_init_gain_sets_the_raw_weight_scale_and_keeps_counts():
    for gain in (0.001, 0.02):
        g = build_generator("isnet", blocks=1, width=0.25, init_gain=gain)
        raw = torch.cat([m.weight_orig.flatten() for m in g.modules() if hasattr(m, "weight_orig")])
        assert raw.std().item() == pytest.approx(gain, rel=0.05)
    assert count_parameters(build_generator("isnet", init_gain=0.02)) == 24_774_307
    assert count_parameters(build_discriminator(init_gain=0.02)) == 2_763_776


def test_discriminator_width_scales_its_channels():
    d = build_discriminator(width=0.25)
    assert [getattr(d, f"conv{i}")[0].out_channels for i in range(1, 6)] == [16, 32, 64, 128, 1]
    assert count_parameters(d) < count_parameters(build_discriminator()) / 10
    out, feats = d(torch.rand(2, 3, 48, 48))
    assert out.shape == (2, 1, 4, 4) and len(feats) == 5


def test_warmup_skips_adversarial_terms_and_the_discriminator_step():
    cfg = BASE.with_overrides({"train.adv_warmup": 2, "model.init_gain": 0.02}).resolve()
    engine, stream = Engine(cfg), SampleStream(cfg)
    d0 = {k: v.clone() for k, v in engine.D.state_dict().items()}
    for i in (1, 2):
        terms = engine.step(*stream[i - 1], iteration=i)
        assert terms["g_adv"] == 0.0 and "d_total" not in terms
    assert all(torch.equal(d0[k], v) for k, v in engine.D.state_dict().items()), "D moved during warm-up"
    terms = engine.step(*stream[2], iteration=3)
    assert terms["g_adv"] != 0.0 and math.isfinite(terms["d_total"])
    assert any(not torch.equal(d0[k], v) for k, v in engine.D.state_dict().items()), "D did not step after warm-up"


def test_discriminator_is_not_stepped_when_its_weight_is_zero():
    cfg = BASE.with_overrides({"loss.adversarial": 0.0}).resolve()
    engine, stream = Engine(cfg), SampleStream(cfg)
    d0 = {k: v.clone() for k, v in engine.D.state_dict().items()}
    terms = engine.step(*stream[0], iteration=1)
    assert "d_total" not in terms
    assert all(torch.equal(d0[k], v) for k, v in engine.D.state_dict().items())


def test_ema_is_saved_resumed_exactly_and_used_for_evaluation(tmp_path):
    over = {"train.ema": 0.9, "train.iterations": 4, "train.val_every": 2, "train.batch": 2, "data.val_pairs": 2,
            "model.width": 0.125}
    full = train(BASE.with_overrides({**over, "out.dir": str(tmp_path / "full")}), progress=False)
    part = BASE.with_overrides({**over, "out.dir": str(tmp_path / "part")})
    train(part, progress=False, stop_after=2)
    resumed = train(part, resume=True, progress=False)
    assert resumed.weights == full.weights
    a = load_checkpoint(full.last_checkpoint)
    b = load_checkpoint(resumed.last_checkpoint)
    assert set(a["generator_ema"]) == set(a["generator"])
    assert all(torch.equal(a["generator_ema"][k], b["generator_ema"][k]) for k in a["generator_ema"])
    assert any(not torch.equal(a["generator_ema"][k], a["generator"][k]) for k in a["generator"])
    g = load_generator(full.last_checkpoint)
    assert "EMA" in g.isnet_source
    assert all(torch.equal(g.state_dict()[k], a["generator_ema"][k]) for k in a["generator_ema"])


def test_paper_bucket_training_masks_follow_the_evaluation_buckets():
    from isnet.method.masks import PAPER_BUCKETS, hole_ratio

    cfg = TEST.with_overrides({"data.masks": "paper", "data.size": 48, "train.batch": 8}).resolve()
    stream = SampleStream(cfg)
    ratios = torch.cat([hole_ratio(stream[i][1]).flatten() for i in range(6)])
    lo, hi = min(b[0] for b in PAPER_BUCKETS.values()), max(b[1] for b in PAPER_BUCKETS.values())
    assert bool(((ratios > lo) & (ratios <= hi)).all()), ratios
    assert ratios.max() > 0.35 and ratios.min() < 0.25  # several buckets are drawn


def test_calibrated_feature_terms_are_on_the_scale_of_l1_on_natural_images():
    """vgg16-hed's per-layer scales put Eq. 5's perceptual and style terms at O(L1) on photos (the raw
    Caffe-scale backbone gives a perceptual term ~100× L1). Needs the HED weights (fetched by the study)."""
    from isnet.data import build_source, eval_transform
    from isnet.method.features import is_cached, load_calibration
    from isnet.losses import InpaintingLoss, l1_hole_normalised, loss_weights
    from isnet.method.masks import generate_known

    if not is_cached("vgg16-hed"):
        pytest.skip("vgg16-hed weights not fetched (isnet weights fetch vgg16-hed)")
    scales = load_calibration("vgg16-hed")
    assert set(scales) >= {"pool1", "pool2", "pool3", "relu2_2", "relu3_3", "relu4_3", "relu5_2"}
    src = build_source("samples")
    gt = torch.stack([eval_transform(src.load(i), 64, upscale=True) for i in range(len(src))])
    known = torch.cat([generate_known(64, 64, seed=i, family="thick") for i in range(len(src))])
    mean_fill = (gt * known).sum((2, 3), keepdim=True) / known.sum((2, 3), keepdim=True)
    pred = gt * known + mean_fill * (1 - known)  # what an untrained network's fill looks like
    l1 = l1_hole_normalised(pred, gt, known).item()
    ratios = {}
    for backbone in ("vgg16-hed", "vgg16-hed-raw"):
        loss = InpaintingLoss(loss_weights("paper-eq5", backbone=backbone))
        perc, style = loss.feature_terms(pred, gt)
        ratios[backbone] = (perc.item() / l1, 3 * style.item() / l1)
    perc_ratio, style_ratio = ratios["vgg16-hed"]
    assert 0.1 < perc_ratio < 20, ratios
    assert 0.01 < style_ratio < 20, ratios
    assert ratios["vgg16-hed-raw"][0] > 5 * perc_ratio  # the calibration is what brought it down


def test_bench_learn_traces_a_resumable_curve(tmp_path, capsys):
    """The learning-curve benchmark on the smoke profile: points per bucket against Telea, a figure, and a
    rerun that recomputes nothing."""
    import pandas as pd

    from isnet.cli import main as cli_main
    from isnet.method.features import is_cached

    if not is_cached("vgg16-hed"):
        pytest.skip("vgg16-hed weights not fetched (isnet weights fetch vgg16-hed)")
    args = ["bench", "learn", "--profile", "smoke", "--models", "isnet", "--iterations", "4", "--every", "2",
            "--results-dir", str(tmp_path), "--no-progress"]
    assert cli_main(args) == 0
    curve = pd.read_csv(tmp_path / "smoke" / "tables" / "learning_curve.csv")
    assert sorted(curve.iteration.unique()) == [2, 4]
    assert {"all", "10-20", "40-50"} <= set(curve.bucket)
    assert {"vs_telea", "vs_telea_low", "vs_telea_high", "telea_psnr"} <= set(curve.columns)
    row = curve[(curve.bucket == "all") & (curve.iteration == 4)].iloc[0]
    assert row.vs_telea == pytest.approx(row.psnr - row.telea_psnr, abs=1e-9)
    # what the claims' sanity gates will read, per checkpoint: the grid ratio and the output spread
    assert row.hole_checkerboard > 0 and row.output_spread >= 0
    signal = pd.read_csv(tmp_path / "smoke" / "tables" / "time_to_signal.csv")
    assert signal.last_hole_checkerboard.iloc[0] == pytest.approx(row.hole_checkerboard, abs=0.005)
    assert (tmp_path / "smoke" / "figures" / "learning_curve.png").stat().st_size > 10_000
    out = capsys.readouterr().out
    assert "first_beats_telea" in out
    before = (tmp_path / "smoke" / "tables" / "learning_curve.csv").read_text()
    assert cli_main(args) == 0  # resumes: every point is there already
    assert (tmp_path / "smoke" / "tables" / "learning_curve.csv").read_text() == before
    # --pra K: the last point (whose checkpoint is kept) is scored again with PRA against its own one shot
    assert cli_main([*args, "--pra", "5"]) == 0
    curve = pd.read_csv(tmp_path / "smoke" / "tables" / "learning_curve.csv")
    last = curve[(curve.bucket == "all") & (curve.iteration == 4)].iloc[0]
    assert last.pra_kernel == 5 and last.pra_passes >= 1
    assert last.pra_vs_oneshot == pytest.approx(last.pra_psnr - last.psnr, abs=1e-9)
    assert last.pra_vs_oneshot_low <= last.pra_vs_oneshot <= last.pra_vs_oneshot_high
    assert "PRA k5 vs one shot" in capsys.readouterr().out


def test_shipped_generator_round_trip_hash_and_provenance(tmp_path, monkeypatch):
    import isnet.engine.pretrained as pretrained

    monkeypatch.setattr(pretrained, "RESOURCES", tmp_path / "resources")
    (tmp_path / "resources").mkdir()
    over = {"train.ema": 0.9, "train.iterations": 2, "train.val_every": 2, "train.batch": 2, "data.val_pairs": 2,
            "out.dir": str(tmp_path / "run")}
    summary = train(BASE.with_overrides(over), progress=False)
    path = pretrained.export_pretrained(summary.last_checkpoint, "tiny", {"summary": "a 2-iteration test model"})
    assert pretrained.available() == ["tiny"]
    info = pretrained.describe("tiny")
    n = count_parameters(pretrained.load_pretrained("tiny"))
    assert 2 * n < path.stat().st_size < 2 * n + 200_000  # half precision: two bytes a parameter
    assert info["weights"] == "EMA" and info["precision"] == "float16" and info["iteration"] == 2
    g = pretrained.load_pretrained("tiny")
    assert "tiny" in g.isnet_source and "2-iteration" in g.isnet_source
    ema = load_checkpoint(summary.last_checkpoint)["generator_ema"]
    for k, v in g.state_dict().items():
        assert torch.allclose(v, ema[k].half().float()), k
    with pytest.raises(FileExistsError):
        pretrained.export_pretrained(summary.last_checkpoint, "tiny", {"summary": "again"})
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside the tensors
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256"):
        pretrained.load_pretrained("tiny")


def test_inpaint_without_checkpoint_uses_the_shipped_generator(tmp_path, monkeypatch, capsys):
    import numpy as np
    from PIL import Image

    import isnet.engine.pretrained as pretrained
    from isnet.cli import main as cli_main

    monkeypatch.setattr(pretrained, "RESOURCES", tmp_path / "resources")
    (tmp_path / "resources").mkdir()
    summary = train(BASE.with_overrides({"train.iterations": 1, "train.val_every": 1, "train.batch": 2,
                                         "data.val_pairs": 2, "out.dir": str(tmp_path / "run")}), progress=False)
    pretrained.export_pretrained(summary.last_checkpoint, pretrained.DEFAULT, {"summary": "a one-step test model"})
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)).save(tmp_path / "photo.png")
    mask = np.zeros((40, 56), np.uint8)
    mask[10:25, 20:40] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    code = cli_main(["inpaint", "--images", str(tmp_path / "photo.png"), "--masks", str(tmp_path / "mask.png"),
                     "--out", str(tmp_path / "out")])
    assert code == 0
    out = np.asarray(Image.open(next((tmp_path / "out").glob("*.png"))).convert("RGB"))
    src = np.asarray(Image.open(tmp_path / "photo.png"))
    assert out.shape == src.shape and (out[mask == 0] == src[mask == 0]).all()
    captured = capsys.readouterr()
    assert "one-step test model" in captured.out + captured.err


@pytest.mark.parametrize("profile", ["laptop", "ablation"])
def test_bench_learn_runs_are_the_studys_runs(tmp_path, profile):
    """A curve's run of each method is the study's own run of that row in every table that trains it (same config
    hash and folder), so the study reuses what the curve trained and the curve can score what the study trained;
    the curve offers exactly the methods the profile's study trains."""
    from isnet.bench.learn import LearningCurve
    from isnet.study import Study
    from isnet.study.experiments import TABLES, table_rows

    study = Study(profile, tmp_path, progress=False)
    curve = LearningCurve.__new__(LearningCurve)  # only its config(): no pairs, no baselines
    curve.study, curve.overrides = study, []
    assert set(curve.rows) == set(study.profile.methods)
    iterations = study.profile.base.train.iterations
    checked = 0
    for table in TABLES:
        for row in table_rows(table, study.profile):
            if row.id not in curve.rows:
                continue
            for seed in study.profile.seeds[:2]:
                assert curve.config(row.id, seed, iterations).out.dir == study.config_for(row, seed).out.dir, \
                    (table, row.id)
                checked += 1
    assert checked >= 2 * len(study.profile.methods)


def test_curve_minutes_count_only_this_runs_training():
    """A resumed chunk adds to the seconds recorded at the checkpoint it resumed from; a fresh start (a run whose
    checkpoints were lost trains again from 0) does not inherit its earlier attempt's seconds."""
    from isnet.bench.learn import training_seconds

    wall = {"3000": 456.0, "6000": 1000.0}
    assert training_seconds(wall, 3000, 500.0) == 956.0
    assert training_seconds(wall, 0, 1100.0) == 1100.0
    assert training_seconds({"2000": 300.0}, 3000, 60.0) == 360.0  # resumed past the last scored point
