"""Which claims a profile resolves comes from a power calculation on measured noise (isnet.study.power)."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from isnet.study import paper
from isnet.study.claims import pair_groups
from isnet.study.power import ALPHA, CPU_NOISE, measured_noise, claim_power, power, resolvable_claims, seeds_needed
from isnet.study.power import Noise, power_under
from isnet.study.profiles import PROFILES
from isnet.study.report import noise_lines

ROOT = Path(__file__).resolve().parents[1]
LAPTOP = ROOT / "results" / "laptop-16k"  # the noise was measured there (isnet.study.power.CPU_NOISE)
SEEDS = {"40ef9b6b931a": 0, "29d65d9efc05": 1}  # the committed laptop ISNet runs


def _clustered_se(diff: pd.Series, groups: pd.Series) -> float:
    """SE of a mean over pairs with pairs clustered by photo group (the sandwich estimator)."""
    df = pd.DataFrame({"d": diff.to_numpy(), "g": groups.to_numpy()})
    mean = df.d.mean()
    g = df.groupby("g").d.agg(["sum", "count"])
    resid = g["sum"] - g["count"] * mean
    G = len(g)
    return float(np.sqrt(G / (G - 1) * (resid ** 2).sum()) / len(df))


def test_cpu_noise_is_what_the_committed_laptop_scores_give():
    """The noise the power calculation uses is re-measured here from the committed per-pair scores."""
    pairs = pd.read_csv(LAPTOP / "pairs" / "pairs.csv").set_index("pair")
    manifest = pd.read_csv(ROOT / "isnet" / "resources" / "photos_manifest.csv").set_index("id")
    groups = manifest.loc[pairs.image_id, "group"].set_axis(pairs.index)
    tag = "1a692701"
    one = {s: pd.read_csv(LAPTOP / "runs" / h / f"eval-{tag}.csv").set_index("pair").psnr for h, s in SEEDS.items()}
    pra = {s: pd.read_csv(LAPTOP / "runs" / h / f"eval-pra3-{tag}.csv").set_index("pair").psnr for h, s in SEEDS.items()}
    telea = pd.read_csv(LAPTOP / "pairs" / f"eval-telea-{tag}.csv").set_index("pair").psnr
    seed_means = [float((one[s] - telea).mean()) for s in (0, 1)]
    assert np.std(seed_means, ddof=1) == pytest.approx(CPU_NOISE.seed_sd, abs=5e-4)
    d = one[0] - one[1]
    assert _clustered_se(d, groups.loc[d.index]) == pytest.approx(CPU_NOISE.test_se, abs=5e-4)
    gains = {b: [float((pra[s] - one[s])[pairs.bucket == b].mean()) for s in (0, 1)]
             for b in ("20-30", "30-40", "40-50")}
    assert max(np.std(v, ddof=1) for v in gains.values()) == pytest.approx(CPU_NOISE.pra_seed_sd, abs=5e-4)


def test_power_grows_with_effect_and_seeds_and_is_alpha_at_no_effect():
    assert power(0.0, 5, CPU_NOISE) <= ALPHA and power(0.0, 500, CPU_NOISE) == pytest.approx(ALPHA, abs=1e-3)
    assert power(0.3, 3, CPU_NOISE) < power(0.3, 6, CPU_NOISE) < power(0.6, 6, CPU_NOISE)
    assert power(0.5, 1, CPU_NOISE) == 0.0
    n = seeds_needed(0.63, CPU_NOISE)
    assert n is not None and power(0.63, n, CPU_NOISE) >= 0.8 > power(0.63, n - 1, CPU_NOISE)


def test_power_matches_a_simulation_of_the_seed_mean_t_test():
    """Monte Carlo: S seeds per model, seed noise per arm, a test-set error shared by every seed; the t test on
    the seed-mean difference with S − 1 degrees of freedom rejects about as often as ``power`` says."""
    from scipy import stats

    rng = np.random.default_rng(0)
    effect, S, n = 0.45, 4, 20000
    se = np.sqrt(2 * CPU_NOISE.seed_sd ** 2 / S + CPU_NOISE.test_se ** 2)
    a = rng.normal(effect, CPU_NOISE.seed_sd, (n, S)).mean(1) - rng.normal(0, CPU_NOISE.seed_sd, (n, S)).mean(1)
    est = a + rng.normal(0, CPU_NOISE.test_se, n)
    rejects = np.abs(est / se) > stats.t.ppf(1 - ALPHA / 2, S - 1)
    assert rejects.mean() == pytest.approx(power(effect, S, CPU_NOISE), abs=0.03)


def test_profiles_resolve_what_the_power_calculation_allows():
    """No profile lists a claim by hand: the CPU profiles' lists are the power calculation's."""
    for name in ("laptop", "laptop-16k", "night", "ablation", "ablation-maxpool"):
        p = PROFILES[name]
        assert p.resolves == resolvable_claims(p.methods, len(p.seeds), CPU_NOISE), name
    assert PROFILES["night"].resolves == ("T7-vs-unet",)  # ISNet vs UNet-like: +2.54 dB in the paper
    assert PROFILES["laptop-16k"].resolves == ()           # two seeds resolve nothing
    eq = claim_power(paper.claim("T5-eq5-vs-eq4"), None, 3, CPU_NOISE)["comparisons"][0]
    assert eq["paper_effect"] == pytest.approx(0.633, abs=1e-3) and 4 <= eq["seeds_needed"] <= 5  # the issue estimated "about 5"


def _scores(method: str, seed_offsets: dict[int, float], noise: np.ndarray, groups: list[str]) -> pd.DataFrame:
    """Per-pair rows of one trained row: PSNR = 25 + the seed's offset + a per-pair term."""
    return pd.DataFrame([{"method": method, "seed": s, "pair_id": i, "group": groups[i], "bucket": "10-20",
                          "psnr": 25 + off + noise[s, i], "output_spread": 0.1}
                         for s, off in seed_offsets.items() for i in range(len(groups))])


