"""Planning global stages on a Ray cluster (the driver never holds the collected records).

Four ways, tried in order, for the global stage that closes a segment:

1. **The stage's own hook.** A `GlobalStage` may define ``plan_ray(self, records)`` taking a
   ``ray.data.Dataset`` of everything its ``collect()`` produced (plus a ``_shard`` column)
   and returning its plan (built with Ray's groupby/shuffle). The plan is pickled once and
   sent to every worker, so it should be small (rates, thresholds, not per-document lists).
2. **Key-partitioned plans.** A stage whose plan is a ``pyarrow.Table`` of per-document rows
   (a ``doc_id`` column, consulted by ``apply()`` only for the batch's own ids) and whose
   ``plan()`` over all records equals the union of ``plan()`` over groups of records that
   agree on one key column declares that column as ``ray_partition_key`` (or is listed in
   `KEYED` below: ``exact_dedup`` partitions by its text hash). The records are shuffled by
   a hash of the key with a Ray Data groupby into P partitions, the stage's own ``plan()`` runs
   on each partition in parallel, and the rows are grouped again by shard and written as one
   plan file per shard: a worker loads only the plan rows of the shard it processes. Because
   the same ``plan()`` code runs on every partition, the result equals the local engine's.
3. **Component-partitioned plans.** A stage whose plan splits the same way, but whose
   records interact whenever they share a value in *any* of several columns, declares them as
   ``ray_link_columns`` (or is listed in `LINKED`: ``minhash_dedup`` and its LSH band keys).
   A groupby on (column, value) turns every bucket into edges towards its smallest id; the
   connected components of those edges are found in one task (edges exist only between
   documents that share a bucket, so this scales with the duplicates, not the corpus); the
   records of linked documents are shuffled by component, and the stage's own ``plan()`` runs
   per partition as in 2. Unlinked documents never reach a plan: they are in no cluster.
4. **Fallback.** Any other stage: its ``plan()`` runs in one Ray task on a worker node, reading
   the collected files there; correct for every stage, but limited to one node's memory.

A splittable plan is a ``pyarrow.Table`` with ``doc_id``, or a dataclass whose fields are
such tables (``MinHashPlan``); it is stored as one pickle per shard.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

from corpusfilter.core.config import PipelineConfig
from corpusfilter.core.errors import StageError
from corpusfilter.core.pipeline import Pipeline
from corpusfilter.core.stage import Collected, GlobalStage
from corpusfilter.engines.local import _plan_path, _unit_dir
from corpusfilter.io.shards import Shard, write_parquet_atomic

# Global stages whose plan is a union over partitions of one key column (see module doc).
KEYED: dict[str, str] = {"exact_dedup": "hash"}
# Global stages whose plan is a union over the connected components of "records sharing a
# value in any of these columns" (minhash_dedup: documents sharing an LSH band bucket).
LINKED: dict[str, Callable[[Any], list[str]]] = {
    "minhash_dedup": lambda s: [f"band_{j}" for j in range(int(s.bands))],
}

SHARD = "_shard"
PART = "_part"
COMP = "_component"


@dataclass
class ShardedPlan:
    """A plan stored as one pickle per shard; `empty` serves shards without plan rows."""

    directory: str
    empty: Any

    def for_shard(self, key: str) -> Any:
        path = Path(self.directory) / f"{key}.pkl"
        if not path.exists():
            return self.empty
        with open(path, "rb") as f:
            return pickle.load(f)


def partition_key(stage: GlobalStage) -> str | None:
    return getattr(stage, "ray_partition_key", None) or KEYED.get(stage.name)


def link_columns(stage: GlobalStage) -> list[str] | None:
    cols = getattr(stage, "ray_link_columns", None)
    if cols is None and stage.name in LINKED:
        cols = LINKED[stage.name](stage)
    return list(cols) if cols else None


def plan_tables(plan: Any, label: str) -> dict[str, pa.Table]:
    """The per-document tables of a splittable plan: a table, or a dataclass of tables, each
    with a ``doc_id`` column."""
    if isinstance(plan, pa.Table):
        tables = {"": plan}
    elif dataclasses.is_dataclass(plan) and not isinstance(plan, type):
        tables = {f.name: getattr(plan, f.name) for f in dataclasses.fields(plan)}
    else:
        tables = {}
    if not tables or not all(isinstance(t, pa.Table) and "doc_id" in t.column_names
                             for t in tables.values()):
        raise StageError(f"stage {label} is planned per partition, but its plan is not a "
                         f"table (or a dataclass of tables) with a doc_id column")
    return tables


def rebuild_plan(empty: Any, tables: dict[str, pa.Table]) -> Any:
    if "" in tables:
        return tables[""]
    return dataclasses.replace(empty, **tables)


# -- worker-side helpers (cached per process) ------------------------------------------------

_pipelines: dict[str, Pipeline] = {}


def _pipeline(config: dict[str, Any]) -> Pipeline:
    key = repr(sorted(config.items()))
    if key not in _pipelines:
        _pipelines[key] = Pipeline(PipelineConfig(**config))
    return _pipelines[key]


def key_partition(values: pa.Array | pa.ChunkedArray, parts: int) -> np.ndarray:
    """A stable partition number in [0, parts) for each value (independent of batching)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    t = values.type
    if pa.types.is_fixed_size_binary(t) and t.byte_width >= 8 and values.null_count == 0:
        raw = np.frombuffer(values.buffers()[1], dtype=np.uint8)
        raw = raw[values.offset * t.byte_width:(values.offset + len(values)) * t.byte_width]
        h = raw.reshape(len(values), t.byte_width)[:, :8].copy().view("<u8").ravel()
    elif pa.types.is_integer(t) and values.null_count == 0:
        h = values.to_numpy(zero_copy_only=False).astype(np.uint64) * np.uint64(
            0x9E3779B97F4A7C15)
    else:
        h = np.fromiter((xxhash.xxh64_intdigest(v if isinstance(v, bytes) else str(v).encode())
                         for v in values.to_pylist()), dtype=np.uint64, count=len(values))
    return (h % np.uint64(parts)).astype(np.int64)


