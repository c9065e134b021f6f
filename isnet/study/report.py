"""Tables and figures from stored results only, with the paper's numbers beside ours.

Nothing here trains or evaluates a model: every function takes DataFrames (or the files a run wrote) and
returns a table or a figure, so the report can be regenerated from ``results/<profile>/`` alone.

Per-pair results, the input of :func:`claim_verdicts` and :func:`side_by_side`, are tidy rows, one per
(method, evaluation pair, seed)::

    method   str    the row of the paper's table it reproduces: an id from isnet.paper (e.g. "isnet-eq5",
                    "isnet-b4", "unet", "table2-row7") or one of ours ("telea", "isnet-no-ff"); a column
                    named ``row`` is accepted instead
    pair_id  str|int  the evaluation pair (image + mask); the same id means the same image and mask
    bucket   str    hole-ratio bucket of the pair ("10-20", ... as isnet.masks.PAPER_BUCKETS)
    seed     int    training seed of the model (optional; classical methods may have one seed for all)
    psnr, ssim, mae  floats, on the composite (mae in %)

Every table says which profile, data, feature weights and seeds produced it: ``label`` is a dict with at least
``profile``, ``data``, ``weights`` and ``seeds``, and :func:`write_table` puts it in the Markdown caption.

Figures are built on ``matplotlib.figure.Figure`` directly (no pyplot state, rendered by Agg when saved), so
they work the same in a notebook, a headless CI job and a papermill run.
"""
from __future__ import annotations

import itertools
import math
import os
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import matplotlib
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..io import atomic_write_text, read_jsonl, refuse_overwrite
from ..method.metrics import aggregate, paired_bootstrap
from .figures import save_figure
from .paper import (
    BUCKETS,
    CLAIMS,
    HIGHER_IS_BETTER,
    KEYS,
    MEASURES,
    OURS_COLUMNS,
    PAPER_METRICS,
    PRINTED_COLUMNS,
    Claim,
    Comparison,
    paper_value,
)
from .paper import table as paper_table

LABEL_KEYS = ("profile", "data", "weights", "seeds")
VERDICTS = ("reproduced", "not reproduced", "inconclusive", "not tested at this scale")
DISPLAY = {"psnr": "PSNR", "ssim": "SSIM", "mae": "MAE(%)", "latency_ms": "latency (ms/image)",
           "params_m": "parameters (M=2^20)", "params_exact": "parameters (exact count)",
           "params_exact_m": "parameters (exact / 2^20)", "l1": "L1 weight", "adversarial": "L_D weight",
           "style": "L_style weight", "perceptual": "L_perc weight", "fm": "L_FM weight",
           "method_printed": "name as printed", "bucket_printed": "bucket as printed",
           "mae_printed": "MAE label as printed", "authors_own": "authors' own run", "psnr_hole": "PSNR hole",
           "mae_hole": "MAE hole(%)"}
DECIMALS = {"psnr": 2, "ssim": 3, "mae": 2, "latency_ms": 2, "psnr_hole": 2, "mae_hole": 2}
NOT_RUN = "not run"


def display(column: str) -> str:
    """Human name of a column (``psnr`` → ``PSNR``)."""
    return DISPLAY.get(column, column)


def paper_column(column: str) -> str:
    return f"paper {display(column)}"


def ours_column(metric: str) -> str:
    return f"ours {display(metric)} (mean ± CI95, n)"


# ----------------------------------------------------------------------------------------- labels
def check_label(label: Mapping[str, Any] | None, where: str = "label") -> dict[str, Any]:
    """A table's provenance: profile, data, (feature) weights and seeds must all be named."""
    if not isinstance(label, Mapping):
        raise ValueError(f"{where} must be a dict naming {list(LABEL_KEYS)} (which profile, data, feature weights "
                         f"and seeds produced the numbers), got {label!r}")
    missing = [k for k in LABEL_KEYS if k not in label or label[k] in (None, "")]
    if missing:
        raise ValueError(f"{where} is missing {missing}; every table must say which profile, data, feature "
                         f"weights and seeds produced it, e.g. dict(profile='smoke', data='samples 64px', "
                         f"weights='vgg16-random', seeds=[0])")
    return dict(label)


def _join(value: Any) -> str:
    if isinstance(value, (list, tuple, set)):
        return ", ".join(str(v) for v in value)
    return str(value)


def caption(label: Mapping[str, Any], title: str | None = None, source: str | None = None) -> str:
    """One caption line: the title, then profile · data · feature weights · seeds (and any extra keys)."""
    label = check_label(label)
    parts = [f"profile: {_join(label['profile'])}", f"data: {_join(label['data'])}",
             f"feature weights: {_join(label['weights'])}", f"seeds: {_join(label['seeds'])}"]
    parts += [f"{k}: {_join(v)}" for k, v in label.items() if k not in LABEL_KEYS]
    head = f"**{title}.** " if title else ""
    tail = f" Paper columns: {source} (transcribed in isnet.paper)." if source else ""
    return head + "Ours — " + " · ".join(parts) + "." + tail


# ----------------------------------------------------------------------------------------- side by side
def _method_column(df: pd.DataFrame) -> pd.DataFrame:
    if "method" not in df.columns and "row" in df.columns:
        df = df.rename(columns={"row": "method"})
    return df


