"""The study: notebooks are thin and clean, runs are shared by configuration, and the smoke study
runs end to end under papermill with every table and figure, the paper's numbers beside ours."""
import json
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from isnet import paper, report
from isnet.study import NOTEBOOKS, PROFILES, NotebookFailed, Study, notebook_dir, run_study, table_rows

ROOT = Path(__file__).resolve().parents[1]


def test_notebooks_are_committed_without_outputs_and_have_a_parameters_cell():
    for name in NOTEBOOKS:
        nb = nbformat.read(notebook_dir() / f"{name}.ipynb", as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), f"{name} carries outputs"
        assert "parameters" in code[0].metadata.get("tags", []), f"{name}: first code cell must be tagged parameters"
        assert 'profile = "smoke"' in code[0].source
        longest = max(len(c.source.splitlines()) for c in code)
        assert longest <= 25, f"{name}: a {longest}-line cell; move logic into the isnet package"


def test_runs_are_keyed_by_configuration_and_shared_across_tables(tmp_path):
    s = Study("smoke", results_dir=tmp_path, progress=False)
    rows = {t: {r.id: r for r in table_rows(t, s.profile)} for t in ("table2", "table5", "table7", "table8")}
    b = s.profile.blocks
    same = [s.config_for(rows["table7"]["isnet"], 0), s.config_for(rows["table8"][f"isnet-b{b}"], 0),
            s.config_for(rows["table5"]["isnet-eq5"], 0), s.config_for(rows["table2"]["table2-row7"], 0)]
    assert len({c.out.dir for c in same}) == 1  # Eq. (5) = Table 2 row 7: one run serves four tables
    other = {s.config_for(rows["table2"]["table2-row5"], 0).out.dir, s.config_for(rows["table7"]["isnet"], 1).out.dir,
             s.config_for(rows["table5"]["isnet-eq4"], 0).out.dir}
    assert len(other) == 3 and same[0].out.dir not in other


def test_every_table_row_has_the_paper_method_name():
    prof = PROFILES["laptop"]
    for table, number in (("table2", 2), ("table7", 7), ("table8", 8)):
        assert [r.id for r in table_rows(table, prof)] == list(paper.table(number).method)
    ids = {r.id for r in table_rows("table5", prof)}
    assert {"isnet-eq4", "isnet-eq5"} <= ids and ids <= set(paper.table5().method) | {"unet"}


def test_profiles_never_use_test_backbones_and_scale_as_documented():
    from isnet.features import BACKBONES
    for name, prof in PROFILES.items():
        assert not BACKBONES[prof.base.loss.loss_weights().backbone].for_tests, name
    assert len(PROFILES["laptop"].seeds) >= 3
    paper_base = PROFILES["paper"].base
    assert (paper_base.data.size, paper_base.model.width, paper_base.model.blocks) == (256, 1.0, 4)
    assert PROFILES["paper"].pra_kernels == (15, 9)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    records = run_study("smoke", results_dir=results)
    return results / "smoke", records


@pytest.mark.notebooks
def test_smoke_study_makes_every_table_and_figure(smoke):
    out, records = smoke
    assert [r["notebook"] for r in records] == NOTEBOOKS and all(r["status"] == "ran" for r in records)
    for name in NOTEBOOKS:
        executed = nbformat.read(out / "notebooks" / f"{name}.ipynb", as_version=4)
        assert any(c.get("outputs") for c in executed.cells if c.cell_type == "code"), name
    tables = {p.stem: pd.read_csv(p) for p in (out / "tables").glob("table*.csv")}
    assert {f"table{n}" for n in range(1, 9)} <= set(tables)
    for name in ("figure5_loss_rows", "figure6_pra_steps", "figure7_large_holes", "figure8_comparison",
                 "search_history"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 2000, name
    env = json.loads((out / "env.json").read_text())
    assert env["profile"]["name"] == "smoke" and env["feature_weights"]["backbone"] == "vgg16-hed"
    assert env["packages"]["torch"] and "git_commit" in env
    claims = pd.read_csv(out / "tables" / "claims.csv")
    assert set(claims.claim) == {c.id for c in paper.CLAIMS}
    assert set(claims.verdict) <= {"reproduced", "not reproduced", "inconclusive"}
    md = (out / "tables" / "table7.md").read_text()
    assert "profile: smoke" in md and "feature weights: vgg16-hed" in md


@pytest.mark.notebooks
def test_report_covers_every_row_and_column_of_the_paper_tables(smoke):
    out, _ = smoke
    tables = {p.stem: pd.read_csv(p) for p in (out / "tables").glob("table*.csv") if p.stem != "table7-clean"}
    cov = report.coverage(tables)
    assert set(cov.table) == {1, 2, 3, 5, 6, 7, 8}
    assert cov.present.all(), cov[~cov.present].to_string()


@pytest.mark.notebooks
def test_resume_skips_finished_notebooks_and_never_retrains(smoke):
    out, _ = smoke
    ckpts = sorted((out / "runs").glob("*/checkpoints/iter_*.pt"))
    stamps = {p: p.stat().st_mtime_ns for p in ckpts}
    records = run_study("smoke", results_dir=out.parent, resume=True)
    assert all(r["status"].startswith("skipped") for r in records)
    s = Study("smoke", results_dir=out.parent, progress=False)
    s.run_table("table8")  # a table re-run reuses every finished run folder
    assert {p: p.stat().st_mtime_ns for p in ckpts} == stamps


def test_a_failing_notebook_keeps_its_partial_copy_and_names_the_cell(tmp_path):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    nb = nbformat.read(notebook_dir() / "00_quickstart.ipynb", as_version=4)
    nb.cells = nb.cells[:3] + [nbformat.v4.new_code_cell("print('before')"),
                              nbformat.v4.new_code_cell("raise RuntimeError('boom')")]
    nbformat.write(nb, nbs / "00_quickstart.ipynb")
    # execution count 5: papermill adds an injected-parameters cell after the parameters cell
    with pytest.raises(NotebookFailed, match=r"00_quickstart failed in cell \[5\] of the executed copy \(RuntimeError: boom\)"):
        run_study("smoke", only=["quickstart"], results_dir=tmp_path / "res", notebooks=nbs)
    partial = nbformat.read(tmp_path / "res" / "smoke" / "notebooks" / "00_quickstart.ipynb", as_version=4)
    assert "before" in "".join(o.get("text", "") for c in partial.cells if c.cell_type == "code" for o in c.outputs)


def test_unknown_notebook_and_profile_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="02_loss_ablation"):
        run_study("smoke", only=["nonsense"], results_dir=tmp_path)
    with pytest.raises(ValueError, match="laptop"):
        Study("huge", results_dir=tmp_path)
