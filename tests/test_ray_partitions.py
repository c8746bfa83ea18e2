"""What one planning task of the Ray engine holds does not grow with the corpus.

A distributed plan has `ray_engine.partitions(records, cpus)` partitions: at most
`PARTITION_RECORDS` records each, so past 2 × CPUs × that many records the partitions stop
growing and their number grows instead (docs/scale.md, measured on a two-node cluster by
benchmarks/ray_memory.py). These tests check the rule itself, and that through the very step
functions the cluster runs (in process, `LocalExchange`), the largest partition of every
shuffle of `minhash_dedup`'s plan (bucket rows, large-star, small-star, the records
partitioned by component for `plan()`) stays the same size on a corpus 10× larger.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given
from hypothesis import strategies as st

from corpusfilter.engines import ray_components as rc
from corpusfilter.engines.ray_engine import MAX_PARTITIONS, PARTITION_RECORDS, partitions
from corpusfilter.engines.ray_plans import key_partition

BANDS = 4


@given(rows=st.integers(0, 10**10), cpus=st.integers(1, 2000),
       per=st.integers(1, 10**6))
def test_partitions_hold_at_most_the_stated_records(rows: int, cpus: int, per: int) -> None:
    p = partitions(rows, cpus, per)
    assert 1 <= p <= MAX_PARTITIONS
    if p < MAX_PARTITIONS:
        assert p >= 2 * cpus  # parallelism floor
        assert p * per >= rows  # no partition above `per` records on average
        # and no more partitions than needed: one fewer would exceed `per` (or the floor)
        assert p == 2 * cpus or (p - 1) * per < rows


def test_the_default_rule_at_the_measured_sizes() -> None:
    # docs/scale.md's runs: 2 CPUs; 200k documents -> 4 partitions of 50k, 2M -> 10 of 200k
    assert partitions(200_000, 2) == 4
    assert partitions(2_000_000, 2) == 10
    assert partitions(2_000_000, 2, 50_000) == 40
    assert partitions(10**9, 320) == 5_000 == 10**9 // PARTITION_RECORDS


class Measuring(rc.LocalExchange):
    """The in-process exchange, recording the rows of the largest partition of each step."""

    def __init__(self) -> None:
        self.largest: dict[str, int] = {}

    def shuffle(self, data: list[pa.Table], fn: Any, **kwargs: Any) -> list[pa.Table]:
        t = pa.concat_tables(data) if data else rc.EDGE_SCHEMA.empty_table()
        counts = np.bincount(t.column(rc.PART).to_numpy()) if t.num_rows else np.zeros(1)
        name = fn.__name__
        self.largest[name] = max(self.largest.get(name, 0), int(counts.max()))
        return super().shuffle(data, fn, **kwargs)


def write_collect_files(n: int, per_file: int, d: Path) -> list[str]:
    """`n` records of `BANDS` band keys in files of `per_file`, like minhash_dedup's corpus
    in benchmarks/ray_memory.py: 10% of the records copy the previous record's keys (so
    components of 2-3 records), the rest are unique."""
    rng = np.random.default_rng(n)
    keys = rng.integers(1, 1 << 62, size=(n, BANDS), dtype=np.int64).astype(np.uint64)
    copies = np.flatnonzero(rng.random(n) < 0.10)
    copies = copies[copies > 0]
    keys[copies] = keys[copies - 1]
    d.mkdir(parents=True)
    files = []
    for k, start in enumerate(range(0, n, per_file)):
        part = keys[start:start + per_file]
        path = d / f"s{k}.collect.parquet"
        pq.write_table(pa.table({f"band_{j}": part[:, j] for j in range(BANDS)}), path)
        files.append(str(path))
    return files


def largest_partitions(n: int, per: int, tmp: Path) -> dict[str, int]:
    """Rows of the largest partition of every step of the components and of the plan's
    records (partitioned by component label), for `n` records on a 2-CPU cluster."""
    parts = partitions(n, 2, per)
    files = write_collect_files(n, 2_000, tmp / f"c{n}")
    batch = pa.table({"path": files, "index": list(range(len(files)))})
    rows = rc.link_rows(batch, [f"band_{j}" for j in range(BANDS)], parts)
    ex = Measuring()
    edges = ex.shuffle([rows], rc.bucket_edges, parts=parts)
    edges, _ = rc.star_rounds(ex, edges, parts)
    labels = pa.concat_tables([rc.label_rows(t) for t in edges])
    # the plan's records: each linked record goes to the partition of its component
    _, first = np.unique(labels.column("node").to_numpy(), return_index=True)
    label = labels.column("label").take(pa.array(first))
    ex.largest["plan records"] = int(np.bincount(key_partition(label, parts)).max())
    return ex.largest


def test_largest_partition_does_not_grow_with_the_corpus(tmp_path: Path) -> None:
    per = 2_500  # the engine's rule with a small partition size: 4, 40, 80 partitions
    sizes = [10_000, 100_000, 200_000]
    largest = {n: largest_partitions(n, per, tmp_path) for n in sizes}
    steps = {"bucket_edges", "large_star", "small_star", "plan records"}
    assert all(set(v) == steps for v in largest.values())
    for n in sizes:
        # every step's partition within a bound that does not depend on n: a record has
        # BANDS bucket rows; a linked record at most 2 star edges per band after the
        # bucket step (one per partition that saw its bucket), and rounds add none
        assert largest[n]["bucket_edges"] <= 1.25 * BANDS * per, largest
        assert largest[n]["large_star"] <= 1.25 * 2 * BANDS * per, largest
        assert largest[n]["plan records"] <= 1.25 * per, largest
    for step in steps:
        # per step, 20x the corpus: the bucket rows and the plan's records stay flat; the
        # star edges grow with the number of partitions only until each band of a
        # component lands in its own partition (at most BANDS), then stay flat too
        a, b, c = (largest[n][step] for n in sizes)
        assert c <= 1.2 * b, (step, largest)
        if step in ("bucket_edges", "plan records"):
            assert 0.8 * a <= b <= 1.2 * a, (step, largest)
    # with a fixed number of partitions instead, the largest grows with the corpus
    fixed = largest_partitions(100_000, 100_000 // 4, tmp_path / "fixed")
    assert fixed["bucket_edges"] >= 8 * largest[10_000]["bucket_edges"]
