"""Connected components on a Ray cluster, for stages planned per linked group of records.

A stage declaring ``ray_link_columns`` (``minhash_dedup``: its LSH band keys) links two
records when they share a value in any of these columns; its plan runs per connected
component. The components are found without any task or the driver holding all the links:

1. **Nodes.** Record r of collect file f is node ``f << 32 | r`` (64-bit, dense, no string
   ids in the shuffles, and the node tells which file it belongs to).
2. **Buckets.** One row (column, value, node) per record and link column, shuffled by
   (column, value); each partition sorts its rows and links every bucket's members, then
   contracts what it can see: the connected components *within the partition* (scipy),
   emitted as a star from each node to the partition-local smallest node. Only these star
   edges (at most one per linked record and partition) go on.
3. **Rounds of large-star and small-star** (Kiveris, Lattanzi, Mirrokni, Rastogi &
   Vassilvitskii, "Connected Components in MapReduce and Beyond", SoCC 2014), each a
   shuffle by node with a vectorised step per partition:

   * large-star: every node u links each *larger* neighbour to m(u), the smallest of u and
     its neighbours;
   * small-star: every node u links each *smaller* neighbour, and itself, to the smallest
     smaller neighbour.

   Neither step adds edges (duplicates are dropped), and a round changes nothing exactly
   when every node with a larger neighbour is the smallest of its neighbourhood and every
   node has at most one smaller neighbour: then every component is a star around its
   smallest node. Each step marks the edges it changed; the driver stops when a round's sum
   of marks (one number) is zero. The paper proves O(log² n) rounds; measured: 2-4 on
   near-duplicate graphs, ~log2 of the length for a chain (see docs/scale.md).
4. **Labels per file.** Every node's label (its component's smallest node) is shuffled by
   the file it belongs to (``node >> 32``) and written as ``comp-<file>.parquet``
   (row, label): the task that later reads collect file f loads only that file, the shuffle
   join of records and components on the document.

Memory per task: its partition of the edges (~32 bytes per edge; edges ≤ linked records ×
link columns after step 2, and fewer each round), plus, for the partition holding a
component's smallest node, that component's star (one edge per member). Nothing is
O(corpus) or O(linked records) on the driver: it sees only block references and the sum.

The steps are plain functions of Arrow tables, run through an `Exchange` (files in the run's
``_work`` on the cluster, `corpusfilter.engines.ray_exchange`; in process in the tests), so
that the test of the algorithm against a
union-find runs the very code the cluster runs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from corpusfilter.core.errors import StageError
from corpusfilter.dedup.clusters import union
from corpusfilter.engines.ray_exchange import CHANGED, PART, Exchange
from corpusfilter.engines.ray_exchange import FileExchange as FileExchange  # re-exported
from corpusfilter.engines.ray_exchange import LocalExchange as LocalExchange  # re-exported
from corpusfilter.io.shards import write_parquet_atomic

SRC, DST = "x", "y"
FILE = "_file"
ROW_BITS = 32
# The algorithm ends in O(log² n) rounds; far more means a bug, which must not loop forever.
MAX_ROUNDS = 200

EDGE_SCHEMA = pa.schema([(SRC, pa.int64()), (DST, pa.int64()), (CHANGED, pa.int8()),
                         (PART, pa.int64())])


def node_part(nodes: np.ndarray, parts: int) -> np.ndarray:
    """Partition of each node: a multiplicative hash (Fibonacci hashing), so that the nodes
    of one file (consecutive numbers) spread over all partitions."""
    h = nodes.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return ((h >> np.uint64(29)) % np.uint64(parts)).astype(np.int64)


def file_nodes(index: int, rows: int) -> np.ndarray:
    if rows >= 1 << ROW_BITS:
        raise StageError(f"collect file {index} has {rows} records; at most 2^{ROW_BITS} "
                         f"per shard are supported on the ray engine (split the shard)")
    return (np.int64(index) << ROW_BITS) | np.arange(rows, dtype=np.int64)


def edge_table(x: np.ndarray, y: np.ndarray, changed: np.ndarray | int,
               parts: int) -> pa.Table:
    """Edges x → y, partitioned by x."""
    x = np.asarray(x, dtype=np.int64)
    c = np.broadcast_to(np.asarray(changed, dtype=np.int8), x.shape)
    return pa.table([pa.array(x), pa.array(np.asarray(y, dtype=np.int64)), pa.array(c),
                     pa.array(node_part(x, parts))], schema=EDGE_SCHEMA)


def both_ways(x: np.ndarray, y: np.ndarray, changed: np.ndarray | int,
              parts: int) -> pa.Table:
    c = np.broadcast_to(np.asarray(changed, dtype=np.int8), np.shape(x))
    return edge_table(np.concatenate([x, y]), np.concatenate([y, x]),
                      np.concatenate([c, c]), parts)


# -- step 2: buckets to contracted star edges ---------------------------------------------

def link_rows(batch: pa.Table, links: list[str], parts: int) -> pa.Table:
    """(link column, value, node) for every record of the batch's collect files and every
    link column, partitioned by (column, value)."""
    out = []
    for path, index in zip(batch.column("path").to_pylist(),
                           batch.column("index").to_pylist(), strict=True):
        t = pq.read_table(path, columns=links)
        nodes = file_nodes(int(index), t.num_rows)
        for j, col in enumerate(links):
            value = _as_uint64(t.column(col))
            out.append(pa.table({
                "link": pa.array(np.full(t.num_rows, j, np.int32)),
                "value": pa.array(value),
                "node": pa.array(nodes),
                PART: pa.array(node_part(value.view(np.int64) ^ np.int64(j), parts)),
            }))
    return pa.concat_tables(out) if out else pa.table({
        "link": pa.array([], pa.int32()), "value": pa.array([], pa.uint64()),
        "node": pa.array([], pa.int64()), PART: pa.array([], pa.int64())})


def _as_uint64(col: pa.ChunkedArray) -> np.ndarray:
    """A link column's values as 64-bit numbers (integers as they are, others hashed)."""
    arr = col.combine_chunks()
    if pa.types.is_integer(arr.type) and arr.null_count == 0:
        return arr.to_numpy(zero_copy_only=False).astype(np.uint64)
    import xxhash

    return np.fromiter((xxhash.xxh64_intdigest(v if isinstance(v, bytes) else str(v).encode())
                        for v in arr.to_pylist()), dtype=np.uint64, count=len(arr))


