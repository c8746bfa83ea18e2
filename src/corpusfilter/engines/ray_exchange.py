"""Shuffles for the Ray engine's plans, through files: the driver holds O(tasks) numbers.

A plan on the cluster is a chain of *steps*; each step runs a function on every partition of
a dataset and partitions its output again by the ``_part`` column the function adds (the
connected components' rounds, the per-partition plans, the id check). An `Exchange` runs
these steps: `FileExchange` on a Ray cluster, `LocalExchange` in one process (same
functions, same partitions) for the tests and for measuring a step.

Why not Ray Data's groupby, which the engine used before: its sort shuffle's map tasks
return one block per partition, and the driver owns every block, so a shuffle of M map
tasks into P partitions leaves M × P object references on the driver (docs/scale.md: in
`minhash_dedup`'s plan at 200k documents the driver grew by +18 MiB with 8 shards × 4
partitions and +249 MiB with 80 × 40; the 1B plan's 4,000 shards × 5,000 partitions are 20M
blocks per shuffle). `FileExchange` instead has each task write its whole output, split by partition, into **one file** in the run's
``_work`` directory, which the engine already requires every node to see (the collect files,
plans and final files live there), and return two integers (rows, sum of the ``c`` column).
Task i of the next step reads partition i of every file of the step before. The driver
submits one task per partition and receives one pair of integers per task: O(M + P) small
values per step, nothing per (map task, partition) pair (measured: +1–3 MiB at each of the
sizes above). The files of a step are deleted once the next step has read them all.

File layout (one per task and step, ``<step>/<task>.cfx``):

* ``CFX1``, the schema's length (uint64) and the schema (Arrow IPC schema message);
* for each partition in order, its rows as Arrow IPC record batch messages (none when empty);
* the byte offset where each partition starts, and the end, as P + 1 little-endian int64;
  then P (uint64) and ``CFX1``;

written to a temporary file and renamed into place (a retried task replaces its file whole).

A reader of partition i reads the 16 bytes of its two offsets and then only its range, not
an index of all partitions: with an Arrow IPC *file* (as ``dedup/lines.py``'s one-process
spill uses) each of the P readers would parse the whole footer (~24 bytes per partition) of
each of the M files, M × P² × 24 bytes per shuffle (~3 PB at 4,000 × 5,000).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from corpusfilter.core.errors import StageError
from corpusfilter.io.atomic import TEMP_SUFFIX

PART = "_part"
CHANGED = "c"
MAGIC = b"CFX1"
_TAIL = struct.Struct("<Q4s")  # partitions, magic


class Exchange(Protocol):
    """Runs the steps of a plan: `source` maps inputs to partitioned rows, `shuffle` runs a
    function on every partition (its output partitioned again by ``_part``), `sink` runs a
    last function per partition and returns its (small) results. A step consumes its input.
    Functions never see an empty partition (as with Ray Data's groupby)."""

    def source(self, fn: Callable[..., pa.Table], items: list[dict[str, Any]],
               **kwargs: Any) -> Any: ...

    def shuffle(self, data: Any, fn: Callable[..., pa.Table], **kwargs: Any) -> Any: ...

    def sink(self, data: Any, fn: Callable[..., pa.Table], **kwargs: Any) -> list[pa.Table]: ...

    def rows(self, data: Any) -> int: ...

    def changed(self, data: Any) -> int: ...


# -- the file format ------------------------------------------------------------------------

def write_parts(table: pa.Table, parts: int, path: str) -> None:
    """Write `table` split by its ``_part`` column (values in [0, parts)) into one file."""
    part = table.column(PART).to_numpy() if table.num_rows else np.zeros(0, np.int64)
    if len(part) and (part.min() < 0 or part.max() >= parts):
        raise StageError(f"exchange: partition {int(part.max())} outside [0, {parts})")
    if len(part) > 1 and np.any(part[1:] < part[:-1]):
        order = np.argsort(part, kind="stable")  # stable: rows keep their order in a partition
        table, part = table.take(pa.array(order)), part[order]
    bounds = np.searchsorted(part, np.arange(parts + 1))

    # Renamed into place (a retried task replaces its file whole), but not fsynced: the files
    # live for one step, and a plan interrupted by a crash is planned again from the start.
    tmp = f"{path}.{os.getpid()}.{uuid.uuid4().hex}{TEMP_SUFFIX}"
    try:
        with open(tmp, "wb") as f:
            schema = table.schema.serialize()
            f.write(MAGIC)
            f.write(struct.pack("<Q", schema.size))
            f.write(schema)
            offsets = np.empty(parts + 1, "<i8")
            for i in range(parts):
                offsets[i] = f.tell()
                if bounds[i + 1] > bounds[i]:
                    rows = table.slice(int(bounds[i]), int(bounds[i + 1] - bounds[i]))
                    for batch in rows.combine_chunks().to_batches():
                        f.write(batch.serialize())
            offsets[parts] = f.tell()
            f.write(offsets.tobytes())
            f.write(_TAIL.pack(parts, MAGIC))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_part(path: str, index: int) -> pa.Table | None:
    """Partition `index` of one exchange file (None when it has no rows)."""
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed below; the error names the directory)
    except FileNotFoundError:
        raise StageError(f"exchange file {path} is missing: the run's output directory must "
                         f"be visible to every node of the cluster (a shared file system)"
                         ) from None
    with f:
        f.seek(-_TAIL.size, os.SEEK_END)
        parts, magic = _TAIL.unpack(f.read(_TAIL.size))
        if magic != MAGIC or not 0 <= index < parts:
            raise StageError(f"exchange file {path}: not a complete exchange file of more "
                             f"than {index} partitions")
        f.seek(-_TAIL.size - 8 * (parts + 1 - index), os.SEEK_END)
        start, end = struct.unpack("<qq", f.read(16))
        if end == start:
            return None
        f.seek(len(MAGIC))
        (size,) = struct.unpack("<Q", f.read(8))
        schema = pa.ipc.read_schema(pa.py_buffer(f.read(size)))
        f.seek(start)
        body = pa.py_buffer(f.read(end - start))
    batches = [pa.ipc.read_record_batch(m, schema)
               for m in pa.ipc.MessageReader.open_stream(body)]
    return pa.Table.from_batches(batches, schema)


