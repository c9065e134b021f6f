"""evaluate(): one tidy table for every method, scores that match an independent reference, the CLI."""
import numpy as np
import pandas as pd
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from isnet.method.baselines import inpaint_classical
from isnet.cli import main as cli_main
from isnet.data import PairsDataset, make_pairs
from isnet.engine.evaluate import evaluate, summarize, write_results
from isnet.pra import one_shot



@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    path = tmp_path_factory.mktemp("pairs") / "pairs.csv"
    make_pairs("samples", "all", 32, 2, path, seed=0, progress=False)
    return path


def test_baseline_rows_match_scikit_image(pairs):
    df = evaluate("telea", pairs, progress=False)
    ds = PairsDataset(pairs)
    assert len(df) == len(ds) == 8 and list(df["pair"]) == list(ds.table["pair"])
    assert set(df["bucket"]) == {"10-20", "20-30", "30-40", "40-50"} and (df["passes"] == 1).all()
    image, known, meta = ds[5]
    comp = inpaint_classical("telea", image[None], known[None])[0].permute(1, 2, 0).double().numpy()
    gt = image.permute(1, 2, 0).double().numpy()
    row = df.set_index("pair").loc[meta["pair"]]
    assert row["psnr"] == pytest.approx(peak_signal_noise_ratio(gt, comp, data_range=1.0), abs=1e-4)
    ref_ssim = structural_similarity(gt, comp, data_range=1.0, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False)
    assert row["ssim"] == pytest.approx(ref_ssim, abs=1e-4)
    assert row["mae"] == pytest.approx(100 * np.abs(gt - comp).mean(), rel=1e-6)
    hole = (known[0] == 0).numpy()
    assert row["mae_hole"] == pytest.approx(100 * np.abs(gt - comp)[hole].mean(), rel=1e-6)


def test_module_and_checkpoint_give_the_same_rows(pairs, tiny_generator, tiny_checkpoint):
    tiny_generator.train()
    from_module = evaluate(tiny_generator, pairs, progress=False, name="g")
    assert tiny_generator.training, "evaluate must restore the module's mode"
    from_file = evaluate(tiny_checkpoint, pairs, progress=False, name="g")
    pd.testing.assert_frame_equal(from_module, from_file)
    assert evaluate(tiny_checkpoint, pairs, progress=False)["method"].iloc[0].endswith("/iter_00000001")


def test_pra_is_one_shot_for_small_holes_and_adds_passes_for_big_ones(pairs, tiny_generator):
    one = evaluate(tiny_generator, pairs, progress=False).set_index("pair")
    pra = evaluate(tiny_generator, pairs, pra=True, progress=False).set_index("pair")
    assert pra["method"].iloc[0].endswith("+pra") and pra["pra"].all()
    small = pra["hole_ratio"] <= 0.2
    assert (pra.loc[small, "passes"] == 1).all()
    assert np.allclose(pra.loc[small, "psnr"], one.loc[small, "psnr"])
    assert (pra.loc[~small, "passes"] >= 2).all()


def test_batch_size_does_not_change_scores(pairs, tiny_generator):
    a = evaluate(tiny_generator, pairs, batch_size=1, progress=False)
    b = evaluate(tiny_generator, pairs, batch_size=8, progress=False)
    np.testing.assert_allclose(a["psnr"], b["psnr"], rtol=1e-6)
    image, known, meta = PairsDataset(pairs)[0]
    comp = one_shot(tiny_generator, image[None], known[None])
    gt = image.permute(1, 2, 0).double().numpy()
    assert a["psnr"].iloc[0] == pytest.approx(
        peak_signal_noise_ratio(gt, comp[0].permute(1, 2, 0).double().numpy(), data_range=1.0), abs=1e-4)


def test_summary_and_files(pairs, tmp_path):
    df = pd.concat([evaluate(m, pairs, progress=False) for m in ("ns", "biharmonic")])
    summary = summarize(df)
    psnr_all = summary[(summary.metric == "psnr") & (summary.bucket == "all")].set_index("method")
    assert list(psnr_all["n"]) == [8, 8]
    assert psnr_all.loc["ns", "mean"] == pytest.approx(df[df.method == "ns"]["psnr"].mean())
    lo, hi = psnr_all.loc["ns", ["ci95_low", "ci95_high"]]
    assert lo < psnr_all.loc["ns", "mean"] < hi
    paths = write_results(df, tmp_path / "out")
    assert pd.read_csv(paths["per_pair"]).shape == df.shape
    assert "| ns | all | 8 |" in paths["markdown"].read_text()
    with pytest.raises(FileExistsError, match="overwrite"):
        write_results(df, tmp_path / "out")


def test_cli(pairs, tmp_path, capsys):
    assert cli_main(["evaluate", "--method", "telea", "--pairs", str(pairs), "--out", str(tmp_path / "e"),
                     "--no-progress"]) == 0
    assert "| telea | all | 8 |" in capsys.readouterr().out
    assert {p.name for p in (tmp_path / "e").iterdir()} == {"per_pair.csv", "summary.csv", "summary.md"}
    assert cli_main(["evaluate", "--method", "telea", "--pairs", str(tmp_path / "nope.csv"), "--no-progress"]) == 2
    assert "nope.csv" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # one of --checkpoint / --method is required
        cli_main(["evaluate", "--pairs", str(pairs)])
