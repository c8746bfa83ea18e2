"""`exact_dedup`: remove documents whose normalised text equals another's.

Global stage. Each document's normalised text is hashed (128-bit xxh3, so collisions are
negligible even at 10^10 documents); documents sharing a hash form a group, and the one kept is
chosen by a rule (smallest id, or longest text) — never by arrival order — so the result does
not depend on sharding, batch size or worker count.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from corpusfilter.core.docs import Docs
from corpusfilter.core.registry import register
from corpusfilter.core.stage import Collected, GlobalStage, Outcome
from corpusfilter.dedup.lookup import IdIndexCache
from corpusfilter.utf8 import collapse_spaces

KeepRule = Literal["smallest_id", "longest"]
UnicodeForm = Literal["NFC", "NFKC", "NFD", "NFKD"]


def normalize_text(text: pa.Array, lowercase: bool, collapse_whitespace: bool,
                   strip_punctuation: bool, unicode_form: str | None) -> pa.Array:
    """Vectorised text normalisation with Arrow compute (no per-document Python)."""
    if unicode_form:
        text = pc.utf8_normalize(text, form=unicode_form)
    if lowercase:
        text = pc.utf8_lower(text)
    if strip_punctuation:
        text = pc.replace_substring_regex(text, r"[^\pL\pN\s]+", "")
    if collapse_whitespace:  # RE2 \s+ -> " ", byte-wise (a regex match per gap was slow)
        text = pc.utf8_trim_whitespace(collapse_spaces(text))
    return text


@register
class ExactDedup(GlobalStage):
    """Keep one document of each group with identical normalised text.

    The ledger row of each removed copy names the kept document (``duplicate_of``) and the
    group size. Normalisation is configurable; the default (lowercase, collapsed whitespace)
    catches re-crawls that differ only in case or layout.

    Args:
        lowercase: compare case-insensitively.
        collapse_whitespace: treat any run of whitespace as one space; trim the ends.
        strip_punctuation: ignore everything that is not a letter, digit or whitespace.
        unicode_form: Unicode normalisation before comparing (NFC, NFKC, ...; null: none).
        keep: which document of a group to keep: smallest_id or longest (ties: smallest id).
    """

    name = "exact_dedup"
    version = 1
    # The Ray engine plans each group of records sharing a text hash apart (docs/scale.md).
    ray_partition_key = "hash"

    def __init__(self, lowercase: bool = True, collapse_whitespace: bool = True,
                 strip_punctuation: bool = False, unicode_form: UnicodeForm | None = None,
                 keep: KeepRule = "smallest_id"):
        self.lowercase = lowercase
        self.collapse_whitespace = collapse_whitespace
        self.strip_punctuation = strip_punctuation
        self.unicode_form = unicode_form
        self.keep = keep
        self._index = IdIndexCache()

    def collect(self, docs: Docs) -> pa.Table:
        norm = normalize_text(docs.text, self.lowercase, self.collapse_whitespace,
                              self.strip_punctuation, self.unicode_form)
        digests = [xxhash.xxh3_128_digest(t.encode("utf-8")) for t in norm.to_pylist()]
        return pa.table({
            "doc_id": docs.ids.cast(pa.string()),
            "hash": pa.array(digests, pa.binary(16)),
            "chars": pa.array(docs.text_chars, pa.int64()),
        })

    def plan(self, collected: Collected) -> pa.Table:
        """Table of removed documents: doc_id, duplicate_of, group_size (sorted by doc_id)."""
        table = collected.read(["doc_id", "hash", "chars"])
        empty = pa.table({"doc_id": pa.array([], pa.string()),
                          "duplicate_of": pa.array([], pa.string()),
                          "group_size": pa.array([], pa.int64())})
        if table is None or table.num_rows == 0:
            return empty
        # Order within a group by the keep rule, then take the first of each group.
        keys = [("hash", "ascending")]
        if self.keep == "longest":
            keys.append(("chars", "descending"))
        keys.append(("doc_id", "ascending"))
        t = table.sort_by(keys)
        h = t["hash"].combine_chunks()
        same_as_prev = np.zeros(t.num_rows, dtype=bool)
        if t.num_rows > 1:
            same_as_prev[1:] = pc.equal(h[1:], h[:-1]).to_numpy(zero_copy_only=False)
        group_start = np.flatnonzero(~same_as_prev)
        group_of = np.cumsum(~same_as_prev) - 1
        sizes = np.diff(np.append(group_start, t.num_rows))
        dup_rows = np.flatnonzero(same_as_prev)
        if len(dup_rows) == 0:
            return empty
        ids = t["doc_id"].combine_chunks()
        keeper = ids.take(pa.array(group_start[group_of[dup_rows]]))
        out = pa.table({
            "doc_id": ids.take(pa.array(dup_rows)),
            "duplicate_of": keeper,
            "group_size": pa.array(sizes[group_of[dup_rows]], pa.int64()),
        })
        return out.sort_by("doc_id")

    def apply(self, docs: Docs, plan: pa.Table) -> Outcome:
        n = docs.num_rows
        if plan.num_rows == 0 or n == 0:
            return Outcome.keep_all(n)
        pos = self._index.get(plan).positions(docs.ids)
        hit = pos >= 0
        keep = ~hit
        reason = np.full(n, None, dtype=object)
        reason[hit] = self.reason("duplicate")
        detail: list[dict[str, Any] | None] = [None] * n
        if hit.any():
            rows = np.flatnonzero(hit)
            idx = pa.array(pos[hit])
            dup_of = plan["duplicate_of"].take(idx).to_pylist()
            sizes = plan["group_size"].take(idx).to_pylist()
            for r, d, s in zip(rows, dup_of, sizes, strict=True):
                detail[r] = {"duplicate_of": d, "group_size": s}
        return Outcome(keep=keep, reason=reason, detail=detail)