def bucket_edges(rows: pa.Table, parts: int) -> pa.Table:
    """Within one partition of link rows: the members of every bucket (same column and
    value) linked, then contracted to a star per partition-local component (both ways)."""
    if rows.num_rows < 2:
        return EDGE_SCHEMA.empty_table()
    link = rows.column("link").to_numpy()
    value = rows.column("value").to_numpy()
    node = rows.column("node").to_numpy()
    order = np.lexsort((node, value, link))
    link, value, node = link[order], value[order], node[order]
    same = (link[1:] == link[:-1]) & (value[1:] == value[:-1])
    if not same.any():
        return EDGE_SCHEMA.empty_table()
    start = np.maximum.accumulate(np.where(np.r_[True, ~same], np.arange(len(node)), 0))
    member = np.flatnonzero(np.r_[False, same])
    return _contracted(node[start[member]], node[member], parts)


def _contracted(a: np.ndarray, b: np.ndarray, parts: int) -> pa.Table:
    """The components of the edges (a[i], b[i]) as stars to their smallest node."""
    nodes, inv = np.unique(np.concatenate([a, b]), return_inverse=True)
    labels = np.arange(len(nodes), dtype=np.int64)
    union(labels, inv[:len(a)], inv[len(a):])  # root: smallest index, i.e. smallest node
    leaf = np.flatnonzero(labels != np.arange(len(nodes)))
    return both_ways(nodes[leaf], nodes[labels[leaf]], 1, parts)


# -- step 3: large-star and small-star ----------------------------------------------------

def _sorted_unique_edges(t: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, changed) sorted by (x, y), duplicate edges merged (changed: any of them)."""
    x = t.column(SRC).to_numpy()
    y = t.column(DST).to_numpy()
    c = t.column(CHANGED).to_numpy()
    order = np.lexsort((y, x))
    x, y, c = x[order], y[order], c[order]
    first = np.r_[True, (x[1:] != x[:-1]) | (y[1:] != y[:-1])]
    starts = np.flatnonzero(first)
    return x[starts], y[starts], np.maximum.reduceat(c, starts) if len(c) else c


def _groups(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start of each run of equal (sorted) x, and each row's run number."""
    first = np.r_[True, x[1:] != x[:-1]]
    return np.flatnonzero(first), np.cumsum(first) - 1


