"""Committed results re-score from the committed fp16 generators without training, and committed profiles' results
are refused from a checkout with uncommitted changes unless --allow-dirty (issue 19)."""
import json
import shutil

import pandas as pd
import pytest

from isnet.cli import main as cli_main
from isnet.study import Study, provenance, rescore
from isnet.study.experiments import table_rows


def test_set_aside_and_compare_say_which_scores_were_reproduced(tmp_path):
    run = tmp_path / "runs" / "abc"
    run.mkdir(parents=True)
    (run / "generator-fp16.pt").write_bytes(b"w")
    pd.DataFrame({"pair": ["a", "b"], "psnr": [20.0, 21.0]}).to_csv(run / "eval-1.csv", index=False)
    pd.DataFrame({"pair": ["a", "b"], "psnr": [20.0, 21.0]}).to_csv(run / "eval-pra5-1.csv", index=False)
    (run / "spread-1.json").write_text("{}")
    nogen = tmp_path / "runs" / "old"
    nogen.mkdir()
    (nogen / "eval-1.csv").write_text("x")
    moved = rescore.set_aside(tmp_path)
    assert len(moved) == 3 and not list(run.glob("eval-*.csv")) and (nogen / "eval-1.csv").exists()
    pd.DataFrame({"pair": ["a", "b"], "psnr": [20.0, 21.0]}).to_csv(run / "eval-1.csv", index=False)  # identical
    pd.DataFrame({"pair": ["a", "b"], "psnr": [20.0, 21.5]}).to_csv(run / "eval-pra5-1.csv", index=False)
    out = rescore.compare(tmp_path).set_index("file")
    assert bool(out.loc["eval-1.csv", "identical"]) and not out.loc["eval-pra5-1.csv", "identical"]
    assert out.loc["eval-pra5-1.csv", "max_abs_diff_psnr"] == pytest.approx(0.5)
    assert not bool(out.loc["spread-1.json", "recomputed"]) and not (run / rescore.ASIDE).exists()
    assert (run / "spread-1.json").read_text() == "{}"  # not recomputed: put back


def test_a_rescore_never_trains(tmp_path, monkeypatch):
    monkeypatch.setenv(rescore.RESCORE_ENV, "1")
    study = Study("smoke", tmp_path, progress=False)
    row = table_rows("table8", study.profile)[0]
    with pytest.raises(RuntimeError, match="--rescore trains nothing"):
        study.train_row(row, 0)
    assert not (tmp_path / "smoke" / "runs").exists() or not any((tmp_path / "smoke" / "runs").iterdir())


def test_committed_profiles_refuse_a_dirty_checkout_unless_allowed(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(provenance, "changed_files", lambda: ["isnet/models/isnet.py"])
    rc = cli_main(["study", "--profile", "laptop", "--results", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and "uncommitted changes" in err and "--allow-dirty" in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())  # nothing written
    assert provenance.require_clean_tree("smoke")["uncommitted_changes"] == ["isnet/models/isnet.py"]
    record = provenance.require_clean_tree("laptop", allow_dirty=True)
    assert record == {"uncommitted_changes": ["isnet/models/isnet.py"], "allow_dirty": True}
    monkeypatch.setattr(provenance, "changed_files", lambda: [])
    assert provenance.require_clean_tree("laptop")["uncommitted_changes"] == []


@pytest.mark.notebooks
def test_rescore_reproduces_the_smoke_study_scores_from_its_generators(smoke, tmp_path):
    """The smoke study re-scored from its runs' generator-fp16.pt: every per-run score file recomputed is identical,
    nothing is trained, and every run that was scored has its committed generator with a sha256 record."""
    from isnet.study import run_study

    folder, _ = smoke
    copy = tmp_path / "results" / "smoke"
    shutil.copytree(folder, copy)
    gens = sorted(copy.glob("runs/*/generator-fp16.pt"))
    assert gens and all(json.loads(g.with_suffix(".json").read_text())["sha256"] for g in gens)
    for ckpt_dir in copy.glob("runs/*/checkpoints"):
        shutil.rmtree(ckpt_dir)  # a clean checkout has no checkpoints: the generators must suffice
    before = {p.relative_to(copy): p.stat().st_mtime_ns for p in copy.glob("runs/*/eval-*.csv")}
    run_study("smoke", results_dir=tmp_path / "results", only=["06_comparison"], rescore=True)
    assert set(before) == {p.relative_to(copy) for p in copy.glob("runs/*/eval-*.csv")}  # none lost
    recomputed = [rel for rel, t in before.items() if (copy / rel).stat().st_mtime_ns != t]
    assert recomputed  # Table 5's rows were scored again from the generators
    timings = [json.loads(line) for line in (copy / "timings.jsonl").read_text().splitlines()]
    assert timings[-1]["runs_trained"] == 0
    for rel in before:
        assert (copy / rel).read_bytes() == (folder / rel).read_bytes(), rel
