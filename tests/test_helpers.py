"""The package's one helper per shared concept: JSON lines (``isnet.io``) and Markdown tables (``isnet.markdown``)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from isnet.bench import table3
from isnet.markdown import markdown_table
from isnet.engine.runlog import JsonlLog
from isnet.io import append_jsonl, read_jsonl


def test_append_jsonl_one_line_per_record_read_back(tmp_path):
    path = tmp_path / "new" / "log.jsonl"  # the folder is made
    append_jsonl(path, {"a": 1, "p": tmp_path})
    append_jsonl(path, {"a": 2, "x": np.float32(0.5)}, default=float)
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["p"] == str(tmp_path)
    assert read_jsonl(path) == [{"a": 1, "p": str(tmp_path)}, {"a": 2, "x": 0.5}]
    with open(path, "a") as f:
        f.write('{"a": 3, "tor')  # a writer killed mid-line
    assert [r["a"] for r in read_jsonl(path)] == [1, 2]
    with pytest.raises(ValueError, match="log.jsonl:3"):
        read_jsonl(path, torn_tail=False)


def test_run_log_appends_through_append_jsonl_and_truncates(tmp_path):
    log = JsonlLog(tmp_path / "metrics.jsonl")
    for it in (1, 2, 3):
        log.write({"iteration": it, "loss": np.float32(it / 2)})
    assert [r["loss"] for r in read_jsonl(log.path)] == [0.5, 1.0, 1.5]
    log.truncate_after(2)
    assert [r["iteration"] for r in read_jsonl(log.path)] == [1, 2]
    off = JsonlLog(tmp_path / "off.jsonl", enabled=False)
    off.write({"iteration": 1})
    assert not off.path.exists()


def test_markdown_table_rule_escaping_and_empty_cells():
    text = markdown_table(["a|b", "c", "d"], [[1, "x", ""], [2.5, "", "z"]])
    assert text == "| a\\|b | c | d |\n|---|---|---|\n| 1 | x |  |\n| 2.5 |  | z |\n"


def test_bench_tables_go_through_the_one_writer():
    rows = [dict(path="authors", it_per_s=2.0, images_per_s=16.0, ms_per_step=500.0, gflop_per_step=100.0,
                 gflops=200.0), dict(path="fast", skipped="no gpu")]
    assert table3.format_training(rows).splitlines() == [
        "| path | it/s | images/s | ms/step | speed-up vs the authors' path | GFLOP/step | GFLOP/s |",
        "|---|---|---|---|---|---|---|",
        "| authors | 2.00 | 16.0 | 500.0 | 1.00× | 100.0 | 200.0 |",
        "| fast | no gpu |  |  |  |  |  |"]
