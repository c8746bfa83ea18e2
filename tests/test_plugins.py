"""Stages from another package: an installed entry point, `plugins:` in a pipeline file,
`run --plugin`, in worker processes and on the Ray engine.

The plugin is a separate package, tests/data/plugin_pkg (`question_marks`, the example of
docs/writing-a-stage.md). "Installed" is an install directory made the way pip lays one out
(the package plus its ``.dist-info`` with ``entry_points.txt``), put on PYTHONPATH, so the test
needs no build tool and no network.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import SAMPLE, TEST_DATA, pipeline_file, run_cli

PLUGIN = TEST_DATA / "plugin_pkg"
PLUGIN_SRC = PLUGIN / "src"
PIPE = """
stages:
  - stage: question_marks
    max_ratio: 0.05
  - stage: doc_length
"""
# Documents of the sample where more than 5% of lines end in "?", counted independently of
# the stage with Python string methods.
QUESTION_HEAVY = sorted(
    r["id"] for r in pq.read_table(SAMPLE).to_pylist()
    if sum(line.rstrip().endswith("?") for line in r["text"].split("\n"))
    / len(r["text"].split("\n")) > 0.05)


def _env(*paths: Path) -> dict[str, str]:
    return {"PYTHONPATH": os.pathsep.join([*map(str, paths),
                                           os.environ.get("PYTHONPATH", "")])}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The plugin package laid out as pip installs it: package + dist-info entry points."""
    site = tmp_path_factory.mktemp("site")
    shutil.copytree(PLUGIN_SRC / "cf_question_marks", site / "cf_question_marks")
    info = site / "cf_question_marks-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cf-question-marks\n"
                                   "Version: 0.1.0\n")
    (info / "entry_points.txt").write_text(
        "[corpusfilter.stages]\nquestion_marks = cf_question_marks\n")
    return site


@pytest.fixture(scope="module")
def pipe(tmp_path_factory) -> Path:
    return pipeline_file(tmp_path_factory, PIPE)


def _removed(out: Path) -> list[str]:
    ledger = pq.read_table(out / "ledger" / "web_sample.parquet")
    return sorted(r["doc_id"] for r in ledger.to_pylist() if r["stage"] == "question_marks")


def test_the_sample_has_question_heavy_documents():
    assert 5 <= len(QUESTION_HEAVY) <= 50


def test_installed_entry_point_stage_runs_from_yaml_and_is_listed(installed, pipe, tmp_path):
    out = tmp_path / "out"
    run_cli("run", str(pipe), str(SAMPLE), "-o", str(out), "--no-progress", "-q",
            env=_env(installed))
    assert _removed(out) == QUESTION_HEAVY
    assert run_cli("verify", str(out), env=_env(installed)).returncode == 0
    listed = run_cli("stages", "question_marks", env=_env(installed)).stdout
    assert "question_marks@1" in listed and "plugin cf_question_marks" in listed
    assert "max_ratio = 0.5" in listed


def test_plugins_key_names_a_module_on_the_path(pipe, tmp_path):
    p = tmp_path / "with_plugin.yaml"
    p.write_text("plugins: [cf_question_marks]\n" + PIPE)
    out = tmp_path / "out"
    run_cli("run", str(p), str(SAMPLE), "-o", str(out), "--no-progress", "-q", "--workers",
            "2", env=_env(PLUGIN_SRC))
    assert _removed(out) == QUESTION_HEAVY
    assert json.loads((out / "run.json").read_text())["config"]["plugins"] == [
        "cf_question_marks"]


def test_plugin_flag_takes_a_py_file_in_worker_processes(pipe, tmp_path):
    stage_file = tmp_path / "my_stages.py"
    shutil.copy(PLUGIN_SRC / "cf_question_marks" / "__init__.py", stage_file)
    out = tmp_path / "out"
    shards = tmp_path / "shards"
    shards.mkdir()
    t = pq.read_table(SAMPLE)
    for i in range(3):  # several shards, so that two spawned workers each import the file
        pq.write_table(t.slice(i * 138, 138), shards / f"web_sample-{i}.parquet")
    run_cli("run", str(pipe), str(shards), "-o", str(out), "--no-progress", "-q",
            "--workers", "2", "--plugin", str(stage_file))
    removed = sorted(r["doc_id"] for p in (out / "ledger").iterdir()
                     for r in pq.read_table(p).to_pylist() if r["stage"] == "question_marks")
    assert removed == QUESTION_HEAVY


def test_unknown_stage_says_how_to_add_a_plugin(pipe, tmp_path):
    proc = run_cli("run", str(pipe), str(SAMPLE), "-o", str(tmp_path / "o"), check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "unknown stage 'question_marks'" in proc.stderr
    assert "plugins:" in proc.stderr and "--plugin" in proc.stderr


def test_missing_plugin_module_is_a_clear_error(pipe, tmp_path):
    proc = run_cli("run", str(pipe), str(SAMPLE), "-o", str(tmp_path / "o"), "--plugin",
                   "no_such_plugin_module", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "plugin module 'no_such_plugin_module' not found" in proc.stderr


@pytest.mark.ray
def test_plugin_stage_on_the_ray_engine(pipe, tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "out"
    run_cli("run", str(pipe), str(SAMPLE), "-o", str(out), "--no-progress", "-q",
            "--engine", "ray", "--workers", "2", "--plugin", "cf_question_marks",
            env={**_env(PLUGIN_SRC), "RAY_ADDRESS": ""})
    assert _removed(out) == QUESTION_HEAVY
    assert json.loads((out / "run.json").read_text())["engine"] == "ray"
