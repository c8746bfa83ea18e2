"""A cheap content fingerprint of an input shard, for resume.

Resume must notice a shard that was rewritten between a crash and the rerun, even with the
same byte size. Hashing whole shards would read the corpus once more; instead the fingerprint
combines the size, the modification time (nanoseconds) and a hash of the Parquet footer. The
footer holds every row group's byte offsets, sizes and column statistics (min/max of ids and
text where written), so most rewrites that keep size and mtime change it too. A rewrite that
keeps size, restores the old mtime and leaves every statistic alone is not noticed: the price
of not reading whole shards at every start (`make` and `rsync` make the same trade). A file that is not valid Parquet (no footer) is fingerprinted by its last 64 KiB instead,
so a corrupt shard that is later repaired reads as changed.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import xxhash

PARQUET_MAGIC = b"PAR1"
TAIL_BYTES = 64 * 1024


def shard_fingerprint(path: str | Path, storage_options: dict | None = None) -> str:
    """``size:mtime_ns:xxh64(footer)`` of a file (see the module docstring).

    Local paths are read directly; URLs (s3://, gs://, fsspec) through the file-system layer,
    where the modification time is the object store's (an overwritten object gets a new one)."""
    from corpusfilter.io import fs

    location = str(path)
    if fs.is_url(location):
        info = fs.info(location, storage_options)
        size = info.size or 0
        mtime = info.mtime_ns if info.mtime_ns is not None else 0
        with fs.open_input_file(location, storage_options) as f:
            digest = _tail_digest(f, size)
        return f"{size}:{mtime}:{digest}"
    st = os.stat(location)
    with open(location, "rb") as f:
        digest = _tail_digest(f, st.st_size)
    return f"{st.st_size}:{st.st_mtime_ns}:{digest}"


def _tail_digest(f: Any, size: int) -> str:
    """xxh64 of the Parquet footer, or of the last 64 KiB of a file that has none."""
    tail_len = 0
    if size >= 12:
        f.seek(size - 8)
        end = f.read(8)
        footer_len = struct.unpack("<I", end[:4])[0]
        if end[4:] == PARQUET_MAGIC and footer_len + 8 <= size:
            tail_len = footer_len + 8
    if not tail_len:
        tail_len = min(size, TAIL_BYTES)
    f.seek(size - tail_len)
    return xxhash.xxh64_hexdigest(f.read(tail_len))


def describe_change(old: str, new: str) -> str:
    """Which parts of two fingerprints differ, for messages: ``new size, Parquet footer``."""
    names = ("size", "modification time", "Parquet footer")
    diff = [n for n, a, b in zip(names, old.split(":"), new.split(":"), strict=False) if a != b]
    return "new " + (", ".join(diff) or "content")
