"""The EdgeConnect PatchGAN discriminator that ISNet uses unchanged (docs/authors-code.md §6).

Five 4×4 convs (strides 2, 2, 2, 1, 1; 64-128-256-512-1 channels), spectral norm and no bias,
LeakyReLU(0.2) after the first four. 30×30 patch output at 256² (70×70 receptive field).
Raw logits for the hinge loss; a sigmoid for nsgan and lsgan, as the authors' code does.
Attribute names equal upstream's (``conv1``..``conv5``), so ``*_dis.pth`` files load as they are.

``antialias=True`` (not upstream; ``model.d_antialias``, docs/learning.md) puts a fixed binomial blur before each
stride-2 conv: same parameters and state-dict keys, but D no longer aliases period-2 patterns, and its gradient
to G (a strided conv's transpose) no longer carries one.

``width`` scales the four hidden widths (1.0 = upstream). The small study profiles use it so that D
does not outweigh a width-0.25 generator (at 48 px, a 2.76 M-parameter D beside a 1.35 M generator
wins the game within ~100 iterations and freezes the generator's progress).
"""
from __future__ import annotations

import torch
from torch import nn

from .layers import Blur, conv, normal_init_, prime_spectral_norm


class Discriminator(nn.Module):
    def __init__(self, in_channels: int = 3, use_sigmoid: bool = False, use_spectral_norm: bool = True,
                 init: bool = True, width: float = 1.0, init_gain: float = 0.001, antialias: bool = False):
        super().__init__()
        assert width > 0 and init_gain > 0, f"width and init_gain must be positive, got {width}, {init_gain}"
        self.use_sigmoid = use_sigmoid
        chans = [in_channels, *(max(1, round(c * width)) for c in (64, 128, 256, 512)), 1]
        strides = [2, 2, 2, 1, 1]
        # Outside conv1..conv5, so the Sequential indices (and upstream's state-dict keys) stay as they are.
        self.blurs = nn.ModuleDict({f"conv{i + 1}": Blur(chans[i])
                                    for i in range(5) if antialias and strides[i] == 2})
        for i in range(5):
            layers = [conv(chans[i], chans[i + 1], 4, stride=strides[i], padding=1,
                           bias=not use_spectral_norm, use_sn=use_spectral_norm)]
            if i < 4:
                layers.append(nn.LeakyReLU(0.2))
            setattr(self, f"conv{i + 1}", nn.Sequential(*layers))
        if init:
            normal_init_(self, init_gain)
            prime_spectral_norm(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Returns (patch output, [conv1..conv5 features]); conv5 is the pre-sigmoid logit map."""
        feats = []
        for i in range(1, 6):
            name = f"conv{i}"
            if name in self.blurs:
                x = self.blurs[name](x)
            x = getattr(self, name)(x)
            feats.append(x)
        out = torch.sigmoid(x) if self.use_sigmoid else x
        return out, feats


def build_discriminator(gan_loss: str = "hinge", **options) -> Discriminator:
    """Sigmoid iff the GAN loss is not hinge (upstream: ``use_sigmoid = GAN_LOSS != 'hinge'``)."""
    assert gan_loss in ("hinge", "nsgan", "lsgan"), f"unknown GAN loss {gan_loss!r}; choose hinge, nsgan or lsgan"
    options.setdefault("use_sigmoid", gan_loss != "hinge")
    return Discriminator(**options)
