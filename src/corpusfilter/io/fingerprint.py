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

import xxhash

PARQUET_MAGIC = b"PAR1"
TAIL_BYTES = 64 * 1024


def shard_fingerprint(path: Path) -> str:
    """``size:mtime_ns:xxh64(footer)`` of a file (see the module docstring)."""
    st = os.stat(path)
    with open(path, "rb") as f:
        tail_len = 0
        if st.st_size >= 12:
            f.seek(st.st_size - 8)
            end = f.read(8)
            footer_len = struct.unpack("<I", end[:4])[0]
            if end[4:] == PARQUET_MAGIC and footer_len + 8 <= st.st_size:
                tail_len = footer_len + 8
        if not tail_len:
            tail_len = min(st.st_size, TAIL_BYTES)
        f.seek(st.st_size - tail_len)
        digest = xxhash.xxh64_hexdigest(f.read(tail_len))
    return f"{st.st_size}:{st.st_mtime_ns}:{digest}"


def describe_change(old: str, new: str) -> str:
    """Which parts of two fingerprints differ, for messages: ``new size, Parquet footer``."""
    names = ("size", "modification time", "Parquet footer")
    diff = [n for n, a, b in zip(names, old.split(":"), new.split(":"), strict=False) if a != b]
    return "new " + (", ".join(diff) or "content")
