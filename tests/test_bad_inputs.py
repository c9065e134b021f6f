"""Bad inputs end in one line naming the file and the fix, exit status 2, and nothing written or changed.

Every bad file is made here. Each CLI case checks the exit status, that stderr names the file in one
line (no traceback), and that no file under the test's folder was written, changed or removed.
"""
import hashlib
import io
import os

import numpy as np
import pytest
import torch
from PIL import Image

from isnet.engine.checkpoint import FORMAT, save_checkpoint
from isnet.cli import main as cli_main
from isnet.study.profiles import TEST
from isnet.engine.inpaint import (GuardedGenerator, NonFiniteOutputError, inpaint_files, load_image, load_pair,
                           plan_image)
from isnet.io import read_pixels
from isnet.method.masks import load_known
from isnet.models import build_discriminator, build_generator
from isnet.models.released import load_released_discriminator, load_released_generator, ours_to_upstream

TINY = TEST.with_overrides(["model.width=0.125", "model.blocks=1"]).resolve()
H, W = 40, 50


# ----------------------------------------------------------------------------------------- helpers
def snapshot(root):
    """Every file under root with its bytes' hash and mtime: equal snapshots = nothing written or changed."""
    out = {}
    for dirpath, dirnames, files in os.walk(root):
        for d in dirnames:
            out[os.path.join(dirpath, d)] = "dir"
        for f in files:
            p = os.path.join(dirpath, f)
            out[p] = (hashlib.sha256(open(p, "rb").read()).hexdigest(), os.stat(p).st_mtime_ns)
    return out


def run(capsys, *argv):
    rc = cli_main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def assert_refused(rc, err, *names):
    assert rc == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if "error:" in line]
    assert lines, err
    for name in names:
        assert any(name in line for line in lines), f"{name!r} not named in: {err}"


def photo(seed=0, h=H, w=W):
    return (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)


def hole_mask(h=H, w=W):
    m = np.zeros((h, w), np.uint8)
    m[8:20, 5:25] = 255  # white = hole
    return m


@pytest.fixture(scope="module")
def generator(tiny_generator):
    return tiny_generator


@pytest.fixture(scope="module")
def ckpt(tiny_checkpoint):
    return tiny_checkpoint


@pytest.fixture()
def inputs(tmp_path):
    img, msk = tmp_path / "images", tmp_path / "masks"
    img.mkdir(), msk.mkdir()
    for i, name in enumerate(("a", "b")):
        Image.fromarray(photo(i)).save(img / f"{name}.png")
        Image.fromarray(hole_mask()).save(msk / f"{name}.png")
    return img, msk


def inpaint_argv(ckpt, img, msk, out, *extra):
    argv = ["inpaint", "--checkpoint", ckpt, "--images", img, "--out", out, "--no-progress", *extra]
    return argv + (["--masks", msk] if msk is not None else [])


# ----------------------------------------------------------------------------------------- 1. silent wrong output
def test_nan_weights_are_refused_by_inpaint_and_evaluate(tmp_path, inputs, generator, capsys):
    img, msk = inputs
    state = {k: v.clone() for k, v in generator.state_dict().items()}
    key = next(k for k in state if k.endswith("weight_orig"))
    state[key].view(-1)[3] = float("nan")  # one NaN is enough to blacken every pixel
    bad = tmp_path / "nan.pt"
    torch.save({"format": FORMAT, "iteration": 1, "generator": state, "config": TINY.to_dict()}, bad)
    before = snapshot(tmp_path)
    rc, _, err = run(capsys, *inpaint_argv(bad, img, msk, tmp_path / "out"))
    assert_refused(rc, err, "nan.pt")
    assert "NaN" in err
    from isnet.data import make_pairs

    pairs = tmp_path / "pairs.csv"
    make_pairs("samples", "all", 32, 1, pairs, seed=0, progress=False)
    before = snapshot(tmp_path)
    rc, _, err = run(capsys, "evaluate", "--checkpoint", bad, "--pairs", pairs, "--out", tmp_path / "eval",
                     "--no-progress")
    assert_refused(rc, err, "nan.pt")
    assert snapshot(tmp_path) == before and not (tmp_path / "eval").exists()


