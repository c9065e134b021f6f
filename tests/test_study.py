"""The study: notebooks are thin and clean, runs are shared by configuration, and the smoke study
runs end to end under papermill with every table and figure, the paper's numbers beside ours."""
import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from isnet.study import paper, report
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
    from isnet.method.features import BACKBONES
    for name, prof in PROFILES.items():
        assert not BACKBONES[prof.base.loss.loss_weights().backbone].for_tests, name
    assert len(PROFILES["laptop"].seeds) >= 2 and len(PROFILES["night"].seeds) >= 3
    paper_base = PROFILES["paper"].base
    assert (paper_base.data.size, paper_base.model.width, paper_base.model.blocks) == (256, 1.0, 4)
    assert PROFILES["paper"].pra_kernels == (15, 9)


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
    assert set(claims.verdict) <= {"reproduced", "not reproduced", "inconclusive", "not tested at this scale"}
    # smoke: one seed and two pairs per bucket resolve nothing (issue 11 item 5, issue 9 item 6)
    assert set(claims.verdict) == {"not tested at this scale"}, claims[["claim", "verdict", "evidence"]]
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


# ----------------------------------------------------------------------------------------- issue 11
FIGURE_CALLS = ("sample_grid(", "sample_figure(", "pra_strip(", "training_curves(", "bucket_metric_plot(",
                "search_figures(")
NOISE = ("IProgress", "without encryption", "KeyboardInterrupt", "it/s]", "s/it]", "\r")


@pytest.mark.notebooks
def test_executed_notebooks_show_every_figure_inline_and_no_progress_noise(smoke):
    out, _ = smoke
    n_figures = 0
    for name in NOTEBOOKS:
        executed = nbformat.read(out / "notebooks" / f"{name}.ipynb", as_version=4)
        for i, cell in enumerate(c for c in executed.cells if c.cell_type == "code"):
            makes_figure = "figure" in cell.metadata.get("tags", []) or any(f in cell.source for f in FIGURE_CALLS)
            pngs = [o for o in cell.outputs if "image/png" in o.get("data", {})]
            if makes_figure:
                assert pngs, f"{name} cell {i} makes a figure but shows no image/png output:\n{cell.source}"
                n_figures += len(pngs)
            for o in cell.outputs:
                text = o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
                assert o.get("name") != "stderr", f"{name} cell {i} writes to stderr (a warning?): {text[:300]}"
                assert not (text.startswith("<Figure size") and "image/png" not in o.get("data", {})), \
                    f"{name} cell {i}: a figure printed as text"
                noise = [n for n in NOISE if n in text]
                assert not noise, f"{name} cell {i}: progress or kernel noise {noise} in the notebook: {text[:300]}"
    assert n_figures >= 12


