"""`boilerplate_lines`: remove lines repeated across many documents of a corpus or of a site.

Global stage, after the idea of CCNet's paragraph deduplication (Wenzek et al. 2020, "CCNet:
Extracting High Quality Monolingual Datasets from Web Crawl Data", section 3.1: lines are
normalised, hashed, and lines seen in other documents are removed), dolma's paragraph dedup
and data-juicer's line deduplicator. Navigation, share buttons, cookie banners and footers
repeat across the pages of a site and across sites; an article's sentences do not. Removing
them as lines *before* the quality rules judge a page lets those rules see the content, not
the menu.

Three phases, each independent of order, batching and worker count:

* collect: per document, the 64-bit XXH64 of each distinct normalised non-blank line (once per
  document), of the site and of the document's text;
* plan: per line, the number of distinct documents that hold it, in the corpus and within its
  site; a line held by at least `min_docs` documents (or `min_site_docs` of one site) is
  boilerplate. Its **owner** (the document with the smallest text hash) keeps it, so every
  distinct line of the corpus survives at least once and exact copies of a page behave alike;
* apply: every other document drops those lines (ledger: ``modified``, reason
  ``boilerplate_lines.lines_removed``, with line and character counts per scope). With
  `min_doc_repeats`, later copies of a line repeated within one document go too (scope
  ``document``; no plan needed). A document
  left with no line is removed (``boilerplate_lines.all_repeated``): all its lines are kept
  in their owners.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Annotated, Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusfilter.core.docs import Docs
from corpusfilter.core.langparams import LangParams
from corpusfilter.core.params import ColumnName, Count, Range
from corpusfilter.core.registry import register
from corpusfilter.core.stage import Collected, GlobalStage, Outcome
from corpusfilter.dedup.exact import normalize_text
from corpusfilter.dedup.xxh64 import xxh64_strings
from corpusfilter.filters.text import Pieces, as_text, split_lines
from corpusfilter.utf8 import collapse_spaces, utf8_buffer, zero_digits


class _Lines(NamedTuple):
    """The lines of a batch and, per line, what the plan needs."""

    pieces: Pieces
    nonblank: np.ndarray
    counted: np.ndarray  # non-blank and at least min_chars long
    line_hash: np.ndarray
    site_line: np.ndarray  # the line's hash mixed with its site's
    has_site: np.ndarray
    doc_hash: np.ndarray  # per document: hash of its text (lower-cased, whitespace collapsed)


# a count of documents or copies: a line seen once is not repeated
Repeats = Annotated[int, Range(2)]

_SITE_MIX = np.uint64(0x9E3779B97F4A7C15)
_NO_SITE = np.uint64(0)
_DOC_MIX = np.uint64(0xC2B2AE3D27D4EB4F)  # mixes a document's index into a line's hash


def _hash(values: pa.Array) -> np.ndarray:
    """XXH64 of the UTF-8 bytes of every string (no nulls)."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.uint64)
    buf = utf8_buffer(values)
    return xxh64_strings(buf.data, buf.offsets)


def normalize_lines(values: pa.Array) -> pa.Array:
    """CCNet's line normalisation: trimmed, lower-cased, every digit replaced by 0, runs of
    whitespace collapsed (so "© 2019 Acme" and "© 2021  Acme" are the same line)."""
    out = pc.utf8_lower(pc.utf8_trim_whitespace(values))
    # RE2's \d -> "0" and \s+ -> " ", byte-wise (a regex match per digit or gap was slow)
    return collapse_spaces(zero_digits(out))


def site_of(urls: pa.Array | None, n: int) -> pa.Array:
    """The host of every URL, lower-cased, without "www." (empty when unknown)."""
    if urls is None:
        return pa.array([""] * n, pa.string())
    urls = as_text(urls).cast(pa.string()).fill_null("")
    host = pc.extract_regex(urls, r"^(?:[A-Za-z][A-Za-z0-9+.-]*:)?//(?:[^@/?#]*@)?"
                                  r"(?P<host>[^/?#:]*)")
    host = pc.struct_field(host, "host").fill_null("")
    return pc.replace_substring_regex(pc.utf8_lower(host), r"^www\.", "")


