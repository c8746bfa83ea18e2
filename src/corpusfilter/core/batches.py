"""Arrow plumbing of the pipeline: text columns in the one form every stage's kernels take,
ids as strings (with errors naming shard and row), in-memory inputs as shards of batches, and
row-level batch edits (set a column, repeat rows, concatenate, re-cut), results back in the
caller's frame type."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusfilter.core.errors import InputError

_TEXT_TYPES = (pa.types.is_string, pa.types.is_large_string, pa.types.is_binary,
               pa.types.is_large_binary, pa.types.is_string_view, pa.types.is_binary_view)


def is_text_type(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return any(is_type(t) for is_type in _TEXT_TYPES)


def needs_plain_text(t: pa.DataType) -> bool:
    return pa.types.is_dictionary(t) or pa.types.is_string_view(t) or \
        pa.types.is_binary_view(t)


def plain_text(arr: pa.Array) -> pa.Array:
    """Dictionary-encoded and view text → plain (large_)string/binary, which every stage's
    kernels take (Arrow has no `utf8_length` for views, for one). Same values, so the output
    holds the text as an ordinary string column."""
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    if pa.types.is_string_view(arr.type):
        return arr.cast(pa.string())
    if pa.types.is_binary_view(arr.type):
        return arr.cast(pa.binary())
    return arr


def id_strings(ids: pa.Array, column: str, shard: str, first_row: int) -> pa.Array:
    """Ids as strings; an id that cannot be one raises `InputError` naming shard and row."""
    try:
        return ids.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    for i, v in enumerate(ids.to_pylist()):  # the slow path only finds the row to name
        if isinstance(v, bytes):
            try:
                v.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(f"id {v[:40]!r} in column {column!r} is not valid UTF-8; "
                                 f"ids must be text: fix this shard's ids",
                                 shard=shard, row=first_row + i) from None
    raise InputError(f"id column {column!r} has type {ids.type}, which cannot be read as "
                     f"text; set `id_column:` to a string or integer column", shard=shard)


def decode_utf8(arr: pa.Array) -> tuple[pa.Array, list[int]]:
    """Binary → string; rows that are not valid UTF-8 become null and are reported."""
    target = pa.large_string() if pa.types.is_large_binary(arr.type) else pa.string()
    try:
        return arr.cast(target), []
    except pa.ArrowInvalid:
        pass
    values, bad = [], []
    for i, v in enumerate(arr.to_pylist()):
        if v is None:
            values.append(None)
            continue
        try:
            values.append(v.decode("utf-8"))
        except UnicodeDecodeError:
            values.append(None)
            bad.append(i)
    return pa.array(values, target), bad


def set_column(batch: pa.RecordBatch, name: str, arr: pa.Array) -> pa.RecordBatch:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    i = batch.schema.get_field_index(name)
    if i >= 0:
        return batch.set_column(i, name, arr)
    return batch.append_column(name, arr)


def repeat_rows(batch: pa.RecordBatch, repeat: np.ndarray, id_col: str) -> pa.RecordBatch:
    """Emit each row `repeat[i]` times; copies get ``epoch`` 1, 2, ... and id ``<id>#<epoch>``."""
    repeat = repeat.astype(np.int64)
    idx = np.repeat(np.arange(batch.num_rows), repeat)
    starts = np.repeat(np.cumsum(repeat) - repeat, repeat)
    epoch = np.arange(len(idx)) - starts
    out = batch.take(pa.array(idx, pa.int64()))
    ids = out.column(id_col).cast(pa.string())
    suffix = pa.array([f"#{e}" if e else "" for e in epoch], pa.string())
    new_ids = pc.binary_join_element_wise(ids, suffix, "")
    out = set_column(out, id_col, new_ids.cast(batch.schema.field(id_col).type))
    return set_column(out, "epoch", pa.array(epoch, pa.int32()))


