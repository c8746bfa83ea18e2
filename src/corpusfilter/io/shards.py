"""Reading input shards with errors that name the shard, and atomic writes."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from corpusfilter.core.errors import InputError

PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")


@dataclass(frozen=True)
class Shard:
    """One input file and the stable key its outputs are named by."""

    path: Path
    key: str


def _is_parquet_name(p: Path) -> bool:
    return p.name.lower().endswith(PARQUET_SUFFIXES)  # `b.PARQUET` and `.parquet` too


def _broken_link(p: Path) -> InputError:
    return InputError(f"input {p} is a symbolic link to {os.readlink(p)}, which does not "
                      f"exist; restore its target or remove the link")


def _directory_files(d: Path) -> list[Path]:
    """A directory's Parquet files (recursively); a dangling link among them is an error,
    never skipped: it usually stands for a shard that should be there."""
    found = []
    for q in d.rglob("*"):
        if not _is_parquet_name(q):
            continue
        if q.is_symlink() and not q.exists():
            raise _broken_link(q)
        if q.is_file():
            found.append(q)
    if not found:
        raise InputError(f"directory {d} contains no Parquet files "
                         f"({', '.join(PARQUET_SUFFIXES)}, in any letter case)")
    return sorted(found)


def expand_inputs(inputs: Sequence[str | Path]) -> list[Path]:
    """Files, directories (their Parquet files, recursively) and globs → sorted unique paths."""
    out: list[Path] = []
    for item in inputs:
        s = str(item)
        p = Path(s)
        if p.is_dir():
            out.extend(_directory_files(p))
        elif p.is_file():
            out.append(p)
        elif p.is_symlink():
            raise _broken_link(p)
        elif any(ch in s for ch in "*?["):
            matches = [Path(q) for q in glob.glob(s, recursive=True)]
            for q in matches:
                if q.is_symlink() and not q.exists():
                    raise _broken_link(q)
            found = sorted(q for q in matches if q.is_file())
            if not found:
                raise InputError(f"pattern {s} matches no files")
            out.extend(found)
        else:
            raise InputError(f"input {s} does not exist")
    seen: set[Path] = set()
    unique = []
    for p in out:
        r = p.resolve()
        if r not in seen:
            seen.add(r)
            unique.append(p)
    return unique


def shard_keys(paths: Sequence[Path]) -> list[Shard]:
    """Name each shard by its file stem; stems shared by several inputs get a path hash.

    Output files are named ``<key>.parquet``, and Arrow's dataset discovery (what
    ``pq.read_table(OUT / "data")`` uses) ignores names starting with ``.`` or ``_``, so such
    stems (and the empty stem of a file named ``.parquet``) get a ``shard`` prefix."""
    stems = [_visible(p.name.rsplit(".", 1)[0]) for p in paths]
    out = []
    for p, stem in zip(paths, stems, strict=True):
        key = stem
        if stems.count(stem) > 1:
            key = f"{stem}-{hashlib.sha1(str(p.resolve()).encode()).hexdigest()[:8]}"
        out.append(Shard(p, key))
    return out


def _visible(stem: str) -> str:
    return f"shard{stem}" if not stem or stem[0] in "._" else stem


def open_shard(path: Path, name: str | None = None) -> pq.ParquetFile:
    name = name or str(path)
    try:
        return pq.ParquetFile(path)
    except FileNotFoundError:
        raise InputError("file not found", shard=name) from None
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as e:
        raise InputError(f"not a readable Parquet file ({e}); remove or repair it and rerun "
                         f"(finished shards are not redone)", shard=name) from None


def read_shard_batches(path: Path, batch_size: int, name: str | None = None,
                       columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """Record batches of a shard; a corrupt file raises `InputError` naming it."""
    name = name or str(path)
    pf = open_shard(path, name)
    try:
        empty = True
        for batch in pf.iter_batches(batch_size=batch_size, columns=columns):
            empty = False
            yield batch
        if empty:  # an empty shard still has a schema: yield one empty batch
            yield pa.RecordBatch.from_pylist([], schema=pf.schema_arrow)
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as e:
        raise InputError(f"failed while reading ({e}); the file is corrupt or truncated: "
                         f"repair or remove it and rerun the same command (finished shards "
                         f"are not redone)", shard=name) from None


# -- atomic writes: temp file in the same directory, fsync, rename ---------------------------

def _atomic(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_parquet_atomic(table: pa.Table, path: Path) -> None:
    """Write a Parquet file so that it either exists whole or not at all."""
    # One chunk per column: the file's bytes must not depend on how batches were cut.
    table = table.combine_chunks()
    _atomic(path, lambda tmp: pq.write_table(table, tmp, compression="zstd",
                                             row_group_size=64_000, write_statistics=True))


def write_text_atomic(text: str, path: Path) -> None:
    _atomic(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_json_atomic(obj: Any, path: Path) -> None:
    write_text_atomic(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n", path)