def _doc_hashes(text: pa.Array) -> np.ndarray:
    """Per document: the hash of its text as exact_dedup compares texts (lower-cased,
    whitespace collapsed and trimmed), so a re-crawl differing only in those keeps its lines
    and exact_dedup still finds it. Per document: a subset's hashes are the same values."""
    return _hash(normalize_text(text, lowercase=True, collapse_whitespace=True,
                                strip_punctuation=False, unicode_form=None))


@register
class BoilerplateLines(GlobalStage):
    """Remove lines repeated across documents of the corpus or of one site (CCNet-style
    line deduplication; Wenzek et al. 2020, section 3.1).

    Lines are compared after CCNet's normalisation (trimmed, lower-case, digits as 0,
    whitespace collapsed); blank lines are ignored. Documents are counted by their text as
    exact_dedup compares it (lower-cased, whitespace collapsed), so copies of a page count once
    and keep their lines alike (exact_dedup's business). The owner of a repeated line
    (the document with the smallest text hash) keeps it: nothing of the corpus disappears
    entirely, and the result does not depend on order or batching.

    Defaults measured on real pages with annotated boilerplate (``benchmarks/defaults.py``,
    docs/heuristics.md): a line in 5 documents of the corpus is boilerplate; within one site
    (the host of the `url_column`), 3. CCNet removes every repeated paragraph of a 5 GB
    shard; counts this low suit small corpora, raise them for web-scale runs.

    Args:
        min_docs: a line held by at least this many distinct documents of the corpus is
            removed from all but its owner (null: corpus-wide counting off).
        min_site_docs: the same within one site (null: off; also off without a URL column).
        url_column: column holding each document's URL (its host is the site).
        min_chars: lines shorter than this (after normalisation) are never removed (0: all).
        min_doc_repeats: a line occurring at least this many times within one document is a
            widget of its template (a newsletter prompt, a share bar, a "Reply" under each
            comment): its first copy stays, later copies go (null: off). Per document, so it
            needs no plan; the repetition rules then judge the page's content, not its widgets.
        source_overrides: sources whose documents are left out (neither counted nor
            changed), e.g. {stackexchange: {min_docs: null, min_site_docs: null}}: code
            repeats lines such as "}" across posts. Only null is accepted here.
    """

    name = "boilerplate_lines"
    version = 1

    def __init__(self, min_docs: Repeats | None = 5, min_site_docs: Repeats | None = 3,
                 url_column: ColumnName = "url", min_chars: Count = 0,
                 min_doc_repeats: Repeats | None = None,
                 source_overrides: Mapping[str, Mapping[str, Any]] | None = None):
        self.min_docs = min_docs
        self.min_site_docs = min_site_docs
        self.url_column = url_column
        self.min_chars = min_chars
        self.min_doc_repeats = min_doc_repeats
        self.lang_params = LangParams(self.name, {"min_docs": min_docs,
                                                  "min_site_docs": min_site_docs,
                                                  "min_doc_repeats": min_doc_repeats},
                                      None, source_overrides=source_overrides)
        for where, _, value in self.lang_params.entries():
            if value is not None:
                raise ValueError(f"{self.name}: {where} can only be null (leave the source "
                                 f"out), got {value!r}")

    # -- per batch: the lines of every document ---------------------------------------------

    def _lines(self, docs: Docs, doc_hashes: bool = True) -> _Lines:
        """The lines of a batch; without `doc_hashes`, `doc_hash` is left empty (`apply`
        hashes only the documents that hold a planned line, `_doc_hashes`)."""
        lines = split_lines(docs.text)
        norm = normalize_lines(lines.values) if len(lines.values) else lines.values
        lengths = pc.utf8_length(norm).to_numpy(zero_copy_only=False).astype(np.int64) \
            if len(norm) else np.zeros(0, dtype=np.int64)
        sites = site_of(docs.column(self.url_column), docs.num_rows)
        site_hash = _hash(sites)
        known = pc.not_equal(sites, "").to_numpy(zero_copy_only=False).astype(bool)
        line_hash = _hash(norm)
        with np.errstate(over="ignore"):
            site_line = (site_hash[lines.doc] * _SITE_MIX) ^ line_hash
        counted = (lengths > 0) & (lengths >= self.min_chars)
        # documents of sources left out (source_overrides) are neither counted nor changed
        included = np.zeros(docs.num_rows, dtype=bool)
        for key in ("min_docs", "min_site_docs", "min_doc_repeats"):
            included |= ~np.isnan(np.broadcast_to(np.asarray(
                self.lang_params.values(key, docs), dtype=np.float64), (docs.num_rows,)))
        doc_hash = _doc_hashes(as_text(docs.text)) if doc_hashes else \
            np.zeros(0, dtype=np.uint64)
        return _Lines(lines, lengths > 0, counted & included[lines.doc], line_hash,
                      site_line, known[lines.doc], doc_hash)

    def collect(self, docs: Docs) -> pa.Table:
        ln = self._lines(docs)
        c = ln.counted
        table = pa.table({"line": pa.array(ln.line_hash[c], pa.uint64()),
                          "site_line": pa.array(ln.site_line[c], pa.uint64()),
                          "has_site": pa.array(ln.has_site[c], pa.bool_()),
                          "doc": pa.array(ln.doc_hash[ln.pieces.doc][c], pa.uint64())})
        return table.group_by(["line", "site_line", "has_site", "doc"]).aggregate([])

    # -- once: which lines are boilerplate, and who keeps them ------------------------------

    def plan(self, collected: Collected) -> dict[str, pa.Table]:
        return plan_lines(collected, {"corpus": self.min_docs, "site": self.min_site_docs})

    # -- per batch again: drop the boilerplate lines ----------------------------------------

    def _repeated_in_doc(self, ln: _Lines) -> np.ndarray:
        """Per line: a later copy of a line occurring `min_doc_repeats` times in its document."""
        hit = np.zeros(len(ln.line_hash), dtype=bool)
        idx = np.flatnonzero(ln.counted)
        if self.min_doc_repeats is None or len(idx) == 0:
            return hit
        doc = ln.pieces.doc[idx]
        keys = ln.line_hash[idx]
        # one unstable sort on the line's hash mixed with its document (a 3-key lexsort cost
        # ~20x more); a group is a run of equal (document, line) in that order, its first copy
        # the smallest position. Two pairs whose mixed keys collide would share a run: then
        # the exact order (by document, line, position) is taken instead.
        with np.errstate(over="ignore"):
            mixed = keys ^ (doc.astype(np.uint64) * _DOC_MIX)
        order = np.argsort(mixed)
        ranked = mixed[order]
        same = ranked[1:] == ranked[:-1]
        d, k = doc[order], keys[order]
        if (same & ((d[1:] != d[:-1]) | (k[1:] != k[:-1]))).any():
            order = np.lexsort((keys, doc))  # stable: positions ascending within a group
            d, k = doc[order], keys[order]
            same = (d[1:] == d[:-1]) & (k[1:] == k[:-1])
        start = np.flatnonzero(np.r_[True, ~same])
        size = np.diff(np.r_[start, len(idx)])
        first = np.zeros(len(idx), dtype=bool)
        first[np.minimum.reduceat(order, start)] = True
        many = np.empty(len(idx), dtype=bool)
        many[order] = np.repeat(size >= self.min_doc_repeats, size)
        hit[idx[~first & many]] = True
        return hit

    def _repeated_in_doc_reference(self, ln: _Lines) -> np.ndarray:
        """`_repeated_in_doc` by an exact sort on (document, line, position): the definition
        it is tested against."""
        hit = np.zeros(len(ln.line_hash), dtype=bool)
        idx = np.flatnonzero(ln.counted)
        if self.min_doc_repeats is None or len(idx) == 0:
            return hit
        doc = ln.pieces.doc[idx]
        order = np.lexsort((idx, ln.line_hash[idx], doc))  # by document, line, position
        doc, keys, idx = doc[order], ln.line_hash[idx][order], idx[order]
        start = np.flatnonzero(np.r_[True, (doc[1:] != doc[:-1]) | (keys[1:] != keys[:-1])])
        size = np.diff(np.r_[start, len(idx)])
        group = np.repeat(np.arange(len(start)), size)
        later = np.arange(len(idx)) > start[group]
        hit[idx[later & (size[group] >= self.min_doc_repeats)]] = True
        return hit

    def apply(self, docs: Docs, plan: dict[str, pa.Table]) -> Outcome:
        n = docs.num_rows
        if n == 0 or (self.min_doc_repeats is None
                      and all(t.num_rows == 0 for t in plan.values())):
            return Outcome.keep_all(n)
        ln = self._lines(docs, doc_hashes=False)
        lines = ln.pieces
        drop = self._repeated_in_doc(ln)
        per_scope = {"document": drop.copy()}
        # the planned lines of each scope and their owners; then the text hash of only the
        # documents holding one (a few, against hashing every document's whole text)
        found_lines: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for scope, keys in (("corpus", ln.line_hash), ("site", ln.site_line)):
            table = plan[scope]
            if table.num_rows:
                pos = pc.index_in(pa.array(keys, pa.uint64()), value_set=table["key"])
                found = pos.is_valid().to_numpy(zero_copy_only=False).astype(bool) & ln.counted
                if scope == "site":
                    found &= ln.has_site
                if found.any():
                    owner = table["owner"].combine_chunks().to_numpy()[
                        pos.filter(pa.array(found)).to_numpy(zero_copy_only=False)]
                    found_lines[scope] = (np.flatnonzero(found), owner)
        line_doc_hash = np.zeros(len(ln.line_hash), dtype=np.uint64)
        if found_lines:
            rows = np.unique(lines.doc[np.concatenate([i for i, _ in found_lines.values()])])
            hashes = np.zeros(n, dtype=np.uint64)
            hashes[rows] = _doc_hashes(as_text(docs.text).take(pa.array(rows)))
            line_doc_hash = hashes[lines.doc]
        for scope in ("corpus", "site"):
            hit = np.zeros(len(ln.line_hash), dtype=bool)
            if scope in found_lines:
                idx, owner = found_lines[scope]
                hit[idx[owner != line_doc_hash[idx]]] = True
            per_scope[scope] = hit & ~drop
            drop |= hit
        removed = lines.sum(drop)
        if not removed.any():
            return Outcome.keep_all(n)
        kept_lines = lines.select(~drop)
        changed = removed > 0
        new_text = kept_lines.join("\n")
        text = as_text(docs.text).cast(pa.string())
        new_text = pc.if_else(pa.array(changed), new_text, text)
        left = lines.sum(~drop & ln.nonblank)
        keep = ~(changed & (left == 0))
        reason = np.full(n, None, dtype=object)
        reason[changed] = self.reason("lines_removed")
        reason[~keep] = self.reason("all_repeated")
        chars = lines.sum(lines.lengths * drop)
        counts = {scope: lines.sum(hit) for scope, hit in per_scope.items()}
        detail: list[dict[str, Any] | None] = [None] * n
        for i in np.flatnonzero(changed):
            detail[i] = {"lines_removed": int(removed[i]), "chars_removed": int(chars[i]),
                         **{scope: int(c[i]) for scope, c in counts.items() if c[i]}}
        docs.count("lines_removed", int(removed[keep].sum()))
        docs.count("chars_removed", int(chars[keep].sum()))
        return Outcome(keep=keep, reason=reason, score=np.where(changed, removed, np.nan),
                       detail=detail, text=new_text, modified=changed & keep)


