"""`minhash_dedup`: remove near-duplicate documents (MinHash + LSH + verified star clusters).

Global stage, in phases:

1. **collect** (per batch, parallel): shingles → MinHash signature → one 64-bit key per LSH
   band. Written to disk per shard: doc id, length, band keys, signature.
2. **plan** (once): for each band in turn, only that band's keys are read (8 bytes per
   document), sorted, and documents sharing a key are joined in a union-find labelling
   (vectorised connected components). Documents left alone are done; only those in a cluster
   (the candidates) have their ids and band keys (and, unless verification is exact, their
   signatures) read, a small batch of rows at a time. With ``verify``, candidate pairs whose
   Jaccard similarity is below ``threshold`` are dropped before clustering again; exact
   verification reads the shingle hashes of the documents it compares in as many passes
   over the collected records as it takes to hold at most ``SETS_BYTES_PER_DOC`` bytes per
   document of them at once (pass p keeps one slice of the hash range; the intersections
   of each pair are summed over the passes, so the result does not depend on their number).
   Documents are taken in the order of a keep rule that does not depend on input order or
   sharding (smallest id, or longest text with ties to the smallest id). Without
   verification each connected component is one cluster around its first document. With
   verification the clusters are stars (greedy pivot clustering): the first document of a
   component is kept, its members at >= ``threshold`` to it are removed as its duplicates
   (pairs not verified yet are computed), and the others are clustered again among
   themselves by their verified candidate pairs (`_pivot`, vectorised), so that
   every removed document is similar to the kept document named in its ledger row (a chain
   A ~ B ~ C does not remove C as a duplicate of A). The plan is the table of removed ids with
   their kept document, cluster size and Jaccard (exact or estimated) to it.
3. **apply** (per batch): look each id up in that table.

Defaults follow FineWeb's MinHash deduplication (datatrove): word 5-grams, 112 permutations
as 14 bands × 8 rows, i.e. documents with Jaccard similarity 0.75 are caught with
probability 0.77 and 0.85 with 0.99 (Penedo et al. 2024, "The FineWeb Datasets", sec. 3.3;
Broder 1997, "On the resemblance and containment of documents"; Leskovec et al., "Mining of
Massive Datasets", ch. 3).

`StreamingMinHashDedup` is an in-memory alternative for scripts: documents are checked
against an index of what came before, so the first one seen wins (the result depends on the
order of the input, unlike the stage).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusfilter.arrays import sorted_unique
from corpusfilter.core.docs import Docs
from corpusfilter.core.registry import register
from corpusfilter.core.stage import Collected, GlobalStage, Outcome
from corpusfilter.dedup.lookup import IdIndexCache
from corpusfilter.dedup.lsh import SCHEMES, Permutations, band_keys, optimal_params
from corpusfilter.dedup.shingles import HASHES, SHINGLE_KINDS, ShingleHashes, shingle_hashes

KEEP_RULES = ("smallest_id", "longest")
VERIFY_MODES = ("exact", "estimate", "off")
# Bucket runs up to this size are verified pair by pair; larger runs (boilerplate shared by
# many pages) only against their first member and their neighbour in id order.
ALL_PAIRS_MAX_RUN = 32
# Plan memory for exact verification: the shingle hashes of the documents being verified are
# held in at most about this many bytes per document of the corpus (more passes over the
# collected records otherwise), and the sort buffer verifying them in ~40 bytes per value for
# this many values per document (between 32 k and 256 k values).
SETS_BYTES_PER_DOC = 48
SETS_MIN_BYTES = 1 << 20
WORK_VALUES_PER_DOC = 0.5
# Rows decoded at a time when reading collected records in the plan.
READ_BATCH_ROWS = 512
# Star verification switches from vectorised rounds to a plain loop when a round settles less
# than this share of the remaining edges (long chains of near-duplicates).
PIVOT_MIN_SETTLED = 0.1


class MinHasher:
    """Shingles → MinHash signatures → LSH band keys, for whole batches of text."""

    def __init__(self, ngram: int = 5, shingle: str = "word", num_perm: int = 112,
                 bands: int = 14, rows: int = 8, seed: int = 1, scheme: str = "affine32",
                 hash: str = "xxh64"):
        if ngram < 1:
            raise ValueError(f"ngram must be >= 1, got {ngram}")
        if shingle not in SHINGLE_KINDS:
            raise ValueError(f"shingle must be one of {', '.join(SHINGLE_KINDS)}, "
                             f"got {shingle!r}")
        if hash not in HASHES:
            raise ValueError(f"hash must be one of {', '.join(HASHES)}, got {hash!r}")
        if bands < 1 or rows < 1 or bands * rows > num_perm:
            raise ValueError(f"bands × rows must be between 1 and num_perm ({num_perm}), "
                             f"got {bands} × {rows}")
        self.ngram, self.shingle, self.hash = ngram, shingle, hash
        self.bands, self.rows = bands, rows
        self.perms = Permutations(num_perm, seed, scheme)

    def shingles(self, text: pa.Array) -> ShingleHashes:
        return shingle_hashes(text, self.ngram, self.shingle, self.hash, self.perms.bits)

    def signatures(self, text: pa.Array, sh: ShingleHashes | None = None,
                   ) -> tuple[np.ndarray, np.ndarray]:
        """(signatures: docs × num_perm, has_shingles: bool per doc)."""
        if sh is None:
            sh = self.shingles(text)
        return self.perms.signatures(sh), sh.counts > 0

    def keys(self, sig: np.ndarray) -> np.ndarray:
        return band_keys(sig, self.bands, self.rows)


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Share of equal signature slots, row by row (the MinHash estimate of Jaccard)."""
    return (a == b).mean(axis=1)


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
    return _jaccard_from(exact_intersections(values, offsets, a, b, budget), size)


