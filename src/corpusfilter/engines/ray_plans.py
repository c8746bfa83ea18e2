"""Planning global stages on a Ray cluster (the driver never holds the collected records).

Four ways, tried in order, for the global stage that closes a segment:

1. **The stage's own hook.** A `GlobalStage` may define ``plan_ray(self, records)`` taking a
   ``ray.data.Dataset`` of everything its ``collect()`` produced (plus a ``_shard`` column)
   and returning its plan (built with Ray's groupby/shuffle). The plan is pickled once and
   sent to every worker, so it should be small (rates, thresholds, not per-document lists).
2. **Key-partitioned plans.** A stage whose plan is a ``pyarrow.Table`` of per-document rows
   (a ``doc_id`` column, consulted by ``apply()`` only for the batch's own ids) and whose
   ``plan()`` over all records equals the union of ``plan()`` over groups of records that
   agree on one key column declares that column as ``ray_partition_key`` (``exact_dedup``:
   its text hash). The records are shuffled by
   a hash of the key into P partitions (through files in ``_work``,
   `corpusfilter.engines.ray_exchange`: the driver holds two numbers per task), the stage's
   own ``plan()`` runs
   on each partition in parallel, and the rows are grouped again by shard and written as one
   plan file per shard: a worker loads only the plan rows of the shard it processes. Because
   the same ``plan()`` code runs on every partition, the result equals the local engine's.
3. **Component-partitioned plans.** A stage whose plan splits the same way, but whose
   records interact whenever they share a value in *any* of several columns, declares them as
   ``ray_link_columns`` (``minhash_dedup``: its LSH band keys). The connected components of
   "shares a value with" are computed on the cluster by rounds of shuffles
   (`corpusfilter.engines.ray_components`) and written per collect file; each task reading a
   collect file loads only that file's labels, keeps its linked records and shuffles them by
   component, and the stage's own ``plan()`` runs per partition as in 2. Unlinked documents
   never reach a plan: they are in no cluster.
4. **Fallback.** Any other stage: its ``plan()`` runs in one Ray task on a worker node, reading
   the collected files there; correct for every stage, but limited to one node's memory.

A splittable plan is a ``pyarrow.Table`` with ``doc_id``, or a dataclass whose fields are
such tables (``MinHashPlan``); it is stored as one pickle per shard.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import shutil
import time
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
from corpusfilter.engines import ray_components
from corpusfilter.engines.unit import plan_path, unit_dir
from corpusfilter.io.atomic import write_pickle_atomic
from corpusfilter.io.shards import Shard

log = logging.getLogger("corpusfilter")

SHARD = "_shard"
PART = ray_components.PART
# Colliding id hashes confirmed by reading the shards that hold them, at most (each read
# is of the few shards holding one hash, never of the whole input).
MAX_ID_COLLISIONS = 64


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
    """The column a stage declares its plan splits by (``ray_partition_key``), if any."""
    return getattr(stage, "ray_partition_key", None)


def link_columns(stage: GlobalStage) -> list[str] | None:
    """The columns a stage declares link its records (``ray_link_columns``), if any."""
    cols = getattr(stage, "ray_link_columns", None)
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
    by connected component (only the linked records, from the file's own labels in the
    `components` directory: the join of records and components on the document)."""
    tables = []
    for path, index in zip(batch.column("path").to_pylist(),
                           batch.column("index").to_pylist(), strict=True):
        part: np.ndarray | None = None
        if components is not None:
            labels_path = ray_components.labels_path(components, int(index))
            if not os.path.exists(labels_path):
                continue  # no linked record in this file
            labels = pq.read_table(labels_path)
            t = pq.read_table(path).take(labels.column("row"))
            part = key_partition(labels.column("label"), parts)
        else:
            t = pq.read_table(path)
            if key is not None:
                part = key_partition(t.column(key), parts)
        shard = os.path.basename(path).removesuffix(".collect.parquet")
        t = t.append_column(SHARD, pa.array([shard] * t.num_rows, pa.string()))
        if part is not None:
            t = t.append_column(PART, pa.array(part))
        tables.append(t)
    if not tables:  # a batch of files without linked records: an empty table of the schema
        t = pq.read_schema(batch.column("path")[0].as_py()).empty_table()
        return t.append_column(SHARD, pa.array([], pa.string())).append_column(
            PART, pa.array([], pa.int64()))
    return pa.concat_tables(tables, promote_options="default")


