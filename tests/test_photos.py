"""The offline photo pool: WebP carving, Qt resource names, perceptual hashes, groups, split,
licences, .deb reading and the fetch/verify cycle, on files the tests make (no network)."""
from __future__ import annotations

import hashlib
import io
import shutil
import struct
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.fft
from PIL import Image

from isnet.data import photos as P
from isnet.data.photos import collect, dedup, fetch


# ------------------------------------------------------------------------------------------
# fixtures: images, a Qt resource file, a .deb
# ------------------------------------------------------------------------------------------

def scene(seed: int, h: int = 300, w: int = 400) -> np.ndarray:
    """A smooth colour 'photo' (blurred random field + gradient), uint8 H×W×3."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(0, 255, (6, 8, 3)).astype(np.uint8)
    img = np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC), np.float32)
    img += np.linspace(0, 40, w)[None, :, None]
    return np.clip(img, 0, 255).astype(np.uint8)


def encode(arr: np.ndarray, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt, **kw)
    return buf.getvalue()


def make_rcc(files: dict[str, bytes], junk: bytes = b"") -> tuple[bytes, dict[str, int]]:
    """A Qt binary resource (format version 3) holding ``files`` under one folder ``/res``.

    Written from the format description, independently of the parser. Returns the blob and the
    byte offset of each file's data.
    """
    names = ["res", *files]
    name_blob, name_off = b"", {}
    for n in names:
        name_off[n] = len(name_blob)
        enc = n.encode("utf-16-be")
        name_blob += struct.pack(">HI", len(n), 0) + enc
    header_len = 24
    data_blob, data_off = b"", {}
    for n, d in files.items():
        data_off[n] = len(data_blob)
        data_blob += struct.pack(">I", len(d)) + d + junk
    data_start = header_len
    names_start = data_start + len(data_blob)
    tree_start = names_start + len(name_blob)
    tree = struct.pack(">IHII", 0, 2, 1, 1) + bytes(8)                     # root dir: 1 child at index 1
    tree += struct.pack(">IHII", name_off["res"], 2, len(files), 2) + bytes(8)  # /res: children from 2
    for n in files:
        tree += struct.pack(">IHHHI", name_off[n], 0, 0, 0, data_off[n]) + bytes(8)
    blob = b"qres" + struct.pack(">IIIII", 3, tree_start, data_start, names_start, 0)
    assert len(blob) == header_len
    blob += data_blob + name_blob + tree
    return blob, {n: data_start + data_off[n] + 4 for n in files}


def _ar_member(name: str, data: bytes) -> bytes:
    header = f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode()
    return header + data + (b"\n" if len(data) % 2 else b"")


def _tar(files: dict[str, bytes], mode: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for path, data in files.items():
            info = tarfile.TarInfo("./" + path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_deb(path: Path, package: str, files: dict[str, bytes]) -> Path:
    control = f"Package: {package}\nVersion: 1.0-1\nArchitecture: all\nMaintainer: t <t@t>\nDescription: t\n"
    deb = b"!<arch>\n" + _ar_member("debian-binary", b"2.0\n")
    deb += _ar_member("control.tar.gz", _tar({"control": control.encode()}, "w:gz"))
    deb += _ar_member("data.tar.xz", _tar(files, "w:xz"))
    path.write_bytes(deb)
    return path


COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: someone
License: GPL-2+

Files: data/*.jpg
Copyright: someone else
License: CC0-1.0

Files: src/res/river.jpg
Copyright: a photographer
License: CC-BY-4.0
"""

PKG = "fakephotos"


@pytest.fixture
def fake_deb(tmp_path: Path) -> tuple[Path, dict]:
    river = encode(scene(1), "WEBP", lossless=True)
    tiny = encode(scene(2, 64, 64), "WEBP", lossless=True)
    rcc, offsets = make_rcc({"river.webp": river, "tiny.webp": tiny}, junk=b"\0" * 7)
    grey = np.repeat(scene(3)[..., :1], 3, axis=-1)
    files = {
        f"usr/share/doc/{PKG}/copyright": COPYRIGHT.encode(),
        "usr/share/fake/res.rcc": rcc,
        "usr/share/fake/data/hill.jpg": encode(scene(4), "JPEG", quality=92),
        "usr/share/fake/data/hill_copy.jpg": encode(scene(4), "JPEG", quality=60),
        "usr/share/fake/data/grey.jpg": encode(grey, "JPEG"),
        "usr/share/fake/data/skip_me.jpg": encode(scene(5), "JPEG"),
        "usr/share/fake/other/notes.txt": b"not an image",
    }
    debs = tmp_path / "debs"
    debs.mkdir()
    deb = make_deb(debs / f"{PKG}_1.0-1_all.deb", PKG, files)
    info = dict(files=files, offsets=offsets, river=river, debs=debs, deb=deb)
    return deb, info


