"""Which of the paper's claims a profile can resolve: a power calculation from measured noise, not a typed list.

A "better" comparison of two trained models is judged on the mean over S training seeds of each model's score on
the same test pairs. Its standard error has two parts (docs/statistics.md): the seed-to-seed spread of one
model's mean score, ``seed_sd`` (each arm has its own S seeds, so 2·seed_sd²/S), and the test-set sampling noise of
a difference between two models, ``test_se`` (clustered by photo group; the pairs are shared by every seed, so it
does not shrink with S). With the paper's own difference as the effect, the power of a two-sided 5 % test is
P(|estimate / SE| > t_crit) for a normal estimate and the t quantile on S − 1 degrees of freedom (the seed means). A claim is resolvable when every
comparison of it that the profile trains reaches ``POWER`` and none lacks a paper value. Comparisons of one model
with and without PRA use the same weights: their seed spread is ``pra_seed_sd`` and they are equivalence tests
(|Δ| within the margin), resolvable when the expected half-width of the interval leaves room inside the margin.

The noise figures live in ``Noise`` records with where they were measured; ``tests/test_study.py`` re-measures
them from the committed per-pair scores.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from . import paper
from .statistics import cluster_variance

ALPHA = 0.05
POWER = 0.8


@dataclass(frozen=True)
class Noise:
    """Measured noise of the headline metric (composite PSNR over all test pairs, dB) at one scale."""

    seed_sd: float       # SD over training seeds of one model's mean score
    test_se: float       # group-clustered SE of a mean paired difference between two models on the test pairs
    pra_seed_sd: float   # SD over seeds of PRA − one shot (same weights) in a PRA bucket
    source: str          # where it was measured


def power(effect: float, seeds: int, noise: Noise, alpha: float = ALPHA) -> float:
    """Power of the two-sided test of a model difference of size ``effect`` with ``seeds`` seeds per model."""
    if seeds < 2:
        return 0.0
    se = math.sqrt(2 * noise.seed_sd ** 2 / seeds + noise.test_se ** 2)
    df = seeds - 1
    t_crit = stats.t.ppf(1 - alpha / 2, df)
    shift = abs(effect) / se
    # the estimate is normal around the effect with this SE; the verdict's interval uses t quantiles on S − 1
    # degrees of freedom (docs/statistics.md), so that is the critical value (conservative against a z test)
    return float(stats.norm.sf(t_crit - shift) + stats.norm.cdf(-t_crit - shift))


def seeds_needed(effect: float, noise: Noise, target: float = POWER, most: int = 30) -> int | None:
    """The fewest seeds per model that reach ``target`` power (None: not within ``most``)."""
    for s in range(2, most + 1):
        if power(effect, s, noise) >= target:
            return s
    return None


def equivalence_resolvable(effect: float, margin: float, seeds: int, noise: Noise, same_weights: bool,
                           alpha: float = ALPHA) -> bool:
    """Whether the expected interval of a difference fits inside ±margin (or above −margin) around the paper's
    effect: for the same weights (PRA vs one shot) the spread over seeds is ``pra_seed_sd``; for two models it is
    that of two independent arms."""
    if seeds < 2:
        return False
    spread = noise.pra_seed_sd ** 2 / seeds if same_weights else 2 * noise.seed_sd ** 2 / seeds
    half = stats.t.ppf(1 - alpha / 2, seeds - 1) * math.sqrt(spread + noise.test_se ** 2)
    return abs(effect) + half < margin


def comparison_effect(c: paper.Comparison, table: int) -> float | None:
    """The paper's own difference a − b (oriented: positive = a better) for a comparison, or None."""
    a = paper.paper_value(table, c.a, c.metric, c.bucket)
    b = paper.paper_value(table, c.b, c.metric, c.bucket)
    if a is None or b is None:
        return None
    return (b - a) if c.metric == "mae" else (a - b)


def claim_power(claim: paper.Claim, methods: set[str] | None, seeds: int, noise: Noise) -> dict:
    """Per claim: the comparisons the profile can make, their paper effect, power (or equivalence fit) and the
    seeds each would need; ``resolvable`` when all that can be made are powered and at least one can."""
    rows, ok = [], True
    for c in claim.comparisons:
        trained = methods is None or {c.a.removesuffix("-pra"), c.b.removesuffix("-pra")} <= methods
        if not trained:
            continue
        effect = comparison_effect(c, claim.table)
        if effect is None:
            ok = False
            rows.append({"comparison": f"{c.a} vs {c.b}", "paper_effect": None, "power": None, "seeds_needed": None})
            continue
        if c.kind == "better":
            p = power(effect, seeds, noise)
            rows.append({"comparison": f"{c.a} vs {c.b}" + (f" [{c.bucket}]" if c.bucket else ""),
                         "paper_effect": round(effect, 3), "power": round(p, 3),
                         "seeds_needed": seeds_needed(effect, noise)})
            ok &= p >= POWER
        else:
            fits = equivalence_resolvable(effect, c.margin, seeds, noise, same_weights=c.a.removesuffix("-pra") == c.b)
            rows.append({"comparison": f"{c.a} {'≈' if c.kind == 'equal' else '≥'} {c.b}"
                                       + (f" [{c.bucket}]" if c.bucket else ""),
                         "paper_effect": round(effect, 3), "power": None, "seeds_needed": None, "fits_margin": fits})
            ok &= fits
    return {"claim": claim.id, "comparisons": rows, "resolvable": ok and bool(rows)}


def resolvable_claims(methods: tuple[str, ...] | None, seeds: int, noise: Noise) -> tuple[str, ...]:
    """The ids of the paper's claims a profile training ``methods`` with ``seeds`` seeds can resolve."""
    have = None if methods is None else set(methods)
    return tuple(c.id for c in paper.CLAIMS if claim_power(c, have, seeds, noise)["resolvable"])