# Rows (one per distinct line of a distinct document) the plan aggregates at once. Above it
# the rows are spilled, split by the line's hash, and aggregated one partition at a time
# (two passes over the collected records), so the plan's memory stays flat as the corpus
# grows (issue #22: one pass held ~6 KB per 2 KB document). Measured with
# benchmarks/boilerplate_plan_memory.py: 250,000 rows per partition peaked lowest and ran
# fastest of the sizes tried (docs/scale.md).
PLAN_ROWS = 250_000
_COLUMNS = ["line", "site_line", "has_site", "doc"]
_SCHEMA = pa.schema([("line", pa.uint64()), ("site_line", pa.uint64()),
                     ("has_site", pa.bool_()), ("doc", pa.uint64())])


def partition_count(rows: int, plan_rows: int | None = None) -> int:
    """How many line-hash partitions the plan splits `rows` collected rows into: the
    smallest power of two with at most `plan_rows` (default `PLAN_ROWS`) rows per partition
    on average (at most 2**20)."""
    plan_rows = plan_rows or PLAN_ROWS  # read at call time, so a run can lower it
    parts = 1
    while parts * plan_rows < rows and parts < 2**20:
        parts *= 2
    return parts


def plan_lines(collected: Collected, limits: Mapping[str, int | None],
               plan_rows: int | None = None) -> dict[str, pa.Table]:
    """Per scope (``corpus``: by line, ``site``: by site line), the lines held by at least
    ``limits[scope]`` distinct documents, with their owner (smallest document hash) and count.

    The same result for any `plan_rows`: rows are split by the line's hash, and every row of
    one line (hence of one site line, a hash of the line and its site) lands in one partition.
    """
    parts = partition_count(_row_count(collected), plan_rows)
    found: dict[str, list[pa.Table]] = {"corpus": [], "site": []}
    for table in _partitions(collected, parts):
        for scope, repeated in _repeated_lines(table, limits).items():
            found[scope].append(repeated)
    return {scope: _sorted_plan(found[scope]) for scope in ("corpus", "site")}


