"""isnet inpaint: pairing by name, any size, polarity, no writes into inputs or over files, released weights."""
import numpy as np
import pytest
import torch
from PIL import Image

from isnet.cli import main as cli_main
from isnet.engine.inpaint import inpaint_files, load_image, pair_files
from isnet.models import build_generator, ours_to_upstream

SIZES = {"wide": (40, 50), "odd": (33, 31)}  # H, W: neither a multiple of 16


@pytest.fixture()
def folders(tmp_path):
    rng = np.random.default_rng(0)
    img, msk = tmp_path / "images", tmp_path / "masks"
    img.mkdir(), msk.mkdir()
    for name, (h, w) in SIZES.items():
        Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(img / f"{name}.png")
        m = np.zeros((h, w), np.uint8)
        m[8:20, 5:25] = 255  # white = hole
        Image.fromarray(m).save(msk / f"{name}.png")
    return img, msk


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """A generator saved in the authors' format (upstream names, DataParallel's 'module.' prefix)."""
    torch.manual_seed(0)
    g = build_generator("isnet", blocks=1, width=0.125).eval()
    path = tmp_path_factory.mktemp("w") / "InpaintingModel_gen.pth"
    torch.save({"generator": {f"module.{k}": v for k, v in ours_to_upstream(g.state_dict()).items()}}, path)
    return g, path


def test_pairing_by_name_and_its_errors(folders, tmp_path):
    img, msk = folders
    assert [(a.name, b.name) for a, b in pair_files(img, msk)] == [("odd.png", "odd.png"), ("wide.png", "wide.png")]
    one = msk / "wide.png"
    assert all(m == one for _, m in pair_files(img, one))  # one mask for every image
    (msk / "odd.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"no mask for image .*odd\.png"):
        pair_files(img, msk)
    Image.fromarray(np.zeros((33, 31), np.uint8)).save(msk / "odd.png")
    Image.fromarray(np.zeros((33, 31), np.uint8)).save(msk / "odd.jpg")
    with pytest.raises(ValueError, match=r"odd\.png has several masks"):
        pair_files(img, msk)


def test_composites_keep_known_pixels_and_sizes(folders, tmp_path, released):
    g, _ = released
    img, msk = folders
    written = inpaint_files(g, img, msk, tmp_path / "out", save_raw=True, progress=False)
    assert sorted(p.name for p in written) == ["odd.png", "wide.png"]
    for name, (h, w) in SIZES.items():
        src = load_image(img / f"{name}.png")
        out = load_image(tmp_path / "out" / f"{name}.png")
        raw = load_image(tmp_path / "out" / "raw" / f"{name}.png")
        assert out.shape == raw.shape == (1, 3, h, w)
        known = torch.ones(h, w, dtype=torch.bool)
        known[8:20, 5:25] = False
        out, raw, src = out[0], raw[0], src[0]
        assert torch.equal(out[:, known], src[:, known]), "known pixels must be the input's exactly"
        assert torch.equal(out[:, ~known], raw[:, ~known])
        assert not torch.equal(out[:, ~known], src[:, ~known])


def test_black_holes_flag_flips_the_polarity(folders, tmp_path, released):
    g, _ = released
    img, msk = folders
    inpaint_files(g, img / "wide.png", msk / "wide.png", tmp_path / "black", holes="black", progress=False)
    src, out = load_image(img / "wide.png"), load_image(tmp_path / "black" / "wide.png")
    assert torch.equal(out[..., 8:20, 5:25], src[..., 8:20, 5:25])  # white is now the known part
    assert not torch.equal(out[..., 30:, 30:], src[..., 30:, 30:])


def test_refuses_input_folder_existing_files_and_wrong_sizes(folders, tmp_path, released):
    g, _ = released
    img, msk = folders
    with pytest.raises(ValueError, match="input folder"):
        inpaint_files(g, img, msk, img, progress=False)
    inpaint_files(g, img, msk, tmp_path / "o", progress=False)
    before = (tmp_path / "o" / "wide.png").read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        inpaint_files(g, img, msk, tmp_path / "o", pra=True, progress=False)
    assert (tmp_path / "o" / "wide.png").read_bytes() == before
    inpaint_files(g, img, msk, tmp_path / "o", pra=True, overwrite=True, progress=False)
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(msk / "odd.png")
    with pytest.raises(ValueError, match=r"image .*odd\.png is 31×33"):
        inpaint_files(g, img, msk, tmp_path / "p", progress=False)


def test_cli_with_the_authors_checkpoint_file(folders, tmp_path, released, monkeypatch, capsys):
    g, path = released
    img, msk = folders
    import isnet.models

    real = isnet.models.load_released_generator
    monkeypatch.setattr(isnet.models, "load_released_generator",  # the real file is B=4, width 1: too big here
                        lambda p, **kw: real(p, **{**kw, "blocks": 1, "width": 0.125}))
    assert cli_main(["inpaint", "--checkpoint", str(path), "--images", str(img), "--masks", str(msk),
                     "--out", str(tmp_path / "cli"), "--pra", "--no-progress"]) == 0
    expected = tmp_path / "ref"
    inpaint_files(g, img, msk, expected, pra=True, progress=False)
    for name in SIZES:
        assert (tmp_path / "cli" / f"{name}.png").read_bytes() == (expected / f"{name}.png").read_bytes()
    assert cli_main(["inpaint", "--checkpoint", str(path), "--images", str(img), "--masks", str(tmp_path / "none"),
                     "--out", str(tmp_path / "cli2"), "--no-progress"]) == 2
    assert "--masks" in capsys.readouterr().err
