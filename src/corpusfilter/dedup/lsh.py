"""MinHash signatures for a whole batch, LSH band keys and LSH parameter choice.

Signatures are compatible with ``datasketch.MinHash`` (2.x): the same permutation parameters
for the same seed (drawn from ``numpy.random.RandomState(seed)`` in the same order) and the
same arithmetic per scheme:

* ``affine32`` (datasketch's default since 2.0): 32-bit shingle hash, MurmurHash3 ``fmix32``
  pre-mix, then ``a*h + b mod 2^32`` per permutation (``a`` odd).
* ``affine64``: the same on 64-bit hashes with ``fmix64``.
* ``legacy`` (datasketch < 2.0): ``((a*h + b) mod 2^64 mod (2^61 - 1)) & (2^32 - 1)`` with
  ``a, b < 2^61`` (numpy's wrapping uint64 multiplication, as datasketch computes it).

The permutations are applied one at a time to every shingle of the batch, and each document's
minimum is taken with ``np.minimum.reduceat`` (cheaper than a shingles × permutations matrix).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa

from corpusfilter.dedup.shingles import (
    HASHES,
    SHINGLE_KINDS,
    ShingleHashes,
    fmix64,
    shingle_hashes,
)

SCHEMES = ("affine32", "affine64", "legacy")
_MERSENNE = np.uint64((1 << 61) - 1)
_MAX32 = np.uint64((1 << 32) - 1)


def fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


@dataclass(frozen=True)
class Permutations:
    """The `num_perm` permutations of a datasketch MinHash with this seed and scheme."""

    num_perm: int = 112
    seed: int = 1
    scheme: str = "affine32"

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, got {self.scheme!r}")
        if self.num_perm < 1:
            raise ValueError(f"num_perm must be >= 1, got {self.num_perm}")

    @property
    def bits(self) -> int:
        """Width of the shingle hash the scheme takes."""
        return 64 if self.scheme == "affine64" else 32

    @property
    def dtype(self) -> type[np.unsignedinteger]:
        return np.uint32 if self.scheme == "affine32" else np.uint64

    @property
    def empty(self) -> int:
        """The value of a signature slot that saw no shingle (datasketch's initial value)."""
        return (1 << 64) - 1 if self.scheme == "affine64" else (1 << 32) - 1

    @cached_property
    def ab(self) -> tuple[np.ndarray, np.ndarray]:
        gen = np.random.RandomState(self.seed)
        if self.scheme == "legacy":
            pairs = [(gen.randint(1, _MERSENNE, dtype=np.uint64),
                      gen.randint(0, _MERSENNE, dtype=np.uint64)) for _ in range(self.num_perm)]
            arr = np.array(pairs, dtype=np.uint64).T
            return arr[0], arr[1]
        width = 32 if self.scheme == "affine32" else 64
        dt = self.dtype
        a = gen.randint(0, 1 << (width - 1), self.num_perm, dtype=dt) * dt(2) + dt(1)
        b = gen.randint(0, 1 << width, self.num_perm, dtype=dt)
        return a, b

    def signatures(self, sh: ShingleHashes) -> np.ndarray:
        """MinHash signatures (documents × num_perm) of documents with at least one shingle;
        rows of documents without shingles hold the empty value."""
        n_docs = len(sh.counts)
        out = np.full((self.num_perm, n_docs), self.empty, dtype=self.dtype)
        has = sh.counts > 0
        if not has.any():
            return out.T.copy()
        starts = sh.starts[has]
        a, b = self.ab
        if self.scheme == "affine32":
            hv = fmix32(sh.values.astype(np.uint32))
        elif self.scheme == "affine64":
            hv = fmix64(sh.values.astype(np.uint64))
        else:
            hv = sh.values.astype(np.uint64)
        tmp = np.empty_like(hv)
        with np.errstate(over="ignore"):
            for k in range(self.num_perm):
                np.multiply(hv, a[k], out=tmp)
                np.add(tmp, b[k], out=tmp)
                if self.scheme == "legacy":
                    np.remainder(tmp, _MERSENNE, out=tmp)
                    np.bitwise_and(tmp, _MAX32, out=tmp)
                out[k, has] = np.minimum.reduceat(tmp, starts)
        return out.T.copy()


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per document and band (documents × bands) from `rows` signature values
    each; documents share a key in a band when (barring a 2^-64 collision) all rows agree."""
    n = sig.shape[0]
    out = np.empty((n, bands), dtype=np.uint64)
    s = sig.astype(np.uint64, copy=False)
    with np.errstate(over="ignore"):
        for j in range(bands):
            h = np.full(n, np.uint64(rows), dtype=np.uint64)
            for r in range(j * rows, (j + 1) * rows):
                h = fmix64((h * np.uint64(0x100000001B3)) ^ s[:, r])
            out[:, j] = h
    return out


def candidate_probability(s: np.ndarray | float, bands: int, rows: int) -> np.ndarray:
    """Probability that two documents of Jaccard similarity `s` share at least one band."""
    s = np.asarray(s, dtype=np.float64)
    return 1.0 - (1.0 - s ** rows) ** bands


def _integral(f_vals: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum((f_vals[1:] + f_vals[:-1]) * np.diff(x)) / 2.0)


def optimal_params(threshold: float, num_perm: int,
                   weights: tuple[float, float] = (0.5, 0.5)) -> tuple[int, int]:
    """(bands, rows) with bands*rows <= num_perm minimising the weighted probability of false
    positives (integral of the S-curve below `threshold`) and false negatives (integral of its
    complement above), as ``datasketch.MinHashLSH`` chooses them."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    fp_w, fn_w = weights
    lo = np.linspace(0.0, threshold, 2001)
    hi = np.linspace(threshold, 1.0, 2001)
    best = (float("inf"), (1, 1))
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = _integral(candidate_probability(lo, b, r), lo)
            fn = _integral(1.0 - candidate_probability(hi, b, r), hi)
            err = fp * fp_w + fn * fn_w
            if err < best[0]:
                best = (err, (b, r))
    return best[1]


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
