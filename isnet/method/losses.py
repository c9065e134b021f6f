"""The generator and discriminator objectives of ISNet: L1, adversarial, perceptual, style, feature matching.

Paper (Eq. 1–5) and the authors' code disagree on layers, GAN loss and weights (docs/authors-code.md §8, §14), so the
weights are data: ``LOSS_PRESETS`` holds the paper's Eq. (5) (default) and Eq. (4), and the two configs
found in the code. Everything is computed on the raw prediction, as the authors do; the discriminator
sees the raw output too, never the composite (docs/authors-code.md §6, §8).

Cost: the perceptual and style terms share ONE backbone (union of their layers) and ONE forward per
image per step: ground truth once without grad, prediction once. The authors run two VGG19 copies
and four passes; ``AuthorsLossPath`` keeps that path for the benchmark and an equivalence test.
"""
from __future__ import annotations

import contextlib
import numbers
from dataclasses import asdict, dataclass, fields, replace
from typing import Callable, Iterator, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .features import BACKBONES, POOLS, VGGFeatures, build_backbone, layer_names

# --------------------------------------------------------------------------------------------------
# Adversarial objectives
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GanLoss:
    """One GAN objective as three functions of the discriminator's output map."""

    d_real: Callable[[torch.Tensor], torch.Tensor]
    d_fake: Callable[[torch.Tensor], torch.Tensor]
    g: Callable[[torch.Tensor], torch.Tensor]