def step_file(directory: str, task: int) -> str:
    return os.path.join(directory, f"{task}.cfx")


def read_partition(directory: str, files: int, index: int) -> pa.Table | None:
    """Partition `index` of a step: its rows from every file, in file order."""
    tables = [t for j in range(files)
              if (t := read_part(step_file(directory, j), index)) is not None]
    if not tables:
        return None
    return pa.concat_tables(tables, promote_options="default")


def _totals(t: pa.Table) -> tuple[int, int]:
    changed = 0
    if CHANGED in t.column_names and t.num_rows:
        changed = int(t.column(CHANGED).to_numpy().sum())
    return t.num_rows, changed


def run_task(index: int, source: tuple[str, int] | None, item: dict[str, Any] | None,
             fn: Callable[..., pa.Table], kwargs: dict[str, Any], out: str | None,
             parts: int) -> Any:
    """One task of a step (on a worker): the input is `item` (a first step) or partition
    `index` of the step in ``source`` = (directory, files). With `out` (a directory), the
    output is written as its file `index` and (rows, changed) returned; without, fn's result
    (a sink: small tables only). An empty input partition writes a file of no rows."""
    if source is None:
        t: pa.Table | None = fn(pa.Table.from_pylist([item]), **kwargs)
    else:
        t = read_partition(source[0], source[1], index)
        t = None if t is None else fn(t, **kwargs)
    if out is None:
        return t
    if t is None:
        t = pa.table({PART: pa.array([], pa.int64())})
    write_parts(t, parts, step_file(out, index))
    return _totals(t)


# -- on a Ray cluster ------------------------------------------------------------------------

@dataclass(frozen=True)
class Spilled:
    """A step's output on disk: `files` files in `directory`, each of `parts` partitions."""

    directory: str
    files: int
    parts: int
    rows: int
    changed: int


