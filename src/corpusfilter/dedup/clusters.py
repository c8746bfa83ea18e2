"""Clustering for `minhash_dedup`: candidate pairs from LSH buckets, connected components
(union-find labels), and star clusters by greedy pivot clustering.

Star clusters follow the sequential pivot rule of Ailon, Charikar & Newman ("Aggregating
inconsistent information: ranking and clustering", STOC 2005) with a fixed order (the keep
rule) instead of a random one, so that every removed document is similar to the kept document
its ledger row names.
"""

from __future__ import annotations

import numpy as np

# Bucket runs up to this size are verified pair by pair; larger runs (boilerplate shared by
# many pages) only against their first member and their neighbour in id order.
ALL_PAIRS_MAX_RUN = 32
# Star verification switches from vectorised rounds to a plain loop when a round settles less
# than this share of the remaining edges (long chains of near-duplicates).
PIVOT_MIN_SETTLED = 0.1

_NO_PAIRS = (np.zeros(0, np.int64), np.zeros(0, np.int64))


def bucket_pairs(key: np.ndarray, verify: bool) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of rows sharing a key. Without verification a star per bucket (each member with
    the bucket's first row) is enough for connected components; with verification every pair
    of a small bucket, and star + chain pairs of a large one (rows in their given order)."""
    n = len(key)
    if n < 2:
        return _NO_PAIRS
    order = np.argsort(key, kind="stable")
    ks = key[order]
    same = ks[1:] == ks[:-1]
    if not same.any():
        return _NO_PAIRS
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


def union(labels: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
    """Merge the components of each pair (u[i], v[i]) in place. `labels[i]` is the root of
    row i (its component's smallest row index), before and after."""
    if len(u) == 0:
        return
    lu, lv = labels[u], labels[v]
    diff = lu != lv
    if diff.any():
        _merge_roots(labels, lu[diff], lv[diff])


def _merge_roots(labels: np.ndarray, lu: np.ndarray, lv: np.ndarray) -> None:
    """Connected components of the root pairs (scipy), each relabelled to its smallest root."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

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


def pivot(rank: np.ndarray, u: np.ndarray, v: np.ndarray, s: np.ndarray,
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
    a, b = _oriented(rank, u, v)
    state = _pivot_states(rank, a, b)
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


def _oriented(rank: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every edge from the document of smaller rank (a) to the other (b)."""
    swap = rank[u] > rank[v]
    return np.where(swap, v, u).astype(np.int64), np.where(swap, u, v).astype(np.int64)


def _pivot_states(rank: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per document: 1 kept, 2 removed, by vectorised rounds (then the loop, see `pivot`)."""
    m = len(rank)
    state = np.zeros(m, dtype=np.int8)  # 0 undecided, 1 kept, 2 removed
    ea, eb = a, b
    while len(ea):
        _keep_unblocked(state, ea, eb)
        state[eb[state[ea] == 1]] = 2
        live = (state[ea] == 0) & (state[eb] == 0)
        settled = len(ea) - int(live.sum())
        ea, eb = ea[live], eb[live]
        if len(ea) and settled < PIVOT_MIN_SETTLED * (len(ea) + settled):
            _pivot_sequential(rank, state, ea, eb)
            break
    # documents never removed are kept (those left undecided have no undecided neighbour)
    state[state == 0] = 1
    return state


def _keep_unblocked(state: np.ndarray, ea: np.ndarray, eb: np.ndarray) -> None:
    """Keep every source of a live edge that has no undecided neighbour of smaller rank."""
    blocked = np.zeros(len(state), dtype=bool)
    blocked[eb] = True
    state[ea[~blocked[ea]]] = 1


def _pivot_sequential(rank: np.ndarray, state: np.ndarray, a: np.ndarray,
                      b: np.ndarray) -> None:
    """The sequential rule of `pivot` on the undecided documents of the edges a[i] → b[i]
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
