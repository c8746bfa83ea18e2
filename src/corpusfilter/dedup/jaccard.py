"""Jaccard similarity of documents: MinHash estimates and exact set overlaps, vectorised.

`shingle_sets` turns a batch's shingle hashes into sorted distinct 32-bit sets; the exact
Jaccard of two such sets is |A ∩ B| / |A ∪ B| (Broder 1997, "On the resemblance and
containment of documents"), and the MinHash estimate is the share of equal signature slots
(Leskovec et al., "Mining of Massive Datasets", ch. 3.3).
"""

from __future__ import annotations

import numpy as np

from corpusfilter.arrays import sorted_unique
from corpusfilter.dedup.shingles import ShingleHashes

VERIFY_MODES = ("exact", "estimate", "off")


def verify_mode(verify: bool | str | None) -> str:
    """YAML values of `verify`: true or "exact" → exact; "estimate"; false, null or "off"."""
    if verify is True:
        return "exact"
    if verify is False or verify is None:
        return "off"
    if isinstance(verify, str) and verify.lower() in (*VERIFY_MODES, "false", "none"):
        v = verify.lower()
        return "off" if v in ("false", "none") else v
    raise ValueError(f"verify must be one of exact (or true), estimate, off (or false), "
                     f"got {verify!r}")


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Share of equal signature slots, row by row (the MinHash estimate of Jaccard)."""
    return (a == b).mean(axis=1)


def jaccard_rows(sig: np.ndarray, a: np.ndarray, b: np.ndarray,
                 chunk: int = 1024) -> np.ndarray:
    """Estimated Jaccard of the signature rows a[i] and b[i], in chunks (bounded memory)."""
    out = np.empty(len(a), dtype=np.float64)
    for i in range(0, len(a), chunk):
        out[i:i + chunk] = estimated_jaccard(sig[a[i:i + chunk]], sig[b[i:i + chunk]])
    return out


def shingle_sets(sh: ShingleHashes) -> tuple[np.ndarray, np.ndarray]:
    """Each document's distinct shingle hashes as 32-bit values, sorted: (values, counts).

    64-bit hashes keep their high 32 bits. Two distinct shingles of a pair of documents share
    a 32-bit value with probability ~(|A|·|B|)/2^32 (3e-5 for two 2 KB pages), so the exact
    Jaccard computed on these sets is the Jaccard of the shingle sets up to such collisions.
    """
    n = len(sh.counts)
    v = sh.values
    if v.dtype == np.uint64:
        v = v >> np.uint64(32)
    doc = np.repeat(np.arange(n, dtype=np.uint64), sh.counts)
    key = sorted_unique((doc << np.uint64(32)) | v.astype(np.uint64))
    values = (key & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    counts = np.bincount((key >> np.uint64(32)).astype(np.int64), minlength=n)
    return values, counts


def exact_jaccard(values: np.ndarray, offsets: np.ndarray, a: np.ndarray, b: np.ndarray,
                  budget: int = 1 << 18) -> np.ndarray:
    """Jaccard similarity of the sorted distinct value sets a[i] and b[i], where set r is
    values[offsets[r]:offsets[r + 1]]."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    size = (offsets[a + 1] - offsets[a]) + (offsets[b + 1] - offsets[b])
    return jaccard_from(exact_intersections(values, offsets, a, b, budget), size)


def jaccard_from(inter: np.ndarray, size: np.ndarray) -> np.ndarray:
    """|A ∩ B| / |A ∪ B| from the intersection and |A| + |B| (1.0 for two empty sets)."""
    union = size - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def exact_intersections(values: np.ndarray, offsets: np.ndarray, a: np.ndarray,
                        b: np.ndarray, budget: int = 1 << 18) -> np.ndarray:
    """Size of the intersection of the sorted distinct value sets a[i] and b[i], where set r
    is values[offsets[r]:offsets[r + 1]]. Vectorised in chunks of about `budget` values
    (working memory ~40 bytes per value, freed after each chunk)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    out = np.zeros(len(a), dtype=np.int64)
    if len(a) == 0:
        return out
    la = offsets[a + 1] - offsets[a]
    lb = offsets[b + 1] - offsets[b]
    cum = np.cumsum(la + lb)
    i = 0
    while i < len(a):
        # at least one pair per chunk, then as many as fit in the budget
        j = max(i + 1, int(np.searchsorted(cum, (cum[i - 1] if i else 0) + budget, "right")))
        out[i:j] = _chunk_intersections(values, offsets, a[i:j], la[i:j], b[i:j], lb[i:j])
        i = j
    return out


def _chunk_intersections(values: np.ndarray, offsets: np.ndarray, a: np.ndarray,
                         la: np.ndarray, b: np.ndarray, lb: np.ndarray) -> np.ndarray:
    """Intersection sizes of one chunk of pairs: the two sets of each pair are tagged with
    the pair's number, sorted together, and equal neighbours counted (each set is
    duplicate-free, so every equal neighbour is a shared value)."""
    k = np.arange(len(a), dtype=np.uint64)
    key = np.concatenate([_tagged(values, offsets, rows, lens, k)
                          for rows, lens in ((a, la), (b, lb))])
    key.sort()
    eq = key[1:] == key[:-1]
    return np.bincount((key[1:][eq] >> np.uint64(32)).astype(np.int64), minlength=len(a))


def _tagged(values: np.ndarray, offsets: np.ndarray, rows: np.ndarray, lens: np.ndarray,
            tag: np.ndarray) -> np.ndarray:
    """The values of the sets `rows`, each as (tag << 32) | value."""
    total = int(lens.sum())
    excl = np.cumsum(lens) - lens
    pos = np.repeat(offsets[rows] - excl, lens) + np.arange(total, dtype=np.int64)
    return (np.repeat(tag, lens) << np.uint64(32)) | values[pos].astype(np.uint64)


def lookup_similarity(known: tuple[np.ndarray, np.ndarray], code: np.ndarray) -> np.ndarray:
    """Similarity of the pairs `code` (u * m + v, u < v) from the verified pairs `known`
    (sorted codes, similarities); NaN where a pair is not among them."""
    pair, sim = known
    out = np.full(len(code), np.nan)
    if len(pair) == 0 or len(code) == 0:
        return out
    pos = np.minimum(np.searchsorted(pair, code), len(pair) - 1)
    hit = pair[pos] == code
    out[hit] = sim[pos[hit]]
    return out
