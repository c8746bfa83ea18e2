"""Reading `minhash_dedup`'s collected records out of core, a few rows at a time.

The plan never decodes a whole shard: band keys are read one band at a time (8 bytes per
document), the rows of candidate documents are read in batches of ``READ_BATCH_ROWS`` and
filtered at once, and the shingle hashes for exact verification are read in as many passes
as it takes to hold at most ``SETS_BYTES_PER_DOC`` bytes per document of them (pass p keeps
one slice of the 32-bit hash range; intersections are summed over the passes, so the result
does not depend on their number).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from corpusfilter.arrays import sorted_unique
from corpusfilter.core.stage import Collected
from corpusfilter.dedup.clusters import bucket_pairs, union
from corpusfilter.dedup.jaccard import exact_intersections, jaccard_from

# Plan memory for exact verification: the shingle hashes of the documents being verified are
# held in at most about this many bytes per document of the corpus (more passes over the
# collected records otherwise), and the sort buffer verifying them in ~40 bytes per value for
# this many values per document (between 32 k and 256 k values).
SETS_BYTES_PER_DOC = 48
SETS_MIN_BYTES = 1 << 20
WORK_VALUES_PER_DOC = 0.5
# Rows decoded at a time when reading collected records in the plan.
READ_BATCH_ROWS = 512


def chunks(col: pa.ChunkedArray | pa.Array) -> list[pa.Array]:
    return list(col.chunks) if isinstance(col, pa.ChunkedArray) else [col]


def record_batches(collected: Collected, columns: list[str]) -> Iterator[pa.Table]:
    """The collected records' columns, READ_BATCH_ROWS rows at a time, in reading order
    (shards in order, rows in order), so that no whole shard is decoded at once."""
    if collected.paths:
        import pyarrow.parquet as pq

        for path in collected.paths:
            # a buffered stream: without it a whole column chunk is read at once
            f = pq.ParquetFile(path, buffer_size=1 << 20, pre_buffer=False)
            for batch in f.iter_batches(batch_size=READ_BATCH_ROWS, columns=columns):
                yield pa.Table.from_batches([batch])
            f.close()
        return
    for t in collected.tables(columns):
        for batch in t.to_batches(max_chunksize=READ_BATCH_ROWS):
            yield pa.Table.from_batches([batch])


def band_components(collected: Collected, bands: int) -> np.ndarray:
    """Union-find labels (root = smallest row index) over all bands, one band in memory."""
    labels: np.ndarray | None = None
    for j in range(bands):
        key = _band(collected, j)
        if labels is None:
            dt = np.int32 if len(key) < 2**31 - 1 else np.int64
            labels = np.arange(len(key), dtype=dt)
        union(labels, *bucket_pairs(key, verify=False))
    return labels if labels is not None else np.zeros(0, np.int32)


def _band(collected: Collected, j: int) -> np.ndarray:
    parts = [t.column(0).to_numpy() for t in collected.tables([f"band_{j}"])]
    return np.concatenate(parts) if parts else np.zeros(0, np.uint64)


@dataclass
class CandidateRows:
    """Id, length, signature and band keys of the candidate documents, in reading order."""

    ids: pa.Array
    chars: np.ndarray
    sig: np.ndarray  # docs × num_perm; no rows when not read
    keys: np.ndarray  # docs × bands; no columns when not read


def read_candidates(collected: Collected, cand: np.ndarray, num_perm: int, bands: int,
                    dtype: np.dtype, with_sig: bool, with_keys: bool) -> CandidateRows:
    """The candidate rows (`cand`: a mask over all records), read a batch of rows at a time
    and filtered to its candidates at once."""
    cols = ["doc_id", "chars"] + (["sig"] if with_sig else []) + (
        [f"band_{j}" for j in range(bands)] if with_keys else [])
    id_parts, chars_parts, key_parts = [], [], []
    start = 0
    filled = 0
    sig = np.empty((int(cand.sum()) if with_sig else 0, num_perm), dtype=dtype)
    for batch in record_batches(collected, cols):
        mask = cand[start:start + batch.num_rows]
        start += batch.num_rows
        if not mask.any():
            continue
        t = batch.filter(pa.array(mask))
        id_parts.append(pa.concat_arrays(chunks(t["doc_id"]))
                        if t.num_rows else pa.array([], pa.string()))
        chars_parts.append(np.asarray(t["chars"]).astype(np.int64, copy=False))
        if with_sig:
            sig_col = pa.concat_arrays(chunks(t["sig"]))
            raw = np.frombuffer(sig_col.buffers()[1], dtype=dtype)[sig_col.offset * num_perm:]
            sig[filled:filled + t.num_rows] = raw[:t.num_rows * num_perm].reshape(
                t.num_rows, num_perm)
        filled += t.num_rows
        if with_keys:
            key_parts.append(np.stack([np.asarray(t[f"band_{j}"]) for j in range(bands)],
                                      axis=1))
    if not id_parts:
        return CandidateRows(pa.array([], pa.string()), np.zeros(0, np.int64),
                             np.zeros((0, num_perm), dtype), np.zeros((0, bands), np.uint64))
    keys = np.concatenate(key_parts) if key_parts else np.zeros((filled, 0), np.uint64)
    return CandidateRows(pa.concat_arrays(id_parts), np.concatenate(chars_parts), sig, keys)


def read_sets(collected: Collected, want: np.ndarray, lo: int, hi: int,
              full_counts: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Shingle hashes in [lo, hi) of the rows in `want` (reading order): (values, count per
    row, and with full_counts the count of all its values per row)."""
    parts: list[np.ndarray] = []
    counts: list[np.ndarray] = []
    fulls: list[np.ndarray] = []
    start = 0
    for t in record_batches(collected, ["shingles"]):
        mask = want[start:start + t.num_rows]
        start += t.num_rows
        if mask.any():
            vals, cnt, full = _batch_sets(t, mask, lo, hi)
            parts.append(vals)
            counts.append(cnt)
            fulls.append(full)
    values = np.concatenate(parts) if parts else np.zeros(0, np.uint32)
    count = np.concatenate(counts) if counts else np.zeros(0, np.int64)
    full = (np.concatenate(fulls) if fulls else np.zeros(0, np.int64)) if full_counts else None
    return values, count, full


