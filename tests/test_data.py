"""Image sources, conversions, transforms, bad input, training masks, evaluation pairs and the training stream,
on small files the tests generate."""
from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from isnet import data as D
from isnet.data import sources, transforms
from isnet.engine.config import Config
from isnet.method import masks as M


def photo(seed: int, h: int = 48, w: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 255, (4, 5, 3)).astype(np.uint8)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC))


def save(path: Path, arr: np.ndarray, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, **kw)
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "imgs"
    save(root / "a.png", photo(0))
    save(root / "sub" / "b.JPG", photo(1), quality=95)
    save(root / "sub" / "deep" / "c.tiff", photo(2))
    save(root / "d.webp", photo(3), lossless=True)
    (root / "notes.txt").write_text("not an image")
    return root


# ------------------------------------------------------------------------------------------
# reading and converting
# ------------------------------------------------------------------------------------------

def test_read_image_converts_modes(tmp_path):
    rgb = photo(5)
    grey = rgb[..., 0]
    out = D.read_image(save(tmp_path / "g.png", grey))
    assert out.shape == (48, 64, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[..., 2], grey / 255.0, atol=1e-6)
    rgba = np.dstack([rgb, np.full(grey.shape, 7, np.uint8)])
    np.testing.assert_allclose(D.read_image(save(tmp_path / "a.png", rgba)), rgb / 255.0, atol=1e-6)
    pal = Image.fromarray(rgb).quantize(16)
    pal.save(tmp_path / "p.png")
    np.testing.assert_allclose(D.read_image(tmp_path / "p.png"), np.asarray(pal.convert("RGB")) / 255.0, atol=1e-6)
    sixteen = (np.arange(48 * 64).reshape(48, 64) * 21).astype(np.uint16)
    Image.fromarray(sixteen).save(tmp_path / "s16.png")
    assert Image.open(tmp_path / "s16.png").mode.startswith("I")
    np.testing.assert_allclose(D.read_image(tmp_path / "s16.png")[..., 1], sixteen / 65535.0, atol=1e-6)


def test_fast_decode_keeps_the_short_side(tmp_path):
    path = save(tmp_path / "big.jpg", photo(6, 480, 640), quality=95)
    full = D.read_image(path)
    fast = D.read_image(path, min_short=100)
    assert min(fast.shape[:2]) >= 100 and fast.shape[0] < full.shape[0]
    png = save(tmp_path / "big.png", photo(6, 480, 640))
    assert D.read_image(png, min_short=100).shape == (120, 160, 3)  # box reduction by 480 // 100 = 4