def summarise(ours: pd.DataFrame, keys: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """Per key: n, mean and 95 % CI of each metric, from per-pair rows or an isnet.metrics.aggregate table."""

    ours = _method_column(ours)
    keys, metrics = list(keys), list(metrics)
    missing = [k for k in keys if k not in ours.columns]
    if missing:
        raise ValueError(f"our results have no column(s) {missing} to join on (they have {list(ours.columns)}); "
                         "pass keys= that both tables share")
    if {"metric", "mean"} <= set(ours.columns):  # already aggregated (isnet.metrics.aggregate's shape)
        long = ours[ours["metric"].isin(metrics)]
    else:
        present = [m for m in metrics if m in ours.columns]
        long = aggregate(ours, by=keys, metrics=present) if present else pd.DataFrame(
            columns=keys + ["metric", "n", "mean", "ci95_low", "ci95_high"])
    return long


def _cell(mean: float, low: float, high: float, n: int, metric: str) -> str:
    if n == 0 or not np.isfinite(mean):
        return NOT_RUN
    d = DECIMALS.get(metric, 3)
    if np.isfinite(low) and np.isfinite(high):
        return f"{mean:.{d}f} ± {(high - low) / 2:.{d}f} (n={int(n)})"
    return f"{mean:.{d}f} (n={int(n)})"


def _key_strings(df: pd.DataFrame, keys: Sequence[str]) -> pd.Series:
    return df[list(keys)].astype(str).agg(" / ".join, axis=1)


def side_by_side(ours: pd.DataFrame, paper: pd.DataFrame, keys: Sequence[str] | None = None,
                 metrics: Sequence[str] | None = None, label: Mapping[str, Any] | None = None,
                 numeric: bool = False) -> pd.DataFrame:
    """One table: every row and column of the paper's table, with ours beside each measured column.

    The paper's values go to ``"paper PSNR"``-style columns (every column of ``paper`` that is not a key is
    kept), ours to ``"ours PSNR (mean ± CI95, n)"``. Paper rows we did not run stay, marked ``"not run"``;
    rows only we have (e.g. classical baselines) come after them with empty paper columns. ``keys`` and
    ``metrics`` default to the table's entries in isnet.paper.KEYS / MEASURES. ``numeric=True`` adds
    ``ours_<metric>_{mean,ci95_low,ci95_high,n}`` columns for plotting.
    """
    label = check_label(label)
    number = paper.attrs.get("paper_table")
    keys = list(keys) if keys is not None else list(KEYS.get(number, ("method",)))
    metrics = list(metrics) if metrics is not None else list(MEASURES.get(number, PAPER_METRICS))
    bad = [c for c in keys + metrics if c not in paper.columns]
    if bad:
        raise ValueError(f"the paper's table has no column(s) {bad}; it has {list(paper.columns)}")
    long = summarise(ours, keys, metrics)

    table = paper.reset_index(drop=True).copy()
    table["_key"] = _key_strings(table, keys)
    extra = long.drop_duplicates(keys)[keys].copy() if len(long) else pd.DataFrame(columns=keys)
    extra["_key"] = _key_strings(extra, keys) if len(extra) else pd.Series(dtype=str)
    extra = extra[~extra["_key"].isin(table["_key"])]
    table = pd.concat([table, extra], ignore_index=True) if len(extra) else table

    out = table[keys].copy()
    long = long.assign(_key=_key_strings(long, keys)) if len(long) else long.assign(_key=[])
    for metric in metrics:
        out[paper_column(metric)] = table[metric]
        stats = long[long["metric"] == metric].set_index("_key") if len(long) else pd.DataFrame()
        cells, num = [], {"mean": [], "ci95_low": [], "ci95_high": [], "n": []}
        for key in table["_key"]:
            if len(stats) and key in stats.index:
                s = stats.loc[key]
                s = s.iloc[0] if isinstance(s, pd.DataFrame) else s
                vals = (float(s["mean"]), float(s.get("ci95_low", math.nan)), float(s.get("ci95_high", math.nan)),
                        int(s["n"]))
            else:
                vals = (math.nan, math.nan, math.nan, 0)
            cells.append(_cell(*vals, metric))
            for k, v in zip(num, vals):
                num[k].append(v)
        out[ours_column(metric)] = cells
        if numeric:
            for k, v in num.items():
                out[f"ours_{metric}_{k}"] = v
    for column in paper.columns:
        if column not in keys and column not in metrics:
            name = f"ours {display(column)}" if column in OURS_COLUMNS else paper_column(column)
            out[name] = table[column]
    out.attrs["label"] = label
    out.attrs["paper_table"] = number
    out.attrs["paper_source"] = paper.attrs.get("label")
    return out


# ----------------------------------------------------------------------------------------- claims
def _paired_rows(results: pd.DataFrame, comp: Comparison) -> pd.DataFrame:
    """Rows of a and b joined on (pair_id, seed): columns pair_id, seed, a, b. A single-seed side is shared."""
    df = _method_column(results)
    need = ["method", "pair_id", comp.metric] + (["bucket"] if comp.bucket is not None else [])
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ValueError(f"per-pair results need columns {need} (missing {missing}); see isnet.report's docstring")
    if comp.bucket is not None:
        df = df[df["bucket"].astype(str) == comp.bucket]
    df = df.assign(seed=df["seed"] if "seed" in df.columns else 0)
    sides = []
    for name in (comp.a, comp.b):
        side = df.loc[df["method"] == name, ["pair_id", "seed", comp.metric]]
        dup = side.duplicated(["pair_id", "seed"])
        if dup.any():
            raise ValueError(f"method {name!r} has {int(dup.sum())} duplicate (pair_id, seed) rows; "
                             "each evaluation pair must appear once per seed")
        sides.append(side)
    a, b = sides
    if a.empty or b.empty:
        return pd.DataFrame(columns=["pair_id", "seed", "a", "b"])
    sa, sb = a["seed"].nunique(), b["seed"].nunique()
    if sa == 1 and sb > 1:  # e.g. a deterministic classical method scored once
        a = a.drop(columns="seed").merge(b[["pair_id", "seed"]], on="pair_id")
    elif sb == 1 and sa > 1:
        b = b.drop(columns="seed").merge(a[["pair_id", "seed"]], on="pair_id")
    elif sa == 1 and sb == 1:
        b = b.assign(seed=a["seed"].iloc[0])
    merged = a.merge(b, on=["pair_id", "seed"], suffixes=("_a", "_b"))
    return merged.rename(columns={f"{comp.metric}_a": "a", f"{comp.metric}_b": "b"})[["pair_id", "seed", "a", "b"]]


def _bootstrap(a: np.ndarray, b: np.ndarray, n_boot: int, seed: int) -> dict[str, float]:
    return paired_bootstrap(a, b, n_boot=n_boot, seed=seed)


def seed_pair_bootstrap(diff: np.ndarray, n_boot: int = 2000, seed: int = 0, chunk: int = 200) -> tuple[float, float]:
    """95 % percentile CI of the mean of a seeds × pairs matrix of paired differences, resampling seeds *and*
    pairs (a two-level bootstrap of the crossed design: every seed is scored on the same pairs). With one seed
    it is the paired bootstrap over pairs; with several it widens by the spread between training seeds, which
    a pairs-only bootstrap of seed-averaged differences ignores. NaN cells (a seed without that pair) are
    skipped."""
    d = np.asarray(diff, dtype=np.float64)
    if d.ndim != 2 or d.size == 0:
        raise ValueError(f"expected a seeds × pairs matrix of differences, got shape {d.shape}")
    n_seeds, n_pairs = d.shape
    rng = np.random.default_rng(seed)
    stats = []
    for start in range(0, n_boot, chunk):
        m = min(chunk, n_boot - start)
        pj = rng.integers(0, n_pairs, size=(m, n_pairs))
        per_seed = np.nanmean(d[:, pj], axis=-1)              # seeds × m: each seed's mean over resampled pairs
        si = rng.integers(0, n_seeds, size=(m, n_seeds))
        stats.append(np.nanmean(per_seed[si, np.arange(m)[:, None]], axis=1))
    boot = np.concatenate(stats)
    lo, hi = np.nanpercentile(boot, [2.5, 97.5])
    return float(lo), float(hi)


# Methods that are not trained (no seeds, no sanity gate) and the trivial floor every trained model must beat.
UNTRAINED = ("telea", "ns", "biharmonic", "patchmatch", "mean-fill")
MEAN_FILL = "mean-fill"
SPREAD_MIN = 0.01      # output std across images below this: the network ignores its input (issue 9)
MIN_PAIRS = 10         # fewer paired pairs in a comparison: "not tested at this scale"
MIN_N_FOR_CI = 5       # fewer values: no CI is shown in the compact tables
NOT_TESTED = "not tested at this scale"


def _seed_agreement(kind: str, values: Iterable[float], margin: float) -> bool:
    """Do the seeds' own point estimates land on the same side of the claim's threshold?"""
    sides = set()
    for v in values:
        if not np.isfinite(v):
            continue
        if kind == "better":
            if v != 0:
                sides.add(v > 0)
        elif kind == "not_worse":
            sides.add(v > -margin)
        else:
            sides.add(abs(v) < margin)
    return len(sides) <= 1


def compare(results: pd.DataFrame, comp: Comparison, n_boot: int = 2000, seed: int = 0,
            min_pairs: int = 0, min_seeds: int = 1) -> dict[str, Any]:
    """Run one comparison: the oriented mean difference (positive = ``a`` better), its 95 % CIs, per-seed mean
    differences, and a status in {"supports", "contradicts", "inconclusive", "not tested"}.

    Two intervals: ``ci95_low/high`` resample evaluation pairs with seeds averaged per pair (the paired
    bootstrap); ``ci95_low_seeds/high_seeds`` resample training seeds and pairs (:func:`seed_pair_bootstrap`).
    The status uses the seed-aware one. When the seeds' own estimates land on different sides of the claim's
    threshold, any status ("supports" or "contradicts") becomes "inconclusive". PRA is judged only where it
    ran more than one pass on average (the ``passes`` column): elsewhere it is the one-shot model by
    construction, and the comparison is "not tested". Fewer than ``min_pairs`` pairs or ``min_seeds`` seeds of
    a trained method: "not tested".
    """
    if comp.kind not in ("better", "not_worse", "equal"):
        raise ValueError(f"comparison kind must be better, not_worse or equal; got {comp.kind!r}")
    rows = _paired_rows(results, comp)
    sign = 1.0 if HIGHER_IS_BETTER.get(comp.metric, True) else -1.0
    out: dict[str, Any] = {"comparison": comp, "n_pairs": 0, "n_seeds": 0, "mean_diff": math.nan,
                           "ci95_low": math.nan, "ci95_high": math.nan, "ci95_low_seeds": math.nan,
                           "ci95_high_seeds": math.nan, "per_seed": {}, "status": "inconclusive"}
    if rows.empty:
        out["why"] = "no paired rows"
        return out
    per_pair = rows.groupby("pair_id")[["a", "b"]].mean()
    boot = _bootstrap(per_pair["a"].to_numpy(), per_pair["b"].to_numpy(), n_boot, seed)
    lo, hi = sorted((sign * boot["ci95_low"], sign * boot["ci95_high"]))
    diff = sign * boot["mean_diff"]
    per_seed = {s: sign * float((g["a"] - g["b"]).mean()) for s, g in rows.groupby("seed")}
    matrix = sign * (rows.assign(d=rows["a"] - rows["b"]).pivot_table(index="seed", columns="pair_id", values="d",
                                                                       aggfunc="mean").to_numpy())
    slo, shi = seed_pair_bootstrap(matrix, n_boot=n_boot, seed=seed)
    out.update(n_pairs=len(per_pair), n_seeds=len(per_seed), mean_diff=diff, ci95_low=lo, ci95_high=hi,
               ci95_low_seeds=slo, ci95_high_seeds=shi, per_seed=per_seed)
    pra = [m for m in (comp.a, comp.b) if m.endswith("-pra")]
    if pra and "passes" in results.columns:
        df = _method_column(results)
        sel = df["method"] == pra[0]
        if comp.bucket is not None:
            sel &= df["bucket"].astype(str) == comp.bucket
        passes = float(pd.to_numeric(df.loc[sel, "passes"], errors="coerce").mean())
        out["pra_passes"] = passes
        if not passes > 1.0 + 1e-9:
            out["status"], out["why"] = "not tested", (f"PRA ran {passes:.2f} passes on average here: it is the "
                                                       "one-shot model by construction")
            return out
    trained = [m for m in (comp.a, comp.b) if m not in UNTRAINED]
    if len(per_pair) < min_pairs:
        out["status"], out["why"] = "not tested", f"{len(per_pair)} pairs < {min_pairs}"
        return out
    if trained and len(per_seed) < min_seeds:
        out["status"], out["why"] = "not tested", f"{len(per_seed)} seed(s) < {min_seeds}"
        return out
    lo_v, hi_v = (slo, shi) if len(per_seed) > 1 else (lo, hi)
    m = comp.margin
    if not (np.isfinite(lo_v) and np.isfinite(hi_v)):
        status = "inconclusive"
    elif comp.kind == "better":
        status = "supports" if lo_v > 0 else "contradicts" if hi_v < 0 else "inconclusive"
    elif comp.kind == "not_worse":
        status = "supports" if lo_v > -m else "contradicts" if hi_v < -m else "inconclusive"
    else:
        status = "supports" if (-m < lo_v and hi_v < m) else "contradicts" if (lo_v > m or hi_v < -m) else "inconclusive"
    if len(per_seed) > 1 and not _seed_agreement(comp.kind, per_seed.values(), m):
        out["why"] = "seeds disagree in sign" + (f" (would be {status})" if status != "inconclusive" else "")
        status = "inconclusive"
    out["status"] = status
    return out


def sanity_gates(results: pd.DataFrame, methods: Iterable[str], spread_min: float = SPREAD_MIN) -> list[str]:
    """Reasons a claim about ``methods`` cannot be judged, empty when every trained method passed both gates:
    its outputs vary across images (``output_spread`` ≥ ``spread_min`` for every seed) and every seed beats the
    mean-colour fill (method ``mean-fill``) in mean PSNR over the same pairs. A gate whose data is absent
    (no ``output_spread`` column, no mean-fill rows) is not applied."""
    df = _method_column(results)
    problems = []
    fill = df[df["method"] == MEAN_FILL] if "method" in df.columns else df.iloc[:0]
    fill_psnr = fill.groupby("pair_id")["psnr"].mean() if len(fill) and "psnr" in fill.columns else None
    for m in dict.fromkeys(methods):
        if m in UNTRAINED:
            continue
        rows = df[df["method"] == m]
        if rows.empty:
            continue
        seeds = rows.groupby(rows["seed"] if "seed" in rows.columns else 0)
        if "output_spread" in rows.columns:
            spread = seeds["output_spread"].min()
            low = spread[spread < spread_min]
            if len(low):
                problems.append(f"{m} ignores its input (output spread across images "
                                + ", ".join(f"seed {s}: {v:.4f}" for s, v in low.items()) + f" < {spread_min:g})")
        if fill_psnr is not None:
            gaps = {}
            for s, g in seeds:
                common = g.set_index("pair_id")["psnr"].groupby(level=0).mean()
                common = common[common.index.isin(fill_psnr.index)]
                if len(common):
                    gaps[s] = float((common - fill_psnr.loc[common.index]).mean())
            bad = {s: v for s, v in gaps.items() if not v > 0}
            if bad:
                problems.append(f"{m} does not beat a mean-colour fill ("
                                + ", ".join(f"seed {s}: {v:+.2f} dB" for s, v in bad.items()) + ")")
    return problems


def _evidence(res: dict[str, Any], table: int) -> str:
    c: Comparison = res["comparison"]
    where = f" [{c.bucket}]" if c.bucket else ""
    kind = {"better": ">", "not_worse": "≥", "equal": "≈"}[c.kind]
    head = f"{c.a} {kind} {c.b}{where} {display(c.metric)}"
    if res["n_pairs"] == 0:
        return f"{head}: {res.get('why', 'no data')} → inconclusive"
    d = DECIMALS.get(c.metric, 3) + 1
    text = (f"{head}: {res['mean_diff']:+.{d}f} [{res['ci95_low']:+.{d}f}, {res['ci95_high']:+.{d}f}], "
            f"n={res['n_pairs']} pairs, {res['n_seeds']} seed(s)")
    if res["n_seeds"] > 1:
        text += (f"; over seeds and pairs [{res['ci95_low_seeds']:+.{d}f}, {res['ci95_high_seeds']:+.{d}f}]"
                 " (per seed " + "/".join(f"{v:+.{d}f}" for v in res["per_seed"].values()) + ")")
    if res.get("pra_passes") is not None:
        text += f", PRA {res['pra_passes']:.2f} passes"
    if c.margin:
        text += f", margin {c.margin:g}"
    pa, pb = paper_value(table, c.a, c.metric, c.bucket), paper_value(table, c.b, c.metric, c.bucket)
    if pa is not None and pb is not None:
        sign = 1.0 if HIGHER_IS_BETTER.get(c.metric, True) else -1.0
        pooled = " (mean over buckets)" if c.bucket is None and table in (5, 6) else ""
        text += f"; paper{pooled} {sign * (pa - pb):+.{d}f}"
    return text + f" → {res['status']}" + (f" ({res['why']})" if res.get("why") else "")


def claim_verdicts(results: Mapping[str, pd.DataFrame], claims: Iterable[Claim] | None = None,
                   n_boot: int = 2000, seed: int = 0, resolves: Iterable[str] | None = None,
                   min_pairs: int = MIN_PAIRS, min_seeds: int = 1, spread_min: float = SPREAD_MIN) -> pd.DataFrame:
    """Verdict per claim of isnet.paper.CLAIMS from per-pair results (see the module docstring).

    ``results`` maps a claim's ``results`` name ("table5", "table7", ...) to per-pair rows. In order:

    1. ``resolves`` (a profile's list of claim ids) given and the claim not in it → "not tested at this scale".
    2. Sanity gates (:func:`sanity_gates`) on every trained method of the claim; a failure → "not tested at
       this scale", with the reason.
    3. Each comparison (:func:`compare`): too few pairs or seeds, or PRA running one pass, → not tested.
    4. Of the comparisons tested: "not reproduced" when any CI excludes the claim (the seed-aware CI; for "≈"
       claims, outside the margin), "reproduced" when every one supports it, "inconclusive" otherwise
       (including seeds that disagree in sign, and missing results). None tested → "not tested at this scale".

    Returns columns claim, verdict, evidence, table, results, text.
    """
    allowed = None if resolves is None else set(resolves)
    rows = []
    for cl in (CLAIMS if claims is None else claims):
        df = results.get(cl.results)
        base = dict(table=cl.table, results=cl.results, text=cl.text)
        if df is None:
            rows.append(dict(claim=cl.id, verdict="inconclusive", evidence=f"not run: no results[{cl.results!r}]",
                             **base))
            continue
        if allowed is not None and cl.id not in allowed:
            rows.append(dict(claim=cl.id, verdict=NOT_TESTED, evidence="this profile's measured seed noise cannot "
                             "resolve the claim (not in its list of resolvable claims)", **base))
            continue
        methods = [m for comp in cl.comparisons for m in (comp.a, comp.b)]
        gates = sanity_gates(df, [m.removesuffix("-pra") for m in methods], spread_min=spread_min)
        found = [compare(df, comp, n_boot=n_boot, seed=seed, min_pairs=min_pairs, min_seeds=min_seeds)
                 for comp in cl.comparisons]
        evidence = "; ".join(_evidence(r, cl.table) for r in found)
        if gates:
            rows.append(dict(claim=cl.id, verdict=NOT_TESTED, evidence="sanity gate: " + "; ".join(gates)
                             + ". Measured anyway: " + evidence, **base))
            continue
        statuses = [r["status"] for r in found if r["status"] != "not tested"]
        verdict = (NOT_TESTED if not statuses else "not reproduced" if "contradicts" in statuses
                   else "reproduced" if all(s == "supports" for s in statuses) else "inconclusive")
        rows.append(dict(claim=cl.id, verdict=verdict, evidence=evidence, **base))
    return pd.DataFrame(rows, columns=["claim", "verdict", "evidence", "table", "results", "text"])


# ----------------------------------------------------------------------------------------- writing tables
def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}" if abs(int(value)) >= 10_000 else str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}" if abs(value) >= 10_000 else str(int(value))
        text = repr(value)  # the shortest exact form: the paper's 24.9 stays 24.9, 48.081212 stays 48.081212
        return text if len(text) <= 10 else f"{value:.4g}"  # computed values: 4 significant digits, not 16
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    header = [str(c).replace("|", "\\|") for c in df.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def write_table(df: pd.DataFrame, out_dir: str | os.PathLike, name: str, label: Mapping[str, Any] | None = None,
                title: str | None = None, overwrite: bool = False) -> tuple[Path, Path]:
    """Write ``<name>.csv`` and ``<name>.md`` atomically; the Markdown starts with a caption line naming the
    profile, data, feature weights and seeds (``label``, or the one side_by_side stored in ``df.attrs``)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name or ""):
        raise ValueError(f"table name {name!r} must be a plain file stem (letters, digits, . _ -), no folders")
    label = check_label(label if label is not None else df.attrs.get("label"),
                        where=f"label of table {name!r} (pass label=... or build it with side_by_side)")
    out_dir = Path(out_dir)
    csv_path, md_path = out_dir / f"{name}.csv", out_dir / f"{name}.md"
    for path in (csv_path, md_path):
        refuse_overwrite(path, overwrite, what="table")
    text = caption(label, title or name, df.attrs.get("paper_source")) + "\n\n" + to_markdown(df)
    atomic_write_text(csv_path, df.to_csv(index=False))
    atomic_write_text(md_path, text)
    return csv_path, md_path


# ----------------------------------------------------------------------------------------- compact tables
_CELL = re.compile(r"^\s*(?P<mean>-?[0-9.]+)(?:\s*±\s*(?P<half>[0-9.]+))?\s*\(n=(?P<n>\d+)\)\s*$")


def mean_pm(mean: float, half: float | None, n: int | None = None, metric: str = "psnr",
            min_n: int = MIN_N_FOR_CI) -> str:
    """``mean ± half`` rounded as a person would write it: the half-width to two significant digits (never
    finer than the metric's usual decimals), the mean to the same place. No interval when ``n < min_n``:
    an interval from two pairs says nothing."""
    if mean is None or not np.isfinite(mean):
        return NOT_RUN
    d = DECIMALS.get(metric, 3)
    if n is not None and n < min_n or half is None or not np.isfinite(half):
        return f"{mean:.{d}f}" + (f" (n={n})" if n is not None else "")
    places = min(d, max(0, 1 - int(math.floor(math.log10(half)))) if half > 0 else d)
    return f"{mean:.{places}f} ± {half:.{places}f}"


def _ours_numbers(table: pd.DataFrame, metric: str) -> tuple[list, list, list]:
    """(means, half-widths, n) of our column: from side_by_side(numeric=True) columns, else parsed from cells."""
    if f"ours_{metric}_mean" in table.columns:
        lo, hi = table[f"ours_{metric}_ci95_low"], table[f"ours_{metric}_ci95_high"]
        return list(table[f"ours_{metric}_mean"]), list((hi - lo) / 2), [int(v) for v in table[f"ours_{metric}_n"]]
    means, halves, ns = [], [], []
    for cell in table.get(ours_column(metric), pd.Series([None] * len(table))):
        m = _CELL.match(str(cell)) if isinstance(cell, str) else None
        means.append(float(m["mean"]) if m else math.nan)
        halves.append(float(m["half"]) if m and m["half"] else math.nan)
        ns.append(int(m["n"]) if m else 0)
    return means, halves, ns


def compact_table(table: pd.DataFrame, metrics: Sequence[str] | None = None,
                  min_n: int = MIN_N_FOR_CI) -> pd.DataFrame:
    """The readable form of a side_by_side table (the wide CSV stays for machines): per metric, the paper's
    value beside ours as ``mean ± CI95`` with sensible rounding, one ``n`` column, and the rows we did not run
    folded away (listed in ``attrs["not_run"]``). Per-bucket tables (5, 6) become one row per method with one
    column per bucket (PSNR: "ours (paper)")."""
    metrics = list(metrics) if metrics is not None else [m for m in ("psnr", "ssim", "mae", "latency_ms")
                                                         if ours_column(m) in table.columns]
    if not metrics:
        raise ValueError(f"no 'ours …' metric columns in this table (columns {list(table.columns)}); pass a "
                         "side_by_side table")
    nums = {m: _ours_numbers(table, m) for m in metrics}
    ran = np.array([any(n > 0 for n in (nums[m][2][i] for m in metrics)) for i in range(len(table))], dtype=bool)
    keys = [k for k in ("method", "bucket", "blocks") if k in table.columns]
    not_run = list(dict.fromkeys(table.loc[~ran, "method"].astype(str))) if "method" in table.columns else []
    if "bucket" in table.columns and "method" in table.columns:
        m = metrics[0]
        means, halves, ns = nums[m]
        cells = {}
        for i, (method, bucket) in enumerate(zip(table["method"], table["bucket"])):
            if not ran[i]:
                continue
            paper = table[paper_column(m)].iloc[i] if paper_column(m) in table.columns else math.nan
            cell = mean_pm(means[i], halves[i] if ns[i] >= min_n else None, None, m, min_n)
            if pd.notna(paper):
                cell += f" (paper {paper:.{DECIMALS.get(m, 3)}f})"
            cells.setdefault(str(method), {})[f"{bucket} % {display(m)}"] = cell
        for i, method in enumerate(table["method"]):
            if ran[i]:
                cells[str(method)]["n per bucket"] = max(cells[str(method)].get("n per bucket", 0), ns[i])
        out = (pd.DataFrame.from_dict(cells, orient="index").rename_axis("method").reset_index() if cells
               else pd.DataFrame(columns=["method"]))
        not_run = [x for x in not_run if x not in set(out["method"])]
    else:
        out = table.loc[ran, keys].copy().reset_index(drop=True)
        for m in metrics:
            means, halves, ns = (np.array(v, dtype=object)[ran] for v in nums[m])
            if paper_column(m) in table.columns:
                out[f"paper {display(m)}"] = table.loc[ran, paper_column(m)].to_numpy()
            out[f"ours {display(m)}"] = [mean_pm(a, b if c >= min_n else None, None, m, min_n)
                                         for a, b, c in zip(means, halves, ns)]
        out["n"] = np.array(nums[metrics[0]][2], dtype=object)[ran]
        for extra in ("ours parameters (exact count)", "trained width", "ours passes", "ours ms_per_pass"):
            if extra in table.columns:
                out[extra.removeprefix("ours ").replace("_", " ")] = table.loc[ran, extra].to_numpy()
    out.attrs.update(table.attrs)
    out.attrs["not_run"] = not_run
    out.attrs["min_n"] = min_n
    return out


def compact_markdown(table: pd.DataFrame, title: str | None = None, metrics: Sequence[str] | None = None,
                     min_n: int = MIN_N_FOR_CI) -> str:
    """Markdown of :func:`compact_table` with a one-line note of the folded rows and of intervals left out."""
    small = compact_table(table, metrics, min_n)
    head = f"**{title}**\n\n" if title else ""
    if small.empty:
        return head + f"Nothing run at this scale; the paper's rows ({', '.join(small.attrs['not_run'])}) are in " \
                      "tables/*.csv.\n"
    notes = []
    if small.attrs.get("not_run"):
        notes.append(f"Not run here (paper only): {', '.join(small.attrs['not_run'])}.")
    ns = pd.to_numeric(small.get("n", small.get("n per bucket", pd.Series(dtype=float))), errors="coerce")
    if len(ns) and (ns < min_n).any():
        notes.append(f"No interval where n < {min_n}: {NOT_TESTED}.")
    notes.append("Ours: mean ± 95 % CI over evaluation pairs and seeds; the full table is in tables/*.csv.")
    return head + to_markdown(small) + "\n" + " ".join(notes) + "\n"


# ----------------------------------------------------------------------------------------- coverage
COVERED_TABLES = (1, 2, 3, 5, 6, 7, 8)


def _tables_for(number: int, report_tables: Mapping[str, pd.DataFrame]) -> list[tuple[str, pd.DataFrame]]:
    pattern = re.compile(rf"(?:^|[^0-9])table[_-]?0?{number}(?![0-9])", re.IGNORECASE)
    by_attr = [(n, t) for n, t in report_tables.items() if t.attrs.get("paper_table") == number]
    by_name = [(n, t) for n, t in report_tables.items() if t.attrs.get("paper_table") is None and pattern.search(n)]
    return by_attr + by_name


def _row_present(report: pd.DataFrame, paper_row: pd.Series, keys: Sequence[str], columns: Sequence[str]) -> bool:
    if any(k not in report.columns for k in keys):
        return False
    hit = report
    for k in keys:
        hit = hit[hit[k].astype(str) == str(paper_row[k])]
    if hit.empty:
        return False
    for col in columns:
        pc = paper_column(col)
        if pc not in hit.columns:
            return False
        want = paper_row[col]
        got = pd.to_numeric(hit[pc], errors="coerce")
        if not np.isclose(got.to_numpy(np.float64), float(want), rtol=0, atol=1e-9).any():
            return False
    return True


def coverage(report_tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Which rows and columns of the paper's Tables 1, 2, 3, 5, 6, 7, 8 our report tables show.

    A report table belongs to paper Table n when side_by_side built it (``attrs["paper_table"]``) or its name
    contains ``table<n>`` (for tables read back from CSV). A paper row is present when a report row has the
    same keys and the paper's numbers in its ``paper …`` columns; a paper column when ``paper <column>`` exists.
    Returns columns table, kind ("row" / "column"), item, present, report.
    """
    rows = []
    for number in COVERED_TABLES:
        paper = paper_table(number)
        keys, columns = KEYS[number], PRINTED_COLUMNS[number]
        candidates = _tables_for(number, report_tables)
        for col in columns:
            where = [n for n, t in candidates if paper_column(col) in t.columns]
            rows.append(dict(table=number, kind="column", item=paper_column(col), present=bool(where),
                             report=", ".join(where)))
        for _, prow in paper.iterrows():
            where = [n for n, t in candidates if _row_present(t, prow, keys, columns)]
            rows.append(dict(table=number, kind="row", item=" / ".join(str(prow[k]) for k in keys),
                             present=bool(where), report=", ".join(where)))
    return pd.DataFrame(rows, columns=["table", "kind", "item", "present", "report"])


# ----------------------------------------------------------------------------------------- figures
def _save(fig: Figure, out_path: str | os.PathLike | None, overwrite: bool) -> Figure:
    if out_path is not None:
        save_figure(fig, out_path, overwrite=overwrite)
    return fig


def _read_jsonl(path: Path) -> pd.DataFrame:
    try:
        rows = read_jsonl(path, torn_tail=False)
    except ValueError as e:
        raise ValueError(f"{e}; is it a training log?") from e
    return pd.json_normalize(rows) if rows else pd.DataFrame()


def _as_log(source: str | os.PathLike | pd.DataFrame | Sequence[Mapping] | None) -> pd.DataFrame | None:
    if source is None or isinstance(source, pd.DataFrame):
        return source
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"{path} not found; pass a run folder, its metrics.jsonl, or a DataFrame")
        return _read_jsonl(path)
    return pd.json_normalize(list(source))


NOT_LOSSES = re.compile(r"^(iteration|iter|step|epoch|lr.*|it_per_s|seconds|time.*|wall.*)$|psnr|ssim|mae",
                        re.IGNORECASE)


def training_curves(run: str | os.PathLike | pd.DataFrame | Sequence[Mapping],
                    val: str | os.PathLike | pd.DataFrame | Sequence[Mapping] | None = None,
                    out_path: str | os.PathLike | None = None, overwrite: bool = False,
                    title: str | None = None) -> Figure:
    """Loss terms and validation PSNR against iteration, from a run folder (metrics.jsonl + val.jsonl), a
    metrics.jsonl path (val.jsonl beside it is used if present), or DataFrames / lists of dicts."""
    if isinstance(run, (str, os.PathLike)) and Path(run).is_dir():
        run_dir = Path(run)
        run = run_dir / "metrics.jsonl"
        if val is None and (run_dir / "val.jsonl").exists():
            val = run_dir / "val.jsonl"
    elif isinstance(run, (str, os.PathLike)) and val is None and (Path(run).parent / "val.jsonl").exists():
        val = Path(run).parent / "val.jsonl"
    log, vlog = _as_log(run), _as_log(val)
    if log is None or "iteration" not in log.columns:
        raise ValueError("the training log needs an 'iteration' column (isnet.train writes one per row)")
    losses = [c for c in log.columns if not NOT_LOSSES.search(str(c)) and pd.api.types.is_numeric_dtype(log[c])]
    psnr_src = vlog if vlog is not None and len(vlog) else log
    psnr_cols = [c for c in psnr_src.columns if "psnr" in str(c).lower() and "hole" not in str(c).lower()]
    if not losses and not psnr_cols:
        raise ValueError(f"no loss terms or PSNR found in the log (columns {list(log.columns)})")

    n_terms = len(losses)
    cols = 4
    term_rows = math.ceil(n_terms / cols) if n_terms else 0
    fig = Figure(figsize=(12, 4 + 2.4 * term_rows), dpi=100, layout="constrained")
    grid = fig.add_gridspec(1 + term_rows, cols, height_ratios=[1.6] + [1] * term_rows)
    ax_loss, ax_psnr = fig.add_subplot(grid[0, :2]), fig.add_subplot(grid[0, 2:])
    for c in losses:  # overview: each term divided by its largest |value|, so no term flattens the others
        series = log[["iteration", c]].dropna()
        scale = float(series[c].abs().max()) or 1.0
        ax_loss.plot(series["iteration"], series[c] / scale, label=f"{c}", lw=2.0 if c.endswith("total") else 1.0)
    ax_loss.set(xlabel="iteration", ylabel="term / max |term|", title="loss terms (each normalised)")
    if losses:
        ax_loss.legend(fontsize=7, ncol=2)
    if psnr_cols:
        for c in psnr_cols:
            series = psnr_src[["iteration", c]].dropna()
            ax_psnr.plot(series["iteration"], series[c], marker="o", label=c)
        ax_psnr.legend(fontsize=7)
    else:
        ax_psnr.text(0.5, 0.5, "no validation PSNR logged", ha="center", va="center", transform=ax_psnr.transAxes)
    ax_psnr.set(xlabel="iteration", ylabel="PSNR (dB)", title="validation PSNR")
    for i, c in enumerate(losses):  # and each term on its own axis, in its own units
        ax = fig.add_subplot(grid[1 + i // cols, i % cols])
        series = log[["iteration", c]].dropna()
        ax.plot(series["iteration"], series[c], lw=1.0, color="C%d" % (i % 10))
        ax.set_title(c, fontsize=9)
        ax.tick_params(labelsize=7)
        if i // cols == term_rows - 1:
            ax.set_xlabel("iteration", fontsize=8)
    for ax in fig.axes:
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    if title:
        fig.suptitle(title)
    return _save(fig, out_path, overwrite)


def _to_hwc(img: Any) -> np.ndarray:
    """One image (torch C×H×W / 1×C×H×W, numpy H×W×C or H×W, float [0,1] or uint8) → H×W×3 float [0,1]."""
    if hasattr(img, "detach"):
        img = img.detach().cpu().float().numpy()
        if img.ndim == 4 and img.shape[0] == 1:
            img = img[0]
        if img.ndim == 3 and img.shape[0] in (1, 3):
            img = img.transpose(1, 2, 0)
    arr = np.asarray(img)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(f"expected an image H×W×3, H×W or C×H×W tensor, got shape {np.shape(img)}")
    return np.clip(arr.astype(np.float32), 0.0, 1.0)


def _as_list(images: Any) -> list[np.ndarray]:
    if hasattr(images, "detach") and images.dim() == 4:
        return [_to_hwc(x) for x in images]
    if isinstance(images, np.ndarray) and images.ndim == 4:
        return [_to_hwc(x) for x in images]
    return [_to_hwc(x) for x in images]


def masked_input(image: Any, known: Any, fill: float = 1.0) -> Any:
    """What the model is given, for display: holes filled with ``fill`` (white, as the authors' previews)."""
    return image * known + fill * (1 - known)


def sample_grid(rows: Mapping[str, Any], out_path: str | os.PathLike | None = None,
                column_titles: Sequence[str] | None = None, overwrite: bool = False, title: str | None = None,
                cell_size: float = 1.6, cell_text: Mapping[str, Sequence[str]] | None = None,
                min_width: float = 0.0) -> Figure:
    """A grid of images, one row per entry (e.g. masked input, each method, ground truth; Figures 5, 8, 9)
    and one column per sample. Each entry is an N×3×H×W tensor or a list of images. ``cell_text`` puts a
    line under each image of a row (e.g. its PSNR); the figure is at least ``min_width`` inches wide."""
    if not rows:
        raise ValueError("sample_grid needs at least one row, e.g. {'masked input': x, 'ISNet': y, 'ground truth': z}")
    images = {name: _as_list(v) for name, v in rows.items()}
    counts = {name: len(v) for name, v in images.items()}
    if len(set(counts.values())) != 1 or 0 in counts.values():
        raise ValueError(f"every row needs the same, non-zero number of images; got {counts}")
    n_cols = next(iter(counts.values()))
    if column_titles is not None and len(column_titles) != n_cols:
        raise ValueError(f"column_titles has {len(column_titles)} entries for {n_cols} columns")
    cell_text = dict(cell_text or {})
    for name, texts in cell_text.items():
        if name not in images or len(texts) != n_cols:
            raise ValueError(f"cell_text[{name!r}] must name a row and give {n_cols} strings")
    cell_size = max(cell_size, (min_width - 1.2) / n_cols)
    extra = 0.25 if cell_text else 0.0
    fig = Figure(figsize=(cell_size * n_cols + 1.2, (cell_size + extra) * len(images) + (0.5 if title else 0)),
                 dpi=100)
    axes = np.atleast_2d(fig.subplots(len(images), n_cols, squeeze=False))
    for r, (name, imgs) in enumerate(images.items()):
        for c, img in enumerate(imgs):
            ax = axes[r, c]
            ax.imshow(img, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name, fontsize=9)
            if r == 0 and column_titles is not None:
                ax.set_title(column_titles[c], fontsize=9)
            if name in cell_text and cell_text[name][c]:
                ax.set_xlabel(cell_text[name][c], fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, out_path, overwrite)


def pra_strip(steps: Sequence[tuple[Any, Any]], out_path: str | os.PathLike | None = None,
              overwrite: bool = False, title: str | None = None, kernel: int | None = None) -> Figure:
    """Figure 6: per PRA pass, the known mask (white = valid, as the paper draws it) above the composite.
    ``steps`` is ``PRAResult.steps(i)``: [(known 1×H×W, composite 3×H×W), ...]; each column says how much of
    the image is still hole, and the title the growth kernel."""
    if not steps:
        raise ValueError("pra_strip needs at least one (known, composite) step; run progressive_inpaint(trace=True)")
    holes = [1.0 - float(np.asarray(_to_hwc(k)).mean()) for k, _ in steps]
    head = title or f"PRA pass by pass ({len(steps)} passes" + (f", kernel {kernel}×{kernel}" if kernel else "") + ")"
    return sample_grid({"known (white = valid)": [k for k, _ in steps], "composite": [c for _, c in steps]},
                       out_path=out_path, column_titles=[f"pass {i + 1}: hole {h:.0%}" for i, h in enumerate(holes)],
                       overwrite=overwrite, title=head, cell_size=2.2, min_width=8.0)


def tidy_search_figure(fig: Any, name: str, profile: str) -> Any:
    """An Optuna figure made readable: integer ticks on trial/step axes, a title naming the profile, and
    detached from pyplot (so a notebook shows it once, where it is displayed)."""
    import matplotlib.pyplot as plt

    for ax in fig.axes:
        if re.search(r"trial|step", ax.get_xlabel(), re.IGNORECASE):
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    fig.suptitle(f"Table 1 search — {name} (profile {profile})", fontsize=11)
    plt.close(fig)
    return fig


def bucket_metric_plot(ours: pd.DataFrame, paper: pd.DataFrame, metric: str = "psnr",
                       methods: Sequence[str] | None = None, paper_methods: Sequence[str] = (),
                       out_path: str | os.PathLike | None = None, overwrite: bool = False,
                       title: str | None = None) -> Figure:
    """Per-bucket metric: ours (mean with 95 % CI, solid) against the paper's (dashed, same colour).

    ``ours`` is per-pair rows (or isnet.metrics.aggregate output) with method and bucket; ``paper`` is
    isnet.paper.table5() or table6(). ``methods`` defaults to ours; ``paper_methods`` adds paper-only lines.
    """
    if "bucket" not in paper.columns:
        raise ValueError("bucket_metric_plot needs a per-bucket paper table (isnet.paper.table5() or table6())")
    long = summarise(ours, ["method", "bucket"], [metric])
    long = long[long["metric"] == metric]
    methods = list(methods) if methods is not None else list(dict.fromkeys(long["method"]))
    buckets = [b for b in BUCKETS if b in set(paper["bucket"]) | set(long["bucket"].astype(str))]
    x = np.arange(len(buckets))
    fig = Figure(figsize=(7, 4.5), dpi=100)
    ax = fig.subplots()
    colours = itertools.cycle(matplotlib.rcParams["axes.prop_cycle"].by_key()["color"])
    for m in list(methods) + [p for p in paper_methods if p not in methods]:
        colour = next(colours)
        sub = long[long["method"] == m].set_index(long[long["method"] == m]["bucket"].astype(str))
        if m in methods and len(sub):
            mean = [sub.loc[b, "mean"] if b in sub.index else np.nan for b in buckets]
            lo = [sub.loc[b, "ci95_low"] if b in sub.index else np.nan for b in buckets]
            hi = [sub.loc[b, "ci95_high"] if b in sub.index else np.nan for b in buckets]
            err = np.abs(np.array([np.subtract(mean, lo), np.subtract(hi, mean)], dtype=float))
            ax.errorbar(x, mean, yerr=np.nan_to_num(err), color=colour, marker="o", capsize=3, label=f"ours {m}")
        pp = paper[paper["method"] == m].set_index("bucket")
        if len(pp):
            ax.plot(x, [pp.loc[b, metric] if b in pp.index else np.nan for b in buckets], ls="--", marker="s",
                    mfc="none", color=colour, label=f"paper {m}")
    ax.set_xticks(x, [f"{b} %" for b in buckets])
    ax.set(xlabel="hole ratio", ylabel=display(metric), title=title or f"{display(metric)} per hole-ratio bucket")
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, out_path, overwrite)