def _batch_sets(t: pa.Table, mask: np.ndarray, lo: int, hi: int,
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One batch's shingle hashes in [lo, hi) of the masked rows, in memory of their own (the
    Arrow batch is released on return): (values, count in range, count of all) per row."""
    lists = pa.concat_arrays(chunks(t["shingles"].filter(pa.array(mask))))
    if not isinstance(lists, pa.LargeListArray):
        lists = lists.cast(pa.large_list(pa.uint32()))
    off = lists.offsets.to_numpy()
    cnt = np.diff(off)
    vals = np.asarray(lists.values.slice(off[0], off[-1] - off[0])).astype(np.uint32,
                                                                           copy=False)
    if lo == 0 and hi >= 1 << 32:
        return vals.copy(), cnt, cnt
    sel = vals >= np.uint32(lo)
    if hi < 1 << 32:
        sel &= vals < np.uint32(hi)
    return vals[sel], np.bincount(np.repeat(np.arange(len(cnt)), cnt)[sel],
                                  minlength=len(cnt)), cnt


@dataclass
class ExactSimilarity:
    """Exact Jaccard of candidate pairs from the collected shingle hashes.

    `n`: records in all; `cand_rows`: the record of each candidate (reading order); `chars`:
    candidate lengths (reading order), to estimate how many passes keep the hashes under
    ``SETS_BYTES_PER_DOC × n`` bytes. `passes` counts the passes made (diagnostics)."""

    collected: Collected
    n: int
    cand_rows: np.ndarray
    chars: np.ndarray
    shingle: str
    passes: int = 0

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Exact Jaccard of the shingle sets of candidates a[i] and b[i] (reading order);
        only the documents of these pairs are read."""
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        if len(a) == 0:
            return np.zeros(0, np.float64)
        need = sorted_unique(np.concatenate([a, b]))
        a_loc, b_loc = np.searchsorted(need, a), np.searchsorted(need, b)
        want = np.zeros(self.n, dtype=bool)
        want[self.cand_rows[need]] = True
        # distinct shingles ≤ shingles ≤ characters (word n-grams: about one per 5 chars)
        est = int(self.chars[need].sum()) // (5 if self.shingle == "word" else 1)
        budget = max(SETS_MIN_BYTES, SETS_BYTES_PER_DOC * self.n)
        passes = max(1, -(-est * 4 // budget))
        work = int(np.clip(self.n * WORK_VALUES_PER_DOC, 1 << 15, 1 << 18))
        inter = np.zeros(len(a), dtype=np.int64)
        size = np.zeros(len(a), dtype=np.int64)
        self.passes += passes
        for p in range(passes):
            lo, hi = (p << 32) // passes, ((p + 1) << 32) // passes
            part, full = self._pass(want, lo, hi, p == 0, a_loc, b_loc, work)
            inter += part
            if full is not None:
                size = full[a_loc] + full[b_loc]
        return jaccard_from(inter, size)

    def _pass(self, want: np.ndarray, lo: int, hi: int, first: bool, a: np.ndarray,
              b: np.ndarray, work: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Intersections within one slice [lo, hi) of the hash range (and, on the first
        pass, the full set sizes per wanted row)."""
        values, counts, full = read_sets(self.collected, want, lo, hi, full_counts=first)
        offsets = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        return exact_intersections(values, offsets, a, b, work), full