def test_non_finite_output_stops_before_writing(tmp_path, inputs):
    img, msk = inputs

    class Broken(torch.nn.Module):
        isnet_source = "broken.pt (iteration 7)"

        def forward(self, x):
            return torch.full_like(x, float("nan"))

    before = snapshot(tmp_path)
    with pytest.raises(NonFiniteOutputError, match=r"broken\.pt"):
        inpaint_files(Broken(), img, msk, tmp_path / "out", progress=False)
    assert snapshot(tmp_path) == before and not (tmp_path / "out").exists()


def test_known_pixels_come_from_the_input_whatever_the_network_returns(tmp_path, inputs):
    img, msk = inputs

    class Wild(torch.nn.Module):
        def forward(self, x):
            return x * 0 + 7.5  # far outside [0, 1]

    for pra in (False, True):
        out = tmp_path / f"out{pra}"
        inpaint_files(Wild(), img, msk, out, pra=pra, progress=False)
        src, res = load_image(img / "a.png")[0], load_image(out / "a.png")[0]
        known = torch.ones(H, W, dtype=torch.bool)
        known[8:20, 5:25] = False
        assert torch.equal(res[:, known], src[:, known])
        assert torch.all(res[:, ~known] == 1.0)  # the hole is the (clamped) prediction


MODES = ["I;16", "I;16-tiff", "I-tiff", "F-tiff", "LA", "P-transparency", "CMYK-jpeg", "RGB16-png", "RGBA16-png"]


def _write_mode(tmp_path, kind):
    """(path, expected H×W×3 in [0, 1], expected alpha or None) for one kind of file."""
    import cv2

    rng = np.random.default_rng(1)
    g16 = (rng.random((12, 10)) * 65535).astype(np.uint16)
    if kind in ("I;16", "I;16-tiff"):
        path = tmp_path / ("g16.png" if kind == "I;16" else "g16.tif")
        Image.fromarray(g16).save(path)
        return path, np.repeat((g16 / 65535.0)[..., None], 3, -1), None
    if kind == "I-tiff":
        path = tmp_path / "i32.tif"
        Image.fromarray(g16.astype(np.int32)).save(path)  # 32-bit signed: BitsPerSample 32, SampleFormat 2
        return path, np.repeat((g16 / (2 ** 31 - 1))[..., None], 3, -1), None
    if kind == "F-tiff":
        path = tmp_path / "f.tif"
        f = (g16 / 65535.0).astype(np.float32)
        Image.fromarray(f).save(path)
        return path, np.repeat(f[..., None], 3, -1), None
    if kind == "LA":
        path = tmp_path / "la.png"
        la = np.dstack([(g16 >> 8).astype(np.uint8), np.where(g16 > 30000, 255, 0).astype(np.uint8)])
        Image.fromarray(la, "LA").save(path)
        return path, np.repeat((la[..., 0] / 255.0)[..., None], 3, -1), la[..., 1] / 255.0
    if kind == "P-transparency":
        path = tmp_path / "p.png"
        idx = (g16 % 3).astype(np.uint8)
        p = Image.fromarray(idx, "P")
        palette = [10, 20, 30, 200, 100, 50, 0, 255, 0]
        p.putpalette(palette + [0] * (768 - len(palette)))
        p.save(path, transparency=2)
        rgb = np.asarray(palette, np.float64).reshape(3, 3)[idx] / 255.0
        return path, rgb, (idx != 2).astype(np.float64)
    if kind == "CMYK-jpeg":
        path = tmp_path / "c.tif"  # lossless, so the expected values are exact
        cmyk = np.zeros((12, 10, 4), np.uint8)
        cmyk[..., 0], cmyk[..., 3] = 128, 64
        Image.fromarray(cmyk, "CMYK").save(path)
        r = 255 * (1 - 128 / 255) * (1 - 64 / 255) / 255
        g = (1 - 64 / 255)
        return path, np.broadcast_to([r, g, g], (12, 10, 3)), None
    rgb16 = np.dstack([g16, g16[::-1], 65535 - g16])
    if kind == "RGB16-png":
        path = tmp_path / "rgb16.png"
        cv2.imwrite(str(path), rgb16[..., ::-1])
        return path, rgb16 / 65535.0, None
    path = tmp_path / "rgba16.png"
    a16 = np.where(g16 > 30000, 65535, 0).astype(np.uint16)
    cv2.imwrite(str(path), np.dstack([rgb16[..., ::-1], a16]))
    return path, rgb16 / 65535.0, a16 / 65535.0


