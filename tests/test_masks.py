"""Masks: buckets, generator, mask sets, file IO and polarity, grow_known, the NVIDIA adapter, the CLI."""
from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from scipy import ndimage

from isnet.method import cli as method_cli
from isnet.method.masks import (BUCKET_SCHEMES, FAMILIES, NVIDIA_BUCKETS, PAPER_BUCKETS, NvidiaMasks, bucket_of,
                         generate_hole, generate_known, grow_known, hole_ratio, index_nvidia_masks,
                         known_from_pixels, load_known, make_mask_set, pixels_from_known, sample_hole_in_bucket,
                         save_known)


# ---------------------------------------------------------------- buckets and ratio

def test_bucket_bounds_lower_exclusive_upper_inclusive():
    assert bucket_of(0.1) is None and bucket_of(0.1 + 1e-12) == "10-20"
    assert bucket_of(0.2) == "10-20" and bucket_of(0.5) == "40-50" and bucket_of(0.55) is None
    assert bucket_of(0.0, "nvidia") is None and bucket_of(1e-9, "nvidia") == "0-10"
    assert bucket_of(0.6, "nvidia") == "50-60" and bucket_of(0.61, "nvidia") is None
    assert list(BUCKET_SCHEMES) == ["paper", "nvidia"] and len(PAPER_BUCKETS) == 4 and len(NVIDIA_BUCKETS) == 6
    with pytest.raises(ValueError, match="scheme"):
        bucket_of(0.3, "places")


def test_hole_ratio_counts_zeros_per_image():
    known = torch.ones(2, 1, 10, 10)
    known[0, :, :3, :] = 0  # 30 % hole
    assert torch.equal(hole_ratio(known), torch.tensor([0.3, 0.0], dtype=torch.float64))


# ---------------------------------------------------------------- generator

@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_generate_hole_is_seeded_any_size(family):
    for height, width in [(64, 64), (48, 80), (31, 17)]:
        a = generate_hole(height, width, np.random.default_rng(3), family)
        b = generate_hole(height, width, np.random.default_rng(3), family)
        assert a.shape == (height, width) and a.dtype == bool
        assert np.array_equal(a, b)
    seeds = [generate_hole(64, 64, np.random.default_rng(s), family) for s in range(4)]
    assert len({s.tobytes() for s in seeds}) == 4, "different seeds must give different masks"
    assert 0 < np.mean([s.mean() for s in seeds]) < 1


def test_families_differ_in_stroke_width():
    """Thin strokes leave more boundary per hole pixel than thick ones (perimeter/area)."""
    def edge_per_area(family):
        values = []
        for s in range(20):
            hole = generate_hole(128, 128, np.random.default_rng(s), family)
            edge = hole & ~ndimage.binary_erosion(hole)
            values.append(edge.sum() / max(hole.sum(), 1))
        return np.mean(values)
    assert edge_per_area("thin") > edge_per_area("medium") > edge_per_area("thick")


def test_generate_known_is_binary_known_map():
    known = generate_known(40, 56, seed=1, family="thick")
    assert known.shape == (1, 1, 40, 56) and known.dtype == torch.float32
    assert set(known.unique().tolist()) <= {0.0, 1.0}
    hole = generate_hole(40, 56, np.random.default_rng(1), "thick")
    assert torch.equal(known[0, 0] == 0, torch.from_numpy(hole))


@pytest.mark.parametrize("scheme", sorted(BUCKET_SCHEMES))
@pytest.mark.parametrize("family", sorted(FAMILIES) + [None])
def test_sample_hole_in_bucket_reaches_every_bucket(scheme, family):
    for name, bounds in BUCKET_SCHEMES[scheme].items():
        for seed in range(2):
            hole = sample_hole_in_bucket(48, 64, np.random.default_rng(seed), bounds, family)
            assert bucket_of(hole.mean(), scheme) == name
            again = sample_hole_in_bucket(48, 64, np.random.default_rng(seed), bounds, family)
            assert np.array_equal(hole, again)


def test_sample_hole_in_bucket_spreads_over_the_bucket():
    ratios = [sample_hole_in_bucket(64, 64, np.random.default_rng(s), (0.3, 0.4)).mean() for s in range(30)]
    assert min(ratios) < 0.34 and max(ratios) > 0.36, "ratios should not pile up at one end of the bucket"


def test_sample_hole_in_bucket_rejects_impossible_requests():
    with pytest.raises(ValueError, match="bounds"):
        sample_hole_in_bucket(32, 32, np.random.default_rng(0), (0.5, 0.4))
    with pytest.raises(ValueError, match="larger size"):
        sample_hole_in_bucket(2, 2, np.random.default_rng(0), (0.1, 0.2))
    with pytest.raises(ValueError, match="family"):
        generate_hole(32, 32, np.random.default_rng(0), "huge")


