"""JSON Lines (plain, .gz, .zst) in and out, next to Parquet; generated ids; nested metadata.

The documents are the bundled sample (414 real web pages), written as JSON Lines the way
dolma and datatrove write them: no `id` field, the provenance nested under `metadata`.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from conftest import SAMPLE, pipeline_file, run_cli, run_killed_after_first_unit
from corpusfilter.core.errors import InputError
from corpusfilter.io.jsonl import dumps_jsonl, read_jsonl

PIPE = """
stages:
  - stage: doc_length
    min_chars: 300
  - stage: exact_dedup
"""


def _records() -> list[dict]:
    t = pq.read_table(SAMPLE)
    return [{"text": r["text"],
             "metadata": {"url": r["url"], "source": r["source"], "lang": r["lang"],
                          "subset": r["subset"]}}
            for r in t.to_pylist()]


def _write(path: Path, records: list[dict]) -> Path:
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
    if path.name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    elif path.name.endswith(".zst"):
        data = zstandard.ZstdCompressor().compress(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def pipe(tmp_path_factory) -> Path:
    return pipeline_file(tmp_path_factory, PIPE)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Three .jsonl.gz shards without ids."""
    d = tmp_path_factory.mktemp("jsonl")
    recs = _records()
    for i in range(3):
        _write(d / f"part-{i}.jsonl.gz", recs[i * 138:(i + 1) * 138])
    return d


def _ledger(out: Path) -> pa.Table:
    return pa.concat_tables(pq.read_table(p) for p in sorted((out / "ledger").iterdir()))


def test_jsonl_gz_without_ids_runs_verifies_and_states_generated_ids(corpus, pipe, tmp_path):
    out = tmp_path / "out"
    run_cli("run", str(pipe), str(corpus), "-o", str(out), "--no-progress", "-q")
    assert "OK" in run_cli("verify", str(out)).stdout
    run = json.loads((out / "run.json").read_text())
    assert run["generated_ids"]["shards"] == ["part-0", "part-1", "part-2"]
    assert all(os.path.isabs(i["path"]) for i in run["inputs"])
    ledger = _ledger(out)
    # the sample has exact duplicates and short pages: both stages remove something
    assert set(ledger["stage"].to_pylist()) == {"doc_length", "exact_dedup"}
    kept = pq.read_table(out / "data" / "part-1.parquet")
    ids = kept["id"].to_pylist() + [i for i in ledger["doc_id"].to_pylist()
                                    if i.startswith("part-1:")]
    assert sorted(ids, key=lambda i: int(i.split(":")[1])) == [f"part-1:{i}"
                                                               for i in range(138)]
    # nested metadata is carried through as a struct, unchanged
    by_id = {f"part-1:{i}": r for i, r in enumerate(_records()[138:276])}
    for row in kept.to_pylist()[:20]:
        assert row["metadata"] == by_id[row["id"]]["metadata"]


def test_same_documents_same_decisions_in_every_format(corpus, pipe, tmp_path):
    """Parquet, JSONL, .jsonl.gz, .jsonl.zst of the same records: identical ledgers."""
    recs = _records()
    ledgers = {}
    for fmt in ("jsonl", "jsonl.gz", "jsonl.zst", "parquet"):
        d = tmp_path / fmt.replace(".", "_")
        if fmt == "parquet":
            d.mkdir()
            pq.write_table(pa.Table.from_pylist(recs), d / "docs.parquet")
        else:
            _write(d / f"docs.{fmt}", recs)
        out = tmp_path / f"out-{fmt}"
        run_cli("run", str(pipe), str(d), "-o", str(out), "--no-progress", "-q")
        ledgers[fmt] = _ledger(out)
    assert ledgers["parquet"].num_rows > 0
    for fmt, t in ledgers.items():
        assert t.equals(ledgers["parquet"]), fmt


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "jsonl.zst"])
def test_jsonl_output_round_trips_and_is_deterministic(corpus, pipe, tmp_path, fmt):
    outs = []
    for workers in ("1", "2"):
        out = tmp_path / f"out{workers}"
        run_cli("run", str(pipe), str(corpus), "-o", str(out), "--no-progress", "-q",
                "--output-format", fmt, "--workers", workers, "--batch-size", "50")
        outs.append(out)
    files = sorted(p.name for p in (outs[0] / "data").iterdir())
    assert files == [f"part-{i}.{fmt}" for i in range(3)]
    for name in files:
        assert (outs[0] / "data" / name).read_bytes() == (outs[1] / "data" / name).read_bytes()
    raw = (outs[0] / "data" / files[0]).read_bytes()
    raw = {"jsonl": lambda b: b, "jsonl.gz": gzip.decompress,
           "jsonl.zst": lambda b: zstandard.ZstdDecompressor().decompressobj().decompress(b)
           }[fmt](raw)
    rows = [json.loads(line) for line in raw.decode().split("\n") if line]
    by_id = {f"part-0:{i}": r for i, r in enumerate(_records()[:138])}
    assert rows and all(r["metadata"] == by_id[r["id"]]["metadata"] for r in rows)
    assert all(r["text"] == by_id[r["id"]]["text"] for r in rows)
    assert "OK" in run_cli("verify", str(outs[0])).stdout
    run_cli("report", str(outs[0]))  # the report reads JSON Lines data/ too