SPEC = P.PackageSpec(PKG, "train", "fake", include=("usr/share/fake/data/*.jpg",), exclude=("*/skip_me.jpg",),
                     rcc=("usr/share/fake/res.rcc",))


# ------------------------------------------------------------------------------------------
# carving and resource names
# ------------------------------------------------------------------------------------------

def test_carve_webp_finds_each_file_exactly_and_skips_truncated():
    a, b = encode(scene(10), "WEBP", lossless=True), encode(scene(11, 80, 90), "WEBP", quality=80)
    truncated = b"RIFF" + struct.pack("<I", 10_000) + b"WEBPVP8 "
    bad_chunks = b"RIFF" + struct.pack("<I", 20) + b"WEBPVP8 " + struct.pack("<I", 100) + bytes(8)  # 100 > 20
    blob = b"xx" + bad_chunks + b"junk" + a + b"\x00" * 13 + b + b"tail" + truncated
    found = P.carve_webp(blob)
    assert [off for off, _ in found] == [blob.index(a), blob.index(b)]
    assert [data for _, data in found] == [a, b]
    decoded = np.asarray(Image.open(io.BytesIO(found[0][1])).convert("RGB"))
    np.testing.assert_array_equal(decoded, scene(10))  # lossless: the carved bytes are the whole file


def test_rcc_file_table_names_stored_files():
    files = {"one.webp": encode(scene(12, 40, 50), "WEBP", lossless=True), "two.bin": b"abc"}
    blob, offsets = make_rcc(files)
    table = P.rcc_file_table(blob)
    assert table == {offsets["one.webp"]: "/res/one.webp", offsets["two.bin"]: "/res/two.bin"}
    assert P.carve_webp(blob) == [(offsets["one.webp"], files["one.webp"])]
    assert P.rcc_file_table(b"not a resource") == {}
    assert P.rcc_file_table(blob[:30]) == {}  # truncated: no crash, no names


# ------------------------------------------------------------------------------------------
# hashes, groups, split
# ------------------------------------------------------------------------------------------

def test_dct_matrix_matches_scipy_orthonormal_dct():
    x = np.random.default_rng(0).normal(size=(16, 16))
    c = dedup._dct_matrix(16)
    np.testing.assert_allclose(c @ x @ c.T, scipy.fft.dctn(x, norm="ortho"), atol=1e-10)


def test_perceptual_hashes_near_for_reencoded_far_for_other_photos():
    a = scene(20)
    a_jpeg = np.asarray(Image.open(io.BytesIO(encode(a, "JPEG", quality=40))))
    a_small = np.asarray(Image.fromarray(a).resize((200, 150), Image.Resampling.BILINEAR))
    b = scene(21)
    for h in (P.dhash, P.phash):
        assert P.hamming(h(a), h(a)) == 0
        assert P.hamming(h(a), h(a_jpeg)) <= 4
        assert P.hamming(h(a), h(a_small)) <= 4
        assert P.hamming(h(a), h(b)) >= 16
        assert P.hamming(h(a), h(a[:, ::-1])) >= 16  # a mirrored photo is not a duplicate
        assert 0 <= h(a) < 2**64


def test_dhash_bits_by_hand():
    # brightness increases left to right in every row → every bit is 1
    ramp = np.tile(np.linspace(0, 255, 90, dtype=np.float32), (80, 1))
    assert P.dhash(ramp) == 2**64 - 1
    assert P.dhash(ramp[:, ::-1]) == 0