def _plan_partition(records: pa.Table, config: dict[str, Any], segment: int,
                    parts: int) -> pa.Table:
    """Run the stage's own plan() on one partition; split its rows by shard (Arrow IPC),
    partitioned by shard for `_write_shard_plans`."""
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
    shards = pa.array(out[SHARD], pa.string())
    return pa.table({SHARD: shards, "field": pa.array(out["field"], pa.string()),
                     "rows": pa.array(out["rows"], pa.binary()),
                     PART: pa.array(key_partition(shards, parts) if len(shards)
                                    else np.zeros(0, np.int64))})


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
    write_pickle_atomic(rebuild_plan(empty, tables), Path(directory) / f"{shard}.pkl")
    return pa.table({"shard": [shard], "rows": [sum(t.num_rows for t in tables.values())]})


def _write_shard_plans(rows: pa.Table, directory: str, config: dict[str, Any],
                       segment: int) -> pa.Table:
    """`_write_shard_plan` for each shard of a partition."""
    shards = rows.column(SHARD)
    return pa.concat_tables([
        _write_shard_plan(rows.filter(pc.equal(shards, s)), directory, config, segment)
        for s in pc.unique(shards).to_pylist()])


def _plan_in_task(config: dict[str, Any], segment: int, files: list[str], path: str) -> int:
    """The fallback: the stage's own plan() in one task; the plan never reaches the driver."""
    pipeline = _pipeline(config)
    seg = pipeline.segments[segment]
    plan = pipeline.make_plan(seg, Collected(paths=files))
    write_pickle_atomic(plan, Path(path))
    return 0


def _plans_lines(stage: GlobalStage) -> bool:
    """`boilerplate_lines` (its own plan, not a subclass's): planned by `_plan_lines`."""
    from corpusfilter.dedup.lines import BoilerplateLines

    return isinstance(stage, BoilerplateLines) and type(stage).plan is BoilerplateLines.plan


def _gather_lines_shard(scratch: str, parts: int, j: int, path: str) -> int:
    """Task: write shard j's slice of the `boilerplate_lines` plan (none when it is empty:
    `ShardedPlan` serves the empty plan then)."""
    from corpusfilter.dedup.lines import gather_shard

    plan = gather_shard(scratch, parts, j)
    rows = sum(t.num_rows for t in plan.values())
    if rows:
        write_pickle_atomic(plan, Path(path))
    return rows


def _plan_lines(ray: Any, stage: GlobalStage, files: list[str], keys: list[str], records: int,
                directory: Path, empty: Any, path: Path) -> None:
    """`boilerplate_lines`' plan as tasks (`dedup/lines.py`), none holding the corpus: M
    tasks spill one collect file each, split by line hash into P partitions (bucket i of its
    file = partition i); P tasks count one partition each (bucket i of every spill file) and
    write its plan rows split by the shard holding them (bucket j = shard j); M tasks gather
    shard j's slice (bucket j of every part file) into the shard's plan file. P
    is the local engine's (`partition_count`: at most `PLAN_ROWS` rows per partition), so a
    task holds one shard's records or about `PLAN_ROWS` rows; the driver only paths and
    counts. The plan rows are the local plan's, restricted per shard to the lines of its
    documents: `apply()` gives the same result."""
    from corpusfilter.dedup import lines

    shutil.rmtree(directory, ignore_errors=True)  # an interrupted earlier attempt
    scratch = directory / "spill"
    scratch.mkdir(parents=True)
    parts = lines.partition_count(records)
    task = ray.remote(num_cpus=1)
    t0 = time.perf_counter()
    spilled = ray.get([task(lines.spill_shard).remote(f, parts, str(scratch), j)
                       for j, f in enumerate(files)])
    t1 = time.perf_counter()
    limits = {"corpus": stage.min_docs, "site": stage.min_site_docs}  # type: ignore[attr-defined]
    counted = ray.get([task(lines.count_partition).remote(str(scratch), len(files), i, limits)
                       for i in range(parts)])
    t2 = time.perf_counter()
    gathered = ray.get([task(_gather_lines_shard).remote(
        str(scratch), parts, j, str(directory / f"{key}.pkl")) for j, key in enumerate(keys)])
    shutil.rmtree(scratch)
    log.info("plan of %s: %d rows spilled by %d tasks in %.1fs, %d partitions counted in "
             "%.1fs (%d plan rows), %d shard plans (%d rows) in %.1fs", stage.label,
             sum(spilled), len(files), t1 - t0, parts, t2 - t1, sum(counted),
             sum(r > 0 for r in gathered), sum(gathered), time.perf_counter() - t2)
    write_pickle_atomic(ShardedPlan(str(directory), empty), path)


# -- driver side -----------------------------------------------------------------------------

