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
   themselves by their verified candidate pairs (`clusters.pivot`, vectorised), so that
   every removed document is similar to the kept document named in its ledger row (a chain
   A ~ B ~ C does not remove C as a duplicate of A). The plan is the table of removed ids with
   their kept document, cluster size and Jaccard (exact or estimated) to it.
3. **apply** (per batch): look each id up in that table.

Defaults follow FineWeb's MinHash deduplication (datatrove): word 5-grams, 112 permutations
as 14 bands × 8 rows, i.e. documents with Jaccard similarity 0.75 are caught with
probability 0.77 and 0.85 with 0.99 (Penedo et al. 2024, "The FineWeb Datasets", sec. 3.3;
Broder 1997, "On the resemblance and containment of documents"; Leskovec et al., "Mining of
Massive Datasets", ch. 3).

The work is split by job: `lsh` (signatures, band keys), `jaccard` (similarities),
`clusters` (bucket pairs, components, star clusters), `records` (reading the collected records
out of core) and `streaming` (`StreamingMinHashDedup`, an in-memory alternative for scripts:
the first document seen wins, so its result depends on the order of the input, unlike the
stage's). The names used elsewhere are re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusfilter.arrays import sorted_unique
from corpusfilter.core.docs import Docs
from corpusfilter.core.registry import register
from corpusfilter.core.stage import Collected, GlobalStage, Outcome
from corpusfilter.dedup.clusters import bucket_pairs, pivot, union
from corpusfilter.dedup.jaccard import (
    VERIFY_MODES,
    estimated_jaccard,
    exact_jaccard,
    jaccard_rows,
    lookup_similarity,
    shingle_sets,
    verify_mode,
)
from corpusfilter.dedup.lookup import IdIndexCache
from corpusfilter.dedup.lsh import SCHEMES, MinHasher, optimal_params
from corpusfilter.dedup.records import ExactSimilarity, band_components, read_candidates
from corpusfilter.dedup.streaming import StreamingMinHashDedup

__all__ = ["KEEP_RULES", "VERIFY_MODES", "MinHashDedup", "MinHashPlan", "MinHasher",
           "StreamingMinHashDedup", "estimated_jaccard", "exact_jaccard", "shingle_sets"]

KEEP_RULES = ("smallest_id", "longest")


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
        verify = verify_mode(verify)
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

    @property
    def ray_link_columns(self) -> list[str]:
        """Records sharing a key in any band are planned together on the Ray engine
        (per connected component, docs/scale.md)."""
        return [f"band_{j}" for j in range(self.bands)]

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
        cands = self._load_candidates(collected)
        if cands is None:
            return MinHashPlan(_empty_removed(), _empty_heads())
        if self.verify != "off":
            lab, known = self._verified_components(cands)
        else:
            lab, known = cands.components, (np.zeros(0, np.int64), np.zeros(0, np.float64))
        plan = self._decide(cands.ids, cands.chars, cands.similarity, cands.order, lab, known)
        self.verify_passes = getattr(cands.similarity, "passes", 0)
        return plan

    def _load_candidates(self, collected: Collected) -> _Candidates | None:
        """The documents sharing a band bucket with another, in id order (so nothing below
        depends on input order); the band keys and labels of all records are not kept."""
        cand, comp = _candidates(band_components(collected, self.bands))
        rows = read_candidates(collected, cand, self.num_perm, self.bands,
                               self.hasher.perms.dtype, with_sig=self.verify != "exact",
                               with_keys=self.verify != "off")
        m = len(rows.ids)
        if m == 0:
            return None
        # row i of the id order is row order[i] of the reading order (`sig`, `chars` there)
        order = np.asarray(pc.sort_indices(rows.ids).to_numpy(), dtype=np.int64)
        similarity: Callable[[np.ndarray, np.ndarray], np.ndarray]
        if self.verify == "exact":
            similarity = ExactSimilarity(collected, len(cand), np.flatnonzero(cand),
                                         rows.chars, self.shingle)
        else:
            similarity = partial(jaccard_rows, rows.sig)
        if self.verify == "off":
            pairs = np.zeros(0, np.int64)
            components = np.unique(comp[order], return_inverse=True)[1]
        else:
            pairs = self._pair_codes(rows.keys, order)
            components = np.zeros(0, np.int64)
        return _Candidates(rows.ids.take(pa.array(order)), rows.chars[order], order,
                           similarity, pairs, components)

    def _pair_codes(self, keys: np.ndarray, order: np.ndarray) -> np.ndarray:
        """Every candidate pair once, as u * m + v (u < v in id order), from all bands."""
        m = len(order)
        codes = []
        for j in range(self.bands):
            x, y = bucket_pairs(keys[order, j], verify=True)
            codes.append(np.minimum(x, y) * m + np.maximum(x, y))
        return sorted_unique(np.concatenate(codes)) if codes else np.zeros(0, np.int64)

    def _verified_components(self, cands: _Candidates,
                             ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """Components of the candidate pairs at >= threshold, and every pair's similarity."""
        m = len(cands.order)
        u, v = cands.pairs // m, cands.pairs % m
        sim = cands.similarity(cands.order[u], cands.order[v])
        ok = sim >= self.threshold
        self.pairs_checked = len(u)  # diagnostics (benchmarks/minhash.py)
        lab = np.arange(m, dtype=np.int64)
        union(lab, u[ok], v[ok])
        return lab, (cands.pairs, sim)

    def _decide(self, ids: pa.Array, chars: np.ndarray,
                similarity: Callable[[np.ndarray, np.ndarray], np.ndarray],
                sig_row: np.ndarray, lab: np.ndarray,
                known: tuple[np.ndarray, np.ndarray]) -> MinHashPlan:
        """Kept and removed documents from the connected components `lab` (rows in id order).

        Without verification each component is one cluster around its first document by the
        keep rule. With verification the clusters are stars: a document is removed only as
        the duplicate of a kept document it is similar to (>= threshold), see
        `clusters.pivot`."""
        m = len(lab)
        idx = np.arange(m, dtype=np.int64)
        rank = self._rank(chars)
        head = _component_heads(lab, rank)
        # similarity of every other member to it: the pairs already verified (sorted codes)
        # answer most; the others are computed
        x = np.flatnonzero((head != idx) & (np.bincount(lab, minlength=m)[lab] > 1))
        y = head[x]
        jac = lookup_similarity(known, np.minimum(x, y) * m + np.maximum(x, y))
        miss = np.isnan(jac)
        if miss.any():
            jac[miss] = similarity(sig_row[x[miss]], sig_row[y[miss]])
        if self.verify == "off":
            final, sim = head, np.full(m, np.nan)
            sim[x] = jac
        else:
            final, sim = self._stars(rank, known, x, y, jac, miss)
        return _plan_tables(ids, final, sim)

    def _rank(self, chars: np.ndarray) -> np.ndarray:
        """Position of each row (rows in id order) in the keep rule's order."""
        m = len(chars)
        idx = np.arange(m, dtype=np.int64)
        if self.keep != "longest":
            return idx
        rank = np.empty(m, dtype=np.int64)
        rank[np.lexsort((idx, -chars))] = idx
        return rank

    def _stars(self, rank: np.ndarray, known: tuple[np.ndarray, np.ndarray], x: np.ndarray,
               y: np.ndarray, jac: np.ndarray, miss: np.ndarray,
               ) -> tuple[np.ndarray, np.ndarray]:
        """Star verification on the graph of pairs at >= threshold: the verified candidate
        pairs, and the pairs (x, y) with a component's first document just computed."""
        m = max(len(rank), 1)
        pair, psim = known
        ok = np.flatnonzero(psim >= self.threshold)
        extra = miss.copy()
        extra[miss] = jac[miss] >= self.threshold
        return pivot(rank, np.concatenate([pair[ok] // m, x[extra]]),
                     np.concatenate([pair[ok] % m, y[extra]]),
                     np.concatenate([psim[ok], jac[extra]]))

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


@dataclass
class _Candidates:
    """The candidate documents of a plan, rows in id order."""

    ids: pa.Array
    chars: np.ndarray
    order: np.ndarray  # id order -> reading order (rows of the collected records read)
    similarity: Callable[[np.ndarray, np.ndarray], np.ndarray]  # of reading-order rows
    pairs: np.ndarray  # candidate pair codes u * m + v (verification on)
    components: np.ndarray  # component of each row (verification off)


def _candidates(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Records in a component of two or more (a mask), and the component of each of them."""
    cand = labels != np.arange(len(labels), dtype=labels.dtype)
    cand[labels[cand]] = True
    return cand, labels[cand]


def _component_heads(lab: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """For every row, the first row of its component by `rank`."""
    order = np.lexsort((rank, lab))
    first = np.ones(len(lab), dtype=bool)
    first[1:] = lab[order][1:] != lab[order][:-1]
    head_of_label = np.empty(len(lab), dtype=np.int64)
    head_of_label[lab[order][first]] = order[first]
    return head_of_label[lab]


def _plan_tables(ids: pa.Array, final: np.ndarray, sim: np.ndarray) -> MinHashPlan:
    """The plan from each row's kept document (`final`) and similarity to it."""
    m = len(final)
    idx = np.arange(m, dtype=np.int64)
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


def _empty_removed() -> pa.Table:
    return pa.table({"doc_id": pa.array([], pa.string()),
                     "duplicate_of": pa.array([], pa.string()),
                     "cluster_size": pa.array([], pa.int64()),
                     "jaccard": pa.array([], pa.float64())})


def _empty_heads() -> pa.Table:
    return pa.table({"doc_id": pa.array([], pa.string()),
                     "cluster_size": pa.array([], pa.int64())})