def _read_records(batch: pa.Table, key: str | None, parts: int,
                  components: str | None = None) -> pa.Table:
    """Read collect files; add the shard (from the file name) and the partition: by `key`, or
    by connected component (only documents listed in the `components` file are kept)."""
    comp = pq.read_table(components) if components else None
    tables = []
    for path in batch.column("path").to_pylist():
        t = pq.read_table(path)
        shard = os.path.basename(path).removesuffix(".collect.parquet")
        t = t.append_column(SHARD, pa.array([shard] * t.num_rows, pa.string()))
        if comp is not None:
            pos = pc.index_in(t.column("doc_id"), value_set=comp.column("doc_id"))
            t = t.filter(pos.is_valid())
            pos = pos.drop_null()
            t = t.append_column(PART, pa.array(key_partition(
                comp.column(COMP).take(pos), parts)))
        elif key is not None:
            t = t.append_column(PART, pa.array(key_partition(t.column(key), parts)))
        tables.append(t)
    return pa.concat_tables(tables, promote_options="default")


def _plan_partition(records: pa.Table, config: dict[str, Any], segment: int) -> pa.Table:
    """Run the stage's own plan() on one partition; split its rows by shard (Arrow IPC)."""
    pipeline = _pipeline(config)
    seg = pipeline.segments[segment]
    assert seg.tail is not None
    plan = pipeline.make_plan(seg, Collected(tables=[records.drop_columns([SHARD, PART])]))
    ids = records.column("doc_id").cast(pa.string())
    out: dict[str, list[Any]] = {SHARD: [], "field": [], "rows": []}
    for field, table in plan_tables(plan, seg.tail.label).items():
        if table.num_rows == 0:
            continue
        pos = pc.index_in(table.column("doc_id").cast(pa.string()), value_set=ids)
        if pos.null_count:
            raise StageError(f"stage {seg.tail.label}: plan rows for documents outside the "
                             f"partition; it cannot be planned per partition")
        shards = records.column(SHARD).take(pos)
        for shard in pc.unique(shards).to_pylist():
            part = table.filter(pc.equal(shards, shard))
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, part.schema) as w:
                w.write_table(part)
            out[SHARD].append(shard)
            out["field"].append(field)
            out["rows"].append(sink.getvalue().to_pybytes())
    return pa.table({SHARD: pa.array(out[SHARD], pa.string()),
                     "field": pa.array(out["field"], pa.string()),
                     "rows": pa.array(out["rows"], pa.binary())})


