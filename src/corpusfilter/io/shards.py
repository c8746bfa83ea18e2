"""Input shards (Parquet or JSON Lines, local or at a URL) with errors that name the shard,
and the kept-documents files of a run's ``data/`` (atomic writes: `io/atomic.py`)."""

from __future__ import annotations

import glob
import hashlib
import itertools
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from corpusfilter.core.errors import InputError
from corpusfilter.io import fs
from corpusfilter.io.atomic import atomic_write
from corpusfilter.io.atomic import write_json_atomic as write_json_atomic  # re-exported
from corpusfilter.io.atomic import write_parquet_atomic as write_parquet_atomic  # re-exported
from corpusfilter.io.atomic import write_text_atomic as write_text_atomic  # re-exported
from corpusfilter.io.jsonl import dumps_jsonl, read_jsonl

PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
COMPRESSIONS = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd"}
# What `data/` can be written as (`output_format:` / `--output-format`).
OUTPUT_FORMATS = {"parquet": ".parquet", "jsonl": ".jsonl", "jsonl.gz": ".jsonl.gz",
                  "jsonl.zst": ".jsonl.zst"}
# Generated ids (when a shard has no id column): shard key, a colon, the row number from 0.
GENERATED_ID_RULE = "<shard>:<row>"

StorageOptions = dict[str, dict[str, Any]] | None
# Blank lines (no document): one per newline followed by only spaces up to the next newline,
# plus a blank first line. A pattern that starts with a literal scans fast (~2x a plain
# newline count; a multi-line `^` pattern was 15x).
_BLANK_AFTER_NEWLINE = re.compile(rb"\n(?=[ \t\r]*\n)")
_BLANK_FIRST = re.compile(rb"[ \t\r]*\n")


@dataclass(frozen=True)
class Shard:
    """One input file (an absolute local path or a URL) and the stable key its outputs are
    named by; ``rows`` caps the documents read from it (its first ``rows``), set by
    `limit_shards` for ``--limit`` runs, None for all of them."""

    path: str
    key: str
    rows: int | None = None


def limit_shards(shards: Sequence[Shard], limit: int | None,
                 storage_options: StorageOptions = None) -> list[Shard]:
    """The shards a run with ``--limit`` reads: the first ``limit`` documents of the input
    in shard order (the order `expand_inputs` lists them: sorted within a directory).

    Shards are counted one at a time until the limit is reached, so a quick try on a large
    corpus reads only the shards it needs; the last one is cut (``rows``) and the rest are
    left out; a JSON Lines shard is counted only as far as the limit needs. The same input
    and limit always give the same documents, which is what lets a limited run resume and
    `verify` recount it (it calls this on the inputs run.json lists)."""
    if limit is None:
        return list(shards)
    out: list[Shard] = []
    left = limit
    for s in shards:
        if left <= 0:
            break
        n = _all_rows(s, storage_options, stop_after=left)
        out.append(s if n <= left else replace(s, rows=left))
        left -= min(n, left)
    return out


def file_format(name: str) -> tuple[str, str | None] | None:
    """``("parquet", None)`` or ``("jsonl", compression)`` from a file name (any letter case:
    ``b.PARQUET``); None if neither."""
    lower = name.lower()
    compression = None
    for suffix, codec in COMPRESSIONS.items():
        if lower.endswith(suffix):
            compression, lower = codec, lower[:-len(suffix)]
            break
    if compression is None and lower.endswith(PARQUET_SUFFIXES):
        return "parquet", None
    if lower.endswith(JSONL_SUFFIXES):
        return "jsonl", compression
    return None