def test_bad_line_names_shard_and_row(tmp_path, pipe):
    lines = [json.dumps(r) for r in _records()[:5]]
    lines.insert(3, '{"text": "unterminated')
    p = tmp_path / "in" / "broken.jsonl.gz"
    p.parent.mkdir()
    p.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    proc = run_cli("run", str(pipe), str(p), "-o", str(tmp_path / "out"), "--no-progress",
                   check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "shard broken, row 3: line 4 is not valid JSON" in proc.stderr, proc.stderr


def test_truncated_gzip_names_the_shard(tmp_path, pipe, corpus):
    data = (corpus / "part-0.jsonl.gz").read_bytes()
    p = tmp_path / "cut.jsonl.gz"
    p.write_bytes(data[:len(data) // 2])
    proc = run_cli("run", str(pipe), str(p), "-o", str(tmp_path / "out"), "--no-progress",
                   check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "shard cut" in proc.stderr and "corrupt or truncated" in proc.stderr


def test_kill_mid_run_then_resume_jsonl(corpus, pipe, tmp_path):
    """A .jsonl.gz corpus without ids: killed after the first shards, resumed, verified;
    the outputs equal an uninterrupted run's."""
    ref = tmp_path / "ref"
    run_cli("run", str(pipe), str(corpus), "-o", str(ref), "--no-progress", "-q")
    out = tmp_path / "killed"
    run_killed_after_first_unit([str(pipe), str(corpus), "-o",
           str(out), "--no-progress", "-q", "--batch-size", "3"], out)
    assert not (out / "run.json").exists(), "killed too late to test resume"
    resumed = run_cli("run", str(pipe), str(corpus), "-o", str(out), "--no-progress", "-q")
    assert "resuming" in resumed.stderr and "already done" in resumed.stderr
    for sub in ("data", "ledger"):
        for p in sorted((ref / sub).iterdir()):
            assert (out / sub / p.name).read_bytes() == p.read_bytes()
    assert run_cli("verify", str(out)).returncode == 0


def test_python_api_reads_jsonl_paths(corpus):
    from corpusfilter import Pipeline

    result = Pipeline.load("minimal").run(str(corpus / "part-2.jsonl.gz"))
    ids = result.kept["id"].to_pylist() + result.ledger["doc_id"].to_pylist()
    assert sorted(ids, key=lambda i: int(i.split(":")[1])) == [f"part-2:{i}"
                                                               for i in range(138)]


_json_text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=50)


@given(st.lists(st.fixed_dictionaries({
    "text": _json_text,
    "metadata": st.fixed_dictionaries({"url": _json_text, "n": st.integers(-2**53, 2**53)}),
}), min_size=1, max_size=20))
def test_dumps_then_read_is_the_identity(rows):
    table = pa.Table.from_pylist(rows)
    back = read_jsonl(dumps_jsonl(table), "t")
    assert back.to_pylist() == rows


def test_read_jsonl_rejects_non_objects():
    with pytest.raises(InputError, match=r"shard t, row 1: line 3: .* must be an object"):
        read_jsonl(b'{"text": "a"}\n\n[1, 2]\n', "t")


def test_inspect_reads_jsonl_inputs_with_generated_ids(corpus, pipe, tmp_path):
    """`inspect` shows removed documents read back from JSON Lines shards whose ids were
    generated."""
    out = tmp_path / "out"
    run_cli("run", str(pipe), str(corpus), "-o", str(out), "--no-progress", "-q")
    shown = run_cli("inspect", str(out), "--stage", "doc_length", "-n", "2").stdout
    ledger = _ledger(out)
    removed = set(ledger.filter(pa.compute.equal(ledger["stage"], "doc_length"))["doc_id"]
                  .to_pylist())
    shown_ids = re.findall(r"^(part-\d:\d+) ", shown, re.M)
    assert len(shown_ids) == 2 and set(shown_ids) <= removed
    recs = _records()
    for doc_id in shown_ids:  # the text is read back from the .jsonl.gz input
        shard, row = doc_id.split(":")
        text = recs[int(shard[-1]) * 138 + int(row)]["text"].strip()
        assert text.split()[0] in shown, (doc_id, text[:40])