def _write_shard_plan(rows: pa.Table, directory: str, config: dict[str, Any],
                      segment: int) -> pa.Table:
    """Gather one shard's plan rows from every partition into its plan file."""
    pipeline = _pipeline(config)
    empty = pipeline.make_plan(pipeline.segments[segment], Collected(tables=[]))
    shard = rows.column(SHARD)[0].as_py()
    parts: dict[str, list[pa.Table]] = {}
    for field, blob in zip(rows.column("field").to_pylist(), rows.column("rows").to_pylist(),
                           strict=True):
        parts.setdefault(field, []).append(pa.ipc.open_stream(blob).read_all())
    tables = {f: pa.concat_tables(ts).sort_by("doc_id").combine_chunks()
              for f, ts in parts.items()}
    if "" not in tables:
        base = plan_tables(empty, "?")
        tables = {**base, **tables}
    _pickle_atomic(rebuild_plan(empty, tables), Path(directory) / f"{shard}.pkl")
    return pa.table({"shard": [shard], "rows": [sum(t.num_rows for t in tables.values())]})


def _link_rows(batch: pa.Table, links: list[str], parts: int) -> pa.Table:
    """(link column, value, doc_id) for every record and link column, with its partition."""
    out = []
    for path in batch.column("path").to_pylist():
        t = pq.read_table(path, columns=["doc_id", *links])
        for j, col in enumerate(links):
            keys = t.column(col).combine_chunks()
            out.append(pa.table({
                "link": pa.array(np.full(t.num_rows, j, np.int32)),
                "value": keys.cast(pa.uint64()) if pa.types.is_integer(keys.type)
                else pa.array(key_partition(keys, 2**62).astype(np.uint64)),
                "doc_id": t.column("doc_id").cast(pa.string()),
                PART: pa.array((key_partition(keys, parts) + j) % parts),
            }))
    return pa.concat_tables(out)


def _edges(rows: pa.Table) -> pa.Table:
    """Within each bucket (same link column and value), an edge from every member to the
    bucket's smallest id."""
    t = rows.sort_by([("link", "ascending"), ("value", "ascending"),
                      ("doc_id", "ascending")])
    link = t.column("link").to_numpy()
    value = t.column("value").to_numpy()
    same = np.zeros(t.num_rows, dtype=bool)
    same[1:] = (link[1:] == link[:-1]) & (value[1:] == value[:-1])
    start = np.maximum.accumulate(np.where(~same, np.arange(t.num_rows), 0))
    rows_b = np.flatnonzero(same)
    ids = t.column("doc_id").combine_chunks()
    return pa.table({"a": ids.take(pa.array(start[rows_b], pa.int64())),
                     "b": ids.take(pa.array(rows_b, pa.int64()))})


def _components(path: str, *edges: pa.Table) -> int:
    """Connected components of the edges (in one task: edges exist only between documents
    sharing a bucket); writes doc_id -> component (its smallest id) for linked docs only."""
    e = pa.concat_tables([t for t in edges if t.num_rows] or
                         [pa.table({"a": pa.array([], pa.string()),
                                    "b": pa.array([], pa.string())})])
    ids = pc.unique(pa.concat_arrays([e.column("a").combine_chunks(),
                                      e.column("b").combine_chunks()])).sort()
    a = pc.index_in(e.column("a"), value_set=ids).to_numpy(zero_copy_only=False)
    b = pc.index_in(e.column("b"), value_set=ids).to_numpy(zero_copy_only=False)
    lab = np.arange(len(ids), dtype=np.int64)
    while True:
        m = np.minimum(lab[a], lab[b])
        new = lab.copy()
        for idx in (a, b, lab[a], lab[b]):
            np.minimum.at(new, idx, m)
        while True:  # pointer jumping to the root (the smallest index of the component)
            nxt = new[new]
            if np.array_equal(nxt, new):
                break
            new = nxt
        if np.array_equal(new, lab):
            break
        lab = new
    write_parquet_atomic(pa.table({"doc_id": ids, COMP: ids.take(pa.array(lab))}), Path(path))
    return len(ids)


def _plan_in_task(config: dict[str, Any], segment: int, files: list[str], path: str) -> int:
    """The fallback: the stage's own plan() in one task; the plan never reaches the driver."""
    pipeline = _pipeline(config)
    seg = pipeline.segments[segment]
    plan = pipeline.make_plan(seg, Collected(paths=files))
    _pickle_atomic(plan, Path(path))
    return 0