@pytest.mark.parametrize("kind", MODES)
def test_every_mode_comes_in_at_its_true_intensity(tmp_path, kind):
    path, rgb, alpha = _write_mode(tmp_path, kind)
    px = read_pixels(path)
    tol = 1 / 255 if kind == "CMYK-jpeg" else 1e-6
    np.testing.assert_allclose(px.rgb, rgb, atol=tol)
    if alpha is None:
        assert px.alpha is None
    else:
        np.testing.assert_allclose(px.alpha, alpha, atol=1e-6)
    np.testing.assert_allclose(load_image(path)[0].permute(1, 2, 0).numpy(), rgb, atol=tol)  # inpaint's reader


def test_sixteen_bit_masks_are_read_as_masks(tmp_path):
    m = np.zeros((12, 10), np.uint16)
    m[2:6, 3:7] = 65535  # white = hole
    Image.fromarray(m).save(tmp_path / "m16.png")
    known = load_known(tmp_path / "m16.png")[0, 0]
    assert known[2:6, 3:7].sum() == 0 and known.sum() == 120 - 16


def test_transparency_as_hole_or_a_warning(tmp_path, ckpt, capsys):
    rgba = np.dstack([photo(3), np.full((H, W), 255, np.uint8)])
    rgba[10:22, 12:30, 3] = 0  # transparent = the hole
    (tmp_path / "in").mkdir()
    Image.fromarray(rgba, "RGBA").save(tmp_path / "in" / "x.png")
    Image.fromarray(hole_mask()).save(tmp_path / "mask.png")
    # a mask file is given: alpha is ignored, with a warning that says so and how to use it
    rc, out, err = run(capsys, *inpaint_argv(ckpt, tmp_path / "in", tmp_path / "mask.png", tmp_path / "o1"))
    assert rc == 0 and "x.png" in err and "alpha is ignored" in err and "--holes alpha" in err
    # --holes alpha: the transparent pixels are the hole
    rc, out, err = run(capsys, *inpaint_argv(ckpt, tmp_path / "in", None, tmp_path / "o2", "--holes", "alpha"))
    assert rc == 0, err
    src, res = load_image(tmp_path / "in" / "x.png")[0], load_image(tmp_path / "o2" / "x.png")[0]
    known = torch.from_numpy(rgba[..., 3] == 255)
    assert torch.equal(res[:, known], src[:, known]) and not torch.equal(res[:, ~known], src[:, ~known])
    # --holes alpha on an image without alpha: refused, nothing written
    Image.fromarray(photo(4)).save(tmp_path / "in" / "y.png")
    before = snapshot(tmp_path)
    rc, _, err = run(capsys, *inpaint_argv(ckpt, tmp_path / "in", None, tmp_path / "o3", "--holes", "alpha"))
    assert_refused(rc, err, "y.png")
    assert "no alpha" in err and snapshot(tmp_path) == before
    # no masks and no --holes alpha: the fix is named
    rc, _, err = run(capsys, *inpaint_argv(ckpt, tmp_path / "in", None, tmp_path / "o4"))
    assert_refused(rc, err, "--masks")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("holes", ["white", "black"])
