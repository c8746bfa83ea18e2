"""Process hygiene of the local engine: signals, worker death, workers that outlive nobody.

Operators stop jobs with SIGTERM (``kill``, systemd, Kubernetes) or Ctrl-C (SIGINT), and the
kernel's out-of-memory killer ends processes with SIGKILL. This module makes each of these end
a run cleanly:

- `stop_signals` turns SIGTERM and SIGINT in the driver into `Interrupted`, so the engine can
  stop its workers and say where the run stands before exiting with 128 + the signal number
  (the shell's convention: 130 for SIGINT, 143 for SIGTERM).
- `init_pool_worker` makes a worker die with the driver (Linux: ``prctl(PR_SET_PDEATHSIG)``;
  elsewhere a thread that watches the parent pid) and ignore the terminal's SIGINT, which the
  driver handles for the whole process group.
- `stop_workers` terminates a pool's processes at once instead of waiting for their units.
- `lost_worker_error` turns a pool broken by a killed worker into a message naming the shard.

These functions only take the pool's processes as a list, so they do not depend on how the
engine organises its pool.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from multiprocessing.process import BaseProcess
from pathlib import Path

from corpusfilter.core.errors import CorpusFilterError, Interrupted

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_PARENT_POLL_SECONDS = 0.5


def init_pool_worker() -> None:
    """Called first in every pool worker: die with the driver, leave SIGINT to the driver."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()


def die_with_parent() -> None:
    """Make this process end when its parent does, even if the parent is SIGKILLed.

    On Linux the kernel sends SIGKILL on the parent's death (``PR_SET_PDEATHSIG``; it fires
    when the *thread* that started this process exits, so pools must be created from the
    driver's main thread, as the local engine does). Elsewhere, or if ``prctl`` is
    unavailable, a daemon thread polls the parent pid and exits when it changes.
    """
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
                if os.getppid() != parent:  # the parent died before prctl took effect
                    os._exit(1)
                return
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_POLL_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="corpusfilter-parent-watch", daemon=True).start()


@contextlib.contextmanager
def stop_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGINT raise `Interrupted` in the main thread (once).

    A second signal while the run is stopping is ignored, so the clean-up is not cut short.
    Outside the main thread (where handlers cannot be installed) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = False

    def handler(signum: int, frame: object) -> None:
        nonlocal fired
        if not fired:
            fired = True
            raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def new_children(before: Iterable[BaseProcess]) -> list[BaseProcess]:
    """Child processes started since `before` was taken (`multiprocessing.active_children`)."""
    import multiprocessing as mp

    old = {p.pid for p in before}
    return [p for p in mp.active_children() if p.pid not in old]


def stop_workers(workers: Iterable[BaseProcess], grace: float = 5.0) -> None:
    """Terminate (then, after `grace` seconds, kill) worker processes and reap them."""
    workers = list(workers)
    for p in workers:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + grace
    for p in workers:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join(1.0)


def mark_unit_started(unit_dir: Path, key: str) -> None:
    """Record which process runs a unit, so a lost worker can be traced to its shard."""
    (unit_dir / f"{key}.pid").write_text(str(os.getpid()))


def lost_worker_error(workers: Iterable[BaseProcess], unit_dir: Path, pending: Iterable[str],
                      phase: str) -> CorpusFilterError:
    """The error for a pool broken by a worker that died (OOM kill, segfault, kill -9).

    The pool terminates its other workers with SIGTERM after the loss; the lost one is the
    worker that ended otherwise. Its shard is found by the pid it recorded on starting it.
    """
    workers = list(workers)
    for p in workers:
        p.join(2.0)
    lost = [p for p in workers if p.exitcode not in (None, 0, -signal.SIGTERM)] or \
        [p for p in workers if p.exitcode is not None]
    running: dict[int, str] = {}
    for key in pending:
        f = unit_dir / f"{key}.pid"
        if f.exists() and not (unit_dir / f"{key}.done").exists():
            with contextlib.suppress(ValueError, OSError):
                running[int(f.read_text())] = key
    parts = []
    for p in lost:
        how = (f"was killed by {signal.Signals(-p.exitcode).name}" if p.exitcode and
               p.exitcode < 0 else f"exited with code {p.exitcode}")
        if p.exitcode == -signal.SIGKILL:
            how += " (the kernel's out-of-memory killer sends this: try fewer --workers or a " \
                   "smaller --batch-size)"
        shard = running.get(p.pid)
        parts.append(f"worker process {p.pid} {how} while processing "
                     + (f"shard {shard}" if shard else "a shard"))
    what = "; ".join(parts) or "a worker process died"
    return CorpusFilterError(f"{what} in {phase}; finished shards are kept: rerun the same "
                             f"command to resume")