def _sorted_plan(tables: list[pa.Table]) -> pa.Table:
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return pa.table({"key": pa.array([], pa.uint64()), "owner": pa.array([], pa.uint64()),
                         "docs": pa.array([], pa.int64())})
    return pa.concat_tables(tables).sort_by("key").combine_chunks()


def _row_count(collected: Collected) -> int:
    if collected.paths:
        import pyarrow.parquet as pq

        return sum(pq.ParquetFile(p).metadata.num_rows for p in collected.paths)
    return sum(t.num_rows for t in collected.tables(_COLUMNS[:1]))


# -- the spill: one file per collected shard, holding its rows by line-hash partition ---------
# The local engine writes and reads it in one process (`_partitions`); the Ray engine runs the
# same steps as tasks (`spill_shard`, `count_partition`, `gather_shard`; see
# engines/ray_plans.py), so that no task holds more than one shard or one partition.
#
# A bucket file: int64 B (buckets), int64 bounds[B + 1] (rows of bucket i: bounds[i] to
# bounds[i + 1]), then each column of its schema as bounds[B] fixed-width values. Reading
# bucket i costs two small reads and one per column, whatever B: an Arrow IPC file would read
# its footer, one entry per record batch (B), at every open, i.e. shards x partitions^2 bytes
# over a plan (40 GB at 10M documents in shards of 25,000).

