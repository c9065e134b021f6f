#!/usr/bin/env python3
"""Check that torch and torchvision form one working pair: the same build (CPU, or one CUDA version), versions
released together, and torchvision's compiled ops load (``torchvision.ops.nms`` on a tiny tensor).

``make venv`` runs it right after installing, so a venv that mixes builds (a CPU torch beside PyPI's CUDA
torchvision: ``operator torchvision::nms does not exist`` minutes later, inside a notebook) stops at install time
with one line naming both builds and the command that fixes it. It imports neither ``isnet`` nor anything heavy
besides torch and torchvision.

    python scripts/check_torch.py                     # exit 0: "torch ... + torchvision ...: ok"; 1: one line
    python scripts/check_torch.py --index URL         # exit 0 when a pip index (PyTorch's CPU index) answers
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

CPU_FIX = "make clean-venv venv TORCH=cpu"


def build_of(version: str, cuda: str | None = None) -> str | None:
    """``cpu``, ``cu128`` ...: from torch's own CUDA version when given (``torch.version.cuda``; None = CPU), else
    from a version's local tag (``0.28.0+cpu``); None when a version carries no tag (a plain PyPI wheel)."""
    if cuda is not None or version is None:
        return "cu" + cuda.replace(".", "") if cuda else "cpu"
    local = version.partition("+")[2]
    return local or None


def paired_torchvision(torch_version: str) -> str | None:
    """The torchvision minor released with a torch 2.x (``2.13.0`` → ``0.28``): 0.(x + 15) since torch 2.0."""
    m = re.match(r"2\.(\d+)\.", torch_version)
    return f"0.{int(m.group(1)) + 15}" if m else None


def diagnose(torch_version: str, torch_cuda: str | None, tv_version: str | None, ops_error: str | None,
             cpu_requested: bool = False) -> str | None:
    """None when the pair is sound; else one line: which builds are mixed, why it fails, what to run instead.

    ``torch_cuda`` is ``torch.version.cuda`` (None for a CPU build); ``tv_version`` torchvision's full version
    (None: not installed); ``ops_error`` the error of loading torchvision's compiled ops (None: they work);
    ``cpu_requested``: the venv was built with ``TORCH=cpu``."""
    tb = build_of(torch_version, torch_cuda)
    if tv_version is None:
        return (f"torchvision is not installed beside torch {torch_version}; run: {CPU_FIX} (CPU) or make clean-venv "
                "venv (PyPI)")
    vb = build_of(tv_version)
    want = paired_torchvision(torch_version)
    problems = []
    if vb is not None and vb != tb:
        problems.append(f"a {_name(tb)} torch beside a {_name(vb)} torchvision")
    if want and not (tv_version == want or tv_version.startswith(want + ".") or tv_version.startswith(want + "+")):
        problems.append(f"torchvision {tv_version} was not released with torch {torch_version} (that is {want}.*)")
    if ops_error:
        problems.append(f"torchvision.ops.nms fails ({ops_error})")
    if cpu_requested and tb != "cpu":
        problems.append(f"TORCH=cpu asked for a CPU build but torch is the {_name(tb)} build")
    if not problems:
        return None
    if tb == "cpu" or cpu_requested:
        fix = (f"{CPU_FIX} (or: pip install --force-reinstall torch torchvision --index-url "
               "https://download.pytorch.org/whl/cpu, both in one call)")
    else:
        fix = (f"pip install --force-reinstall 'torchvision=={want}.*' from the index torch came from, or make "
               "clean-venv venv" if want else "make clean-venv venv")
    return (f"torch {torch_version} ({_name(tb)} build) and torchvision {tv_version} ({_name(vb)} build) do not "
            f"work together: {'; '.join(problems)}. Run: {fix}")


def _name(build: str | None) -> str:
    if build is None:
        return "PyPI"
    return "CPU" if build == "cpu" else f"CUDA {build[2:-1]}.{build[-1]}" if build.startswith("cu") else build


def torchvision_version() -> str | None:
    """torchvision's full version (with its ``+cpu`` / ``+cu128`` tag), read from its files without importing it:
    importing a mismatched torchvision is what fails."""
    import importlib.metadata
    import importlib.util

    spec = importlib.util.find_spec("torchvision")
    if spec is None:
        return None
    for folder in spec.submodule_search_locations or []:
        path = Path(folder) / "version.py"
        if path.exists():
            m = re.search(r"""^__version__\s*=\s*['"]([^'"]+)['"]""", path.read_text(), re.M)
            if m:
                return m.group(1)
    return importlib.metadata.version("torchvision")


def ops_error() -> str | None:
    """None when torchvision imports and ``torchvision.ops.nms`` runs on a tiny tensor; else the error, short."""
    try:
        import torch
        import torchvision

        boxes = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.5, 0.5, 2.0, 2.0], [3.0, 3.0, 4.0, 4.0]])
        keep = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7]), 0.3)
        if keep.tolist() != [0, 2]:
            return f"nms returned {keep.tolist()} instead of [0, 2]"
    except Exception as e:  # noqa: BLE001 - any failure here is the message
        return f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"[:200]
    return None


def check_index(url: str, timeout: float = 20.0) -> str | None:
    """None when a pip (simple) index answers for torch at ``url``; else one line saying it cannot be reached."""
    import urllib.request

    target = url.rstrip("/") + "/torch/"
    try:
        with urllib.request.urlopen(target, timeout=timeout) as r:
            if r.status == 200:
                return None
            reason = f"HTTP {r.status}"
    except Exception as e:  # noqa: BLE001
        reason = f"{type(e).__name__}: {e}"
    return (f"PyTorch's CPU index {url} cannot be reached ({reason}); TORCH=cpu installs torch and torchvision from "
            "it only (never a mix from other indexes). Check the network or proxy, or set TORCH_CPU_INDEX to a "
            "mirror of it, then run make again")


def main(argv: list[str]) -> int:
    if argv[:1] == ["--index"]:
        problem = check_index(argv[1])
    else:
        import torch

        cpu = "--cpu" in argv
        problem = diagnose(torch.__version__, torch.version.cuda, torchvision_version(), ops_error(), cpu)
        if problem is None:
            print(f"torch {torch.__version__} + torchvision {torchvision_version()}: one build, torchvision.ops load")
    if problem:
        print(f"check_torch: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
