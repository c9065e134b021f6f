"""Tables and figures from stored results only, with the paper's numbers beside ours.

Why this file is long: it is the one place notebooks and SUMMARY.md take tables from (labels, side by side,
compact forms, captions, the runs index, the conclusion paragraph); the verdicts, figures and columns live in
their own modules and are only re-exported here.

This module holds the tables (labels, side by side, Markdown, compact tables, coverage) and re-exports the
claims (``isnet.study.claims``), the figures (``isnet.study.plots``) and the column names
(``isnet.study.columns``), so that ``report.<name>`` is the one place notebooks look.

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

import math
import os
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..markdown import markdown_table
from ..io import atomic_write_text, refuse_overwrite
from .claims import (
    MIN_N_FOR_CI,
    MIN_PAIRS,
    MIN_SEEDS,
    NOT_TESTED,
    PENDING,
    SPREAD_MIN,
    UNTRAINED,
    VERDICTS,
    claim_verdicts,
    compare,
    judge,
    paired_gain,
    sanity_gates,
)
from .extensions import extensions
from .power import Noise, power_under
from .runs import training_minutes
from .columns import (
    DECIMALS,
    DISPLAY,
    NOT_RUN,
    _cell,
    display,
    ours_column,
    paper_column,
    summarise,
)
from .paper import (
    CLAIMS,
    KEYS,
    TABLE_SOURCES,
    MEASURES,
    OURS_COLUMNS,
    PAPER_METRICS,
    PRINTED_COLUMNS,
)
from .paper import table as paper_table
from .plots import (
    bucket_metric_plot,
    masked_input,
    pra_strip,
    sample_grid,
    tidy_search_figure,
    training_curves,
)

LABEL_KEYS = ("profile", "data", "weights", "seeds")


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
    """A GitHub-flavoured Markdown table of a DataFrame (``isnet.markdown``)."""
    return markdown_table(df.columns, df.itertuples(index=False), cell=_fmt)


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


# ----------------------------------------------------------------------------------------- the report's story
def table_caption(number: int) -> str:
    """What the paper measured in its Table ``number`` (``isnet.study.paper.TABLE_SOURCES``), as one caption."""
    src = TABLE_SOURCES[number]
    data = src.dataset or "data not stated"
    samples = f"{src.n_samples:,} test samples" if src.n_samples else "number of test samples not stated"
    hardware = f", {src.hardware}" if src.hardware else ""
    note = f" ({src.note})" if src.note else ""
    return f"**Table {number} — {src.title}.** The paper measured this on {data}, {samples}{hardware}{note}."


def paper_rows_only(table: pd.DataFrame) -> pd.DataFrame:
    """A side-by-side table without the rows of methods the paper never ran (classical methods, the mean-colour
    fill: ``claims.UNTRAINED`` not in the paper's table): they belong to the Extensions, not beside the paper's
    numbers. Our other rows (e.g. search trials) stay."""
    number = table.attrs.get("paper_table")
    if "method" not in table.columns:
        return table
    theirs = set(paper_table(number)["method"].astype(str)) if number is not None else set()
    keep = ~table["method"].astype(str).isin(set(UNTRAINED) - theirs)
    out = table[keep].reset_index(drop=True)
    out.attrs.update(table.attrs)
    return out


def _claim(claim_id: str):
    return next((c for c in CLAIMS if c.id == claim_id), None)


def claim_line(claim_id: str, sentence: str | None = None, where: str | None = None) -> str:
    """A claim id with the paper's sentence beside it: ``**T5-pra-large** — “…” (Section IV-B, …)``; a close
    paraphrase is marked as one."""
    cl = _claim(claim_id)
    sentence = sentence if sentence is not None else (cl.sentence if cl else "")
    where = where if where is not None else (cl.where if cl else "")
    verbatim = cl.verbatim if cl else True
    said = f"“{sentence}”" if verbatim else f"{sentence} (paraphrase)"
    return f"**{claim_id}** — {said}" + (f" ({where})" if where else "")


def verdict_label(verdict: str, why: Any = "") -> str:
    """The verdict as a reader sees it: "not tested" says whether the scale or a failed sanity gate stopped it
    (the verdict column of ``tables/claims.csv`` keeps the one label, ``why`` the reason)."""
    if verdict == NOT_TESTED and str(why or "").startswith("sanity gate"):
        return "not tested: a sanity gate failed"
    return verdict


def claims_overview(verdicts: pd.DataFrame) -> pd.DataFrame:
    """The short claims table: the claim with its sentence, the verdict, effect, 95 % interval and seeds."""
    return pd.DataFrame({"claim (the paper says)": [claim_line(r.claim, r.sentence, r.where)
                                                    for r in verdicts.itertuples()],
                         "verdict": [f"**{verdict_label(v, w)}**"
                                     for v, w in zip(verdicts["verdict"], verdicts["why"])],
                         "effect (dB)": verdicts["effect"], "95 % interval": verdicts["interval"],
                         "seeds": verdicts["seeds"]})


def claim_markdown(verdicts: pd.DataFrame, comparisons: pd.DataFrame) -> str:
    """One short block per claim: its sentence beside its id, the verdict (and why, when not tested), and the
    comparisons that decided it in short columns (the long evidence stays in ``tables/claims.csv``)."""
    blocks = []
    for r in verdicts.itertuples():
        why = f" — {r.why}" if r.why else ""
        verdict = verdict_label(r.verdict, r.why)
        block = [f"{claim_line(r.claim, r.sentence, r.where)}  \nVerdict: **{verdict}**{why}."]
        comp = comparisons[(comparisons["claim"] == r.claim) & (comparisons["n_pairs"] > 0)]
        if len(comp):
            block += ["", markdown_table(["comparison", "effect", "95 % interval", "seeds (per seed)", "status"],
                                         comp[["comparison", "effect", "interval", "seeds", "status"]].itertuples(
                                             index=False), cell=_fmt)]
        blocks.append("\n".join(block))
    return "\n\n".join(blocks) + "\n"


def _ids(verdicts: pd.DataFrame, verdict: str) -> list[str]:
    return list(verdicts.loc[verdicts["verdict"] == verdict, "claim"])


def conclusion(verdicts: pd.DataFrame, profile: str, seeds: Sequence[int], min_seeds: int = MIN_SEEDS) -> str:
    """A plain-language paragraph from the verdicts: what is reproduced, what is not, what is inconclusive, and
    what was not tested and why (grouped by reason)."""
    n = len(verdicts)
    parts = [f"Of the paper's {n} claims this study checks, profile `{profile}` ({len(seeds)} training seed"
             f"{'s' if len(seeds) != 1 else ''}) reproduces "]
    yes, no, maybe = _ids(verdicts, "reproduced"), _ids(verdicts, "not reproduced"), _ids(verdicts, "inconclusive")
    parts[0] += (f"{len(yes)} ({', '.join(yes)})" if yes else "none") + "; "
    parts.append(f"{len(no)} {'is' if len(no) == 1 else 'are'} not reproduced ({', '.join(no)}): the interval "
                 "excludes what the paper states; " if no else "none is contradicted; ")
    if maybe:
        parts.append(f"{len(maybe)} {'is' if len(maybe) == 1 else 'are'} inconclusive ({', '.join(maybe)}): the "
                     "interval includes both outcomes; ")
    pending = verdicts[verdicts["verdict"] == PENDING]
    if len(pending):
        parts.append(f"{len(pending)} {'is' if len(pending) == 1 else 'are'} pending ("
                     + "; ".join(f"{r.claim}: {str(r.why).removeprefix('waiting for runs: ')}"
                                 for r in pending.itertuples()) + "): judged once every seed the profile trains has "
                     "finished; ")
    untested = verdicts[verdicts["verdict"] == NOT_TESTED]
    reasons: dict[str, list[str]] = {}
    for r in untested.itertuples():
        why = str(r.why or "not resolvable at this scale")
        key = ("too few training seeds for an interval with honest coverage (a verdict needs "
               f"≥ {max(min_seeds, MIN_SEEDS)})" if "seed(s) <" in why
               else "PRA runs a single pass there, so it is the one-shot model by construction"
               if "passes on average" in why
               else "a trained model failed a sanity gate" if why.startswith("sanity gate")
               else "the models they need are not trained at this scale" if "not run at this scale" in why
               else "this profile cannot resolve them at its scale" if "not resolvable" in why
               else why)
        reasons.setdefault(key, []).append(r.claim)
    if reasons:
        parts.append(f"{len(untested)} {'was' if len(untested) == 1 else 'were'} not tested: " + "; ".join(
            f"{', '.join(ids)} because {why}" for why, ids in reasons.items()) + ".")
    else:
        parts[-1] = parts[-1].rstrip("; ") + "."
    return "".join(parts).replace(";.", ".")


def runs_table(study_dir: str | os.PathLike) -> pd.DataFrame:
    """The runs index (``runs/index.csv``), one row per run folder (a run serving several tables once), with
    the total training minutes over all its sessions. Read only: nothing under ``runs/`` is written."""
    study_dir = Path(study_dir)
    path = study_dir / "runs" / "index.csv"
    cols = ["run", "methods", "seed", "status", "iterations", "final val PSNR", "training minutes (all sessions)"]
    if not path.exists():
        return pd.DataFrame(columns=cols)
    index = pd.read_csv(path, dtype={"run": str})
    rows = []
    for run, g in index.groupby("run", sort=False):
        first = g.iloc[0]
        rows.append({"run": run, "methods": ", ".join(dict.fromkeys(g["method"].astype(str))),
                     "seed": int(first["seed"]), "status": first["status"], "iterations": first["iterations"],
                     "final val PSNR": first["final_psnr"],
                     "training minutes (all sessions)": training_minutes(study_dir / "runs" / run)})
    return pd.DataFrame(rows, columns=cols)


def own_learning_curve(wins: pd.DataFrame | None, methods: Sequence[str] | None) -> pd.DataFrame | None:
    """The learning curve's first-win rows of the models the profile trains (``StudyProfile.methods``; all when
    None), with missing values shown as "—"."""
    if wins is None or wins.empty:
        return None
    out = wins if methods is None else wins[wins["model"].astype(str).isin(set(methods))]
    return out.astype(object).where(out.notna(), "—").reset_index(drop=True)


def extensions_markdown(ext: pd.DataFrame) -> str:
    """The Extensions table in short form: one row per subset (all pairs, each bucket, each mask family), one
    column per comparison, each cell ``effect [95 % interval]``; per-seed values and the parts stay in the CSV."""
    if ext.empty:
        return "No extension comparison was run at this scale.\n"
    cell = ext.assign(cell=ext["effect"] + " " + ext["interval"])
    wide = cell.pivot(index="subset", columns="comparison", values="cell")
    order = list(dict.fromkeys(ext["subset"]))
    wide = wide.loc[order, list(dict.fromkeys(ext["comparison"]))].reset_index()
    seeds = int(ext["n_seeds"].max())
    return (to_markdown(wide) + f"\n\nEffect in dB (positive: the model is better), 95 % interval over {seeds} "
            "training seed(s) and the test pairs resampled by photo group (docs/statistics.md). Extensions are "
            "our comparisons, not the paper's: they carry no verdict.\n")


def pra_markdown(paired: pd.DataFrame, kernels: Sequence[int]) -> str:
    """PRA − one shot per kernel and bucket (``tables/pra_paired.csv``): the derived kernel first, the others as
    its sensitivity table; effect, interval, seeds and each seed's value in short columns."""
    rows = []
    for k in kernels:
        for r in paired[paired.kernel == k].to_dict("records"):
            rows.append({"kernel": f"{k} (derived: the verdict's)" if k == kernels[0] else f"{k} (sensitivity)",
                         "bucket": r["bucket"], "mean passes": f"{r['mean passes']:.2f}",
                         "PRA − one shot (dB)": f"{r['mean_diff']:+.2f}",
                         "95 % interval": f"[{r['ci95_low']:+.2f}, {r['ci95_high']:+.2f}]", "seeds": int(r["seeds"]),
                         "per seed": r["per_seed"]})
    return to_markdown(pd.DataFrame(rows))