# Files a reader keeps open while it visits the buckets one after another (every partition
# reads one bucket of every spill file: reopening cost partitions x shards opens); the rest
# are opened per read, so a run never nears the descriptor limit.
MAX_OPEN_FILES = 256


def _write_buckets(path: str, table: pa.Table, bucket: np.ndarray, buckets: int) -> None:
    """Write `table` (fixed-width columns, no nulls) as a bucket file, bucket i holding its
    rows with ``bucket == i`` in their order. Under a temporary name renamed at the end (a
    task retried by Ray, or a rerun, never reads a partial file); scratch data: no fsync."""
    import os

    order = np.argsort(bucket, kind="stable")
    bounds = np.searchsorted(bucket[order], np.arange(buckets + 1)).astype("<i8")
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(np.array([buckets], "<i8").tobytes())
        f.write(bounds.tobytes())
        for column in table.columns:
            values = column.to_numpy()
            f.write(memoryview(np.asarray(values[order], values.dtype.newbyteorder("<"))))
    os.replace(tmp, path)


class _BucketFiles:
    """Bucket i of each of several bucket files of one schema; the first `MAX_OPEN_FILES`
    stay open between calls. Read (pread), not memory-mapped: mapped pages would stay
    resident as the partitions are visited (docs/scale.md)."""

    def __init__(self, paths: list[str], schema: pa.Schema):
        self.paths = paths
        self.schema = schema
        self._dtypes = [np.dtype(f.type.to_pandas_dtype()).newbyteorder("<") for f in schema]
        self._open: dict[int, tuple[int, int, int]] = {}  # file: (descriptor, buckets, rows)

    def _header(self, fd: int) -> tuple[int, int]:
        import os

        buckets = int(np.frombuffer(os.pread(fd, 8, 0), "<i8")[0])
        rows = int(np.frombuffer(os.pread(fd, 8, 8 + 8 * buckets), "<i8")[0])
        return buckets, rows

    def batch(self, j: int, i: int) -> pa.RecordBatch:
        import os

        if j in self._open:
            return self._read(*self._open[j], i)
        fd = os.open(self.paths[j], os.O_RDONLY)
        if len(self._open) < MAX_OPEN_FILES:
            self._open[j] = (fd, *self._header(fd))
            return self._read(*self._open[j], i)
        try:
            return self._read(fd, *self._header(fd), i)
        finally:
            os.close(fd)

    def _read(self, fd: int, buckets: int, rows: int, i: int) -> pa.RecordBatch:
        import os

        a, b = (int(x) for x in np.frombuffer(os.pread(fd, 16, 8 + 8 * i), "<i8"))
        at = 8 * (buckets + 2)
        columns = []
        for dtype in self._dtypes:
            raw = os.pread(fd, (b - a) * dtype.itemsize, at + a * dtype.itemsize)
            columns.append(pa.array(np.frombuffer(raw, dtype)))
            at += rows * dtype.itemsize
        return pa.RecordBatch.from_arrays(columns, schema=self.schema)

    def close(self) -> None:
        import os

        for fd, _, _ in self._open.values():
            os.close(fd)
        self._open.clear()