def test_all_hole_mask_is_refused(tmp_path, inputs, ckpt, capsys, holes):
    img, msk = inputs
    full = np.full((H, W), 255 if holes == "white" else 0, np.uint8)
    Image.fromarray(full).save(msk / "b.png")
    before = snapshot(tmp_path)
    rc, _, err = run(capsys, *inpaint_argv(ckpt, img, msk, tmp_path / "out", "--holes", holes))
    assert_refused(rc, err, str(msk / "b.png"))
    assert "every pixel" in err and "polarity" in err
    assert snapshot(tmp_path) == before and not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------------------- 2. tracebacks
def _corrupt_png(path):
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)


def _truncated_jpeg(path):
    buf = io.BytesIO()
    Image.fromarray(photo(9, 64, 64)).save(buf, format="JPEG", quality=95)
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])


@pytest.mark.parametrize("which", ["image", "mask"])
@pytest.mark.parametrize("bad", ["corrupt-png", "truncated-jpeg"])
def test_undecodable_files_are_one_line_errors(tmp_path, inputs, ckpt, capsys, which, bad):
    img, msk = inputs
    folder = img if which == "image" else msk
    (folder / "b.png").unlink()
    target = folder / ("b.png" if bad == "corrupt-png" else "b.jpg")
    (_corrupt_png if bad == "corrupt-png" else _truncated_jpeg)(target)
    before = snapshot(tmp_path)
    rc, _, err = run(capsys, *inpaint_argv(ckpt, img, msk, tmp_path / "out"))
    assert_refused(rc, err, str(target))
    assert "re-save" in err
    assert snapshot(tmp_path) == before and not (tmp_path / "out").exists()  # a.png, the good one, not written


def test_checkpoint_whose_config_does_not_fit_its_weights(tmp_path, inputs, generator, capsys):
    img, msk = inputs
    cfg = TINY.with_overrides(["model.blocks=2"]).resolve().to_dict()
    bad = tmp_path / "mixed.pt"
    torch.save({"format": FORMAT, "iteration": 1, "generator": generator.state_dict(), "config": cfg}, bad)
    garbled = tmp_path / "garbled.pt"
    torch.save({"format": FORMAT, "iteration": 1, "generator": generator.state_dict(),
                "config": {**TINY.to_dict(), "model": {"blokcs": 1}}}, garbled)
    before = snapshot(tmp_path)
    rc, _, err = run(capsys, *inpaint_argv(bad, img, msk, tmp_path / "out"))
    assert_refused(rc, err, "mixed.pt")
    assert "does not fit" in err and "model.blocks=2" in err
    rc, _, err = run(capsys, *inpaint_argv(garbled, img, msk, tmp_path / "out"))
    assert_refused(rc, err, "garbled.pt")
    assert "blokcs" in err
    assert snapshot(tmp_path) == before


class _Hostile:
    def __reduce__(self):
        return (os.getcwd, ())


@pytest.mark.parametrize("kind", ["hostile", "truncated", "not-torch"])
def test_unreadable_checkpoints_never_suggest_unsafe_loading(tmp_path, inputs, ckpt, capsys, kind):
    img, msk = inputs
    path = tmp_path / f"{kind}.pt"
    if kind == "hostile":
        torch.save({"generator": _Hostile()}, path)
    elif kind == "truncated":
        data = ckpt.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_text("hello")
    before = snapshot(tmp_path)
    for command in (inpaint_argv(path, img, msk, tmp_path / "out"),
                    ["evaluate", "--checkpoint", path, "--pairs", tmp_path / "none.csv", "--no-progress"]):
        rc, _, err = run(capsys, *command)
        assert_refused(rc, err, f"{kind}.pt")
        assert "weights_only=False" not in err and len(err.strip().splitlines()) == 1
    assert snapshot(tmp_path) == before


