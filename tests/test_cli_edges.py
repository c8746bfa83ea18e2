"""Rough edges of the command line turned into one-line errors that name the fix, and the
`validate` dry run."""

from __future__ import annotations

import gzip
import json

import pyarrow.parquet as pq

from conftest import SAMPLE, run_cli


def _clean_error(proc, *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    for n in needles:
        assert n in proc.stderr, proc.stderr


def test_yaml_syntax_error_names_the_file_line_and_column(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("stages:\n  - stage: doc_length\n    min_chars: [1\n")
    proc = run_cli("run", str(p), str(SAMPLE), "-o", str(tmp_path / "o"), check=False)
    _clean_error(proc, f"pipeline file {p}, line 4, column 1: invalid YAML")
    assert "<unicode string>" not in proc.stderr


def test_output_that_is_a_file(tmp_path):
    f = tmp_path / "taken"
    f.write_text("x")
    proc = run_cli("run", "minimal", str(SAMPLE), "-o", str(f), check=False)
    _clean_error(proc, f"output {f} is a file")


def test_stages_with_a_typo(tmp_path):
    proc = run_cli("stages", "gopher_qualty", check=False)
    _clean_error(proc, "unknown stage 'gopher_qualty'", "did you mean 'gopher_quality'")


def test_zero_workers(tmp_path):
    proc = run_cli("run", "minimal", str(SAMPLE), "-o", str(tmp_path / "o"), "--workers", "0",
                   check=False)
    _clean_error(proc, "--workers must be at least 1")


def test_outputs_follow_the_umask(tmp_path):
    out = tmp_path / "o"
    run_cli("run", "minimal", str(SAMPLE), "-o", str(out), "--no-progress", "-q",
            prefix=["sh", "-c", 'umask 022 && exec "$@"', "sh"])
    for p in [out / "run.json", out / "stats.json", *(out / "data").iterdir()]:
        assert p.stat().st_mode & 0o777 == 0o644, p


def test_validate_checks_pipeline_and_schema_without_running(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    rows = pq.read_table(SAMPLE).slice(0, 20).drop(["id"]).to_pylist()
    (d / "a.jsonl.gz").write_bytes(gzip.compress(
        "".join(json.dumps(r) + "\n" for r in rows).encode()))
    proc = run_cli("validate", "default", str(d))
    assert "OK: nothing was run" in proc.stdout
    assert "ids will be generated as <shard>:<row> for 1 shard(s)" in proc.stdout
    bad = run_cli("validate", "default", str(d), "--text-column", "body", check=False)
    _clean_error(bad, "shard a", "column 'body' not found", "set `text_column:`")
    assert not (tmp_path / "o").exists()
