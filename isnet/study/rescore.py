"""``isnet study --rescore``: every table, verdict and figure again from the committed fp16 generators, no training.

Each run's per-pair scores (``runs/<hash>/eval-*.csv``) and output spread are derived from its committed
``generator-fp16.pt`` (``isnet.study.generators``). A rescore moves those derived files aside, runs the notebooks with
training forbidden (``RESCORE_ENV``: a run that is not finished is an error naming it), so every score is computed
again from the weights, then compares the new files with the old ones and says which were reproduced exactly.
The classical methods' scores (``pairs/eval-*.csv``) do not depend on weights and are kept.
"""
from __future__ import annotations

import filecmp
import os
import shutil
from pathlib import Path

import pandas as pd

RESCORE_ENV = "ISNET_RESCORE"  # set while a rescore runs the notebooks: the study may not train
ASIDE = ".rescore-previous"
DERIVED = ("eval-*.csv", "spread-*.json")


def set_aside(study_dir: str | os.PathLike) -> list[Path]:
    """Move every run's derived scores into ``<run>/.rescore-previous/`` (replacing an older set); returns the
    moved files' new paths. Runs without a committed generator keep theirs (nothing could recompute them)."""
    moved = []
    for run in sorted((Path(study_dir) / "runs").glob("*/")):
        if not (run / "generator-fp16.pt").exists():
            continue
        files = [f for pattern in DERIVED for f in run.glob(pattern)]
        if not files:
            continue
        aside = run / ASIDE
        shutil.rmtree(aside, ignore_errors=True)
        aside.mkdir()
        for f in files:
            moved.append(Path(shutil.move(str(f), aside / f.name)))
    return moved


def compare(study_dir: str | os.PathLike) -> pd.DataFrame:
    """One row per set-aside file: reproduced byte for byte, or the largest |Δ PSNR| of a per-pair table. A file
    that was not computed again (a notebook not run) is put back; the other previous copies are removed (git keeps
    the committed ones)."""
    rows = []
    for aside in sorted((Path(study_dir) / "runs").glob(f"*/{ASIDE}")):
        run = aside.parent
        for old in sorted(aside.iterdir()):
            new = run / old.name
            row = {"run": run.name, "file": old.name, "recomputed": new.exists(), "identical": False,
                   "max_abs_diff_psnr": None}
            if new.exists():
                row["identical"] = filecmp.cmp(old, new, shallow=False)
                if not row["identical"] and old.suffix == ".csv":
                    a, b = pd.read_csv(old), pd.read_csv(new)
                    if "psnr" in a and "psnr" in b and len(a) == len(b):
                        row["max_abs_diff_psnr"] = float((a["psnr"] - b["psnr"]).abs().max())
            else:
                shutil.move(str(old), new)  # not asked for again (--only): the previous file stays
            rows.append(row)
        shutil.rmtree(aside, ignore_errors=True)
    return pd.DataFrame(rows, columns=["run", "file", "recomputed", "identical", "max_abs_diff_psnr"])
