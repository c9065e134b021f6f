"""Tables and figures from stored results only, with the paper's numbers beside ours.

Nothing here trains or evaluates a model: every function takes DataFrames (or the files a run wrote) and
returns a table or a figure, so the report can be regenerated from ``results/<profile>/`` alone (DESIGN.md).

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

import io
import itertools
import json
import math
import os
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import matplotlib
import pandas as pd
from matplotlib.figure import Figure

from . import paper as P
from .io import atomic_write_bytes, atomic_write_text, refuse_overwrite

LABEL_KEYS = ("profile", "data", "weights", "seeds")
VERDICTS = ("reproduced", "not reproduced", "inconclusive")
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
    from .metrics import aggregate

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
    keys = list(keys) if keys is not None else list(P.KEYS.get(number, ("method",)))
    metrics = list(metrics) if metrics is not None else list(P.MEASURES.get(number, P.METRICS))
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
            name = f"ours {display(column)}" if column in P.OURS_COLUMNS else paper_column(column)
            out[name] = table[column]
    out.attrs["label"] = label
    out.attrs["paper_table"] = number
    out.attrs["paper_source"] = paper.attrs.get("label")
    return out


# ----------------------------------------------------------------------------------------- claims
def _paired_rows(results: pd.DataFrame, comp: P.Comparison) -> pd.DataFrame:
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
    from .metrics import paired_bootstrap

    return paired_bootstrap(a, b, n_boot=n_boot, seed=seed)


def compare(results: pd.DataFrame, comp: P.Comparison, n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Run one comparison: the oriented mean difference (positive = ``a`` better), its paired-bootstrap 95 % CI
    over evaluation pairs (seeds averaged per pair), per-seed mean differences, and a verdict in
    {"supports", "contradicts", "inconclusive"}.

    Seeds: the bootstrap resamples evaluation pairs only, so it does not capture training-seed variation; when
    several seeds disagree on the sign of the difference, a "supports" becomes "inconclusive".
    """
    if comp.kind not in ("better", "not_worse", "equal"):
        raise ValueError(f"comparison kind must be better, not_worse or equal; got {comp.kind!r}")
    rows = _paired_rows(results, comp)
    sign = 1.0 if P.HIGHER_IS_BETTER.get(comp.metric, True) else -1.0
    out: dict[str, Any] = {"comparison": comp, "n_pairs": 0, "n_seeds": 0, "mean_diff": math.nan,
                           "ci95_low": math.nan, "ci95_high": math.nan, "per_seed": {}, "status": "inconclusive"}
    if rows.empty:
        out["why"] = "no paired rows"
        return out
    per_pair = rows.groupby("pair_id")[["a", "b"]].mean()
    boot = _bootstrap(per_pair["a"].to_numpy(), per_pair["b"].to_numpy(), n_boot, seed)
    lo, hi = sorted((sign * boot["ci95_low"], sign * boot["ci95_high"]))
    diff = sign * boot["mean_diff"]
    per_seed = {s: sign * float((g["a"] - g["b"]).mean()) for s, g in rows.groupby("seed")}
    out.update(n_pairs=len(per_pair), n_seeds=len(per_seed), mean_diff=diff, ci95_low=lo, ci95_high=hi,
               per_seed=per_seed)
    m = comp.margin
    if not (np.isfinite(lo) and np.isfinite(hi)):
        status = "inconclusive"
    elif comp.kind == "better":
        status = "supports" if lo > 0 else "contradicts" if hi < 0 else "inconclusive"
    elif comp.kind == "not_worse":
        status = "supports" if lo > -m else "contradicts" if hi < -m else "inconclusive"
    else:
        status = "supports" if (-m < lo and hi < m) else "contradicts" if (lo > m or hi < -m) else "inconclusive"
    signs = {np.sign(v) for v in per_seed.values() if v != 0}
    if status == "supports" and comp.kind == "better" and len(signs) > 1:
        status, out["why"] = "inconclusive", "seeds disagree in sign"
    out["status"] = status
    return out


def _evidence(res: dict[str, Any], table: int) -> str:
    c: P.Comparison = res["comparison"]
    where = f" [{c.bucket}]" if c.bucket else ""
    kind = {"better": ">", "not_worse": "≥", "equal": "≈"}[c.kind]
    head = f"{c.a} {kind} {c.b}{where} {display(c.metric)}"
    if res["n_pairs"] == 0:
        return f"{head}: {res.get('why', 'no data')} → inconclusive"
    d = DECIMALS.get(c.metric, 3) + 1
    text = (f"{head}: {res['mean_diff']:+.{d}f} [{res['ci95_low']:+.{d}f}, {res['ci95_high']:+.{d}f}], "
            f"n={res['n_pairs']} pairs, {res['n_seeds']} seed(s)")
    if res["n_seeds"] > 1:
        text += " (per seed " + "/".join(f"{v:+.{d}f}" for v in res["per_seed"].values()) + ")"
    if c.margin:
        text += f", margin {c.margin:g}"
    pa, pb = P.paper_value(table, c.a, c.metric, c.bucket), P.paper_value(table, c.b, c.metric, c.bucket)
    if pa is not None and pb is not None:
        sign = 1.0 if P.HIGHER_IS_BETTER.get(c.metric, True) else -1.0
        pooled = " (mean over buckets)" if c.bucket is None and table in (5, 6) else ""
        text += f"; paper{pooled} {sign * (pa - pb):+.{d}f}"
    return text + f" → {res['status']}" + (f" ({res['why']})" if res.get("why") else "")


