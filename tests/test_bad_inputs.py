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


def test_a_failure_mid_run_leaves_nothing(tmp_path, inputs):
    img, msk = inputs
    calls = []

    class FailsSecond(torch.nn.Module):
        def forward(self, x):
            calls.append(1)
            return x * float("nan") if len(calls) > 1 else x

    out = tmp_path / "out"
    out.mkdir()
    Image.fromarray(photo(6)).save(out / "keep.png")
    before = snapshot(tmp_path)
    with pytest.raises(NonFiniteOutputError):
        inpaint_files(FailsSecond(), img, msk, out, save_raw=True, progress=False)
    # all or nothing: a.png was finished but is not kept, no temporary file, no raw/ folder, keep.png untouched
    assert snapshot(tmp_path) == before
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
    for value in ("0.0000001", "0.001", "nan", "inf", "-1", "0"):
        rc, _, err = run(capsys, *inpaint_argv(ckpt, img, msk, tmp_path / "out", "--max-memory", value))
        assert_refused(rc, err, "--max-memory")
        assert "GiB" in err and ("nan" in err if value == "nan" else True) and "nan GiB" not in err and "0.0 GiB" not in err
    assert snapshot(tmp_path) == before
    with pytest.raises(ValueError, match=r"needs about \d+ MiB even in 256-px tiles, over the limit of 51 MiB"):
        plan_image(600, 600, generator, 0.05 * 2**30, name="image x.jpg")


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


# ----------------------------------------------------------------------------------------- 8. orientation (issue 21)
def _stored(displayed, orientation):
    """The pixels a camera stores for a ``displayed`` picture with EXIF ``orientation`` (the inverse turn)."""
    return {1: lambda a: a, 3: lambda a: np.rot90(a, 2), 6: lambda a: np.rot90(a, 1),
            8: lambda a: np.rot90(a, -1)}[orientation](displayed).copy()