def _jaccard_from(inter: np.ndarray, size: np.ndarray) -> np.ndarray:
    """|A ∩ B| / |A ∪ B| from the intersection and |A| + |B| (1.0 for two empty sets)."""
    union = size - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def exact_intersections(values: np.ndarray, offsets: np.ndarray, a: np.ndarray,
                        b: np.ndarray, budget: int = 1 << 18) -> np.ndarray:
    """Size of the intersection of the sorted distinct value sets a[i] and b[i], where set r
    is values[offsets[r]:offsets[r + 1]]. Vectorised in chunks of about `budget` values
    (working memory ~40 bytes per value): the two sets of each pair are tagged with the
    pair's number, sorted together, and equal neighbours counted (each set is
    duplicate-free, so every equal neighbour is a shared value)."""
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
        k = np.arange(j - i, dtype=np.uint64)
        parts = []
        for rows, lens in ((a[i:j], la[i:j]), (b[i:j], lb[i:j])):
            total = int(lens.sum())
            excl = np.cumsum(lens) - lens
            pos = np.repeat(offsets[rows] - excl, lens) + np.arange(total, dtype=np.int64)
            parts.append((np.repeat(k, lens) << np.uint64(32))
                         | values[pos].astype(np.uint64))
            del pos
        key = np.concatenate(parts)
        del parts
        key.sort()
        eq = key[1:] == key[:-1]
        out[i:j] = np.bincount((key[1:][eq] >> np.uint64(32)).astype(np.int64),
                               minlength=j - i)
        del key, eq
        i = j
    return out


@dataclass
class MinHashPlan:
    """Removed documents (sorted by id) and, when annotating, the kept cluster heads."""

    removed: pa.Table  # doc_id, duplicate_of, cluster_size, jaccard
    heads: pa.Table  # doc_id, cluster_size (kept documents of clusters of 2+)