# ---------------------------------------------------------------- mask sets

def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("scheme", ["paper", "nvidia"])
def test_make_mask_set_exact_counts_and_bounds(tmp_path, scheme):
    df = make_mask_set(tmp_path / "set", (40, 48), per_bucket=3, scheme=scheme, seed=5, progress=False)
    buckets = BUCKET_SCHEMES[scheme]
    assert df.groupby("bucket").size().to_dict() == {b: 3 for b in buckets}
    manifest = pd.read_csv(tmp_path / "set" / "manifest.csv", dtype={"bucket": str})
    assert list(manifest.columns) == ["file", "hole_ratio", "bucket", "scheme", "family", "seed", "height", "width"]
    assert len(list((tmp_path / "set").glob("*.png"))) == 3 * len(buckets)
    for row in manifest.itertuples():
        known = load_known(tmp_path / "set" / row.file)  # white = hole on disk by default
        ratio = float(hole_ratio(known))
        lo, hi = buckets[row.bucket]
        assert lo < ratio <= hi and ratio == pytest.approx(row.hole_ratio, abs=1e-12)
        assert known.shape[-2:] == (row.height, row.width) == (40, 48)
        # each mask can be redrawn from its own manifest row
        again = sample_hole_in_bucket(40, 48, np.random.default_rng(row.seed), buckets[row.bucket], row.family)
        assert torch.equal(known[0, 0] == 0, torch.from_numpy(again))


def test_make_mask_set_same_seed_same_bytes_other_seed_differs(tmp_path):
    make_mask_set(tmp_path / "a", 32, per_bucket=2, seed=7, progress=False)
    make_mask_set(tmp_path / "b", 32, per_bucket=2, seed=7, progress=False)
    make_mask_set(tmp_path / "c", 32, per_bucket=2, seed=8, progress=False)
    a, b, c = (_files(tmp_path / x) for x in "abc")
    assert a == b
    assert a.keys() == c.keys()
    assert sum(a[k] != c[k] for k in a if k.endswith(".png")) == len(a) - 1  # every PNG differs


def test_make_mask_set_refuses_overwrite_unless_asked(tmp_path):
    out = tmp_path / "set"
    make_mask_set(out, 32, per_bucket=2, seed=0, progress=False)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite"):
        make_mask_set(out, 32, per_bucket=1, seed=1, progress=False)
    df = make_mask_set(out, 32, per_bucket=1, seed=1, overwrite=True, progress=False)
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == sorted(df["file"]), "stale PNGs of the old manifest must go"
    assert (out / "notes.txt").read_text() == "mine", "files the set did not write are left alone"


# ---------------------------------------------------------------- polarity and IO

