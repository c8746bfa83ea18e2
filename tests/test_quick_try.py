"""`--limit` (a quick try on the first N documents), output shard size control, and the
Python API's `result.report()` and frame types. Data: the bundled 414-document sample."""

from __future__ import annotations

import gzip
import itertools
import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SAMPLE, run_cli, run_killed_after_first_unit
from corpusfilter import CorpusFilterError, Pipeline
from corpusfilter.io.shards import (
    Shard,
    data_files,
    limit_shards,
    read_columns,
    read_ids,
    shard_keys,
    split_rows,
)

PIPE = "stages:\n  - stage: doc_length\n    min_chars: 300\n  - stage: exact_dedup\n"


def _jsonl_gz_corpus(d: Path, parts: int = 3) -> list[dict]:
    """The sample without its id column as `parts` .jsonl.gz shards; returns the rows."""
    rows = pq.read_table(SAMPLE).drop(["id"]).to_pylist()
    d.mkdir(parents=True, exist_ok=True)
    step = -(-len(rows) // parts)
    for i in range(parts):
        data = "".join(json.dumps(r) + "\n" for r in rows[i * step:(i + 1) * step])
        (d / f"part-{i}.jsonl.gz").write_bytes(gzip.compress(data.encode(), mtime=0))
    return rows


def _ids_of(out: Path) -> list[str]:
    ids = [str(v) for f in data_files(str(out / "data")) for v in read_columns(f, ["id"])["id"]
           .to_pylist()]
    led = pa.concat_tables([pq.read_table(f) for f in sorted((out / "ledger").glob("*"))])
    return ids + [str(v) for v in led.filter(pa.compute.equal(led["action"], "removed"))
                  ["doc_id"].to_pylist()]


# -- --limit ---------------------------------------------------------------------------------

def test_limit_runs_the_first_n_documents_and_verify_counts_only_those(tmp_path):
    _jsonl_gz_corpus(tmp_path / "in")  # shards of 138 rows, ids generated
    pipe = tmp_path / "p.yaml"
    pipe.write_text(PIPE)
    out = tmp_path / "out"
    proc = run_cli("run", str(pipe), str(tmp_path / "in"), "-o", str(out), "--no-progress",
                   "--limit", "200")
    assert "limited run (--limit 200)" in proc.stdout
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["limit"] == 200
    assert [i["shard"] for i in run["inputs"]] == ["part-0", "part-1"]  # part-2 not read
    expected = [f"part-0:{i}" for i in range(138)] + [f"part-1:{i}" for i in range(62)]
    assert sorted(_ids_of(out)) == sorted(expected)
    verified = run_cli("verify", str(out))
    assert "input documents:   200" in verified.stdout and "OK" in verified.stdout
    report = run_cli("report", str(out), "--json", str(tmp_path / "r.json"))
    assert "limited run: only the first 200 documents" in report.stdout
    assert json.loads((tmp_path / "r.json").read_text())["run"]["limit"] == 200
    again = run_cli("run", str(pipe), str(tmp_path / "in"), "-o", str(out), "--no-progress",
                    "-q", "--limit", "200")
    assert "already holds a complete run" in again.stderr
    other = run_cli("run", str(pipe), str(tmp_path / "in"), "-o", str(out), "--no-progress",
                    "--limit", "100", check=False)
    assert other.returncode == 2 and "different pipeline, settings" in other.stderr
    bad = run_cli("run", str(pipe), str(tmp_path / "in"), "-o", str(tmp_path / "o2"),
                  "--limit", "0", check=False)
    assert bad.returncode == 2 and "--limit: must be at least 1" in bad.stderr


def test_limit_in_the_pipeline_file_is_checked(tmp_path):
    pipe = tmp_path / "p.yaml"
    pipe.write_text(PIPE + "limit: ten\n")
    proc = run_cli("validate", str(pipe), str(SAMPLE), check=False)
    assert proc.returncode == 2 and "limit must be a whole number" in proc.stderr


def test_limited_run_resumes_after_a_kill(tmp_path):
    _jsonl_gz_corpus(tmp_path / "in", parts=4)
    pipe = tmp_path / "p.yaml"
    pipe.write_text(PIPE)
    out = tmp_path / "out"
    run_killed_after_first_unit([str(pipe), str(tmp_path / "in"),
           "-o", str(out), "--no-progress", "-q", "--batch-size", "3", "--limit", "300"], out)
    assert not (out / "run.json").exists(), "killed too late to test resume"
    resumed = run_cli("run", str(pipe), str(tmp_path / "in"), "-o", str(out), "--no-progress",
                      "-q", "--limit", "300")
    assert "resuming" in resumed.stderr and "already done" in resumed.stderr
    verified = run_cli("verify", str(out))
    assert "input documents:   300" in verified.stdout and "OK" in verified.stdout
    ref = tmp_path / "ref"
    run_cli("run", str(pipe), str(tmp_path / "in"), "-o", str(ref), "--no-progress", "-q",
            "--limit", "300")
    for f in sorted((ref / "data").iterdir()):
        assert (out / "data" / f.name).read_bytes() == f.read_bytes()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(0, 7), min_size=1, max_size=5),
       limit=st.integers(1, 40), jsonl=st.lists(st.booleans(), min_size=5, max_size=5))
