"""The local engine starts ONE process pool for the whole run (every phase), and its output is
byte-identical to the in-process run with one worker."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pyarrow as pa
import pytest

from conftest import write_shards
from corpusfilter.engines import local
from corpusfilter.engines.local import LocalEngine

SPEC = {"max_removal_rate": 1.0,
        "stages": [{"stage": "unicode_fix"}, {"stage": "exact_dedup"}, {"stage": "doc_length"},
                   {"stage": "minhash_dedup"}, {"stage": "doc_length", "name": "long_enough", "min_chars": 200}]}


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes()
            for p in sorted(out.rglob("*.parquet"))}


@pytest.fixture(scope="module")
def shards(sample_table: pa.Table, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    # 414 real documents plus a copy of 40 (exact duplicates across shards).
    copies = sample_table.slice(0, 40)
    copies = copies.set_column(copies.schema.get_field_index("id"), "id",
                               pa.array([f"zz-{i}" for i in range(40)]))
    table = pa.concat_tables([sample_table, copies])
    return write_shards(table, tmp_path_factory.mktemp("pool-in"), 4)


def test_one_pool_for_all_phases(monkeypatch: pytest.MonkeyPatch, shards: list[Path],
                                 tmp_path: Path) -> None:
    created: list[int] = []

    class CountingPool(ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            created.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(local, "ProcessPoolExecutor", CountingPool)
    engine = LocalEngine(SPEC, workers=2, batch_size=50, progress=False)
    assert len(engine.pipeline.segments) == 3
    stats = engine.run(shards, tmp_path / "w2")
    assert created == [1]
    assert stats["stages"]["exact_dedup"]["removed"] >= 40  # + the sample's own copies
    ref = LocalEngine(SPEC, workers=1, batch_size=50, progress=False)
    ref.run(shards, tmp_path / "w1")
    assert created == [1]  # one worker: in process, no pool at all
    assert _files(tmp_path / "w2") == _files(tmp_path / "w1")


class _Killed(BaseException):
    """Stands for SIGKILL of the driver: nothing after it runs."""


def _kill_after_first_commit_rename(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, the commit's second rename of a final file "kills" the driver; returns the
    list that receives the one file moved into place before it."""
    import os

    from corpusfilter.engines import unit

    moved: list[str] = []
    real = os.replace

    def replace_then_die(src: str | Path, dst: str | Path) -> None:
        if f"{unit.WORK}/{unit.FINAL}/" in str(src) and unit.WORK not in str(dst):  # commit
            if moved:
                raise _Killed
            moved.append(str(dst))
        real(src, dst)

    monkeypatch.setattr(unit.os, "replace", replace_then_die)
    return moved


def test_final_files_are_written_by_the_units_and_a_killed_commit_is_finished(
        monkeypatch: pytest.MonkeyPatch, shards: list[Path], tmp_path: Path) -> None:
    """The last phase's units write the final files under _work/final/; the commit only
    renames them. A kill after the first rename leaves a run that the rerun finishes, with
    the bytes of an uninterrupted run; no final file is written twice."""

    from corpusfilter.engines import unit

    LocalEngine(SPEC, workers=1, batch_size=50, progress=False).run(shards, tmp_path / "ref")
    out = tmp_path / "run"
    moved = _kill_after_first_commit_rename(monkeypatch)
    with pytest.raises(_Killed):
        LocalEngine(SPEC, workers=1, batch_size=50, progress=False).run(shards, out)
    monkeypatch.undo()
    final = out / unit.WORK / unit.FINAL
    assert len(moved) == 1 and Path(moved[0]).exists()
    # every other shard's files are complete under _work/final/, written by its last unit
    assert len(list((final / "data").iterdir())) == len(shards) - 1
    assert len(list((final / "ledger").iterdir())) == len(shards)
    assert not (out / "run.json").exists()
    LocalEngine(SPEC, workers=1, batch_size=50, progress=False).run(shards, out)
    assert _files(out) == _files(tmp_path / "ref")
    assert not (out / unit.WORK).exists()


def test_a_killed_commit_of_split_output_is_finished_with_the_same_files(
        monkeypatch: pytest.MonkeyPatch, shards: list[Path], tmp_path: Path) -> None:
    """Output split into numbered files (--max-rows-per-file, JSON Lines): the last units list
    their files in output.json, the commit renames exactly those; a kill after the first
    rename is finished by the rerun with the files of an uninterrupted run, none left over."""

    from corpusfilter.engines import unit

    settings = {"output_format": "jsonl.gz", "max_rows_per_file": 30}
    LocalEngine(SPEC, workers=1, batch_size=50, progress=False, **settings).run(
        shards, tmp_path / "ref")
    ref = {p.name: p.read_bytes() for p in (tmp_path / "ref" / "data").iterdir()}
    # more files than shards: every shard's output was cut, each part numbered
    assert len(ref) > len(shards) and all("-0000" in n for n in ref)
    out = tmp_path / "run"
    _kill_after_first_commit_rename(monkeypatch)
    with pytest.raises(_Killed):
        LocalEngine(SPEC, workers=1, batch_size=50, progress=False, **settings).run(shards, out)
    monkeypatch.undo()
    assert len(list((out / unit.WORK / unit.FINAL / "data").iterdir())) == len(ref) - 1
    LocalEngine(SPEC, workers=1, batch_size=50, progress=False, **settings).run(shards, out)
    assert {p.name: p.read_bytes() for p in (out / "data").iterdir()} == ref
    assert _files(out) == _files(tmp_path / "ref")