# The CPU scale (48 px, width 0.25, B = 2): ISNet seeds 0 and 1 of results/laptop-16k at 16,000 iterations on its 400 test
# pairs (35 photo groups). seed_sd: SD of the two seeds' mean PSNR − Telea (+0.210, +0.482); test_se: clustered SE of
# seed 0 − seed 1 per pair; pra_seed_sd: the largest SD of PRA(kernel 3) − one shot over the 20-50 % buckets.
CPU_NOISE = Noise(seed_sd=0.192, test_se=0.034, pra_seed_sd=0.070,
                  source="results/laptop-16k, ISNet seeds 0 and 1 at 16,000 iterations, 400 test pairs in 35 groups")


def measured_noise(results: Mapping[str, pd.DataFrame], source: str,
                   pair_groups: Callable[[pd.DataFrame], pd.Series]) -> tuple[Noise, pd.DataFrame] | None:
    """A profile's own noise, from the per-pair scores its trained models got (the tables' ``*_per_pair.csv``):
    (the ``Noise``, one row per trained row: seeds, mean PSNR and its SD over seeds), or None with no row of ≥ 2
    finished seeds. ``seed_sd`` pools the rows' variances over seeds (each weighted by its S − 1 degrees of
    freedom); ``test_se`` is the group-clustered SE of the per-pair difference between the first two seeds of the
    row with most seeds (as ``CPU_NOISE``); ``pra_seed_sd`` the largest SD over seeds of PRA − one shot in the
    20-50 % buckets, NaN where the profile scored no PRA on two seeds. A run that serves several tables (ISNet is
    also Eq. (5) and B = 2) counts once. ``pair_groups`` maps the rows to each pair's photo group
    (``claims.pair_groups``, passed in: claims → experiments → profiles import this module)."""
    frames = [df for df in results.values() if df is not None and len(df) and "output_spread" in df.columns]
    if not frames:
        return None
    rows = pd.concat(frames, ignore_index=True)
    learned = rows[rows["output_spread"].notna()]
    one_shot = learned[~learned["method"].str.endswith("-pra")]
    means = one_shot.groupby(["method", "seed"])["psnr"].mean()
    per_row, seen = {}, set()
    for method, s in means.groupby(level="method", sort=False):
        key = tuple(np.round(s.to_numpy(), 9))
        if key not in seen:  # the same runs under another table's name
            seen.add(key)
            per_row[method] = s.droplevel("method")
    table = pd.DataFrame([{"method": m, "seeds": len(s), "mean_psnr": float(s.mean()),
                           "seed_sd": float(s.std(ddof=1)) if len(s) > 1 else math.nan}
                          for m, s in per_row.items()])
    usable = {m: s for m, s in per_row.items() if len(s) >= 2}
    if not usable:
        return None
    dof = sum(len(s) - 1 for s in usable.values())
    seed_sd = math.sqrt(sum((len(s) - 1) * s.var(ddof=1) for s in usable.values()) / dof)
    widest = max(usable, key=lambda m: len(usable[m]))
    a, b = sorted(usable[widest].index)[:2]
    mine = one_shot[one_shot["method"] == widest]
    wide = mine.pivot_table(index="pair_id", columns="seed", values="psnr", aggfunc="mean")[[a, b]].dropna()
    groups = pair_groups(mine).reindex(wide.index)
    test_se = math.sqrt(cluster_variance((wide[a] - wide[b]).to_numpy(), groups.to_numpy())[0])
    pra_sd = math.nan
    for method in learned.loc[learned["method"].str.endswith("-pra"), "method"].unique():
        both = learned[learned["method"].isin([method, method.removesuffix("-pra")])]
        gain = both.pivot_table(index=["seed", "bucket"], columns="method", values="psnr", aggfunc="mean")
        if method.removesuffix("-pra") not in gain.columns:
            continue
        gain = (gain[method] - gain[method.removesuffix("-pra")]).dropna()
        for bucket in ("20-30", "30-40", "40-50"):
            g = gain.xs(bucket, level="bucket") if bucket in gain.index.get_level_values("bucket") else gain[:0]
            if len(g) >= 2:
                pra_sd = float(np.nanmax([pra_sd, g.std(ddof=1)]))
    noise = Noise(seed_sd=seed_sd, test_se=test_se, pra_seed_sd=pra_sd,
                  source=f"{source}: seed SD pooled over {len(usable)} row{'s' * (len(usable) > 1)} ({dof} degree"
                         f"{'s' * (dof > 1)} of freedom), test SE from {widest} seeds {a} and {b}")
    return noise, table


def power_under(methods: tuple[str, ...] | None, seeds: int, planned: Noise, measured: Noise) -> pd.DataFrame:
    """Per "better" comparison a profile trains (``claim_power``'s rows): the paper's effect, the power its seeds
    had under the noise its claim list was fixed from (``planned``) and under the noise its own runs show
    (``measured``), and the seeds the measured noise would need."""
    have = None if methods is None else set(methods)
    out = []
    for claim in paper.CLAIMS:
        for p, m in zip(claim_power(claim, have, seeds, planned)["comparisons"],
                        claim_power(claim, have, seeds, measured)["comparisons"]):
            if p["power"] is not None:  # equivalence rows and rows without a paper value have none
                out.append({"claim": claim.id, "comparison": p["comparison"], "paper_effect": p["paper_effect"],
                            "power_planned": p["power"], "power_measured": m["power"],
                            "seeds_needed_measured": m["seeds_needed"]})
    return pd.DataFrame(out)
