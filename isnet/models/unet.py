"""The parameter-matched "UNet-like" baseline of the paper's Table 7 (upstream ``UnetGeneratorSame``).

EdgeConnect-style encoder/decoder with a 3-channel masked-RGB input: 7×7 conv to 64, three 4×4
stride-2 convs to 512 at 1/8 resolution (InstanceNorm + ReLU after each encoder conv), four
ISNet-style residual blocks at 512 (dilation 2, tanh, zero padding, bias, no SN), three 4×4
transposed convs back up (InstanceNorm + ReLU), a 7×7 conv to RGB and (tanh + 1) / 2.
24,403,715 parameters at width 1. The upstream InstanceNorm widths are mislabelled (they work
only because IN is non-affine); here they match the conv they follow. The 7×7 convs use
reflection padding as EdgeConnect does (docs/authors-code.md §5 leaves it open; it does not change the count).

``upsample="resize"`` (generator ``unet-resize``, ours) replaces each transposed conv by a resize-convolution:
nearest ×2 upsampling, then a 3×3 conv. A 4×4 stride-2 transposed conv covers output pixels unevenly (kernel size
not divisible by the stride), the textbook source of a period-2 grid; at the CPU ablation scale the authors' UNet-like
keeps one that fails the study's sanity gate (docs/learning.md, "The UNet-like's seed 1"). The row re-matches its
residual blocks to ISNet's parameter count (``matched_blocks``), since a 3×3 conv has 9/16 of the 4×4's weights.
"""
from __future__ import annotations

import torch
from torch import nn

from .layers import ResBlock, check_masked_input, normal_init_, pad_to_multiple

MULTIPLE = 8


def _enc(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 4, stride=2, padding=1), nn.InstanceNorm2d(cout), nn.ReLU(True)]


def _dec(cin: int, cout: int, upsample: str = "tconv") -> list[nn.Module]:
    if upsample == "resize":
        up = [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, padding=1)]
    else:
        up = [nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1)]
    return [*up, nn.InstanceNorm2d(cout), nn.ReLU(True)]


UPSAMPLERS = ("tconv", "resize")


class UNetLike(nn.Module):
    def __init__(self, width: float = 1.0, blocks: int = 4, init: bool = True, init_gain: float = 0.001,
                 upsample: str = "tconv"):
        super().__init__()
        if upsample not in UPSAMPLERS:
            raise ValueError(f"unknown UNet-like upsample {upsample!r}; choose one of {list(UPSAMPLERS)}")
        c = [max(1, round(n * width)) for n in (64, 128, 256, 512)]
        self.encoder = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(3, c[0], 7), nn.InstanceNorm2d(c[0]), nn.ReLU(True),
            *_enc(c[0], c[1]), *_enc(c[1], c[2]), *_enc(c[2], c[3]))
        self.middle = nn.Sequential(*[ResBlock(c[3], dilation=2, act="tanh", use_sn=False, bias=True)
                                      for _ in range(blocks)])
        self.decoder = nn.Sequential(
            *_dec(c[3], c[2], upsample), *_dec(c[2], c[1], upsample), *_dec(c[1], c[0], upsample),
            nn.ReflectionPad2d(3), nn.Conv2d(c[0], 3, 7))
        self.validate_inputs = True
        if init:
            normal_init_(self, init_gain)  # upstream BaseNetwork.init_weights default 0.001 (EdgeConnect: 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.validate_inputs:
            check_masked_input(x, "UNetLike")
        x, h, w = pad_to_multiple(x, MULTIPLE)
        y = (torch.tanh(self.decoder(self.middle(self.encoder(x)))) + 1) / 2
        return y[..., :h, :w]
