"""`StreamingMinHashDedup`: an in-memory near-duplicate filter for scripts (first seen wins).

The same shingles, signatures and LSH bands as the `minhash_dedup` stage (see
`corpusfilter.dedup.minhash`), checked against an index of what came before instead of planned
over the whole corpus, so the result depends on the order of the input.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa

from corpusfilter.dedup.jaccard import shingle_sets, verify_mode
from corpusfilter.dedup.lsh import MinHasher


class StreamingMinHashDedup:
    """In-memory near-duplicate filter for scripts: first seen wins (ORDER-DEPENDENT).

    Keeps, per LSH band, the kept documents under each band key; a new document is a
    duplicate of the first kept document (in the order they were kept) that shares a band
    with it and passes `verify`, as in the stage: ``exact`` (default) compares the two
    shingle sets (Jaccard >= `threshold`), ``estimate`` their signatures (share of equal
    values), ``off`` takes every band collision. Unlike the `minhash_dedup` stage, which
    document survives depends on the order documents arrive in. Memory grows with the number
    of kept documents: their band keys (about bands × 100 bytes in Python dicts) plus, for
    ``exact``, their distinct shingle hashes (4 bytes each, ~1.4 KB for a 2 KB page) or, for
    ``estimate``, their signatures (4 bytes × num_perm).

    Example:
        >>> d = StreamingMinHashDedup()
        >>> keep, dup_of = d.add(["a b c d e f", "a b c d e f", "x y z"], ["1", "2", "3"])
        >>> keep.tolist(), dup_of
        ([True, False, True], [None, '1', None])
    """

    def __init__(self, ngram: int = 5, shingle: str = "word", num_perm: int = 112,
                 bands: int = 14, rows: int = 8, seed: int = 1, scheme: str = "affine32",
                 hash: str = "xxh64", threshold: float = 0.75, verify: bool | str = "exact"):
        if not 0.0 < float(threshold) < 1.0:
            raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
        self.hasher = MinHasher(ngram, shingle, num_perm, bands, rows, seed, scheme, hash)
        self.threshold, self.verify = float(threshold), verify_mode(verify)
        self.index: list[dict[int, list[int]]] = [{} for _ in range(bands)]
        self.ids: list[str] = []  # per kept document (its slot)
        self._kept: list[np.ndarray] = []  # per slot: shingle set (exact) or signature
        self.seen = 0

    def add(self, texts: Iterable[str] | pa.Array, ids: Iterable[str] | None = None,
            ) -> tuple[np.ndarray, list[str | None]]:
        """Check and index a batch in order; returns (keep mask, duplicate_of per text)."""
        arr = texts if isinstance(texts, pa.Array) else pa.array(list(texts), pa.string())
        n = len(arr)
        id_list = ([str(i) for i in ids] if ids is not None
                   else [str(self.seen + i) for i in range(n)])
        if len(id_list) != n:
            raise ValueError(f"{len(id_list)} ids for {n} texts")
        self.seen += n
        sh = self.hasher.shingles(arr)
        sig, has = self.hasher.signatures(arr, sh)
        keys = self.hasher.keys(sig).tolist()
        if self.verify == "exact":
            values, counts = shingle_sets(sh)
            offsets = np.concatenate([[0], np.cumsum(counts)])
        keep = np.ones(n, dtype=bool)
        dup_of: list[str | None] = [None] * n
        for i in range(n):
            if not has[i]:
                continue
            mine = (values[offsets[i]:offsets[i + 1]] if self.verify == "exact"
                    else sig[i])
            seen: set[int] = set()
            for j, key in enumerate(keys[i]):
                for slot in self.index[j].get(key, ()):
                    if slot in seen:
                        continue
                    seen.add(slot)
                    if self._similar(mine, self._kept[slot]):
                        keep[i] = False
                        dup_of[i] = self.ids[slot]
                        break
                if not keep[i]:
                    break
            if keep[i]:
                slot = len(self.ids)
                self.ids.append(id_list[i])
                self._kept.append(mine.copy() if self.verify != "off" else mine[:0])
                for j, key in enumerate(keys[i]):
                    self.index[j].setdefault(key, []).append(slot)
        return keep, dup_of

    def _similar(self, a: np.ndarray, b: np.ndarray) -> bool:
        if self.verify == "off":
            return True
        if self.verify == "estimate":
            return bool((a == b).mean() >= self.threshold)
        inter = len(np.intersect1d(a, b, assume_unique=True))
        return inter / (len(a) + len(b) - inter) >= self.threshold

    def filter(self, texts: Iterable[str]) -> Iterator[str]:
        """Yield the texts that are not near-duplicates of an earlier one."""
        batch: list[str] = []
        for t in texts:
            batch.append(t)
            if len(batch) == 1000:
                keep, _ = self.add(batch)
                yield from (x for x, k in zip(batch, keep, strict=True) if k)
                batch = []
        if batch:
            keep, _ = self.add(batch)
            yield from (x for x, k in zip(batch, keep, strict=True) if k)