@pytest.mark.notebooks
def test_a_notebook_opened_in_notebooks_folder_reuses_the_runs_and_writes_nothing_there(smoke, tmp_path,
                                                                                      monkeypatch):
    import papermill as pm

    out, _ = smoke
    nb_dir = notebook_dir()
    before = {p: p.stat().st_mtime_ns for p in nb_dir.rglob("*")}
    ckpts = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/checkpoints/*.pt")}
    runs = {p.name for p in (out / "runs").iterdir()}
    monkeypatch.setenv("ISNET_RESULTS", str(out.parent))  # what a user sets (or the project's results/ default)
    monkeypatch.delenv("ISNET_PROGRESS", raising=False)
    pm.execute_notebook(str(nb_dir / "04_blocks.ipynb"), str(tmp_path / "04_blocks.ipynb"), cwd=str(nb_dir),
                        parameters={"profile": "smoke"}, progress_bar=False, log_output=False)
    assert {p: p.stat().st_mtime_ns for p in nb_dir.rglob("*")} == before, "the notebook wrote under notebooks/"
    assert {p.name for p in (out / "runs").iterdir()} == runs, "the notebook trained new runs"
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/checkpoints/*.pt")} == ckpts


@pytest.mark.notebooks
def test_run_index_timings_checkpoints_and_relative_search_paths(smoke):
    import optuna

    out, _ = smoke
    index = pd.read_csv(out / "runs" / "index.csv", dtype={"run": str})
    for table in ("table2", "table5", "table7", "table7-clean", "table8"):
        assert set(index[index.table == table].method) == {r.id for r in table_rows(table, PROFILES["smoke"])}
    assert (index.status == "finished").all() and index.final_psnr.notna().all()
    assert all((out / "runs" / r).is_dir() for r in index.run)
    for run in {p.parent for p in (out / "runs").glob("*/summary.json")}:
        assert [p.name for p in (run / "checkpoints").glob("*.pt")] == sorted(
            p.name for p in (run / "checkpoints").glob("iter_*.pt")) and len(list((run / "checkpoints").glob("*.pt"))) == 1, run
    timings = [json.loads(line) for line in (out / "timings.jsonl").read_text().splitlines()]
    assert [t["notebook"] for t in timings[:9]] == NOTEBOOKS + ["(study)"]
    assert timings[8]["runs_trained"] > 0 and all(t["seconds"] > 0 for t in timings[:9])
    storage = optuna.storages.RDBStorage(f"sqlite:///{out / 'optuna.db'}")
    trials = optuna.load_study(study_name="smoke-loss-weights", storage=storage).trials
    paths = [t.user_attrs["run_dir"] for t in trials]
    assert paths and all(not Path(p).is_absolute() and (out / p / "summary.json").exists() for p in paths)
    t7 = pd.read_csv(out / "tables" / "table7.csv")
    t7 = t7[t7["paper PSNR"].notna()]  # the paper's four models (mean-fill, ours only, has no parameters)
    trained, width1 = t7["ours parameters (exact count)"], t7["parameters at width 1 (exact count)"]
    assert (trained < width1).all() and (t7["trained width"] == 0.25).all()
    t3 = pd.read_csv(out / "tables" / "table3.csv").set_index("method")
    assert t3.loc["isnet", "ours passes"] == 1 and t3.loc["isnet-pra", "ours passes"] >= 1
    assert (t3["ours repeats"].dropna() >= 5).all()


def test_run_index_drops_a_row_whose_run_an_earlier_recipe_trained(tmp_path):
    """The index names, per method and seed, the run the profile trains now: a row left from an earlier recipe (its
    folder kept, its config hash another) is dropped, the current rows and other methods' rows stay."""
    from isnet.study import Study

    study = Study("smoke", results_dir=tmp_path, progress=False)
    camp = study.campaign()
    cur = camp.iloc[0]
    rows = [{"table": "table7", "method": cur.method, "label": "x", "seed": int(cur.seed), "run": cur.run},
            {"table": "table5", "method": cur.method, "label": "x", "seed": int(cur.seed), "run": "0123456789ab"},
            {"table": "table9", "method": "not-a-trained-row", "label": "y", "seed": 0, "run": "ba9876543210"}]
    study.update_index(rows)
    index = pd.read_csv(study.dir / "runs" / "index.csv", dtype={"run": str})
    assert sorted(index.run) == sorted([cur.run, "ba9876543210"])


def test_results_folder_comes_from_the_project_or_the_environment(tmp_path, monkeypatch):
    from isnet.study import project_root, results_root

    monkeypatch.delenv("ISNET_RESULTS", raising=False)
    monkeypatch.chdir(tmp_path)
    assert results_root() == project_root() / "results" == ROOT / "results"
    assert results_root("elsewhere") == ROOT / "elsewhere"
    assert results_root(tmp_path / "abs") == tmp_path / "abs"
    monkeypatch.setenv("ISNET_RESULTS", str(tmp_path / "env"))
    assert results_root() == tmp_path / "env" and Study("smoke", progress=False).dir == tmp_path / "env" / "smoke"


