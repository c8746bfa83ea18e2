"""Bad input: a clear error naming the shard (and row), or documented handling recorded in
the ledger — never a traceback from deep inside, never a silently lost row."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from conftest import SAMPLE, run_cli
from corpusfilter import InputError, Pipeline
from corpusfilter.filters.length import DocLength

REAL = pq.read_table(SAMPLE).slice(0, 30).select(["id", "text", "source"])


def _run(tmp_path: Path, *inputs: Path, recipe: str = "minimal", extra: tuple = ()):
    return run_cli("run", recipe, *map(str, inputs), "-o", str(tmp_path / "out"),
                   "--no-progress", "-q", *extra, check=False)


def _assert_clean_error(proc, *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    for n in needles:
        assert n in proc.stderr, proc.stderr


def test_missing_text_column_names_shard_columns_and_fix(tmp_path):
    p = tmp_path / "part-003.parquet"
    pq.write_table(REAL.rename_columns(["id", "body", "source"]), p)
    proc = _run(tmp_path, p)
    _assert_clean_error(proc, "shard part-003", "column 'text' not found",
                        "columns: id, body, source", "set `text_column:`")


def test_missing_id_column_gets_generated_ids_stated_in_run_json(tmp_path):
    # Issue #18 changed this: a shard without an id column is no longer an error; its
    # documents get ids "<shard>:<row>", said on stderr and in run.json.
    p = tmp_path / "a.parquet"
    pq.write_table(REAL.drop(["id"]), p)
    proc = _run(tmp_path, p)
    assert proc.returncode == 0, proc.stderr
    assert "no 'id' column in shard(s) a: ids generated as <shard>:<row>" in proc.stderr
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["generated_ids"] == {"column": "id", "rule": "<shard>:<row>", "shards": ["a"]}
    kept = pq.read_table(tmp_path / "out" / "data" / "a.parquet")
    removed = pq.read_table(tmp_path / "out" / "ledger" / "a.parquet")["doc_id"].to_pylist()
    assert sorted(kept["id"].to_pylist() + removed, key=lambda i: int(i.split(":")[1])) == [
        f"a:{i}" for i in range(REAL.num_rows)]
    assert run_cli("verify", str(tmp_path / "out")).returncode == 0


def test_configured_id_column_missing_is_still_named(tmp_path):
    p = tmp_path / "a.parquet"
    pq.write_table(REAL.drop(["id"]), p)
    pipe = tmp_path / "p.yaml"
    pipe.write_text("id_column: doc_id\nstages:\n  - stage: doc_length\n")
    proc = _run(tmp_path, p, recipe=str(pipe))
    assert proc.returncode == 0, proc.stderr
    assert "no 'doc_id' column in shard(s) a" in proc.stderr


def test_non_string_text_column(tmp_path):
    p = tmp_path / "nums.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "text": [1, 2]}), p)
    _assert_clean_error(_run(tmp_path, p), "shard nums", "has type int64, expected a string")


def test_null_text_is_recorded_as_removed_not_lost(tmp_path):
    texts = REAL["text"].to_pylist()
    texts[3] = None
    t = REAL.set_column(1, "text", pa.array(texts))
    p = tmp_path / "nulls.parquet"
    pq.write_table(t, p)
    proc = _run(tmp_path, p)
    assert proc.returncode == 0, proc.stderr
    led = pq.read_table(tmp_path / "out" / "ledger")
    row = led.filter(pc.equal(led["reason"], "input.null_text")).to_pylist()
    assert [r["doc_id"] for r in row] == [REAL["id"][3].as_py()]
    assert row[0]["stage"] == "input" and json.loads(row[0]["detail"]) == {"row": 3}
    assert run_cli("verify", str(tmp_path / "out")).returncode == 0


def test_null_text_with_on_invalid_error_names_shard_and_row(tmp_path):
    texts = REAL["text"].to_pylist()
    texts[7] = None
    p = tmp_path / "nulls.parquet"
    pq.write_table(REAL.set_column(1, "text", pa.array(texts)), p)
    y = tmp_path / "strict.yaml"
    y.write_text("on_invalid: error\nstages:\n  - stage: doc_length\n")
    _assert_clean_error(_run(tmp_path, p, recipe=str(y)), "shard nulls, row 7",
                        "input.null_text")


def test_non_utf8_binary_text_is_recorded(tmp_path):
    raw = [t.encode() for t in REAL["text"].to_pylist()[:5]]
    raw[2] = "caf\u00e9 au lait".encode("latin-1")  # invalid UTF-8 byte 0xE9
    p = tmp_path / "bin.parquet"
    pq.write_table(pa.table({"id": REAL["id"][:5], "text": pa.array(raw, pa.binary())}), p)
    proc = _run(tmp_path, p)
    assert proc.returncode == 0, proc.stderr
    led = pq.read_table(tmp_path / "out" / "ledger").to_pylist()
    assert [(r["doc_id"], r["reason"]) for r in led if r["stage"] == "input"] == [
        (REAL["id"][2].as_py(), "input.invalid_utf8")]
    kept = pq.read_table(tmp_path / "out" / "data")
    assert kept.num_rows == 4 and pa.types.is_string(kept.schema.field("text").type)


def test_null_id_is_an_error_naming_the_row(tmp_path):
    ids = REAL["id"].to_pylist()
    ids[4] = None
    p = tmp_path / "noid.parquet"
    pq.write_table(REAL.set_column(0, "id", pa.array(ids)), p)
    _assert_clean_error(_run(tmp_path, p), "shard noid, row 4", "is null")


def test_duplicate_ids_across_shards(tmp_path):
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(REAL.slice(0, 10), a)
    pq.write_table(REAL.slice(9, 10), b)
    dup = REAL["id"][9].as_py()
    _assert_clean_error(_run(tmp_path, a, b), f"document id {dup!r} occurs more than once",
                        "shards: a, b")


def test_duplicate_ids_in_script():
    t = pa.concat_tables([REAL.slice(0, 5), REAL.slice(2, 1)])
    with pytest.raises(InputError, match="occurs more than once"):
        Pipeline([DocLength()]).run(t)


def test_empty_shard_is_fine(tmp_path):
    a, e = tmp_path / "a.parquet", tmp_path / "empty.parquet"
    pq.write_table(REAL, a)
    pq.write_table(REAL.slice(0, 0), e)
    proc = _run(tmp_path, a, e)
    assert proc.returncode == 0, proc.stderr
    assert pq.read_metadata(tmp_path / "out" / "data" / "empty.parquet").num_rows == 0
    assert run_cli("verify", str(tmp_path / "out")).returncode == 0


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_parquet_names_the_shard(tmp_path, damage):
    good = tmp_path / "good.parquet"
    pq.write_table(REAL, good)
    bad = tmp_path / "part-007.parquet"
    if damage == "garbage":
        bad.write_bytes(b"this is not parquet at all" * 100)
    else:
        data = good.read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    _assert_clean_error(_run(tmp_path, good, bad), "part-007")


def test_missing_inputs(tmp_path):
    _assert_clean_error(_run(tmp_path, tmp_path / "nope.parquet"), "does not exist")
    (tmp_path / "emptydir").mkdir()
    _assert_clean_error(_run(tmp_path, tmp_path / "emptydir"), "contains no Parquet files")
    _assert_clean_error(_run(tmp_path, Path(str(tmp_path) + "/*.zzz")), "matches no files")


def test_50mb_document_is_removed_by_the_size_guard_and_processed_when_allowed(tmp_path):
    base = REAL["text"][0].as_py()
    huge = (base + "\n") * (50_000_000 // (len(base) + 1) + 1)
    assert len(huge) >= 50_000_000
    t = pa.table({"id": ["huge", "small"], "text": pa.array([huge, base], pa.large_string())})
    res = Pipeline([DocLength()]).run(t)
    assert res.kept["id"].to_pylist() == ["small"]
    row = res.ledger.to_pylist()[0]
    assert (row["doc_id"], row["reason"], row["score"], row["threshold"]) == (
        "huge", "input.too_long", float(len(huge)), 10_000_000.0)
    res2 = Pipeline([DocLength(max_chars=60_000_000)], max_doc_chars=None).run(t)
    assert sorted(res2.kept["id"].to_pylist()) == ["huge", "small"]


# -- inputs are never skipped silently ------------------------------------------------------

def test_a_dangling_symlink_is_an_error_not_a_skip(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    pq.write_table(REAL, d / "a.parquet")
    (d / "b.parquet").symlink_to(tmp_path / "gone.parquet")
    for given in (d, d / "b.parquet", Path(str(d) + "/*.parquet")):
        proc = _run(tmp_path, given)
        _assert_clean_error(proc, f"input {d / 'b.parquet'} is a symbolic link to",
                            "which does not exist; restore its target or remove the link")


def test_odd_shard_names_are_read_and_visible_in_the_output(tmp_path):
    """Upper-case suffixes are Parquet too; names Arrow's discovery would hide get a prefix."""
    d = tmp_path / "in"
    d.mkdir()
    names = ["b.PARQUET", ".parquet", "_x.parquet", "c.Pq"]
    for i, name in enumerate(names):
        pq.write_table(REAL.slice(i * 5, 5), d / name)
    proc = _run(tmp_path, d)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out"
    assert sorted(p.name for p in (out / "data").iterdir()) == [
        "b.parquet", "c.parquet", "shard.parquet", "shard_x.parquet"]
    # what a user reads back with pyarrow's directory discovery is everything that was kept
    kept = pq.read_table(out / "data").num_rows
    removed = pc.sum(pc.equal(pq.read_table(out / "ledger")["action"], "removed")).as_py() or 0
    assert kept + removed == 20
    assert run_cli("verify", str(out)).returncode == 0