def _save_oriented_jpeg(path, displayed, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(_stored(displayed, orientation)).save(path, quality=95, exif=exif.tobytes())


def _smooth(h, w):
    y, x = np.mgrid[0:h, 0:w]
    return np.dstack([x * 255 // w, y * 255 // h, (x + y) * 127 // (h + w)]).astype(np.uint8)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_read_pixels_shows_what_a_viewer_shows(tmp_path, orientation):
    from PIL import ImageOps

    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "x.png"
    Image.fromarray(photo(2, 12, 20)).save(path, exif=exif.tobytes())  # lossless, so the comparison is exact
    with Image.open(path) as img:
        viewer = np.asarray(ImageOps.exif_transpose(img).convert("RGB"), np.float32) / 255
    px = read_pixels(path)
    np.testing.assert_array_equal(px.rgb, viewer)
    assert px.orientation == orientation and px.size == viewer.shape[:2]
    from isnet.io import image_size

    assert image_size(path) == viewer.shape[:2]


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_a_rotated_photo_is_inpainted_where_the_user_painted(tmp_path, ckpt, capsys, orientation):
    from PIL import ImageOps

    h, w = 48, 80  # as a viewer shows the photo: landscape
    (tmp_path / "in").mkdir(), (tmp_path / "masks").mkdir()
    _save_oriented_jpeg(tmp_path / "in" / "phone.jpg", _smooth(h, w), orientation)
    hole = np.zeros((h, w), bool)
    hole[4:20, 50:76] = True  # top right, as the user sees the photo
    Image.fromarray((hole * 255).astype(np.uint8)).save(tmp_path / "masks" / "phone.png")
    with Image.open(tmp_path / "in" / "phone.jpg") as img:
        viewer = np.asarray(ImageOps.exif_transpose(img).convert("RGB"))

    class White(torch.nn.Module):
        def forward(self, x):
            return torch.ones_like(x)

    inpaint_files(White(), tmp_path / "in", tmp_path / "masks", tmp_path / "api", progress=False)
    out = Image.open(tmp_path / "api" / "phone.png")
    assert out.size == (w, h) and out.getexif().get(0x0112) is None  # upright pixels, no stale orientation tag
    res = np.asarray(out.convert("RGB"))
    assert np.all(res[hole] == 255)  # the hole the user painted, and only it
    assert np.array_equal(res[~hole], viewer[~hole])
    # the command line: exit 0, upright output, known pixels as the viewer shows them
    rc, _, err = run(capsys, *inpaint_argv(ckpt, tmp_path / "in", tmp_path / "masks", tmp_path / "cli"))
    assert rc == 0, err
    res = np.asarray(Image.open(tmp_path / "cli" / "phone.png").convert("RGB"))
    assert res.shape[:2] == (h, w) and np.array_equal(res[~hole], viewer[~hole])


def test_a_mask_of_the_stored_size_names_the_orientation(tmp_path, ckpt, capsys):
    (tmp_path / "in").mkdir(), (tmp_path / "masks").mkdir()
    _save_oriented_jpeg(tmp_path / "in" / "phone.jpg", _smooth(48, 80), 6)  # stored 80 tall, 48 wide
    Image.fromarray(hole_mask(80, 48)).save(tmp_path / "masks" / "phone.png")  # painted on the stored pixels
    before = snapshot(tmp_path)
    rc, _, err = run(capsys, *inpaint_argv(ckpt, tmp_path / "in", tmp_path / "masks", tmp_path / "out"))
    assert_refused(rc, err, "phone.png", "phone.jpg")
    assert "48×80 but image" in err and "is 80×48" in err and "EXIF orientation 6" in err and "viewer" in err
    assert snapshot(tmp_path) == before
    # without any orientation, a mask turned by 90° is named as such
    Image.fromarray(photo(1)).save(tmp_path / "i.png")
    Image.fromarray(hole_mask(W, H)).save(tmp_path / "m.png")
    with pytest.raises(ValueError, match="turned by 90°"):
        load_pair(tmp_path / "i.png", tmp_path / "m.png")


def test_the_output_keeps_the_photo_colour_profile(tmp_path, inputs, generator):
    from PIL import ImageCms

    img, msk = inputs
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(photo(0)).save(img / "a.png", icc_profile=icc)
    inpaint_files(generator, img, msk, tmp_path / "out", progress=False)
    assert Image.open(tmp_path / "out" / "a.png").info.get("icc_profile") == icc
    assert Image.open(tmp_path / "out" / "b.png").info.get("icc_profile") is None


# ----------------------------------------------------------------------------------------- 9. the error boundary
def _fail_writes(monkeypatch, after=0, errno_=None, match=None):
    """Make ``isnet.io``'s one write function fail like a full disk: the first ``after`` writes succeed."""
    import errno

    import isnet.io

    real = isnet.io._write_file
    count = []

    def write(f, data, path):
        if match is None or match in os.path.basename(path):
            count.append(1)
            if len(count) > after:
                code = errno_ or errno.ENOSPC
                raise OSError(code, os.strerror(code))
        return real(f, data, path)

    monkeypatch.setattr(isnet.io, "_write_file", write)


def _read_only(monkeypatch, folder):
    """``folder`` read-only: chmod where that binds; as root (which chmod does not stop) the write calls fail."""
    import errno
    import tempfile

    import isnet.io

    real, real_mkdir = tempfile.mkstemp, os.mkdir

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and str(dir).startswith(str(folder)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(dir))
        return real(*args, dir=dir, **kwargs)

    def mkdir(path, *args, **kwargs):
        if str(path).startswith(str(folder) + os.sep):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(isnet.io.tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(os, "mkdir", mkdir)
    folder.chmod(0o555)


def test_a_full_disk_mid_batch_leaves_no_partial_output(tmp_path, inputs, ckpt, capsys, monkeypatch):
    img, msk = inputs
    for name in ("c", "d", "e"):
        Image.fromarray(photo(7)).save(img / f"{name}.png")
        Image.fromarray(hole_mask()).save(msk / f"{name}.png")
    before = snapshot(tmp_path)
    _fail_writes(monkeypatch, after=4)  # 4 of 5 outputs written, then the disk is full
    rc, out, err = run(capsys, *inpaint_argv(ckpt, img, msk, tmp_path / "out"))
    assert_refused(rc, err, str(tmp_path / "out" / "e.png"))
    assert "no space left" in err and "nothing was written" in err and "4 output file(s)" in err
    assert len(err.strip().splitlines()) == 1
    assert snapshot(tmp_path) == before and not (tmp_path / "out").exists()


def test_a_read_only_output_folder_is_one_line(tmp_path, inputs, ckpt, capsys, monkeypatch):
    img, msk = inputs
    out = tmp_path / "ro"
    out.mkdir()
    _read_only(monkeypatch, out)
    try:
        before = snapshot(tmp_path)
        rc, _, err = run(capsys, *inpaint_argv(ckpt, img, msk, out))
        assert_refused(rc, err, str(out))
        assert ("read-only" in err or "permission" in err) and len(err.strip().splitlines()) == 1
        assert snapshot(tmp_path) == before
        from isnet.data import make_pairs

        monkeypatch.undo()
        pairs = tmp_path / "pairs.csv"
        make_pairs("samples", "all", 32, 1, pairs, seed=0, progress=False)
        _read_only(monkeypatch, out)
        before = snapshot(tmp_path)
        rc, _, err = run(capsys, "evaluate", "--method", "telea", "--pairs", pairs, "--out", out, "--limit", "2",
                         "--no-progress")
        assert_refused(rc, err, str(out))
        assert snapshot(tmp_path) == before
        rc, _, err = run(capsys, "train", "--profile", "test", f"out.dir={out}", "train.iterations=1",
                         "model.width=0.125", "train.batch=1", "data.val_pairs=1", "--no-progress")
        assert_refused(rc, err, str(out))
        assert "Traceback" not in err and snapshot(tmp_path) == before
    finally:
        out.chmod(0o755)


def test_evaluate_results_are_all_or_nothing_on_a_full_disk(tmp_path, capsys, monkeypatch):
    from isnet.data import make_pairs

    pairs = tmp_path / "pairs.csv"
    make_pairs("samples", "all", 32, 1, pairs, seed=0, progress=False)
    before = snapshot(tmp_path)
    _fail_writes(monkeypatch, after=1)  # per_pair.csv fits, summary.csv does not
    rc, _, err = run(capsys, "evaluate", "--method", "telea", "--pairs", pairs, "--out", tmp_path / "ev",
                     "--limit", "2", "--no-progress")
    assert_refused(rc, err, "summary.csv")
    assert "no space left" in err
    assert not list((tmp_path / "ev").glob("*")) if (tmp_path / "ev").exists() else True
    assert {k: v for k, v in snapshot(tmp_path).items() if not k.endswith("ev")} == before


def test_train_writing_best_pt_on_a_full_disk(tmp_path, capsys, monkeypatch):
    _fail_writes(monkeypatch, match="best.pt")
    run_root = tmp_path / "runs"
    rc, _, err = run(capsys, "train", "--profile", "test", f"out.dir={run_root}", "model.width=0.125",
                     "train.batch=2", "train.iterations=2", "train.val_every=2", "data.val_pairs=1", "--no-progress")
    assert rc == 2 and "Traceback" not in err, err
    line = [x for x in err.strip().splitlines() if "error" in x or "no space" in x]
    assert line and "best.pt" in line[-1] and "no space left" in line[-1] and "--resume" in line[-1]
    assert not [p for p in run_root.rglob("*") if p.name.endswith(".tmp")]  # nothing half-written
    assert not list(run_root.rglob("best.pt"))


@pytest.mark.parametrize("device", ["cuda", "cuda:7", "gpu", "banana:0"])
def test_device_options_are_one_line(tmp_path, inputs, ckpt, capsys, device):
    if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.device_count() > 7:
        pytest.skip("this machine has that GPU")
    img, msk = inputs
    before = snapshot(tmp_path)
    rc, _, err = run(capsys, *inpaint_argv(ckpt, img, msk, tmp_path / "out", "--device", device))
    if device == "cuda" and torch.cuda.is_available():
        assert rc == 0
        return
    assert_refused(rc, err, f"--device {device}")
    assert "train.device" not in err and "cpu" in err
    assert snapshot(tmp_path) == before
    rc, _, err = run(capsys, "evaluate", "--method", "telea", "--pairs", tmp_path / "none.csv", "--device", device,
                     "--no-progress")
    assert_refused(rc, err, f"--device {device}")


def test_malformed_config_yaml_is_one_line(tmp_path, capsys, monkeypatch):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  iterations: 10\n    batch: [2\n")
    before = snapshot(tmp_path)
    rc, _, err = run(capsys, "train", "--config", bad, "--no-progress")
    assert_refused(rc, err, f"--config {bad}")
    assert "not valid YAML" in err and "line" in err and len(err.strip().splitlines()) == 1
    assert snapshot(tmp_path) == before
    monkeypatch.setenv("ISNET_DEBUG", "1")  # the traceback is still there for whoever asks
    import yaml

    with pytest.raises(yaml.YAMLError):
        cli_main(["train", "--config", str(bad), "--no-progress"])


def test_an_optuna_storage_that_is_not_a_database(tmp_path, capsys):
    db = tmp_path / "notes.db"
    db.write_text("my notes, not a database\n")
    before = snapshot(tmp_path)
    rc, _, err = run(capsys, "search", "--profile", "test", "--storage", f"sqlite:///{db}", "--n-trials", "1",
                     "--runs-dir", tmp_path / "runs", "--no-progress")
    assert_refused(rc, err, str(db))
    assert "not an Optuna database" in err and len(err.strip().splitlines()) == 1
    assert snapshot(tmp_path) == before


# ----------------------------------------------------------------------------------------- 10. small cases
@pytest.mark.parametrize("limit", ["0", "-1"])
def test_evaluate_limit_must_be_positive(tmp_path, capsys, limit):
    rc, _, err = run(capsys, "evaluate", "--method", "telea", "--pairs", tmp_path / "none.csv", "--limit", limit,
                     "--out", tmp_path / "ev", "--no-progress")
    assert_refused(rc, err, f"--limit {limit}")
    assert not (tmp_path / "ev").exists()


@pytest.mark.parametrize("holes", ["white", "black"])
def test_a_mostly_hole_mask_warns_about_polarity(tmp_path, inputs, ckpt, capsys, holes):
    img, msk = inputs
    m = np.full((H, W), 255 if holes == "white" else 0, np.uint8)
    m[:8, :47] = 255 - m[0, 0]  # 81 % hole
    Image.fromarray(m).save(msk / "b.png")
    rc, _, err = run(capsys, *inpaint_argv(ckpt, img, msk, tmp_path / "out", "--holes", holes))
    assert rc == 0, err
    other = "black" if holes == "white" else "white"
    warning = [x for x in err.splitlines() if "warning" in x and "b.png" in x]
    assert warning and "81 %" in warning[0] and "polarity" in warning[0] and f"--holes {other}" in warning[0]
    if holes == "white":  # a.png's mask is 12 % hole (with --holes black it is 88 %, and warned about too)
        assert not any("a.png" in x and "polarity" in x for x in err.splitlines())


def test_broken_and_looping_symlinks_are_named(tmp_path, inputs, ckpt, capsys):
    img, msk = inputs
    (img / "loop.png").symlink_to(img / "loop.png")
    (img / "gone.png").symlink_to(tmp_path / "nowhere.png")
    rc, out, err = run(capsys, *inpaint_argv(ckpt, img, msk, tmp_path / "out"))
    assert rc == 0, err
    assert any("loop.png" in x and "loops" in x for x in err.splitlines()), err
    assert any("gone.png" in x and "points to nothing" in x for x in err.splitlines()), err
    assert "wrote 2" in out
    from isnet.data.sources import FolderSource

    with pytest.warns(UserWarning, match=r"2 symbolic link\(s\).*gone\.png.*loop\.png"):
        assert len(FolderSource(img)) == 2


def _gif(path, frames=1):
    images = [Image.fromarray(photo(i)).convert("P") for i in range(frames)]
    images[0].save(path, save_all=frames > 1, append_images=images[1:])


def test_gifs_are_read_with_a_note_for_animations(tmp_path, ckpt, capsys):
    (tmp_path / "gifs").mkdir()
    _gif(tmp_path / "gifs" / "still.gif")
    _gif(tmp_path / "gifs" / "anim.gif", frames=3)
    Image.fromarray(hole_mask()).save(tmp_path / "mask.png")
    # a folder of GIFs is a folder of images (first frame), with a note for the animated one
    rc, out, err = run(capsys, *inpaint_argv(ckpt, tmp_path / "gifs", tmp_path / "mask.png", tmp_path / "o1"))
    assert rc == 0, err
    assert "wrote 2" in out and any("anim.gif" in x and "3 frames" in x and "first" in x for x in err.splitlines())
    assert not any("still.gif" in x for x in err.splitlines() if "warning" in x)
    # a lone animated GIF: the same note
    rc, out, err = run(capsys, *inpaint_argv(ckpt, tmp_path / "gifs" / "anim.gif", tmp_path / "mask.png",
                                             tmp_path / "o2"))
    assert rc == 0 and "only the first" in err
    # a folder of files that are no images names what it found
    (tmp_path / "heic").mkdir()
    (tmp_path / "heic" / "IMG_1.heic").write_bytes(b"\x00" * 10)
    before = snapshot(tmp_path)
    rc, _, err = run(capsys, *inpaint_argv(ckpt, tmp_path / "heic", tmp_path / "mask.png", tmp_path / "o3"))
    assert_refused(rc, err, str(tmp_path / "heic"))
    assert "IMG_1.heic" in err and "convert" in err and snapshot(tmp_path) == before
    # training data: a folder of GIFs says GIFs were found and what to do
    from isnet.data.sources import FolderSource

    with pytest.raises(FileNotFoundError, match=r"2 \.gif files.*convert"):
        FolderSource(tmp_path / "gifs")


def test_image_size_must_be_a_multiple_of_16(tmp_path, capsys):
    rc, _, err = run(capsys, "train", "--profile", "test", f"out.dir={tmp_path / 'r'}", "data.size=33", "--no-progress")
    assert rc == 2 and "Traceback" not in err
    assert "data.size=33" in err and "multiple of 16" in err and "32 or 48" in err
    assert not (tmp_path / "r").exists()


def test_released_file_that_does_not_fit_names_no_missing_option(tmp_path, inputs, generator, capsys):
    from isnet.models.released import ours_to_upstream

    img, msk = inputs
    path = tmp_path / "InpaintingModel_gen.pth"
    torch.save({"generator": ours_to_upstream(generator.state_dict())}, path)  # 1 block, not the released 4
    before = snapshot(tmp_path)
    for command in (inpaint_argv(path, img, msk, tmp_path / "out"),
                    ["evaluate", "--checkpoint", path, "--pairs", tmp_path / "none.csv", "--no-progress"]):
        rc, _, err = run(capsys, *command)
        assert_refused(rc, err, str(path))
        assert "`blocks`" not in err and "--blocks" not in err and "--width" not in err
        assert "InpaintingModel_gen.pth" in err and len(err.strip().splitlines()) == 1
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("kind", ["png", "jpeg", "empty", "html"])
def test_a_file_that_is_no_checkpoint_says_what_it_is(tmp_path, inputs, capsys, kind):
    img, msk = inputs
    path = tmp_path / "model.pth"
    if kind in ("png", "jpeg"):
        Image.fromarray(photo(0)).save(path, format=kind.upper())
    else:
        path.write_text("" if kind == "empty" else "<!DOCTYPE html><html>login</html>")
    expected = {"png": "is a PNG image, not a PyTorch checkpoint", "jpeg": "is a JPEG image, not a PyTorch",
                "empty": "is an empty file", "html": "is an HTML page"}[kind]
    before = snapshot(tmp_path)
    for command in (inpaint_argv(path, img, msk, tmp_path / "out"),
                    ["evaluate", "--checkpoint", path, "--pairs", tmp_path / "none.csv", "--no-progress"]):
        rc, _, err = run(capsys, *command)
        assert_refused(rc, err, str(path))
        assert expected in err and "Python objects" not in err
    assert snapshot(tmp_path) == before


def test_a_truncated_run_checkpoint_says_retrain_the_run(tmp_path, inputs, ckpt, capsys):
    img, msk = inputs
    run_dir = tmp_path / "results" / "smoke" / "runs" / "3f9a"
    (run_dir / "checkpoints").mkdir(parents=True)
    data = ckpt.read_bytes()
    bad = run_dir / "checkpoints" / "iter_00000012.pt"
    bad.write_bytes(data[: len(data) // 2])
    before = snapshot(tmp_path)
    rc, _, err = run(capsys, *inpaint_argv(bad, img, msk, tmp_path / "out"))
    assert_refused(rc, err, str(bad))
    assert "retrain that run" in err and str(run_dir) in err and "--resume" in err
    assert "download" not in err and snapshot(tmp_path) == before
    # a loose file elsewhere keeps the old fix
    loose = tmp_path / "model.pt"
    loose.write_bytes(data[: len(data) // 2])
    rc, _, err = run(capsys, *inpaint_argv(loose, img, msk, tmp_path / "out"))
    assert_refused(rc, err, str(loose))
    assert "copy or download it again" in err


def test_a_read_only_results_folder_stops_a_study_in_one_line(tmp_path, capsys, monkeypatch):
    """``isnet study`` into a read-only results folder: one line naming the folder, exit 2, nothing written."""
    res = tmp_path / "results"
    res.mkdir()
    _read_only(monkeypatch, res)
    try:
        before = snapshot(tmp_path)
        rc, _, err = run(capsys, "study", "--profile", "smoke", "--results", res)
        assert_refused(rc, err, str(res))
        assert ("read-only" in err or "permission" in err) and len(err.strip().splitlines()) == 1
        assert snapshot(tmp_path) == before
    finally:
        res.chmod(0o755)
