"""One run per output directory at a time: an exclusive lock on ``OUT/.corpusfilter.lock``.

The lock is an ``flock`` on a file inside the output directory. The kernel releases it when
the holding process exits in any way (including SIGKILL), so a crashed run never leaves a
stale lock and no lease has to expire. The file holds the holder's pid, host and start time
for the message the second run prints; it stays in place after the run (removing it would let
a waiting run lock a file nobody else sees). ``flock`` is advisory and local: two machines
writing one directory on a network file system are not kept apart by it.
"""

from __future__ import annotations

import json
import os
import socket
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType

from corpusfilter.core.errors import CorpusFilterError

LOCK_NAME = ".corpusfilter.lock"

try:
    import fcntl
except ImportError:  # Windows: no flock; runs there are not protected against each other
    fcntl = None  # type: ignore[assignment]


class OutputLock:
    """``with OutputLock(out):`` holds the output directory for one run, or raises a
    `CorpusFilterError` naming the process that holds it."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.path = self.out / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> OutputLock:
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise CorpusFilterError(f"cannot use {self.out} as the output directory "
                                    f"({e.strerror}); choose another -o") from None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise CorpusFilterError(
                    f"output directory {self.out} is in use by another corpusfilter run "
                    f"({holder}); wait for it to finish or choose another -o directory"
                ) from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({
            "pid": os.getpid(), "host": socket.gethostname(),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}).encode())
        self._fd = fd
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the flock
            self._fd = None


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {info['pid']} on {info['host']}, started {info['started']}"
    except (ValueError, KeyError, OSError):
        return "holder unknown"
