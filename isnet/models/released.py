"""Load the authors' released generator checkpoints (``InpaintingModel_gen.pth``) into our ISNet.

The file is ``{"generator": state_dict, ["epoch": int]}``; the Places2 model was trained with
DataParallel, so its keys carry a ``module.`` prefix (facts §7). Upstream names (facts §1.6) map to
ours by the table below; the tensors themselves need no conversion.
"""
from __future__ import annotations

import os
import re

import torch
from torch import nn

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
_OURS_TO_UPSTREAM = _table(1, 0)


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


def load_upstream_state(model: nn.Module, state: dict[str, torch.Tensor], source: str = "state dict") -> nn.Module:
    """Load an upstream-named state dict strictly; a mismatch lists missing and unexpected keys (upstream names)."""
    ours = upstream_to_ours(state)
    expected = set(model.state_dict())
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
    blob = torch.load(path, map_location=map_location, weights_only=True)
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


def is_released_checkpoint(path: str | os.PathLike) -> bool:
    """True for files in the authors' format (key 'generator' holding upstream-named tensors)."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        return False
    state = blob.get("generator") if isinstance(blob, dict) else None
    return isinstance(state, dict) and any(k.removeprefix("module.").startswith(("layer1.", "stage0.")) for k in state)