@register
class MinHashDedup(GlobalStage):
    """Remove near-duplicates: documents whose shingle sets are similar (MinHash LSH).

    Two documents are candidates when their MinHash signatures agree on all rows of at least
    one band. With ``verify: off`` (FineWeb's behaviour) candidates are joined transitively
    into clusters (connected components) and one document per cluster is kept. With
    verification (exact, the default, or estimate), candidate pairs below ``threshold`` are
    dropped and the clusters are stars: in each connected component of the remaining pairs,
    the first document by the keep rule is kept and every member whose similarity to it is
    >= ``threshold`` is removed as its duplicate; the members that fail are clustered again
    among themselves by their verified candidate pairs, and so on (in these sub-clusters a
    member is removed when it is a verified candidate pair of the sub-cluster's first document;
    singletons are kept). So every removed
    document is at >= ``threshold`` to the kept document its ledger row names, even when the
    near-duplicates form a chain (A ~ B ~ C, A !~ C: B is removed, A and C are kept). The
    defaults are FineWeb's (datatrove): word 5-grams, 112 permutations in 14 bands of 8 rows,
    which catches pairs at Jaccard 0.75 with probability 0.77 and at 0.85 with probability
    0.99. Signatures are datasketch-compatible (``datasketch.MinHash`` with the same seed and
    scheme gives the same values when fed the same shingle hashes; with ``hash: sha1`` the very
    same shingles' hashes). Ledger detail: ``duplicate_of`` (the kept document),
    ``cluster_id`` (its id), ``cluster_size`` (the kept document and the documents removed as
    its duplicates) and ``jaccard`` (similarity to the kept document, also the ledger score:
    exact with ``verify: exact``, else the MinHash estimate; >= ``threshold`` unless
    ``verify: off``).

    Args:
        ngram: shingle length, in words (or characters with shingle: char). FineWeb: 5.
        shingle: word or char. Words after lowercasing, digit folding and punctuation
            stripping; scripts without spaces (Chinese, Japanese, Thai, ...) count one word per
            character.
        num_perm: number of MinHash permutations. FineWeb: 112.
        bands: LSH bands (FineWeb: 14); null: chosen with rows from threshold and num_perm.
        rows: rows per band (FineWeb: 8); null: chosen with bands from threshold.
        threshold: target Jaccard similarity: used to choose bands × rows when they are null
            (minimising weighted false positive/negative probability, as datasketch does) and
            by verify.
        verify: how candidate pairs are checked before clustering, and removed documents
            against the kept one. exact (default; true is the same): keep a pair only if the
            exact Jaccard of the two shingle sets is >= threshold (collect also stores each
            document's shingle hashes; the plan reads them only for candidate documents), and
            form star clusters (see above). estimate: the MinHash estimate (share of equal
            signature values) instead, cheaper but +-0.04 at 0.75 with 112 permutations.
            false (or off): no check, connected components, FineWeb's behaviour. F1 on
            benchmarks/dedup_quality.py: see docs/dedup.md.
        keep: which document of a cluster stays: smallest_id or longest (ties: smallest id).
        seed: seed of the permutations (datasketch's default: 1).
        scheme: datasketch permutation scheme: affine32 (datasketch >= 2.0 default),
            affine64, or legacy (datasketch < 2.0).
        hash: shingle hash: xxh64 (fast, vectorised) or sha1 (datasketch's default hash
            function, bit-for-bit; about 5× slower).
        weights: (false positive, false negative) weights used to choose bands × rows.
        annotate: add cluster_id (id of the kept document, null when it has no duplicates)
            and cluster_size columns to the kept documents.
    """

    name = "minhash_dedup"
    version = 2
    writes = ("cluster_id", "cluster_size")

    def __init__(self, ngram: int = 5, shingle: str = "word", num_perm: int = 112,
                 bands: int | None = 14, rows: int | None = 8, threshold: float = 0.75,
                 verify: bool | str = "exact", keep: str = "smallest_id", seed: int = 1,
                 scheme: str = "affine32", hash: str = "xxh64",
                 weights: tuple[float, float] | list[float] = (0.5, 0.5),
                 annotate: bool = False):
        if keep not in KEEP_RULES:
            raise ValueError(f"keep must be one of {', '.join(KEEP_RULES)}, got {keep!r}")
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
        if not 0.0 < float(threshold) < 1.0:
            raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
        if len(weights) != 2 or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"weights must be two non-negative numbers, got {weights!r}")
        if num_perm < 1:
            raise ValueError(f"num_perm must be >= 1, got {num_perm}")
        verify = _verify_mode(verify)
        if (bands is None) != (rows is None):
            raise ValueError("set both bands and rows, or neither (then they are chosen "
                             "from threshold and num_perm)")
        if bands is None or rows is None:
            bands, rows = optimal_params(float(threshold), num_perm,
                                         (float(weights[0]), float(weights[1])))
        self.hasher = MinHasher(ngram, shingle, num_perm, bands, rows, seed, scheme, hash)
        self.ngram, self.shingle, self.num_perm = ngram, shingle, num_perm
        self.bands, self.rows = bands, rows
        self.threshold, self.verify, self.keep = float(threshold), verify, keep
        self.seed, self.scheme, self.hash = seed, scheme, hash
        self.weights = (float(weights[0]), float(weights[1]))
        self.annotate = annotate
        if not annotate:
            self.writes = ()
        self._removed_index, self._heads_index = IdIndexCache(), IdIndexCache()

    # -- collect ------------------------------------------------------------------------

    def collect(self, docs: Docs) -> pa.Table:
        sh = self.hasher.shingles(docs.text)
        sig, has = self.hasher.signatures(docs.text, sh)
        if (~has).any():
            docs.count("no_shingles", int((~has).sum()))
        rows = np.flatnonzero(has)
        sig = np.ascontiguousarray(sig[rows])
        keys = self.hasher.keys(sig)
        width = sig.dtype.itemsize * self.num_perm
        cols: dict[str, pa.Array] = {
            "doc_id": docs.ids.cast(pa.string()).take(pa.array(rows, pa.int64())),
            "chars": pa.array(docs.text_chars[rows], pa.int64()),
        }
        for j in range(self.bands):
            cols[f"band_{j}"] = pa.array(keys[:, j], pa.uint64())
        cols["sig"] = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(width), len(rows), [None, pa.py_buffer(sig.tobytes())])
        if self.verify == "exact":
            # documents without shingles have none here either: values are in row order
            values, counts = shingle_sets(sh)
            offsets = np.zeros(len(rows) + 1, dtype=np.int64)
            np.cumsum(counts[rows], out=offsets[1:])
            cols["shingles"] = pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()),
                                                             pa.array(values, pa.uint32()))
        return pa.table(cols)

    # -- plan ---------------------------------------------------------------------------

    def plan(self, collected: Collected) -> MinHashPlan:
        self.verify_passes = 0  # passes over the collected shingle hashes, all in all
        labels = self._band_components(collected)
        n = len(labels)
        idx = np.arange(n, dtype=labels.dtype)
        cand = labels != idx
        cand[labels[cand]] = True
        del idx
        ids, chars, sig, keys = self._read_candidates(collected, cand)
        m = len(ids)
        if m == 0:
            return MinHashPlan(_empty_removed(), _empty_heads())
        cand_rows = np.flatnonzero(cand)
        del cand
        # Canonical order of candidates: by id, so nothing below depends on input order.
        order = np.asarray(pc.sort_indices(ids).to_numpy(), dtype=np.int64)
        # `sig` and `chars_read` stay in reading order; row i of the id order is order[i].
        ids = ids.take(pa.array(order))
        chars_read, chars = chars, chars[order]
        if self.verify == "exact":
            def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
                return self._exact_similarity(collected, n, cand_rows, chars_read, a, b)
        else:
            def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
                return _jaccard_rows(sig, a, b)
        known = (np.zeros(0, np.int64), np.zeros(0, np.float64))
        if self.verify != "off":
            del labels
            keys = keys[order]
            # every candidate pair once (u < v in id order), from all bands
            pairs = [(u * m + v) for u, v in (
                (np.minimum(x, y), np.maximum(x, y))
                for x, y in (_bucket_pairs(keys[:, j], verify=True)
                             for j in range(self.bands)))]
            del keys
            pair = sorted_unique(np.concatenate(pairs)) if pairs else np.zeros(0, np.int64)
            del pairs
            u, v = pair // m, pair % m
            sim = similarity(order[u], order[v])
            ok = sim >= self.threshold
            self.pairs_checked = len(u)  # diagnostics (benchmarks/minhash.py)
            lab = np.arange(m, dtype=np.int64)
            _union(lab, u[ok], v[ok])
            known = (pair, sim)
            del u, v, ok
        else:
            comp = labels[cand_rows][order]
            del labels
            _, lab = np.unique(comp, return_inverse=True)
        return self._decide(ids, chars, similarity, order, lab, known)

    def _exact_similarity(self, collected: Collected, n: int, cand_rows: np.ndarray,
                          chars: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Exact Jaccard of the shingle sets of candidates a[i] and b[i] (reading order).

        Only the documents of these pairs are read, and in as many passes over the collected
        records as it takes to keep their shingle hashes under SETS_BYTES_PER_DOC × n bytes:
        pass p keeps the values in the p-th slice of the 32-bit range, and the pairs'
        intersections are summed over the passes (the result is the same for any number of
        passes)."""
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        if len(a) == 0:
            return np.zeros(0, np.float64)
        need = sorted_unique(np.concatenate([a, b]))
        a_loc, b_loc = np.searchsorted(need, a), np.searchsorted(need, b)
        want = np.zeros(n, dtype=bool)
        want[cand_rows[need]] = True
        # distinct shingles ≤ shingles ≤ characters (word n-grams: about one per 5 chars)
        est = int(chars[need].sum()) // (5 if self.shingle == "word" else 1)
        budget = max(SETS_MIN_BYTES, SETS_BYTES_PER_DOC * n)
        passes = max(1, -(-est * 4 // budget))
        work = int(np.clip(n * WORK_VALUES_PER_DOC, 1 << 15, 1 << 18))
        inter = np.zeros(len(a), dtype=np.int64)
        size = np.zeros(len(a), dtype=np.int64)
        self.verify_passes += passes  # diagnostics (tests, benchmarks/minhash.py)
        for p in range(passes):
            lo, hi = (p << 32) // passes, ((p + 1) << 32) // passes
            values, counts, full = _read_sets(collected, want, lo, hi, full_counts=p == 0)
            offsets = np.zeros(len(counts) + 1, dtype=np.int64)
            np.cumsum(counts, out=offsets[1:])
            del counts
            if full is not None:
                size = full[a_loc] + full[b_loc]
            inter += exact_intersections(values, offsets, a_loc, b_loc, work)
            del values, offsets
        return _jaccard_from(inter, size)

    def _band_components(self, collected: Collected) -> np.ndarray:
        """Union-find labels (root = smallest row index) over all bands, one band in memory."""
        labels: np.ndarray | None = None
        for j in range(self.bands):
            parts = [t.column(0).to_numpy() for t in collected.tables([f"band_{j}"])]
            key = np.concatenate(parts) if parts else np.zeros(0, np.uint64)
            del parts
            if labels is None:
                dt = np.int32 if len(key) < 2**31 - 1 else np.int64
                labels = np.arange(len(key), dtype=dt)
            u, v = _bucket_pairs(key, verify=False)
            del key
            _union(labels, u, v)
        return labels if labels is not None else np.zeros(0, np.int32)

    def _read_candidates(self, collected: Collected, cand: np.ndarray) -> tuple[
            pa.Array, np.ndarray, np.ndarray, np.ndarray]:
        """Id, length, signature (not with verify: exact, which does not use it) and band keys
        (not with verify: off) of the candidate documents, in reading order. Read a batch
        of rows at a time and filtered to its candidates at once."""
        with_sig = self.verify != "exact"
        with_keys = self.verify != "off"
        cols = ["doc_id", "chars"] + (["sig"] if with_sig else []) + (
            [f"band_{j}" for j in range(self.bands)] if with_keys else [])
        id_parts, chars_parts, key_parts = [], [], []
        start = 0
        filled = 0
        dt = self.hasher.perms.dtype
        sig = np.empty((int(cand.sum()) if with_sig else 0, self.num_perm), dtype=dt)
        for t in _batches(collected, cols):
            mask = cand[start:start + t.num_rows]
            start += t.num_rows
            if not mask.any():
                continue
            t = t.filter(pa.array(mask))
            id_parts.append(pa.concat_arrays([c for c in _chunks(t["doc_id"])])
                            if t.num_rows else pa.array([], pa.string()))
            chars_parts.append(np.asarray(t["chars"]).astype(np.int64, copy=False))
            if with_sig:
                sig_col = pa.concat_arrays(_chunks(t["sig"]))
                buf = sig_col.buffers()[1]
                raw = np.frombuffer(buf, dtype=dt)[sig_col.offset * self.num_perm:]
                sig[filled:filled + t.num_rows] = raw[:t.num_rows * self.num_perm].reshape(
                    t.num_rows, self.num_perm)
            filled += t.num_rows
            if with_keys:
                key_parts.append(np.stack([np.asarray(t[f"band_{j}"])
                                           for j in range(self.bands)], axis=1))
            del t
        if not id_parts:
            return (pa.array([], pa.string()), np.zeros(0, np.int64),
                    np.zeros((0, self.num_perm), dt), np.zeros((0, self.bands), np.uint64))
        keys = (np.concatenate(key_parts) if key_parts
                else np.zeros((filled, 0), np.uint64))
        return (pa.concat_arrays(id_parts), np.concatenate(chars_parts), sig, keys)

    def _decide(self, ids: pa.Array, chars: np.ndarray,
                similarity: Callable[[np.ndarray, np.ndarray], np.ndarray],
                sig_row: np.ndarray, lab: np.ndarray,
                known: tuple[np.ndarray, np.ndarray]) -> MinHashPlan:
        """Kept and removed documents from the connected components `lab` (rows in id order).

        Without verification each component is one cluster around its first document by the
        keep rule. With verification the clusters are stars: a document is removed only as
        the duplicate of a kept document it is similar to (>= threshold), see `_pivot`."""
        m = len(lab)
        idx = np.arange(m, dtype=np.int64)
        # rank: position in the keep rule's order (rows are in id order)
        if self.keep == "longest":
            rank = np.empty(m, dtype=np.int64)
            rank[np.lexsort((idx, -chars))] = idx
        else:
            rank = idx
        # first document of each component by the keep rule
        order = np.lexsort((rank, lab))
        first = np.ones(m, dtype=bool)
        first[1:] = lab[order][1:] != lab[order][:-1]
        head_of_label = np.empty(m, dtype=np.int64)
        head_of_label[lab[order][first]] = order[first]
        del order, first
        head = head_of_label[lab]
        del head_of_label
        size = np.bincount(lab, minlength=m)[lab]
        # similarity of every other member to it: the pairs already verified (sorted codes)
        # answer most; the others are computed
        x = np.flatnonzero((head != idx) & (size > 1))
        y = head[x]
        del size
        jac = _lookup(known, np.minimum(x, y) * m + np.maximum(x, y))
        miss = np.isnan(jac)
        if miss.any():
            jac[miss] = similarity(sig_row[x[miss]], sig_row[y[miss]])
        if self.verify == "off":
            final, sim = head, np.full(m, np.nan)
            sim[x] = jac
        else:
            # star verification: the graph of pairs at >= threshold (verified candidate
            # pairs, and the pairs with a component's first document just computed)
            pair, psim = known
            ok = np.flatnonzero(psim >= self.threshold)
            extra = miss.copy()
            extra[miss] = jac[miss] >= self.threshold
            u = np.concatenate([pair[ok] // max(m, 1), x[extra]])
            v = np.concatenate([pair[ok] % max(m, 1), y[extra]])
            s = np.concatenate([psim[ok], jac[extra]])
            del ok, extra
            final, sim = _pivot(rank, u, v, s)
            del u, v, s
        del head, x, y, jac, miss
        removed = np.flatnonzero(final != idx)
        size = np.bincount(final, minlength=m)  # kept document: itself + its duplicates
        heads = np.flatnonzero((final == idx) & (size > 1))
        out = pa.table({
            "doc_id": ids.take(pa.array(removed, pa.int64())),
            "duplicate_of": ids.take(pa.array(final[removed], pa.int64())),
            "cluster_size": pa.array(size[final[removed]], pa.int64()),
            "jaccard": pa.array(sim[removed], pa.float64()),
        }).sort_by("doc_id")
        heads_t = pa.table({
            "doc_id": ids.take(pa.array(heads, pa.int64())),
            "cluster_size": pa.array(size[heads], pa.int64()),
        }).sort_by("doc_id")
        return MinHashPlan(out, heads_t)

    # -- apply --------------------------------------------------------------------------

    def apply(self, docs: Docs, plan: MinHashPlan) -> Outcome:
        n = docs.num_rows
        keep = np.ones(n, dtype=bool)
        reason = np.full(n, None, dtype=object)
        score = np.full(n, np.nan)
        threshold = np.full(n, np.nan)
        detail: list[dict[str, Any] | None] = [None] * n
        annotations: dict[str, pa.Array] = {}
        if n and plan.removed.num_rows:
            pos = self._removed_index.get(plan.removed).positions(docs.ids)
            hit = pos >= 0
            if hit.any():
                rows = np.flatnonzero(hit)
                idx = pa.array(pos[hit])
                dup_of = plan.removed["duplicate_of"].take(idx).to_pylist()
                sizes = plan.removed["cluster_size"].take(idx).to_pylist()
                jac = plan.removed["jaccard"].take(idx).to_numpy()
                keep[rows] = False
                reason[rows] = self.reason("near_duplicate")
                score[rows] = jac
                threshold[rows] = self.threshold
                for r, d, s, jv in zip(rows, dup_of, sizes, jac, strict=True):
                    detail[r] = {"duplicate_of": d, "cluster_id": d, "cluster_size": s,
                                 "jaccard": round(float(jv), 4)}
        if self.annotate:
            cid = pa.nulls(n, pa.string())
            csize = np.ones(n, dtype=np.int64)
            if n and plan.heads.num_rows:
                pos = self._heads_index.get(plan.heads).positions(docs.ids)
                hit = pos >= 0
                if hit.any():
                    idx = pa.array(pos[hit])
                    csize[hit] = plan.heads["cluster_size"].take(idx).to_numpy()
                    cid = pc.if_else(pa.array(hit), docs.ids.cast(pa.string()), cid)
            annotations = {"cluster_id": cid, "cluster_size": pa.array(csize, pa.int64())}
        return Outcome(keep=keep, reason=reason, score=score, threshold=threshold,
                       detail=detail, annotations=annotations)


def _verify_mode(verify: bool | str | None) -> str:
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


def _lookup(known: tuple[np.ndarray, np.ndarray], code: np.ndarray) -> np.ndarray:
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


def _pivot(rank: np.ndarray, u: np.ndarray, v: np.ndarray, s: np.ndarray,
           ) -> tuple[np.ndarray, np.ndarray]:
    """Star clusters of the graph with edges (u[i], v[i]) of similarity s[i] (all at or above
    the threshold), documents taken in the keep rule's order (`rank`: 0 first).

    The result is that of this sequential rule (greedy pivot clustering): take the documents
    in rank order; one that is not yet removed is kept, and removes all its neighbours that
    are not yet removed, as its duplicates. So in each connected component the first document
    is kept with all its neighbours as duplicates; the others are clustered again among
    themselves, and so on. The kept documents are the lexicographically first maximal
    independent set, and each removed document is the duplicate of its first kept neighbour.

    Computed in vectorised rounds: every undecided document with no undecided neighbour of
    smaller rank is kept at once (all such documents are kept by the sequential rule too), and
    its undecided neighbours are removed. When a round settles few of the remaining edges
    (long chains), the rest is done by the sequential rule in a plain loop.

    Returns (final, sim): final[i] is i for a kept document, else the kept document i is a
    duplicate of; sim[i] the similarity of i to it (NaN for kept documents)."""
    m = len(rank)
    idx = np.arange(m, dtype=np.int64)
    if len(u) == 0:
        return idx, np.full(m, np.nan)
    # orient every edge from the document of smaller rank (a) to the other (b)
    swap = rank[u] > rank[v]
    a = np.where(swap, v, u).astype(np.int64)
    b = np.where(swap, u, v).astype(np.int64)
    del swap
    state = np.zeros(m, dtype=np.int8)  # 0 undecided, 1 kept, 2 removed
    ea, eb = a, b
    while len(ea):
        blocked = np.zeros(m, dtype=bool)
        blocked[eb] = True  # has an undecided neighbour of smaller rank
        state[ea[~blocked[ea]]] = 1
        del blocked
        state[eb[state[ea] == 1]] = 2
        live = (state[ea] == 0) & (state[eb] == 0)
        settled = len(ea) - int(live.sum())
        ea, eb = ea[live], eb[live]
        if len(ea) and settled < PIVOT_MIN_SETTLED * (len(ea) + settled):
            _pivot_sequential(rank, state, ea, eb)
            break
    # documents never removed are kept (those left undecided have no undecided neighbour)
    state[state == 0] = 1
    # each removed document is the duplicate of its kept neighbour of smallest rank
    sel = np.flatnonzero(state[a] == 1)
    sel = sel[np.lexsort((rank[a[sel]], b[sel]))]
    first = np.ones(len(sel), dtype=bool)
    first[1:] = b[sel][1:] != b[sel][:-1]
    sel = sel[first]
    final = idx.copy()
    final[b[sel]] = a[sel]
    sim = np.full(m, np.nan)
    sim[b[sel]] = s[sel]
    return final, sim


def _pivot_sequential(rank: np.ndarray, state: np.ndarray, a: np.ndarray,
                      b: np.ndarray) -> None:
    """The sequential rule of `_pivot` on the undecided documents of the edges a[i] → b[i]
    (rank[a] < rank[b]), updating `state` in place."""
    o = np.argsort(rank[a], kind="stable")
    src, dst = a[o].tolist(), b[o].tolist()
    st = bytearray(state.tobytes())
    i, n = 0, len(src)
    while i < n:
        doc = src[i]
        keep = st[doc] == 0
        if keep:
            st[doc] = 1
        while i < n and src[i] == doc:
            if keep and st[dst[i]] == 0:
                st[dst[i]] = 2
            i += 1
    state[:] = np.frombuffer(bytes(st), dtype=np.int8)


def _jaccard_rows(sig: np.ndarray, a: np.ndarray, b: np.ndarray,
                  chunk: int = 1024) -> np.ndarray:
    """Estimated Jaccard of the signature rows a[i] and b[i], in chunks (bounded memory)."""
    out = np.empty(len(a), dtype=np.float64)
    for i in range(0, len(a), chunk):
        out[i:i + chunk] = estimated_jaccard(sig[a[i:i + chunk]], sig[b[i:i + chunk]])
    return out


def _chunks(col: pa.ChunkedArray | pa.Array) -> list[pa.Array]:
    return list(col.chunks) if isinstance(col, pa.ChunkedArray) else [col]


def _batches(collected: Collected, columns: list[str]) -> Iterator[pa.Table]:
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


def _read_sets(collected: Collected, want: np.ndarray, lo: int, hi: int,
               full_counts: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Shingle hashes in [lo, hi) of the rows in `want` (reading order): (values, count per
    row, and with full_counts the count of all its values per row)."""
    parts: list[np.ndarray] = []
    counts: list[np.ndarray] = []
    fulls: list[np.ndarray] = []
    everything = lo == 0 and hi >= 1 << 32
    start = 0
    for t in _batches(collected, ["shingles"]):
        mask = want[start:start + t.num_rows]
        start += t.num_rows
        if not mask.any():
            continue
        lists = pa.concat_arrays(_chunks(t["shingles"].filter(pa.array(mask))))
        del t
        if not isinstance(lists, pa.LargeListArray):
            lists = lists.cast(pa.large_list(pa.uint32()))
        off = lists.offsets.to_numpy()
        cnt = np.diff(off)
        vals = np.asarray(lists.values.slice(off[0], off[-1] - off[0])).astype(
            np.uint32, copy=False)
        del lists
        if full_counts:
            fulls.append(cnt)
        if everything:
            parts.append(vals.copy())  # own the memory: the Arrow batch is released
            counts.append(cnt)
        else:
            sel = vals >= np.uint32(lo)
            if hi < 1 << 32:
                sel &= vals < np.uint32(hi)
            parts.append(vals[sel])
            counts.append(np.bincount(np.repeat(np.arange(len(cnt)), cnt)[sel],
                                      minlength=len(cnt)))
        del vals
    values = np.concatenate(parts) if parts else np.zeros(0, np.uint32)
    del parts
    count = np.concatenate(counts) if counts else np.zeros(0, np.int64)
    full = (np.concatenate(fulls) if fulls else np.zeros(0, np.int64)) if full_counts else None
    return values, count, full


def _empty_removed() -> pa.Table:
    return pa.table({"doc_id": pa.array([], pa.string()),
                     "duplicate_of": pa.array([], pa.string()),
                     "cluster_size": pa.array([], pa.int64()),
                     "jaccard": pa.array([], pa.float64())})


def _empty_heads() -> pa.Table:
    return pa.table({"doc_id": pa.array([], pa.string()),
                     "cluster_size": pa.array([], pa.int64())})


def _bucket_pairs(key: np.ndarray, verify: bool) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of rows sharing a key. Without verification a star per bucket (each member with
    the bucket's first row) is enough for connected components; with verification every pair
    of a small bucket, and star + chain pairs of a large one (rows in their given order)."""
    n = len(key)
    if n < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = np.argsort(key, kind="stable")
    ks = key[order]
    same = ks[1:] == ks[:-1]
    if not same.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    new_run = np.concatenate([[True], ~same])
    run_start = np.flatnonzero(new_run)
    run_id = np.cumsum(new_run) - 1
    run_len = np.diff(np.append(run_start, n))
    members = np.flatnonzero(~new_run)  # positions in sorted order that are not run heads
    first = order[run_start[run_id[members]]]
    u, v = [first], [order[members]]
    if verify:
        # chain: each member with its predecessor in the run
        u.append(order[members - 1])
        v.append(order[members])
        small = np.flatnonzero((run_len > 2) & (run_len <= ALL_PAIRS_MAX_RUN))
        for length in np.unique(run_len[small]):
            starts = run_start[small[run_len[small] == length]]
            a, b = np.triu_indices(int(length), k=2)
            u.append(order[(starts[:, None] + a[None, :]).ravel()])
            v.append(order[(starts[:, None] + b[None, :]).ravel()])
    return np.concatenate(u).astype(np.int64), np.concatenate(v).astype(np.int64)


def _union(labels: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
    """Merge the components of each pair (u[i], v[i]) in place. `labels[i]` is the root of
    row i (its component's smallest row index), before and after."""
    if len(u) == 0:
        return
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    lu, lv = labels[u], labels[v]
    diff = lu != lv
    if not diff.any():
        return
    lu, lv = lu[diff], lv[diff]
    nodes, inv = np.unique(np.concatenate([lu, lv]), return_inverse=True)
    k = len(nodes)
    e = len(lu)
    graph = coo_matrix((np.ones(e, dtype=np.int8), (inv[:e], inv[e:])), shape=(k, k))
    ncomp, comp = connected_components(graph, directed=False)
    root = np.full(ncomp, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(root, comp, nodes.astype(np.int64))
    new_root = root[comp].astype(labels.dtype)
    pos = np.searchsorted(nodes, labels)
    pos_c = np.minimum(pos, k - 1)
    hit = nodes[pos_c] == labels
    labels[hit] = new_root[pos_c[hit]]


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
        self.threshold, self.verify = float(threshold), _verify_mode(verify)
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
