"""The paper's claims tested on per-pair results: the seed × photo-group interval of each comparison, sanity gates
and a verdict per claim (the interval: ``isnet.study.statistics``, ``docs/statistics.md``).

Why this file is long: a verdict is one ordered rule (resolvable, pending seeds, per-seed sanity gates, each
comparison's interval, the verdict and its evidence text); keeping the steps together lets a reader check the rule
that turns scores into "reproduced" in one place."""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from ..data.photos import read_manifest
from ..method.checkerboard import checkerboard_gate
from .columns import DECIMALS, _method_column, display
from .experiments import MEAN_FILL
from .paper import (
    CLAIMS,
    HIGHER_IS_BETTER,
    Claim,
    Comparison,
    paper_value,
)
from .statistics import Interval, seed_group_interval

PENDING = "pending: runs not finished"
VERDICTS = ("reproduced", "not reproduced", "inconclusive", "not tested at this scale", PENDING)


def _paired_rows(results: pd.DataFrame, comp: Comparison) -> pd.DataFrame:
    """Rows of a and b joined on (pair_id, seed): columns pair_id, seed, a, b (and the pair's ``group`` /
    ``image_id`` where the rows have them, for the photo-group clustering). A single-seed side is shared."""
    df = _method_column(results)
    need = ["method", "pair_id", comp.metric] + (["bucket"] if comp.bucket is not None else [])
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ValueError(f"per-pair results need columns {need} (missing {missing}); see isnet.report's docstring")
    if comp.bucket is not None:
        df = df[df["bucket"].astype(str) == comp.bucket]
    df = df.assign(seed=df["seed"] if "seed" in df.columns else 0)
    where = [c for c in ("group", "image_id") if c in df.columns]
    sides = []
    for name in (comp.a, comp.b):
        side = df.loc[df["method"] == name, ["pair_id", "seed", comp.metric] + where]
        dup = side.duplicated(["pair_id", "seed"])
        if dup.any():
            raise ValueError(f"method {name!r} has {int(dup.sum())} duplicate (pair_id, seed) rows; "
                             "each evaluation pair must appear once per seed")
        sides.append(side)
    a, b = sides
    b = b.drop(columns=where)
    if a.empty or b.empty:
        return pd.DataFrame(columns=["pair_id", "seed", "a", "b", *where])
    sa, sb = a["seed"].nunique(), b["seed"].nunique()
    if sa == 1 and sb > 1:  # e.g. a deterministic classical method scored once
        a = a.drop(columns="seed").merge(b[["pair_id", "seed"]], on="pair_id")
    elif sb == 1 and sa > 1:
        b = b.drop(columns="seed").merge(a[["pair_id", "seed"]], on="pair_id")
    elif sa == 1 and sb == 1:
        b = b.assign(seed=a["seed"].iloc[0])
    merged = a.merge(b, on=["pair_id", "seed"], suffixes=("_a", "_b"))
    return merged.rename(columns={f"{comp.metric}_a": "a", f"{comp.metric}_b": "b"})[
        ["pair_id", "seed", "a", "b", *where]]


def paired_gain(per_pair: pd.DataFrame, base: str, variants: Mapping[Any, str], by: str = "bucket",
                metric: str = "psnr", name: str = "variant", means: Iterable[str] = ()) -> pd.DataFrame:
    """Each variant's gain over ``base`` per ``by`` group, paired over the same evaluation pairs: one row per
    (variant key, group) with the variant key under ``name``, ``mean <column>`` of the variant for each of
    ``means`` (e.g. PRA's passes), ``n``, ``seeds``, the mean gain (variant − base, over seeds), its 95 % interval
    (seed spread and test noise clustered by photo group, ``statistics.seed_group_interval``; one seed: the test
    part only, as for the same weights with and without PRA) and each seed's gain, rounded to 4 decimals.
    ``variants`` maps a key (e.g. a PRA kernel) to a method name."""
    one = per_pair[per_pair.method == base]
    rows = []
    for key, method in variants.items():
        other = per_pair[per_pair.method == method]
        both = one.merge(other, on=["pair_id", "seed"], suffixes=("_b", "_a"))
        both = both.rename(columns={f"{metric}_a": "a", f"{metric}_b": "b", f"{by}_b": by})
        keys = [c for c in ("image_id", "group") if f"{c}_b" in both]  # what pair_groups maps to photo groups
        both = both.assign(**{c: both[f"{c}_b"] for c in keys})
        for group, grp in both.groupby(by):
            iv = paired_effect(grp[["pair_id", "seed", "a", "b", *keys]],
                               1.0, trained=grp.seed.nunique() > 1)
            rows.append({name: key, by: group,
                         **{f"mean {c}": round(float(grp[f"{c}_a"].mean()), 2) for c in means},
                         "n": iv.n_pairs, "seeds": iv.n_seeds, "mean_diff": round(iv.effect, 4),
                         "ci95_low": round(iv.low, 4), "ci95_high": round(iv.high, 4),
                         "per_seed": ", ".join(f"{v:+.3f}" for v in iv.per_seed.values())})
    return pd.DataFrame(rows)


