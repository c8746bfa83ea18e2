"""Progress of a run on the terminal: a rich bar (documents, shards, rate, ETA) per phase."""

from __future__ import annotations

import logging
import time
from typing import Any

from corpusfilter.core.pipeline import Segment

log = logging.getLogger("corpusfilter")


class Progress:
    """A rich progress bar (documents, shards, rate, ETA) on a terminal; log lines otherwise."""

    def __init__(self, enabled: bool, total_docs: int, total_shards: int, segments: int,
                 console: Any = None):
        self.enabled = enabled
        self.console = console  # rich's stderr console unless given (tests: a fixed width)
        self.total_docs = total_docs
        self.total_shards = total_shards
        self.segments = segments
        self._rows: dict[str, int] = {}
        self._bar: Any = None
        self._task: Any = None
        self._done = 0
        self._t0 = time.perf_counter()

    def __enter__(self) -> Progress:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            # ~75 characters in all: legible on an 80-column terminal; the phase's stages
            # are printed above the bar, not in it.
            self._bar = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(bar_width=10),
                MofNCompleteColumn(), TextColumn("docs, {task.fields[shards]} shards"),
                TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                transient=False, console=self.console)
            self._bar.__enter__()
        return self

    def start_segment(self, seg: Segment, rows: dict[str, int]) -> None:
        self._rows = rows
        self._done = 0
        self._t0 = time.perf_counter()
        names = [s.label for s in ([seg.head] if seg.head else []) + seg.body]
        if seg.tail is not None:
            names.append(f"{seg.tail.label} (collect)")
        phase = f"phase {seg.index + 1}/{self.segments}"
        desc = f"{phase}: {', '.join(names) or 'read'}"
        if self._bar is not None:
            self._bar.console.print(desc, highlight=False, markup=False)
            self._task = self._bar.add_task(phase, total=self.total_docs, shards="0/"
                                            f"{self.total_shards}", rate="")
        else:
            log.info("%s", desc)

    def shard_done(self, key: str, skipped: bool = False) -> None:
        self._done += 1
        n = self._rows.get(key, 0)
        elapsed = max(time.perf_counter() - self._t0, 1e-9)
        if self._bar is not None:
            task = self._bar.tasks[-1]
            done_docs = task.completed + n
            self._bar.update(self._task, advance=n,
                             shards=f"{self._done}/{self.total_shards}",
                             rate=f"{done_docs / elapsed:,.0f}/s")
        else:
            log.info("  shard %s %s (%d/%d)", key, "already done" if skipped else "done",
                     self._done, self.total_shards)

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

