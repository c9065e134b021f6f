"""The interval of a paired comparison over training seeds and clustered test pairs (``docs/statistics.md``).

A comparison "a vs b" is measured as a seeds × pairs matrix of paired differences ``d[s, p]``: every training seed
``s`` is scored on the *same* test pairs ``p``, and the pairs come from a few photos in near-duplicate groups. The
effect is the mean over seeds of each seed's mean difference. Its variance has two parts that do not shrink
together:

* the spread between training seeds: ``var(seed means) / S`` (shrinks with more seeds);
* the test-set sampling noise, shared by every seed: the cluster-robust variance of the seed-averaged per-pair
  differences, clustered by photo group (does not shrink with more seeds).

Each part is expanded by its own t quantile (``S − 1`` degrees of freedom for the seed part, ``G − 1`` for ``G``
photo groups) and the two are combined in quadrature::

    half = sqrt(t(S−1)² · var_seeds + t(G−1)² · var_test)

(the "expanded uncertainties added in quadrature" rule). The Welch–Satterthwaite interval ``t(ν) · sqrt(V)``
undercovers at three seeds under the study's noise, because a seed spread that happens to come out small also
raises ``ν``; the quadrature rule does not (``docs/statistics.md``: derivation and the coverage simulation, kept
as ``tests/test_statistics.py``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """One comparison's effect and interval, with its parts kept for display.

    ``per_seed``: each seed's mean paired difference; ``var_seeds`` / ``var_test``: the two variance components
    (seed spread / S, group-clustered test noise); ``df``: the effective degrees of freedom (those whose t
    quantile times ``se`` gives the half-width; Satterthwaite's would be larger); ``groups``: the number of photo
    groups the pairs come from. ``low``/``high`` are NaN where the seed spread cannot be seen
    (a trained side with one seed)."""

    effect: float
    low: float
    high: float
    se: float
    df: float
    var_seeds: float
    var_test: float
    n_seeds: int
    n_pairs: int
    groups: int
    per_seed: dict = field(default_factory=dict)

    @property
    def half(self) -> float:
        return (self.high - self.low) / 2


def _codes(groups: Sequence) -> np.ndarray:
    return pd.factorize(pd.Series(np.asarray(groups, dtype=object).ravel()).astype(str))[0]


def cluster_variance(values: Sequence[float], groups: Sequence) -> tuple[float, int]:
    """(variance of the mean of ``values``, number of groups), pairs clustered by ``groups``: the cluster-robust
    (CR1) variance ``G/(G−1) · Σ_g T_g² / N²`` with ``T_g`` the sum over group ``g`` of ``value − mean``. It is the
    limit of the group bootstrap's variance (resample whole groups, with replacement) times ``G/(G−1)``, the
    usual small-sample correction; one group per value is the ordinary ``var / N``."""
    x = np.asarray(values, np.float64).ravel()
    codes = _codes(groups)
    if codes.size != x.size:
        raise ValueError(f"cluster_variance: {x.size} values but {codes.size} group labels")
    n, g = x.size, int(codes.max()) + 1 if codes.size else 0
    if g < 2:
        return math.nan, g
    totals = np.bincount(codes, weights=x - x.mean(), minlength=g)
    return float(g / (g - 1) * np.sum(totals ** 2) / n ** 2), g


def group_bootstrap_variance(values: Sequence[float], groups: Sequence, n_boot: int = 2000, seed: int = 0) -> float:
    """The variance of the mean over ``n_boot`` resamples of whole groups (with replacement): what
    :func:`cluster_variance` computes in closed form (up to its ``G/(G−1)`` factor). Kept to show the two agree."""
    x = np.asarray(values, np.float64).ravel()
    codes = _codes(groups)
    g = int(codes.max()) + 1
    sums, sizes = np.bincount(codes, weights=x, minlength=g), np.bincount(codes, minlength=g)
    pick = np.random.default_rng(seed).integers(0, g, size=(n_boot, g))
    return float(np.var(sums[pick].sum(1) / sizes[pick].sum(1), ddof=1))


def satterthwaite(parts: Sequence[float], dfs: Sequence[float]) -> float:
    """Welch–Satterthwaite degrees of freedom of a sum of independent variance estimates ``parts`` with ``dfs``."""
    num = sum(parts) ** 2
    den = sum(v * v / d for v, d in zip(parts, dfs) if v > 0 and d > 0)
    return math.inf if den == 0 else num / den


def _effective_df(ratio: float, q: float) -> float:
    """The degrees of freedom whose t quantile ``q`` equals ``ratio`` (infinity at or below the normal's)."""
    if ratio <= stats.norm.ppf(q):
        return math.inf
    lo, hi = 0.05, 1e6
    for _ in range(60):  # bisection on log df: t.ppf falls as df grows
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if stats.t.ppf(q, mid) > ratio else (lo, mid)
    return math.sqrt(lo * hi)


def seed_group_interval(diff: np.ndarray, groups: Sequence, trained: bool = True, level: float = LEVEL,
                        seeds: Sequence | None = None) -> Interval:
    """The effect and interval of a seeds × pairs matrix of paired differences (module docstring).

    ``groups``: the photo group of each pair (column). ``trained=False`` (both sides deterministic, e.g. two
    classical methods): the seed part is zero, whatever the number of seeds. ``trained=True`` with one seed: the
    seed spread is unknown and the interval is NaN (a verdict needs seeds; the effect is still reported).
    NaN cells are not allowed: pass the pairs every seed was scored on."""
    d = np.asarray(diff, np.float64)
    if d.ndim != 2 or d.size == 0:
        raise ValueError(f"expected a seeds × pairs matrix of differences, got shape {d.shape}")
    if not np.isfinite(d).all():
        raise ValueError("the seeds × pairs matrix has non-finite cells; keep only pairs every seed scored")
    n_seeds, n_pairs = d.shape
    per_seed_means = d.mean(axis=1)
    effect = float(per_seed_means.mean())
    var_test, n_groups = cluster_variance(d.mean(axis=0), groups)
    if not trained:
        var_seeds, df_seeds = 0.0, math.inf
    elif n_seeds >= 2:
        var_seeds, df_seeds = float(per_seed_means.var(ddof=1) / n_seeds), n_seeds - 1
    else:
        var_seeds, df_seeds = math.nan, 0
    var = var_seeds + var_test
    low = high = df = math.nan
    if np.isfinite(var):
        q = 0.5 + level / 2
        half = math.sqrt((stats.t.ppf(q, df_seeds) ** 2 * var_seeds if var_seeds > 0 else 0.0)
                         + stats.t.ppf(q, n_groups - 1) ** 2 * var_test)
        low, high = effect - half, effect + half
        df = _effective_df(half / math.sqrt(var), q) if var > 0 else math.inf
    names = list(seeds) if seeds is not None else list(range(n_seeds))
    return Interval(effect=effect, low=low, high=high, se=math.sqrt(var) if np.isfinite(var) else math.nan, df=df,
                    var_seeds=var_seeds, var_test=var_test, n_seeds=n_seeds, n_pairs=n_pairs, groups=n_groups,
                    per_seed={s: float(v) for s, v in zip(names, per_seed_means)})
