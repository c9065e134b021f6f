"""isnet.study.statistics: the seed × photo-group interval, and its coverage under the laptop study's own noise.

The noise is measured here from the committed laptop results (``results/laptop-16k/pairs/table5_per_pair.csv``: ISNet
(Eq. 5) − Telea, composite PSNR, seeds 0 and 1 on the same 400 pairs; photo groups from the committed manifest), as
``docs/statistics.md`` describes; nothing below is a typed-in noise level.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from isnet.data.photos import read_manifest
from isnet.study.statistics import (
    cluster_variance,
    group_bootstrap_variance,
    satterthwaite,
    seed_group_interval,
)

ROOT = Path(__file__).resolve().parents[1]
PER_PAIR = ROOT / "results" / "laptop-16k" / "pairs" / "table5_per_pair.csv"
NOMINAL, FLOOR = 0.95, 0.93
REPLICATES = 4000


# ----------------------------------------------------------------------------------------- the measured noise
def measured_noise(a: str = "isnet-eq5", b: str = "telea", metric: str = "psnr") -> dict:
    """The laptop study's noise for ``a − b`` from its committed per-pair rows: per photo group, the number of
    pairs, the sum of the centred seed-averaged differences (the test-set component) and the sum of the centred
    seed contrast (the seed × pair interaction); and the SD between the seeds' mean differences."""
    df = pd.read_csv(PER_PAIR)
    sa = df[df.method == a].pivot(index="seed", columns="pair_id", values=metric)
    sb = df[df.method == b].drop_duplicates("pair_id").set_index("pair_id")
    d = sa.to_numpy() - sb.loc[sa.columns, metric].to_numpy()[None]
    assert d.shape[0] >= 2, "the committed laptop results have at least two seeds"
    group = read_manifest().set_index("id")["group"].loc[sb.loc[sa.columns, "image_id"]].to_numpy()
    codes, names = pd.factorize(group)
    x = d.mean(axis=0)
    x = x - x.mean()                                          # the test population's mean: the truth, 0
    c = (d[0] - d[1]) / math.sqrt(2)
    c = c - c.mean()                                          # one seed's interaction with the pairs
    return dict(n=np.bincount(codes), X=np.bincount(codes, weights=x), C=np.bincount(codes, weights=c),
                seed_sd=float(d.mean(axis=1).std(ddof=1)), groups=len(names), pairs=d.shape[1])


def simulate(noise: dict, seeds: int, seed_sd: float, reps: int = REPLICATES, rng_seed: int = 0) -> dict:
    """``reps`` simulated studies, each: effect (truth 0), var_seeds and var_test as the interval computes them.

    Each study draws a test set of the same number of photo groups from the measured groups (with replacement,
    each with its own pairs: the test-set noise, shared by every seed), and ``seeds`` training seeds, each
    shifting the whole difference by N(0, seed_sd²) and interacting with the pairs by the measured seed contrast
    with an independent sign per (seed, group). Vectorised over group sums, the sufficient statistics of the
    interval: per seed its total, per group the seed-averaged total."""
    rng = np.random.default_rng(rng_seed)
    g = noise["groups"]
    pick = rng.integers(0, g, size=(reps, g))
    n, X, C = noise["n"][pick], noise["X"][pick], noise["C"][pick]        # reps × G
    a = rng.normal(0, seed_sd, size=(reps, seeds))                        # seed effects
    sign = rng.choice([-1.0, 1.0], size=(reps, seeds, g))                 # interaction, independent per seed
    N = n.sum(1)
    seed_means = (a * N[:, None] + X.sum(1)[:, None] + (sign * C[:, None]).sum(2)) / N[:, None]
    effect = seed_means.mean(1)
    group_avg = X + n * a.mean(1)[:, None] + C * sign.mean(1)             # per group, seed-averaged total
    T = group_avg - n * effect[:, None]
    return dict(effect=effect, var_test=g / (g - 1) * (T ** 2).sum(1) / N ** 2,
                var_seeds=seed_means.var(1, ddof=1) / seeds, seeds=seeds, groups=g)


def half_width(sim: dict, rule: str = "quadrature") -> np.ndarray:
    """The interval's half-width by the module's rule (each part expanded by its own t, in quadrature), or by
    Welch–Satterthwaite (one t at the pooled degrees of freedom), for comparison."""
    q, s, g = 0.5 + NOMINAL / 2, sim["seeds"], sim["groups"]
    vs, vt = sim["var_seeds"], sim["var_test"]
    if rule == "quadrature":
        return np.sqrt(stats.t.ppf(q, s - 1) ** 2 * vs + stats.t.ppf(q, g - 1) ** 2 * vt)
    df = (vs + vt) ** 2 / (vs ** 2 / (s - 1) + vt ** 2 / (g - 1))
    return stats.t.ppf(q, df) * np.sqrt(vs + vt)