# ----------------------------------------------------------------------------------------- 3. partial output
def test_every_bad_pair_is_reported_before_anything_is_written(tmp_path, inputs, ckpt, capsys):
    img, msk = inputs
    Image.fromarray(photo(5)).save(img / "c.png")
    Image.fromarray(hole_mask(20, 20)).save(msk / "c.png")  # wrong size
    _corrupt_png(img / "b.png")
    out = tmp_path / "out"
    out.mkdir()
    Image.fromarray(photo(6)).save(out / "keep.png")
    before = snapshot(tmp_path)
    rc, _, err = run(capsys, *inpaint_argv(ckpt, img, msk, out))
    assert_refused(rc, err, str(img / "b.png"), str(msk / "c.png"))
    assert "nothing was written" in err
    assert snapshot(tmp_path) == before  # the existing folder and its file untouched, a.png not written


def test_a_failure_mid_run_leaves_no_empty_folder(tmp_path, inputs):
    img, msk = inputs
    calls = []

    class FailsSecond(torch.nn.Module):
        def forward(self, x):
            calls.append(1)
            return x * float("nan") if len(calls) > 1 else x

    with pytest.raises(NonFiniteOutputError):
        inpaint_files(FailsSecond(), img, msk, tmp_path / "out", save_raw=True, progress=False)
    # a.png is complete (written atomically); b.png and no temporary file
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "raw"]
    assert not list((tmp_path / "out").glob(".*"))
    calls.append(1)  # from now on every call fails: the first image already
    with pytest.raises(NonFiniteOutputError):
        inpaint_files(FailsSecond(), img, msk, tmp_path / "new" / "deeper", save_raw=True, progress=False)
    assert not (tmp_path / "new").exists()


# ----------------------------------------------------------------------------------------- 4. bounded work
def test_memory_is_estimated_from_the_size_then_tiles_or_a_refusal(generator, tmp_path, inputs, ckpt, capsys):
    whole = plan_image(500, 400, generator, 4 * 2**30)
    assert whole.tile is None and whole.tiles == 1
    big = plan_image(5000, 5000, generator, 4 * 2**30)
    assert big.tile is not None and big.tile % 16 == 0 and big.tiles > 1 and big.estimate <= 4 * 2**30
    with pytest.raises(ValueError, match=r"5000×5000.*--max-memory"):
        plan_image(5000, 5000, generator, 0.5 * 2**30, name="image x.jpg")
    img, msk = inputs
    before = snapshot(tmp_path)
    rc, _, err = run(capsys, *inpaint_argv(ckpt, img, msk, tmp_path / "out", "--max-memory", "0.0000001"))
    assert_refused(rc, err, str(img / "a.png"), "--max-memory")
    assert snapshot(tmp_path) == before


def test_tiles_blend_to_the_whole_image_result_for_a_local_network(tmp_path):
    torch.manual_seed(0)
    local = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1), torch.nn.Sigmoid()).eval()  # no spatial context
    x = torch.rand(1, 3, 100, 90)
    guarded = GuardedGenerator(local)
    guarded.plan = plan_image(100, 90, local, 2**40, tile=48)
    seen = []
    guarded.on_tile = lambda done, total: seen.append((done, total))
    with torch.no_grad():
        tiled, whole = guarded(x), local(x)
    assert guarded.plan.tiles == seen[-1][1] == len(seen) > 1
    torch.testing.assert_close(tiled, whole, rtol=0, atol=1e-6)


def test_tiled_cli_run_reports_tiles_and_pra_passes(tmp_path, inputs, ckpt, capsys):
    img, msk = inputs
    big = np.zeros((H, W), np.uint8)
    big[5:35, 5:45] = 255  # 60 % hole: PRA needs more than one pass
    Image.fromarray(big).save(msk / "b.png")
    rc, out, err = run(capsys, *inpaint_argv(ckpt, img, msk, tmp_path / "out", "--pra", "--tile", "32"))
    assert rc == 0, err
    lines = out.strip().splitlines()
    assert any("a.png" in line and "PRA 1 pass;" in line and "tiles of 32 px" in line for line in lines), out
    assert any("b.png" in line and "passes" in line for line in lines), out


