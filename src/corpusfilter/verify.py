"""`corpusfilter verify`: conservation check of a finished run.

Every input document must be either in ``OUT/data`` (exactly once) or have exactly one
``removed`` row in ``OUT/ledger`` — never both, never neither, and nothing may appear that
was not in the input. Up-sampled copies (``epoch`` > 0, id ``<id>#<epoch>``) are checked
against their original.

A finished run also holds nothing but its results: no `_work/` (intermediate files, which
include text from before later stages such as PII redaction), no temporary files, and a
`run.json` whose status is ``complete``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from corpusfilter.core.errors import CorpusFilterError
from corpusfilter.io import fs
from corpusfilter.io.shards import Shard, data_files, limit_shards, read_columns, read_ids


@dataclass
class VerifyReport:
    input_docs: int = 0
    kept_docs: int = 0
    removed_docs: int = 0
    copies: int = 0
    modified_rows: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _ids(paths: list[str], column: str, filter_expr: pc.Expression | None = None) -> pa.Array:
    """One column of Parquet or JSON Lines files, local or remote, as strings."""
    parts = []
    for p in paths:
        cols = [column] + (["epoch", "action"] if filter_expr is not None else [])
        t = read_columns(p, cols)
        if column not in t.column_names:
            continue
        if filter_expr is not None:
            t = ds.dataset(t).to_table(columns=[column], filter=filter_expr)
        parts.append(t[column].cast(pa.string()))
    chunks = [c for a in parts for c in a.chunks]
    return pa.chunked_array(chunks, type=pa.string()).combine_chunks() if chunks \
        else pa.array([], pa.string())


def verify(out: str | Path, max_examples: int = 5) -> VerifyReport:
    """Check conservation on the finished run in ``out`` (a directory or a URL)."""
    out = fs.absolute(out)
    run_path = fs.join(out, "run.json")
    if not fs.exists(run_path):
        raise CorpusFilterError(f"{out} holds no finished run (no run.json); run the pipeline "
                                f"first, or rerun it to finish an interrupted run")
    run = json.loads(fs.read_bytes(run_path))
    id_col = run["config"]["id_column"]
    storage = run["config"].get("storage_options")
    rep = VerifyReport()
    rep.problems += leftovers(out, run, storage)
    inputs = [Shard(i["path"], i["shard"]) for i in run["inputs"]]
    missing = [s.path for s in inputs if not fs.exists(s.path, storage)]
    if missing:
        raise CorpusFilterError(f"input shard(s) of this run no longer exist: "
                                f"{', '.join(missing[:5])}")
    # a --limit run read only the first N documents: recount exactly those
    inputs = limit_shards(inputs, run["config"].get("limit"), storage)
    input_ids = pa.chunked_array([read_ids(s, id_col, storage) for s in inputs],
                                 type=pa.string()).combine_chunks()
    rep.input_docs = len(input_ids)
    data = data_files(fs.join(out, "data"))
    ledger_files = data_files(fs.join(out, "ledger"))
    has_epoch = bool(data) and "epoch" in read_columns(data[0], ["epoch"]).column_names
    if has_epoch:
        kept = _ids(data, id_col, pc.field("epoch") == 0)
        copies = _ids(data, id_col, pc.field("epoch") > 0)
        rep.copies = len(copies)
        base = pc.replace_substring_regex(copies, r"#\d+$", "")
        orphan = pc.invert(pc.is_in(base, value_set=kept))
        if pc.any(orphan).as_py():
            ex = copies.filter(orphan)[:max_examples].to_pylist()
            rep.problems.append(f"up-sampled copies without their original in the output: {ex}")
    else:
        kept = _ids(data, id_col)
    removed = _ids(ledger_files, "doc_id", pc.field("action") == "removed")
    rep.modified_rows = len(_ids(ledger_files, "doc_id", pc.field("action") == "modified"))
    rep.kept_docs, rep.removed_docs = len(kept), len(removed)

    def dupes(arr: pa.Array) -> list[str]:
        if len(arr) == 0:
            return []
        vc = pc.value_counts(arr)
        return vc.field("values").filter(pc.greater(vc.field("counts"), 1)).to_pylist()

    for label, arr in (("kept in data/", kept), ("removed in the ledger", removed),
                       ("in the input", input_ids)):
        d = dupes(arr)
        if d:
            rep.problems.append(f"{len(d)} id(s) {label} more than once, e.g. "
                                f"{d[:max_examples]}")
    both = kept.filter(pc.is_in(kept, value_set=removed))
    if len(both):
        rep.problems.append(f"{len(both)} id(s) both kept and removed, e.g. "
                            f"{both[:max_examples].to_pylist()}")
    accounted = pa.concat_arrays([kept, removed])
    lost = input_ids.filter(pc.invert(pc.is_in(input_ids, value_set=accounted)))
    if len(lost):
        rep.problems.append(f"{len(lost)} input document(s) neither kept nor removed (lost), "
                            f"e.g. {lost[:max_examples].to_pylist()}")
    extra = accounted.filter(pc.invert(pc.is_in(accounted, value_set=input_ids)))
    if len(extra):
        rep.problems.append(f"{len(extra)} id(s) in the output or ledger that are not in the "
                            f"input, e.g. {extra[:max_examples].to_pylist()}")
    if not rep.problems and rep.kept_docs + rep.removed_docs != rep.input_docs:
        rep.problems.append(f"kept ({rep.kept_docs}) + removed ({rep.removed_docs}) != input "
                            f"({rep.input_docs})")
    return rep


def leftovers(out: str | Path, run: dict, storage: dict | None = None) -> list[str]:
    """What a complete run must not hold: unfinished status, `_work/`, temporary files (and,
    at a URL, the claim of a publication that did not finish)."""
    from corpusfilter.io.publish import CLAIM

    out = fs.absolute(out)
    problems = []
    if run.get("status") != "complete":
        problems.append(f"run.json says status {run.get('status')!r}, not 'complete': the run "
                        f"did not finish; rerun the same command to finish it")
    work = fs.join(out, "_work")
    files = [f[len(out):].lstrip("/") for f in fs.list_files(out, storage)]
    in_work = [f for f in files if f.startswith("_work/")]
    if in_work or (not fs.is_url(out) and Path(work).exists()):
        problems.append(f"{work} still holds {len(in_work)} intermediate file(s), including "
                        f"text from before later stages (e.g. PII redaction); rerun the same "
                        f"command to finish the run, which removes them")
    tmp = sorted(f for f in files if f.endswith(".tmp") and not f.startswith("_work/"))
    if tmp:
        problems.append(f"{len(tmp)} temporary file(s) left by an interrupted write, e.g. "
                        f"{tmp[:3]}; rerun the same command")
    if CLAIM in files:
        problems.append(f"{fs.join(out, CLAIM)} is still there: publishing the run did not "
                        f"finish; rerun the same command")
    return problems