class FileExchange:
    """`Exchange` on a Ray cluster through files under `directory` (in the run's ``_work``,
    visible to every node); one task per input file or partition, one CPU each."""

    def __init__(self, ray: Any, directory: str, parts: int):
        self.ray = ray
        self.directory = directory
        self.parts = parts
        self._steps = 0
        self._task = ray.remote(num_cpus=1)(run_task)

    def _run(self, n: int, source: Spilled | None, items: list[dict[str, Any]] | None,
             fn: Callable[..., pa.Table], kwargs: dict[str, Any], sink: bool) -> tuple[
                 str | None, list[Any]]:
        out = None
        if not sink:
            out = os.path.join(self.directory, f"step-{self._steps}")
            self._steps += 1
            shutil.rmtree(out, ignore_errors=True)  # an interrupted earlier attempt
            os.makedirs(out)
        kw = self.ray.put(kwargs)  # once, not in each of the n task specs
        src = None if source is None else (source.directory, source.files)
        refs = [self._task.remote(i, src, None if items is None else items[i], fn, kw, out,
                                  self.parts) for i in range(n)]
        try:
            results = self.ray.get(refs)
        except BaseException:
            for r in refs:
                with contextlib.suppress(Exception):
                    self.ray.cancel(r)
            raise
        if source is not None:  # consumed: every task of this step has read it
            shutil.rmtree(source.directory, ignore_errors=True)
        return out, results

    def source(self, fn: Callable[..., pa.Table], items: list[dict[str, Any]],
               **kwargs: Any) -> Spilled:
        out, results = self._run(len(items), None, items, fn, kwargs, sink=False)
        return self._spilled(out, len(items), results)

    def shuffle(self, data: Spilled, fn: Callable[..., pa.Table], **kwargs: Any) -> Spilled:
        out, results = self._run(data.parts, data, None, fn, kwargs, sink=False)
        return self._spilled(out, data.parts, results)

    def sink(self, data: Spilled, fn: Callable[..., pa.Table], **kwargs: Any) -> list[pa.Table]:
        _, results = self._run(data.parts, data, None, fn, kwargs, sink=True)
        return [t for t in results if t is not None]

    def _spilled(self, out: str | None, files: int, results: list[tuple[int, int]]) -> Spilled:
        assert out is not None
        return Spilled(out, files, self.parts, sum(r for r, _ in results),
                       sum(c for _, c in results))

    def rows(self, data: Spilled) -> int:
        return data.rows

    def changed(self, data: Spilled) -> int:
        return data.changed

    def close(self) -> None:
        """Remove every file of the exchange (its steps' leftovers)."""
        shutil.rmtree(self.directory, ignore_errors=True)


# -- in one process ----------------------------------------------------------------------------

class LocalExchange:
    """`Exchange` in one process (lists of tables): the same steps and partitions as on the
    cluster, for tests and for measuring a step's memory."""

    def source(self, fn: Callable[..., pa.Table], items: list[dict[str, Any]],
               **kwargs: Any) -> list[pa.Table]:
        return [fn(pa.Table.from_pylist([item]), **kwargs) for item in items]

    def _partitions(self, data: list[pa.Table]) -> list[pa.Table]:
        tables = [t for t in data if t.num_rows]
        if not tables:
            return []
        t = pa.concat_tables(tables, promote_options="default")
        part = t.column(PART).to_numpy()
        return [t.filter(pa.array(part == p)) for p in np.unique(part)]

    def shuffle(self, data: list[pa.Table], fn: Callable[..., pa.Table],
                **kwargs: Any) -> list[pa.Table]:
        return [fn(t, **kwargs) for t in self._partitions(data)]

    def sink(self, data: list[pa.Table], fn: Callable[..., pa.Table],
             **kwargs: Any) -> list[pa.Table]:
        return [fn(t, **kwargs) for t in self._partitions(data)]

    def rows(self, data: list[pa.Table]) -> int:
        return sum(t.num_rows for t in data)

    def changed(self, data: list[pa.Table]) -> int:
        return sum(_totals(t)[1] for t in data)