def test_limit_takes_exactly_the_first_n_ids_in_shard_order(tmp_path_factory, sizes, limit,
                                                             jsonl):
    d = tmp_path_factory.mktemp("shards")
    paths = []
    for i, n in enumerate(sizes):
        rows = [{"text": f"doc {i}-{r}"} for r in range(n)]
        if jsonl[i] and n:  # (an empty JSON Lines file is an error: it has no columns)
            p = d / f"s{i}.jsonl"
            p.write_text("".join(json.dumps(r) + "\n\n" for r in rows))  # blank lines too
        else:
            p = d / f"s{i}.parquet"
            pq.write_table(pa.Table.from_pylist(rows, schema=pa.schema([("text", pa.string())])),
                           p)
        paths.append(str(p))
    shards = shard_keys(paths)
    every = [i for s in shards for i in read_ids(s, "id").to_pylist()]
    limited = limit_shards(shards, limit)
    got = [i for s in limited for i in read_ids(s, "id").to_pylist()]
    assert got == every[:limit]
    # no shard beyond the one that reached the limit is listed
    assert len(limited) <= len(shards)
    if len(limited) < len(shards):
        assert len(got) == limit


# -- output shard size -----------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(texts=st.lists(st.text(max_size=30), max_size=40), max_rows=st.none() | st.integers(1, 9),
       max_bytes=st.none() | st.integers(1, 120))
def test_split_rows_covers_every_row_once_within_the_caps(texts, max_rows, max_bytes):
    table = pa.table({"text": pa.array(texts, pa.string()),
                      "n": pa.array(range(len(texts)), pa.int64())})
    parts = split_rows(table, max_rows, max_bytes)
    assert parts[0][0] == 0
    assert sum(n for _, n in parts) == len(texts)
    for (a, n), (b, _) in itertools.pairwise(parts):
        assert b == a + n and n >= 1
    for start, n in parts:
        if max_rows is not None and texts:
            assert n <= max_rows
        if max_bytes is not None and n > 1:
            size = sum(len(t.encode()) + 4 + 8 for t in texts[start:start + n])
            assert size <= max_bytes


