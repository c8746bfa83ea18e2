"""The ledger (audit log) and the counters.

The ledger has one row per removed or modified document per stage. The counters say, per
stage and per facet value, how many documents went in, were removed and were modified, so
removal *rates* by group can be computed (the ledger alone only has numerators).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

LEDGER_FIELDS: list[pa.Field] = [
    pa.field("doc_id", pa.string(), nullable=False),
    pa.field("shard", pa.string(), nullable=False),
    pa.field("stage", pa.string(), nullable=False),
    pa.field("action", pa.string(), nullable=False),  # "removed" | "modified"
    pa.field("reason", pa.string()),
    pa.field("score", pa.float64()),
    pa.field("threshold", pa.float64()),
    pa.field("detail", pa.string()),  # JSON object or null
    pa.field("text_chars", pa.int64()),
]
REMOVED = "removed"
MODIFIED = "modified"


def ledger_schema(facets: Sequence[str]) -> pa.Schema:
    return pa.schema(LEDGER_FIELDS + [pa.field(f, pa.string()) for f in facets])


def empty_ledger(facets: Sequence[str]) -> pa.Table:
    return ledger_schema(facets).empty_table()


def dumps_detail(detail: Mapping[str, Any] | None) -> str | None:
    """Canonical JSON (sorted keys, no spaces) so ledgers are byte-identical across runs."""
    if detail is None:
        return None
    return json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_json_default)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable in ledger detail: {type(o).__name__}")


def facet_strings(batch: pa.RecordBatch, facet: str) -> pa.Array:
    """A facet column as strings (null where the batch has no such column)."""
    if facet not in batch.schema.names:
        return pa.nulls(batch.num_rows, pa.string())
    col = batch.column(facet)
    if pa.types.is_string(col.type):
        return col
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    try:
        return col.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([None if v is None else str(v) for v in col.to_pylist()], pa.string())


def ledger_rows(
    *,
    batch: pa.RecordBatch,
    ids: pa.Array,
    rows: np.ndarray,
    action: str | np.ndarray,
    shard: str,
    stage: str,
    reason: np.ndarray,
    score: np.ndarray,
    threshold: np.ndarray,
    detail: list[dict[str, Any] | None] | None,
    text_chars: np.ndarray,
    facets: Sequence[str],
) -> pa.Table:
    """Ledger rows for the given row positions of a batch (`action`: one for all rows, or
    one per row)."""
    n = len(rows)
    idx = pa.array(rows, pa.int64())
    take_f = [facet_strings(batch, f).take(idx) for f in facets]
    arrays = [
        ids.take(idx).cast(pa.string()),
        pa.array([shard] * n, pa.string()),
        pa.array([stage] * n, pa.string()),
        pa.array([action] * n if isinstance(action, str) else action.tolist(), pa.string()),
        pa.array(reason[rows].tolist(), pa.string()),
        _nullable_float(score[rows]),
        _nullable_float(threshold[rows]),
        pa.array([dumps_detail(detail[i]) if detail is not None else None for i in rows],
                 pa.string()),
        pa.array(text_chars[rows], pa.int64()),
        *take_f,
    ]
    return pa.Table.from_arrays(arrays, schema=ledger_schema(facets))


def _nullable_float(values: np.ndarray) -> pa.Array:
    values = np.asarray(values, dtype=np.float64)
    return pa.array(values, pa.float64(), mask=np.isnan(values))


class Stats:
    """Counters of one run (or one shard), mergeable by addition.

    Layout (also the layout of ``stats.json``)::

        {"input": {"docs", "chars", "shards"}, "output": {"docs", "chars"},
         "stages": {label: {"in", "removed", "modified", "chars_in", "chars_removed",
                            "chars_modified" (cut from kept documents by a transform),
                            "chars_out", "reasons": {reason: n}, "counters": {...},
                            "seconds", "by": {facet: {value: {"in", "removed",
                                                              "modified"}}}}}}
    """

    def __init__(self, data: dict[str, Any] | None = None):
        self.data: dict[str, Any] = data if data is not None else {
            "input": {"docs": 0, "chars": 0, "shards": 0},
            "output": {"docs": 0, "chars": 0},
            "stages": {},
        }

    def stage(self, label: str) -> dict[str, Any]:
        return self.data["stages"].setdefault(label, {
            "in": 0, "removed": 0, "modified": 0, "chars_in": 0, "chars_removed": 0,
            "chars_modified": 0, "chars_out": 0, "reasons": {}, "counters": {}, "seconds": 0.0, "by": {},
        })

    def record_stage(self, label: str, batch: pa.RecordBatch, keep: np.ndarray,
                     modified: np.ndarray, reason: np.ndarray, chars_in: np.ndarray,
                     chars_out: np.ndarray, facets: Sequence[str],
                     counters: Mapping[str, int], seconds: float) -> None:
        s = self.stage(label)
        removed = ~keep
        s["in"] += len(keep)
        s["removed"] += int(removed.sum())
        s["modified"] += int((modified & keep).sum())
        s["chars_in"] += int(chars_in.sum())
        s["chars_removed"] += int(chars_in[removed].sum())
        s["chars_out"] += int(chars_out[keep].sum())
        # characters a transform cut from the documents it kept (C4 lines, boilerplate lines)
        cut = np.where(modified & keep, chars_in - chars_out, 0)
        s["chars_modified"] += int(cut.sum())
        s["seconds"] += seconds
        changed = removed | (modified & keep)
        if changed.any():
            for r, c in zip(*np.unique(reason[changed].astype(str), return_counts=True),
                            strict=True):
                s["reasons"][str(r)] = s["reasons"].get(str(r), 0) + int(c)
        for k, v in counters.items():
            s["counters"][k] = s["counters"].get(k, 0) + int(v)
        for facet in facets:
            col = facet_strings(batch, facet).fill_null("(none)")
            by = s["by"].setdefault(facet, {})
            for kind, mask in (("in", None), ("removed", removed), ("modified", modified & keep)):
                sub = col if mask is None else col.filter(pa.array(mask))
                if len(sub) == 0:
                    continue
                vc = pc.value_counts(sub)
                for value, count in zip(vc.field("values").to_pylist(),
                                        vc.field("counts").to_pylist(), strict=True):
                    entry = by.setdefault(value, {"in": 0, "removed": 0, "modified": 0})
                    entry[kind] += int(count)
            if cut.any():
                sub = col.filter(pa.array(cut != 0))
                for value, n_chars in zip(sub.to_pylist(), cut[cut != 0], strict=True):
                    # only where a transform cut something (group entries stay small)
                    entry = by.setdefault(value, {"in": 0, "removed": 0, "modified": 0})
                    entry["chars_modified"] = entry.get("chars_modified", 0) + int(n_chars)

    def merge(self, other: Stats) -> Stats:
        _add_into(self.data, other.data)
        return self


def _add_into(dst: dict[str, Any], src: Mapping[str, Any]) -> None:
    for k, v in src.items():
        if isinstance(v, Mapping):
            _add_into(dst.setdefault(k, {}), v)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            dst[k] = dst.get(k, 0) + v
        else:
            dst[k] = v