def claim_verdicts(results: Mapping[str, pd.DataFrame], claims: Iterable[P.Claim] | None = None,
                   n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Verdict per claim of isnet.paper.CLAIMS from per-pair results (see the module docstring).

    ``results`` maps a claim's ``results`` name ("table5", "table7", ...) to per-pair rows. A claim is
    "reproduced" when every comparison's CI supports it (e.g. the paired-bootstrap CI of the difference excludes
    0 in the claimed direction), "not reproduced" when any CI excludes it in the opposite direction (or, for
    "≈" claims, lies outside the margin), and "inconclusive" otherwise, including when results are missing.
    Returns columns claim, verdict, evidence, table, results, text.
    """
    rows = []
    for cl in (P.CLAIMS if claims is None else claims):
        df = results.get(cl.results)
        if df is None:
            rows.append(dict(claim=cl.id, verdict="inconclusive",
                             evidence=f"not run: no results[{cl.results!r}]", table=cl.table,
                             results=cl.results, text=cl.text))
            continue
        found = [compare(df, comp, n_boot=n_boot, seed=seed) for comp in cl.comparisons]
        statuses = [r["status"] for r in found]
        verdict = ("not reproduced" if "contradicts" in statuses
                   else "reproduced" if all(s == "supports" for s in statuses) else "inconclusive")
        rows.append(dict(claim=cl.id, verdict=verdict, evidence="; ".join(_evidence(r, cl.table) for r in found),
                         table=cl.table, results=cl.results, text=cl.text))
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
        return repr(value)  # the shortest exact form: the paper's 24.9 stays 24.9, 48.081212 stays 48.081212
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
        paper = P.table(number)
        keys, columns = P.KEYS[number], P.PRINTED_COLUMNS[number]
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
        refuse_overwrite(out_path, overwrite, what="figure")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=fig.dpi, bbox_inches="tight")
        atomic_write_bytes(out_path, buf.getvalue())
    return fig


def _read_jsonl(path: Path) -> pd.DataFrame:
    rows = []
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{i} is not valid JSON ({e}); is it a training log?") from e
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

    fig = Figure(figsize=(11, 4), dpi=100)
    ax_loss, ax_psnr = fig.subplots(1, 2)
    for c in losses:
        series = log[["iteration", c]].dropna()
        ax_loss.plot(series["iteration"], series[c], label=c, lw=2.0 if c.endswith("total") else 1.0)
    if losses and (log[losses] > 0).all().all():
        ax_loss.set_yscale("log")
    ax_loss.set(xlabel="iteration", ylabel="loss", title="training loss terms")
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
                cell_size: float = 1.6) -> Figure:
    """A grid of images, one row per entry (e.g. masked input, each method, ground truth; Figures 5, 8, 9)
    and one column per sample. Each entry is an N×3×H×W tensor or a list of images."""
    if not rows:
        raise ValueError("sample_grid needs at least one row, e.g. {'masked input': x, 'ISNet': y, 'ground truth': z}")
    images = {name: _as_list(v) for name, v in rows.items()}
    counts = {name: len(v) for name, v in images.items()}
    if len(set(counts.values())) != 1 or 0 in counts.values():
        raise ValueError(f"every row needs the same, non-zero number of images; got {counts}")
    n_cols = next(iter(counts.values()))
    if column_titles is not None and len(column_titles) != n_cols:
        raise ValueError(f"column_titles has {len(column_titles)} entries for {n_cols} columns")
    fig = Figure(figsize=(cell_size * n_cols + 1.2, cell_size * len(images)), dpi=100)
    axes = np.atleast_2d(fig.subplots(len(images), n_cols, squeeze=False))
    for r, (name, imgs) in enumerate(images.items()):
        for c, img in enumerate(imgs):
            ax = axes[r, c]
            ax.imshow(img, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
            if r == 0 and column_titles is not None:
                ax.set_title(column_titles[c], fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, out_path, overwrite)


def pra_strip(steps: Sequence[tuple[Any, Any]], out_path: str | os.PathLike | None = None,
              overwrite: bool = False, title: str | None = None) -> Figure:
    """Figure 6: per PRA pass, the known mask (white = valid, as the paper draws it) above the composite.
    ``steps`` is ``PRAResult.steps(i)``: [(known 1×H×W, composite 3×H×W), ...]."""
    if not steps:
        raise ValueError("pra_strip needs at least one (known, composite) step; run progressive_inpaint(trace=True)")
    return sample_grid({"known (white = valid)": [k for k, _ in steps], "composite": [c for _, c in steps]},
                       out_path=out_path, column_titles=[f"pass {i + 1}" for i in range(len(steps))],
                       overwrite=overwrite, title=title)


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
    buckets = [b for b in P.BUCKETS if b in set(paper["bucket"]) | set(long["bucket"].astype(str))]
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
