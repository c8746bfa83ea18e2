"""Atomic file writes: a file either exists whole or not at all.

Every file a run writes (a unit's results, a plan, the final files, reports) goes through
`atomic_write`: the content is written to a temporary file in the target's directory (named
``.<name>.<random>.tmp``, so `verify` and the engines can find leftovers of an interrupted
write), flushed to disk with ``fsync``, and renamed over the target. A rename within one
directory is atomic on POSIX file systems (``rename(2)``), so a reader, or a rerun after a
kill at any moment, sees the old file or the new one, never a part.
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

TEMP_SUFFIX = ".tmp"


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp)`` to fill a temporary file, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        # mkstemp makes the file 0600; a finished file gets the mode open() would give it
        # under the user's umask, so colleagues on a shared cluster can read the run.
        os.chmod(tmp, 0o666 & ~_umask())
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def remove_temp_files(directory: Path) -> None:
    """Remove the temporary files of interrupted atomic writes (never a finished file)."""
    for tmp in Path(directory).glob(f"*{TEMP_SUFFIX}"):
        tmp.unlink(missing_ok=True)


def write_parquet_atomic(table: pa.Table, path: Path, compression: str = "zstd") -> None:
    """Write a Parquet file so that it either exists whole or not at all.

    ``compression``: zstd for every file a run keeps; the engines' intermediate files
    under ``_work/`` (read once by the next phase, then deleted) pass ``"none"``
    (`engines/unit.py`, ``WORK_COMPRESSION``)."""
    # One chunk per column: the file's bytes must not depend on how batches were cut.
    table = table.combine_chunks()
    atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression=compression,
                                                  row_group_size=64_000,
                                                  write_statistics=True))


def write_text_atomic(text: str, path: Path) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_json_atomic(obj: Any, path: Path) -> None:
    write_text_atomic(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n", path)


def write_pickle_atomic(obj: Any, path: Path) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)

    atomic_write(path, write)


def write_npy_atomic(array: np.ndarray, path: Path) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:  # a file object: np.save would append .npy to a name
            np.save(f, array)

    atomic_write(path, write)