# Methods that are not trained (no seeds, no sanity gate) and the trivial floor every trained model must beat.
UNTRAINED = ("telea", "ns", "biharmonic", "patchmatch", "mean-fill")


SPREAD_MIN = 0.01      # output std across images below this: the network ignores its input (issue 9)


MIN_PAIRS = 10         # fewer paired pairs in a comparison: "not tested at this scale"


MIN_N_FOR_CI = 5       # fewer values: no CI is shown in the compact tables


NOT_TESTED = "not tested at this scale"


MIN_SEEDS = 3          # fewest training seeds of a trained method for a verdict: the interval's coverage is
                       # shown at 3 and 5 seeds (docs/statistics.md); a profile may ask for more (min_seeds)



@lru_cache(maxsize=4)
def _photo_groups(path: str | None = None) -> dict[str, str]:
    try:
        return read_manifest(path).set_index("id")["group"].astype(str).to_dict()
    except FileNotFoundError:
        return {}


def pair_groups(rows: pd.DataFrame) -> pd.Series:
    """The photo group of each evaluation pair (indexed by ``pair_id``): a ``group`` column if the rows have one,
    else the near-duplicate group of the pair's ``image_id`` in the photo manifest (an image not in it, e.g. an
    embedded sample, is its own group), else the pair itself."""
    df = rows.drop_duplicates("pair_id").set_index("pair_id")
    if "group" in df.columns:
        return df["group"].astype(str)
    if "image_id" in df.columns:
        groups = _photo_groups()
        return df["image_id"].astype(str).map(lambda i: groups.get(i, i))
    return pd.Series(df.index.astype(str), index=df.index)


def paired_effect(rows: pd.DataFrame, sign: float, trained: bool) -> Interval | None:
    """The :class:`~isnet.study.statistics.Interval` of ``sign · (a − b)`` from rows (pair_id, seed, a, b[, group,
    image_id]): a seeds × pairs matrix over the pairs every seed was scored on, clustered by photo group. None
    when no pair is left."""
    d = (rows.assign(d=sign * (rows["a"] - rows["b"]))
         .pivot_table(index="seed", columns="pair_id", values="d", aggfunc="mean").dropna(axis=1))
    if d.shape[1] == 0:
        return None
    groups = pair_groups(rows).loc[d.columns].to_numpy()
    return seed_group_interval(d.to_numpy(), groups, trained=trained, seeds=list(d.index))


def _status(kind: str, lo: float, hi: float, m: float) -> str:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "inconclusive"
    if kind == "better":
        return "supports" if lo > 0 else "contradicts" if hi < 0 else "inconclusive"
    if kind == "not_worse":
        return "supports" if lo > -m else "contradicts" if hi < -m else "inconclusive"
    return "supports" if (-m < lo and hi < m) else "contradicts" if (lo > m or hi < -m) else "inconclusive"