def _stem(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    lower = base.lower()
    for suffix in (*COMPRESSIONS, *PARQUET_SUFFIXES, *JSONL_SUFFIXES):
        if lower.endswith(suffix):
            base, lower = base[:-len(suffix)], lower[:-len(suffix)]
    return base  # empty for a file named `.parquet` (`_visible` names it)


def _listed(name: str) -> bool:
    """Files a directory contributes: Parquet and JSON Lines (a bare ``.json`` only when
    compressed, as dolma writes it; a plain one is more often metadata)."""
    fmt = file_format(name)
    if fmt is None:
        return False
    return not (name.lower().endswith(".json") and fmt[1] is None)


def _broken_link(p: str) -> InputError:
    return InputError(f"input {p} is a symbolic link to {os.readlink(p)}, which does not "
                      f"exist; restore its target or remove the link")


def _local_directory_files(d: str) -> list[str]:
    """A local directory's input files (recursively); a dangling link among them is an error,
    never skipped: it usually stands for a shard that should be there."""
    found = []
    for q in sorted(Path(d).rglob("*")):
        if not _listed(q.name):
            continue
        if q.is_symlink() and not q.exists():
            raise _broken_link(str(q))
        if q.is_file():
            found.append(str(q))
    return found


def expand_inputs(inputs: Sequence[str | Path], storage_options: StorageOptions = None
                  ) -> list[str]:
    """Files, directories (recursively) and globs, local or URLs → unique locations in order."""
    out: list[str] = []
    for item in inputs:
        s = fs.absolute(item)
        local = not fs.is_url(s)
        if local and os.path.islink(s) and not os.path.exists(s):
            raise _broken_link(s)
        kind = fs.info(s, storage_options).type
        if kind == fs.pafs.FileType.Directory:
            found = (_local_directory_files(s) if local else
                     [f for f in fs.list_files(s, storage_options) if _listed(f)])
            if not found:
                raise InputError(f"directory {item} contains no Parquet files "
                                 f"({', '.join(PARQUET_SUFFIXES)}, in any letter case) or JSON "
                                 f"Lines files (.jsonl, .ndjson, each also .gz / .zst; "
                                 f".json.gz, .json.zst)")
            out.extend(found)
        elif kind == fs.pafs.FileType.File:
            out.append(s)
        elif any(ch in str(item) for ch in "*?["):
            if local:
                matches = sorted(glob.glob(s, recursive=True))
                for q in matches:
                    if os.path.islink(q) and not os.path.exists(q):
                        raise _broken_link(q)
                found = [q for q in matches if os.path.isfile(q)]
            else:
                found = fs.glob(s, storage_options)
            if not found:
                raise InputError(f"pattern {item} matches no files")
            out.extend(found)
        else:
            raise InputError(f"input {item} does not exist")
    unique: dict[str, str] = {}  # one file named twice (also through a link) is one shard
    for loc in out:
        unique.setdefault(loc if fs.is_url(loc) else os.path.realpath(loc), loc)
    return list(unique.values())


def shard_keys(paths: Sequence[str]) -> list[Shard]:
    """Name each shard by its file stem; stems shared by several inputs get a path hash.

    Output files are named ``<key>.parquet``, and Arrow's dataset discovery (what
    ``pq.read_table(OUT / "data")`` uses) ignores names starting with ``.`` or ``_``, so such
    stems (and the empty stem of a file named ``.parquet``) get a ``shard`` prefix."""
    stems = [_visible(_stem(p)) for p in paths]
    out = []
    for p, stem in zip(paths, stems, strict=True):
        key = stem
        if stems.count(stem) > 1:
            key = f"{stem}-{hashlib.sha1(p.encode()).hexdigest()[:8]}"
        out.append(Shard(p, key))
    return out


def _visible(stem: str) -> str:
    return f"shard{stem}" if not stem or stem[0] in "._" else stem


def _fmt(path: str) -> tuple[str, str | None]:
    # A file named explicitly with another extension is tried as Parquet (as it always was).
    return file_format(path) or ("parquet", None)


def open_shard(path: str | Path, name: str | None = None,
               storage_options: StorageOptions = None) -> pq.ParquetFile:
    """A Parquet shard opened for reading; a missing or corrupt file raises `InputError`."""
    name = name or str(path)
    try:
        return pq.ParquetFile(fs.open_input_file(str(path), storage_options))
    except FileNotFoundError:
        raise InputError("file not found", shard=name) from None
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as e:
        raise InputError(f"not a readable Parquet file ({fs._short(e)}); remove or repair it "
                         f"and rerun (finished shards are not redone)", shard=name) from None


def _read_jsonl_table(path: str, name: str, storage_options: StorageOptions) -> pa.Table:
    compression = _fmt(path)[1]
    try:
        with fs.open_input_stream(path, storage_options, compression=compression) as f:
            data = f.read()
    except FileNotFoundError:
        raise InputError("file not found", shard=name) from None
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as e:
        raise InputError(f"cannot read it ({fs._short(e)}); the file is corrupt or truncated",
                         shard=name) from None
    return read_jsonl(data, name)


def _read_jsonl_head(path: str, name: str, storage_options: StorageOptions,
                     limit: int) -> pa.Table:
    """The first ``limit`` lines of a JSON Lines file, parsed (the rest is not read)."""
    compression = _fmt(path)[1]
    try:
        with fs.open_input_stream(path, storage_options, compression=compression) as f:
            lines = list(itertools.islice(_lines(f), limit))
    except FileNotFoundError:
        raise InputError("file not found", shard=name) from None
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as e:
        raise InputError(f"cannot read it ({fs._short(e)}); the file is corrupt or truncated",
                         shard=name) from None
    return read_jsonl(b"".join(lines), name)


def _lines(f: pa.NativeFile) -> Iterator[bytes]:
    """Lines of a stream, each ending in a newline, read in 1 MB chunks."""
    rest = b""
    while chunk := f.read(1 << 20):
        parts = (rest + chunk).split(b"\n")
        rest = parts.pop()
        yield from (p + b"\n" for p in parts if p.strip())  # blank lines are no documents
    if rest.strip():
        yield rest + b"\n"


def shard_rows(shard: Shard, storage_options: StorageOptions = None) -> int:
    """Documents in a shard (at most its ``rows``): Parquet metadata, or the lines of a JSON
    Lines file."""
    if shard.rows is not None:  # cut by --limit: counting the file would read all of it
        return min(shard.rows, _all_rows(shard, storage_options, stop_after=shard.rows))
    return _all_rows(shard, storage_options)


def _all_rows(shard: Shard, storage_options: StorageOptions, stop_after: int | None = None
              ) -> int:
    """The shard's documents; with ``stop_after``, a JSON Lines file is read only until
    more than that many are counted (the count is then just above it)."""
    if _fmt(shard.path)[0] == "parquet":
        return open_shard(shard.path, shard.key, storage_options).metadata.num_rows
    compression = _fmt(shard.path)[1]
    n = 0
    rest = b""
    try:
        with fs.open_input_stream(shard.path, storage_options, compression=compression) as f:
            while chunk := f.read(16 << 20):
                data = rest + chunk
                cut = data.rfind(b"\n") + 1  # whole lines only: a blank one is no document
                blank = len(_BLANK_AFTER_NEWLINE.findall(data, 0, cut)) + (
                    _BLANK_FIRST.match(data, 0, cut) is not None)
                n += data.count(b"\n", 0, cut) - blank
                rest = data[cut:]
                if stop_after is not None and n > stop_after:
                    break
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as e:
        raise InputError(f"cannot read it ({fs._short(e)}); the file is corrupt or truncated",
                         shard=shard.key) from None
    return n + bool(rest.strip())


def shard_size(shard: Shard, storage_options: StorageOptions = None) -> int:
    return int(fs.info(shard.path, storage_options).size or 0)


def shard_schema(shard: Shard, storage_options: StorageOptions = None) -> pa.Schema:
    """The columns of a shard; for JSON Lines, those of its first lines (up to 1 MB), which
    is what the driver needs (facets, whether ids are generated) without parsing it all."""
    if _fmt(shard.path)[0] == "parquet":
        return open_shard(shard.path, shard.key, storage_options).schema_arrow
    try:
        with fs.open_input_stream(shard.path, storage_options,
                                  compression=_fmt(shard.path)[1]) as f:
            head = f.read(1 << 20)
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as e:
        raise InputError(f"cannot read it ({fs._short(e)}); the file is corrupt or truncated",
                         shard=shard.key) from None
    if len(head) == 1 << 20:
        head = head[:head.rfind(b"\n") + 1]
    return read_jsonl(head, shard.key).schema


def read_shard_batches(path: str | Path, batch_size: int, name: str | None = None,
                       columns: list[str] | None = None,
                       storage_options: StorageOptions = None,
                       id_column: str | None = None, limit: int | None = None
                       ) -> Iterator[pa.RecordBatch]:
    """Record batches of a shard; a corrupt file raises `InputError` naming it.

    With ``id_column`` and a shard that lacks it, the column is added with deterministic ids
    ``<shard>:<row>`` (`GENERATED_ID_RULE`), ``name`` being the shard key. ``limit`` stops
    after that many rows (a shard's ``rows`` under ``--limit``).
    """
    path = str(path)
    name = name or path
    batches = (_parquet_batches(path, batch_size, name, columns, storage_options)
               if _fmt(path)[0] == "parquet" else
               _jsonl_batches(path, batch_size, name, columns, storage_options, limit))
    if limit is not None:
        batches = _first_rows(batches, limit)
    yield from batches if id_column is None else with_ids(batches, name, id_column)


def _first_rows(batches: Iterator[pa.RecordBatch], limit: int) -> Iterator[pa.RecordBatch]:
    """The batches up to ``limit`` rows (the last one cut); at least one (maybe empty) batch,
    so the schema is still seen; the file is not read further."""
    left = limit
    first = True
    for b in batches:
        if left <= 0 and not first:
            return
        yield b.slice(0, left) if b.num_rows > left else b
        left -= min(b.num_rows, left)
        first = False


def with_ids(batches: Iterable[pa.RecordBatch], name: str, id_column: str
             ) -> Iterator[pa.RecordBatch]:
    """Add ``<name>:<row>`` ids when the batches have no ``id_column`` (rows count from 0
    over the whole shard, so ids do not depend on the batch size)."""
    row = 0
    for b in batches:
        if id_column not in b.schema.names:
            ids = pa.array([f"{name}:{i}" for i in range(row, row + b.num_rows)], pa.string())
            b = b.append_column(id_column, ids)
        row += b.num_rows
        yield b


def _parquet_batches(path: str, batch_size: int, name: str, columns: list[str] | None,
                     storage_options: StorageOptions) -> Iterator[pa.RecordBatch]:
    pf = open_shard(path, name, storage_options)
    try:
        empty = True
        for batch in pf.iter_batches(batch_size=batch_size, columns=columns):
            empty = False
            yield batch
        if empty:  # an empty shard still has a schema: yield one empty batch
            yield pa.RecordBatch.from_pylist([], schema=pf.schema_arrow)
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as e:
        raise InputError(f"failed while reading ({fs._short(e)}); the file is corrupt or "
                         f"truncated: repair or remove it and rerun the same command "
                         f"(finished shards are not redone)", shard=name) from None


def _jsonl_batches(path: str, batch_size: int, name: str, columns: list[str] | None,
                   storage_options: StorageOptions, limit: int | None = None
                   ) -> Iterator[pa.RecordBatch]:
    table = (_read_jsonl_table(path, name, storage_options) if limit is None else
             _read_jsonl_head(path, name, storage_options, limit))
    if columns is not None:
        table = table.select([c for c in columns if c in table.column_names])
    yield from table.to_batches(max_chunksize=batch_size) or [
        pa.RecordBatch.from_pylist([], schema=table.schema)]


def read_ids(shard: Shard, id_column: str, storage_options: StorageOptions = None) -> pa.Array:
    """A shard's document ids as strings (generated ones where the shard has no id column)."""
    parts = [b.column(id_column).cast(pa.string()) for b in read_shard_batches(
        shard.path, 1 << 16, shard.key, storage_options=storage_options, id_column=id_column,
        limit=shard.rows)]
    return pa.concat_arrays(parts) if parts else pa.array([], pa.string())


def read_input_columns(shard: Shard, columns: list[str], id_column: str,
                       storage_options: StorageOptions = None) -> pa.Table:
    """Some columns of an input shard, any format, with its ids (generated where it has
    none): what `inspect` and `report --by` read back from a run's inputs."""
    names = shard_schema(shard, storage_options).names
    wanted = list(dict.fromkeys(c for c in [id_column, *columns] if c in names))
    batches = list(read_shard_batches(shard.path, 1 << 16, shard.key, columns=wanted,
                                      storage_options=storage_options, id_column=id_column,
                                      limit=shard.rows))
    return pa.Table.from_batches(batches)


# -- a run's data/: kept documents in the chosen format --------------------------------------

def data_files(directory: str) -> list[str]:
    """The kept-documents files of a run's ``data/`` directory, sorted."""
    if not fs.exists(directory):
        return []
    return [f for f in fs.list_files(directory) if file_format(f) is not None
            and not f.rsplit("/", 1)[-1].startswith(".")]


def read_columns(path: str, columns: list[str] | None = None) -> pa.Table:
    """Columns of one data file (missing ones are left out), Parquet or JSON Lines."""
    if _fmt(path)[0] == "parquet":
        with fs.open_input_file(path) as f:
            names = pq.read_schema(f).names
        wanted = None if columns is None else [c for c in columns if c in names]
        with fs.open_input_file(path) as f:
            return pq.read_table(f, columns=wanted)
    table = _read_jsonl_table(path, path, None)
    return table if columns is None else table.select(
        [c for c in columns if c in table.column_names])


def export_kept(table: pa.Table, directory: Path, key: str, output_format: str,
                max_rows: int | None = None, max_bytes: int | None = None) -> list[Path]:
    """Write a shard's kept documents as ``<directory>/<key>.<ext>`` in the chosen format,
    or, with ``max_rows`` / ``max_bytes``, as ``<key>-00000.<ext>``, ``-00001``, ... (always
    numbered then, so a shard's files are found by one pattern). Where a shard's output is
    cut depends only on its rows, so a rerun writes the same files. Returns the paths."""
    ext = OUTPUT_FORMATS[output_format]
    if max_rows is None and max_bytes is None:
        parts, names = [table], [f"{key}{ext}"]
    else:
        cuts = split_rows(table, max_rows, max_bytes)
        parts = [table.slice(start, length) for start, length in cuts]
        names = [f"{key}-{i:05d}{ext}" for i in range(len(cuts))]
    written = []
    for part, name in zip(parts, names, strict=True):
        dst = directory / name
        if output_format == "parquet":
            write_parquet_atomic(part, dst)
        else:
            _write_jsonl(part, dst)
        written.append(dst)
    return written


def split_rows(table: pa.Table, max_rows: int | None, max_bytes: int | None
               ) -> list[tuple[int, int]]:
    """(offset, length) of consecutive parts of at most ``max_rows`` rows and about
    ``max_bytes`` of Arrow data each (a single row larger than that is a part of its own);
    one empty part for an empty table.

    A row's size is the bytes of its string / binary values plus the average per row of the
    other columns, which is what the file holds before compression."""
    n = table.num_rows
    if n == 0:
        return [(0, 0)]
    rows = max_rows or n
    if max_bytes is None:
        return [(i, min(rows, n - i)) for i in range(0, n, rows)]
    import numpy as np
    import pyarrow.compute as pc

    size = np.zeros(n, dtype=np.float64)
    for col in table.columns:
        t = col.type
        if pa.types.is_string(t) or pa.types.is_binary(t) or pa.types.is_large_string(t) \
                or pa.types.is_large_binary(t):
            size += pc.fill_null(pc.binary_length(col), 0).to_numpy(zero_copy_only=False)
            size += 8 if pa.types.is_large_string(t) or pa.types.is_large_binary(t) else 4
        else:
            size += col.nbytes / n
    cum = np.cumsum(size)
    parts = []
    start = 0
    while start < n:
        before = cum[start - 1] if start else 0.0
        end = int(np.searchsorted(cum, before + max_bytes, side="right"))
        end = max(start + 1, min(end, start + rows, n))
        parts.append((start, end - start))
        start = end
    return parts


def _write_jsonl(table: pa.Table, dst: Path) -> None:
    data = dumps_jsonl(table)
    compression = _fmt(dst.name)[1]

    def write(tmp: str) -> None:
        with pa.output_stream(tmp, compression=compression) as f:
            f.write(data)

    atomic_write(dst, write)

