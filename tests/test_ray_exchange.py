"""The file exchange of the Ray engine's plans (`engines/ray_exchange.py`).

Its file format round-trips every partition in order; the connected components run through
it (tasks run in this process by a stand-in for Ray, files on disk as on the cluster) equal
the in-process exchange's and a union-find's; and the driver's share of a step is one task
and two integers per input, whatever the number of partitions (issue #22: Ray Data's sort
shuffle left map tasks × partitions blocks on the driver).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpusfilter.core.errors import StageError
from corpusfilter.engines import ray_components as rc
from corpusfilter.engines import ray_exchange as rx


class InlineRay:
    """Stands in for the ``ray`` module: a task runs when submitted, in this process, and
    every submission and result is recorded (what a driver would hold)."""

    def __init__(self) -> None:
        self.steps: list[list[Any]] = []  # per `get`: the results the driver received

    def remote(self, **_: Any) -> Callable[[Callable[..., Any]], Any]:
        class Remote:
            def __init__(self, fn: Callable[..., Any]):
                self.fn = fn

            def remote(self, *args: Any) -> Any:
                return self.fn(*args)

        return lambda fn: Remote(fn)

    def put(self, value: Any) -> Any:
        return value

    def get(self, refs: list[Any]) -> list[Any]:
        self.steps.append(list(refs))
        return refs

    def cancel(self, ref: Any) -> None:
        pass


@st.composite
def partitioned_tables(draw: st.DrawFn) -> tuple[pa.Table, int]:
    parts = draw(st.integers(1, 9))
    n = draw(st.integers(0, 60))
    part = draw(st.lists(st.integers(0, parts - 1), min_size=n, max_size=n))
    words = draw(st.lists(st.text(max_size=8), min_size=n, max_size=n))
    t = pa.table({"i": pa.array(range(n), pa.int64()), "w": pa.array(words, pa.string()),
                  rx.PART: pa.array(part, pa.int64())})
    chunks = draw(st.integers(1, 3))  # several chunks, as concatenated tables have
    cut = sorted(draw(st.lists(st.integers(0, n), min_size=chunks - 1, max_size=chunks - 1)))
    bounds = [0, *cut, n]
    t = pa.concat_tables([t.slice(a, b - a) for a, b in pairwise(bounds)])
    return t, parts


@settings(max_examples=150, deadline=None)
@given(case=partitioned_tables())
def test_every_partition_reads_back_in_order(case: tuple[pa.Table, int]) -> None:
    table, parts = case
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "0.cfx")
        rx.write_parts(table, parts, path)
        part = table.column(rx.PART).to_numpy()
        for i in range(parts):
            got = rx.read_part(path, i)
            want = table.filter(pa.array(part == i))
            if want.num_rows == 0:
                assert got is None
            else:
                assert got is not None and got.equals(want.combine_chunks())


def test_a_partition_gathers_every_file_in_file_order(tmp_path: Path) -> None:
    for j in range(3):
        rx.write_parts(pa.table({"f": [j, j, j], rx.PART: [2, 0, 2]}), 3,
                       rx.step_file(str(tmp_path), j))
    assert rx.read_partition(str(tmp_path), 3, 2).column("f").to_pylist() == [0, 0, 1, 1, 2, 2]
    assert rx.read_partition(str(tmp_path), 3, 1) is None


def test_a_missing_or_cut_file_is_a_clear_error(tmp_path: Path) -> None:
    path = rx.step_file(str(tmp_path), 0)
    with pytest.raises(StageError, match="visible to every node"):
        rx.read_part(path, 0)
    rx.write_parts(pa.table({"x": [1, 2], rx.PART: [0, 1]}), 2, path)
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[:-3])
    with pytest.raises(StageError, match="not a complete exchange file"):
        rx.read_part(path, 0)
    rx.write_parts(pa.table({"x": [1], rx.PART: [0]}), 2, path)
    with pytest.raises(StageError, match="outside"):
        rx.write_parts(pa.table({"x": [1], rx.PART: [2]}), 2, path)


def union_find_labels(nodes: list[int], pairs: list[tuple[int, int]]) -> dict[int, int]:
    parent = {n: n for n in nodes}

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        parent[max(ra, rb)] = min(ra, rb)
    return {n: find(n) for n in nodes}


def read_labels(directory: str, files: int) -> dict[int, int]:
    got: dict[int, int] = {}
    for f in range(files):
        path = rc.labels_path(directory, f)
        if os.path.exists(path):
            t = pq.read_table(path)
            got.update({(f << rc.ROW_BITS) | r: lab for r, lab in
                        zip(t["row"].to_pylist(), t["label"].to_pylist(), strict=True)})
    return got


@settings(max_examples=40, deadline=None)
@given(data=st.data(), files=st.integers(1, 4), parts=st.integers(1, 6))
def test_components_through_files_equal_a_union_find(data: st.DataObject, files: int,
                                                     parts: int) -> None:
    """Collect files of two band columns, through `components` with the file exchange and
    with the in-process one: the same label files, the union-find's components."""
    sizes = [data.draw(st.integers(0, 30)) for _ in range(files)]
    with tempfile.TemporaryDirectory() as d:
        paths, bands = [], {}
        for f, n in enumerate(sizes):
            cols = {f"b{j}": data.draw(st.lists(st.integers(0, 12), min_size=n, max_size=n))
                    for j in range(2)}
            path = os.path.join(d, f"s{f}.collect.parquet")
            pq.write_table(pa.table({k: pa.array(v, pa.int64()) for k, v in cols.items()}),
                           path)
            paths.append(path)
            for r in range(n):
                bands[(f << rc.ROW_BITS) | r] = (cols["b0"][r], cols["b1"][r])
        pairs = [(a, b) for a in bands for b in bands if a < b
                 and (bands[a][0] == bands[b][0] or bands[a][1] == bands[b][1])]
        linked = sorted({x for p in pairs for x in p})
        expected = union_find_labels(linked, pairs)
        results = {}
        for name, exchange in [("files", rx.FileExchange(InlineRay(), f"{d}/x", parts)),
                               ("local", rx.LocalExchange())]:
            out = f"{d}/{name}"
            os.makedirs(out)
            count, _ = rc.components(exchange, paths, ["b0", "b1"], parts, out)
            assert count == len(linked)
            results[name] = read_labels(out, files)
        assert results["files"] == results["local"] == expected


