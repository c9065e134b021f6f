"""The paper's claims tested on per-pair results: paired bootstrap comparisons, sanity gates and a verdict per claim."""
from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from ..method.metrics import paired_bootstrap
from .columns import DECIMALS, _method_column, display
from .experiments import MEAN_FILL
from .paper import (
    CLAIMS,
    HIGHER_IS_BETTER,
    Claim,
    Comparison,
    paper_value,
)

VERDICTS = ("reproduced", "not reproduced", "inconclusive", "not tested at this scale")


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


def paired_gain(per_pair: pd.DataFrame, base: str, variants: Mapping[Any, str], by: str = "bucket",
                metric: str = "psnr", name: str = "variant", means: Iterable[str] = (), n_boot: int = 2000,
                seed: int = 0) -> pd.DataFrame:
    """Each variant's gain over ``base`` per ``by`` group, paired over the same evaluation pairs: one row per
    (variant key, group) with the variant key under ``name``, ``mean <column>`` of the variant for each of
    ``means`` (e.g. PRA's passes), ``n`` and the paired bootstrap of ``metric`` (variant − base; mean_diff,
    95 % CI, p_value), rounded to 4 decimals. ``variants`` maps a key (e.g. a PRA kernel) to a method name."""
    one = per_pair[per_pair.method == base].set_index("pair_id")
    rows = []
    for key, method in variants.items():
        other = per_pair[per_pair.method == method].set_index("pair_id")
        for group, grp in one.groupby(by):
            d = _bootstrap(other.loc[grp.index, metric].to_numpy(), grp[metric].to_numpy(), n_boot, seed)
            rows.append({name: key, by: group,
                         **{f"mean {c}": round(float(other.loc[grp.index, c].mean()), 2) for c in means},
                         "n": len(grp), **{k: round(float(v), 4) for k, v in d.items() if k != "n"}})
    return pd.DataFrame(rows)


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
    construction, and the comparison is "not tested"; so is one with a method that has no rows at all (a row the
    profile does not train). Fewer than ``min_pairs`` pairs or ``min_seeds`` seeds of
    a trained method: "not tested".
    """
    if comp.kind not in ("better", "not_worse", "equal"):
        raise ValueError(f"comparison kind must be better, not_worse or equal; got {comp.kind!r}")
    rows = _paired_rows(results, comp)
    sign = 1.0 if HIGHER_IS_BETTER.get(comp.metric, True) else -1.0
    out: dict[str, Any] = {"comparison": comp, "n_pairs": 0, "n_seeds": 0, "mean_diff": math.nan,
                           "ci95_low": math.nan, "ci95_high": math.nan, "ci95_low_seeds": math.nan,
                           "ci95_high_seeds": math.nan, "per_seed": {}, "status": "inconclusive"}
    absent = [m for m in (comp.a, comp.b) if m not in set(_method_column(results)["method"])]
    if absent:  # a row the profile does not train (StudyProfile.methods): the comparison is not made here
        out["status"], out["why"] = "not tested", f"{' and '.join(absent)} not run at this scale"
        return out
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
        return f"{head}: {res.get('why', 'no data')} → {res['status']}"
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


def first_wins(points: pd.DataFrame, baseline: str = "telea") -> pd.DataFrame:
    """A learning curve's (``isnet bench learn``: one row per model, seed, iteration and bucket) first iteration
    whose paired 95 % CI against ``baseline`` lies above 0, per model, seed and bucket, with the last point."""
    out = []
    for (model, seed, bucket), g in points.groupby(["model", "seed", "bucket"]):
        g = g.sort_values("iteration")
        wins = g[g[f"vs_{baseline}_low"] > 0]
        last = g.iloc[-1]
        out.append({"model": model, "seed": seed, "bucket": bucket,
                    f"first_beats_{baseline}": int(wins.iteration.iloc[0]) if len(wins) else None,
                    "last_iteration": int(last.iteration), "last_psnr": round(last.psnr, 2),
                    f"last_vs_{baseline}": f"{last[f'vs_{baseline}']:+.2f} "
                                           f"[{last[f'vs_{baseline}_low']:+.2f}, {last[f'vs_{baseline}_high']:+.2f}]"})
    out = pd.DataFrame(out)
    return out.astype({f"first_beats_{baseline}": "Int64"}) if len(out) else out
