"""`corpusfilter diff RUN_A RUN_B`: which documents changed fate between two runs, and the
configuration differences that explain it.

A document's *fate* in a run is read from the run directory only: removed by stage S with
reason R (the ledger's ``removed`` row), or kept — and then which stages modified it (the
ledger's ``modified`` rows with their detail) and the XXH64 of its output text in ``data/``.
Two runs of the same pipeline on the same input must agree on every fate whatever the engine,
batch size or worker count (DESIGN.md, "Deterministic"), so any change is worth explaining.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusfilter.report.analysis import doc_table
from corpusfilter.report.data import Run

KEPT = "kept"
ABSENT = "(not in run)"
# run.json keys that say how a run was executed, not what it computed: by design they never
# change a fate, so they are listed apart from the configuration differences.
EXECUTION_KEYS = ("engine", "workers", "batch_size")
ENVIRONMENT_KEYS = ("corpusfilter", "pyarrow", "python")


@dataclass
class Fates:
    """Per document of one run: fate label, facet values and a fingerprint of its output."""

    ids: np.ndarray  # object array of ids, sorted
    fate: np.ndarray  # "kept" or the removal reason ("stage.reason", or the stage label)
    stage: np.ndarray  # the removing stage label ("" if kept)
    output: np.ndarray  # kept: "<text xxh64>|<modifying stages and details>"; removed: ""
    facets: dict[str, np.ndarray]


def fates(run: Run) -> Fates:
    """The fate of every document of `run` (kept, removed by which stage and reason)."""
    table = doc_table(run)
    ids = np.array(table.ids.to_pylist(), dtype=object)
    n = len(ids)
    stage = np.array([table.stages[i] if i >= 0 else "" for i in table.removed_at], dtype=object)
    fate = np.where(table.removed_at >= 0,
                    np.array([r if r else s for r, s in zip(table.reason, stage, strict=True)],
                             dtype=object), KEPT) if n else np.array([], dtype=object)
    output = np.full(n, "", dtype=object)
    kept = table.removed_at < 0
    if kept.any():
        text_hash = _kept_text_hashes(run)
        edits = _edits(run)
        for i in np.flatnonzero(kept):
            did = ids[i]
            output[i] = f"{text_hash.get(did, '')}|{edits.get(did, '')}"
    return Fates(ids, fate.astype(object), stage, output, dict(table.facets))


def _kept_text_hashes(run: Run) -> dict[str, str]:
    """XXH64 (hex) of every kept document's output text (original rows, no up-sampled copies)."""
    from corpusfilter.dedup.xxh64 import xxh64_strings
    from corpusfilter.utf8 import utf8_buffer

    cfg = run.config
    id_col, text_col = cfg.get("id_column", "id"), cfg.get("text_column", "text")
    out: dict[str, str] = {}
    for t in run.data_tables([id_col, text_col, "epoch"]):
        if id_col not in t.column_names or text_col not in t.column_names:
            continue
        if "epoch" in t.column_names:
            t = t.filter(pc.equal(t["epoch"], 0))
        buf = utf8_buffer(t[text_col])
        hashes = xxh64_strings(buf.data, buf.offsets)
        for did, h in zip(t[id_col].cast(pa.string()).to_pylist(), hashes.tolist(), strict=True):
            out[did] = f"{h:016x}"
    return out


def _edits(run: Run) -> dict[str, str]:
    """doc id -> the stages that modified it with their ledger detail, in pipeline order."""
    led = run.ledger
    if not led.num_rows:
        return {}
    mod = led.filter(pc.equal(led["action"], "modified"))
    order = {s: i for i, s in enumerate(run.stage_labels())}
    rows = sorted(zip(mod["doc_id"].to_pylist(), mod["stage"].to_pylist(),
                      mod["detail"].to_pylist(), strict=True),
                  key=lambda r: (r[0], order.get(r[1], len(order))))
    out: dict[str, str] = {}
    for did, st, detail in rows:
        out[did] = (out[did] + ";" if did in out else "") + f"{st}:{detail or ''}"
    return out


def config_differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, list[dict]]:
    """Differences between two runs' ``run.json``: pipeline (stages, versions, parameters,
    options), inputs, environment (library versions) and execution (engine, workers, ...)."""
    out: dict[str, list[dict]] = {"pipeline": [], "inputs": [], "environment": [],
                                  "execution": []}

    def add(section: str, what: str, va: Any, vb: Any) -> None:
        if va != vb:
            out[section].append({"what": what, "a": va, "b": vb})

    sa = {s["label"]: s for s in a.get("stages", [])}
    sb = {s["label"]: s for s in b.get("stages", [])}
    add("pipeline", "stage order", [s["label"] for s in a.get("stages", [])],
        [s["label"] for s in b.get("stages", [])])
    for label in [*sa, *(s for s in sb if s not in sa)]:
        da, db = sa.get(label), sb.get(label)
        if da is None or db is None:
            add("pipeline", f"stage {label}", None if da is None else da["stage"],
                None if db is None else db["stage"])
            continue
        add("pipeline", f"{label}: stage", da["stage"], db["stage"])
        add("pipeline", f"{label}: version", da.get("version"), db.get("version"))
        pa_, pb = da.get("params", {}), db.get("params", {})
        for k in [*pa_, *(k for k in pb if k not in pa_)]:
            add("pipeline", f"{label}.{k}", pa_.get(k), pb.get(k))
    ca, cb = a.get("config", {}), b.get("config", {})
    for k in [*ca, *(k for k in cb if k not in ca)]:
        if k != "stages":
            add("pipeline", k, ca.get(k), cb.get(k))
    add("inputs", "input shards", [i["path"] for i in a.get("inputs", [])],
        [i["path"] for i in b.get("inputs", [])])
    for k in ENVIRONMENT_KEYS:
        add("environment", k, a.get(k), b.get(k))
    for k in EXECUTION_KEYS:
        add("execution", k, a.get(k), b.get(k))
    return out


