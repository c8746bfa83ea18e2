"""The command line: run, verify, stages; resume after a kill; worker-count invariance."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import ROOT, SAMPLE, TWO_PHASE_RECIPE, UNSHARE, pipeline_file, run_cli, write_shards

RECIPE = TWO_PHASE_RECIPE


def _digest(out: Path) -> dict[str, str]:
    """Hashes of every file under data/ and ledger/ (byte identity)."""
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for sub in ("data", "ledger") for p in sorted((out / sub).iterdir())}


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> list[Path]:
    d = tmp_path_factory.mktemp("shards")
    return write_shards(pq.read_table(SAMPLE), d, 8)


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    return pipeline_file(tmp_path_factory, RECIPE)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, shards, recipe) -> Path:
    out = tmp_path_factory.mktemp("ref") / "out"
    run_cli("run", str(recipe), str(shards[0].parent), "-o", str(out), "--no-progress")
    return out


def test_run_writes_layout_and_verifies(reference, shards):
    assert sorted(p.name for p in (reference / "data").iterdir()) == [p.name for p in shards]
    assert sorted(p.name for p in (reference / "ledger").iterdir()) == [p.name for p in shards]
    assert not (reference / "_work").exists()
    run = json.loads((reference / "run.json").read_text())
    assert run["status"] == "complete"
    assert [s["label"] for s in run["stages"]] == ["doc_length", "exact_dedup", "too_long"]
    assert run["stages"][0]["params"]["min_chars"] == 300
    stats = json.loads((reference / "stats.json").read_text())
    assert stats["input"]["docs"] == 414
    kept = sum(pq.read_metadata(p).num_rows for p in (reference / "data").iterdir())
    assert stats["output"]["docs"] == kept
    removed = sum(s["removed"] for s in stats["stages"].values())
    assert kept + removed == 414
    v = run_cli("verify", str(reference))
    assert "OK" in v.stdout and "input documents:   414" in v.stdout


def test_kept_documents_keep_all_input_columns(reference):
    t = pq.read_table(reference / "data")
    assert set(pq.read_schema(SAMPLE).names) <= set(t.schema.names)


def test_verify_catches_a_lost_document(reference, tmp_path):
    out = tmp_path / "tampered"
    shutil.copytree(reference, out)
    f = sorted((out / "data").iterdir())[0]
    t = pq.read_table(f)
    pq.write_table(t.slice(1), f)
    proc = run_cli("verify", str(out), check=False)
    assert proc.returncode == 1
    assert "neither kept nor removed (lost)" in proc.stdout
    assert t["id"][0].as_py() in proc.stdout


def test_rerun_of_complete_run_does_nothing_and_other_config_is_refused(reference, shards,
                                                                         recipe, tmp_path):
    before = _digest(reference)
    proc = run_cli("run", str(recipe), str(shards[0].parent), "-o", str(reference),
                   "--no-progress", "-q")
    assert "nothing to do" in proc.stderr
    assert _digest(reference) == before
    other = tmp_path / "other.yaml"
    other.write_text(RECIPE.replace("300", "301"))
    proc = run_cli("run", str(other), str(shards[0].parent), "-o", str(reference), check=False)
    assert proc.returncode == 2
    assert "different pipeline, settings or engine" in proc.stderr


def test_workers_and_batch_size_do_not_change_output(reference, shards, recipe, tmp_path):
    out = tmp_path / "w2"
    run_cli("run", str(recipe), str(shards[0].parent), "-o", str(out), "--workers", "2",
            "--batch-size", "7", "--no-progress", "-q")
    assert _digest(out) == _digest(reference)


def test_kill_mid_run_then_resume_is_byte_identical(reference, shards, recipe, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "corpusfilter.cli", "run", str(recipe),
           str(shards[0].parent), "-o", str(out), "--no-progress", "-q", "--batch-size", "5"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    work = out / "_work" / "seg-0"
    deadline = time.time() + 120
    while time.time() < deadline:
        if work.exists() and len(list(work.glob("*.done"))) >= 3:
            break
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = {p.name for p in work.glob("*.done")}
    assert 3 <= len(done_before) < 8 or (out / "run.json").exists()
    assert not (out / "run.json").exists(), "killed too late to test resume"
    # no visible partial output: every non-temporary parquet file in _work is readable
    for p in work.glob("*.parquet"):
        pq.read_metadata(p)
    resumed = run_cli("run", str(recipe), str(shards[0].parent), "-o", str(out),
                      "--no-progress", "-q")
    assert "resuming" in resumed.stderr
    for name in done_before:
        assert f"shard {name[:-5]} already done" in resumed.stderr
    assert _digest(out) == _digest(reference)
    assert not list(out.rglob("*.tmp"))
    assert run_cli("verify", str(out)).returncode == 0


def test_stages_lists_parameters_and_defaults():
    proc = run_cli("stages")
    assert "doc_length@1" in proc.stdout and "exact_dedup@1" in proc.stdout
    assert "min_chars = 1" in proc.stdout
    assert "keep = 'smallest_id'" in proc.stdout
    assert "recipes: " in proc.stdout and "default" in proc.stdout


def test_unknown_stage_and_parameter_errors_name_the_valid_ones(tmp_path, shards):
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages:\n  - stage: doc_lenght\n")
    proc = run_cli("run", str(bad), str(shards[0]), "-o", str(tmp_path / "o"), check=False)
    assert proc.returncode == 2
    assert "unknown stage 'doc_lenght' (did you mean 'doc_length'?)" in proc.stderr
    assert "exact_dedup" in proc.stderr and "Traceback" not in proc.stderr
    bad.write_text("stages:\n  - stage: doc_length\n    min_char: 5\n")
    proc = run_cli("run", str(bad), str(shards[0]), "-o", str(tmp_path / "o"), check=False)
    assert proc.returncode == 2
    assert "unknown parameter(s) 'min_char'" in proc.stderr
    assert "'min_char' → 'min_chars'?" in proc.stderr
    assert "Valid parameters: min_chars, max_chars, min_words, max_words" in proc.stderr
    proc = run_cli("run", "no-such-recipe", str(shards[0]), "-o", str(tmp_path / "o"),
                   check=False)
    assert proc.returncode == 2 and "neither a pipeline file nor a built-in recipe" in \
        proc.stderr


def test_removal_alarm_exit_code(tmp_path, shards):
    p = tmp_path / "harsh.yaml"
    p.write_text("stages:\n  - stage: doc_length\n    min_chars: 100000\n")
    proc = run_cli("run", str(p), str(shards[0].parent), "-o", str(tmp_path / "o"),
                   "--no-progress", check=False)
    assert proc.returncode == 3
    assert "stopped: stage doc_length removed" in proc.stderr
    assert "max_removal_rate: 1.0" in proc.stderr


@pytest.mark.skipif(UNSHARE is None, reason="unshare -n not available or not permitted here")
def test_default_recipe_runs_offline_under_unshare(tmp_path):
    """No network at all (a fresh network namespace): the default recipe must still run."""
    assert UNSHARE is not None
    out = tmp_path / "offline"
    proc = run_cli("run", "default", str(SAMPLE), "-o", str(out), "--no-progress",
                   prefix=UNSHARE)
    assert "kept" in proc.stdout
    run_cli("verify", str(out))
    run = json.loads((out / "run.json").read_text())
    assert run["config_source"] == "recipe:default"
    assert len(run["stages"]) >= 2


def test_main_module_entry_point():
    proc = subprocess.run([sys.executable, "-m", "corpusfilter", "--version"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0 and proc.stdout.startswith("corpusfilter ")
    assert pa  # pyarrow import used by fixtures