def compare(results: pd.DataFrame, comp: Comparison, min_pairs: int = 0, min_seeds: int = 1) -> dict[str, Any]:
    """Run one comparison: the oriented effect (positive = ``a`` better) — the mean over training seeds of each
    seed's mean paired difference —, its 95 % interval (seed spread and photo-group-clustered test noise,
    :func:`isnet.study.statistics.seed_group_interval`), the per-seed values, and a status in {"supports",
    "contradicts", "inconclusive", "not tested"}.

    The status is read off the interval alone (the seeds' own values are shown, not voted). PRA is judged only
    where it ran more than one pass on average (the ``passes`` column): elsewhere it is the one-shot model by
    construction, and the comparison is "not tested"; so is one with a method that has no rows at all (a row the
    profile does not train). Fewer than ``min_pairs`` pairs, or fewer than ``max(min_seeds, MIN_SEEDS)`` seeds of a
    trained method: "not tested" (the effect and per-seed values are still reported).
    """
    if comp.kind not in ("better", "not_worse", "equal"):
        raise ValueError(f"comparison kind must be better, not_worse or equal; got {comp.kind!r}")
    sign = 1.0 if HIGHER_IS_BETTER.get(comp.metric, True) else -1.0
    out: dict[str, Any] = {"comparison": comp, "n_pairs": 0, "n_seeds": 0, "groups": 0, "mean_diff": math.nan,
                           "ci95_low": math.nan, "ci95_high": math.nan, "per_seed": {}, "status": "inconclusive"}
    absent = [m for m in (comp.a, comp.b) if m not in set(_method_column(results)["method"])]
    if absent:  # a row the profile does not train (StudyProfile.methods): the comparison is not made here
        out["status"], out["why"] = "not tested", f"{' and '.join(absent)} not run at this scale"
        return out
    rows = _paired_rows(results, comp)
    trained = [m for m in (comp.a, comp.b) if m.removesuffix("-pra") not in UNTRAINED]
    found = paired_effect(rows, sign, bool(trained)) if len(rows) else None
    if found is None:
        out["why"] = "no paired rows"
        return out
    out.update(n_pairs=found.n_pairs, n_seeds=found.n_seeds, groups=found.groups, mean_diff=found.effect,
               ci95_low=found.low, ci95_high=found.high, per_seed=found.per_seed, interval=found)
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
    need_seeds = max(min_seeds, MIN_SEEDS)
    if found.n_pairs < min_pairs:
        out["status"], out["why"] = "not tested", f"{found.n_pairs} pairs < {min_pairs}"
        return out
    if trained and found.n_seeds < need_seeds:
        out["status"], out["why"] = "not tested", f"{found.n_seeds} seed(s) < {need_seeds}"
        return out
    out["status"] = _status(comp.kind, found.low, found.high, comp.margin)
    return out


def sanity_gates(results: pd.DataFrame, methods: Iterable[str], spread_min: float = SPREAD_MIN) -> list[str]:
    """Reasons a claim about ``methods`` cannot be judged, empty when every trained method passed the gates:
    its outputs vary across images (``output_spread`` ≥ ``spread_min`` for every seed), no seed prints a pixel
    grid inside the hole (``hole_checkerboard`` ≤ 1.5× the photos' own share, ``isnet.method.checkerboard``), and
    every seed beats the mean-colour fill (method ``mean-fill``) in mean PSNR over the same pairs. A gate whose
    data is absent (no such column or NaN, no mean-fill rows) is not applied."""
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
        if "hole_checkerboard" in rows.columns:  # a pixel grid inside the hole (isnet.method.checkerboard)
            worst = seeds["hole_checkerboard"].max().dropna()
            if len(worst):
                s, v = worst.idxmax(), float(worst.max())
                problems += checkerboard_gate(v, f"{m} (seed {s})")
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


def comparison_label(c: Comparison) -> str:
    """A comparison in a few words: ``isnet-eq5-pra ≈ isnet-eq5, 20-30 % PSNR``."""
    kind = {"better": ">", "not_worse": "≥", "equal": "≈"}[c.kind]
    where = f", {c.bucket} %" if c.bucket else ""
    return f"{c.a} {kind} {c.b}{where} {display(c.metric)}"


def _num(v: float, d: int) -> str:
    return "—" if v is None or not np.isfinite(v) else f"{v:+.{d}f}"


def short_cells(res: Mapping[str, Any]) -> dict[str, str]:
    """The short columns of a comparison: effect, 95 % interval, seeds (with each seed's value)."""
    d = DECIMALS.get(res["comparison"].metric, 3)
    per_seed = res.get("per_seed") or {}
    return {"effect": _num(res["mean_diff"], d),
            "interval": (f"[{_num(res['ci95_low'], d)}, {_num(res['ci95_high'], d)}]"
                         if np.isfinite(res["ci95_low"]) else "—"),
            "seeds": (f"{len(per_seed)} (" + ", ".join(_num(v, d) for v in per_seed.values()) + ")"
                      if per_seed else "0")}