def test_inpaint_help_cites_nothing_the_user_lacks(capsys):
    with pytest.raises(SystemExit):
        cli_main(["inpaint", "--help"])
    text = capsys.readouterr().out
    assert "facts" not in text and "§" not in text
    assert "--holes" in text and "alpha" in text and "--max-memory" in text and "pass" in text


# ----------------------------------------------------------------------------------------- 5. released files
def _authors_discriminator_keys():
    """EdgeConnect's Discriminator: conv1..conv5 = Sequential(spectral_norm(Conv2d), ...), conv1 also as features."""
    sn = ("weight_orig", "weight_u", "weight_v")
    return {f"conv{i}.0.{s}" for i in range(1, 6) for s in sn} | {f"features.0.{s}" for s in sn}


def test_authors_discriminator_file_with_feature_aliases(tmp_path):
    torch.manual_seed(0)
    src = build_discriminator(gan_loss="nsgan").eval()
    state = dict(src.state_dict())
    state.update({f"features.0.{s}": state[f"conv1.0.{s}"].clone() for s in ("weight_orig", "weight_u", "weight_v")})
    assert set(state) == _authors_discriminator_keys()
    path = tmp_path / "InpaintingModel_dis.pth"
    torch.save({"discriminator": {f"module.{k}": v for k, v in state.items()}}, path)
    loaded = load_released_discriminator(path)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x)[0], src(x)[0])
    state["features.0.weight_orig"] = state["features.0.weight_orig"] + 1
    torch.save({"discriminator": state}, path)
    with pytest.raises(ValueError, match=r"features\.0\.weight_orig differs from conv1\.0\.weight_orig"):
        load_released_discriminator(path)


def _authors_base_keys(head_in_sequential: bool):
    """ablation/network_base.py RFFNet_base (B = 4), from docs/authors-code.md §5, not from our mapping:
    as RFFNet, but low→high is bilinear (no fuse_layers.0.1 weights), no up_layer, and the head is a plain
    1×1 conv with bias called final_layer."""
    sn = ("weight_orig", "weight_u", "weight_v")
    keys = {"layer1.downsample.weight"} | {f"layer1.conv_block.{i}.{s}" for i in (1, 4) for s in sn}
    for k in range(4):
        for br in ((0,) if k == 0 else (0, 1)):
            keys |= {f"stage{k}.branches.{br}.{blk}.conv_block.{i}.{s}" for blk in range(4) for i in (1, 4) for s in sn}
        keys |= {f"stage{k}.fuse_layers.1.0.{j}.0.{s}" for j in range(k + 1) for s in sn}
        if k:
            keys |= {f"stage{k}.fuse_layers.1.1.0.{s}" for s in sn}
        keys |= {f"stage{k}.fused_branches.{br}.0.0.{s}" for br in (0, 1) for s in sn}
    head = "final_layer.0." if head_in_sequential else "final_layer."
    return keys | {head + "weight", head + "bias"}


@pytest.mark.parametrize("head_in_sequential", [False, True])
def test_authors_base_model_loads_into_isnet_base(tmp_path, head_in_sequential):
    torch.manual_seed(0)
    src = build_generator("isnet-base", width=0.25).eval()
    state = ours_to_upstream(src.state_dict())
    if head_in_sequential:
        state = {k.replace("final_layer.", "final_layer.0."): v for k, v in state.items()}
    assert set(state) == _authors_base_keys(head_in_sequential)
    path = tmp_path / "InpaintingModel_gen.pth"
    torch.save({"generator": {f"module.{k}": v for k, v in state.items()}}, path)
    loaded = load_released_generator(path, variant="isnet-base", width=0.25)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), src(x))


