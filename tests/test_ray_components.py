"""Distributed connected components (`engines/ray_components.py`) equal a union-find.

The steps (bucket edges, large-star, small-star, labels) are the functions the cluster runs;
the hypothesis tests run them through the in-process exchange (same partitions, many graphs
quickly), one test runs them on a local Ray cluster end to end from collect files.
"""

from __future__ import annotations

import os
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpusfilter.engines import ray_components as rc


def union_find(nodes: list[int], edges: list[tuple[int, int]]) -> dict[int, int]:
    """Each node's component, named by its smallest node (plain union-find)."""
    parent = {n: n for n in nodes}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        parent[max(ra, rb)] = min(ra, rb)
    return {n: find(n) for n in nodes}


def labels_of(edges: list[pa.Table]) -> dict[int, int]:
    out: dict[int, int] = {}
    for t in edges:
        lab = rc.label_rows(t)
        for n, label in zip(lab["node"].to_pylist(), lab["label"].to_pylist(), strict=True):
            assert out.setdefault(n, label) == label  # one label per node
    return out


def node(i: int, files: int) -> int:
    """Spread small numbers over a few collect files, as the engine numbers records."""
    return ((i % files) << rc.ROW_BITS) | (i // files)


@st.composite
def graphs(draw: st.DrawFn) -> list[tuple[int, int]]:
    """Random edges plus, optionally, the shapes that stress the rounds: a long chain in a
    random order, a star around its largest node, many two-node components."""
    n = draw(st.integers(2, 120))
    files = draw(st.integers(1, 4))
    edges = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)),
                          max_size=n))
    if draw(st.booleans()):  # a chain
        perm = draw(st.permutations(range(n)))
        length = draw(st.integers(2, n))
        edges += list(pairwise(perm[:length]))
    if draw(st.booleans()):  # a star around its largest node
        edges += [(n - 1, i) for i in range(0, n - 1, 2)]
    if draw(st.booleans()):  # many small components
        edges += [(i, i + 1) for i in range(0, n - 1, 3)]
    return [(node(a, files), node(b, files)) for a, b in edges]


@settings(max_examples=150, deadline=None)
@given(edges=graphs(), parts=st.integers(1, 7))
def test_star_rounds_give_the_union_find_components(edges: list[tuple[int, int]],
                                                    parts: int) -> None:
    a = np.array([e[0] for e in edges], dtype=np.int64)
    b = np.array([e[1] for e in edges], dtype=np.int64)
    loops = a == b  # a self-link carries no information; the engine never makes one
    start = [rc.both_ways(a[~loops], b[~loops], 1, parts)]
    linked = sorted({int(x) for x in np.concatenate([a[~loops], b[~loops]])})
    if not linked:
        return
    final, rounds = rc.star_rounds(rc.LocalExchange(), start, parts)
    expected = union_find(linked, list(zip(a[~loops].tolist(), b[~loops].tolist(),
                                           strict=True)))
    assert labels_of(final) == expected
    assert rounds <= 4 * max(1, int(np.log2(len(linked)))) ** 2  # O(log² n), Kiveris et al.