def _evidence(res: dict[str, Any], table: int) -> str:
    """The long form of one comparison, for the CSV: numbers, interval parts, per-seed values, paper, status."""
    c: Comparison = res["comparison"]
    head = comparison_label(c)
    if res["n_pairs"] == 0:
        return f"{head}: {res.get('why', 'no data')} → {res['status']}"
    d = DECIMALS.get(c.metric, 3) + 1
    text = (f"{head}: {res['mean_diff']:+.{d}f} [{_num(res['ci95_low'], d)}, {_num(res['ci95_high'], d)}] "
            f"(95 %, seed spread and photo-group test noise), {res['n_pairs']} pairs from {res['groups']} photo "
            f"groups, {res['n_seeds']} seed(s) (per seed "
            + "/".join(f"{v:+.{d}f}" for v in res["per_seed"].values()) + ")")
    iv = res.get("interval")
    if iv is not None and np.isfinite(iv.var_test):
        text += (f", SE {math.sqrt(iv.var_test):.{d}f} from the test pairs"
                 + (f" and {math.sqrt(iv.var_seeds):.{d}f} from the seeds" if np.isfinite(iv.var_seeds) else ""))
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


VERDICT_COLUMNS = ["claim", "sentence", "verdict", "effect", "interval", "seeds", "why", "evidence", "where", "table",
                   "results", "text"]
COMPARISON_COLUMNS = ["claim", "comparison", "effect", "interval", "seeds", "status", "why", "mean_diff", "ci95_low",
                      "ci95_high", "n_seeds", "n_pairs", "groups", "var_seeds", "var_test", "paper"]


def _joined(found: list[dict[str, Any]], key: str) -> str:
    """One short cell for a claim: the comparison's value, or each comparison's, labelled by bucket (or pair)."""
    cells = [short_cells(r)[key] for r in found]
    if len(found) == 1:
        return cells[0]
    labels = [r["comparison"].bucket or f"{r['comparison'].a} vs {r['comparison'].b}" for r in found]
    return "; ".join(f"{lab}: {cell}" for lab, cell in zip(labels, cells))


def unfinished_seeds(results: pd.DataFrame, methods: Iterable[str], designed: Mapping[str, int],
                     need: int) -> str:
    """Which trained ``methods`` have fewer seeds in ``results`` than the profile's design trains (``designed``:
    method id → seeds), as "unet 3 of 4 seeds, ...", or "". A design too small for a verdict (fewer than ``need``
    seeds) is not waited for: the claim is "not tested" then."""
    df = _method_column(results)
    have = df.groupby("method")["seed"].nunique() if len(df) else pd.Series(dtype=int)
    short = []
    for m in dict.fromkeys(x.removesuffix("-pra") for x in methods):
        want, got = int(designed.get(m, 0)), int(have.get(m, 0))
        if want >= need and got < want:
            short.append(f"{m} {got} of {want} seeds")
    return ", ".join(short)