def test_corrupt_and_truncated_images_raise_naming_the_file(tmp_path):
    (tmp_path / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    data = (tmp_path / "ok.jpg").write_bytes(b"") or save(tmp_path / "ok.jpg", photo(7)).read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    for name in ("junk.png", "cut.jpg"):
        with pytest.raises(D.BadImageError, match=name):
            D.read_image(tmp_path / name)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        D.read_image(tmp_path / "missing.png")


# ------------------------------------------------------------------------------------------
# sources
# ------------------------------------------------------------------------------------------

def test_folder_source_recursive_and_extensions(folder):
    src = D.build_source("folder", root=folder)
    assert src.ids == ["a.png", "d.webp", "sub/b.JPG", "sub/deep/c.tiff"]
    assert src.load(2).shape == (48, 64, 3) and src.index_of("d.webp") == 1
    assert src.describe()["count"] == 4


def test_flist_source_relative_and_absolute(folder, tmp_path):
    flist = tmp_path / "x.flist"
    flist.write_text(f"imgs/a.png\n{folder / 'sub' / 'b.JPG'}\n\n")
    src = D.build_source("folder", root=flist)
    assert len(src) == 2 and src.paths[0] == tmp_path / "imgs" / "a.png"
    assert src.load(1).shape == (48, 64, 3)


def test_bad_source_arguments_are_clear(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match="no images in folder .*empty"):
        D.build_source("folder", root=tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        D.build_source("folder", root=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="celeba.*folder.*photos.*places2.*samples"):
        D.build_source("imagenet")


def test_samples_source():
    src = D.build_source("samples")
    assert len(src) == 8 and src.ids[0] == "astronaut"
    img = src.load(0)
    assert img.shape == (512, 512, 3) and img.dtype == np.float32 and 0 <= img.min() and img.max() <= 1
    assert src.describe()["licence"].startswith("public-domain (3)")


def make_celeba(root: Path) -> None:
    for i in range(1, 7):
        save(root / "img_align_celeba" / f"{i:06d}.jpg", photo(i, 218, 178), quality=95)
    lines = [f"{i:06d}.jpg {p}" for i, p in zip(range(1, 7), [0, 0, 0, 1, 2, 2])]
    (root / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")


def test_celeba_partitions_and_centre_crop(tmp_path):
    make_celeba(tmp_path)
    counts = {s: len(D.build_source("celeba", root=tmp_path, split=s)) for s in ("train", "val", "test", "all")}
    assert counts == {"train": 3, "val": 1, "test": 2, "all": 6}
    src = D.build_source("celeba", root=tmp_path, split="test")
    assert src.ids == ["000005.jpg", "000006.jpg"]
    img = src.load(0)
    view = D.eval_transform(img, 178)  # 178×178 centre crop, no resize
    np.testing.assert_allclose(view.numpy(), img[20:198].transpose(2, 0, 1), atol=1e-6)


def test_celeba_missing_partition_file(tmp_path):
    make_celeba(tmp_path)
    (tmp_path / "list_eval_partition.txt").unlink()
    with pytest.raises(FileNotFoundError, match="list_eval_partition.txt"):
        D.build_source("celeba", root=tmp_path)
    with pytest.raises(ValueError, match="splits"):
        D.build_source("celeba", root=tmp_path, split="dev")


def make_places(root: Path, renamed: bool = True) -> None:
    train_dir = root / ("data_256_standard" if renamed else "data_256")
    save(train_dir / "a" / "airfield" / "00000001.jpg", photo(1, 256, 256))
    save(train_dir / "b" / "bakery" / "shop" / "00000002.jpg", photo(2, 256, 256))
    for i in (1, 2, 3):
        save(root / "val_256" / f"Places365_val_{i:08d}.jpg", photo(10 + i, 256, 256))
    (root / "places365_train_standard.txt").write_text("/a/airfield/00000001.jpg 0\n/b/bakery/shop/00000002.jpg 1\n")
    (root / "places365_val.txt").write_text("".join(f"Places365_val_{i:08d}.jpg {i}\n" for i in (1, 2, 3)))
    (root / "categories_places365.txt").write_text("/a/airfield 0\n/b/bakery/shop 1\n")


@pytest.mark.parametrize("renamed", [True, False])
def test_places2_layout(tmp_path, renamed):
    make_places(tmp_path, renamed)
    train = D.build_source("places2", root=tmp_path, split="train")
    val = D.build_source("places2", root=tmp_path, split="val")
    assert train.ids == ["a/airfield/00000001.jpg", "b/bakery/shop/00000002.jpg"] and len(val) == 3
    assert all(p.is_file() for p in train.paths + val.paths)
    assert val.load(2).shape == (256, 256, 3)
    with pytest.raises(FileNotFoundError, match="places365_test.txt"):
        D.build_source("places2", root=tmp_path, split="test")


def test_places2_names_match_torchvision():
    """Our file and folder names are the ones torchvision's Places365 reads and writes."""
    from torchvision.datasets import Places365

    assert {v for k, v in sources._PLACES_LISTS.items()} == {Places365._FILE_LIST_META[s][0] for s in sources._PLACES_LISTS}
    tv = Places365.__new__(Places365)
    for split in ("train-standard", "val", "test"):
        tv.root, tv.split, tv.small = "/r", split, True
        assert Path(tv.images_dir) == D.places_images_dir(Path("/r"), split, True)[0]


# ------------------------------------------------------------------------------------------
# transforms
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [17, 32, 100])
@pytest.mark.filterwarnings("ignore:upscaling")
def test_resize_matches_pillow_bilinear(size):
    img = photo(4, 60, 80)
    ref = np.asarray(Image.fromarray(img[:, 10:70]).resize((size, size), Image.Resampling.BILINEAR)) / 255.0
    out = D.eval_transform(img.astype(np.float32) / 255.0, size, upscale=True).permute(1, 2, 0).numpy()
    assert np.abs(out - ref).max() <= 1.01 / 255


def test_small_image_error_or_logged_upscale():
    img = photo(1, 40, 50).astype(np.float32) / 255
    with pytest.raises(D.ImageTooSmallError, match="upscale=True"):
        D.eval_transform(img, 64, where="tiny.png")
    transforms._UPSCALE_WARNED.discard(64)
    with pytest.warns(UserWarning, match="upscaling"):
        assert D.eval_transform(img, 64, upscale=True, where="tiny.png").shape == (3, 64, 64)


def test_random_crop_boxes_stay_inside_and_vary():
    rng = np.random.default_rng(0)
    boxes = [transforms._random_box(300, 500, 64, rng, (0.25, 1.0)) for _ in range(50)]
    for top, left, side in boxes:
        assert 75 <= side <= 300 and 0 <= top <= 300 - side and 0 <= left <= 500 - side
    assert len({b[2] for b in boxes}) > 10 and len({b[1] for b in boxes}) > 10
    assert transforms._random_box(40, 50, 64, rng, (0.25, 0.3))[2] == 40  # never below size when the image allows


def write_mask_set(path: Path) -> Path:
    hole = np.zeros((32, 32), bool)
    hole[:8, :20] = True  # asymmetric: top-left bar
    M.save_known(path / "m.png", M.known_from_hole(hole))
    return path / "m.png"


def test_training_flip_is_joint_and_rot90_is_mask_only(tmp_path, folder):
    write_mask_set(tmp_path / "masks")
    src = D.build_source("folder", root=folder)
    base = D.TrainDataset(src, 32, masks=tmp_path / "masks", hflip=0.0, rot90_mask=False)
    flipped = D.TrainDataset(src, 32, masks=tmp_path / "masks", hflip=1.0, rot90_mask=False)
    rotated = D.TrainDataset(src, 32, masks=tmp_path / "masks", hflip=0.0, rot90_mask=True)
    view = D.eval_transform(src.load(0), 32)
    a, b = base[0], flipped[0]
    torch.testing.assert_close(a["image"], view)
    torch.testing.assert_close(b["image"], view.flip(-1))
    torch.testing.assert_close(b["known"], a["known"].flip(-1))
    ks = set()
    for i in range(len(src)):
        r, plain = rotated[i], base[i]
        torch.testing.assert_close(r["image"], plain["image"])  # the image is never rotated
        k = [j for j in range(4) if torch.equal(r["known"], torch.rot90(plain["known"], j, dims=(-2, -1)))]
        assert len(k) == 1
        ks.add(k[0])
    ks |= {next(j for j in range(4) if torch.equal(rotated[(e, 0)]["known"],
                                                 torch.rot90(base[0]["known"], j, dims=(-2, -1)))) for e in range(8)}
    assert len(ks) >= 3


def test_generated_masks_are_binary_and_depend_only_on_seed_epoch_index(folder):
    src = D.build_source("folder", root=folder)
    ds = D.TrainDataset(src, 32, seed=3, crop="random", scale=(0.5, 1.0), upscale=True)
    x = ds[(2, 1)]
    assert x["image"].shape == (3, 32, 32) and x["known"].shape == (1, 32, 32) and x["index"] == 1
    assert set(x["known"].unique().tolist()) <= {0.0, 1.0} and 0 < x["known"].mean() < 1
    again = D.TrainDataset(src, 32, seed=3, crop="random", scale=(0.5, 1.0), upscale=True)[(2, 1)]
    torch.testing.assert_close(again["image"], x["image"])
    torch.testing.assert_close(again["known"], x["known"])
    other = ds[(3, 1)]
    assert not torch.equal(other["known"], x["known"])


def test_file_masks_from_manifest_and_unknown_family(tmp_path, folder):
    M.make_mask_set(tmp_path / "set", 32, per_bucket=1, progress=False)
    masks = D.build_mask_source(tmp_path / "set" / "manifest.csv")
    assert len(masks.paths) == 4
    k = masks.sample(np.random.default_rng(0), 24)
    assert k.shape == (1, 24, 24) and set(k.unique().tolist()) <= {0.0, 1.0}
    with pytest.raises(ValueError, match="family"):
        D.build_mask_source("generated", family="zigzag")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        D.build_mask_source(tmp_path / "nowhere")


# ------------------------------------------------------------------------------------------
# bad input in a dataset: skipped, counted, reported, never replaced
# ------------------------------------------------------------------------------------------

def _stream(ds, batch, seed=0, workers=0, **kw):
    """The training data path over ``ds`` with this batch, seed and worker count."""
    cfg = Config.from_dict({"train.batch": batch, "train.seed": seed, "data.workers": workers})
    return D.SampleStream(cfg, dataset=ds, **kw)


def test_unreadable_images_are_skipped_and_reported(folder):
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    src = D.build_source("folder", root=folder)
    bad = src.index_of("broken.png")
    ds = D.TrainDataset(src, 32)
    stream = _stream(ds, batch=5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        batches = list(stream.loader(0, 1))
    keys = stream.keys(0)
    assert sorted(i for _, i in keys) == list(range(len(src)))
    kept = [k for k in keys if k[1] != bad]
    images = torch.cat([image for image, _ in batches])
    assert len(images) == len(src) - 1  # skipped, not replaced by another image
    torch.testing.assert_close(images, torch.stack([ds[k]["image"] for k in kept]))
    assert [s.index for s in ds.skipped] == [bad] and "broken.png" in ds.skipped[0].path
    assert any("1 unreadable image(s) were skipped" in str(w.message) for w in caught)


def test_skips_are_gathered_from_workers(folder):
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut")
    ds = D.TrainDataset(D.build_source("folder", root=folder), 32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        n = sum(len(image) for image, _ in _stream(ds, 5, workers=2).loader(0, 1))
    assert n == 4 and len(ds.skipped) == 1 and ds.skipped[0].path.endswith("broken.jpg")


# ------------------------------------------------------------------------------------------
# the training stream (the one training data path)
# ------------------------------------------------------------------------------------------

def _epochs(ds, workers, epochs=2):
    """Every batch of ``epochs`` epochs (4 images, batch 2: two iterations per epoch)."""
    stream = _stream(ds, batch=2, seed=7, workers=workers)
    batches = [(image.clone(), known.clone()) for image, known in stream.loader(0, 2 * epochs)]
    return [batches[2 * e:2 * e + 2] for e in range(epochs)], [stream.keys(i) for i in range(2 * epochs)]


def test_batches_do_not_depend_on_worker_count(folder):
    ds = D.TrainDataset(D.build_source("folder", root=folder), 32, seed=1, crop="random", upscale=True)
    (zero, keys), (two, _) = _epochs(ds, 0), _epochs(ds, 2)
    for ez, et in zip(zero, two):
        assert len(ez) == len(et) == 2
        for bz, bt in zip(ez, et):
            for z, t in zip(bz, bt):  # image, known
                torch.testing.assert_close(z, t)
    assert [i for _, i in keys[0]] != [i for _, i in keys[2]] or not torch.equal(
        zero[0][0][1], zero[1][0][1])  # a new epoch draws anew


def test_distributed_ranks_partition_and_reshuffle(folder):
    ds = D.TrainDataset(D.build_source("folder", root=folder), 32)
    seen = []
    for rank in (0, 1):
        stream = _stream(ds, 2, seed=0, rank=rank, world=2)  # one image per rank and iteration
        first = [i for it in (0, 1) for _, i in stream.keys(it)]   # epoch 0
        second = [i for it in (2, 3) for _, i in stream.keys(it)]  # epoch 1
        seen.append(first)
        assert sorted(first) == sorted(second) or first != second
    assert sorted(seen[0] + seen[1]) == list(range(4))


def test_stream_rejects_bad_batch_size(folder):
    with pytest.raises(ValueError, match="batch_size"):
        _stream(D.TrainDataset(D.build_source("folder", root=folder), 32), 0)


# ------------------------------------------------------------------------------------------
# evaluation pairs
# ------------------------------------------------------------------------------------------

def test_make_pairs_is_reproducible_and_balanced(tmp_path):
    a = D.make_pairs("samples", "test", 64, 3, tmp_path / "a" / "pairs.csv", seed=5, progress=False)
    b = D.make_pairs("samples", "test", 64, 3, tmp_path / "b" / "pairs.csv", seed=5, progress=False)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == D.PAIRS_COLUMNS and len(a) == 12
    assert a.groupby("bucket").size().to_dict() == {"10-20": 3, "20-30": 3, "30-40": 3, "40-50": 3}
    for row in a.itertuples():
        assert M.bucket_of(row.hole_ratio, "paper") == row.bucket
    assert a.groupby("bucket")["image_id"].apply(list).map(tuple).nunique() == 1  # item i: same image per bucket
    side = json.loads((tmp_path / "a" / "pairs.csv.json").read_text())
    assert side["source"] == "samples" and side["seed"] == 5 and side["size"] == 64
    c = D.make_pairs("samples", "test", 64, 3, tmp_path / "c" / "pairs.csv", seed=6, progress=False)
    assert not c["mask_sha256"].equals(a["mask_sha256"])
    with pytest.raises(FileExistsError, match="--overwrite"):
        D.make_pairs("samples", "test", 64, 3, tmp_path / "a" / "pairs.csv", seed=5, progress=False)


def test_pairs_dataset_yields_the_recorded_pairs(tmp_path, folder):
    out = tmp_path / "p" / "pairs.csv"
    df = D.make_pairs("folder", "all", 32, 2, out, seed=0, source_opts=dict(root=str(folder)), progress=False)
    ds = D.PairsDataset(out)
    assert len(ds) == 8
    image, known, meta = ds[3]
    assert image.shape == (3, 32, 32) and known.shape == (1, 32, 32)
    row = df.iloc[3]
    assert meta["pair"] == row["pair"] and meta["image_id"] == row["image_id"]
    assert float(M.hole_ratio(known[None])[0]) == pytest.approx(row["hole_ratio"], abs=1e-6)
    torch.testing.assert_close(image, D.eval_transform(ds.source.load(ds.source.index_of(row["image_id"])), 32))
    batches = list(D.pair_batches(ds, 4))
    assert batches[0][0].shape == (4, 3, 32, 32) and batches[1][2][0]["pair"] == df["pair"].iloc[4]
    # regenerate a mask from its seed: the stored PNG is exactly the generator's output
    bounds = M.PAPER_BUCKETS[row["bucket"]]
    hole = M.sample_hole_in_bucket(32, 32, np.random.default_rng(int(row["mask_seed"])), bounds, row["family"])
    torch.testing.assert_close(known[0], torch.from_numpy((~hole).astype(np.float32)))


def test_pairs_dataset_detects_changed_files(tmp_path, folder):
    out = tmp_path / "pairs.csv"
    df = D.make_pairs("folder", "all", 32, 1, out, seed=0, source_opts=dict(root=str(folder)), progress=False)
    mask = tmp_path / df["mask_file"].iloc[0]
    M.save_known(mask, torch.ones(1, 1, 32, 32), overwrite=True)
    with pytest.raises(ValueError, match="missing or changed"):
        D.PairsDataset(out)
    with pytest.raises(FileNotFoundError, match="isnet data pairs"):
        D.PairsDataset(tmp_path / "other.csv")


# ------------------------------------------------------------------------------------------
# CLI and bench
# ------------------------------------------------------------------------------------------

def test_cli_pairs_and_list(tmp_path, capsys):
    from isnet.cli import main

    out = tmp_path / "pairs.csv"
    assert main(["data", "pairs", "--source", "samples", "--split", "test", "--size", "48", "--per-bucket", "1",
                 "--seed", "0", "--out", str(out)]) == 0
    assert len(pd.read_csv(out)) == 4 and "wrote 4 pairs" in capsys.readouterr().out
    assert main(["data", "list"]) == 0
    text = capsys.readouterr().out
    assert "samples" in text and "celeba" in text


def test_bench_quick_runs(capsys):
    from isnet.bench import data as bench

    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    assert bench.run(parser.parse_args(["--quick", "--source", "samples"])) == 0
    out = capsys.readouterr().out
    assert "| size | workers | loader img/s | train step img/s | loader / step |" in out
    assert out.count("| 32 |") == 2
