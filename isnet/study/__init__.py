"""The study layer: profiles, the paper's experiments as data, runs keyed by configuration, and the notebook driver.

One ``Study`` object per profile does the work the notebooks show:

>>> s = Study("smoke")
>>> result = s.run_table("table7")       # trains (or reuses) every row × seed, scores them on fixed pairs
>>> result.table                          # the paper's numbers beside ours, with 95 % CIs

Modules: ``profiles`` (the one profile table), ``experiments`` (each table's rows), ``runs`` (the run cache
and results folder), ``facade`` (``Study``), ``search`` (Optuna, Table 1), ``report`` (tables, claims,
figures), ``figures`` (one atomic figure writer), ``paper`` (the paper's tables as data), ``provenance``,
``driver`` (papermill) and ``cli``. The names users type are re-exported here.
"""
from __future__ import annotations


from . import paper, report, search
from .driver import NOTEBOOKS, NotebookFailed, notebook_dir, run_study, study_timings
from .experiments import (
                   CLASSICAL,
                   MEAN_FILL,
                   TABLES,
                   MeanColourFill,
                   Row,
                   TableResult,
                   table_rows,
)
from .facade import Study
from .profiles import (
                   PROFILES,
                   TEST,
                   StudyProfile,
                   base_config,
                   base_configs,
                   get_profile,
)
from .provenance import environment, git_commit
from .runs import (
                   PROGRESS_ENV,
                   RESULTS_ENV,
                   project_root,
                   prune_checkpoints,
                   report_progress,
                   results_root,
                   run_status,
                   under_driver,
)


__all__ = [
    "CLASSICAL", "MEAN_FILL", "NOTEBOOKS", "PROFILES", "PROGRESS_ENV", "RESULTS_ENV", "TABLES", "TEST", "MeanColourFill",
    "NotebookFailed", "Row", "Study", "StudyProfile", "TableResult", "base_config", "base_configs", "environment",
    "get_profile", "git_commit", "notebook_dir", "paper", "project_root", "prune_checkpoints", "report",
    "report_progress", "results_root", "run_status", "run_study", "search", "study_timings", "table_rows",
    "under_driver",
]
