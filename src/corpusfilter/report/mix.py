"""Corpus mix of the removal report: each facet's shares before and after the pipeline, and
which stages moved them most."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from corpusfilter.report.data import NONE_VALUE, Run


def mix(stats: Mapping[str, Any], order: Sequence[str], facets: Sequence[str],
        after: Mapping[str, Mapping[str, int]],
        written: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Per facet: shares before and after, and which stages moved them most.

    "Before" is the mix the first stage received, or, for a facet a stage writes (``lang`` by
    `language`), the mix the stage after the writer received: the first point where the
    facet means what it means in the output."""
    out = {}
    written = written or {}
    for f in facets:
        before: dict[str, int] = {}
        first = None
        start = 0
        if f in written and written[f] in order:
            start = min(order.index(written[f]) + 1, len(order) - 1)
        for label in order[start:]:
            by = stats["stages"].get(label, {}).get("by", {}).get(f)
            if not by:
                continue
            if set(by) == {NONE_VALUE} and label != order[-1]:
                continue  # the column is written by a later stage (e.g. lang by `language`)
            first = label
            before = {v: c["in"] for v, c in by.items()}
            break
        if first is None:
            continue
        aft = dict(after.get(f, {}))
        nb, na = sum(before.values()), sum(aft.values())
        moves = []
        for label in order[order.index(first):]:
            by = stats["stages"].get(label, {}).get("by", {}).get(f) or {}
            n_in = sum(c["in"] for c in by.values())
            n_out = sum(c["in"] - c["removed"] for c in by.values())
            if not n_in or not n_out:
                continue
            deltas = {v: (c["in"] - c["removed"]) / n_out - c["in"] / n_in for v, c in by.items()}
            tv = 0.5 * sum(abs(d) for d in deltas.values())
            moves.append({"stage": label, "tv": tv, "deltas": deltas})
        values = []
        for v in sorted(set(before) | set(aft), key=lambda v: (-before.get(v, 0), v)):
            b, a = before.get(v, 0), aft.get(v, 0)
            sb, sa = (b / nb if nb else 0.0), (a / na if na else 0.0)
            worst = min(moves, key=lambda m: m["deltas"].get(v, 0.0), default=None)
            values.append({
                "value": v, "before": b, "before_share": sb, "after": a, "after_share": sa,
                "delta": sa - sb,
                "moved_most_by": worst["stage"] if worst and worst["deltas"].get(v, 0) < 0
                else None,
                "moved_most_delta": worst["deltas"].get(v, 0.0) if worst else 0.0,
            })
        moves.sort(key=lambda m: -m["tv"])
        out[f] = {"before_stage": first, "before_total": nb, "after_total": na,
                  "values": values,
                  "stages": [{"stage": m["stage"], "tv": m["tv"]} for m in moves]}
    return out


def after_counts(run: Run, facets: Sequence[str]) -> dict[str, dict[str, int]]:
    """Facet value counts of the output (``data/``, up-sampled copies included)."""
    out: dict[str, dict[str, int]] = {}

    for f in facets:
        counts: dict[str, int] = {}
        for t in run.data_tables([f]):
            if f in t.column_names:
                col = t[f].cast(pa.string())
                vc = pc.value_counts(col.fill_null(NONE_VALUE))
                for v, c in zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(),
                                strict=True):
                    counts[v] = counts.get(v, 0) + c
            elif t.num_rows:
                counts[NONE_VALUE] = counts.get(NONE_VALUE, 0) + t.num_rows
        out[f] = counts
    return out


def column_writers(run: Run) -> dict[str, str]:
    """facet -> label of the last stage that writes that column."""
    from corpusfilter.core import registry

    out = {}
    for d in run.stage_entries:
        try:
            cls = registry.get(f"{d['stage']}@{d['version']}")
        except Exception:  # a stage no longer installed (or broken): its columns are unknown
            continue
        for col in getattr(cls, "writes", ()):
            out[col] = d["label"]
    return out


