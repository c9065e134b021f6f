"""Generators and the discriminator, built by name from one string table.

>>> g = build_generator("isnet", blocks=4, width=1.0)
>>> d = build_discriminator(gan_loss="hinge")
"""
from __future__ import annotations

from functools import lru_cache, partial
from typing import Callable

from torch import nn

from .discriminator import Discriminator, build_discriminator
from .isnet import VARIANTS, ISNet, ISNetConfig, build_isnet
from .layers import UPSAMPLE_INITS, fold_spectral_norm, has_spectral_norm, icnr_, prime_spectral_norm
from .released import load_released_discriminator, load_released_generator, ours_to_upstream, upstream_to_ours
from .unet import UNetLike

GENERATORS: dict[str, Callable[..., nn.Module]] = {
    **{name: partial(build_isnet, name) for name in VARIANTS},
    "unet": UNetLike,
    "unet-resize": partial(UNetLike, upsample="resize"),
}

# Which generators come from the authors' code as it is, and which are our one-factor variants.
PROVENANCE: dict[str, str] = {
    "isnet": "paper / authors' src/networks.py RFFNet",
    "isnet-base": "authors' ablation/network_base.py (LeakyReLU, bilinear, 1x1 head)",
    "isnet-base-ff": "authors' ablation/network_fusion.py (LeakyReLU, bilinear, 256-wide phase 4)",
    "isnet-no-subpixel": "ours: ISNet with bilinear instead of sub-pixel upsampling, nothing else changed",
    "isnet-no-ff": "ours: ISNet without final fusion (SN conv3x3 on the high branch), nothing else changed",
    "isnet-clean-base": "ours: ISNet without sub-pixel and without final fusion, tanh kept",
    "unet": "authors' src/networks.py UnetGeneratorSame (param-matched UNet-like baseline)",
    "unet-resize": "ours: the UNet-like with nearest x2 + 3x3 conv instead of its transposed convs (no grid), "
                   "blocks re-matched",
}


def build_generator(name: str = "isnet", upsample_init: str = "normal", **options) -> nn.Module:
    """Build a generator by name; ``options`` are the variant's keyword arguments (blocks, width, ...).
    ``upsample_init="icnr"`` starts its learned upsampling layers grid-free (``layers.icnr_``); ``"tconv-bilinear"``
    only its transposed convolutions."""
    if name not in GENERATORS:
        raise ValueError(f"unknown generator {name!r}; choose one of {sorted(GENERATORS)}")
    if upsample_init not in UPSAMPLE_INITS:
        raise ValueError(f"unknown upsample_init {upsample_init!r}; choose one of {list(UPSAMPLE_INITS)}")
    g = GENERATORS[name](**options)
    if upsample_init != "normal":
        icnr_(g, subpixel=upsample_init == "icnr")
    return g


@lru_cache(maxsize=None)
def upsample_init_changes(name: str, upsample_init: str) -> bool:
    """Whether ``upsample_init`` changes any layer of generator ``name`` (it has a learned upsampler of that kind).
    One that changes none trains the same thing as "normal", so the run config hashes it as "normal". Cached: it
    builds a small copy (the kinds of layer do not depend on width or blocks)."""
    if upsample_init == "normal":
        return False
    g = GENERATORS[name](blocks=1, width=0.25)
    return icnr_(g, subpixel=upsample_init == "icnr") > 0


def build_models(generator: str, blocks: int, width: float, init_gain: float, d_width: float, gan_loss: str,
                 d_antialias: bool = False, **generator_options) -> tuple[nn.Module, nn.Module]:
    """The generator and the discriminator of a training run, from plain values (no config object).

    The generator is built first, then the discriminator, so the same torch seed gives the same weights
    as always; the discriminator's sigmoid follows ``gan_loss``; ``d_antialias`` blurs before its strided convs.
    ``generator_options`` go to the generator.
    """
    g = build_generator(generator, blocks=blocks, width=width, init_gain=init_gain, **generator_options)
    d = build_discriminator(gan_loss=gan_loss, width=d_width, init_gain=init_gain, antialias=d_antialias)
    return g, d


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@lru_cache(maxsize=None)  # builds 9 generators (seconds); every study lists its rows through it, often
def matched_blocks(generator: str, width: float, target: str = "isnet", target_blocks: int = 4,
                   choices: range = range(1, 9)) -> int:
    """Residual blocks that give ``generator`` the parameter count closest to ``target`` at the same width.

    The paper's UNet-like has "a similar parameter number" to ISNet (23.27 M against 23.63 M at width 1 and
    B = 4; the authors' UnetGeneratorSame keeps 4 blocks there). At a CPU profile's width and B the same rule
    picks another count (width 0.25, ISNet B = 2: 3 blocks), so the comparison stays parameter-matched."""
    goal = count_parameters(build_generator(target, blocks=target_blocks, width=width))
    counts = {b: count_parameters(build_generator(generator, blocks=b, width=width)) for b in choices}
    return min(choices, key=lambda b: (abs(counts[b] - goal), b))


__all__ = [
    "GENERATORS", "PROVENANCE", "UPSAMPLE_INITS", "Discriminator", "ISNet", "ISNetConfig", "UNetLike", "build_discriminator", "build_models",
    "build_generator", "count_parameters", "fold_spectral_norm", "icnr_", "matched_blocks", "upsample_init_changes", "has_spectral_norm", "load_released_discriminator",
    "load_released_generator",
    "ours_to_upstream", "prime_spectral_norm", "upstream_to_ours",
]