def test_terminal_ticker_shows_run_i_of_n_iteration_and_eta(tmp_path):
    from isnet.study.driver import _RunTicker

    class Bar:
        text = ""

        def set_postfix_str(self, text, refresh=True):
            Bar.text = text

    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text("".join(json.dumps({"iteration": i, "g_total": 1.0}) + "\n" for i in (3, 6)))
    events = tmp_path / "progress.jsonl"
    now = __import__("time").time()
    events.write_text(json.dumps({"event": "run", "t": now - 30, "i": 1, "n": 3, "method": "isnet-b1", "seed": 0,
                                  "run": str(run / "done"), "iterations": 12, "reused": False}) + "\n"
                      + json.dumps({"event": "run_done", "t": now - 20, "i": 1, "n": 3, "seconds": 10.0,
                                    "reused": False}) + "\n"
                      + json.dumps({"event": "run", "t": now - 6, "i": 2, "n": 3, "method": "isnet-b2", "seed": 0,
                                    "run": str(run), "iterations": 12, "reused": False}) + "\n")
    ticker = _RunTicker(events, Bar())
    ticker.notebook = "04_blocks"
    text = ticker.poll()
    assert text.startswith("04_blocks · run 2/3 isnet-b2 seed 0 · it 6/12 · ETA run 0:0")
    assert "table ≈ 0:10 more" in text


def test_a_profile_trains_only_its_methods_and_marks_the_rest_not_run(tmp_path):
    """Depth before breadth: a profile's ``methods`` restricts what any table trains; the paper's other rows
    stay in the table as "not run"."""
    from dataclasses import replace

    profile = replace(PROFILES["smoke"], name="smoke-narrow", methods=("isnet",))
    study = Study(profile, tmp_path, progress=False)
    result = study.run_table("table8")  # rows isnet-b1..b4: none is in the profile's methods
    assert result.runs.empty
    assert not list((tmp_path / "smoke-narrow" / "runs").glob("*/summary.json"))
    text = result.table.to_string()
    assert "not run" in text and "mean-fill" in text
    # the notebooks' figures of such a table are skipped, not a missing-file error
    assert study.sample_figure(list(result.runs.method.unique()), "figure_none", "t") is None
    assert not (tmp_path / "smoke-narrow" / "figures" / "figure_none.png").exists()
    runs = pd.DataFrame({"method": ["isnet-eq5", "isnet-eq5"], "seed": [0, 1], "run": ["a", "b"]})
    assert study.comparison_methods(runs) == {"telea": "telea", "ns": "ns", "biharmonic": "biharmonic",
                                              "isnet-eq5": "a", "isnet-eq5-pra": "a"}


def test_table_specs_are_the_one_list_run_table_and_the_report_read(tmp_path):
    """``TABLE_SPECS`` names each table's paper number, keys and metrics once: every key and metric is a column
    of the paper's table, run_table trains exactly the ``trained`` ones, and ``read_tables`` only reads back."""
    from isnet.study import TABLES
    from isnet.study.experiments import TABLE_SPECS

    assert TABLES == {n: s.number for n, s in TABLE_SPECS.items() if s.trained}
    for name, spec in TABLE_SPECS.items():
        theirs = paper.table(spec.number)
        assert set(spec.keys) | set(spec.metrics) <= set(theirs.columns), name
        if spec.trained:
            assert table_rows(name, PROFILES["smoke"])
    study = Study("smoke", results_dir=tmp_path, progress=False)
    with pytest.raises(FileNotFoundError, match="table1"):
        study.read_tables()
    report_names = [n for n, s in TABLE_SPECS.items() if s.in_report]
    for name in report_names:
        pd.DataFrame({"method": ["isnet"], "x": [1.5]}).to_csv(study.dir / "tables" / f"{name}.csv", index=False)
    per_pair = pd.DataFrame({"method": ["isnet"], "pair_id": [0], "bucket": ["10-20"], "seed": [0], "psnr": [20.0]})
    for name in ("table2", "table5", "table7", "table8"):
        per_pair.to_csv(study.dir / "pairs" / f"{name}_per_pair.csv", index=False)
    before = {p.name: p.stat().st_mtime_ns for p in (study.dir / "tables").iterdir()}
    tables, results = study.read_tables()
    assert list(tables) == sorted(report_names) and sorted(results) == ["table2", "table5", "table7", "table8"]
    assert tables["table7"].attrs["paper_table"] == 7 and tables["table6"].attrs["label"] == study.label
    assert {p.name: p.stat().st_mtime_ns for p in (study.dir / "tables").iterdir()} == before