# -- ids that cannot be ids: one line naming shard and row ----------------------------------

def test_binary_ids_with_invalid_utf8_name_the_row(tmp_path):
    ids = [i.encode() for i in REAL["id"].to_pylist()[:10]]
    ids[6] = b"doc-\xff\xfe"
    p = tmp_path / "binids.parquet"
    pq.write_table(pa.table({"id": pa.array(ids, pa.binary()), "text": REAL["text"][:10]}), p)
    _assert_clean_error(_run(tmp_path, p), "shard binids, row 6",
                        "b'doc-\\xff\\xfe' in column 'id' is not valid UTF-8")


def test_list_typed_ids_are_refused_naming_the_column(tmp_path):
    p = tmp_path / "listids.parquet"
    ids = pa.array([[i] for i in REAL["id"].to_pylist()])
    pq.write_table(pa.table({"id": ids, "text": REAL["text"]}), p)
    _assert_clean_error(_run(tmp_path, p), "shard listids",
                        "id column 'id' has type list<",
                        "an id is one string or integer per document")


def test_binary_invalid_ids_in_a_script_name_the_row():
    ids = pa.array([b"a", b"b", b"\xc3("], pa.binary())
    t = pa.table({"id": ids, "text": REAL["text"][:3]})
    with pytest.raises(InputError, match=r"row 2: id b'\\xc3\(' in column 'id' is not valid"):
        Pipeline([DocLength()]).run(t)


