"""The ISNet generator (upstream name ``RFFNet``) and its ablation variants.

Structure (docs/authors-code.md §2): a stem embeds the masked RGB image into 32 channels; four *phases*
(upstream ``stage0..3``) each run **Inpainting** (residual blocks per branch; dilation 1 in the
high-resolution branch, 2 in the low-resolution branch), **Interaction** (low→high by sub-pixel
units, high→low by strided convs, low→low by one strided conv) and **Aggregation** (one 3×3 conv
per branch). The head upsamples the low branch by four sub-pixel units and **Final Fusion**
(FF) decodes concat(high, upsampled low) into RGB, mapped by (tanh + 1) / 2 into [0, 1].

All channel counts scale with ``width`` (1.0 = the paper; 0.25 gives an 8-channel high branch).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from .layers import (ResBlock, Upsample, check_masked_input, conv, conv_act, make_act, normal_init_,
                     pad_to_multiple, prime_spectral_norm, strided_down, subpixel_up)

MULTIPLE = 16  # four ×2 downsamplings in the low branch


@dataclass(frozen=True)
class ISNetConfig:
    """Everything that defines an ISNet-family generator. Presets live in ``VARIANTS``."""

    blocks: int = 4                 # residual blocks per branch per phase (paper Table 8: 1..4)
    width: float = 1.0              # channel multiplier; the high branch has 32·width channels
    subpixel: bool = True           # low→high and the head's upsampling by sub-pixel convs (else bilinear)
    final_fusion: bool = True       # FF head on concat(high, upsampled low) (else decode the high branch alone)
    activation: str = "tanh"        # hidden activation: "tanh" (ISNet) or "leaky" (authors' ablation models)
    upsample_act: bool = False      # bilinear low→high applies the activation first (authors' "base")
    last_lo_width: int | None = None  # phase-4 low-branch output width at width=1 (authors' "+FF": 256)
    head: str = "ff"                # "ff" | "conv1x1" (authors' base: plain 1×1 conv) | "sn-conv3x3" (our no-FF)
    ff_last_sn: bool = True         # spectral norm on FF's last 3×3 conv (authors' "+FF" has none)
    keep_unused_low: bool = False   # build (and run) the last phase's low output even without FF (authors' base)
    init_gain: float = 0.001        # conv weights ~ N(0, gain) at construction; see layers.normal_init_

    def __post_init__(self):
        assert 1 <= self.blocks <= 8, f"blocks must be in 1..8 (the paper uses 1..4), got {self.blocks}"
        b = 32 * self.width
        assert abs(b - round(b)) < 1e-9 and round(b) >= 2 and round(b) % 2 == 0, (
            f"width={self.width} must make 32·width an even integer ≥ 2 (e.g. 1, 0.5, 0.25, 0.125)")
        assert self.activation in ("tanh", "leaky"), f"activation must be 'tanh' or 'leaky', got {self.activation!r}"
        assert self.head in ("ff", "conv1x1", "sn-conv3x3"), f"unknown head {self.head!r}"
        assert (self.head == "ff") == self.final_fusion, "head='ff' exactly when final_fusion=True"
        assert self.init_gain > 0, f"init_gain must be positive, got {self.init_gain}"


class Stem(nn.Module):
    """Upstream ``layer1`` (``BottleneckBlock``): act(body(x) + shortcut(x)), 3 → 32 channels."""

    def __init__(self, cout: int, act: str):
        super().__init__()
        self.body = nn.Sequential(
            nn.ZeroPad2d(1), conv(3, 2 * cout, padding=0), make_act(act),
            nn.ZeroPad2d(1), conv(2 * cout, cout, padding=0),
        )
        self.shortcut = nn.Conv2d(3, cout, 1, bias=False)  # upstream ``downsample``: plain, no SN
        self.act = make_act(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class Phase(nn.Module):
    """One phase k (upstream ``TwoBranchModule`` / ``stage{k}``): Inpainting → Interaction → Aggregation.

    In:  hi (b ch, full res) and, for k ≥ 1, lo (b·2^k ch at 1/2^k).
    Out: hi (b ch, full res) and lo (b·2^(k+1) ch at 1/2^(k+1)), or hi alone when ``with_lo_out`` is off.
    """

    def __init__(self, k: int, b: int, cfg: ISNetConfig, lo_out: int, with_lo_out: bool = True):
        super().__init__()
        act, B = cfg.activation, cfg.blocks
        self.k = k
        lo_in = b * 2 ** k if k else 0
        # Inpainting (upstream branches.0 / branches.1)
        self.inpaint_hi = nn.Sequential(*[ResBlock(b, 1, act) for _ in range(B)])
        if k:
            self.inpaint_lo = nn.Sequential(*[ResBlock(lo_in, 2, act) for _ in range(B)])
        # Interaction: low → high (upstream fuse_layers.0.1)
        if k:
            if cfg.subpixel:
                self.lo_to_hi = nn.Sequential(*[subpixel_up(lo_in >> i, act) for i in range(k)])
                hi_cat = 2 * b
            else:
                self.lo_to_hi = Upsample(2 ** k, act if cfg.upsample_act else None)
                hi_cat = b + lo_in
        else:
            hi_cat = b
        # Aggregation, high branch (upstream fused_branches.0)
        self.aggregate_hi = conv_act(hi_cat, b, act)
        self.with_lo_out = with_lo_out
        if with_lo_out:
            # Interaction: high → low (fuse_layers.1.0), low → low (fuse_layers.1.1)
            self.hi_to_lo = nn.Sequential(*[strided_down(b << i, b << (i + 1), act) for i in range(k + 1)])
            lo_cat = b << (k + 1)
            if k:
                self.lo_to_lo = strided_down(lo_in, 2 * lo_in, act)
                lo_cat += 2 * lo_in
            # Aggregation, low branch (fused_branches.1)
            self.aggregate_lo = conv_act(lo_cat, lo_out, act)

    def forward(self, hi: torch.Tensor, lo: torch.Tensor | None = None):
        hi = self.inpaint_hi(hi)
        if self.k:
            lo = self.inpaint_lo(lo)
            hi_cat = torch.cat([hi, self.lo_to_hi(lo)], 1)
        else:
            hi_cat = hi
        new_hi = self.aggregate_hi(hi_cat)
        if not self.with_lo_out:
            return new_hi, None
        lo_cat = self.hi_to_lo(hi)
        if self.k:
            lo_cat = torch.cat([lo_cat, self.lo_to_lo(lo)], 1)
        return new_hi, self.aggregate_lo(lo_cat)


class ISNet(nn.Module):
    """ISNet generator: ``forward(img * known) -> prediction`` in [0, 1], same H×W as the input.

    The input is the masked RGB image (holes are 0); there is no mask channel (docs/authors-code.md §2).
    Sizes that are not multiples of 16 are reflect-padded and cropped back, never resized.
    """

    def __init__(self, cfg: ISNetConfig | None = None, *, init: bool = True, **options):
        super().__init__()
        cfg = replace(cfg or ISNetConfig(), **options)
        self.cfg = cfg
        act = cfg.activation
        b = round(32 * cfg.width)
        self.base_channels = b
        lo_outs = [b << (k + 1) for k in range(4)]
        if cfg.last_lo_width is not None:
            lo_outs[3] = max(2, round(cfg.last_lo_width * cfg.width))
        needs_last_lo = cfg.final_fusion or cfg.keep_unused_low
        self.stem = Stem(b, act)
        self.phases = nn.ModuleList(
            [Phase(k, b, cfg, lo_outs[k], with_lo_out=(k < 3 or needs_last_lo)) for k in range(4)])
        self.validate_inputs = True
        if cfg.final_fusion:
            lo_last = lo_outs[3]
            if cfg.subpixel:
                assert lo_last == 16 * b, "the sub-pixel head needs a 16·b-wide last low branch"
                self.upsample = nn.Sequential(*[subpixel_up(lo_last >> i, act) for i in range(4)])  # upstream up_layer
                ff_in = 2 * b
            else:
                self.upsample = Upsample(16)
                ff_in = b + lo_last
            self.final_fusion = nn.Sequential(  # upstream final_layer
                conv(ff_in, b, 7, padding=3, bias=True), make_act(act),
                conv(b, 3, 3, padding=1, bias=True, use_sn=cfg.ff_last_sn))
        elif cfg.head == "conv1x1":
            self.head = nn.Conv2d(b, 3, 1, bias=True)
        else:
            self.head = conv(b, 3, 3, padding=1, bias=True)
        if init:
            normal_init_(self, cfg.init_gain)
            prime_spectral_norm(self)

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.validate_inputs:
            check_masked_input(x, "ISNet")
        x, h, w = pad_to_multiple(x, MULTIPLE)
        hi = self.stem(x)
        lo = None
        for phase in self.phases:
            hi, lo = phase(hi, lo)
        if self.cfg.final_fusion:
            y = self.final_fusion(torch.cat([hi, self.upsample(lo)], 1))
        else:
            y = self.head(hi)
        y = (torch.tanh(y) + 1) / 2
        return y[..., :h, :w]


# Name → options. The paper's model is "isnet"; "authors'" variants reproduce the ablation code
# exactly (with its confounds, docs/authors-code.md §5); "ours" toggle a single factor of ISNet.
VARIANTS: dict[str, dict] = {
    "isnet": {},
    # authors' ablation/network_base.py (RFFNet_base): LeakyReLU, bilinear low→high, 1×1 head on high branch
    "isnet-base": dict(activation="leaky", subpixel=False, final_fusion=False, head="conv1x1",
                       upsample_act=True, keep_unused_low=True),
    # authors' ablation/network_fusion.py (RFFNet_fusion): LeakyReLU, bilinear, FF, 256-wide last low branch
    "isnet-base-ff": dict(activation="leaky", subpixel=False, final_fusion=True, head="ff",
                          last_lo_width=256, ff_last_sn=False),
    # ours: ISNet with exactly one factor removed
    "isnet-no-subpixel": dict(subpixel=False),
    "isnet-no-ff": dict(final_fusion=False, head="sn-conv3x3"),
    "isnet-clean-base": dict(subpixel=False, final_fusion=False, head="sn-conv3x3"),
}


def build_isnet(variant: str = "isnet", **options) -> ISNet:
    assert variant in VARIANTS, f"unknown ISNet variant {variant!r}; choose one of {sorted(VARIANTS)}"
    return ISNet(ISNetConfig(**{**VARIANTS[variant], **options}))