@pytest.mark.parametrize("pid,key", [
    ("opencv-aloeL", "opencv-aloe"), ("opencv-leuvenB", "opencv-leuven"), ("opencv-graf3", "opencv-graf"),
    ("opencv-rubberwhale2", "opencv-rubberwhale"), ("opencv-ela_original", "opencv-ela"),
    ("pypi-skimage-motorcycle_right", "pypi-skimage-motorcycle"), ("gcompris-clickgame-sea5", "gcompris-clickgame-sea"),
    ("plasma-Kay_dark", "plasma-Kay"), ("mate-LadyBird", "mate-LadyBird"), ("gcompris-erase-crab", "gcompris-erase-crab"),
])
def test_series_key(pid, key):
    assert P.series_key(pid) == key


def test_grouping_by_hash_by_name_and_transitively():
    ids = ["p-aloeL", "p-aloeR", "p-cat", "p-cat_copy_x", "p-dog", "q-a-giraffe", "q-b-giraffe", "r-giraffe"]
    pkgs = ["p", "p", "p", "p", "p", "q", "q", "r"]
    rng = np.random.default_rng(0)
    far = [int(v) for v in rng.integers(0, 2**63, len(ids), dtype=np.int64)]
    dh, ph = list(far), list(far)
    dh[3], ph[3] = dh[2] ^ 0b111, ph[2] ^ 0b1  # the copy of the cat: 3 and 1 bits apart
    groups = P.group_near_duplicates(ids, pkgs, dh, ph)
    g = dict(zip(ids, groups))
    assert g["p-aloeL"] == g["p-aloeR"] == "p-aloeL"          # name series, named after the first id
    assert g["p-cat"] == g["p-cat_copy_x"] == "p-cat"          # perceptual hash
    assert g["q-a-giraffe"] == g["q-b-giraffe"]                # same subject in one package
    assert g["r-giraffe"] != g["q-a-giraffe"]                  # ... but not across packages
    assert len({g["p-dog"], g["p-cat"], g["p-aloeL"]}) == 3
    # hash link needs both hashes close
    ph2 = list(ph)
    ph2[3] = ph[2] ^ (2**40 - 1)
    assert dict(zip(ids, P.group_near_duplicates(ids, pkgs, dh, ph2)))["p-cat_copy_x"] == "p-cat_copy_x"


def test_split_by_group_never_straddles():
    groups = ["g1", "g1", "g2", "g3", "g3"]
    package_split = ["train", "test", "train", "test", "test"]
    assert P.assign_split(groups, package_split) == ["test", "test", "train", "test", "test"]


# ------------------------------------------------------------------------------------------
# licences
# ------------------------------------------------------------------------------------------

def test_licence_from_dep5_copyright():
    stanzas = P.parse_dep5(COPYRIGHT)
    assert stanzas[0] == (["*"], "GPL-2+")
    assert P.licence_for("usr/share/fake/data/hill.jpg", stanzas) == "CC0-1.0"
    # a literal entry names the source file (.jpg) of what ships as .webp inside the resource
    assert P.licence_for("/src/res/river.webp", stanzas) == "CC-BY-4.0"
    assert P.licence_for("usr/share/fake/other.png", stanzas) == "GPL-2+ (package default)"
    multi = P.parse_dep5("Files: a/x.jpg\n       b/y.jpg\nLicense: CC0\n\nFiles: b/*\nLicense: MIT\n")
    assert P.licence_for("usr/b/y.jpg", multi) == "CC0"
    assert P.licence_for("usr/b/z.jpg", multi) == "MIT"
    assert P.licence_for("q.jpg", multi, fallback="?") == "?"


# ------------------------------------------------------------------------------------------
# reading a .deb and collecting candidates
# ------------------------------------------------------------------------------------------

def test_read_deb_without_dpkg(fake_deb, monkeypatch):
    deb, info = fake_deb
    monkeypatch.setattr(shutil, "which", lambda name: None)
    got = P.read_deb_members(deb, lambda p: p.endswith(".jpg"))
    want = {k: v for k, v in info["files"].items() if k.endswith(".jpg")}
    assert got == want
    assert P.deb_version(deb) == "1.0-1"
    assert P.deb_version(Path("x_4%3a22.12.3-1_all.deb")) == "4:22.12.3-1"


