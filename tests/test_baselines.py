"""Classical baselines (isnet.method.baselines): same call as the models, known pixels kept, holes really filled."""
from __future__ import annotations

import math
import sys
import types

import cv2
import numpy as np
import pytest
import torch
from skimage.restoration import inpaint_biharmonic

from isnet.method.baselines import BASELINES, ClassicalInpainter, inpaint_classical, to_uint8
from isnet.pra import Inpainter, progressive_inpaint

INSTALLED = ["telea", "ns", "biharmonic"]


def textured(n: int = 2, size: int = 40) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    return torch.rand(n, 3, size, size, generator=g)


def holes_known(n: int = 2, size: int = 40) -> torch.Tensor:
    known = torch.ones(n, 1, size, size)
    known[0, :, 10:22, 12:26] = 0
    if n > 1:
        known[1, :, 25:35, 5:30] = 0
        known[1, :, 3:6, 3:38] = 0
    return known


def gradient(size: int = 48) -> torch.Tensor:
    y, x = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    return torch.stack([0.2 + 0.6 * x, 0.3 + 0.4 * y, 0.5 + 0.3 * (x - y) / 2])[None]


@pytest.mark.parametrize("name", INSTALLED)
def test_composite_keeps_known_pixels_and_range(name):
    img, known = textured(), holes_known()
    out = inpaint_classical(name, img, known)
    assert out.shape == img.shape and out.dtype == img.dtype
    assert 0 <= out.min() and out.max() <= 1
    sel = known.expand_as(img) == 1
    assert torch.equal(out[sel], img[sel])


@pytest.mark.parametrize("name", INSTALLED)
def test_hole_is_filled_not_left_black(name):
    img = torch.full((1, 3, 40, 40), 0.6)
    known = holes_known(1)
    out = inpaint_classical(name, img, known)
    hole = known.expand_as(img) == 0
    assert out[hole].min() > 0.4, f"{name} left dark pixels in the hole"
    assert abs(out[hole].mean().item() - 0.6) < 0.02


@pytest.mark.parametrize("name", INSTALLED)
def test_hole_contents_are_never_read(name):
    img, known = textured(), holes_known()
    other = img.clone()
    hole = known.expand_as(img) == 0
    other[hole] = 1 - other[hole]
    assert torch.equal(inpaint_classical(name, img, known, raw=True), inpaint_classical(name, other, known, raw=True))


def test_raw_outputs_outside_the_hole():
    """Telea / NS return the uint8-quantised input there; biharmonic returns it unchanged."""
    img, known = textured(), holes_known()
    sel = known.expand_as(img) == 1
    quantised = torch.from_numpy(to_uint8(img.numpy())).float() / 255
    for name in ("telea", "ns"):
        raw = inpaint_classical(name, img, known, raw=True)
        assert torch.equal(raw[sel], quantised[sel])
        assert not torch.equal(raw[sel], img[sel])
    raw = inpaint_classical("biharmonic", img, known, raw=True)
    assert torch.equal(raw[sel], img[sel])


def test_biharmonic_reconstructs_a_smooth_gradient():
    img = gradient()
    known = torch.ones(1, 1, 48, 48)
    known[..., 14:34, 10:30] = 0
    out = inpaint_classical("biharmonic", img, known)
    hole = known.expand_as(img) == 0
    mse = torch.mean((out[hole] - img[hole]) ** 2).item()
    psnr = 10 * math.log10(1 / mse)
    assert psnr > 30, f"biharmonic hole PSNR {psnr:.1f} dB"


def test_matches_the_libraries_called_directly():
    img, known = textured(1), holes_known(1)
    arr = img[0].permute(1, 2, 0).numpy()
    hole = known[0, 0].numpy() == 0
    arr_zeroed = arr * ~hole[..., None]
    ref_bh = np.clip(inpaint_biharmonic(arr_zeroed.astype(np.float64), hole, channel_axis=-1), 0, 1)
    ours = inpaint_classical("biharmonic", img, known, raw=True)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(ours, ref_bh, atol=1e-6)
    u8 = np.clip(np.rint(arr * 255), 0, 255).astype(np.uint8)
    ref_telea = cv2.inpaint(u8, hole.astype(np.uint8), 5, cv2.INPAINT_TELEA).astype(np.float32) / 255
    ours = inpaint_classical("telea", img, known, raw=True, radius=5)[0].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(ours, ref_telea)
    assert not np.array_equal(ours, inpaint_classical("telea", img, known, raw=True, radius=1)[0].permute(1, 2, 0).numpy())


def test_classical_inpainter_is_an_inpainter_and_runs_in_pra():
    img, known = textured(), holes_known()
    inp = ClassicalInpainter("telea", radius=3)
    assert isinstance(inp, Inpainter) and "telea" in repr(inp)
    raw = inp(img, known)
    assert torch.equal(raw, inpaint_classical("telea", img, known, raw=True, radius=3))
    res = progressive_inpaint(inp, img, known, kernel=3, stop_ratio=0.0)
    sel = known.expand_as(img) == 1
    assert torch.equal(res.composite[sel], img[sel])
    assert (res.passes > 1).all()


def test_dtype_device_and_no_hole_images():
    img = textured().double()
    known = holes_known()
    known[1] = 1  # no hole: returned as is
    out = inpaint_classical("ns", img, known)
    assert out.dtype == torch.float64
    assert torch.equal(out[1], img[1])


def test_unknown_name_lists_the_choices():
    with pytest.raises(ValueError, match="biharmonic.*ns.*patchmatch.*telea"):
        inpaint_classical("exemplar", textured(), holes_known())
    with pytest.raises(ValueError, match="choose one of"):
        ClassicalInpainter("nope")
    assert set(BASELINES) == {"telea", "ns", "biharmonic", "patchmatch"}


def test_bad_masks_are_refused():
    with pytest.raises(ValueError, match="binary"):
        inpaint_classical("telea", textured(), holes_known() * 0.5)
    with pytest.raises(ValueError, match="no known pixel"):
        inpaint_classical("telea", textured(1), torch.zeros(1, 1, 40, 40))


def test_patchmatch_missing_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "patchmatch", None)  # makes `import patchmatch` raise ImportError
    with pytest.raises(ImportError, match="pip install pypatchmatch"):
        ClassicalInpainter("patchmatch")
    with pytest.raises(ImportError, match="pip install pypatchmatch"):
        inpaint_classical("patchmatch", textured(), holes_known())


def test_patchmatch_adapter_with_a_stand_in_library(monkeypatch):
    """What we hand pypatchmatch: uint8 H×W×3 image, uint8 hole mask (255 = hole), the patch size."""
    calls = []

    def fake_inpaint(image, mask, patch_size):
        calls.append((image, mask, patch_size))
        out = image.copy()
        out[mask > 0] = 128
        return out

    pkg = types.ModuleType("patchmatch")
    pkg.patch_match = types.SimpleNamespace(inpaint=fake_inpaint)
    monkeypatch.setitem(sys.modules, "patchmatch", pkg)
    img, known = textured(1), holes_known(1)
    out = inpaint_classical("patchmatch", img, known, patch_size=5)
    image, mask, patch_size = calls[0]
    assert image.dtype == np.uint8 and image.shape == (40, 40, 3) and patch_size == 5
    assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 255}
    np.testing.assert_array_equal(mask == 255, known[0, 0].numpy() == 0)
    hole = known.expand_as(img) == 0
    assert torch.allclose(out[hole], torch.tensor(128 / 255))
    assert ClassicalInpainter("patchmatch").name == "patchmatch"