def test_max_rows_per_file_splits_deterministically_and_loses_nothing(tmp_path, sample_table):
    inp = tmp_path / "in"
    inp.mkdir()
    pq.write_table(sample_table.slice(0, 250), inp / "a.parquet")
    pq.write_table(sample_table.slice(250), inp / "b.parquet")
    pipe = tmp_path / "p.yaml"
    pipe.write_text(PIPE)
    whole, split, again = tmp_path / "whole", tmp_path / "split", tmp_path / "again"
    run_cli("run", str(pipe), str(inp), "-o", str(whole), "--no-progress", "-q")
    for out in (split, again):
        run_cli("run", str(pipe), str(inp), "-o", str(out), "--no-progress", "-q",
                "--max-rows-per-file", "100")
    names = sorted(p.name for p in (split / "data").iterdir())
    assert names == ["a-00000.parquet", "a-00001.parquet", "a-00002.parquet",
                     "b-00000.parquet", "b-00001.parquet"]
    assert all(pq.ParquetFile(split / "data" / n).metadata.num_rows <= 100 for n in names)
    for n in names:  # same input and settings: the same bytes
        assert (split / "data" / n).read_bytes() == (again / "data" / n).read_bytes()
    for key in ("a", "b"):
        parts = pa.concat_tables([pq.read_table(split / "data" / n) for n in names
                                  if n.startswith(f"{key}-")])
        assert parts.equals(pq.read_table(whole / "data" / f"{key}.parquet"))
    assert "OK" in run_cli("verify", str(split)).stdout
    for out in (whole, split):
        run_cli("report", str(out), "-q", "--json", str(out / "r.json"))
    a, b = (json.loads((o / "r.json").read_text()) for o in (whole, split))
    assert a["funnel"] == b["funnel"] and a["rates"] == b["rates"] and a["mix"] == b["mix"]


def test_max_bytes_per_file_with_jsonl_output(tmp_path, sample_table):
    pq.write_table(sample_table, tmp_path / "s.parquet")
    out = tmp_path / "out"
    run_cli("run", "minimal", str(tmp_path / "s.parquet"), "-o", str(out), "--no-progress",
            "-q", "--output-format", "jsonl.gz", "--max-bytes-per-file", "200KB")
    files = sorted((out / "data").iterdir())
    assert len(files) > 5 and all(f.name.endswith(".jsonl.gz") for f in files)
    kept = [json.loads(line) for f in files for line in gzip.decompress(f.read_bytes())
            .splitlines()]
    assert len(kept) == json.loads((out / "stats.json").read_text())["output"]["docs"]
    for f in files:
        rows = [json.loads(line) for line in gzip.decompress(f.read_bytes()).splitlines()]
        if len(rows) > 1:
            assert sum(len(r["text"].encode()) for r in rows) <= 200_000
    assert "OK" in run_cli("verify", str(out)).stdout
    bad = run_cli("run", "minimal", str(tmp_path / "s.parquet"), "-o", str(tmp_path / "o2"),
                  "--max-bytes-per-file", "lots", check=False)
    assert bad.returncode == 2 and "expected a size such as 256MB" in bad.stderr


# -- the Python API: frame types and result.report() -----------------------------------------

FRAMES = {
    "arrow": (None, lambda t: t, lambda f: f),
    "pandas": ("pandas", lambda t: t.to_pandas(),
               lambda f: pa.Table.from_pandas(f, preserve_index=False)),
    "polars": ("polars", lambda t: __import__("polars").from_arrow(t), lambda f: f.to_arrow()),
    "datasets": ("datasets", lambda t: __import__("datasets").Dataset(
        __import__("datasets").table.InMemoryTable(t)), lambda f: f.data.table),
}


@pytest.mark.parametrize("kind", list(FRAMES))
def test_results_come_back_in_the_callers_frame_type(kind, sample_table):
    module, to_frame, to_arrow = FRAMES[kind]
    if module is not None:
        pytest.importorskip(module)
    pipe = Pipeline({"stages": [{"stage": "doc_length", "min_chars": 300},
                                {"stage": "exact_dedup"}]})
    ref = pipe.run(sample_table)
    res = pipe.run(to_frame(sample_table))
    assert res.frame == kind
    expected_type = type(to_frame(sample_table.slice(0, 1)))
    assert isinstance(res.kept, expected_type) and isinstance(res.ledger, expected_type)
    kept = to_arrow(res.kept)
    assert kept.column("id").to_pylist() == ref.kept.column("id").to_pylist()
    assert to_arrow(res.ledger).column("doc_id").to_pylist() == \
        ref.ledger.column("doc_id").to_pylist()
    assert res.removed_ids and res.removed_ids == ref.removed_ids