def test_a_profile_resolves_only_claims_it_trains_with_enough_seeds():
    """A profile's ``resolves`` list must be backed by what it trains: every listed claim exists, at least one of
    its comparisons involves only methods the profile trains (the others are "not run at this scale"), and the
    profile has at least ``min_seeds`` (≥ 2: one seed cannot show seed noise) seeds. Otherwise the SUMMARY would
    promise verdicts the study can never give."""
    from isnet.study.claims import UNTRAINED

    ids = {c.id: c for c in paper.CLAIMS}
    for name, prof in PROFILES.items():
        if not prof.resolves:
            continue
        assert prof.min_seeds >= 2 and len(prof.seeds) >= prof.min_seeds, name
        for claim_id in prof.resolves:
            made = [comp for comp in ids[claim_id].comparisons
                    if {comp.a.removesuffix("-pra"), comp.b} - set(UNTRAINED) <= set(prof.methods or (comp.a, comp.b))]
            assert made, (name, claim_id)


def test_each_ablation_recipe_adds_one_change_and_keeps_the_earlier_campaigns_hashes(tmp_path):
    """The ablation profile's recipes (docs/learning.md, "The pixel grid"): laptop keeps the fast recipe;
    ablation-maxpool adds the anti-aliased D and keeps that campaign's committed runs (their config hashes);
    ablation adds the average-pooled loss features, so its runs have their own hashes."""
    rows = {r.id: r for r in table_rows("table5", PROFILES["laptop"])}
    configs = [Study(name, tmp_path, progress=False).config_for(rows["isnet-eq5"], 0)
               for name in ("laptop", "ablation-maxpool", "ablation")]
    added = [[(k, x, y) for k, x, y in a.differences(b, ignore=("out.",))] for a, b in zip(configs, configs[1:])]
    # feature_pool is hashed only when it is not the default max (so the earlier campaigns' hashes stay)
    assert added == [[("model.d_antialias", False, True)], [("loss.weights.feature_pool", None, "avg")]]
    assert len({c.config_hash() for c in configs}) == 3
    assert configs[1].config_hash() == "af7afab01d25"  # results/ablation/runs: ISNet seed 0 of the 2026-12-04 campaign


def test_only_the_ablation_profile_trains_the_resize_unet_and_it_is_parameter_matched():
    """Our resize-convolution UNet-like (claim T7-vs-unet-resize) is a row of the ablation profile's Table 7 only:
    ablation-maxpool keeps its committed design and the paper-scale profiles their rows; its residual blocks are
    re-matched to ISNet's count at the profile's width, as the authors' UNet-like's are."""
    from isnet.models import build_generator, count_parameters

    ids = {name: [r.id for r in table_rows("table7", PROFILES[name])] for name in ("ablation", "ablation-maxpool", "gpu")}
    assert ids["ablation"] == ["isnet-base", "isnet-base-ff", "isnet", "unet", "unet-resize"]
    assert ids["ablation-maxpool"] == ids["gpu"] == ["isnet-base", "isnet-base-ff", "isnet", "unet"]
    rows = {r.id: dict(r.overrides) for r in table_rows("table7", PROFILES["ablation"])}
    width = PROFILES["ablation"].base.model.width
    isnet = count_parameters(build_generator("isnet", blocks=rows["isnet"]["model.blocks"], width=width))
    counts = {m: [count_parameters(build_generator(m, blocks=b, width=width)) for b in range(1, 9)]
              for m in ("unet", "unet-resize")}
    for m in counts:
        chosen = counts[m][rows[m]["model.blocks"] - 1]
        assert abs(chosen - isnet) == min(abs(c - isnet) for c in counts[m])
    # the 3x3 resize-convolutions have fewer weights than the 4x4 transposed convs: one more block makes it up
    assert rows["unet-resize"]["model.blocks"] == rows["unet"]["model.blocks"] + 1
    assert "T7-vs-unet-resize" in PROFILES["ablation"].resolves
    assert "T7-vs-unet-resize" not in PROFILES["ablation-maxpool"].resolves