@settings(max_examples=100, deadline=None)
@given(data=st.data(), parts=st.integers(1, 5))
def test_buckets_contract_to_the_same_components(data: st.DataObject, parts: int) -> None:
    """Records sharing a value in any link column, through the bucket step (partition-local
    contraction) and the rounds, against a union-find over the buckets."""
    n = data.draw(st.integers(1, 80))
    links = data.draw(st.integers(1, 4))
    values = [data.draw(st.lists(st.integers(0, n // 2 + 1), min_size=n, max_size=n))
              for _ in range(links)]
    nodes = [node(i, 3) for i in range(n)]
    rows = pa.concat_tables([pa.table({
        "link": pa.array(np.full(n, j, np.int32)),
        "value": pa.array(np.array(values[j], dtype=np.uint64)),
        "node": pa.array(np.array(nodes, dtype=np.int64)),
        rc.PART: pa.array(rc.node_part(np.array(values[j], dtype=np.int64) ^ j, parts)),
    }) for j in range(links)])
    ex = rc.LocalExchange()
    edges = ex.shuffle([rows], rc.bucket_edges, parts=parts)
    pairs = [(nodes[i], nodes[k]) for j in range(links) for i in range(n) for k in range(i)
             if values[j][i] == values[j][k]]
    expected = {x: r for x, r in union_find(nodes, pairs).items()
                if any(x in p for p in pairs)}
    if not expected:
        assert sum(t.num_rows for t in edges) == 0
        return
    final, _ = rc.star_rounds(ex, edges, parts)
    assert labels_of(final) == expected


def test_a_long_chain_takes_logarithmically_many_rounds() -> None:
    """The reason for large-star/small-star over label propagation: a path of 4,096
    documents (numbered in a shuffled order) needs ~log2 rounds, not ~4,096."""
    n = 4096
    perm = np.random.default_rng(0).permutation(n).astype(np.int64)
    final, rounds = rc.star_rounds(rc.LocalExchange(),
                                   [rc.both_ways(perm[:-1], perm[1:], 1, 4)], 4)
    assert set(labels_of(final).values()) == {0}
    assert rounds <= 2 * int(np.log2(n))


@pytest.fixture(scope="module")
def ray_local() -> Any:
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        yield ray
        return
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level="WARNING")
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    strategy = getattr(ray.data.context, "ShuffleStrategy", None)
    if strategy is not None:  # as the engine runs it: sort shuffle, tasks only
        ctx.shuffle_strategy = strategy.SORT_SHUFFLE_PULL_BASED
    yield ray
    ray.shutdown()


@pytest.mark.ray
def test_components_on_a_ray_cluster_from_collect_files(ray_local: Any,
                                                        tmp_path: Path) -> None:
    """Three collect files, two band columns: a chain of 200 records across all files, a
    star, 60 two-record components and unlinked records; each file gets its own labels."""
    rng = np.random.default_rng(7)
    n = 900
    band = [rng.integers(1 << 40, 1 << 41, n, dtype=np.int64).astype(np.uint64)
            for _ in range(2)]  # distinct values: no links by default
    chain = rng.permutation(np.r_[0:299, 600:n])[:200]  # apart from the star and pairs
    for k, (x, y) in enumerate(pairwise(chain)):
        band[k % 2][y] = band[k % 2][x]  # alternate bands, so the chain is one component
    for i in range(300, 330):  # a star: 30 records sharing band 0 with record 299
        band[0][i] = band[0][299]
    for i in range(400, 520, 2):  # pairs
        band[1][i + 1] = band[1][i]
    files, nodes = [], []
    for f in range(3):
        rows = np.arange(f, n, 3)  # record i is row i // 3 of file i % 3
        path = tmp_path / f"s{f}.collect.parquet"
        pq.write_table(pa.table({"band_0": band[0][rows], "band_1": band[1][rows]}), path)
        files.append(str(path))
        nodes += [(i, node(i, 3)) for i in rows.tolist()]
    pairs = [(node(i, 3), node(k, 3)) for j in range(2)
             for v in np.unique(band[j])
             for members in [np.flatnonzero(band[j] == v)] if len(members) > 1
             for i, k in zip(members[:1].repeat(len(members) - 1), members[1:], strict=True)]
    linked = sorted({x for p in pairs for x in p})
    expected = union_find(linked, pairs)
    out = tmp_path / "comp"
    out.mkdir()
    exchange = rc.FileExchange(ray_local, str(tmp_path / "exchange"), 4)
    count, rounds = rc.components(exchange, files, ["band_0", "band_1"], 4, str(out))
    exchange.close()
    assert not (tmp_path / "exchange").exists()
    assert count == len(linked)
    got = {}
    for f in range(3):
        t = pq.read_table(rc.labels_path(str(out), f))
        assert t["row"].to_pylist() == sorted(t["row"].to_pylist())
        got.update({(f << rc.ROW_BITS) | r: lab for r, lab in
                    zip(t["row"].to_pylist(), t["label"].to_pylist(), strict=True)})
    assert got == expected
    assert len(set(expected.values())) == 1 + 1 + 60
    assert 1 <= rounds <= 16
    print(f"rounds: {rounds}")


@pytest.mark.ray
def test_colliding_id_hashes_come_in_bounded_pages(ray_local: Any, tmp_path: Path) -> None:
    """The distributed id check returns at most `cap` colliding hashes per pass, smallest
    first, each with the shards holding it; the next pass starts after the last one."""
    from corpusfilter.engines.ray_plans import colliding_ids
    from corpusfilter.engines.unit import unit_dir
    from corpusfilter.io.shards import Shard

    udir = unit_dir(tmp_path, 0)
    udir.mkdir(parents=True)
    h = {"a": [5, 9, 100, 7], "b": [9, 11, 12], "c": [100, 7, 13, 7]}
    for key, values in h.items():
        np.save(udir / f"{key}.idh.npy", np.array(values, dtype=np.uint64))
    shards = [Shard(str(tmp_path / f"{k}.parquet"), k) for k in h]
    assert colliding_ids(ray_local, shards, tmp_path, 3, cap=2) == [(7, ["a", "c"]),
                                                                    (9, ["a", "b"])]
    assert colliding_ids(ray_local, shards, tmp_path, 3, start=10, cap=2) == [
        (100, ["a", "c"])]


def test_a_hash_collision_between_different_ids_is_not_a_duplicate(tmp_path: Path) -> None:
    import xxhash

    from corpusfilter.core.errors import InputError
    from corpusfilter.engines.ray_engine import RayEngine
    from corpusfilter.io.shards import Shard

    for key, ids in {"a": ["x1", "x2"], "b": ["x3", "x1"]}.items():
        pq.write_table(pa.table({"id": ids, "text": ["t"] * len(ids)}),
                       tmp_path / f"{key}.parquet")
    shards = [Shard(str(tmp_path / f"{k}.parquet"), k) for k in ("a", "b")]
    engine = RayEngine({"stages": [{"stage": "doc_length"}]}, progress=False)
    # as if x2 and x3 had collided: only shards holding the hash are read, nothing raised
    engine._confirm_duplicate(xxhash.xxh64_intdigest(b"x2"), shards)
    with pytest.raises(InputError, match=r"'x1' occurs more than once \(shards: a, b\)"):
        engine._confirm_duplicate(xxhash.xxh64_intdigest(b"x1"), shards)
