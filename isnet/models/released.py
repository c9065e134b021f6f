"""Load the authors' released checkpoints (``InpaintingModel_gen.pth``, ``InpaintingModel_dis.pth``).

The generator file is ``{"generator": state_dict, ["epoch": int]}``; the Places2 model was trained with
DataParallel, so its keys carry a ``module.`` prefix (docs/authors-code.md §11). Upstream names (§3 there) map to
ours by the table below; the tensors themselves need no conversion. The authors' ablation "base" model
(``isnet-base``) has a plain 1×1 head that their file calls ``final_layer`` and we call ``head``.

The discriminator file is ``{"discriminator": state_dict}``; upstream's module is reachable as both
``conv1`` and ``features``, so the file holds ``features.0.*`` copies of ``conv1.0.*``, which are checked
equal and dropped.
"""
from __future__ import annotations

import os
import re

import torch
from torch import nn

from ..io import load_torch_file
from .discriminator import Discriminator, build_discriminator
from .isnet import ISNet, build_isnet

# (upstream prefix, our prefix); "{k}" is the phase index. Both directions are built from this one table.
_NAMES = [
    ("layer1.conv_block.", "stem.body."),
    ("layer1.downsample.", "stem.shortcut."),
    ("stage{k}.branches.0.", "phases.{k}.inpaint_hi."),
    ("stage{k}.branches.1.", "phases.{k}.inpaint_lo."),
    ("stage{k}.fuse_layers.0.1.", "phases.{k}.lo_to_hi."),
    ("stage{k}.fuse_layers.1.0.", "phases.{k}.hi_to_lo."),
    ("stage{k}.fuse_layers.1.1.", "phases.{k}.lo_to_lo."),
    ("stage{k}.fused_branches.0.0.", "phases.{k}.aggregate_hi."),
    ("stage{k}.fused_branches.1.0.", "phases.{k}.aggregate_lo."),
    ("up_layer.", "upsample."),
    ("final_layer.", "final_fusion."),
]
_INNER = (".conv_block.", ".body.")  # residual blocks' body, anywhere in a key


def _table(src: int, dst: int) -> list[tuple[str, str]]:
    def pattern(t: str) -> str:
        return "^" + re.escape(t).replace(re.escape("{k}"), r"(\d)")

    def repl(t: str) -> str:
        return t.replace("{k}", r"\1")

    rows = [(pattern(names[src]), repl(names[dst])) for names in _NAMES]
    return rows + [(re.escape(_INNER[src]), _INNER[dst])]


_UPSTREAM_TO_OURS = _table(0, 1)
_OURS_TO_UPSTREAM = _table(1, 0) + [(r"^head\.", "final_layer.")]  # the base model's 1×1 head


def _rename(key: str, table) -> str:
    for pattern, repl in table:
        key = re.sub(pattern, repl, key)
    return key