def diff_runs(a: str | Run, b: str | Run) -> dict[str, Any]:
    """Every document whose fate differs between runs `a` and `b`, counted by transition
    (from → to) and facet value, with the run.json differences that may explain them."""
    ra = a if isinstance(a, Run) else Run.open(a)
    rb = b if isinstance(b, Run) else Run.open(b)
    fa, fb = fates(ra), fates(rb)
    ids = np.union1d(fa.ids.astype(str), fb.ids.astype(str)).astype(object) \
        if len(fa.ids) or len(fb.ids) else np.array([], dtype=object)
    ia, ib = _positions(fa.ids, ids), _positions(fb.ids, ids)
    fate_a, fate_b = _take(fa.fate, ia, ABSENT), _take(fb.fate, ib, ABSENT)
    out_a, out_b = _take(fa.output, ia, ""), _take(fb.output, ib, "")
    kind = np.full(len(ids), "", dtype=object)
    kind[(fate_a == KEPT) & (fate_b != KEPT) & (fate_b != ABSENT)] = "kept → removed"
    kind[(fate_a != KEPT) & (fate_a != ABSENT) & (fate_b == KEPT)] = "removed → kept"
    both_removed = (fate_a != KEPT) & (fate_b != KEPT) & (fate_a != ABSENT) & (fate_b != ABSENT)
    kind[both_removed & (fate_a != fate_b)] = "removed differently"
    kind[(fate_a == KEPT) & (fate_b == KEPT) & (out_a != out_b)] = "modified differently"
    kind[fate_a == ABSENT] = "only in B"
    kind[fate_b == ABSENT] = "only in A"
    changed = np.flatnonzero(kind != "")
    facets = [f for f in fa.facets if f in fb.facets]
    fvals = {f: np.where(ia >= 0, _take(fa.facets[f], ia, ""), _take(fb.facets[f], ib, ""))
             for f in facets}
    transitions: dict[tuple[str, str, str], dict[str, Any]] = {}
    for i in changed:
        key = (kind[i], fate_a[i], fate_b[i])
        t = transitions.setdefault(key, {"kind": key[0], "a": key[1], "b": key[2], "count": 0,
                                         "by": {f: {} for f in facets}})
        t["count"] += 1
        for f in facets:
            v = str(fvals[f][i])
            t["by"][f][v] = t["by"][f].get(v, 0) + 1
    rows = sorted(transitions.values(), key=lambda t: (-t["count"], t["kind"], t["a"], t["b"]))
    kinds: dict[str, int] = {}
    for t in rows:
        kinds[t["kind"]] = kinds.get(t["kind"], 0) + t["count"]
    return {
        "a": ra.location, "b": rb.location,
        "documents": {"a": len(fa.ids), "b": len(fb.ids), "compared": len(ids)},
        "changed": len(changed),
        "kinds": kinds,
        "transitions": rows,
        "config": config_differences(ra.meta, rb.meta),
        "changed_docs": [{"doc_id": ids[i], "kind": kind[i], "a": fate_a[i], "b": fate_b[i],
                          **{f: str(fvals[f][i]) for f in facets}} for i in changed],
    }


def _positions(have: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Index of every id of `ids` in the sorted `have`, or -1."""
    if not len(have):
        return np.full(len(ids), -1, dtype=np.int64)
    have = have.astype(str)
    pos = np.searchsorted(have, ids.astype(str))
    pos = np.clip(pos, 0, len(have) - 1)
    return np.where(have[pos] == ids.astype(str), pos, -1)


def _take(values: np.ndarray, pos: np.ndarray, missing: str) -> np.ndarray:
    out = np.full(len(pos), missing, dtype=object)
    ok = pos >= 0
    out[ok] = values[pos[ok]]
    return out


def render_diff(result: Mapping[str, Any], console: Any = None, examples: int = 5) -> None:
    """Terminal view of `diff_runs`: the verdict, what differs in the configuration, and the
    transitions with their counts and facet breakdown."""
    from rich.markup import escape
    from rich.table import Table

    from corpusfilter.console import make_console

    console = console or make_console()
    docs = result["documents"]
    console.print(f"A: {escape(result['a'])} ({docs['a']:,} documents)\n"
                  f"B: {escape(result['b'])} ({docs['b']:,} documents)", highlight=False)
    for section, items in result["config"].items():
        for d in items:
            console.print(f"  {section}: {escape(d['what'])}: {escape(repr(d['a']))} → "
                          f"{escape(repr(d['b']))}", highlight=False)
    if not result["changed"]:
        console.print(f"[green]no document changed fate[/green] ({docs['compared']:,} compared)")
        return
    console.print(f"[bold red]{result['changed']:,}[/bold red] document(s) changed fate: "
                  + ", ".join(f"{k} {v:,}" for k, v in result["kinds"].items()), highlight=False)
    table = Table(title_justify="left")
    for col, justify in (("change", "left"), ("in A", "left"), ("in B", "left"),
                         ("docs", "right"), ("by facet", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for t in result["transitions"]:
        by = "; ".join(f"{f}: " + ", ".join(f"{v} {c}" for v, c in
                                            sorted(vals.items(), key=lambda kv: -kv[1])[:4])
                       for f, vals in t["by"].items())
        table.add_row(t["kind"], escape(t["a"]), escape(t["b"]), f"{t['count']:,}", escape(by))
    console.print(table)
    for d in result["changed_docs"][:examples]:
        console.print(f"  e.g. {escape(d['doc_id'])}: {escape(d['a'])} → {escape(d['b'])}",
                      highlight=False)
