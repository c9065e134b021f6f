"""The project's own files agree with each other: pyproject, environment.yml, the CLI, the README."""
import re
import subprocess
import sys
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import pytest
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