def campaign_lines(campaign: pd.DataFrame | None) -> list[str]:
    """The interim-report paragraph of SUMMARY.md (none when every run the profile trains has finished)."""
    if campaign is None or not len(campaign) or campaign["finished"].all():
        return []
    runs = campaign.drop_duplicates("run")
    rows: dict[tuple, list[str]] = {}  # rows that share their runs (ISNet = Eq. (5) = B 2) are one entry
    for m, g in campaign.groupby("method", sort=False):
        rows.setdefault(tuple(g.sort_values("seed").run), []).append(m)
    short = [f"{' = '.join(ms)} {int(runs.finished[runs.run.isin(key)].sum())} of {len(key)}"
             for key, ms in rows.items() if not campaign[campaign.run.isin(key)].finished.all()]
    return [f"**Interim report.** {int(runs.finished.sum())} of {len(runs)} runs the profile trains have finished "
            f"(finished seeds of the rows not yet complete: {', '.join(short)}). Tables and figures show the finished runs "
            "(`isnet study --finished-only`); a claim is judged only once every seed of every row it compares has "
            "finished, and is *pending* until then, unless a finished seed already fails a sanity gate (final: "
            "not tested).", ""]


def noise_lines(profile: Any, planned: Noise, measured: tuple[Noise, pd.DataFrame] | None) -> list[str]:
    """The SUMMARY.md section that sets the noise a CPU profile's claim list was fixed from beside the noise its
    own finished runs show, and the power of each comparison under both (``power.measured_noise``). It informs
    the next design; it never changes which claims this profile judges (that list was fixed before its scores)."""
    if profile.resolves is None or measured is None:
        return []
    noise, rows = measured
    power = power_under(profile.methods, len(profile.seeds), planned, noise)
    return ["## Noise at this scale", "",
            f"The claims this profile can resolve were fixed before its runs, from a power calculation on the noise "
            f"measured in {planned.source} (seed SD {planned.seed_sd:.3f} dB, test SE {planned.test_se:.3f} dB). "
            f"Its own finished runs give seed SD **{noise.seed_sd:.3f} dB** and test SE {noise.test_se:.3f} dB "
            f"({noise.source}). Below, the power of each comparison with the profile's {len(profile.seeds)} seeds "
            "at the paper's effect under both, and the seeds the measured noise would need (none: not within 30). "
            "This is for the next design: the list of claims judged above stays the one fixed in advance.", "",
            to_markdown(rows.round({"mean_psnr": 2, "seed_sd": 2}).rename(
                columns={"mean_psnr": "mean PSNR (dB)", "seed_sd": "SD over seeds (dB)"})),
            "", to_markdown(power.round({"power_planned": 2, "power_measured": 2}).rename(columns={
                "paper_effect": "paper's effect (dB)", "power_planned": "power, planned noise",
                "power_measured": "power, measured noise", "seeds_needed_measured": "seeds needed, measured noise"}))
            if len(power) else "The profile trains no comparison of two models: no power to set beside its plan.",
            ""]