def test_the_driver_gets_two_numbers_per_task_whatever_the_partitions(tmp_path: Path) -> None:
    """One task per input file (first step) or per partition, each returning (rows, changed)
    and nothing per (file, partition) pair; a step's files are gone once the next has read
    them."""
    rng = np.random.default_rng(3)
    n_files = 6
    paths = []
    for f in range(n_files):
        v = rng.integers(0, 400, size=(500, 2))
        path = tmp_path / f"s{f}.collect.parquet"
        pq.write_table(pa.table({"b0": v[:, 0], "b1": v[:, 1]}), path)
        paths.append(str(path))
    for parts in (4, 40):
        ray = InlineRay()
        ex = rx.FileExchange(ray, str(tmp_path / f"x{parts}"), parts)
        out = tmp_path / f"labels{parts}"
        out.mkdir()
        _, rounds = rc.components(ex, paths, ["b0", "b1"], parts, str(out))
        # source, buckets, 2 per round, labels, sink
        assert [len(s) for s in ray.steps] == [n_files] + [parts] * (2 * rounds + 3)
        for results in ray.steps[:-1]:
            assert all(isinstance(r, tuple) and len(r) == 2 and all(isinstance(x, int)
                                                                    for x in r)
                       for r in results)
        assert os.listdir(ex.directory) == []  # every step's files, once read, removed
        ex.close()
        assert not os.path.exists(ex.directory)