def test_known_from_pixels_polarity_and_threshold():
    pixels = np.array([[0, 255], [127, 128]], np.uint8)
    with pytest.warns(UserWarning, match="binarised at 127"):
        white_holes = known_from_pixels(pixels, "white", name="x.png")
    assert white_holes.tolist() == [[1, 0], [1, 0]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        black_holes = known_from_pixels(np.array([[0, 255]], np.uint8), "black")
    assert black_holes.tolist() == [[0, 1]]
    with pytest.raises(ValueError, match="holes='white'"):
        known_from_pixels(pixels, "grey")


@pytest.mark.parametrize("holes", ["white", "black"])
def test_save_load_round_trip_and_file_colours(tmp_path, holes):
    known = generate_known(33, 47, seed=2)
    path = save_known(tmp_path / "m.png", known, holes=holes)
    raw = np.asarray(Image.open(path))
    hole_colour = 255 if holes == "white" else 0
    assert set(np.unique(raw[known[0, 0].numpy() == 0])) == {hole_colour}
    assert torch.equal(load_known(path, holes=holes), known)
    assert torch.equal(load_known(path, holes="black" if holes == "white" else "white"), 1 - known)
    assert np.array_equal(pixels_from_known(known, holes), raw)


def test_save_known_refuses_overwrite_and_non_png(tmp_path):
    known = generate_known(16, 16, seed=0)
    save_known(tmp_path / "m.png", known)
    with pytest.raises(FileExistsError, match="m.png"):
        save_known(tmp_path / "m.png", known)
    save_known(tmp_path / "m.png", 1 - known, overwrite=True)
    assert torch.equal(load_known(tmp_path / "m.png"), 1 - known)
    with pytest.raises(ValueError, match="m.jpg"):
        save_known(tmp_path / "m.jpg", known)


def _hole_square(size=32) -> np.ndarray:
    white = np.zeros((size, size), bool)
    white[8:20, 4:28] = True
    return white


def test_jpeg_and_grey_levels_are_binarised_with_a_warning(tmp_path):
    white = _hole_square()
    Image.fromarray(white.astype(np.uint8) * 255).save(tmp_path / "m.jpg", quality=60)
    with pytest.warns(UserWarning, match="m.jpg"):
        known = load_known(tmp_path / "m.jpg")
    assert set(known.unique().tolist()) <= {0.0, 1.0}
    assert (known[0, 0].numpy() == 0)[white].mean() > 0.95 and (known[0, 0].numpy() == 1)[~white].mean() > 0.95

    grey = np.where(white, 200, 30).astype(np.uint8)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    with pytest.warns(UserWarning, match="grey.png"):
        known = load_known(tmp_path / "grey.png")
    assert np.array_equal(known[0, 0].numpy() == 0, white)


def test_other_pillow_modes_load(tmp_path):
    white = _hole_square()
    expected = torch.from_numpy((~white).astype(np.float32))[None, None]
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[white] = (255, 0, 0, 255)  # red strokes on a transparent layer
    files = {
        "rgba.png": Image.fromarray(rgba, "RGBA"),
        "rgb.png": Image.fromarray(np.repeat(white[..., None], 3, -1).astype(np.uint8) * 255, "RGB"),
        "palette.png": Image.fromarray(white.astype(np.uint8) * 255).convert("P"),
        "bilevel.png": Image.fromarray(white.astype(np.uint8) * 255).convert("1"),
        "sixteen.png": Image.fromarray(white.astype(np.uint16) * 65535),
        "bmp.bmp": Image.fromarray(white.astype(np.uint8) * 255),
        "tiff.tif": Image.fromarray(white.astype(np.uint8) * 255),
    }
    for name, img in files.items():
        img.save(tmp_path / name)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert torch.equal(load_known(tmp_path / name), expected), name
    assert Image.open(tmp_path / "sixteen.png").mode.startswith("I")
    # a 16-bit mid grey is non-binary, so it warns
    Image.fromarray(np.where(white, 40000, 0).astype(np.uint16)).save(tmp_path / "mid16.png")
    with pytest.warns(UserWarning, match="mid16.png"):
        assert torch.equal(load_known(tmp_path / "mid16.png"), expected)


def test_nearest_resize_keeps_values_binary(tmp_path):
    known = generate_known(64, 64, seed=4, family="medium")
    save_known(tmp_path / "m.png", known)
    for size in [(32, 48), 97, (128, 128)]:
        resized = load_known(tmp_path / "m.png", size=size)
        h, w = (size, size) if isinstance(size, int) else size
        assert resized.shape == (1, 1, h, w)
        assert set(resized.unique().tolist()) == {0.0, 1.0}
    up = load_known(tmp_path / "m.png", size=(128, 128))[0, 0]
    assert torch.equal(up, known[0, 0].repeat_interleave(2, 0).repeat_interleave(2, 1))
    down = load_known(tmp_path / "m.png", size=(32, 32))
    assert abs(float(hole_ratio(down)) - float(hole_ratio(known))) < 0.05


def test_errors_name_the_file_and_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.png.*check the path"):
        load_known(tmp_path / "nowhere.png")
    (tmp_path / "broken.png").write_text("not an image")
    with pytest.raises(ValueError, match="broken.png.*re-save it as a PNG"):
        load_known(tmp_path / "broken.png")
    save_known(tmp_path / "ok.png", generate_known(16, 16, seed=0))
    with pytest.raises(ValueError, match="ok.png.*holes='white'"):
        load_known(tmp_path / "ok.png", holes="dark")


# ---------------------------------------------------------------- grow_known

@pytest.mark.parametrize("kernel", [3, 9, 15])
def test_grow_known_shrinks_square_hole_by_half_kernel(kernel):
    known = torch.ones(1, 1, 64, 64)
    known[..., 10:50, 12:52] = 0
    grown = grow_known(known, kernel)
    r = kernel // 2
    expected = torch.ones_like(known)
    expected[..., 10 + r:50 - r, 12 + r:52 - r] = 0
    assert torch.equal(grown, expected)


@pytest.mark.parametrize("kernel", [3, 7, 15])
def test_grow_known_equals_scipy_grey_dilation(kernel):
    rng = np.random.default_rng(kernel)
    batch = torch.stack([generate_known(37, 45, seed=int(s), family="thin")[0]
                         for s in rng.integers(0, 1000, 4)])
    batch[1, 0, :, :6] = 0  # a hole touching the border
    grown = grow_known(batch, kernel)
    for i in range(batch.shape[0]):
        ref = ndimage.grey_dilation(batch[i, 0].numpy(), size=(kernel, kernel), mode="reflect")
        assert np.array_equal(grown[i, 0].numpy(), ref)
        assert torch.equal(grown[i:i + 1], grow_known(batch[i:i + 1], kernel)), "batched must equal per-image"


# ---------------------------------------------------------------- NVIDIA adapter

def _fake_nvidia(folder: Path, group_size: int = 3, size: int = 48, holes: str = "black",
                 bounds_of=lambda b: NVIDIA_BUCKETS[b]) -> Path:
    """A tiny folder laid out like the NVIDIA test set: index // group_size → 0-10 % … 50-60 %."""
    folder.mkdir(parents=True, exist_ok=True)
    for g, name in enumerate(NVIDIA_BUCKETS):
        for j in range(group_size):
            index = g * group_size + j
            lo, hi = bounds_of(name)
            hole = sample_hole_in_bucket(size, size, np.random.default_rng(index), (lo + 0.01, hi - 0.01))
            save_known(folder / f"{index:05d}.png", torch.from_numpy(~hole).float(), holes=holes)
    return folder


def test_nvidia_detects_polarity_and_indexes(tmp_path):
    root = _fake_nvidia(tmp_path / "nv")
    masks = NvidiaMasks(root, group_size=3)
    assert masks.holes == "black" and len(masks) == 18
    assert masks.fit["black"] == 1.0 and masks.fit["white"] < 0.5
    df = index_nvidia_masks(root, tmp_path / "nv.csv", group_size=3, progress=False)
    assert (df["bucket"] == df["group"]).all()
    assert df.groupby("bucket").size().to_dict() == {b: 3 for b in NVIDIA_BUCKETS}
    assert pd.read_csv(tmp_path / "nv.csv")["file"].tolist() == [f"{i:05d}.png" for i in range(18)]
    with pytest.raises(FileExistsError, match="nv.csv"):
        index_nvidia_masks(root, tmp_path / "nv.csv", group_size=3, progress=False)
    # ratios at the evaluation resolution after nearest resize
    df32 = index_nvidia_masks(root, tmp_path / "nv32.csv", size=32, group_size=3, progress=False)
    assert (df32["height"] == 32).all() and df32["hole_ratio"].between(0, 0.6).all()
    loaded = masks.load(5)
    assert torch.equal(loaded, load_known(root / "00005.png", holes="black"))


def test_nvidia_refuses_wrong_polarity(tmp_path):
    root = _fake_nvidia(tmp_path / "nv")
    with pytest.raises(ValueError, match="holes='white' does not fit.*holes='black'"):
        NvidiaMasks(root, holes="white", group_size=3)
    inverted = _fake_nvidia(tmp_path / "inv", holes="white")
    assert NvidiaMasks(inverted, group_size=3).holes == "white"
    with pytest.raises(ValueError, match="holes='black' does not fit"):
        NvidiaMasks(inverted, holes="black", group_size=3)


def test_nvidia_refuses_folder_that_fits_neither(tmp_path):
    # every group holds 20-30 % masks, so neither polarity matches the per-group ratios
    root = _fake_nvidia(tmp_path / "nv", bounds_of=lambda b: (0.2, 0.3))
    with pytest.raises(ValueError, match="neither polarity fits"):
        NvidiaMasks(root, group_size=3)
    # the right files with the wrong group size do not fit either
    with pytest.raises(ValueError, match="group"):
        NvidiaMasks(_fake_nvidia(tmp_path / "ok"), group_size=2)


def test_nvidia_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        NvidiaMasks(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no .png"):
        NvidiaMasks(tmp_path / "empty")
    root = _fake_nvidia(tmp_path / "nv")
    save_known(root / "extra.png", generate_known(48, 48, seed=0))
    with pytest.raises(ValueError, match="extra.png"):
        NvidiaMasks(root, group_size=3)


# ---------------------------------------------------------------- CLI

def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="isnet")
    method_cli.add_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_make_and_nvidia(tmp_path, capsys):
    out = tmp_path / "set"
    argv = ["masks", "make", "--out", str(out), "--size", "32", "--width", "40", "--per-bucket", "2",
            "--scheme", "nvidia", "--seed", "3"]
    assert _cli(argv) == 0
    df = pd.read_csv(out / "manifest.csv", dtype={"bucket": str})
    assert df.groupby("bucket").size().to_dict() == {b: 2 for b in NVIDIA_BUCKETS}
    assert (df["width"] == 40).all() and (df["height"] == 32).all()
    with pytest.raises(FileExistsError):
        _cli(argv)
    assert _cli(argv + ["--overwrite"]) == 0

    root = _fake_nvidia(tmp_path / "nv", group_size=2)
    assert _cli(["masks", "nvidia", "--root", str(root), "--out", str(tmp_path / "nv.csv"),
                 "--group-size", "2"]) == 0
    assert "holes='black'" in capsys.readouterr().out
