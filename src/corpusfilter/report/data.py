"""Reading a finished run (``OUT/``) for the report: counters, run description, ledger, scores.

The report reads only what a run wrote (``stats.json``, ``run.json``, ``ledger/``, ``scores/``,
``data/``), never the pipeline's internals.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pyarrow as pa

from corpusfilter.core.errors import CorpusFilterError

NONE_VALUE = "(none)"  # the counters' name for a missing facet value


def wilson(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% by default).

    Wilson (1927), "Probable inference, the law of succession, and statistical inference",
    JASA 22(158). Better behaved than the normal approximation at small n and at rates near 0
    or 1 (never leaves [0, 1], never has zero width). Returns (0, 1) for n == 0.
    """
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    lo = 0.0 if successes <= 0 else max(0.0, min(p, centre - half))
    hi = 1.0 if successes >= n else min(1.0, max(p, centre + half))
    return lo, hi


@dataclass
class Run:
    """A finished run: a local output directory or a URL (``s3://bucket/run``).

    Everything is read through `io/fs.py`, so the report, card, inspect, review and diff work
    on a run published to an object store as on a local one. `memory_run` builds one from an
    in-script `RunResult` instead (``result.report()``).
    """

    location: str

    @classmethod
    def open(cls, out: str | Path) -> Run:
        from corpusfilter.io import fs

        loc = fs.absolute(out)
        kind = fs.info(loc).type
        if kind != fs.pafs.FileType.Directory and not (fs.is_url(loc) and kind ==
                                                        fs.pafs.FileType.NotFound):
            raise CorpusFilterError(f"{out} is not a directory; pass the output directory of "
                                    f"`corpusfilter run`")
        for name in ("stats.json", "run.json"):
            if not fs.exists(fs.join(loc, name)):
                raise CorpusFilterError(f"{out} has no {name}: not a finished corpusfilter run "
                                        f"(rerun `corpusfilter run ... -o {out}` to finish it)")
        return cls(loc)

    @property
    def out(self) -> Path:
        """The local directory (a URL run has none: use `location`, `files`, `read_json`)."""
        from corpusfilter.io import fs

        if fs.is_url(self.location):
            raise CorpusFilterError(f"{self.location} is a URL; this needs a local run")
        return Path(self.location)

    @property
    def name(self) -> str:
        return self.location.rstrip("/").rsplit("/", 1)[-1]

    def read_json(self, name: str) -> Any:
        from corpusfilter.io import fs

        return json.loads(fs.read_bytes(fs.join(self.location, name)))

    def files(self, sub: str) -> list[str]:
        """The Parquet / JSON Lines files of ``data/``, ``ledger/`` or ``scores/``, sorted."""
        from corpusfilter.io import fs
        from corpusfilter.io.shards import data_files

        return data_files(fs.join(self.location, sub))

    def data_tables(self, columns: list[str]) -> Iterator[pa.Table]:
        """The output files' tables (only those of ``columns`` they have), file by file."""
        from corpusfilter.io.shards import read_columns

        for f in self.files("data"):
            yield read_columns(f, columns)

    @cached_property
    def stats(self) -> dict[str, Any]:
        return self.read_json("stats.json")

    @cached_property
    def meta(self) -> dict[str, Any]:
        return self.read_json("run.json")

    @property
    def config(self) -> dict[str, Any]:
        return self.meta.get("config", {})

    @property
    def facets(self) -> list[str]:
        return list(self.meta.get("facets", []))

    @property
    def stage_entries(self) -> list[dict[str, Any]]:
        """Stage descriptions from run.json: label, stage, version, kind, params."""
        return list(self.meta.get("stages", []))

    def stage_labels(self) -> list[str]:
        """Stages in pipeline order (``input`` first when the run removed invalid rows)."""
        labels = [s["label"] for s in self.stage_entries]
        extra = [k for k in self.stats.get("stages", {}) if k not in labels]
        return extra + labels

    @cached_property
    def ledger(self) -> pa.Table:
        from corpusfilter.io.shards import read_columns

        files = self.files("ledger")
        if not files:
            from corpusfilter.core.ledger import empty_ledger

            return empty_ledger(self.facets)
        return pa.concat_tables([read_columns(f) for f in files], promote_options="default")

    @property
    def has_scores(self) -> bool:
        return bool(self.files("scores"))

    @cached_property
    def scores(self) -> pa.Table:
        from corpusfilter.io.shards import read_columns

        tables = [read_columns(f) for f in self.files("scores")]
        tables = [t for t in tables if t.num_columns]
        if not tables:
            raise CorpusFilterError(
                f"{self.location} has no scores/ table; rerun the pipeline with "
                f"`corpusfilter run --score-all` (or `record_scores: all` in the pipeline "
                f"file) to log every filter's scores for every document")
        return pa.concat_tables(tables, promote_options="default")

    def kept_columns(self, columns: list[str]) -> pa.Table:
        """Selected columns of the kept documents (original rows only, no up-sampled copies)."""
        parts = []
        for t in self.data_tables([*columns, "epoch"]):
            if not t.num_rows:
                continue
            if "epoch" in t.column_names:
                import pyarrow.compute as pc

                t = t.filter(pc.equal(t["epoch"], 0)).drop_columns(["epoch"])
            for c in columns:
                if c not in t.column_names:
                    t = t.append_column(c, pa.nulls(t.num_rows, pa.string()))
            parts.append(t.select(columns).cast(pa.schema([(c, pa.string()) for c in columns])))
        if not parts:
            return pa.table({c: pa.array([], pa.string()) for c in columns})
        return pa.concat_tables(parts)


class MemoryRun(Run):
    """A run held in memory (an in-script `RunResult`), read by the same report code."""

    def __init__(self, stats: dict[str, Any], meta: dict[str, Any], ledger: pa.Table,
                 kept: pa.Table, scores: pa.Table | None):
        super().__init__("<memory>")
        self.__dict__.update(stats=stats, meta=meta, ledger=ledger)
        self._kept = kept
        self._scores = scores

    def read_json(self, name: str) -> Any:
        raise CorpusFilterError(f"an in-memory run has no {name}")

    def files(self, sub: str) -> list[str]:
        return []

    def data_tables(self, columns: list[str]) -> Iterator[pa.Table]:
        yield self._kept.select([c for c in columns if c in self._kept.column_names])

    @property
    def has_scores(self) -> bool:
        return self._scores is not None and self._scores.num_rows > 0

    @cached_property
    def scores(self) -> pa.Table:
        if not self.has_scores:
            raise CorpusFilterError("this result has no scores; build the pipeline with "
                                    "record_scores='all' to log every filter's scores")
        assert self._scores is not None
        return self._scores