def spill(table: pa.Table, parts: int, path: str) -> int:
    """Write one shard's collected rows to `path` as a bucket file, bucket i holding the rows
    whose line hash has top bits i (`parts` is a power of two); returns the rows written."""
    table = table.select(_COLUMNS).cast(_SCHEMA).combine_chunks()
    shift = np.uint64(64 - parts.bit_length() + 1)
    bucket = (table["line"].to_numpy() >> shift).astype(np.int64) if parts > 1 else \
        np.zeros(table.num_rows, np.int64)
    _write_buckets(path, table, bucket, parts)
    return table.num_rows


def _partition(files: _BucketFiles, i: int, shard_column: bool = False) -> pa.Table | None:
    """Partition i: bucket i of every file (with the file's number as column ``shard``)."""
    rows = []
    for j in range(len(files.paths)):
        batch = files.batch(j, i)
        if batch.num_rows:
            if shard_column:
                batch = batch.append_column("shard", pa.array(np.full(batch.num_rows, j,
                                                                      np.int32)))
            rows.append(batch)
    return pa.Table.from_batches(rows) if rows else None


def _partitions(collected: Collected, parts: int) -> Iterator[pa.Table]:
    """All collected rows, as `parts` tables split by the top bits of the line hash."""
    if parts == 1:
        table = collected.read(_COLUMNS)
        if table is not None and table.num_rows:
            yield table
        return
    import os
    import tempfile

    # Spill next to the collected records (the run's work directory) when there are files:
    # one file per collected table, its bucket i holding partition i.
    where = os.path.dirname(collected.paths[0]) if collected.paths else None
    where = where if where and os.path.isdir(where) else None  # else the system's temp dir
    with tempfile.TemporaryDirectory(prefix="boilerplate-plan-", dir=where) as tmp:
        spilled = []
        for n, table in enumerate(collected.tables(_COLUMNS)):
            spilled.append(os.path.join(tmp, f"{n}.spill"))
            spill(table, parts, spilled[-1])
        files = _BucketFiles(spilled, _SCHEMA)
        try:
            for i in range(parts):
                table = _partition(files, i)
                if table is not None:
                    yield table
        finally:
            files.close()


# -- the Ray engine's tasks (engines/ray_plans.py): paths in, counts out ----------------------