def large_star(t: pa.Table, parts: int) -> pa.Table:
    """Every node x of the partition (edges both ways) links each larger neighbour y to
    m = min(x, neighbours of x). Output: (y, m) partitioned by y, for the small-star step;
    marked changed where m < x (the edge x-y became y-m)."""
    if t.num_rows == 0:
        return EDGE_SCHEMA.empty_table()
    x, y, _ = _sorted_unique_edges(t)
    starts, gid = _groups(x)
    m = np.minimum(np.minimum.reduceat(y, starts), x[starts])[gid]
    up = y > x
    return edge_table(y[up], m[up], (m[up] < x[up]).astype(np.int8), parts)


def small_star(t: pa.Table, parts: int) -> pa.Table:
    """Every node x of the partition (edges x → smaller y) links each smaller neighbour and
    itself to m = its smallest smaller neighbour. Output: edges both ways, partitioned by
    their first node; marked changed where x had two or more smaller neighbours or an
    incoming edge was marked by large-star."""
    if t.num_rows == 0:
        return EDGE_SCHEMA.empty_table()
    x, y, c = _sorted_unique_edges(t)
    starts, gid = _groups(x)
    m = np.minimum.reduceat(y, starts)
    count = np.diff(np.r_[starts, len(x)])
    changed = ((count > 1) | (np.maximum.reduceat(c, starts) > 0)).astype(np.int8)
    other = y != m[gid]
    a = np.concatenate([y[other], x[starts]])
    b = np.concatenate([m[gid][other], m])
    return both_ways(a, b, np.concatenate([changed[gid][other], changed]), parts)


def star_rounds(exchange: Exchange, edges: Any, parts: int) -> tuple[Any, int]:
    """Large-star and small-star until a round changes nothing: (star edges, rounds)."""
    for rounds in range(1, MAX_ROUNDS + 1):
        edges = exchange.shuffle(exchange.shuffle(edges, large_star, parts=parts),
                                 small_star, parts=parts)
        if exchange.changed(edges) == 0:
            return edges, rounds
    raise StageError(f"connected components did not converge in {MAX_ROUNDS} rounds")


# -- step 4: labels per collect file --------------------------------------------------------

def label_rows(t: pa.Table) -> pa.Table:
    """After the last round every edge joins a node and its component's smallest node."""
    x = t.column(SRC).to_numpy()
    return pa.table({"node": pa.array(x),
                     "label": pa.array(np.minimum(x, t.column(DST).to_numpy())),
                     FILE: pa.array(x >> ROW_BITS)})


def write_labels(t: pa.Table, directory: str) -> pa.Table:
    """One collect file's nodes (all rows of `t` have its `_file`): row → label."""
    index = int(t.column(FILE)[0].as_py())
    node = t.column("node").to_numpy()
    label = t.column("label").to_numpy()
    node, first = np.unique(node, return_index=True)
    write_parquet_atomic(pa.table({
        "row": pa.array(node & np.int64((1 << ROW_BITS) - 1)),
        "label": pa.array(label[first])}), Path(directory) / f"comp-{index}.parquet")
    return pa.table({FILE: [index], "rows": [len(node)]})


def labels_path(directory: str, index: int) -> str:
    return os.path.join(directory, f"comp-{index}.parquet")


def label_parts(t: pa.Table, parts: int) -> pa.Table:
    """`label_rows`, partitioned by collect file (so one task holds all of a file's labels)."""
    lab = label_rows(t)
    return lab.append_column(PART, pa.array(lab.column(FILE).to_numpy() % parts))


def write_label_files(t: pa.Table, directory: str) -> pa.Table:
    """`write_labels` for each collect file of a partition."""
    files = t.column(FILE).to_numpy()
    return pa.concat_tables([write_labels(t.filter(pa.array(files == f)), directory)
                             for f in np.unique(files)])


def components(exchange: Exchange, files: list[str], links: list[str], parts: int,
               directory: str) -> tuple[int, int]:
    """Label every linked record of the collect files with its component; writes
    ``comp-<i>.parquet`` per file with linked records. Returns (linked records, rounds)."""
    items = [{"path": f, "index": i} for i, f in enumerate(files)]
    rows = exchange.source(link_rows, items, links=links, parts=parts)
    edges = exchange.shuffle(rows, bucket_edges, parts=parts)
    if exchange.rows(edges) == 0:
        return 0, 0
    edges, rounds = star_rounds(exchange, edges, parts)
    written = exchange.sink(exchange.shuffle(edges, label_parts, parts=parts),
                            write_label_files, directory=directory)
    return sum(int(pc.sum(t.column("rows")).as_py() or 0) for t in written), rounds