def test_measured_noise_pools_the_rows_seed_variances_and_counts_a_shared_run_once():

    rng = np.random.default_rng(0)
    groups = [f"g{i // 4}" for i in range(40)]
    eps = rng.normal(0, 0.5, (4, 40))
    isnet = {0: 0.0, 1: 0.4, 2: -0.3, 3: 0.1}
    unet = {0: -3.0, 1: -2.2}
    t5 = pd.concat([_scores("isnet-eq5", isnet, eps, groups),
                    _scores("telea", {0: -1.0}, eps, groups).assign(output_spread=np.nan)])
    t7 = pd.concat([_scores("isnet", isnet, eps, groups), _scores("unet", unet, eps, groups),
                    _scores("unet-resize", {0: -3.5}, eps, groups)])
    noise, rows = measured_noise({"table5": t5, "table7": t7}, "synthetic", pair_groups)
    # ISNet once (under one of its tables' names); Telea is not trained
    assert len(rows) == 3 and set(rows.method) - {"isnet", "isnet-eq5"} == {"unet", "unet-resize"}
    means = {m: [25 + o + eps[s].mean() for s, o in d.items()] for m, d in (("isnet", isnet), ("unet", unet))}
    pooled = (3 * np.var(means["isnet"], ddof=1) + 1 * np.var(means["unet"], ddof=1)) / 4
    assert noise.seed_sd == pytest.approx(np.sqrt(pooled), rel=1e-9)
    d = pd.Series(eps[0] - eps[1] + isnet[0] - isnet[1])
    assert noise.test_se == pytest.approx(_clustered_se(d, pd.Series(groups)), rel=1e-9)
    assert np.isnan(noise.pra_seed_sd)  # no PRA rows
    assert measured_noise({"table7": _scores("isnet", {0: 0.0}, eps, groups)}, "one seed", pair_groups) is None


def test_the_summary_sets_its_own_noise_beside_the_planned_one_only_for_a_cpu_profile():

    prof = PROFILES["ablation"]
    rows = pd.DataFrame([{"method": "isnet", "seeds": 4, "mean_psnr": 25.0, "seed_sd": 0.6}])
    loud = Noise(seed_sd=0.6, test_se=0.04, pra_seed_sd=float("nan"), source="synthetic")
    text = "\n".join(noise_lines(prof, CPU_NOISE, (loud, rows)))
    assert "## Noise at this scale" in text and "seed SD **0.600 dB**" in text and CPU_NOISE.source in text
    table = power_under(prof.methods, len(prof.seeds), CPU_NOISE, loud).set_index("claim")
    eq = table.loc["T5-eq5-vs-eq4"]
    assert eq.power_planned == pytest.approx(power(eq.paper_effect, 4, CPU_NOISE), abs=1e-3)
    assert eq.power_measured == pytest.approx(power(eq.paper_effect, 4, loud), abs=1e-3)
    assert eq.power_planned > 0.8 > eq.power_measured
    assert eq.seeds_needed_measured == seeds_needed(eq.paper_effect, loud) > 4
    assert noise_lines(prof, CPU_NOISE, None) == [] and noise_lines(PROFILES["gpu"], CPU_NOISE, (loud, rows)) == []


def test_measured_noise_on_the_committed_laptop_runs_is_the_planning_noise():
    """The profile's own-noise section, fed the laptop-16k per-pair scores, gives back CPU_NOISE (measured there
    independently above)."""

    results = {p.stem.removesuffix("_per_pair"): pd.read_csv(p) for p in (LAPTOP / "pairs").glob("*_per_pair.csv")}
    noise, rows = measured_noise(results, "results/laptop-16k", pair_groups)
    assert list(rows.seeds) == [2]
    assert noise.seed_sd == pytest.approx(CPU_NOISE.seed_sd, abs=5e-4)
    assert noise.test_se == pytest.approx(CPU_NOISE.test_se, abs=5e-4)