# One partition's plan rows, split by the shard whose rows hold the key (bucket j = shard j);
# ``site`` tells the scope (false: corpus, true: site).
_SLICE_SCHEMA = pa.schema([("site", pa.bool_()), ("key", pa.uint64()),
                           ("owner", pa.uint64()), ("docs", pa.int64())])


def spill_path(directory: str, j: int) -> str:
    return f"{directory}/spill-{j}.bin"


def part_path(directory: str, i: int) -> str:
    return f"{directory}/part-{i}.bin"


def spill_shard(collect_file: str, parts: int, directory: str, j: int) -> int:
    """Task: spill the collected rows of shard j (its collect file) into `directory`."""
    import pyarrow.parquet as pq

    return spill(pq.read_table(collect_file, columns=_COLUMNS), parts, spill_path(directory, j))


def count_partition(directory: str, shards: int, i: int,
                    limits: Mapping[str, int | None]) -> int:
    """Task: the plan rows of line-hash partition i (bucket i of every shard's spill file),
    written to its part file with bucket j = the rows whose key occurs in shard j's
    collected rows (what shard j's documents can look up); returns the rows written."""
    files = _BucketFiles([spill_path(directory, j) for j in range(shards)], _SCHEMA)
    try:
        table = _partition(files, i, shard_column=True)
    finally:
        files.close()
    slices = [pa.table({"shard": pa.array([], pa.int32()),
                        **{f.name: pa.array([], f.type) for f in _SLICE_SCHEMA}})]
    if table is not None:
        repeated = _repeated_lines(table.drop_columns(["shard"]), limits)
        for scope, col in (("corpus", "line"), ("site", "site_line")):
            if scope not in repeated or repeated[scope].num_rows == 0:
                continue
            plan = repeated[scope]
            rows = table if scope == "corpus" else table.filter(table["has_site"])
            pos = pc.index_in(rows[col], value_set=plan["key"])
            hit = pos.is_valid()
            pairs = pa.table({"shard": rows["shard"].filter(hit), "pos": pos.filter(hit)})
            pairs = pairs.group_by(["shard", "pos"]).aggregate([])  # a key once per shard
            at = pairs["pos"]
            slices.append(pa.table({
                "shard": pairs["shard"],
                "site": pa.array(np.full(pairs.num_rows, scope == "site")),
                "key": plan["key"].take(at), "owner": plan["owner"].take(at),
                "docs": plan["docs"].take(at)}))
    out = pa.concat_tables(slices).combine_chunks()
    shard = out["shard"].to_numpy()
    _write_buckets(part_path(directory, i), out.drop_columns(["shard"]), shard.astype(np.int64),
                   shards)
    return out.num_rows


def gather_shard(directory: str, parts: int, j: int) -> dict[str, pa.Table]:
    """Task: shard j's slice of the plan (bucket j of every partition's part file): the plan
    `apply()` needs for the documents of shard j, as `plan_lines` returns it (sorted by key)."""
    files = _BucketFiles([part_path(directory, i) for i in range(parts)], _SLICE_SCHEMA)
    try:
        table = _partition(files, j)
    finally:
        files.close()
    if table is None:
        return {"corpus": _sorted_plan([]), "site": _sorted_plan([])}
    site = table["site"]
    return {scope: _sorted_plan([table.filter(mask).drop_columns(["site"])])
            for scope, mask in (("corpus", pc.invert(site)), ("site", site))}


def _repeated_lines(table: pa.Table, limits: Mapping[str, int | None]) -> dict[str, pa.Table]:
    out = {}
    table = table.group_by(_COLUMNS).aggregate([])  # a document counts once per line
    for scope, key in (("corpus", "line"), ("site", "site_line")):
        limit = limits.get(scope)
        if limit is None:
            continue
        rows = table if scope == "corpus" else table.filter(table["has_site"])
        agg = rows.group_by(key).aggregate([("doc", "count"), ("doc", "min")])
        agg = agg.filter(pc.greater_equal(agg["doc_count"], limit))
        out[scope] = pa.table({"key": agg[key], "owner": agg["doc_min"],
                               "docs": agg["doc_count"]})
    return out
