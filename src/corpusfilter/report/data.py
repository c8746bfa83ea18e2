"""Reading a finished run (``OUT/``) for the report: counters, run description, ledger, scores.

The report reads only what a run wrote (``stats.json``, ``run.json``, ``ledger/``, ``scores/``,
``data/``), never the pipeline's internals.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

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
    """A finished run directory."""

    out: Path

    @classmethod
    def open(cls, out: str | Path) -> Run:
        out = Path(out)
        if not out.is_dir():
            raise CorpusFilterError(f"{out} is not a directory; pass the output directory of "
                                    f"`corpusfilter run`")
        for name in ("stats.json", "run.json"):
            if not (out / name).exists():
                raise CorpusFilterError(f"{out} has no {name}: not a finished corpusfilter run "
                                        f"(rerun `corpusfilter run ... -o {out}` to finish it)")
        return cls(out)

    @cached_property
    def stats(self) -> dict[str, Any]:
        return json.loads((self.out / "stats.json").read_text())

    @cached_property
    def meta(self) -> dict[str, Any]:
        return json.loads((self.out / "run.json").read_text())

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
        files = sorted((self.out / "ledger").glob("*.parquet"))
        if not files:
            from corpusfilter.core.ledger import empty_ledger

            return empty_ledger(self.facets)
        return pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")

    @property
    def has_scores(self) -> bool:
        return any((self.out / "scores").glob("*.parquet"))

    @cached_property
    def scores(self) -> pa.Table:
        files = sorted((self.out / "scores").glob("*.parquet"))
        tables = [pq.read_table(f) for f in files]
        tables = [t for t in tables if t.num_columns]
        if not tables:
            raise CorpusFilterError(
                f"{self.out} has no scores/ table; rerun the pipeline with "
                f"`corpusfilter run --score-all` (or `record_scores: all` in the pipeline "
                f"file) to log every filter's scores for every document")
        return pa.concat_tables(tables, promote_options="default")

    def kept_columns(self, columns: list[str]) -> pa.Table:
        """Selected columns of the kept documents (original rows only, no up-sampled copies)."""
        from corpusfilter.io.shards import data_files, read_columns

        parts = []
        for f in data_files(str(self.out / "data")):
            t = read_columns(f, [*columns, "epoch"])
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