def test_result_report_matches_the_command_line_report(tmp_path, sample_table):
    pipe = tmp_path / "p.yaml"
    pipe.write_text(PIPE)
    run_cli("run", str(pipe), str(SAMPLE), "-o", str(tmp_path / "out"), "--no-progress", "-q")
    run_cli("report", str(tmp_path / "out"), "-q", "--json", str(tmp_path / "cli.json"))
    cli = json.loads((tmp_path / "cli.json").read_text())
    result = Pipeline(str(pipe)).run(sample_table.to_pandas())
    api = json.loads(result.report("json", path=tmp_path / "api.json"))
    assert json.loads((tmp_path / "api.json").read_text()) == api
    for key in ("funnel", "rates", "flags", "too_few", "mix"):
        assert api[key] == cli[key], key
    text = result.report()
    assert "exact_dedup" in text and "414" in text and "Removal rate by source" in text
    html = result.report("html")
    assert html.startswith("<!DOCTYPE html>") and "exact_dedup" in html
    strict = json.loads(result.report("json", min_support=1000))
    assert strict["flags"] == [] and strict["run"]["options"]["min_support"] == 1000
    with pytest.raises(CorpusFilterError, match="format must be one of text, json, html"):
        result.report("pdf")
    with pytest.raises(CorpusFilterError, match="options are k, margin"):
        result.report(bogus=1)


def test_shard_limit_is_not_a_file_read_past_it(tmp_path):
    """A JSON Lines shard cut by --limit is read only up to its limit: a corrupt line after
    it does not stop a quick try."""
    p = tmp_path / "s.jsonl"
    p.write_text("".join(json.dumps({"text": f"t{i}"}) + "\n" for i in range(5)) + "{broken\n")
    shard = limit_shards([Shard(str(p), "s")], 5)[0]
    assert shard.rows == 5 and read_ids(shard, "id").to_pylist() == [f"s:{i}" for i in range(5)]


def test_limit_in_a_script_takes_the_same_documents_as_the_command_line(tmp_path,
                                                                        sample_table):
    _jsonl_gz_corpus(tmp_path / "in")
    pipe = tmp_path / "p.yaml"
    pipe.write_text(PIPE + "limit: 150\n")
    run_cli("run", str(pipe), str(tmp_path / "in"), "-o", str(tmp_path / "out"),
            "--no-progress", "-q")
    from_files = Pipeline(str(pipe)).run(str(tmp_path / "in"))
    assert sorted(from_files.kept["id"].to_pylist()) == sorted(
        v for f in data_files(str(tmp_path / "out" / "data"))
        for v in read_columns(f, ["id"])["id"].to_pylist())
    assert from_files.stats.data["input"]["docs"] == 150
    for data in (sample_table, sample_table.to_batches(max_chunksize=64)):
        res = Pipeline(str(pipe)).run(data)
        kept, removed = res.kept["id"].to_pylist(), res.removed_ids
        assert sorted(kept + sorted(removed)) == sorted(sample_table["id"].to_pylist()[:150])


def test_limit_and_split_on_the_ray_engine_match_the_local_engine(tmp_path, sample_table):
    ray = pytest.importorskip("ray")
    from corpusfilter.engines.local import LocalEngine
    from corpusfilter.engines.ray_engine import RayEngine
    from corpusfilter.verify import verify

    inp = tmp_path / "in"
    inp.mkdir()
    for i in range(3):
        pq.write_table(sample_table.slice(i * 138, 138), inp / f"s{i}.parquet")
    spec = {"stages": [{"stage": "doc_length", "min_chars": 300}, {"stage": "exact_dedup"}],
            "limit": 250, "max_rows_per_file": 60}
    local, onray = tmp_path / "local", tmp_path / "ray"
    LocalEngine(spec, progress=False).run([inp], local)
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    try:
        RayEngine(spec, workers=2, progress=False).run([inp], onray)
    finally:
        ray.shutdown()
    names = sorted(p.name for p in (local / "data").iterdir())
    assert names == sorted(p.name for p in (onray / "data").iterdir())
    assert names[0] == "s0-00000.parquet" and not any(n.startswith("s2") for n in names)
    for n in names:
        assert pq.read_table(local / "data" / n).equals(pq.read_table(onray / "data" / n))
    rep = verify(onray)
    assert rep.ok and rep.input_docs == 250, rep.problems
