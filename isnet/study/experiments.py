"""The paper's experiments as data: each table's rows (method id, label, config overrides), the classical baselines."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..engine.config import Config
from ..method.pra import Inpainter
from ..models import matched_blocks
from . import paper
from .profiles import (
    StudyProfile,
)

WEIGHT_COLUMNS = {"l1": "l1", "adversarial": "adversarial", "style": "style", "perceptual": "perceptual",
                  "fm": "feature_matching"}  # paper table column → LossWeights field


@dataclass(frozen=True)
class Row:
    """One trained model of a table: ``id`` is the method id of ``isnet.paper`` (e.g. ``isnet-b2``)."""

    id: str
    overrides: tuple[tuple[str, Any], ...] = ()
    label: str = ""


def run_config(profile: StudyProfile, row: Row, seed: int, runs_dir: Path, device: str | None = None,
               **extra: Any) -> Config:
    """The config of one row's run for one seed: the row's overrides, then the profile's recipe (one recipe for
    every row), in the folder named by its hash. The study and the learning curve both train this config."""

    overrides = dict(row.overrides) | {"train.seed": seed} | extra
    if device:
        overrides["train.device"] = device
    recipe = {k: v for k, v in profile.recipe if k not in overrides}
    cfg = profile.base.with_overrides(overrides).with_overrides(recipe).with_overrides({"out.dir": ""}).resolve()
    return cfg.with_overrides({"out.dir": str(Path(runs_dir) / cfg.config_hash())})


def _row(id: str, label: str = "", **overrides: Any) -> Row:
    return Row(id, tuple(sorted((k.replace("__", "."), v) for k, v in overrides.items())), label or id)


def table_rows(table: str, profile: StudyProfile) -> list[Row]:
    """The rows each table trains. Names match ``isnet.paper`` so the claims find them."""
    B = profile.blocks
    # The UNet-like has ISNet's parameter count at the profile's width and B, as in the paper (23.27 M vs 23.63 M)
    U = matched_blocks("unet", profile.base.model.width, "isnet", B)
    if table == "table2":
        rows = []
        for _, r in paper.table2().iterrows():
            weights = {f"loss__weights__{WEIGHT_COLUMNS[c]}": float(r[c]) for c in WEIGHT_COLUMNS}
            rows.append(_row(r["method"], f"row {r['row']}: " + ", ".join(f"{c}={r[c]:g}" for c in WEIGHT_COLUMNS),
                             model__blocks=B, **weights))
        return rows
    if table == "table7":
        rows = [_row("isnet-base", "Base (authors' ablation code)", model__generator="isnet-base", model__blocks=B),
                _row("isnet-base-ff", "Base + FF (authors' ablation code)", model__generator="isnet-base-ff",
                     model__blocks=B),
                _row("isnet", "ISNet", model__blocks=B),
                _row("unet", "UNet-like (parameter-matched)", model__generator="unet", model__blocks=U)]
        # Our resize-convolution UNet-like (a deviation, claim T7-vs-unet-resize) only where a profile asks for it:
        # the authors' transposed convs leave a pixel grid at the CPU ablation scale (docs/learning.md).
        if profile.methods is not None and "unet-resize" in profile.methods:
            R = matched_blocks("unet-resize", profile.base.model.width, "isnet", B)
            rows.append(_row("unet-resize", "UNet-like, resize-convolutions (ours, parameter-matched)",
                             model__generator="unet-resize", model__blocks=R))
        return rows
    if table == "table7-clean":
        return [_row("isnet-clean-base", "ISNet − sub-pixel − FF (ours)", model__generator="isnet-clean-base",
                     model__blocks=B),
                _row("isnet-no-ff", "ISNet − FF (ours)", model__generator="isnet-no-ff", model__blocks=B),
                _row("isnet-no-subpixel", "ISNet − sub-pixel (ours)", model__generator="isnet-no-subpixel",
                     model__blocks=B),
                _row("isnet", "ISNet", model__blocks=B)]
    if table == "table8":
        return [_row(f"isnet-b{b}", f"B = {b}", model__blocks=b) for b in (1, 2, 3, 4)]
    if table == "table5":
        return [_row("isnet-eq4", "ISNet, Eq. (4) weights", loss__preset="paper-eq4", model__blocks=B),
                _row("isnet-eq5", "ISNet, Eq. (5) weights", model__blocks=B),
                _row("unet", "UNet-like (parameter-matched), Eq. (5) weights", model__generator="unet",
                     model__blocks=U)]
    raise ValueError(f"unknown table {table!r}; choose one of {sorted(TABLES)}")


@dataclass(frozen=True)
class TableSpec:
    """How one of our tables is built beside the paper's: ``run_table`` writes it from these fields and
    ``Study.read_tables`` reads it back for the report, so the two cannot drift apart."""

    number: int                          # the paper's table (isnet.study.paper.table(number))
    keys: tuple[str, ...]                # row keys shared with the paper's table
    metrics: tuple[str, ...]             # measured columns, ours beside the paper's
    trained: bool = True                 # rows trained and scored by Study.run_table (table_rows); else written by
                                         # its own Study method (table1, table3, table6)
    numeric: bool = True                 # side_by_side(numeric=True): the ours_<metric>_{mean,ci95_*,n} columns
    parameters: bool = False             # the trained models' parameter counts (Study.with_trained_parameters)
    paper_methods: tuple[str, ...] | None = None  # only these rows of the paper's table (None: all)
    in_report: bool = True               # shown by notebook 07; a trained one's per-pair rows feed the claims


_METRICS = ("psnr", "ssim", "mae")
TABLE_SPECS = {
    "table1": TableSpec(1, ("method",), ("psnr", "mae"), trained=False, numeric=False),
    "table2": TableSpec(2, ("method",), ("psnr", "mae")),
    "table3": TableSpec(3, ("method",), ("latency_ms",), trained=False, numeric=False),
    "table5": TableSpec(5, ("method", "bucket"), _METRICS),
    "table6": TableSpec(6, ("method", "bucket"), _METRICS, trained=False, numeric=False),
    "table7": TableSpec(7, ("method",), _METRICS, parameters=True),
    "table7-clean": TableSpec(7, ("method",), _METRICS, numeric=False, parameters=True, paper_methods=("isnet",),
                              in_report=False),
    "table8": TableSpec(8, ("method",), _METRICS, parameters=True),
}

TABLES = {name: spec.number for name, spec in TABLE_SPECS.items() if spec.trained}  # the tables run_table trains


def trained_rows(profile: StudyProfile) -> dict[str, Row]:
    """Every row the profile's tables train, by method id (the first table naming an id defines it; ISNet is one
    row of Tables 5, 7 and 8 alike). ``profile.methods`` restricts it, as the study does."""

    rows: dict[str, Row] = {}
    for table in TABLES:
        for r in table_rows(table, profile):
            if profile.methods is None or r.id in profile.methods:
                rows.setdefault(r.id, r)
    return rows


CLASSICAL = ("telea", "ns", "biharmonic")


MEAN_FILL = "mean-fill"


def _mean_fill_class():
    class MeanColourFill(Inpainter):
        """Each hole filled with the mean colour of the image's known pixels: the trivial baseline."""

        name = MEAN_FILL

        def __call__(self, image, known):
            total = known.sum(dim=(2, 3), keepdim=True).clamp_min(1.0)
            mean = (image * known).sum(dim=(2, 3), keepdim=True) / total
            return mean.expand_as(image).clone()

    return MeanColourFill


def MeanColourFill():  # noqa: N802 - reads as a class; built lazily so importing isnet.study stays light
    return _mean_fill_class()()


@dataclass
class TableResult:
    name: str
    pairs: pd.DataFrame          # one row per (method, seed, pair): the input of claims and bootstraps
    summary: pd.DataFrame        # isnet.metrics.aggregate over seeds and pairs
    table: pd.DataFrame          # the paper's numbers beside ours
    runs: pd.DataFrame           # which run folder trained each (row, seed)