def test_read_deb_with_dpkg_if_present_matches_pure_python(fake_deb, monkeypatch):
    deb, info = fake_deb
    ours = P.read_deb_members(deb, lambda p: True)
    assert ours == info["files"]
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert P.read_deb_members(deb, lambda p: True) == ours


def test_collect_package_applies_rules(fake_deb):
    deb, info = fake_deb
    skipped: list[str] = []
    cands = {c.id: c for c in P.collect_package(SPEC, deb, skipped)}
    assert sorted(cands) == ["fake-hill", "fake-hill_copy", "fake-res-river"]
    river = cands["fake-res-river"]
    assert (river.path, river.member, river.offset) == ("usr/share/fake/res.rcc", "/res/river.webp",
                                                        info["offsets"]["river.webp"])
    assert river.data == info["river"] and river.file == "fake-res-river.webp"
    assert (river.width, river.height) == (400, 300) and river.licence == "CC-BY-4.0"
    assert cands["fake-hill"].licence == "CC0-1.0" and cands["fake-hill"].ext == ".jpg"
    assert cands["fake-hill"].version == "1.0-1"
    text = "\n".join(skipped)
    assert "tiny.webp: 64×64 is under 256" in text and "grey.jpg: nearly grey" in text
    assert "skip_me" not in text and "fake-skip_me" not in cands  # excluded by rule, not by a check


def test_build_manifest_groups_and_hashes(fake_deb):
    deb, _ = fake_deb
    df = P.build_manifest(P.collect_package(SPEC, deb))
    assert list(df.columns) == P.MANIFEST_COLUMNS
    row = df.set_index("id")
    assert row.loc["fake-hill", "group"] == row.loc["fake-hill_copy", "group"] == "fake-hill"  # JPEG re-encode
    assert row.loc["fake-res-river", "group"] == "fake-res-river"
    assert set(df["split"]) == {"train"}
    for r in df.itertuples():
        assert len(r.sha256) == 64 and len(r.dhash) == 16 and len(r.phash) == 16
    assert P.near_duplicate_groups(df) == {"fake-hill": ["fake-hill", "fake-hill_copy"]}


# ------------------------------------------------------------------------------------------
# fetch: rebuild, idempotence, repair, verification errors
# ------------------------------------------------------------------------------------------

