"""Our comparisons the paper does not make (classical methods, the mean-colour fill): per hole-ratio bucket and per mask family.

The paper compares ISNet only with learned methods (Tables 5 and 6 quote CA, GLCIC, PConv, EdgeConnect, ...); it
never runs Telea, Navier–Stokes, biharmonic or a mean fill. So these comparisons are not claims and get no
verdict: each is an effect with its interval (``isnet.study.statistics``), reported over all pairs, per
hole-ratio bucket and per mask family (thin / medium / thick strokes, ``isnet.method.masks``), where a method's
lead can come from one kind of hole only.
"""
from __future__ import annotations

from typing import Iterable

import pandas as pd

from ..method.masks import FAMILIES
from .claims import UNTRAINED, _paired_rows, comparison_label, paired_effect, short_cells
from .experiments import CLASSICAL, MEAN_FILL
from .paper import HIGHER_IS_BETTER, Comparison

# The one-shot model of Table 5 against each method the paper never ran.
EXTENSION_BASELINES = (*CLASSICAL, MEAN_FILL)
EXTENSION_MODEL = "isnet-eq5"

EXTENSION_COLUMNS = ["comparison", "subset", "effect", "interval", "seeds", "pairs", "groups", "mean_diff",
                     "ci95_low", "ci95_high", "n_seeds", "var_seeds", "var_test"]


def _with_family(per_pair: pd.DataFrame, pairs: pd.DataFrame | None) -> pd.DataFrame:
    """Per-pair rows with the mask family of each pair (from the pairs file: column ``pair`` → ``family``)."""
    if "family" in per_pair.columns or pairs is None or "family" not in pairs.columns:
        return per_pair
    key = "pair" if "pair" in pairs.columns else "pair_id"
    return per_pair.merge(pairs[[key, "family"]].rename(columns={key: "pair_id"}), on="pair_id", how="left")


def extensions(per_pair: pd.DataFrame, pairs: pd.DataFrame | None = None, model: str = EXTENSION_MODEL,
               baselines: Iterable[str] = EXTENSION_BASELINES, metric: str = "psnr") -> pd.DataFrame:
    """``model`` against each of ``baselines`` on the same pairs: one row per (comparison, subset), the subsets
    being all pairs, each hole-ratio bucket (``bucket``) and each mask family (``family``, joined from ``pairs``,
    the evaluation pairs file, when the per-pair rows lack it). Positive effect = ``model`` better. Baselines
    without rows are left out. Columns: :data:`EXTENSION_COLUMNS` (short text cells first, numbers after)."""
    df = _with_family(per_pair, pairs)
    sign = 1.0 if HIGHER_IS_BETTER.get(metric, True) else -1.0
    present = set(df["method"])
    subsets = [("all", None, None)]
    for column in ("bucket", "family"):
        if column in df.columns:
            values = sorted(df[column].dropna().astype(str).unique(),
                            key=lambda v: (list(FAMILIES).index(v) if v in FAMILIES else len(FAMILIES), v))
            subsets += [(f"{column} {v}", column, v) for v in values]
    out = []
    for b in baselines:
        if b not in present or model not in present:
            continue
        comp = Comparison(model, b, metric=metric)
        for name, column, value in subsets:
            part = df if column is None else df[df[column].astype(str) == value]
            rows = _paired_rows(part, comp)
            found = paired_effect(rows, sign, trained=model not in UNTRAINED) if len(rows) else None
            if found is None:
                continue
            res = dict(comparison=comp, mean_diff=found.effect, ci95_low=found.low, ci95_high=found.high,
                       per_seed=found.per_seed)
            out.append(dict(comparison=comparison_label(comp).replace(" > ", " − "), subset=name,
                            **short_cells(res), pairs=found.n_pairs, groups=found.groups, mean_diff=found.effect,
                            ci95_low=found.low, ci95_high=found.high, n_seeds=found.n_seeds,
                            var_seeds=found.var_seeds, var_test=found.var_test))
    return pd.DataFrame(out, columns=EXTENSION_COLUMNS)