@pytest.mark.parametrize("first,then", [("laptop-16k", "night")])
def test_a_profile_repeating_anothers_runs_copies_them_instead_of_retraining(tmp_path, first, then):
    """The night profile trains the laptop-16k configuration (same config hashes) and adopts a finished run of it
    from the same results folder; an unfinished one is not adopted."""
    rows = {r.id: r for r in table_rows("table5", PROFILES[then])}
    laptop, night = Study(first, tmp_path, progress=False), Study(then, tmp_path, progress=False)
    for seed in PROFILES[first].seeds[:3]:
        a, b = Path(laptop.config_for(rows["isnet-eq5"], seed).out.dir), Path(night.config_for(rows["isnet-eq5"], seed).out.dir)
        assert a.name == b.name and a.parent.parent.name == first and b.parent.parent.name == then
    from isnet.study.runs import adopt_finished_run

    cfg = laptop.config_for(rows["isnet-eq5"], 0)
    src, iterations = Path(cfg.out.dir), cfg.train.iterations
    (src / "checkpoints").mkdir(parents=True)
    (src / "checkpoints" / f"iter_{iterations:08d}.pt").write_bytes(b"weights")
    (src / "summary.json").write_text(json.dumps({"iteration": iterations - 1, "iterations": iterations}))
    dst = Path(night.config_for(rows["isnet-eq5"], 0).out.dir)
    assert adopt_finished_run(dst, iterations) is None and not dst.exists()  # unfinished: trained, not copied
    (src / "summary.json").write_text(json.dumps({"iteration": iterations, "iterations": iterations}))
    assert adopt_finished_run(dst, iterations) == src
    assert (dst / "checkpoints" / f"iter_{iterations:08d}.pt").read_bytes() == b"weights"
    assert (dst / "COPIED_FROM").read_text().strip() == f"{first}/runs/{src.name}"  # relative: no machine path
    assert not list(dst.parent.glob("*.copying"))
    assert adopt_finished_run(dst, iterations) is None  # already there: nothing copied over it


def test_two_seeds_give_no_verdict_where_the_profile_needs_three(tmp_path):
    """A verdict needs the profile's seeds (3): a clear two-seed win is "pending" (the third seed has not finished,
    tests/test_interim.py); with the third seed the interval decides."""
    from dataclasses import replace

    import numpy as np

    rng = np.random.default_rng(0)
    pairs = [f"p{i}" for i in range(40)]
    base = rng.normal(24, 2, len(pairs))
    rows = []
    for i, p in enumerate(pairs):
        rows.append(dict(method="mean-fill", pair_id=p, seed=0, bucket="10-20", psnr=base[i] - 4))
        for seed in (0, 1, 2):
            for m, gain in (("isnet-eq5", 1.0), ("isnet-eq4", 0.0)):
                rows.append(dict(method=m, pair_id=p, seed=seed, bucket="10-20", output_spread=0.1,
                                 psnr=base[i] + gain + rng.normal(0, 0.2)))
    three = pd.DataFrame(rows)
    prof = replace(PROFILES["laptop"], name="laptop-eq", seeds=(0, 1, 2), min_seeds=3,
                   methods=("isnet-eq5", "isnet-eq4"), resolves=("T5-eq5-vs-eq4",))
    study = Study(prof, tmp_path, progress=False)
    two = three[three.seed < 2]
    v2 = study.claim_verdicts({"table5": two}).set_index("claim").loc["T5-eq5-vs-eq4"]
    v3 = study.claim_verdicts({"table5": three}).set_index("claim").loc["T5-eq5-vs-eq4"]
    assert v2.verdict == report.PENDING and "isnet-eq5 2 of 3 seeds" in v2.why
    assert v3.verdict == "reproduced", v3.evidence


def test_a_profile_without_search_reports_table1_not_run(tmp_path):
    """search_trials = 0 (laptop, night: trials too short to learn): no Optuna study, no trial trained, and
    Table 1 keeps the paper's rows with ours "not run"."""
    from dataclasses import replace

    study = Study(replace(PROFILES["smoke"], name="smoke-nosearch", search_trials=0), tmp_path, progress=False)
    assert study.search() is None
    table = study.table1(None)
    assert len(table) == len(paper.table1()) and (table.filter(like="ours PSNR").iloc[:, 0] == "not run").all()
    assert (tmp_path / "smoke-nosearch" / "tables" / "table1.csv").exists()
    assert not (tmp_path / "smoke-nosearch" / "search-runs").exists()
    assert PROFILES["laptop"].search_trials == 0 and PROFILES["gpu"].search_iterations == 3200
