"""The ISNet family, exact to the parameter (docs/authors-code.md §3), and its behaviour at the edges."""
import re

import pytest
import torch

from isnet.models import (GENERATORS, build_discriminator, build_generator, count_parameters, fold_spectral_norm,
                          has_spectral_norm, load_released_generator, ours_to_upstream)
from isnet.models.layers import normal_init_

# docs/authors-code.md §3: exact counts at width=1
EXPECTED = [
    ("isnet", {"blocks": 4}, 24_774_307),
    ("isnet", {"blocks": 3}, 23_152_291),
    ("isnet", {"blocks": 2}, 21_530_275),
    ("isnet", {"blocks": 1}, 19_908_259),
    ("isnet-base", {}, 16_516_995),
    ("isnet-base-ff", {}, 14_610_083),
    ("unet", {}, 24_403_715),
]


@pytest.mark.parametrize("name,options,expected", EXPECTED, ids=[f"{n}-{o}" for n, o, _ in EXPECTED])
def test_parameter_counts_match_the_authors_code(name, options, expected):
    assert count_parameters(build_generator(name, **options)) == expected


def test_the_resize_unet_differs_from_the_authors_only_in_its_upsampler():
    """unet-resize (ours) swaps each 4x4 stride-2 transposed conv (512->256->128->64 at width 1) for nearest x2 and
    a 3x3 conv: 7 weights fewer per input-output channel pair, the same biases and everything else."""
    fewer = (16 - 9) * (512 * 256 + 256 * 128 + 128 * 64)
    assert count_parameters(build_generator("unet-resize")) == 24_403_715 - fewer
    g = build_generator("unet-resize", width=0.25)
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in g.modules())
    with pytest.raises(ValueError, match="unknown UNet-like upsample 'bicubic'"):
        build_generator("unet", upsample="bicubic")


def test_a_transposed_conv_turns_a_flat_map_into_a_grid_and_a_resize_conv_does_not():
    """Why unet-resize exists: a 4x4 stride-2 transposed conv covers output pixels unevenly, so even a constant
    input comes out with a period-2 pattern; nearest x2 then a 3x3 conv gives a constant interior."""
    from isnet.models.unet import _dec

    torch.manual_seed(0)
    flat = torch.ones(1, 8, 8, 8)
    for upsample, grid in (("tconv", True), ("resize", False)):
        conv = _dec(8, 4, upsample)[-3]
        with torch.no_grad():
            y = conv(flat)[..., 2:-2, 2:-2]  # the interior: the border sees the padding
        period2 = (y[..., 0::2, 0::2] - y[..., 1::2, 1::2]).abs().max().item()
        assert (period2 > 1e-3) is grid, (upsample, period2)


def test_discriminator_parameter_count():
    assert count_parameters(build_discriminator()) == 2_763_776


def test_each_block_adds_the_stated_parameters():
    counts = [count_parameters(build_generator("isnet", blocks=b, width=0.25)) for b in (1, 2)]
    b = 8  # 32 * 0.25
    assert counts[1] - counts[0] == 18 * (b * b * 4 + (2 * b) ** 2 + (4 * b) ** 2 + (8 * b) ** 2)


def _upstream_keys_from_facts(blocks: int = 4) -> set[str]:
    """The authors' state-dict names, enumerated from docs/authors-code.md §3 independently of our mapping."""
    sn = ("weight_orig", "weight_u", "weight_v")
    keys = {"layer1.downsample.weight"} | {f"layer1.conv_block.{i}.{s}" for i in (1, 4) for s in sn}
    for k in range(4):
        for br in ((0,) if k == 0 else (0, 1)):
            keys |= {f"stage{k}.branches.{br}.{blk}.conv_block.{i}.{s}" for blk in range(blocks) for i in (1, 4) for s in sn}
        keys |= {f"stage{k}.fuse_layers.0.1.{m}.0.{s}" for m in range(k) for s in sn}
        keys |= {f"stage{k}.fuse_layers.1.0.{j}.0.{s}" for j in range(k + 1) for s in sn}
        if k:
            keys |= {f"stage{k}.fuse_layers.1.1.0.{s}" for s in sn}
        keys |= {f"stage{k}.fused_branches.{br}.0.0.{s}" for br in (0, 1) for s in sn}
    keys |= {f"up_layer.{i}.0.{s}" for i in range(4) for s in sn}
    keys |= {f"final_layer.{i}.{s}" for i in (0, 2) for s in (*sn, "bias")}
    return keys


