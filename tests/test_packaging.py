"""The project's own files agree with each other: pyproject, environment.yml, the CLI, the README."""
import re
import subprocess
import sys

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_TO_PIP = {"pytorch": "torch"}  # conda-forge package names that differ from PyPI's


def _name_and_bound(spec: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", spec)
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pip_side = dict(_name_and_bound(d) for d in deps)
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_side = {}
    for entry in env["dependencies"]:
        specs = entry["pip"] if isinstance(entry, dict) else [entry]
        for spec in specs:
            name, bound = _name_and_bound(spec)
            if name in ("python", "pip"):
                continue
            conda_side[CONDA_TO_PIP.get(name, name)] = bound
    assert conda_side == pip_side


def test_dependencies_have_lower_bounds_only():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for d in deps:
        assert ">=" in d and "<" not in d.replace(">=", "") and "==" not in d, d


def test_cli_help_and_version():
    out = subprocess.run([sys.executable, "-m", "isnet", "--version"], capture_output=True, text=True, check=True)
    import isnet
    assert out.stdout.strip() == f"isnet {isnet.__version__}"
    out = subprocess.run([sys.executable, "-m", "isnet", "--help"], capture_output=True, text=True, check=True)
    assert "bench" in out.stdout


def test_every_cli_module_registers_itself():
    import importlib

    from isnet.cli import COMMAND_MODULES
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        assert callable(getattr(mod, "add_cli", None)), f"{name} is listed in isnet.cli but has no add_cli()"


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:sh|bash)?\n(.*?)```", readme, re.S)
    first = [line for line in blocks[0].splitlines() if line.strip() and not line.startswith("#")]
    assert first == ["make study", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test\b", ci, re.M)


def test_bench_model_quick_runs():
    out = subprocess.run([sys.executable, "-m", "isnet", "bench", "model", "--quick", "--bf16", "--channels-last"],
                         capture_output=True, text=True, check=True)
    rows = [line for line in out.stdout.splitlines() if line.startswith("| 1 |")]
    assert [r.split("|")[4].strip() for r in rows] == ["fp32", "channels-last", "bf16", "bf16+cl+fold"]
    assert "1,244,779" in rows[0]


def test_committed_results_name_no_machine_path():
    """Issue 19: every committed result and resource names paths relative to the results folder or the project
    (isnet.study.provenance.make_portable), never a machine's absolute path."""
    import subprocess
    from pathlib import Path

    from isnet.study.provenance import MACHINE_PATH, TEXT_SUFFIXES

    root = Path(__file__).resolve().parents[1]
    try:
        listed = subprocess.run(["git", "ls-files", "results", "isnet/resources"], cwd=root, capture_output=True,
                                text=True, check=True).stdout.split()
        files = [root / f for f in listed]
    except (OSError, subprocess.CalledProcessError):
        files = [p for d in ("results", "isnet/resources") for p in (root / d).rglob("*") if p.is_file()]
    texts = [p for p in files if p.suffix in TEXT_SUFFIXES | {".pt"} and p.is_file() and "smoke" not in p.parts]
    assert len(texts) > 20 and any(p.suffix == ".pt" for p in texts)  # the committed generators hold a config too
    bad = []
    for p in texts:
        for n, line in enumerate(p.read_bytes().decode("latin-1").splitlines(), 1):
            if MACHINE_PATH.search(line):
                bad.append(f"{p.relative_to(root)}:{n}: {line.strip()[:120]}")
    assert not bad, "machine paths in committed files:\n" + "\n".join(bad[:20])


def test_committed_runs_are_finished_with_their_summary_and_ablation_runs_with_their_generator():
    """Only finished runs are committed (a run folder committed mid-training at f8b8e48 carried its machine path and
    no weights): each committed run folder commits the summary.json its end wrote, and every ablation run, whose
    verdicts re-score from committed weights, reached its configured iterations and commits generator-fp16.pt."""
    import json
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    try:
        listed = set(subprocess.run(["git", "ls-files", "results"], cwd=root, capture_output=True, text=True,
                                    check=True).stdout.split())
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: what is committed cannot be told")
    runs = sorted({f.rsplit("/", 1)[0] for f in listed if re.fullmatch(r"results/.+/runs/[0-9a-f]{12}/config\.yaml", f)})
    assert len(runs) > 20
    bad = []
    for run in runs:
        if f"{run}/summary.json" not in listed:
            bad.append(f"{run}: no summary.json committed (unfinished?)")
            continue
        if run.startswith("results/ablation/"):
            summary = json.loads((root / run / "summary.json").read_text())
            if summary["iteration"] != summary["iterations"]:
                bad.append(f"{run}: stopped at {summary['iteration']} of {summary['iterations']}")
            if f"{run}/generator-fp16.pt" not in listed:
                bad.append(f"{run}: no generator-fp16.pt (isnet.study.generators.run_generator)")
    assert not bad, "committed runs that are not finished:\n" + "\n".join(bad)


def test_make_portable_rewrites_paths_under_the_folder_project_and_cache(tmp_path, monkeypatch):
    from isnet.study.provenance import MACHINE_PATH, REPO, make_portable

    monkeypatch.setenv("ISNET_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "results" / "laptop"
    (folder / "runs" / "abc").mkdir(parents=True)
    (folder / "runs" / "abc" / "summary.json").write_text(
        '{"run_dir": "%s", "pairs": "%s/x.csv", "nb": "%s/notebooks/a.ipynb"}'
        % (folder / "runs" / "abc", tmp_path / "cache" / "photos", REPO))
    (folder / "weights.pt").write_bytes(b"\x80binary" + str(folder).encode())
    changed = make_portable(folder)
    text = (folder / "runs" / "abc" / "summary.json").read_text()
    assert [p.name for p in changed] == ["summary.json"]
    assert '"run_dir": "runs/abc"' in text and "$ISNET_CACHE/photos/x.csv" in text and '"notebooks/a.ipynb"' in text
    assert not MACHINE_PATH.search(text)
    assert (folder / "weights.pt").read_bytes().startswith(b"\x80binary/")  # binary files untouched