def upstream_to_ours(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip DataParallel's ``module.`` prefix and rename upstream keys to ours."""
    out = {}
    for k, v in state.items():
        k = k[len("module."):] if k.startswith("module.") else k
        out[_rename(k, _UPSTREAM_TO_OURS)] = v
    return out


def ours_to_upstream(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our state dict under the authors' names (to hand weights back to their code)."""
    return {_rename(k, _OURS_TO_UPSTREAM): v for k, v in state.items()}


def _fit_head(ours: dict[str, torch.Tensor], expected: set[str]) -> dict[str, torch.Tensor]:
    """Upstream ``final_layer`` is our ``final_fusion``, except in a model with a single-conv ``head``
    (the authors' base model), where ``final_layer.{weight,bias}`` (or ``final_layer.0.*``) is ``head.*``."""
    if not any(k.startswith("head.") for k in expected) or any(k.startswith("final_fusion.") for k in expected):
        return ours
    out = {}
    for k, v in ours.items():
        if k.startswith("final_fusion."):
            rest = k[len("final_fusion."):]
            k = "head." + (rest[2:] if rest.startswith("0.") else rest)
        out[k] = v
    return out


def load_upstream_state(model: nn.Module, state: dict[str, torch.Tensor], source: str = "state dict") -> nn.Module:
    """Load an upstream-named state dict strictly; a mismatch lists missing and unexpected keys (upstream names)."""
    expected = set(model.state_dict())
    ours = _fit_head(upstream_to_ours(state), expected)
    missing = sorted(expected - set(ours))
    unexpected = sorted(set(ours) - expected)
    if missing or unexpected:
        def show(keys):
            names = [_rename(k, _OURS_TO_UPSTREAM) for k in keys]
            return ", ".join(names[:12]) + (f", … ({len(names)} in all)" if len(names) > 12 else "") or "none"
        raise ValueError(
            f"{source} does not fit {type(model).__name__}({getattr(model, 'cfg', '')}):\n"
            f"  missing keys: {show(missing)}\n  unexpected keys: {show(unexpected)}\n"
            "Check the variant and `blocks` (the released models are ISNet with blocks=4, width=1).")
    shapes = [(k, tuple(v.shape), tuple(model.state_dict()[k].shape)) for k, v in ours.items()
              if tuple(v.shape) != tuple(model.state_dict()[k].shape)]
    if shapes:
        k, got, want = shapes[0]
        raise ValueError(f"{source}: tensor {_rename(k, _OURS_TO_UPSTREAM)} has shape {got}, the model expects {want} "
                         f"({len(shapes)} shape mismatches in all); check `blocks` and `width`")
    model.load_state_dict(ours, strict=True)
    return model


def load_released_generator(path: str | os.PathLike, variant: str = "isnet", map_location="cpu",
                            **options) -> ISNet:
    """Build an ISNet (blocks=4 by default) and load ``InpaintingModel_gen.pth`` into it, in eval mode."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"released checkpoint {path} not found; the authors' links are listed in the README "
                                "('Released weights'); the file is usually named InpaintingModel_gen.pth")
    blob = load_torch_file(path, "released checkpoint", map_location)
    if isinstance(blob, dict) and "generator" in blob:
        state = blob["generator"]
    elif isinstance(blob, dict) and all(isinstance(v, torch.Tensor) for v in blob.values()):
        state = blob  # a bare state dict
    else:
        keys = list(blob)[:5] if isinstance(blob, dict) else type(blob).__name__
        raise ValueError(f"{path} is not a generator checkpoint: expected a dict with key 'generator', found {keys}")
    model = build_isnet(variant, **options)
    load_upstream_state(model, state, source=str(path))
    return model.eval()


def load_released_discriminator(path: str | os.PathLike, gan_loss: str = "nsgan", map_location="cpu") -> Discriminator:
    """The authors' ``InpaintingModel_dis.pth`` in our ``Discriminator`` (their released models used nsgan).

    Upstream's first layer is reachable as ``conv1`` and ``features``, so the file carries ``features.0.*``
    aliases; they are dropped after checking that they equal ``conv1.0.*`` (a file where they differ is refused).
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"released discriminator {path} not found; the file is usually named "
                                "InpaintingModel_dis.pth, beside InpaintingModel_gen.pth")
    blob = load_torch_file(path, "released discriminator", map_location)
    if isinstance(blob, dict) and isinstance(blob.get("discriminator"), dict):
        state = blob["discriminator"]
    elif isinstance(blob, dict) and blob and all(isinstance(v, torch.Tensor) for v in blob.values()):
        state = blob
    else:
        keys = list(blob)[:5] if isinstance(blob, dict) else type(blob).__name__
        raise ValueError(f"{path} is not a discriminator checkpoint: expected a dict with key 'discriminator', "
                         f"found {keys}")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    state = drop_feature_aliases(state, source=str(path))
    model = build_discriminator(gan_loss=gan_loss, init=False)
    expected = set(model.state_dict())
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise ValueError(f"{path} does not fit the EdgeConnect/ISNet discriminator: missing keys "
                         f"{', '.join(missing[:8]) or 'none'}; unexpected keys {', '.join(unexpected[:8]) or 'none'}")
    shapes = [k for k, v in state.items() if tuple(v.shape) != tuple(model.state_dict()[k].shape)]
    if shapes:
        raise ValueError(f"{path}: tensor {shapes[0]} has shape {tuple(state[shapes[0]].shape)}, the discriminator "
                         f"expects {tuple(model.state_dict()[shapes[0]].shape)}")
    model.load_state_dict(state, strict=True)
    return model.eval()


_ALIAS, _ALIASED = "features.0.", "conv1.0."


def drop_feature_aliases(state: dict[str, torch.Tensor], source: str = "state dict") -> dict[str, torch.Tensor]:
    """Drop upstream's ``features.0.*`` keys after checking each equals its ``conv1.0.*`` twin."""
    out = {}
    for k, v in state.items():
        if not k.startswith(_ALIAS):
            out[k] = v
            continue
        twin = _ALIASED + k[len(_ALIAS):]
        if twin not in state:
            raise ValueError(f"{source}: key {k} is an alias of {twin}, which the file lacks; it is not the "
                             "authors' discriminator file")
        if state[twin].shape != v.shape or not torch.equal(state[twin], v):
            raise ValueError(f"{source}: {k} differs from {twin}, but upstream's 'features' is the same module as "
                             "'conv1'; the file was edited or is not the authors' discriminator")
    return out
