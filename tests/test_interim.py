"""Interim reports of a campaign that trains across sessions (``isnet study --finished-only``, issue 18): nothing is
trained, the finished runs are used, and a claim is judged only once every seed its rows are designed to have has
finished ("pending" until then: no verdict read off part of the seeds)."""
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from isnet.cli import main as cli_main
from isnet.study import PROFILES, Study, paper, report
from isnet.study import cli as study_cli
from isnet.study.experiments import table_rows
from isnet.study.runs import FINISHED_ONLY_ENV


def _finish(study, row, seed):
    """A run folder that reads as finished (its summary says it reached the configured iterations)."""
    cfg = study.config_for(row, seed)
    run = Path(cfg.out.dir)
    run.mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps({"iteration": cfg.train.iterations,
                                                  "iterations": cfg.train.iterations}))
    return run


def test_finished_only_uses_the_finished_runs_and_trains_nothing(tmp_path, monkeypatch):
    prof = replace(PROFILES["smoke"], name="smoke-interim", seeds=(0, 1, 2), methods=("isnet", "unet"))
    study = Study(prof, tmp_path, progress=False)
    rows = {r.id: r for r in table_rows("table7", prof) if r.id in prof.methods}
    done = {_finish(study, rows["isnet"], s).name for s in (0, 1)}
    monkeypatch.setenv(FINISHED_ONLY_ENV, "1")

    runs = study.run_rows(list(rows.values()), table="table7")
    assert list(zip(runs.method, runs.seed)) == [("isnet", 0), ("isnet", 1)] and set(runs.run) == done
    assert {p.name for p in (study.dir / "runs").iterdir() if p.is_dir()} == done  # no other run was started
    assert study.seeds_of("table7", "isnet") == [0, 1] and study.seeds_of("table7", "unet") == []
    with pytest.raises(RuntimeError, match="no run of unet .* has finished"):
        study.run_of("table7", "unet")
    with pytest.raises(RuntimeError, match="--finished-only trains nothing"):
        study.train_row(rows["isnet"], 2)
    campaign = study.campaign().set_index(["method", "seed"])
    assert campaign.finished.to_dict() == {("isnet", 0): True, ("isnet", 1): True, ("isnet", 2): False,
                                           ("unet", 0): False, ("unet", 1): False, ("unet", 2): False}
    text = "\n".join(report.campaign_lines(study.campaign()))
    assert "2 of 6 runs" in text and "isnet 2 of 3" in text and "unet 0 of 3" in text
    monkeypatch.delenv(FINISHED_ONLY_ENV)
    assert report.campaign_lines(study.campaign()[study.campaign().finished]) == []  # all finished: no paragraph


def _eq_rows(seeds, gain=1.0):
    rng = np.random.default_rng(0)
    base = rng.normal(24, 2, 40)
    rows = [dict(method="mean-fill", pair_id=f"p{i}", seed=0, bucket="10-20", psnr=b - 4) for i, b in enumerate(base)]
    for seed in seeds:
        for m, g in (("isnet-eq5", gain), ("isnet-eq4", 0.0)):
            rows += [dict(method=m, pair_id=f"p{i}", seed=seed, bucket="10-20", output_spread=0.1,
                          psnr=b + g + rng.normal(0, 0.2)) for i, b in enumerate(base)]
    return pd.DataFrame(rows)


def test_a_claim_is_pending_until_every_designed_seed_has_finished():
    claim = [paper.claim("T5-eq5-vs-eq4")]
    designed = {"isnet-eq5": 4, "isnet-eq4": 4}
    three, four = _eq_rows((0, 1, 2)), _eq_rows((0, 1, 2, 3))
    v3 = report.judge({"table5": three}, claims=claim, designed=designed)[0].iloc[0]
    assert v3.verdict == report.PENDING and v3.effect == "—"  # no effect computed: nothing to peek at
    assert "isnet-eq5 3 of 4 seeds" in v3.why and "isnet-eq4 3 of 4 seeds" in v3.why
    v4 = report.judge({"table5": four}, claims=claim, designed=designed)[0].iloc[0]
    assert v4.verdict == "reproduced", v4.evidence
    # A design too small for a verdict is not waited for: the claim is not tested.
    two = report.judge({"table5": _eq_rows((0, 1))}, claims=claim, designed={"isnet-eq5": 2, "isnet-eq4": 2})[0]
    assert two.iloc[0].verdict == report.NOT_TESTED and "2 seed(s) < 3" in two.iloc[0].why
    # A finished seed that already fails a sanity gate settles the claim before the others finish: not tested.
    grid = three.assign(hole_checkerboard=[3.0 if (m == "isnet-eq5" and s == 1) else 1.0
                                           for m, s in zip(three.method, three.seed)])
    gated = report.judge({"table5": grid}, claims=claim, designed=designed)[0].iloc[0]
    assert gated.verdict == report.NOT_TESTED and "isnet-eq5 (seed 1) prints a pixel grid" in gated.why
    assert gated.effect == "—" and "3 of 4 seeds" in gated.evidence
    overview = report.claims_overview(pd.DataFrame([gated, v3]))  # the reader sees which "not tested" it is
    assert list(overview["verdict"]) == ["**not tested: a sanity gate failed**", f"**{report.PENDING}**"]
    assert "Verdict: **not tested: a sanity gate failed** — sanity gate: isnet-eq5 (seed 1)" in \
        report.claim_markdown(pd.DataFrame([gated]), pd.DataFrame(columns=["claim", "n_pairs"]))
    text = report.conclusion(report.judge({"table5": three}, claims=claim, designed=designed)[0], "ablation",
                             (0, 1, 2, 3))
    assert "1 is pending (T5-eq5-vs-eq4: isnet-eq5 3 of 4 seeds" in text


def test_study_judges_with_its_designed_seeds(tmp_path):
    prof = replace(PROFILES["laptop"], name="laptop-eq", seeds=(0, 1, 2, 3), min_seeds=3,
                   methods=("isnet-eq5", "isnet-eq4"), resolves=("T5-eq5-vs-eq4",))
    study = Study(prof, tmp_path, progress=False)
    v = study.claim_verdicts({"table5": _eq_rows((0, 1, 2))}).set_index("claim").loc["T5-eq5-vs-eq4"]
    assert v.verdict == report.PENDING and "3 of 4 seeds" in v.why


def test_the_cli_passes_finished_only(monkeypatch):
    seen = {}
    monkeypatch.setattr(study_cli, "run_study", lambda *a, **k: seen.update(k))
    assert cli_main(["study", "--profile", "smoke", "--finished-only"]) == 0
    assert seen["finished_only"] is True


def test_finished_only_reads_the_stored_search_and_runs_no_trial(tmp_path, monkeypatch):
    import optuna

    prof = replace(PROFILES["smoke"], name="smoke-interim-search")
    study = Study(prof, tmp_path, progress=False)
    monkeypatch.setenv(FINISHED_ONLY_ENV, "1")
    assert study.search() is None  # no stored search: Table 1 "not run"
    storage = f"sqlite:///{(study.dir / 'optuna.db').resolve()}"
    optuna.create_study(study_name=f"{prof.name}-loss-weights", storage=storage).add_trial(
        optuna.trial.create_trial(value=1.0, params={}, distributions={}))
    found = study.search()
    assert found is not None and len(found.trials) == 1  # as stored: nothing was trained
    assert not (study.dir / "search-runs").exists()
