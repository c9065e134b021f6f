"""Notebook records: each study notebook makes one setup call and records its headline numbers in
``<results>/<profile>/records/<notebook>.json``; after the smoke study every record is read back and checked
against the tables the study wrote (re-derived from ``tables/*.csv``, never hard-coded)."""
import json
import math
import re
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from isnet.study import NOTEBOOKS, notebook_dir
from isnet.study import report
from isnet.study.notebook import NotebookStudy, metric_means, read_records, record, records_path, setup

NUMBER = re.compile(r"^\s*(-?\d+(?:\.\d+)?)")


# ----------------------------------------------------------------------------------------- no study needed
def test_every_notebook_makes_one_setup_call_with_its_own_name_and_records_something():
    for name in NOTEBOOKS:
        nb = nbformat.read(notebook_dir() / f"{name}.ipynb", as_version=4)
        code = [c.source for c in nb.cells if c.cell_type == "code"]
        assert f'notebook="{name}"' in code[1] and "setup(profile, results_dir" in code[1], name
        assert "device=device" in code[1] and "keep_checkpoints=keep_checkpoints" in code[1], name
        text = "\n".join(code)
        assert "%matplotlib" not in text and "Study(" not in text, f"{name}: the setup call does this"
        assert text.count("setup(") == 1, name
        assert "study.record(" in text, f"{name} records no headline number"


def test_record_merges_per_key_writes_atomically_and_keeps_floats_json_safe(tmp_path):
    record(tmp_path, "02_loss_ablation", "a", {"x": np.float32(1.5), "n": np.int64(3), "bad": float("nan"),
                                              "inf": np.inf, "flag": np.bool_(True)})
    record(tmp_path, "02_loss_ablation", "b", pd.Series({"10-20": 1.25, "20-30": np.float64(2.0)}))
    stored = record(tmp_path, "02_loss_ablation", "a", [np.float64(0.5), 2])  # a key is replaced, b kept
    assert stored == [0.5, 2]
    path = records_path(tmp_path, "02_loss_ablation")
    assert path == tmp_path / "records" / "02_loss_ablation.json"
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == read_records(tmp_path, "02_loss_ablation") == {"a": [0.5, 2],
                                                                            "b": {"10-20": 1.25, "20-30": 2.0}}
    record(tmp_path, "02_loss_ablation", "c", {"bad": float("nan"), "inf": -np.inf, "n": np.int32(4)})
    assert read_records(tmp_path, "02_loss_ablation")["c"] == {"bad": None, "inf": None, "n": 4}
    assert [p.name for p in path.parent.iterdir()] == [path.name], "a temporary file was left behind"
    with pytest.raises(TypeError, match="cannot record"):
        record(tmp_path, "02_loss_ablation", "d", object())
    assert "d" not in read_records(tmp_path, "02_loss_ablation")
    assert read_records(tmp_path, "07_report") == {}


def test_setup_outside_a_kernel_builds_the_study_and_prints_its_header(tmp_path, capsys):
    study = setup("smoke", tmp_path, notebook="02_loss_ablation", device="cpu")
    assert isinstance(study, NotebookStudy) and study.dir == tmp_path / "smoke" and study.device == "cpu"
    out = capsys.readouterr().out
    assert "Profile `smoke`" in out and "vgg16-hed" in out and str(study.dir) in out
    study.record("answer", 42)
    assert study.records() == {"answer": 42} and study.records_path.parent == tmp_path / "smoke" / "records"
    assert study.figure_path("figure5_loss_rows") == tmp_path / "smoke" / "figures" / "figure5_loss_rows.png"


def test_metric_means_reads_an_aggregate_table_per_method_or_per_bucket():
    from isnet.metrics import aggregate

    pairs = pd.DataFrame({"method": ["a", "a", "b", "b"], "bucket": ["10-20", "20-30", "10-20", "10-20"],
                          "psnr": [10.0, 20.0, 30.0, 32.0], "mae": [1.0, 2.0, 3.0, 4.0]})
    assert metric_means(aggregate(pairs, by=("method",), metrics=("psnr", "mae"))) == {"a": 15.0, "b": 31.0}
    per_bucket = aggregate(pairs, by=("method", "bucket"), metrics=("mae",))
    assert metric_means(per_bucket, "mae") == {"a": {"10-20": 1.0, "20-30": 2.0}, "b": {"10-20": 3.5}}


# ----------------------------------------------------------------------------------------- after the smoke study
def _ours(row: pd.Series, metric: str = "psnr") -> tuple[float, float]:
    """(our mean of ``metric`` in one table row, how exactly the table gives it): the numeric column when the
    table has one, else the number printed in the "ours ... (mean ± CI95, n)" cell (to its decimals)."""
    numeric = f"ours_{metric}_mean"
    if numeric in row.index and pd.notna(row[numeric]):
        return float(row[numeric]), 1e-9
    cell = str(row[report.ours_column(metric)])
    match = NUMBER.match(cell)
    assert match, f"no number in {cell!r}"
    decimals = len(match.group(1).split(".")[1]) if "." in match.group(1) else 0
    return float(match.group(1)), 0.5 * 10 ** -decimals + 1e-9