def concat_batches(batches: list[pa.RecordBatch]) -> pa.Table:
    """Zero-copy when all batches share a schema (the usual case)."""
    if not batches:
        return pa.table({})
    schema = batches[0].schema
    if all(b.schema.equals(schema) for b in batches):
        return pa.Table.from_batches(batches, schema=schema)
    tables = [pa.Table.from_batches([b]) for b in batches]
    return pa.concat_tables(tables, promote_options="default")


def rebatch(table: pa.Table, batch_size: int) -> list[pa.RecordBatch]:
    if table.num_columns == 0:
        return []
    batches = table.to_batches(max_chunksize=batch_size)
    return batches or [pa.RecordBatch.from_pylist([], schema=table.schema)]


def check_unique_ids(shards: Sequence[tuple[str, Sequence[pa.Array]]],
                     column: str = "id") -> None:
    """Ids must be unique across the whole input, or conservation cannot be checked."""
    arrays = []
    for name, arrs in shards:
        row = 0
        for a in arrs:
            arrays.append(id_strings(a, column, name, row))
            row += len(a)
    if not arrays:
        return
    dupe = first_duplicate(pa.chunked_array(arrays, type=pa.string()))
    if dupe is None:
        return
    where = [name for name, arrs in shards
             if any(pc.any(pc.equal(a.cast(pa.string()), dupe)).as_py() for a in arrs)]
    raise InputError(f"document id {dupe!r} occurs more than once (in {', '.join(where)}); "
                     f"ids must be unique for the ledger to account for every document",
                     shard=where[0])


def first_duplicate(ids: pa.Array | pa.ChunkedArray) -> str | None:
    """The smallest id occurring more than once, or None."""
    if len(ids) == 0:
        return None
    vc = pc.value_counts(ids)
    counts = vc.field("counts").to_numpy()
    if counts.max(initial=0) <= 1:
        return None
    dupes = vc.field("values").filter(pa.array(counts > 1)).to_pylist()
    return min(str(d) for d in dupes)


def as_shards(data: Any, batch_size: int, id_column: str | None = None,
              storage: dict[str, Any] | None = None, limit: int | None = None
              ) -> Iterator[tuple[str, Iterable[pa.RecordBatch]]]:
    """Normalise what `Pipeline.run` accepts into (shard name, batches) pairs (only the
    first ``limit`` documents, as the engines read them, when the config sets one)."""
    from corpusfilter.io.shards import (
        expand_inputs,
        limit_shards,
        read_shard_batches,
        shard_keys,
        with_ids,
    )

    if isinstance(data, (str, Path)) or (isinstance(data, list) and data
                                         and isinstance(data[0], (str, Path))):
        paths = expand_inputs([data] if isinstance(data, (str, Path)) else data, storage)
        for s in limit_shards(shard_keys(paths), limit, storage):
            yield s.key, list(read_shard_batches(s.path, batch_size, s.key,
                                                 storage_options=storage, id_column=id_column,
                                                 limit=s.rows))
        return
    table = to_arrow_table(data)
    if table is not None and limit is not None:
        table = table.slice(0, limit)
    if table is not None:
        batches = table.to_batches(max_chunksize=batch_size) or [
            pa.RecordBatch.from_pylist([], schema=table.schema)]
        yield "<memory>", list(with_ids(batches, "<memory>", id_column)) if id_column \
            else batches
        return
    first = (lambda t: t) if limit is None else (lambda t: t.slice(0, limit))
    if isinstance(data, pa.RecordBatch):
        yield "<memory>", rebatch(first(pa.Table.from_batches([data])), batch_size)
        return
    if isinstance(data, Iterable):
        batches = list(data)
        if batches and all(isinstance(b, pa.RecordBatch) for b in batches):
            yield "<memory>", rebatch(first(pa.Table.from_batches(batches)), batch_size)
            return
    raise TypeError(f"cannot run a pipeline on {type(data).__name__}: pass a pyarrow Table or "
                    f"RecordBatch(es), a pandas/polars DataFrame, a datasets.Dataset, or "
                    f"Parquet paths")


