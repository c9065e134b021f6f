"""Losses: each term against a hand computation, presets, config validation, the shared backbone
pass (counted), equivalence with the authors' four-pass path, and the loss benchmark at a toy size."""
from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from isnet.cli import main as cli_main
from isnet.losses import (GAN_LOSSES, LOSS_PRESETS, AuthorsLossPath, InpaintingLoss, LossWeights, gram,
                          l1_hole_normalised, loss_weights)
from isnet.models import build_discriminator


class StubD(nn.Module):
    """A discriminator whose outputs are known functions of the input; records what it saw."""

    def __init__(self, sigmoid: bool = False):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(2.0))
        self.sigmoid = sigmoid
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x)
        out = self.scale * x[:, :1] - 1
        feats = [self.scale * x, x ** 2, out]
        return (torch.sigmoid(out) if self.sigmoid else out), feats


class StubBackbone(nn.Module):
    """Two 'layers' that are simple functions of the image, so terms can be computed by hand."""

    layers = {"a": lambda x: x * 3, "b": lambda x: F.avg_pool2d(x, 2) ** 2}

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return {name: fn(x) for name, fn in self.layers.items()}


def _images(n=2, size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    gt = torch.rand(n, 3, size, size, generator=g)
    pred = torch.rand(n, 3, size, size, generator=g).requires_grad_(True)
    known = (torch.rand(n, 1, size, size, generator=g) > 0.4).float()
    return pred, gt, known


# -- single terms ----------------------------------------------------------------------------------

def test_l1_is_normalised_by_the_batch_hole_fraction():
    pred, gt, known = _images()
    diff = (pred.detach() - gt).abs()
    expected = diff.sum() / diff.numel() / ((known == 0).sum() / known.numel())
    torch.testing.assert_close(l1_hole_normalised(pred, gt, known), expected)


def test_l1_without_holes_falls_back_to_plain_mean():
    pred, gt, _ = _images()
    value = l1_hole_normalised(pred, gt, torch.ones(2, 1, 8, 8))
    assert math.isfinite(value.item())
    torch.testing.assert_close(value, (pred - gt).abs().mean())
    value.backward()
    assert torch.isfinite(pred.grad).all()


def test_gan_terms_on_fixed_logits():
    d = torch.tensor([-2.0, 0.5, 3.0])
    hinge = GAN_LOSSES["hinge"]
    assert hinge.d_real(d).item() == pytest.approx((3 + 0.5 + 0) / 3)
    assert hinge.d_fake(d).item() == pytest.approx((0 + 1.5 + 4) / 3)
    assert hinge.g(d).item() == pytest.approx(-(-2 + 0.5 + 3) / 3)
    p = torch.tensor([0.2, 0.9])
    ns, ls = GAN_LOSSES["nsgan"], GAN_LOSSES["lsgan"]
    assert ns.d_real(p).item() == pytest.approx(-(math.log(0.2) + math.log(0.9)) / 2, rel=1e-6)
    assert ns.d_fake(p).item() == pytest.approx(-(math.log(0.8) + math.log(0.1)) / 2, rel=1e-6)
    assert ns.g(p).item() == pytest.approx(-(math.log(0.2) + math.log(0.9)) / 2, rel=1e-6)
    assert ls.d_real(p).item() == pytest.approx((0.8 ** 2 + 0.1 ** 2) / 2)
    assert ls.d_fake(p).item() == pytest.approx((0.2 ** 2 + 0.9 ** 2) / 2)
    assert ls.g(p).item() == pytest.approx((0.8 ** 2 + 0.1 ** 2) / 2)


def test_hinge_discriminator_loss_is_the_authors_minus_half():
    """Documented deviation: no constant +1 on the real term; same gradient, logged loss 0.5 lower."""
    pred, gt, _ = _images()
    loss = InpaintingLoss(loss_weights("paper-eq5", perceptual=0, style=0))
    d = StubD()
    total, log = loss.discriminator_loss(pred, gt, d)
    real_out, fake_out = 2 * gt[:, :1] - 1, 2 * pred.detach()[:, :1] - 1
    authors_real = F.relu(1 + F.relu(1 - real_out).mean())
    authors = (authors_real + F.relu(1 + fake_out).mean()) / 2
    assert total.item() == pytest.approx(authors.item() - 0.5, abs=1e-6)
    assert log["total"] == pytest.approx(total.item())
    total.backward()
    assert pred.grad is None, "the discriminator loss must not reach the generator"
    assert d.scale.grad is not None


def test_gram_matches_einsum():
    f = torch.randn(2, 3, 4, 5)
    expected = torch.einsum("nchw,ndhw->ncd", f, f) / (3 * 4 * 5)
    torch.testing.assert_close(gram(f), expected)


def test_perceptual_style_l1_and_fm_by_hand():
    pred, gt, known = _images()
    w = LossWeights(l1=2, adversarial=0.5, perceptual=3, style=7, feature_matching=5, gan_loss="hinge",
                    backbone="vgg16-random", perceptual_layers=("relu1_1",), style_layers=("relu1_2",))
    loss = InpaintingLoss(w, backbone=_Renamed({"relu1_1": "a", "relu1_2": "b"}))
    d = StubD()
    total, log = loss.generator_loss(pred, gt, known, d)
    p, g = pred.detach(), gt
    fa = lambda x: x * 3
    fb = lambda x: F.avg_pool2d(x, 2) ** 2

    def gram_hand(x):
        n, c, h, ww = x.shape
        flat = x.reshape(n, c, -1)
        return torch.stack([flat[i] @ flat[i].T for i in range(n)]) / (c * h * ww)

    perc = (fa(p) - fa(g)).abs().mean()
    style = (gram_hand(fb(p)) - gram_hand(fb(g))).abs().mean()
    l1 = (p - g).abs().mean() / (1 - known).mean()
    adv = -(2 * p[:, :1] - 1).mean()
    fm = ((2 * p - 2 * g).abs().mean() + (p ** 2 - g ** 2).abs().mean()
          + ((2 * p[:, :1] - 1) - (2 * g[:, :1] - 1)).abs().mean())
    for key, value in dict(l1=l1, adv=adv, perceptual=perc, style=style, fm=fm).items():
        assert log[key] == pytest.approx(value.item(), rel=1e-5), key
    expected = 2 * l1 + 0.5 * adv + 3 * perc + 7 * style + 5 * fm
    assert total.item() == pytest.approx(expected.item(), rel=1e-5)
    assert log["total"] == pytest.approx(total.item())


class _Renamed(StubBackbone):
    def __init__(self, names):
        super().__init__()
        self.names = names

    def forward(self, x):
        out = super().forward(x)
        return {ours: out[theirs] for ours, theirs in self.names.items()}


def test_discriminator_sees_the_raw_prediction_and_fm_detaches_real():
    pred, gt, known = _images()
    loss = InpaintingLoss(loss_weights("code-master", perceptual=0, style=0))
    d = StubD(sigmoid=True)
    total, _ = loss.generator_loss(pred, gt, known, d)
    assert d.seen[0] is pred, "D must see the raw prediction, not the composite"
    assert torch.equal(d.seen[1], gt)
    total.backward()
    assert d.scale.grad is None, "the generator step leaves D's weight gradients alone"
    assert d.scale.requires_grad, "D's requires_grad flags are restored"
    assert pred.grad is not None and pred.grad.abs().sum() > 0


def test_zero_weight_terms_are_not_computed():
    pred, gt, known = _images()
    loss = InpaintingLoss("code-journal")
    assert loss.backbone is None, "no backbone is built when perceptual and style weights are 0"
    d = StubD(sigmoid=True)
    _, log = loss.generator_loss(pred, gt, known, d)
    assert len(d.seen) == 1, "without FM the discriminator runs once"
    assert log["perceptual"] == log["style"] == log["fm"] == 0.0
    l1_only = InpaintingLoss(LossWeights(1, 0, 0, 0, 0))
    total, log = l1_only.generator_loss(pred, gt, known, discriminator=None)
    assert log["adv"] == 0.0 and total.item() == pytest.approx(log["l1"])


def test_given_real_features_skip_the_extra_discriminator_pass():
    pred, gt, known = _images()
    loss = InpaintingLoss(loss_weights("code-master", perceptual=0, style=0))
    d = StubD(sigmoid=True)
    _, real_feats = d(gt)
    d.seen.clear()
    _, with_given = loss.generator_loss(pred, gt, known, d, real_features=real_feats)
    assert len(d.seen) == 1
    _, computed = loss.generator_loss(pred, gt, known, d)
    assert with_given["fm"] == pytest.approx(computed["fm"])


# -- weights and presets -----------------------------------------------------------------------------

def test_presets_have_the_exact_numbers():
    def numbers(name):
        w = LOSS_PRESETS[name]
        return (w.l1, w.adversarial, w.perceptual, w.style, w.feature_matching, w.gan_loss)

    assert numbers("paper-eq5") == (1, 3, 1, 3, 0, "hinge")
    assert numbers("paper-eq4") == (1, 0.1, 0.1, 250, 10, "hinge")
    assert numbers("code-journal") == (1, 1, 0, 0, 0, "nsgan")
    assert numbers("code-master") == (1, 0.1, 0.1, 250, 10, "nsgan")
    eq5 = LOSS_PRESETS["paper-eq5"]
    assert eq5.backbone == "vgg16-imagenet" and eq5.perceptual_layers == ("pool1", "pool2", "pool3")
    assert eq5.style_layers == ("relu2_2", "relu3_3", "relu4_3", "relu5_2") and eq5.normalize_input
    for name in ("code-journal", "code-master"):
        w = LOSS_PRESETS[name]
        assert w.backbone == "vgg19-imagenet" and not w.normalize_input
        assert w.perceptual_layers == ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
        assert w.style_layers == ("relu2_2", "relu3_4", "relu4_4", "relu5_2")
    assert LossWeights() == LOSS_PRESETS["paper-eq5"], "the default is the paper's Eq. (5)"


def test_from_dict_rejects_unknown_keys_and_round_trips():
    with pytest.raises(ValueError, match=r"unknown LossWeights keys \['stlye'\]"):
        LossWeights.from_dict({"l1": 1, "stlye": 3})
    w = LOSS_PRESETS["code-master"]
    assert LossWeights.from_dict(w.to_dict()) == w
    assert LossWeights.from_dict({"style_layers": ["relu2_2"]}).style_layers == ("relu2_2",)


@pytest.mark.parametrize("bad, message", [
    (dict(gan_loss="wgan"), "unknown gan_loss 'wgan'"),
    (dict(adversarial=0, feature_matching=10), "feature_matching > 0 needs adversarial > 0"),
    (dict(style=-1), "style must be a number ≥ 0"),
    (dict(style_layers=("relu3_4",)), r"relu3_4.*do not exist in vgg16-imagenet"),
    (dict(backbone="resnet"), "unknown backbone 'resnet'"),
])
def test_invalid_weights_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        loss_weights("paper-eq5", **bad)


def test_average_pooled_features_keep_the_weights_and_the_hash_and_drop_a_pooled_grid():
    """loss.weights.feature_pool=avg (docs/learning.md, the UNet-like's grid): the backbone's max-pools become 2×2
    averages (same weights and keys), a period-2 pattern entering a pool leaves it as nothing (a max-pool passes it
    on as an offset), and the default keeps every committed config's loss weights, so its hash."""
    from torch import nn

    assert "feature_pool" not in LossWeights().to_dict()
    assert LossWeights.from_dict(LossWeights().to_dict()) == LossWeights()
    avg = loss_weights("paper-eq5", backbone="vgg16-random", feature_pool="avg")
    assert avg.to_dict()["feature_pool"] == "avg" and LossWeights.from_dict(avg.to_dict()) == avg
    with pytest.raises(ValueError, match=r"unknown feature_pool 'min'; choose one of \['max', 'avg'\]"):
        loss_weights("paper-eq5", feature_pool="min")
    a = InpaintingLoss(avg).backbone
    m = InpaintingLoss(loss_weights("paper-eq5", backbone="vgg16-random")).backbone
    assert a.state_dict().keys() == m.state_dict().keys()
    pools = [(x, y) for x, y in zip(a.features, m.features) if isinstance(y, nn.MaxPool2d)]
    assert len(pools) == 4 and all(isinstance(x, nn.AvgPool2d) for x, _ in pools)  # up to relu5_2
    grid = torch.tensor([[1.0, -1.0], [-1.0, 1.0]]).repeat(4, 4).expand(1, 2, 8, 8)
    base = torch.rand(1, 2, 8, 8)
    avg_pool, max_pool = pools[0]
    assert torch.allclose(avg_pool(base + 0.1 * grid), avg_pool(base), atol=1e-6)
    assert not torch.allclose(max_pool(base + 0.1 * grid), max_pool(base), atol=1e-3)
    pred, gt, _ = _images(n=2, size=32)
    assert not torch.allclose(InpaintingLoss(avg).feature_terms(pred, gt)[1],
                              InpaintingLoss(loss_weights("paper-eq5", backbone="vgg16-random")).feature_terms(pred, gt)[1])


# -- the shared backbone pass ---------------------------------------------------------------------------

def _count_forwards(module):
    seen = []
    module.register_forward_hook(lambda m, args, out: seen.append(
        (args[0].shape[0], any(v.requires_grad for v in out.values()))))
    return seen


def test_backbone_runs_once_per_image_per_step():
    pred, gt, known = _images(n=3, size=32)
    loss = InpaintingLoss(loss_weights("paper-eq5", backbone="vgg16-random"))
    seen = _count_forwards(loss.backbone)
    assert len(loss.backbone.features) == loss.backbone.names.index("relu5_2") + 1, "stops at the deepest layer"
    total, _ = loss.generator_loss(pred, gt, known, build_discriminator("hinge"))
    assert sorted(seen) == [(3, False), (3, True)], "one pass for gt (no grad) and one for pred"
    total.backward()
    authors = AuthorsLossPath(loss_weights("paper-eq5", backbone="vgg16-random"))
    seen = _count_forwards(authors.perceptual_net)
    seen_style = _count_forwards(authors.style_net)
    authors.generator_loss(pred, gt, known, build_discriminator("hinge"))
    assert len(seen) == 2 and len(seen_style) == 2, "the authors' path makes four passes"


def test_shared_path_equals_the_authors_path():
    pred, gt, known = _images(n=2, size=32)
    w = loss_weights("code-master", backbone="vgg19-random")
    d = build_discriminator(w.gan_loss).eval()  # eval: spectral norm does not update between the two runs
    ours, theirs = InpaintingLoss(w), AuthorsLossPath(w)
    total_a, log_a = ours.generator_loss(pred, gt, known, copy.deepcopy(d))
    (grad_a,) = torch.autograd.grad(total_a, pred)
    total_b, log_b = theirs.generator_loss(pred, gt, known, copy.deepcopy(d))
    (grad_b,) = torch.autograd.grad(total_b, pred)
    for key in log_a:
        assert log_a[key] == pytest.approx(log_b[key], rel=1e-5, abs=1e-9), key
    assert log_a["perceptual"] > 0 and log_a["style"] > 0 and log_a["fm"] > 0
    torch.testing.assert_close(grad_a, grad_b, rtol=1e-4, atol=1e-8)


def test_loss_benchmark_quick(capsys):
    assert cli_main(["bench", "losses", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "| code-master | vgg19-random | 32² | 1 | 2 / 4 |" in out
    assert "authors ÷ ours" in out and "Random VGG weights" in out


def test_gram_and_gan_terms_stay_float32_under_autocast():
    f = torch.randn(2, 8, 6, 6)
    p = torch.rand(5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        g = gram(f.bfloat16())
        terms = [fn(p.bfloat16()) for gan in GAN_LOSSES.values() for fn in (gan.d_real, gan.d_fake, gan.g)]
    assert g.dtype == torch.float32 and all(t.dtype == torch.float32 for t in terms)
    torch.testing.assert_close(g, gram(f.bfloat16().float()))
