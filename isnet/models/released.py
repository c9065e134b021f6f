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

# (upstream pattern, our replacement), applied in order. Ours → upstream is the reverse table.
_UPSTREAM_TO_OURS = [
    (r"^layer1\.conv_block\.", "stem.body."),
    (r"^layer1\.downsample\.", "stem.shortcut."),
    (r"^stage(\d)\.branches\.0\.", r"phases.\1.inpaint_hi."),
    (r"^stage(\d)\.branches\.1\.", r"phases.\1.inpaint_lo."),
    (r"^stage(\d)\.fuse_layers\.0\.1\.", r"phases.\1.lo_to_hi."),
    (r"^stage(\d)\.fuse_layers\.1\.0\.", r"phases.\1.hi_to_lo."),
    (r"^stage(\d)\.fuse_layers\.1\.1\.", r"phases.\1.lo_to_lo."),
    (r"^stage(\d)\.fused_branches\.0\.0\.", r"phases.\1.aggregate_hi."),
    (r"^stage(\d)\.fused_branches\.1\.0\.", r"phases.\1.aggregate_lo."),
    (r"^up_layer\.", "upsample."),
    (r"^final_layer\.", "final_fusion."),
    (r"\.conv_block\.", ".body."),
]
_OURS_TO_UPSTREAM = [
    (r"^stem\.body\.", "layer1.conv_block."),
    (r"^stem\.shortcut\.", "layer1.downsample."),
    (r"^phases\.(\d)\.inpaint_hi\.", r"stage\1.branches.0."),
    (r"^phases\.(\d)\.inpaint_lo\.", r"stage\1.branches.1."),
    (r"^phases\.(\d)\.lo_to_hi\.", r"stage\1.fuse_layers.0.1."),
    (r"^phases\.(\d)\.hi_to_lo\.", r"stage\1.fuse_layers.1.0."),
    (r"^phases\.(\d)\.lo_to_lo\.", r"stage\1.fuse_layers.1.1."),
    (r"^phases\.(\d)\.aggregate_hi\.", r"stage\1.fused_branches.0.0."),
    (r"^phases\.(\d)\.aggregate_lo\.", r"stage\1.fused_branches.1.0."),
    (r"^upsample\.", "up_layer."),
    (r"^final_fusion\.", "final_layer."),
    (r"\.body\.", ".conv_block."),
]


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