def _pickle_atomic(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# -- driver side -----------------------------------------------------------------------------

def _files_ds(ray: Any, files: list[str]) -> Any:
    return ray.data.from_items([{"path": f} for f in files], override_num_blocks=len(files))


def make_plan(ray: Any, config: dict[str, Any], segment: int, shards: list[Shard], out: Path,
              parts: int) -> None:
    """Plan the global stage closing `segment`; writes ``_work/plan-<segment>.pkl`` last."""
    pipeline = _pipeline(config)
    seg = pipeline.segments[segment]
    stage = seg.tail
    assert stage is not None
    udir = _unit_dir(out, segment)
    files = [str(udir / f"{s.key}.collect.parquet") for s in shards
             if (udir / f"{s.key}.collect.parquet").exists()]
    records = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    path = _plan_path(out, segment)
    hook = getattr(stage, "plan_ray", None)
    key = partition_key(stage)
    links = link_columns(stage) if key is None else None
    if hook is not None and records:
        ds = _files_ds(ray, files).map_batches(_read_records, fn_kwargs={
            "key": None, "parts": parts}, batch_format="pyarrow", batch_size=1)
        _pickle_atomic(hook(ds), path)
        return
    if (key is None and links is None) or not records:
        ray.get(ray.remote(num_cpus=1)(_plan_in_task).remote(config, segment, files,
                                                             str(path)))
        return
    directory = out / "_work" / f"plan-{segment}"
    shutil.rmtree(directory, ignore_errors=True)  # an interrupted earlier attempt
    directory.mkdir(parents=True)
    empty = pipeline.make_plan(seg, Collected(tables=[]))
    comp_path = None
    if links is not None:
        edges = _files_ds(ray, files).map_batches(
            _link_rows, fn_kwargs={"links": links, "parts": parts}, batch_format="pyarrow",
            batch_size=1).groupby(PART, num_partitions=parts).map_groups(
            _edges, batch_format="pyarrow")
        comp_path = str(directory / "components.parquet")
        linked = ray.get(ray.remote(num_cpus=1)(_components).remote(
            comp_path, *edges.to_arrow_refs()))
        if linked == 0:
            _pickle_atomic(ShardedPlan(str(directory), empty), path)
            return
    plan_rows = _files_ds(ray, files).map_batches(
        _read_records, fn_kwargs={"key": key, "parts": parts, "components": comp_path},
        batch_format="pyarrow", batch_size=1).groupby(PART, num_partitions=parts).map_groups(
        _plan_partition, fn_kwargs={"config": config, "segment": segment},
        batch_format="pyarrow")
    written = plan_rows.groupby(SHARD, num_partitions=min(parts, len(files))).map_groups(
        _write_shard_plan, fn_kwargs={"directory": str(directory), "config": config,
                                      "segment": segment}, batch_format="pyarrow")
    for _ in written.iter_rows():
        pass
    _pickle_atomic(ShardedPlan(str(directory), empty), path)


def _hash_rows(batch: pa.Table, parts: int) -> pa.Table:
    keys, hashes = [], []
    for key, path in zip(batch.column("key").to_pylist(), batch.column("path").to_pylist(),
                         strict=True):
        h = np.load(path)
        hashes.append(h)
        keys.extend([key] * len(h))
    h = np.concatenate(hashes) if hashes else np.zeros(0, np.uint64)
    return pa.table({"h": pa.array(h, pa.uint64()), SHARD: pa.array(keys, pa.string()),
                     PART: pa.array((h % np.uint64(parts)).astype(np.int64))})


def _colliding_shards(rows: pa.Table) -> pa.Table:
    h = rows.column("h").to_numpy()
    uniq, counts = np.unique(h, return_counts=True)
    hit = np.isin(h, uniq[counts > 1])
    shards = sorted(set(rows.column(SHARD).filter(pa.array(hit)).to_pylist()))
    return pa.table({SHARD: pa.array(shards, pa.string())})


def duplicate_id_shards(ray: Any, shards: list[Shard], out: Path, parts: int) -> set[str]:
    """Shards holding an id hash that occurs twice in the input (a groupby on the hash)."""
    udir = _unit_dir(out, 0)
    items = [{"key": s.key, "path": str(udir / f"{s.key}.idh.npy")} for s in shards]
    if not items:
        return set()
    ds = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
        _hash_rows, fn_kwargs={"parts": parts}, batch_format="pyarrow", batch_size=1)
    found = ds.groupby(PART, num_partitions=parts).map_groups(_colliding_shards, batch_format="pyarrow")
    return {r[SHARD] for r in found.iter_rows()}