def summary_markdown(profile: Any, verdicts: pd.DataFrame, comparisons: pd.DataFrame,
                     ext: pd.DataFrame | None = None, wins: pd.DataFrame | None = None,
                     pra: pd.DataFrame | None = None, campaign: pd.DataFrame | None = None,
                     noise: list[str] | None = None) -> str:
    """SUMMARY.md: the profile, which of its runs have finished (``campaign``: ``Study.campaign``; an interim
    report says what it still waits for), how a verdict is reached, the conclusion, each paper claim with its sentence and
    short evidence, PRA as measured at every kernel, the Extensions (per bucket and mask family) and the profile's
    own learning curve."""
    p = profile
    resolves = ("every claim (no explicit list)" if p.resolves is None
                else ", ".join(c for c in p.resolves if _claim(c)) or "none")
    need = max(p.min_seeds, MIN_SEEDS)
    lines = [f"# Summary — profile `{p.name}`", "", p.description, "",
             f"Data: {p.data_label}; feature weights: `{p.base.loss.loss_weights().backbone}`; "
             f"seeds: {list(p.seeds)}; evaluation pairs per bucket: {p.pairs_per_bucket}.", "",
             *campaign_lines(campaign),
             "## Conclusion", "", conclusion(verdicts, p.name, p.seeds, p.min_seeds), "",
             "## The paper's claims", "",
             f"Claims this profile can resolve: {resolves}; others are *not tested at this scale*. A verdict needs "
             f"≥ {need} training seeds and ≥ {MIN_PAIRS} evaluation pairs, and every trained model must pass the "
             "sanity gates (its output varies across images; it beats a mean-colour fill). The effect is the mean "
             "over training seeds of each seed's paired difference; its 95 % interval combines the spread between "
             "seeds with the test-pair noise resampled by photo group (docs/statistics.md). Long evidence: "
             "`tables/claims.csv`.", "",
             to_markdown(claims_overview(verdicts)), "", claim_markdown(verdicts, comparisons), *(noise or [])]
    if pra is not None and len(pra):
        k0 = p.pra_kernels[0]
        lines += ["## PRA as measured", "",
                  f"PSNR(PRA) − PSNR(one shot) on the same pairs and weights, per kernel and bucket "
                  f"(`tables/pra_paired.csv`). Kernel {k0} is the one derived for {p.eval_size} px from hole shrinkage "
                  "alone, before any score was seen (`isnet bench pra-kernel`); the claims' verdicts above use it "
                  "(where the profile can resolve them), the other kernels are a sensitivity table. Intervals as "
                  "for the claims.", "", pra_markdown(pra, p.pra_kernels)]
    if ext is not None:
        lines += ["## Extensions (our comparisons, not the paper's)", "",
                  "The paper never runs classical methods or a mean fill, so these are not claims: ISNet (Eq. 5, one "
                  "shot) against each, over all pairs, per hole-ratio bucket and per mask family "
                  "(`tables/extensions.csv`).", "", extensions_markdown(ext)]
    if wins is not None and len(wins):
        lines += ["## Learning curve", "",
                  "`tables/learning_curve.csv`, `figures/learning_curve.png` (`isnet bench learn`): the first "
                  "iteration whose paired 95 % interval against Telea is above 0, per seed and bucket.", "",
                  to_markdown(wins)]
    return "\n".join(lines) + "\n"