def test_state_dict_maps_onto_the_authors_names():
    g = build_generator("isnet", blocks=4, width=0.25)
    upstream = set(ours_to_upstream(g.state_dict()))
    assert len(upstream) == 276
    assert upstream == _upstream_keys_from_facts(4)


@pytest.mark.parametrize("prefix", ["", "module."])
def test_load_released_checkpoint(tmp_path, prefix):
    src = build_generator("isnet", width=1.0).eval()
    state = {prefix + k: v for k, v in ours_to_upstream(src.state_dict()).items()}
    path = tmp_path / "InpaintingModel_gen.pth"
    torch.save({"generator": state, "epoch": 3}, path)
    loaded = load_released_generator(path)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), src(x))


def test_released_checkpoint_mismatch_lists_keys(tmp_path):
    src = build_generator("isnet", blocks=4)
    path = tmp_path / "InpaintingModel_gen.pth"
    torch.save({"generator": ours_to_upstream(src.state_dict())}, path)
    with pytest.raises(ValueError) as e:
        load_released_generator(path, blocks=3)
    msg = str(e.value)
    assert "unexpected keys" in msg and "stage0.branches.0.3.conv_block.1.weight_orig" in msg
    assert "missing keys: none" in msg


def test_released_checkpoint_wrong_file(tmp_path):
    path = tmp_path / "x.pth"
    torch.save({"discriminator": {}}, path)
    with pytest.raises(ValueError, match="expected a dict with key 'generator'"):
        load_released_generator(path)
    with pytest.raises(FileNotFoundError, match="InpaintingModel_gen.pth"):
        load_released_generator(tmp_path / "missing.pth")


def test_fresh_model_in_eval_mode_is_finite_and_unsaturated():
    g = build_generator("isnet", blocks=4, width=1.0).eval()  # no train-mode forward before (docs/authors-code.md §4)
    with torch.no_grad():
        y = g(torch.rand(1, 3, 64, 64))
    assert torch.isfinite(y).all()
    assert ((y < 0.01) | (y > 0.99)).float().mean() < 0.01, "output saturated: spectral norm u/v not primed"


def test_unprimed_spectral_norm_would_saturate():
    """The caveat our priming removes is real: without power iterations, eval output saturates or is NaN."""
    g = build_generator("isnet", blocks=1, width=0.25)
    from isnet.models.isnet import ISNet, ISNetConfig
    raw = ISNet(ISNetConfig(blocks=1, width=0.25), init=False)
    normal_init_(raw, 0.001)
    raw.eval()
    with torch.no_grad():
        y_raw = raw(torch.rand(1, 3, 32, 32))
        y = g.eval()(torch.rand(1, 3, 32, 32))
    bad_raw = (~torch.isfinite(y_raw)) | (y_raw < 0.01) | (y_raw > 0.99)
    bad = (y < 0.01) | (y > 0.99)
    assert bad_raw.float().mean() > 0.5 and bad.float().mean() < 0.01


