"""Metrics: agreement with scikit-image, composite semantics, legacy PSNR, aggregation, bootstrap."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats
from skimage import data as skdata
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from skimage.transform import resize

from isnet.method.masks import generate_known, sample_hole_in_bucket
from isnet.metrics import (aggregate, composite, gaussian_taps, mae, paired_bootstrap, psnr, psnr_legacy,
                           score_batch, ssim)


def _sk_ssim(x: np.ndarray, y: np.ndarray) -> float:
    return structural_similarity(x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                 data_range=1, channel_axis=-1)


def _hwc(t: torch.Tensor) -> np.ndarray:
    return t.permute(1, 2, 0).numpy()


def _random_pair(shape, seed, noise=0.1, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(shape, generator=g, dtype=dtype)
    b = (a + noise * torch.randn(shape, generator=g, dtype=dtype)).clamp(0, 1)
    return a, b


@pytest.mark.parametrize("shape", [(3, 3, 32, 32), (2, 3, 45, 64), (1, 3, 11, 17), (2, 1, 24, 24)])
def test_psnr_ssim_match_scikit_image_on_random_images(shape):
    a, b = _random_pair(shape, seed=sum(shape))
    ours_psnr, ours_ssim, ours_mae = psnr(a, b), ssim(a, b), mae(a, b)
    assert ours_psnr.shape == ours_ssim.shape == ours_mae.shape == (shape[0],)
    for i in range(shape[0]):
        x, y = _hwc(a[i]), _hwc(b[i])
        assert float(ours_psnr[i]) == pytest.approx(peak_signal_noise_ratio(x, y, data_range=1), abs=1e-4)
        assert float(ours_ssim[i]) == pytest.approx(_sk_ssim(x, y), abs=1e-4)
        assert float(ours_mae[i]) == pytest.approx(100 * np.abs(x.astype(np.float64) - y).mean(), abs=1e-6)


def test_gaussian_taps_are_scipys_11_tap_window():
    from scipy.ndimage import gaussian_filter1d
    taps = gaussian_taps(1.5).numpy()
    impulse = np.zeros(31)
    impulse[15] = 1
    assert taps.size == 11
    assert np.allclose(taps, gaussian_filter1d(impulse, 1.5, truncate=3.5)[10:21], atol=1e-12)


def _real_batch(size: int = 96):
    """Astronaut and chelsea, square-cropped and resized, with generated holes and a perturbed prediction."""
    imgs = []
    for img in (skdata.astronaut(), skdata.chelsea()):
        h, w = img.shape[:2]
        s = min(h, w)
        crop = img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        imgs.append(resize(crop, (size, size), anti_aliasing=True).astype(np.float32))
    gt = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).contiguous()
    known = torch.cat([generate_known(size, size, seed=s, family="medium") for s in (1, 2)])
    pred = (gt.flip(-1) * 0.7 + 0.15 + 0.05 * torch.randn_like(gt)).clamp(0, 1)  # plausible-but-wrong fill
    return pred, gt, known


@pytest.mark.parametrize("size", [64, 96, 128])
def test_score_batch_matches_scikit_image_on_real_images(size):
    pred, gt, known = _real_batch(size)
    scores = score_batch(pred, gt, known)
    comp = composite(pred, gt, known)
    for i in range(2):
        x, y = _hwc(comp[i]), _hwc(gt[i])
        assert float(scores["psnr"][i]) == pytest.approx(peak_signal_noise_ratio(y, x, data_range=1), abs=1e-4)
        assert float(scores["ssim"][i]) == pytest.approx(_sk_ssim(y, x), abs=1e-4)
        hole = known[i, 0].numpy() == 0
        diff = x.astype(np.float64)[hole] - y.astype(np.float64)[hole]
        assert float(scores["psnr_hole"][i]) == pytest.approx(-10 * np.log10((diff ** 2).mean()), abs=1e-6)
        assert float(scores["mae_hole"][i]) == pytest.approx(100 * np.abs(diff).mean(), abs=1e-6)
        assert float(scores["mae"][i]) == pytest.approx(100 * np.abs(x.astype(np.float64) - y).mean(), abs=1e-6)
    # hole-only error is larger than the whole-image error diluted by exact known pixels
    assert (scores["mae_hole"] > scores["mae"]).all() and (scores["psnr_hole"] < scores["psnr"]).all()


def test_composite_keeps_known_pixels_exactly():
    pred, gt, known = _real_batch(64)
    comp = composite(pred, gt, known)
    keep = known.expand_as(gt).bool()
    assert torch.equal(comp[keep], gt[keep])
    assert torch.equal(comp[~keep], pred[~keep])
    with pytest.raises(ValueError, match="known must be"):
        composite(pred, gt, known[:1])


def test_metrics_ignore_prediction_at_known_pixels():
    pred, gt, known = _real_batch(64)
    before = score_batch(pred, gt, known, legacy=True)
    scrambled = torch.where(known.bool().expand_as(pred), torch.rand_like(pred), pred)
    assert not torch.equal(scrambled, pred)
    after = score_batch(scrambled, gt, known, legacy=True)
    assert before.keys() == after.keys() == {"psnr", "ssim", "mae", "psnr_hole", "mae_hole", "psnr_legacy"}
    for key in before:
        assert torch.equal(before[key], after[key]), key


def test_hole_metrics_differ_from_whole_image_when_hole_changes():
    pred, gt, known = _real_batch(64)
    better = score_batch(gt * 0.98 + 0.01, gt, known)
    worse = score_batch(pred, gt, known)
    assert (better["psnr_hole"] > worse["psnr_hole"]).all() and (better["mae_hole"] < worse["mae_hole"]).all()


def test_identical_images_and_hole_free_masks():
    _, gt, known = _real_batch(64)
    scores = score_batch(gt.clone(), gt, known, legacy=True)
    assert torch.isinf(scores["psnr"]).all() and (scores["psnr"] > 0).all()
    assert torch.allclose(scores["ssim"], torch.ones(2, dtype=torch.float64))
    assert (scores["mae"] == 0).all() and (scores["psnr_legacy"] == 0).all()
    no_hole = score_batch(torch.rand_like(gt), gt, torch.ones_like(known))
    assert torch.isnan(no_hole["psnr_hole"]).all() and torch.isnan(no_hole["mae_hole"]).all()


def test_psnr_legacy_equals_numpy_recomputation():
    a, b = _random_pair((3, 3, 20, 24), seed=1, noise=0.05)
    b[2] = a[2]  # identical image → 0 by the authors' convention
    ours = psnr_legacy(a, b)
    for i in range(3):
        x = (a[i].numpy() * np.float32(255)).astype(np.int32).astype(np.float64)
        y = (b[i].numpy() * np.float32(255)).astype(np.int32).astype(np.float64)
        mse = ((x - y) ** 2).mean()
        expected = 0.0 if mse == 0 else 20 * np.log10(255.0) - 10 * np.log10(mse)
        assert float(ours[i]) == pytest.approx(expected, abs=1e-9)
    # truncation (not rounding) makes it differ from the float PSNR
    assert not torch.allclose(ours[:2], psnr(a, b)[:2], atol=1e-3)


def test_ssim_rejects_images_smaller_than_the_window():
    a, b = _random_pair((1, 3, 10, 40), seed=0)
    with pytest.raises(ValueError, match="11×11"):
        ssim(a, b)
    with pytest.raises(ValueError, match="same shape"):
        psnr(a, b[..., :39])


# ---------------------------------------------------------------- aggregation

def test_aggregate_matches_scipy_t_interval():
    values = np.array([1.0, 2.0, 4.0, 7.0, 11.0])
    df = pd.DataFrame({"method": ["a"] * 5 + ["b"], "bucket": ["10-20"] * 6,
                       "psnr": list(values) + [30.0], "ssim": [0.5] * 6, "mae": list(values) + [1.0]})
    out = aggregate(df)
    assert list(out.columns)[:8] == ["method", "bucket", "metric", "n", "mean", "std", "ci95_low", "ci95_high"]
    assert len(out) == 6
    row = out[(out.method == "a") & (out.metric == "psnr")].iloc[0]
    low, high = stats.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
    assert row.n == 5 and row["mean"] == pytest.approx(values.mean()) and row["std"] == pytest.approx(values.std(ddof=1))
    assert row.ci95_low == pytest.approx(low) and row.ci95_high == pytest.approx(high)
    assert row.ci95_low < row["mean"] < row.ci95_high
    single = out[(out.method == "b") & (out.metric == "psnr")].iloc[0]
    assert single.n == 1 and single["mean"] == 30.0
    assert math.isnan(single.ci95_low) and math.isnan(single.ci95_high) and math.isnan(single["std"])


def test_aggregate_leaves_out_non_finite_values_with_a_note():
    df = pd.DataFrame({"method": ["a"] * 4, "psnr": [20.0, 22.0, np.inf, 24.0]})
    with pytest.warns(UserWarning, match="non-finite"):
        out = aggregate(df, by=("method",), metrics=("psnr",))
    row = out.iloc[0]
    assert row.n == 3 and row.n_nonfinite == 1 and row["mean"] == pytest.approx(22.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        overall = aggregate(df.iloc[:2], by=(), metrics=("psnr",))
    assert overall.iloc[0]["mean"] == pytest.approx(21.0)
    with pytest.raises(ValueError, match="bucket"):
        aggregate(df, by=("method", "bucket"), metrics=("psnr",))


def test_aggregate_on_score_batch_output():
    pred, gt, known = _real_batch(64)
    scores = score_batch(pred, gt, known)
    df = pd.DataFrame({k: v.numpy() for k, v in scores.items()}).assign(method="isnet", bucket=["x", "y"])
    out = aggregate(df, metrics=("psnr", "ssim", "mae", "psnr_hole", "mae_hole"))
    assert len(out) == 10 and (out.n == 1).all()
    assert np.allclose(out[out.bucket == "x"].set_index("metric")["mean"][list(scores)],
                       [float(v[0]) for v in scores.values()])


# ---------------------------------------------------------------- paired bootstrap

def test_paired_bootstrap_sign_and_significance():
    rng = np.random.default_rng(0)
    base = rng.normal(25, 3, 200)  # large between-image spread, small paired difference
    better = base + 0.3 + rng.normal(0, 0.2, 200)
    res = paired_bootstrap(better, base, n_boot=2000, seed=0)
    assert res["mean_diff"] == pytest.approx(np.mean(better - base))
    assert 0 < res["ci95_low"] < res["mean_diff"] < res["ci95_high"] and res["p_value"] < 0.01
    rev = paired_bootstrap(base, better, n_boot=2000, seed=0)
    assert rev["ci95_high"] < 0 and rev["mean_diff"] == pytest.approx(-res["mean_diff"])
    same = paired_bootstrap(base + rng.normal(0, 0.2, 200), base, n_boot=2000, seed=0)
    assert same["ci95_low"] < 0 < same["ci95_high"] and same["p_value"] > 0.05
    assert paired_bootstrap(better, base, seed=0) == res, "a fixed seed gives a fixed answer"
    assert math.isnan(paired_bootstrap([1.0], [0.0])["ci95_low"])
    with pytest.raises(ValueError, match="equal length"):
        paired_bootstrap([1.0, 2.0], [1.0])


def test_hole_bucket_pairs_end_to_end():
    """Scores grouped by bucket: larger holes give lower whole-image PSNR for the same bad fill."""
    gt = torch.full((1, 3, 64, 64), 0.5)
    rows = []
    for name, bounds in {"10-20": (0.1, 0.2), "40-50": (0.4, 0.5)}.items():
        for s in range(3):
            hole = sample_hole_in_bucket(64, 64, np.random.default_rng(s), bounds)
            known = torch.from_numpy(~hole).float()[None, None]
            scores = score_batch(torch.zeros_like(gt), gt, known)
            rows.append({"method": "zeros", "bucket": name, **{k: float(v) for k, v in scores.items()}})
    out = aggregate(pd.DataFrame(rows)).set_index(["bucket", "metric"])
    assert out.loc[("10-20", "psnr"), "mean"] > out.loc[("40-50", "psnr"), "mean"]
    assert out.loc[("10-20", "mae"), "mean"] < out.loc[("40-50", "mae"), "mean"]