@pytest.fixture
def pool(fake_deb, tmp_path, monkeypatch):
    deb, info = fake_deb
    monkeypatch.setenv("ISNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(fetch, "PACKAGES", {PKG: SPEC})
    coffee = next(p for p in P.PYPI_PHOTOS if p.id == "skimage-coffee")
    monkeypatch.setattr(collect, "PYPI_PHOTOS", (coffee,))
    manifest = tmp_path / "photos_manifest.csv"
    report = P.fetch_photos(manifest=manifest, rebuild_manifest=True, debs_dir=info["debs"], progress=False)
    return dict(manifest=manifest, report=report, debs=info["debs"], root=P.photo_root())


def test_rebuild_writes_manifest_and_files(pool):
    df = P.read_manifest(pool["manifest"])
    assert sorted(df["id"]) == ["fake-hill", "fake-hill_copy", "fake-res-river", "pypi-skimage-coffee"]
    assert dict(zip(df["id"], df["split"]))["pypi-skimage-coffee"] == "test"
    for r in df.itertuples():
        data = (pool["root"] / r.file).read_bytes()
        assert hashlib.sha256(data).hexdigest() == r.sha256
    assert pool["report"].stored == {PKG: 3, "pypi:scikit-image": 1}
    with pytest.raises(FileExistsError, match="--overwrite"):
        P.fetch_photos(manifest=pool["manifest"], rebuild_manifest=True, debs_dir=pool["debs"], progress=False)


def test_fetch_is_idempotent_and_repairs(pool):
    again = P.fetch_photos(manifest=pool["manifest"], debs_dir=pool["debs"], progress=False)
    assert again.nothing_to_do and "nothing to do" in again.summary()
    (pool["root"] / "fake-hill.jpg").unlink()
    repaired = P.fetch_photos(manifest=pool["manifest"], debs_dir=pool["debs"], progress=False)
    assert repaired.stored == {PKG: 1} and repaired.present["pypi:scikit-image"] == 1
    assert P.verify_files(P.read_manifest(pool["manifest"]), pool["root"])


def test_concurrent_fetches_take_turns_and_the_second_finds_the_photos_stored(pool, monkeypatch):
    """Two processes starting on a fresh machine fetched at once; one deleted the .deb the other was reading."""
    import threading

    (pool["root"] / "fake-hill.jpg").unlink()
    calls, release = [], threading.Event()
    real_collect = fetch.collect_package

    def slow_collect(*args, **kwargs):
        calls.append(threading.current_thread().name)
        if len(calls) == 1:
            release.wait(10)  # the first fetch is mid-package while the second one starts
        return real_collect(*args, **kwargs)

    monkeypatch.setattr(fetch, "collect_package", slow_collect)
    reports = {}

    def run(name):
        reports[name] = P.fetch_photos(manifest=pool["manifest"], debs_dir=pool["debs"], progress=False)

    first = threading.Thread(target=run, args=("first",), name="first")
    second = threading.Thread(target=run, args=("second",), name="second")
    first.start()
    while not calls:
        time.sleep(0.01)
    second.start()
    time.sleep(0.5)
    assert calls == ["first"]  # the second waits for the lock instead of reading the same package
    release.set()
    first.join(10)
    second.join(10)
    assert calls == ["first"]
    assert reports["first"].stored == {PKG: 1} and reports["second"].nothing_to_do


def test_fetch_refuses_a_package_that_changed(pool, tmp_path):
    df = P.read_manifest(pool["manifest"])
    df.loc[df["id"] == "fake-hill", "sha256"] = "0" * 64
    bad = tmp_path / "bad.csv"
    df.to_csv(bad, index=False)
    with pytest.raises(ValueError, match="fake-hill .*differs from the manifest"):
        P.fetch_photos(manifest=bad, debs_dir=pool["debs"], progress=False)


def test_verify_names_missing_and_changed_files_and_the_repair_command(pool, monkeypatch):
    df = P.read_manifest(pool["manifest"])
    (pool["root"] / "fake-hill.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"fake-hill\.jpg.*isnet data fetch photos"):
        P.verify_files(df, pool["root"])
    monkeypatch.setattr(shutil, "which", lambda name: None)  # a machine without apt
    with pytest.raises(FileNotFoundError, match="no apt-get.*`folder` source"):
        P.verify_files(df, pool["root"])
    P.fetch_photos(manifest=pool["manifest"], debs_dir=pool["debs"], progress=False)  # .debs at hand: works
    (pool["root"] / "fake-res-river.webp").write_bytes(b"changed")
    with pytest.raises(ValueError, match=r"do not match .*fake-res-river\.webp"):
        P.verify_files(df, pool["root"])


def test_no_apt_and_no_deb_is_a_clear_error(pool, monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    (pool["root"] / "fake-hill.jpg").unlink()
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no apt-get"):
        P.fetch_photos(manifest=pool["manifest"], debs_dir=tmp_path / "empty", progress=False)


def test_missing_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="--rebuild-manifest"):
        P.read_manifest(tmp_path / "nope.csv")


def test_committed_manifest_is_consistent():
    df = P.read_manifest()
    assert len(df) >= 150 and df["id"].is_unique and df["file"].is_unique
    assert set(df["split"]) == {"train", "test"}
    assert not set(df[df["split"] == "train"]["group"]) & set(df[df["split"] == "test"]["group"])
    assert (df[["width", "height"]].min(axis=1) >= P.MIN_SHORT_SIDE).all()
    assert df["sha256"].str.fullmatch("[0-9a-f]{64}").all()
    rcc = df[df["path"].str.endswith(".rcc")]
    assert len(rcc) > 100 and rcc["offset"].str.fullmatch(r"\d+").all() and (rcc["file"].str.endswith(".webp")).all()
    groups = P.near_duplicate_groups(df)
    for pair in (("opencv-aloeL", "opencv-aloeR"), ("opencv-rubberwhale1", "opencv-rubberwhale2"),
                 ("opencv-leuvenA", "opencv-leuvenB"), ("opencv-graf1", "opencv-graf3"),
                 ("pypi-skimage-motorcycle_left", "pypi-skimage-motorcycle_right")):
        assert any(set(pair) <= set(m) for m in groups.values()), pair
    test_packages = set(df[df["split"] == "test"]["package"])
    assert test_packages.isdisjoint({"gcompris-qt-data", "tuxpaint-data", "mate-backgrounds"})


@pytest.mark.slow
def test_real_fetch_of_one_small_package(tmp_path, monkeypatch):
    """Downloads palapeli-data (~2 MB) with apt-get and checks it against the committed manifest."""
    if not shutil.which("apt-get"):
        pytest.skip("needs apt-get (Debian/Ubuntu)")
    monkeypatch.setenv("ISNET_CACHE", str(tmp_path))
    report = P.fetch_photos(packages=["palapeli-data"], progress=False)
    assert report.stored == {"palapeli-data": 5}
    assert P.fetch_photos(packages=["palapeli-data"], progress=False).nothing_to_do


def test_cli_fetch_arguments():
    from isnet.cli import build_parser

    args = build_parser().parse_args(["data", "fetch", "photos", "--packages", "palapeli-data", "--keep-debs"])
    assert args.packages == ["palapeli-data"] and args.keep_debs and args.func is not None


# ----------------------------------------------------------------------------------------- validation split
def test_validation_photos_are_held_out_training_groups_never_test_groups():
    """Issue 19: validation pairs come from held-out training groups; no group is shared with test or fit."""
    from isnet.engine.config import VAL_SPLITS
    from isnet.study.profiles import PROFILES

    df = P.read_manifest()
    val = P.select_split(df, VAL_SPLITS["photos"])
    test, fit, train = P.select_split(df, "test"), P.select_split(df, "fit"), P.select_split(df, "train")
    assert len(val) >= 16 and set(val["split"]) == {"train"}
    assert not set(val["group"]) & set(test["group"])
    assert not set(val["group"]) & set(fit["group"])
    assert len(val) + len(fit) == len(train)
    # every package of the training side is represented (the same mix of sources)
    assert set(val["package"]) == set(train["package"])
    for prof in PROFILES.values():
        d = prof.base.data
        if d.source == "photos":
            held = P.select_split(df, d.held_out_split())
            assert not set(held["group"]) & set(P.select_split(df, prof.eval_split)["group"]), prof.name


def test_validation_groups_fixed_by_names_and_whole():
    groups = ["a", "a", "b", "c", "d", "e"]
    packages = ["p", "p", "p", "p", "q", "q"]
    splits = ["train", "train", "train", "train", "train", "test"]
    held = dedup.validation_groups(groups, packages, splits, fraction=0.5)
    assert held == dedup.validation_groups(groups[::-1], packages[::-1], splits[::-1], fraction=0.5)
    assert "e" not in held and len([g for g in held if g in "abc"]) == 2 and "d" in held
    with pytest.raises(ValueError, match="not 'nope'"):
        P.select_split(P.read_manifest(), "nope")


# ----------------------------------------------------------------------------------------- mixed split (issue 18)
MIX_SPLITS = ("mix-train", "mix-test", "mix-val", "mix-fit")
# (photos, groups) of each side for the committed manifest and photos_excluded.csv (data/README.md's table)
MIX_SIZES = {"mix-train": (183, 170), "mix-test": (48, 41), "mix-val": (27, 22), "mix-fit": (156, 148)}


def _mix(df):
    return {s: P.select_split(df, s) for s in MIX_SPLITS}


def test_mixed_split_rule_on_a_toy_pool():
    """Per package round(20 %) of its kept groups go to test; excluded photos get no side; groups stay whole."""
    groups = [f"p{i}" for i in range(10)] + ["q0", "q1", "r0", "r0", "x0"]
    packages = ["p"] * 10 + ["q", "q", "r", "r", "x"]
    keep = [True] * 12 + [True, False, False]
    sides = dedup.mixed_split(groups, packages, keep)
    assert sides == dedup.mixed_split(groups[::-1], packages[::-1], keep[::-1])[::-1]  # row order does not matter
    assert sum(s == "mix-test" for s in sides[:10]) == 2  # 10 groups → 2
    assert {sides[10], sides[11]} == {"mix-train"}  # 2 groups → round(0.4) = 0 in test
    assert sides[12] in ("mix-train", "mix-test") and sides[13] == "" and sides[14] == ""
    # the chosen groups are the ones with the smallest sha256 of their name
    first = sorted((g for g in groups[:10]), key=lambda g: hashlib.sha256(g.encode()).hexdigest())[:2]
    assert {g for g, s in zip(groups, sides) if s == "mix-test"} == set(first)


def test_mixed_split_is_deterministic_and_pinned():
    df = P.read_manifest()
    a, b = _mix(df), _mix(df.iloc[::-1].reset_index(drop=True))
    for s in MIX_SPLITS:
        assert sorted(a[s]["id"]) == sorted(b[s]["id"]), s
    # committed runs depend on these sides: a change of the rule or of photos_excluded.csv must be deliberate
    sizes = {s: (len(a[s]), a[s]["group"].nunique()) for s in MIX_SPLITS}
    assert sizes == MIX_SIZES, sizes


def test_mixed_split_groups_never_straddle_and_validation_is_held_out_training_groups():
    df = P.read_manifest()
    m = _mix(df)
    tr, te, va, fit = (set(m[s]["group"]) for s in MIX_SPLITS)
    assert tr and te and va and fit
    assert not tr & te and not va & te and not fit & va and va | fit == tr
    assert len(m["mix-val"]) + len(m["mix-fit"]) == len(m["mix-train"])
    # a group is entirely on one side: every photo of a group in a split is in that split
    for s in ("mix-train", "mix-test"):
        assert set(df[df["group"].isin(m[s]["group"])]["id"]) - set(P.read_excluded()) == set(m[s]["id"]), s
    # validation has the training side's mix of packages
    assert set(m["mix-val"]["package"]) == set(m["mix-train"]["package"])


def test_excluded_photos_are_in_no_mixed_split_and_everything_else_is():
    df = P.read_manifest()
    excluded = P.read_excluded()
    assert excluded and set(excluded) <= set(df["id"]), set(excluded) - set(df["id"])
    m = _mix(df)
    for s in MIX_SPLITS:
        assert not set(excluded) & set(m[s]["id"]), s
    assert sorted(list(m["mix-train"]["id"]) + list(m["mix-test"]["id"])) == sorted(set(df["id"]) - set(excluded))


def test_every_package_with_five_groups_is_on_both_sides_in_the_same_mix():
    df = P.read_manifest()
    m = _mix(df)
    kept = df[~df["id"].isin(P.read_excluded())]
    for pkg, n in kept.groupby("package")["group"].nunique().items():
        if n >= 5:
            tr, te = (m[s][m[s]["package"] == pkg]["group"].nunique() for s in ("mix-train", "mix-test"))
            assert tr and te and 0.1 <= te / n <= 0.3, (pkg, tr, te)
    # the same mix of sources on both sides (the committed train/test split fails this: no package is on both)
    share = {s: m[s]["package"].value_counts(normalize=True) for s in ("mix-train", "mix-test")}
    for pkg in share["mix-train"].index:
        assert abs(share["mix-train"][pkg] - share["mix-test"].get(pkg, 0.0)) < 0.15, pkg
    old = {s: set(P.select_split(df, s)["package"]) for s in ("train", "test")}
    assert not old["train"] & old["test"]


def test_committed_train_test_val_fit_are_unchanged_by_the_mixed_split():
    df = P.read_manifest()
    for s in ("train", "test"):
        assert list(P.select_split(df, s)["id"]) == list(df[df["split"] == s]["id"]), s
    held = dedup.validation_groups(list(df["group"]), list(df["package"]), list(df["split"]))
    train = df[df["split"] == "train"]
    assert list(P.select_split(df, "val")["id"]) == list(train[train["group"].isin(held)]["id"])
    assert list(P.select_split(df, "fit")["id"]) == list(train[~train["group"].isin(held)]["id"])
    # excluded photos stay in the committed split (committed runs used them)
    assert len(P.select_split(df, "train")) + len(P.select_split(df, "test")) == len(df)


def test_excluded_list_is_well_formed(tmp_path):
    bad = tmp_path / "excluded.csv"
    bad.write_text("id,reason\nopencv-board,\n")
    with pytest.raises(ValueError, match="reason"):
        P.read_excluded(bad)
    with pytest.raises(FileNotFoundError, match="photos_excluded.csv"):
        P.read_excluded(tmp_path / "nope.csv")