def judge(results: Mapping[str, pd.DataFrame], claims: Iterable[Claim] | None = None,
          resolves: Iterable[str] | None = None, min_pairs: int = MIN_PAIRS, min_seeds: int = MIN_SEEDS,
          spread_min: float = SPREAD_MIN, designed: Mapping[str, int] | None = None
          ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(verdict per claim, one row per comparison) of isnet.paper.CLAIMS from per-pair results.

    ``results`` maps a claim's ``results`` name ("table5", "table7", ...) to per-pair rows. In order:

    1. ``resolves`` (a profile's list of claim ids) given and the claim not in it → "not tested at this scale".
       ``designed`` (method id → the seeds the profile trains) given and a trained method of the claim with fewer
       seeds in the results (an interim report, ``isnet study --finished-only``) → "pending", with no effect
       computed: a verdict is read only off the seeds fixed in advance, never off a partial set (no optional
       stopping). A finished seed that already fails a sanity gate makes it "not tested" at once (final).
    2. Sanity gates (:func:`sanity_gates`) on every trained method of the claim; a failure → "not tested at
       this scale", with the reason.
    3. Each comparison (:func:`compare`): too few pairs or seeds (fewer than ``max(min_seeds, MIN_SEEDS)``), or
       PRA running one pass, → not tested.
    4. Of the comparisons tested: "not reproduced" when any interval excludes the claim (for "≈" claims, lies
       outside the margin), "reproduced" when every one supports it, "inconclusive" otherwise. None tested →
       "not tested at this scale".

    The verdicts carry the paper's ``sentence`` beside each claim id, short ``effect`` / ``interval`` / ``seeds``
    cells, ``why`` (the reason a claim was not tested) and the long ``evidence`` (for the CSV only).
    """
    allowed = None if resolves is None else set(resolves)
    rows, comps = [], []
    for cl in (CLAIMS if claims is None else claims):
        df = results.get(cl.results)
        base = dict(claim=cl.id, sentence=cl.sentence, where=cl.where, table=cl.table, results=cl.results,
                    text=cl.text, effect="—", interval="—", seeds="—")
        if df is None:
            rows.append(dict(base, verdict="inconclusive", why=f"no results[{cl.results!r}]",
                             evidence=f"not run: no results[{cl.results!r}]"))
            continue
        if allowed is not None and cl.id not in allowed:
            rows.append(dict(base, verdict=NOT_TESTED, why="not resolvable at this profile's scale",
                             evidence="this profile's measured seed noise cannot resolve the claim (not in its list "
                                      "of resolvable claims)"))
            continue
        methods = [m for comp in cl.comparisons for m in (comp.a, comp.b)]
        waiting = unfinished_seeds(df, methods, designed, max(min_seeds, MIN_SEEDS)) if designed else ""
        if waiting:  # a seed that failed a gate stays failed: that much is final before the other seeds finish
            gates = sanity_gates(df, [m.removesuffix("-pra") for m in methods], spread_min=spread_min)
            if gates:
                rows.append(dict(base, verdict=NOT_TESTED, why="sanity gate: " + "; ".join(gates),
                                 evidence="sanity gate (final: a finished seed that fails stays failed): "
                                          + "; ".join(gates) + f". Finished so far: {waiting}"))
            else:
                rows.append(dict(base, verdict=PENDING, why=f"waiting for runs: {waiting}",
                                 evidence=f"pending: {waiting} have finished; the verdict is computed once every "
                                          "seed the profile trains has finished"))
            continue
        gates = sanity_gates(df, [m.removesuffix("-pra") for m in methods], spread_min=spread_min)
        found = [compare(df, comp, min_pairs=min_pairs, min_seeds=min_seeds) for comp in cl.comparisons]
        evidence = "; ".join(_evidence(r, cl.table) for r in found)
        for r in found:
            c = r["comparison"]
            pa, pb = paper_value(cl.table, c.a, c.metric, c.bucket), paper_value(cl.table, c.b, c.metric, c.bucket)
            sign = 1.0 if HIGHER_IS_BETTER.get(c.metric, True) else -1.0
            iv = r.get("interval")
            comps.append(dict(claim=cl.id, comparison=comparison_label(c), **short_cells(r), status=r["status"],
                              why=r.get("why", ""), mean_diff=r["mean_diff"], ci95_low=r["ci95_low"],
                              ci95_high=r["ci95_high"], n_seeds=r["n_seeds"], n_pairs=r["n_pairs"],
                              groups=r["groups"], var_seeds=iv.var_seeds if iv else math.nan,
                              var_test=iv.var_test if iv else math.nan,
                              paper=sign * (pa - pb) if pa is not None and pb is not None else math.nan))
        shown = [r for r in found if r["n_pairs"]]
        cells = dict(effect=_joined(shown, "effect"), interval=_joined(shown, "interval"),
                     seeds=str(max(r["n_seeds"] for r in shown))) if shown else {}
        if gates:
            rows.append(dict(base, **cells, verdict=NOT_TESTED, why="sanity gate: " + "; ".join(gates),
                             evidence="sanity gate: " + "; ".join(gates) + ". Measured anyway: " + evidence))
            continue
        statuses = [r["status"] for r in found if r["status"] != "not tested"]
        verdict = (NOT_TESTED if not statuses else "not reproduced" if "contradicts" in statuses
                   else "reproduced" if all(s == "supports" for s in statuses) else "inconclusive")
        why = "; ".join(dict.fromkeys(r["why"] for r in found if r.get("why") and r["status"] == "not tested"))
        rows.append(dict(base, **cells, verdict=verdict, why=why, evidence=evidence))
    return (pd.DataFrame(rows, columns=VERDICT_COLUMNS), pd.DataFrame(comps, columns=COMPARISON_COLUMNS))


def claim_verdicts(results: Mapping[str, pd.DataFrame], claims: Iterable[Claim] | None = None,
                   resolves: Iterable[str] | None = None, min_pairs: int = MIN_PAIRS, min_seeds: int = MIN_SEEDS,
                   spread_min: float = SPREAD_MIN) -> pd.DataFrame:
    """The verdict per claim of :func:`judge` (its first table)."""
    return judge(results, claims, resolves=resolves, min_pairs=min_pairs, min_seeds=min_seeds,
                 spread_min=spread_min)[0]