def _run_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows we ran (the others read "not run")."""
    return table[table[report.ours_column("psnr")].astype(str) != report.NOT_RUN]


def _check_means(recorded: dict, table: pd.DataFrame, where: str) -> None:
    rows = _run_rows(table)
    if "bucket" in rows.columns:
        expected = {(r["method"], str(r["bucket"])): _ours(r) for _, r in rows.iterrows()}
        got = {(m, b): v for m, per_bucket in recorded.items() for b, v in per_bucket.items()}
    else:
        expected = {r["method"]: _ours(r) for _, r in rows.iterrows()}
        got = recorded
    assert set(got) == set(expected), f"{where}: recorded {sorted(got)}, table has {sorted(expected)}"
    for key, (value, tol) in expected.items():
        assert math.isclose(got[key], value, rel_tol=0, abs_tol=tol), f"{where} {key}: {got[key]} vs {value}"


def _table(out: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(out / "tables" / f"{name}.csv")


def check_quickstart(out: Path) -> None:
    rec = read_records(out, "00_quickstart")
    assert isinstance(rec["pra_passes"], int) and rec["pra_passes"] >= 2, "the default hole must show PRA's passes"
    assert 0.01 <= rec["pra_max_change"] <= 1, "PRA's composite must differ from the one shot inside the hole"
    assert 0.4 <= rec["hole_ratio"] <= 0.5  # the notebook's default mask bucket is 40-50 %
    assert set(rec["scores"]) == {"one shot", "PRA", "Telea", "biharmonic"}


def check_search(out: Path) -> None:
    best = read_records(out, "01_search")["best_trial"]
    row = _table(out, "table1").set_index("method").loc[f"trial-{best['trial']}"]
    value, tol = _ours(row)
    assert math.isclose(best["psnr"], value, rel_tol=0, abs_tol=tol)
    columns = {"feature_matching": "fm"}
    assert set(best["weights"]) == {"l1", "adversarial", "style", "perceptual", "feature_matching"}
    for field, weight in best["weights"].items():
        assert math.isclose(weight, row[columns.get(field, field)], rel_tol=0, abs_tol=5e-4 + 1e-9), field


def check_loss_ablation(out: Path) -> None:
    _check_means(read_records(out, "02_loss_ablation")["psnr_mean"], _table(out, "table2"), "table2")


def check_architecture(out: Path) -> None:
    rec = read_records(out, "03_architecture")
    t7 = _table(out, "table7")
    _check_means(rec["psnr_mean"], t7, "table7")
    _check_means(rec["clean_psnr_mean"], _table(out, "table7-clean"), "table7-clean")
    (isnet, tol), (unet, _) = (_ours(t7.set_index("method").loc[m]) for m in ("isnet", "unet"))
    assert math.isclose(rec["isnet_minus_unet_psnr"], isnet - unet, rel_tol=0, abs_tol=2 * tol)


def check_blocks(out: Path) -> None:
    _check_means(read_records(out, "04_blocks")["psnr_mean"], _table(out, "table8"), "table8")


def check_pra(out: Path) -> None:
    rec = read_records(out, "05_pra")
    t3 = _table(out, "table3").set_index("method")["ours ratio_to_one_shot"]
    assert rec["latency_ratio_to_one_shot"] == pytest.approx(t3.to_dict(), rel=1e-12)
    paired = _table(out, "pra_paired")
    expected = {f"k{k}": {str(b): d for b, d in zip(g["bucket"], g["mean_diff"])} for k, g in paired.groupby("kernel")}
    assert rec["pra_gain_psnr"] == expected


def check_comparison(out: Path) -> None:
    _check_means(read_records(out, "06_comparison")["psnr_mean"], _table(out, "table5"), "table5")


def check_report(out: Path) -> None:
    rec = read_records(out, "07_report")
    claims = _table(out, "claims")
    assert rec["verdicts"] == {v: int(n) for v, n in claims["verdict"].value_counts().items()}
    tables = {p.stem: pd.read_csv(p) for p in (out / "tables").glob("table*.csv") if p.stem != "table7-clean"}
    cov = report.coverage(tables)
    assert rec["paper_cells"] == {"covered": int(cov.present.sum()), "total": len(cov)}


CHECKS = {"00_quickstart": check_quickstart, "01_search": check_search, "02_loss_ablation": check_loss_ablation,
          "03_architecture": check_architecture, "04_blocks": check_blocks, "05_pra": check_pra,
          "06_comparison": check_comparison, "07_report": check_report}


def test_every_notebook_has_a_record_check():
    assert list(CHECKS) == NOTEBOOKS


@pytest.mark.notebooks
@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_each_notebook_records_the_numbers_its_tables_show(smoke, notebook):
    out, _ = smoke
    assert sorted(p.stem for p in (out / "records").glob("*.json")) == sorted(NOTEBOOKS)
    CHECKS[notebook](out)
