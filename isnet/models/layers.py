"""Small building blocks shared by the generators and the discriminator.

Spectral norm uses ``torch.nn.utils.spectral_norm`` (the parameter/buffer layout
``weight_orig``/``weight_u``/``weight_v`` of the authors' checkpoints), so released weights
load without conversion of the tensors themselves.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm as _spectral_norm

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "tanh": nn.Tanh,
    "leaky": lambda: nn.LeakyReLU(0.2),
    "relu": nn.ReLU,
}


def make_act(name: str) -> nn.Module:
    assert name in ACTIVATIONS, f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}"
    return ACTIVATIONS[name]()


def sn(module: nn.Module, enabled: bool = True) -> nn.Module:
    """Wrap a conv in spectral norm (upstream: ``spectral_norm(module, mode)``)."""
    return _spectral_norm(module) if enabled else module


def conv(cin: int, cout: int, k: int = 3, stride: int = 1, padding: int = 1, dilation: int = 1,
         bias: bool = False, use_sn: bool = True) -> nn.Module:
    return sn(nn.Conv2d(cin, cout, k, stride=stride, padding=padding, dilation=dilation, bias=bias), use_sn)


class ResBlock(nn.Module):
    """out = act(x + body(x)); body = pad(d) → conv3×3 dil d → act → pad(1) → conv3×3.

    Upstream: ``ResnetBlock`` (its ``conv_block`` is our ``body``); zero padding, no norm, no bias.
    """

    def __init__(self, channels: int, dilation: int = 1, act: str = "tanh", use_sn: bool = True, bias: bool = False):
        super().__init__()
        self.body = nn.Sequential(
            nn.ZeroPad2d(dilation),
            conv(channels, channels, 3, padding=0, dilation=dilation, bias=bias, use_sn=use_sn),
            make_act(act),
            nn.ZeroPad2d(1),
            conv(channels, channels, 3, padding=0, bias=bias, use_sn=use_sn),
        )
        self.act = make_act(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


def subpixel_up(channels: int, act: str = "tanh") -> nn.Sequential:
    """SN conv3×3 C→2C → PixelShuffle(2) → act: C/2 channels at twice the resolution."""
    assert channels % 2 == 0, f"sub-pixel unit needs an even channel count, got {channels}"
    return nn.Sequential(conv(channels, 2 * channels), nn.PixelShuffle(2), make_act(act))


def strided_down(cin: int, cout: int, act: str = "tanh") -> nn.Sequential:
    """SN conv3×3 stride 2 → act: half the resolution."""
    return nn.Sequential(conv(cin, cout, 3, stride=2, padding=1), make_act(act))


def conv_act(cin: int, cout: int, act: str = "tanh") -> nn.Sequential:
    """SN conv3×3 (stride 1, pad 1, no bias) → act (upstream aggregation ``fused_branches``)."""
    return nn.Sequential(conv(cin, cout), make_act(act))


class Upsample(nn.Module):
    """Parameter-free bilinear upsampling (the authors' ablation models), optionally after an activation."""

    def __init__(self, scale: int, act: str | None = None):
        super().__init__()
        self.scale = scale
        self.act = make_act(act) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.interpolate(self.act(x), scale_factor=self.scale, mode="bilinear", align_corners=False)


class Blur(nn.Module):
    """A fixed 3×3 binomial low-pass ([1, 2, 1]ᵀ[1, 2, 1] / 16, per channel, reflect padding; size kept).

    Placed before a stride-2 conv it removes what the stride would alias (StyleGAN2's discriminator blurs before
    it downsamples for this reason). The kernel is a non-persistent buffer: no parameters, no state-dict keys.
    """

    def __init__(self, channels: int):
        super().__init__()
        k = torch.tensor([1.0, 2.0, 1.0])
        k = torch.outer(k, k) / 16
        self.register_buffer("kernel", k.expand(channels, 1, 3, 3).clone(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.kernel.to(x.dtype), groups=x.shape[1])


def normal_init_(model: nn.Module, std: float = 0.001) -> None:
    """The authors' ``init_weights('normal', gain=0.001)``: conv weights ~ N(0, std), biases 0.

    With spectral norm the write lands in ``weight_orig``, whose scale SN divides away in the forward
    pass, but not in training: Adam moves every raw weight by about ``lr`` per step whatever its size,
    so at std 0.001 and lr 1e-4 each step changes a weight by ~10 % and small generators collapse to a
    constant output within a few hundred iterations (docs/learning.md). ``model.init_gain=0.02``
    (EdgeConnect's value) makes the same step ~0.5 % and is what the CPU profiles use; the paper
    profile and the authors' released weights keep 0.001.
    """
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            w = m.weight_orig if hasattr(m, "weight_orig") else m.weight
            nn.init.normal_(w.data, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias.data)


# model.upsample_init: how the learned ×2 upsampling layers start. "icnr": every one grid-free; "tconv-bilinear":
# the transposed convolutions only (the UNet-like's decoder), sub-pixel units as drawn (docs/learning.md).
UPSAMPLE_INITS = ("normal", "icnr", "tconv-bilinear")


def icnr_(model: nn.Module, subpixel: bool = True, transposed: bool = True) -> int:
    """Start every learned ×2 upsampling layer as a smooth upsampler of its own random projection, so the first
    outputs carry no period-2 grid (ICNR: Aitken et al. 2017, "Checkerboard artifact free sub-pixel convolution").

    - conv → ``PixelShuffle(r)`` (ISNet's low→high units and head): the r² sub-pixel kernels of each output
      channel are tied to its first one, i.e. nearest-neighbour upsampling of one convolution;
    - ``ConvTranspose2d`` 4×4, stride 2, padding 1 (the UNet-like's decoder): each (in, out) kernel becomes one
      value times the separable bilinear kernel [1, 3, 3, 1] / 4, i.e. bilinear ×2 upsampling of a 1×1 mix.

    Only the starting point changes: architecture and parameter count stay the authors', and training may untie
    the kernels again. Draws no random numbers (the discriminator built next gets the same weights); re-primes
    spectral norm when it changed a layer, so a model with none is left exactly as it was. ``subpixel`` /
    ``transposed`` pick the kinds (``model.upsample_init=icnr``: both; ``tconv-bilinear``: transposed only).
    Returns how many layers it changed (docs/learning.md)."""
    n = 0
    with torch.no_grad():
        for seq in model.modules() if subpixel else ():
            if not isinstance(seq, nn.Sequential):
                continue
            kids = list(seq)
            for conv_, shuffle in zip(kids, kids[1:]):
                if isinstance(shuffle, nn.PixelShuffle) and isinstance(conv_, nn.Conv2d):
                    r2 = shuffle.upscale_factor ** 2
                    w = conv_.weight_orig if hasattr(conv_, "weight_orig") else conv_.weight
                    w.copy_(w[::r2].repeat_interleave(r2, dim=0))
                    if conv_.bias is not None:
                        conv_.bias.copy_(conv_.bias[::r2].repeat_interleave(r2))
                    n += 1
        f = torch.tensor([0.25, 0.75, 0.75, 0.25])
        for m in model.modules() if transposed else ():
            if (isinstance(m, nn.ConvTranspose2d) and m.kernel_size == (4, 4) and m.stride == (2, 2)
                    and m.padding == (1, 1)):
                w = m.weight_orig if hasattr(m, "weight_orig") else m.weight
                w.copy_(w[:, :, 1:2, 1:2] * torch.outer(f, f).to(w))
                n += 1
    if n:
        prime_spectral_norm(model)
    return n


def _sn_hooks(model: nn.Module):
    from torch.nn.utils.spectral_norm import SpectralNorm

    for m in model.modules():
        for hook in m._forward_pre_hooks.values():
            if isinstance(hook, SpectralNorm):
                yield m, hook


@torch.no_grad()
def prime_spectral_norm(model: nn.Module, iterations: int = 30) -> int:
    """Run power iterations so that u/v estimate each weight's top singular vectors.

    A freshly built SN model starts from random u/v; in eval mode (no power iteration) that
    gives a tiny sigma estimate and saturated or NaN output (docs/authors-code.md §4). Priming fixes this
    without a train-mode forward. Returns the number of SN layers primed.
    """
    n = 0
    for m, hook in _sn_hooks(model):
        for _ in range(iterations):
            hook.compute_weight(m, do_power_iteration=True)
        setattr(m, hook.name, hook.compute_weight(m, do_power_iteration=False))
        n += 1
    return n


def fold_spectral_norm(model: nn.Module) -> nn.Module:
    """Replace every SN weight by the plain weight W/σ it currently applies (in place).

    For inference only: the output in eval mode is unchanged and the per-forward SN work is gone.
    The folded model's state dict has plain ``weight`` keys.
    """
    from torch.nn.utils import remove_spectral_norm

    for m, hook in list(_sn_hooks(model)):
        remove_spectral_norm(m, hook.name)
    return model


def has_spectral_norm(model: nn.Module) -> bool:
    return any(True for _ in _sn_hooks(model))


def check_masked_input(x: torch.Tensor, model: str) -> None:
    """Raise a ValueError that says what a generator expects (N×3×H×W float, finite)."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 3:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{model} expects a masked RGB batch of shape N×3×H×W, got {shape}")
    if not x.is_floating_point():
        raise ValueError(f"{model} expects a float tensor in [0, 1], got dtype {x.dtype}; "
                         "convert with x.float() / 255 for uint8 images")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{model} input contains NaN or inf values")


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int, int]:
    """Pad the bottom/right edges to a multiple (reflect, or replicate for tiny inputs).

    Returns the padded tensor and the original H, W to crop back to. Never resizes.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="reflect" if (h > ph and w > pw) else "replicate")
    return x, h, w
