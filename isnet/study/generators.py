"""A run's committed model: its final (EMA) generator in fp16, ``runs/<hash>/generator-fp16.pt``.

Everything the study scores, times or draws loads this file, never the checkpoint, so the committed tables are
exactly what the committed weights give: ``isnet study --rescore`` regenerates them from a clean checkout without
training (checkpoints are never committed; this file is ≈ 3 MB at width 0.25, its sha256 in ``.json`` beside it).
It is exported once from the run's final checkpoint the first time the run is scored.
"""
from __future__ import annotations

from pathlib import Path

from ..engine.pretrained import export_generator, verify_generator
from ..io import locked
from .runs import _final_checkpoint

GENERATOR_FILE = "generator-fp16.pt"


def run_generator(run: str | Path) -> Path:
    """The run's committed generator, exported from its final checkpoint if it is not there yet."""
    run = Path(run)
    path = run / GENERATOR_FILE
    # Under the file's lock: a second study process sharing the results folder (tests/test_study_faults.py) must not
    # read the .pt after one process's export wrote it and before it wrote its sha256 record beside it.
    with locked(run / f".{GENERATOR_FILE}.lock"):
        if path.exists():
            return verify_generator(path)
        try:
            ckpt = _final_checkpoint(run)
        except FileNotFoundError:
            raise FileNotFoundError(
                f"run {run} has neither {GENERATOR_FILE} nor a checkpoint: its weights were never committed; "
                "retrain it (delete the run folder, then isnet study --resume)") from None
        return export_generator(ckpt, path)