def fp32(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """Run ``fn`` in float32 with autocast off: BCE refuses CUDA autocast, and bf16 Gram matrices lose
    the small differences the style loss (weight up to 250) is made of."""
    def wrapped(*tensors: torch.Tensor) -> torch.Tensor:
        with torch.autocast(tensors[0].device.type, enabled=False):
            return fn(*(t.float() for t in tensors))
    wrapped.__name__ = wrapped.__qualname__ = getattr(fn, "__name__", "fp32_fn")
    wrapped.__doc__ = fn.__doc__
    return wrapped


def _bce(target: float) -> Callable[[torch.Tensor], torch.Tensor]:
    return fp32(lambda p: F.binary_cross_entropy(p, torch.full_like(p, target)))


def _mse(target: float) -> Callable[[torch.Tensor], torch.Tensor]:
    return fp32(lambda p: F.mse_loss(p, torch.full_like(p, target)))


GAN_LOSSES: dict[str, GanLoss] = {
    # Hinge on raw logits (Eq. 3). WITHOUT the authors' constant +1 on the real term
    # (their ``relu(1 + mean(relu(1 − D(x))))`` = 1 + ours): the gradient is identical, but
    # their logged D loss, (real + fake)/2, reads 0.5 higher than ours.
    "hinge": GanLoss(d_real=fp32(lambda d: F.relu(1 - d).mean()), d_fake=fp32(lambda d: F.relu(1 + d).mean()),
                     g=fp32(lambda d: -d.mean())),
    # Non-saturating GAN on sigmoid probabilities (the discriminator applies the sigmoid).
    "nsgan": GanLoss(d_real=_bce(1.0), d_fake=_bce(0.0), g=_bce(1.0)),
    # Least squares on sigmoid probabilities, as the authors' code does.
    "lsgan": GanLoss(d_real=_mse(1.0), d_fake=_mse(0.0), g=_mse(1.0)),
}


# --------------------------------------------------------------------------------------------------
# Weights and presets
# --------------------------------------------------------------------------------------------------

VGG19_PERCEPTUAL = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")  # authors' src/loss.py
VGG19_STYLE = ("relu2_2", "relu3_4", "relu4_4", "relu5_2")                   # authors' src/loss.py
PAPER_PERCEPTUAL = ("pool1", "pool2", "pool3")                               # paper, Eq. (1)
# The paper does not name its style layers. The code's choice is "last ReLU of blocks 2, 3, 4 and the
# second ReLU of block 5"; on VGG16 that rule gives relu2_2, relu3_3, relu4_3 and relu5_2.
PAPER_STYLE = ("relu2_2", "relu3_3", "relu4_3", "relu5_2")


@dataclass(frozen=True)
class LossWeights:
    """Weights of the generator objective and the feature network they need.

    ``adversarial`` multiplies the generator's GAN term (the paper's −L_D under hinge). Feature
    matching needs ``adversarial > 0`` because it reuses the discriminator pass of that term
    (the authors' code raises a NameError otherwise; we refuse the combination up front).
    ``normalize_input=False`` reproduces the authors' VGG fed with raw [0, 1] RGB.
    The defaults are the paper's Eq. (5). Without internet use ``backbone="vgg16-hed"`` and label the
    results with ``features.provenance`` (it is not pure ImageNet VGG16).
    """

    l1: float = 1.0
    adversarial: float = 3.0
    perceptual: float = 1.0
    style: float = 3.0
    feature_matching: float = 0.0
    gan_loss: str = "hinge"
    backbone: str = "vgg16-imagenet"
    perceptual_layers: tuple[str, ...] = PAPER_PERCEPTUAL
    style_layers: tuple[str, ...] = PAPER_STYLE
    normalize_input: bool = True
    # "max" (VGG's, the paper's) or "avg" (Gatys et al.'s average pools; docs/learning.md). Added after runs were
    # committed: to_dict() leaves it out at "max", so their config hashes stay.
    feature_pool: str = "max"

    def __post_init__(self):
        object.__setattr__(self, "perceptual_layers", tuple(self.perceptual_layers))
        object.__setattr__(self, "style_layers", tuple(self.style_layers))
        for f in ("l1", "adversarial", "perceptual", "style", "feature_matching"):
            value = getattr(self, f)
            if isinstance(value, bool) or not (isinstance(value, numbers.Real) and value >= 0):
                raise ValueError(f"loss weight {f} must be a number ≥ 0, got {value!r}")
        if self.gan_loss not in GAN_LOSSES:
            raise ValueError(f"unknown gan_loss {self.gan_loss!r}; choose one of {sorted(GAN_LOSSES)}")
        if self.feature_matching > 0 and self.adversarial == 0:
            raise ValueError("feature_matching > 0 needs adversarial > 0 (it reuses the discriminator pass of the "
                             "adversarial term); set feature_matching=0 or give adversarial a weight")
        if self.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {self.backbone!r}; choose one of {sorted(BACKBONES)}")
        if self.feature_pool not in POOLS:
            raise ValueError(f"unknown feature_pool {self.feature_pool!r}; choose one of {list(POOLS)}")
        valid = layer_names(BACKBONES[self.backbone].arch)
        bad = [l for l in self.perceptual_layers + self.style_layers if l not in valid]
        if bad:
            raise ValueError(f"layers {bad} do not exist in {self.backbone} ({BACKBONES[self.backbone].arch}); "
                             f"valid names are {valid}")
        if (self.perceptual > 0 and not self.perceptual_layers) or (self.style > 0 and not self.style_layers):
            raise ValueError("a perceptual or style weight > 0 needs at least one layer")

    @property
    def feature_layers(self) -> tuple[str, ...]:
        """The union of layers the backbone must produce (only for terms with weight > 0)."""
        layers = (self.perceptual_layers if self.perceptual > 0 else ()) + (self.style_layers if self.style > 0 else ())
        return tuple(dict.fromkeys(layers))

    @classmethod
    def from_dict(cls, values: Mapping) -> "LossWeights":
        """Build from a YAML/CLI/Optuna mapping; unknown keys are an error, not ignored."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown LossWeights keys {unknown}; valid keys are {sorted(known)}")
        return cls(**dict(values))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["perceptual_layers"], d["style_layers"] = list(self.perceptual_layers), list(self.style_layers)
        if self.feature_pool == "max":
            del d["feature_pool"]
        return d


_CODE = dict(backbone="vgg19-imagenet", perceptual_layers=VGG19_PERCEPTUAL, style_layers=VGG19_STYLE,
             normalize_input=False, gan_loss="nsgan")

LOSS_PRESETS: dict[str, LossWeights] = {
    # Paper Eq. (5): L1 + 3(−L_D) + L_perc + 3 L_style; hinge (Eq. 3); VGG16 pool1–pool3 (Eq. 1).
    "paper-eq5": LossWeights(1, 3, 1, 3, 0, "hinge"),
    # Paper Eq. (4), "similar to EdgeConnect": L1 + 0.1(−L_D) + 0.1 L_perc + 250 L_style + 10 L_FM.
    "paper-eq4": LossWeights(1, 0.1, 0.1, 250, 10, "hinge"),
    # journal config.yml.example and DEFAULT_CONFIG: L1 1, ADV 1, nothing else, nsgan.
    "code-journal": LossWeights(1, 1, 0, 0, 0, **_CODE),
    # master config.yml.example (= EdgeConnect's): L1 1, ADV 0.1, CONTENT 0.1, STYLE 250, FM 10, nsgan.
    "code-master": LossWeights(1, 0.1, 0.1, 250, 10, **_CODE),
}
DEFAULT_PRESET = "paper-eq5"


def loss_weights(preset: str = DEFAULT_PRESET, **overrides) -> LossWeights:
    """A preset with some fields replaced, e.g. ``loss_weights("paper-eq5", style=10)``."""
    if preset not in LOSS_PRESETS:
        raise ValueError(f"unknown loss preset {preset!r}; choose one of {sorted(LOSS_PRESETS)}")
    return LossWeights.from_dict({**LOSS_PRESETS[preset].to_dict(), **overrides})


# --------------------------------------------------------------------------------------------------
# The terms
# --------------------------------------------------------------------------------------------------

def l1_hole_normalised(pred: torch.Tensor, gt: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """mean|pred − gt| over the whole image ÷ the batch's hole fraction mean(1 − known), as the authors do.

    Valid-region errors count too; the division only rescales so the term reads as "error per hole pixel".
    A batch without any hole divides by zero upstream. Here it falls back to the plain mean (÷ 1):
    there are no hole pixels to normalise for, the term stays a finite reconstruction loss, and a
    rare all-known batch cannot blow up a training run.
    """
    hole_fraction = (1 - known).mean()
    return F.l1_loss(pred, gt) / torch.where(hole_fraction > 0, hole_fraction, torch.ones_like(hole_fraction))


@fp32
def gram(features: torch.Tensor) -> torch.Tensor:
    """Per-sample Gram matrix F·Fᵀ / (C·H·W), N×C×C (the authors' normalisation)."""
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


def perceptual_loss(pred_feats: Mapping[str, torch.Tensor], gt_feats: Mapping[str, torch.Tensor],
                    layers: tuple[str, ...]) -> torch.Tensor:
    """Eq. (1): Σ_layers mean |φ(pred) − φ(gt)|."""
    return sum(F.l1_loss(pred_feats[l], gt_feats[l]) for l in layers)


def style_loss(pred_feats: Mapping[str, torch.Tensor], gt_feats: Mapping[str, torch.Tensor],
               layers: tuple[str, ...]) -> torch.Tensor:
    """Eq. (2): Σ_layers mean |Gram(φ(pred)) − Gram(φ(gt))| (Gram ÷ C·H·W, mean over the C×C entries)."""
    return sum(F.l1_loss(gram(pred_feats[l]), gram(gt_feats[l])) for l in layers)


def feature_matching_loss(fake_feats: list[torch.Tensor], real_feats: list[torch.Tensor]) -> torch.Tensor:
    """Σ over the discriminator's five feature maps of mean |D_k(pred) − D_k(real)|, real side detached."""
    assert len(fake_feats) == len(real_feats), "fake and real feature lists differ in length"
    return sum(F.l1_loss(f, r.detach()) for f, r in zip(fake_feats, real_feats))


@contextlib.contextmanager
def _frozen(module: nn.Module) -> Iterator[None]:
    """Record a forward through ``module`` without grads for its parameters, then restore them.

    The generator step needs gradients w.r.t. the prediction only; skipping the discriminator's
    weight gradients saves their cost and leaves D's ``.grad`` untouched for its own step.
    """
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


# --------------------------------------------------------------------------------------------------
# The module
# --------------------------------------------------------------------------------------------------

TERMS = ("l1", "adv", "perceptual", "style", "fm")


class InpaintingLoss(nn.Module):
    """ISNet's objectives for one step: ``generator_loss`` and ``discriminator_loss``.

    ``backbone``: None builds ``weights.backbone``; a name builds that backbone instead (e.g.
    ``"vgg16-random"`` in tests); a module must return ``{layer: feature}`` for ``weights.feature_layers``.
    No backbone is built when both perceptual and style weights are 0.
    """

    freeze_discriminator = True  # D's weight grads are not computed in the generator step

    def __init__(self, weights: LossWeights | str = DEFAULT_PRESET, backbone: nn.Module | str | None = None,
                 download: bool = False):
        super().__init__()
        if isinstance(weights, str):
            weights = loss_weights(weights)
        assert isinstance(weights, LossWeights), f"weights must be a LossWeights or a preset name, got {weights!r}"
        self.weights = weights
        self.gan = GAN_LOSSES[weights.gan_loss]
        self.backbone: nn.Module | None = None
        if weights.feature_layers:
            self._build_features(backbone, download)

    def _build_features(self, backbone: nn.Module | str | None, download: bool) -> None:
        if isinstance(backbone, nn.Module):
            self.backbone = backbone
            return
        self.backbone = build_backbone(backbone or self.weights.backbone, self.weights.feature_layers,
                                       normalize_input=self.weights.normalize_input, download=download,
                                       pool=self.weights.feature_pool)

    # -- feature terms -------------------------------------------------------------------------
    def feature_terms(self, pred: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(perceptual, style) from one backbone pass per image: gt without grad, pred with."""
        w = self.weights
        with torch.no_grad():
            gt_feats = self.backbone(gt)
        pred_feats = self.backbone(pred)
        zero = pred.new_zeros(())
        perc = perceptual_loss(pred_feats, gt_feats, w.perceptual_layers) if w.perceptual > 0 else zero
        style = style_loss(pred_feats, gt_feats, w.style_layers) if w.style > 0 else zero
        return perc, style

    # -- generator -----------------------------------------------------------------------------
    def generator_loss(self, pred: torch.Tensor, gt: torch.Tensor, known: torch.Tensor,
                       discriminator: nn.Module | None = None,
                       real_features: list[torch.Tensor] | None = None,
                       adversarial: bool = True) -> tuple[torch.Tensor, dict[str, float]]:
        """Total generator loss on the raw prediction and its unweighted terms (0.0 where the weight is 0).

        ``real_features``: the discriminator's features of ``gt`` if the caller already has them
        (from its D step); otherwise feature matching runs D on ``gt`` once without grad.
        ``adversarial=False`` leaves out the adversarial and feature-matching terms (``train.adv_warmup``).
        """
        w = self.weights
        if not adversarial:
            w = replace(w, adversarial=0.0, feature_matching=0.0)
        assert pred.shape == gt.shape, f"pred {tuple(pred.shape)} and gt {tuple(gt.shape)} differ"
        assert known.dim() == 4 and known.shape[0] == gt.shape[0] and known.shape[-2:] == gt.shape[-2:], (
            f"known {tuple(known.shape)} does not match the images {tuple(gt.shape)}")
        zero = pred.new_zeros(())
        terms = dict.fromkeys(TERMS, zero)
        if w.l1 > 0:
            terms["l1"] = l1_hole_normalised(pred, gt, known)
        if w.adversarial > 0:
            assert discriminator is not None, "adversarial weight > 0 needs the discriminator"
            freeze = _frozen(discriminator) if self.freeze_discriminator else contextlib.nullcontext()
            with freeze:
                fake_out, fake_feats = discriminator(pred)
            terms["adv"] = self.gan.g(fake_out)
            if w.feature_matching > 0:
                if real_features is None:
                    with torch.no_grad():
                        _, real_features = discriminator(gt)
                terms["fm"] = feature_matching_loss(fake_feats, real_features)
        if w.feature_layers:
            terms["perceptual"], terms["style"] = self.feature_terms(pred, gt)
        total = (w.l1 * terms["l1"] + w.adversarial * terms["adv"] + w.perceptual * terms["perceptual"]
                 + w.style * terms["style"] + w.feature_matching * terms["fm"])
        log = {k: float(v.detach()) for k, v in terms.items()}
        log["total"] = float(total.detach())
        return total, log

    # -- discriminator -------------------------------------------------------------------------
    def discriminator_loss(self, pred: torch.Tensor, gt: torch.Tensor,
                           discriminator: nn.Module) -> tuple[torch.Tensor, dict[str, float]]:
        """(real + fake) / 2 on D(gt) and D(raw prediction, detached here)."""
        real_out, _ = discriminator(gt)
        fake_out, _ = discriminator(pred.detach())
        real, fake = self.gan.d_real(real_out), self.gan.d_fake(fake_out)
        total = (real + fake) / 2
        return total, {"d_real": float(real.detach()), "d_fake": float(fake.detach()), "total": float(total.detach())}


class AuthorsLossPath(InpaintingLoss):
    """The authors' feature path: two backbone copies (perceptual, style), each run on pred and on gt.

    Each copy runs the whole VGG feature stack (to relu5_4 for VGG19, relu5_3 for VGG16) as the
    authors' VGG19 module does, gt passes are not wrapped in no_grad (they build no graph anyway,
    the backbone being frozen), and the discriminator's weight gradients are computed in the
    generator step as theirs are. Configured with the same weights it gives the same numbers as
    ``InpaintingLoss``; it exists to measure what sharing saves (``isnet bench losses``).
    """

    freeze_discriminator = False

    def _build_features(self, backbone: nn.Module | str | None, download: bool) -> None:
        assert backbone is None or isinstance(backbone, str), "AuthorsLossPath builds its own copies: pass a name"
        name = backbone or self.weights.backbone
        last = [l for l in layer_names(BACKBONES[name].arch) if l.startswith("relu")][-1]
        w = self.weights

        def copy() -> VGGFeatures:
            layers = tuple(dict.fromkeys(w.perceptual_layers + w.style_layers + (last,)))
            return build_backbone(name, layers, normalize_input=w.normalize_input, download=download,
                                  pool=w.feature_pool)

        self.perceptual_net = copy() if w.perceptual > 0 else None
        self.style_net = copy() if w.style > 0 else None

    def feature_terms(self, pred: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w = self.weights
        perc = style = pred.new_zeros(())
        if self.perceptual_net is not None:
            perc = perceptual_loss(self.perceptual_net(pred), self.perceptual_net(gt), w.perceptual_layers)
        if self.style_net is not None:
            style = style_loss(self.style_net(pred), self.style_net(gt), w.style_layers)
        return perc, style