def frame_kind(data: Any) -> str:
    """The frame type results are returned in: that of the data given to `Pipeline.run`
    (``pandas``, ``polars``, ``datasets``), else ``arrow`` (tables, batches, paths)."""
    mod = type(data).__module__.split(".")[0]
    return mod if mod in ("pandas", "polars", "datasets") else "arrow"


def from_arrow_table(table: pa.Table, kind: str) -> Any:
    """An Arrow table in the frame type ``kind`` (`frame_kind`). The library is the one the
    caller's data came from, already imported (none of them is a dependency)."""
    if kind == "pandas":
        return table.to_pandas()
    if kind == "polars":
        return sys.modules["polars"].from_arrow(table)
    if kind == "datasets":
        # datasets.Dataset wraps its own Table class around an Arrow table
        ds = sys.modules["datasets"]
        return ds.Dataset(ds.table.InMemoryTable(table))
    return table


def to_arrow_table(data: Any) -> pa.Table | None:
    """Zero-copy (where the library allows) conversion of DataFrame-like objects to Arrow."""
    if isinstance(data, pa.Table):
        return data
    mod = type(data).__module__.split(".")[0]
    if mod == "pandas":
        return pa.Table.from_pandas(data, preserve_index=False)
    if mod == "polars":
        return data.to_arrow()
    if mod == "datasets":  # Hugging Face datasets: Arrow-backed already
        return data.with_format("arrow")[:]
    if hasattr(data, "__arrow_c_stream__"):
        return pa.table(data)
    return None


class Derived:
    """Values derived from one batch's text (the prose text, the words, ...), one per row,
    shared by the stages that see that text: the pipeline carries them from stage to stage
    like the character counts (`ShardWork.run_stage`), keeps the rows of those it filters,
    and starts afresh when a stage rewrites the text (issue 21: `prose_text` was computed
    three times per batch, the words twice more).

    A value is bound to the text array it was derived from (its buffers, held here so their
    addresses stay its own): asked for another text, the memo forgets everything, so a stage
    that changed the text without the pipeline knowing cannot read stale values. Values are
    Arrow arrays, NumPy arrays or objects with ``select_docs(mask)`` (`filters.text.Pieces`).
    """

    def __init__(self) -> None:
        self._text: pa.Array | None = None
        self._key: tuple[Any, ...] | None = None
        self.values: dict[str, Any] = {}

    @staticmethod
    def _key_of(text: pa.Array) -> tuple[Any, ...]:
        return (len(text), text.offset, tuple(b.address if b is not None else 0
                                              for b in text.buffers()))

    def get(self, name: str, text: pa.Array, compute: Callable[[], Any]) -> Any:
        """The value `name` derived from `text`, computed once while `text` is unchanged."""
        if isinstance(text, pa.ChunkedArray):
            return compute()  # no stable buffers to bind to
        key = self._key_of(text)
        if key != self._key:
            self._text, self._key, self.values = text, key, {}
        if name not in self.values:
            self.values[name] = compute()
        return self.values[name]

    def peek(self, name: str, text: pa.Array) -> Any:
        """The value `name` if it was derived from `text`, else None (nothing computed)."""
        if isinstance(text, pa.ChunkedArray) or self._key != self._key_of(text):
            return None
        return self.values.get(name)

    def select(self, keep: np.ndarray, text: pa.Array) -> Derived:
        """The rows `keep` of every value, bound to `text` (the kept rows' text)."""
        out = Derived()
        if self._key is None or isinstance(text, pa.ChunkedArray):
            return out
        out._text, out._key = text, self._key_of(text)
        mask = pa.array(keep, pa.bool_())
        for name, v in self.values.items():
            if isinstance(v, (pa.Array, pa.ChunkedArray)):
                out.values[name] = v.filter(mask)
            elif isinstance(v, np.ndarray):
                out.values[name] = v[keep]
            else:
                out.values[name] = v.select_docs(keep)
        return out