@pytest.mark.parametrize("name", ["isnet", "isnet-base-ff", "discriminator"])
def test_folding_spectral_norm_keeps_output(name):
    net = build_discriminator() if name == "discriminator" else build_generator(name, blocks=1, width=0.25)
    net.train()
    x = torch.rand(2, 3, 32, 32)
    net(x)  # a train-mode step moves u/v
    net.eval()
    with torch.no_grad():
        before = net(x)
        fold_spectral_norm(net)
        after = net(x)
    assert not has_spectral_norm(net)
    if isinstance(before, tuple):
        before, after = before[0], after[0]
    torch.testing.assert_close(after, before, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_every_generator_keeps_any_size(name):
    g = build_generator(name, width=0.25, **({"blocks": 1} if name.startswith("isnet") else {})).eval()
    with torch.no_grad():
        y = g(torch.rand(1, 3, 50, 37))
    assert y.shape == (1, 3, 50, 37) and y.min() >= 0 and y.max() <= 1


def test_odd_size_is_padded_not_resized():
    g = build_generator("isnet", blocks=1, width=0.25).eval()
    x = torch.rand(1, 3, 250, 333)
    with torch.no_grad():
        y = g(x)
        # the crop of a padded input equals running the padded input itself
        xp = torch.nn.functional.pad(x, (0, 3, 0, 6), mode="reflect")
        yp = g(xp)
    assert y.shape == (1, 3, 250, 333)
    torch.testing.assert_close(y, yp[..., :250, :333])


@pytest.mark.parametrize("bad,msg", [
    (torch.rand(1, 4, 32, 32), "N×3×H×W"),
    (torch.rand(3, 32, 32), "N×3×H×W"),
    ((torch.rand(1, 3, 32, 32) * 255).to(torch.uint8), "float"),
    (torch.full((1, 3, 32, 32), float("nan")), "NaN"),
])
def test_bad_input_raises_value_error(bad, msg):
    g = build_generator("isnet", blocks=1, width=0.25)
    with pytest.raises(ValueError, match=msg):
        g(bad)


def test_discriminator_heads_and_features():
    x = torch.rand(2, 3, 64, 64)
    d_hinge, d_ns = build_discriminator(gan_loss="hinge"), build_discriminator(gan_loss="nsgan")
    out, feats = d_hinge(x)
    assert [tuple(f.shape[1:]) for f in feats] == [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 7, 7), (1, 6, 6)]
    assert torch.equal(out, feats[-1])  # hinge: raw logits
    d_ns.load_state_dict(d_hinge.state_dict())
    out_ns, _ = d_ns(x)
    torch.testing.assert_close(out_ns, torch.sigmoid(feats[-1]))
    assert all(not re.search(r"bias", k) for k in d_hinge.state_dict())  # SN convs have no bias
    with pytest.raises(AssertionError, match="unknown GAN loss"):
        build_discriminator(gan_loss="wgan")


def test_patch_output_at_256_is_30x30():
    out, _ = build_discriminator()(torch.rand(1, 3, 256, 256))
    assert out.shape == (1, 1, 30, 30)


def test_unknown_generator_lists_choices():
    with pytest.raises(ValueError, match="isnet-base-ff"):
        build_generator("resnet")


def test_unet_like_is_parameter_matched_to_isnet_at_every_profile_width():
    """Issue 18: the UNet-like has ISNet's parameter count at the profile's width and B, as in the paper
    (the authors' UnetGeneratorSame: 24,403,715 against ISNet's 24,774,307 at width 1, B = 4)."""
    from isnet.models import build_generator, count_parameters, matched_blocks
    from isnet.study.experiments import table_rows
    from isnet.study.profiles import PROFILES

    assert matched_blocks("unet", 1.0, "isnet", 4) == 4
    assert count_parameters(build_generator("unet", blocks=4, width=1.0)) == 24_403_715
    for name in ("smoke", "laptop", "gpu", "paper"):
        prof = PROFILES[name]
        w, B = prof.base.model.width, prof.blocks
        row = dict(next(r for r in table_rows("table7", prof) if r.id == "unet").overrides)
        isnet = count_parameters(build_generator("isnet", blocks=B, width=w))
        counts = {b: count_parameters(build_generator("unet", blocks=b, width=w)) for b in range(1, 9)}
        assert row["model.blocks"] == min(counts, key=lambda b: abs(counts[b] - isnet)), name
        assert abs(counts[row["model.blocks"]] - isnet) / isnet < 0.10, name


@pytest.mark.parametrize("name", ["isnet", "unet"])
def test_icnr_starts_every_learned_upsampling_layer_without_a_grid(name):
    """model.upsample_init=icnr: each conv→PixelShuffle unit outputs nearest-neighbour blocks (the four pixels of
    every 2×2 block equal) and each 4×4 stride-2 transposed conv maps a constant image to a constant interior (a
    period-2 grid otherwise); the parameter count and the random draws stay as without it."""
    from torch import nn

    kw = dict(blocks=2, width=0.25, init_gain=0.02) if name == "isnet" else dict(blocks=3, width=0.25, init_gain=0.02)
    torch.manual_seed(0)
    plain = build_generator(name, **kw)
    after_plain = torch.rand(1)
    torch.manual_seed(0)
    tied = build_generator(name, upsample_init="icnr", **kw)
    assert torch.rand(1) == after_plain and count_parameters(tied) == count_parameters(plain)
    checked = 0
    with torch.no_grad():
        for seq in tied.modules():
            kids = list(seq) if isinstance(seq, nn.Sequential) else []
            for conv, shuffle in zip(kids, kids[1:]):
                if isinstance(shuffle, nn.PixelShuffle):
                    y = shuffle(conv(torch.randn(2, conv.in_channels, 6, 6)))
                    assert torch.allclose(y[..., 0::2, 0::2], y[..., 1::2, 1::2], atol=1e-6)
                    assert torch.allclose(y[..., 0::2, 0::2], y[..., 0::2, 1::2], atol=1e-6)
                    checked += 1
        for before, after in zip(plain.modules(), tied.modules()):  # same structure, same order
            if isinstance(after, nn.ConvTranspose2d):
                flat = []
                for m in (before, after):
                    y = m(torch.ones(1, m.in_channels, 6, 6))[..., 2:-2, 2:-2]
                    flat.append(torch.allclose(y, y[..., :1, :1].expand_as(y), atol=1e-6))
                assert flat == [False, True], "only the ICNR-initialised transposed conv is flat inside"
                checked += 1
    assert checked >= 3