# ----------------------------------------------------------------------------------------- 6, 7. search, messages
def test_search_worker_exits_3_while_trials_are_running(tmp_path, capsys):
    from isnet.study.search import create_search

    url = f"journal:///{tmp_path}/search.log".replace("////", "///")
    study = create_search("loss-weights", url)
    study.ask()  # a trial left RUNNING by a worker that died (journal storage has no heartbeat)
    rc, _, err = run(capsys, "search", "--profile", "test", "--storage", url, "--n-trials", "1", "--no-progress",
                     "--runs-dir", tmp_path / "runs")
    assert rc == 3 and "RUNNING" in err and "--requeue-running" in err


def test_unknown_config_key_message_has_no_stray_quotes():
    with pytest.raises(ValueError) as e:
        TINY.with_overrides(["model.blokcs=2"])
    assert isinstance(e.value, KeyError)
    assert str(e.value).startswith("unknown config key 'model.blokcs'") and not str(e.value).endswith('"')


def test_load_pair_names_the_files(tmp_path):
    Image.fromarray(photo(1)).save(tmp_path / "i.png")
    Image.fromarray(hole_mask(20, 20)).save(tmp_path / "m.png")
    with pytest.raises(ValueError, match=r"m\.png is 20×20 but image .*i\.png is 50×40"):
        load_pair(tmp_path / "i.png", tmp_path / "m.png")


@pytest.mark.slow
def test_a_5000_pixel_photo_stays_under_the_memory_bound(tmp_path):
    """The README's figure: `isnet inpaint` on a 5000×5000 photo peaks under --max-memory (default 4 GB).

    Run with `pytest -m slow tests/test_bad_inputs.py -k memory_bound -s` to print the plan, peak RSS and time.
    """
    import resource
    import subprocess
    import sys
    import time

    n = 5000
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:n, 0:n].astype(np.float32) / n
    img = np.stack([0.5 + 0.4 * np.sin(6 * x + 2 * y), 0.5 + 0.4 * np.cos(5 * y - 3 * x), 0.4 + 0.3 * x * y], -1)
    img += rng.normal(0, 0.03, img.shape).astype(np.float32)
    Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(tmp_path / "photo.jpg", quality=90)
    del img, x, y
    mask = np.zeros((n, n), np.uint8)
    for _ in range(40):  # rectangles, about 13 % of the image
        h, w = rng.integers(100, 500, 2)
        r, c = rng.integers(0, n - 500, 2)
        mask[r:r + h, c:c + w] = 255
    Image.fromarray(mask).save(tmp_path / "photo.png")
    cfg = TEST.with_overrides(["model.width=0.25", "model.blocks=4"]).resolve()
    torch.manual_seed(0)
    g = build_generator("isnet", blocks=4, width=0.25)
    ckpt = save_checkpoint(tmp_path / "run", {"format": FORMAT, "iteration": 0, "generator": g.state_dict(),
                                              "config": cfg.to_dict()}, keep_last=1)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "isnet", "inpaint", "--checkpoint", str(ckpt), "--images",
                           str(tmp_path / "photo.jpg"), "--masks", str(tmp_path / "photo.png"), "--out",
                           str(tmp_path / "out"), "--no-progress"], capture_output=True, text=True)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # bytes (Linux reports kB)
    print(f"\n{proc.stdout.strip()}\npeak RSS {peak / 2**30:.2f} GiB, wall {wall:.0f} s")
    assert proc.returncode == 0, proc.stderr
    assert "tiles of" in proc.stdout
    assert peak < 4 * 2**30
    out = np.asarray(Image.open(tmp_path / "out" / "photo.png"))
    src = np.asarray(Image.open(tmp_path / "photo.jpg").convert("RGB"))
    assert np.array_equal(out[mask == 0], src[mask == 0])