# -- text as Arrow encodes it ---------------------------------------------------------------

@pytest.fixture(scope="module")
def plain_default_run(tmp_path_factory) -> Path:
    """The default recipe on 30 real documents with a plain string text column."""
    d = tmp_path_factory.mktemp("plain")
    pq.write_table(REAL, d / "plain.parquet")
    proc = _run(d, d / "plain.parquet", recipe="default")
    assert proc.returncode == 0, proc.stderr
    return d / "out"


@pytest.mark.parametrize("encode", ["dictionary", "string_view"])
def test_dictionary_and_view_text_give_the_same_result_as_plain_text(tmp_path, encode,
                                                                     plain_default_run):
    text = REAL["text"].combine_chunks()
    text = text.dictionary_encode() if encode == "dictionary" else text.cast(pa.string_view())
    p = tmp_path / "plain.parquet"  # the same shard name as the reference
    pq.write_table(REAL.set_column(1, "text", text), p)
    assert pq.read_schema(p).field("text").type == text.type  # read back as written
    got = _run(tmp_path, p, recipe="default")
    assert got.returncode == 0, got.stderr
    ref = plain_default_run
    for sub in ("data", "ledger"):
        a, b = pq.read_table(ref / sub), pq.read_table(tmp_path / "out" / sub)
        assert a.equals(b), sub
    assert pq.read_schema(tmp_path / "out" / "data" / "plain.parquet").field("text").type \
        == pa.string()
    assert pq.read_table(ref / "ledger").num_rows > 0