def _file_items(files: list[str]) -> list[dict[str, Any]]:
    return [{"path": f, "index": i} for i, f in enumerate(files)]


def _files_ds(ray: Any, files: list[str]) -> Any:
    return ray.data.from_items(_file_items(files), override_num_blocks=len(files))


def make_plan(ray: Any, config: dict[str, Any], segment: int, shards: list[Shard], out: Path,
              parts: int) -> None:
    """Plan the global stage closing `segment`; writes ``_work/plan-<segment>.pkl`` last."""
    pipeline = _pipeline(config)
    seg = pipeline.segments[segment]
    stage = seg.tail
    assert stage is not None
    udir = unit_dir(out, segment)
    files = [str(udir / f"{s.key}.collect.parquet") for s in shards
             if (udir / f"{s.key}.collect.parquet").exists()]
    records = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    path = plan_path(out, segment)
    hook = getattr(stage, "plan_ray", None)
    key = partition_key(stage)
    links = link_columns(stage) if key is None else None
    if hook is not None and records:
        ds = _files_ds(ray, files).map_batches(_read_records, fn_kwargs={
            "key": None, "parts": parts}, batch_format="pyarrow", batch_size=1)
        write_pickle_atomic(hook(ds), path)
        return
    if records and _plans_lines(stage):
        _plan_lines(ray, stage, files, [s.key for s in shards
                                        if (udir / f"{s.key}.collect.parquet").exists()],
                    records, out / "_work" / f"plan-{segment}",
                    pipeline.make_plan(seg, Collected(tables=[])), path)
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
    # the shuffles' files: in _work, which every node sees (docs/scale.md)
    exchange = ray_components.FileExchange(ray, str(directory / "exchange"), parts)
    if links is not None:
        comp_dir = directory / "components"
        comp_dir.mkdir()
        comp_path = str(comp_dir)
        t0 = time.perf_counter()
        linked, rounds = ray_components.components(exchange, files, links, parts, comp_path)
        log.info("components of %s: %d linked records, %d rounds, %.1fs", stage.label,
                 linked, rounds, time.perf_counter() - t0)
        if linked == 0:
            exchange.close()
            write_pickle_atomic(ShardedPlan(str(directory), empty), path)
            return
    records = exchange.source(_read_records, _file_items(files), key=key, parts=parts,
                              components=comp_path)
    plan_rows = exchange.shuffle(records, _plan_partition, config=config, segment=segment,
                                 parts=parts)
    exchange.sink(plan_rows, _write_shard_plans, directory=str(directory), config=config,
                  segment=segment)
    exchange.close()
    write_pickle_atomic(ShardedPlan(str(directory), empty), path)


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


def _colliding_rows(rows: pa.Table, start: int, cap: int) -> pa.Table:
    """(hash, shard) of the `cap` smallest id hashes >= `start` occurring twice or more in
    this partition (every occurrence of a hash is in the partition of that hash)."""
    h = rows.column("h").to_numpy()
    uniq, counts = np.unique(h[h >= np.uint64(start)], return_counts=True)
    hit = np.isin(h, uniq[counts > 1][:cap])
    found = pa.table({"h": pa.array(h[hit], pa.uint64()),
                      SHARD: rows.column(SHARD).filter(pa.array(hit))})
    return found.group_by(["h", SHARD]).aggregate([])


def colliding_ids(ray: Any, shards: list[Shard], out: Path, parts: int, start: int = 0,
                  cap: int = MAX_ID_COLLISIONS) -> list[tuple[int, list[str]]]:
    """The `cap` smallest 64-bit id hashes >= `start` that occur twice or more in the input,
    each with the shards holding it, found with a shuffle on the hash: no task holds more than
    its partition of the hashes, and the driver receives at most `cap` hashes per partition."""
    udir = unit_dir(out, 0)
    items = [{"key": s.key, "path": str(udir / f"{s.key}.idh.npy")} for s in shards]
    if not items:
        return []
    exchange = ray_components.FileExchange(ray, str(out / "_work" / "id-check"), parts)
    exchange.close()  # an interrupted earlier pass
    try:
        hashes = exchange.source(_hash_rows, items, parts=parts)
        found = exchange.sink(hashes, _colliding_rows, start=start, cap=cap)
    finally:
        exchange.close()
    where: dict[int, set[str]] = {}
    for t in found:
        for h, shard in zip(t.column("h").to_pylist(), t.column(SHARD).to_pylist(),
                            strict=True):
            where.setdefault(int(h), set()).add(shard)
    return [(h, sorted(where[h])) for h in sorted(where)[:cap]]