def shown_psnr(rows: Mapping[str, Sequence[Any]], pairs: Sequence[str],
               truth: str = "ground truth") -> pd.DataFrame:
    """PSNR (dB) of each stored composite a sample figure shows against the stored ground truth beside it
    (``Samples.sample_rows``), as per-pair scores for ``Samples.sample_figure``: the number printed under an image
    is that image's own, whatever kernel or checkpoint made it."""
    out = []
    for method, images in rows.items():
        if method in (truth, "masked input"):
            continue
        for pair, img, gt in zip(pairs, images, rows[truth]):
            mse = float(np.mean((np.asarray(img, np.float64) - np.asarray(gt, np.float64)) ** 2))
            out.append({"method": method, "pair_id": str(pair), "seed": 0,
                        "psnr": math.inf if mse == 0 else 10 * math.log10(1.0 / mse)})
    return pd.DataFrame(out, columns=["method", "pair_id", "seed", "psnr"])


__all__ = ["COVERED_TABLES", "DECIMALS", "DISPLAY", "LABEL_KEYS", "MIN_N_FOR_CI", "MIN_PAIRS", "MIN_SEEDS", "NOT_RUN", "NOT_TESTED", "PENDING", "SPREAD_MIN", "UNTRAINED", "VERDICTS", "_fmt", "bucket_metric_plot", "campaign_lines", "caption", "check_label", "claim_line", "claim_markdown", "claim_verdicts", "claims_overview", "compact_markdown", "compact_table", "compare", "conclusion", "coverage", "display", "extensions", "extensions_markdown", "judge", "masked_input", "mean_pm", "own_learning_curve", "ours_column", "paired_gain", "paper_column", "paper_rows_only", "pra_strip", "runs_table", "sample_grid", "shown_psnr", "sanity_gates", "side_by_side", "summarise", "summary_markdown", "table_caption", "tidy_search_figure", "to_markdown", "training_curves", "training_minutes", "verdict_label", "write_table"]