def test_tconv_bilinear_starts_only_the_transposed_convs_grid_free_and_leaves_other_generators_untouched():
    """model.upsample_init=tconv-bilinear: the UNet-like's transposed convs start as ICNR starts them (flat inside
    on a constant image) with its other layers as drawn; ISNet (sub-pixel units) and the base (bilinear) have no
    transposed conv and come out bit-identical to "normal", which is why resolve() hashes them as "normal"."""
    from torch import nn

    from isnet.models import upsample_init_changes

    kw = dict(blocks=3, width=0.25, init_gain=0.02)
    torch.manual_seed(0)
    icnr = build_generator("unet", upsample_init="icnr", **kw)
    torch.manual_seed(0)
    tconv = build_generator("unet", upsample_init="tconv-bilinear", **kw)
    torch.manual_seed(0)
    plain = build_generator("unet", **kw)
    a, b, c = icnr.state_dict(), tconv.state_dict(), plain.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # the UNet-like has only transposed upsamplers
    changed = [k for k in c if not torch.equal(b[k], c[k])]
    assert changed and all(k.startswith("decoder.") for k in changed)
    for name in ("isnet", "isnet-base"):
        torch.manual_seed(0)
        one = build_generator(name, blocks=2, width=0.25, init_gain=0.02, upsample_init="tconv-bilinear")
        torch.manual_seed(0)
        two = build_generator(name, blocks=2, width=0.25, init_gain=0.02)
        s1, s2 = one.state_dict(), two.state_dict()
        assert all(torch.equal(s1[k], s2[k]) for k in s1), name
        assert not upsample_init_changes(name, "tconv-bilinear")
    assert upsample_init_changes("unet", "tconv-bilinear") and upsample_init_changes("isnet", "icnr")
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in tconv.modules()) == 3


def test_unknown_upsample_init_lists_choices():
    with pytest.raises(ValueError,
                       match="unknown upsample_init 'x'; choose one of \\['normal', 'icnr', 'tconv-bilinear'\\]"):
        build_generator("isnet", upsample_init="x")


def test_antialiased_discriminator_ignores_a_pixel_grid_and_keeps_the_weights():
    """model.d_antialias: same parameters, keys and random draws as upstream's D, but a period-2 checkerboard added
    to its input changes nothing (the blur zeroes it before the first stride-2 conv), so D can neither see a grid
    nor push one into G through its gradient; upstream's D sees it."""
    torch.manual_seed(0)
    plain = build_discriminator(width=0.25, init_gain=0.02)
    torch.manual_seed(0)
    blurred = build_discriminator(width=0.25, init_gain=0.02, antialias=True)
    assert count_parameters(blurred) == count_parameters(plain)
    assert blurred.state_dict().keys() == plain.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), blurred.state_dict().values()))
    x = torch.rand(2, 3, 48, 48)
    ii, jj = torch.meshgrid(torch.arange(48), torch.arange(48), indexing="ij")
    grid = 0.1 * (-1.0) ** (ii + jj)
    for model in (plain, blurred):
        model.eval()
    with torch.no_grad():
        assert torch.allclose(blurred(x + grid)[0], blurred(x)[0], atol=1e-6)
        assert not torch.allclose(plain(x + grid)[0], plain(x)[0], atol=1e-3)
    x.requires_grad_(True)
    blurred(x)[0].sum().backward()
    assert abs(float((x.grad * grid).sum())) < 1e-6 * float(x.grad.abs().sum())
