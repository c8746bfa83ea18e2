"""The report's per-document view of a run: one row per input document with its facet values
and the stage (and reason) that removed it, and stats-like counters synthesised from it (for
what-if analysis and facets the run did not count)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusfilter.core.errors import CorpusFilterError
from corpusfilter.report.data import NONE_VALUE, Run


@dataclass
class DocTable:
    """One row per input document: id, facet values, the stage that removed it (or -1)."""

    ids: pa.Array
    facets: dict[str, np.ndarray]  # facet -> object array of strings (NONE_VALUE for null)
    stages: list[str]  # stage labels in pipeline order (input first)
    removed_at: np.ndarray  # index into `stages`, -1 = kept
    reason: np.ndarray  # object array: the ledger reason of the removal (None if kept)
    modified: dict[str, np.ndarray] = field(default_factory=dict)  # stage -> bool mask

    def __len__(self) -> int:
        return len(self.ids)

    def index_of(self, ids: pa.Array) -> np.ndarray:
        idx = pc.index_in(ids.cast(pa.string()), value_set=self.ids)
        return idx.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def doc_table(run: Run, extra: Mapping[str, Any] | None = None) -> DocTable:
    """Every document of the run (kept, removed, and scored) with its facet values."""
    facets = run.facets
    id_col = run.config.get("id_column", "id")
    parts = []
    kept = run.kept_columns([id_col, *facets]).rename_columns(["doc_id", *facets])
    parts.append(kept)
    led = run.ledger
    parts.append(_string_cols(led, ["doc_id", *facets]))
    if run.has_scores:
        parts.append(_string_cols(run.scores, ["doc_id", *facets]))
    allt = pa.concat_tables(parts)
    if facets:
        grouped = allt.group_by("doc_id").aggregate([(f, "min") for f in facets])
        grouped = pa.table({"doc_id": grouped["doc_id"],
                            **{f: grouped[f"{f}_min"] for f in facets}})
    else:
        grouped = pa.table({"doc_id": pc.unique(allt["doc_id"])})
    grouped = grouped.sort_by("doc_id")
    ids = grouped["doc_id"].combine_chunks()
    fvals = {f: _obj(grouped[f]) for f in facets}
    stages = run.stage_labels()
    pos = {s: i for i, s in enumerate(stages)}
    removed_at = np.full(len(ids), -1, dtype=np.int64)
    reason = np.full(len(ids), None, dtype=object)
    table = DocTable(ids, fvals, stages, removed_at, reason)
    if led.num_rows:
        rem = led.filter(pc.equal(led["action"], "removed"))
        idx = table.index_of(rem["doc_id"].combine_chunks())
        st = np.array([pos.get(s, -1) for s in rem["stage"].to_pylist()], dtype=np.int64)
        removed_at[idx] = st
        reason[idx] = np.array(rem["reason"].to_pylist(), dtype=object)
        mod = led.filter(pc.equal(led["action"], "modified"))
        for s in set(mod["stage"].to_pylist()):
            m = np.zeros(len(ids), dtype=bool)
            sub = mod.filter(pc.equal(mod["stage"], s))
            m[table.index_of(sub["doc_id"].combine_chunks())] = True
            table.modified[s] = m
    for name, values in (extra or {}).items():
        if isinstance(values, IdValues):
            table.facets[name] = np.array([values.map.get(i, NONE_VALUE)
                                           for i in ids.to_pylist()], dtype=object)
        elif values is not None:
            table.facets[name] = values
    return table


def _string_cols(t: pa.Table, cols: Sequence[str]) -> pa.Table:
    out = {}
    for c in cols:
        if c in t.column_names:
            out[c] = t[c].cast(pa.string())
        else:
            out[c] = pa.nulls(t.num_rows, pa.string())
    return pa.table(out)


def _obj(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.array([NONE_VALUE if v is None else v for v in col.to_pylist()], dtype=object)


def counts_from_docs(table: DocTable, removed_at: np.ndarray, facets: Sequence[str],
                     reasons: np.ndarray | None = None) -> dict[str, Any]:
    """Stats-like counters from per-document attribution (a document reaches every stage
    before the one that removed it)."""
    out: dict[str, Any] = {}
    alive = np.ones(len(table), dtype=bool)
    reasons = table.reason if reasons is None else reasons
    for i, stage in enumerate(table.stages):
        removed = alive & (removed_at == i)
        modified = alive & ~removed & table.modified.get(stage, np.zeros(len(table), bool))
        s: dict[str, Any] = {"in": int(alive.sum()), "removed": int(removed.sum()),
                             "modified": int(modified.sum()), "reasons": {}, "by": {}}
        if removed.any():
            vals, cnt = np.unique(reasons[removed].astype(str), return_counts=True)
            s["reasons"] = {str(v): int(c) for v, c in zip(vals, cnt, strict=True)}
        for f in facets:
            col = table.facets[f]
            by: dict[str, dict[str, int]] = {}
            for kind, mask in (("in", alive), ("removed", removed), ("modified", modified)):
                vals, cnt = np.unique(col[mask].astype(str), return_counts=True)
                for v, c in zip(vals, cnt, strict=True):
                    by.setdefault(str(v), {"in": 0, "removed": 0, "modified": 0})[kind] = int(c)
            s["by"][f] = by
        out[stage] = s
        alive &= ~removed
    return out


def value_counts(values: np.ndarray) -> dict[str, int]:
    vals, cnt = np.unique(values.astype(str), return_counts=True)
    return {str(v): int(c) for v, c in zip(vals, cnt, strict=True)}




def check_facets(facets: Sequence[str], known: Mapping[str, Any]) -> None:
    unknown = [f for f in facets if f not in known]
    if unknown:
        raise CorpusFilterError(f"--by {', '.join(unknown)}: not a facet of this run or a column "
                                f"of its input (facets: {', '.join(known) or 'none'})")


def input_column(run: Run, name: str) -> IdValues:
    """A column of the input shards per document, aligned later by id (for --by on columns
    that were not facets of the run). ``COL:domain`` gives the host name of a URL column."""
    col, _, fn = name.partition(":")
    if fn not in ("", "domain"):
        raise CorpusFilterError(f"--by {name}: unknown function {fn!r} (supported: domain)")
    id_col = run.config.get("id_column", "id")
    ids, vals = [], []
    from corpusfilter.io.shards import Shard, read_input_columns, shard_schema

    for inp in run.meta.get("inputs", []):
        path = inp["path"]
        try:
            t = read_input_columns(Shard(path, inp["shard"]), [col], id_col,
                                   run.config.get("storage_options"))
        except (OSError, CorpusFilterError) as e:
            raise CorpusFilterError(f"--by {name}: cannot read input shard {path} ({e}); "
                                    f"facets other than the run's need the input") from None
        if col not in t.column_names:
            raise CorpusFilterError(f"--by {name}: column {col!r} is not in input shard {path} "
                                    f"(columns: {', '.join(shard_schema(Shard(path, inp['shard']), run.config.get('storage_options')).names)})")
        ids.extend(str(v) for v in t[id_col].to_pylist())
        vals.extend(t[col].to_pylist())
    if fn == "domain":
        from urllib.parse import urlsplit

        vals = [(urlsplit(v).hostname or None) if isinstance(v, str) else None for v in vals]
    return IdValues(ids, vals)


class IdValues:
    """Values keyed by id, turned into an array aligned with a DocTable by `doc_table`."""

    def __init__(self, ids: list[str], values: list[Any]):
        self.map = {i: (NONE_VALUE if v is None else str(v)) for i, v in zip(ids, values,
                                                                            strict=True)}
