"""`IdIndex`: find a batch's document ids in a global stage's plan in O(batch · log plan).

A dedup plan lists every removed document of the corpus. Looking a batch up with
``pc.index_in(batch_ids, value_set=plan_ids)`` rebuilds a hash table of the whole plan on
every call, so a run of N documents in batches of B costs O(N² / B): the quadratic term of
issue #22 (≈ 370 CPU-seconds per dedup stage at 5M documents). An `IdIndex` is built once per
plan (per worker): the XXH64 of every plan id, sorted. A lookup hashes the batch's ids,
binary-searches them and confirms each hit by comparing the strings themselves, so it is
exact whatever the hashes do. `IdIndexCache` keeps the index of the plan a stage last saw.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusfilter.core.memo import Memo
from corpusfilter.dedup.xxh64 import xxh64_strings
from corpusfilter.utf8 import utf8_buffer


def _hashes(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    buf = utf8_buffer(ids)
    return xxh64_strings(buf.data, buf.offsets)


class IdIndex:
    """Sorted 64-bit hashes of a plan's ids, for exact membership and position lookups."""

    builds: ClassVar[int] = 0  # how many indexes this process built (tests count work)

    def __init__(self, ids: pa.Array | pa.ChunkedArray):
        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks()
        self.ids = ids.cast(pa.string()) if ids.type != pa.string() else ids
        h = _hashes(self.ids)
        self.order = np.argsort(h, kind="stable")
        self.sorted = h[self.order]
        IdIndex.builds += 1

    def __len__(self) -> int:
        return len(self.ids)

    def positions(self, ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Row in the plan of each id (int64), -1 where the id is not in the plan."""
        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks()
        ids = ids.cast(pa.string()) if ids.type != pa.string() else ids
        out = np.full(len(ids), -1, dtype=np.int64)
        if not len(ids) or not len(self.sorted):
            return out
        h = _hashes(ids)
        at = np.searchsorted(self.sorted, h)
        cand = np.flatnonzero((at < len(self.sorted))
                              & (self.sorted[np.minimum(at, len(self.sorted) - 1)] == h))
        if not len(cand):
            return out
        rows = self.order[at[cand]]
        same = pc.equal(ids.take(pa.array(cand)), self.ids.take(pa.array(rows)))
        same_np = same.to_numpy(zero_copy_only=False)
        out[cand[same_np]] = rows[same_np]
        # A hash shared by several plan ids (about 1 in 10^9 pairs at 10^5 ids): try the rest
        # of that run of equal hashes for the ids whose first candidate was another string.
        for i in cand[~same_np]:
            j = int(at[i]) + 1
            target = ids[int(i)].as_py()
            while j < len(self.sorted) and self.sorted[j] == h[i]:
                if self.ids[int(self.order[j])].as_py() == target:
                    out[i] = self.order[j]
                    break
                j += 1
        return out


class IdIndexCache:
    """The `IdIndex` of the plan table a stage last applied, rebuilt only when the plan changes
    (once per worker on the local engine; once per shard plan on Ray). A pickled stage
    carries no index (`Memo`)."""

    def __init__(self) -> None:
        self._memo: Memo[int, Any] = Memo(size=1)

    def get(self, table: pa.Table) -> IdIndex:
        return self._memo.by_identity(table, lambda: IdIndex(table["doc_id"]))