def coverage(sim: dict, rule: str = "quadrature") -> float:
    return float(np.mean(np.abs(sim["effect"]) <= half_width(sim, rule)))


@pytest.fixture(scope="module")
def noise():
    if not PER_PAIR.exists():
        pytest.skip(f"{PER_PAIR} is not in this checkout")
    return measured_noise()


def test_measured_noise_is_what_the_doc_says(noise):
    """docs/statistics.md quotes these: 400 pairs from 35 photo groups; seed SD about 0.19 dB."""
    assert noise["pairs"] == 400 and noise["groups"] == 35
    assert 0.1 < noise["seed_sd"] < 0.3


@pytest.mark.parametrize("seeds", [3, 5])
def test_nominal_95_covers_at_least_93_percent_under_the_measured_noise(noise, seeds):
    """At the measured seed SD, and at half and twice it (two seeds measure an SD poorly), and with no seed
    spread at all (test noise only): the interval covers the true effect ≥ 93 % of the time."""
    for scale in (0.0, 0.5, 1.0, 2.0):
        cover = coverage(simulate(noise, seeds, scale * noise["seed_sd"], rng_seed=seeds))
        assert cover >= FLOOR, f"{seeds} seeds, seed SD × {scale}: coverage {cover:.3f} < {FLOOR}"


def test_the_simulation_can_fail_a_weaker_interval(noise):
    """The same simulation fails an interval that ignores the seed spread, and shows why the module does not use
    Welch–Satterthwaite: at three seeds it covers less than the quadrature rule."""
    sim = simulate(noise, 3, noise["seed_sd"], rng_seed=1)
    no_seeds = dict(sim, var_seeds=np.zeros_like(sim["var_seeds"]))
    assert coverage(no_seeds) < 0.8
    assert coverage(sim, "satterthwaite") < coverage(sim)


# ----------------------------------------------------------------------------------------- the pieces
def test_cluster_variance_is_the_group_bootstrap_in_closed_form():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(30), rng.integers(2, 20, 30))
    values = rng.normal(0, 1, groups.size) + rng.normal(0, 1, 30)[groups]
    v, g = cluster_variance(values, groups)
    assert g == 30
    boot = group_bootstrap_variance(values, groups, n_boot=20000)
    assert boot * g / (g - 1) == pytest.approx(v, rel=0.05)
    iid, n = cluster_variance(values, np.arange(values.size))
    assert n == values.size and iid == pytest.approx(values.var(ddof=1) / values.size, rel=1e-9)
    assert v > 2 * iid, "pairs of the same photo group are correlated: clustering widens the variance"


def test_interval_combines_seed_spread_and_shared_test_noise():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(20), 5)
    pair = rng.normal(0, 1, 100)
    d = pair[None] + np.array([[0.0], [1.0], [2.0]]) + rng.normal(0, 0.01, (3, 100))
    iv = seed_group_interval(d, groups, seeds=[0, 1, 2])
    assert iv.per_seed == pytest.approx({0: d[0].mean(), 1: d[1].mean(), 2: d[2].mean()})
    assert iv.effect == pytest.approx(d.mean()) and iv.n_seeds == 3 and iv.groups == 20
    assert iv.var_seeds == pytest.approx(np.var(d.mean(1), ddof=1) / 3)
    assert iv.var_test == pytest.approx(cluster_variance(d.mean(0), groups)[0])
    half = math.sqrt(stats.t.ppf(0.975, 2) ** 2 * iv.var_seeds + stats.t.ppf(0.975, 19) ** 2 * iv.var_test)
    assert (iv.low, iv.high) == pytest.approx((iv.effect - half, iv.effect + half))
    assert half_width(dict(var_seeds=iv.var_seeds, var_test=iv.var_test, seeds=3, groups=20)) == pytest.approx(half)
    assert 2 <= iv.df <= satterthwaite([iv.var_seeds, iv.var_test], [2, 19])
    assert stats.t.ppf(0.975, iv.df) * iv.se == pytest.approx(half, rel=1e-6)
    # more seeds do not remove the test noise: the same pairs, ten identical seeds
    many = np.repeat(pair[None] + 1.0, 10, axis=0)
    wide = seed_group_interval(many, groups)
    assert wide.var_seeds == pytest.approx(0.0, abs=1e-20) and wide.half > 0.2
    # one seed of a trained model: no interval; a deterministic comparison needs none
    assert math.isnan(seed_group_interval(d[:1], groups).low)
    assert not math.isnan(seed_group_interval(d[:1], groups, trained=False).low)
    with pytest.raises(ValueError, match="seeds × pairs"):
        seed_group_interval(np.zeros(5), groups[:5])
    with pytest.raises(ValueError, match="non-finite"):
        seed_group_interval(np.full((2, 5), np.nan), groups[:5])
