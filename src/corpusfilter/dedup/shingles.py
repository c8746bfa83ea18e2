"""Shingling for near-duplicate detection: normalisation, tokens, n-gram shingles and their
hashes, computed for a whole batch with Arrow compute and NumPy.

Normalisation (word and character shingles alike), in this order:

1. lowercase (Unicode, ``utf8_lower``);
2. fold digits: every decimal digit (``\\p{Nd}``) becomes ``0``, so dates, prices and counters
   that differ between two copies of a page do not break their shingles;
3. strip punctuation: every character that is not a letter, mark, digit or whitespace becomes
   a space (so ``end.Start`` is two words);
4. scripts written without spaces (Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar): each
   character is a word of its own, so Chinese or Japanese text gets word n-grams of n
   characters instead of one giant "word";
5. collapse whitespace: words are the maximal runs of non-whitespace.

Word shingles are n consecutive words joined by one space; character shingles are n
consecutive characters of the normalised text with whitespace collapsed to one space. A
document with fewer than n tokens has one shingle (all its tokens); a document with none (empty
or only punctuation) has no shingles and is never a duplicate of anything.

Two hash functions give each shingle its integer:

* ``sha1``: datasketch's default (``sha1_hash32`` / ``sha1_hash64`` of the shingle's UTF-8
  bytes), per shingle in Python: bit-for-bit the values ``datasketch.MinHash.update`` sees.
* ``xxh64`` (fast): each distinct token of a batch is hashed once (64-bit xxHash of its UTF-8),
  then the n token hashes of a shingle are combined with NumPy over the whole batch. Same
  structure, different (equally good) hash values, no per-shingle Python.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

SHINGLE_KINDS = ("word", "char")
HASHES = ("xxh64", "sha1")
NO_SPACE_SCRIPTS = r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}]"
_SPACE_MARK = "\u2581"  # stands for a space inside character tokens

_P64 = np.uint64(0x100000001B3)
_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser (an avalanching bijection), element-wise."""
    h = h ^ (h >> _S33)
    h = h * _M1
    h = h ^ (h >> _S33)
    h = h * _M2
    return h ^ (h >> _S33)


def normalize(text: pa.Array) -> pa.Array:
    """Steps 1-4 of the module docstring (whitespace is collapsed by the tokenizer)."""
    text = pc.utf8_lower(text)
    text = pc.replace_substring_regex(text, r"\p{Nd}", "0")
    text = pc.replace_substring_regex(text, r"[^\p{L}\p{M}\p{N}\s]+", " ")
    return pc.replace_substring_regex(text, "(" + NO_SPACE_SCRIPTS + ")", r" \1 ")


def tokens(text: pa.Array, kind: str = "word") -> pa.ListArray:
    """Tokens of each document as an Arrow list array (words, or characters)."""
    norm = normalize(text)
    if kind == "char":
        # Collapse whitespace to one marker character, then make every character a token.
        norm = pc.utf8_trim_whitespace(pc.replace_substring_regex(norm, r"\s+", " "))
        norm = pc.replace_substring(norm, " ", _SPACE_MARK)
        norm = pc.replace_substring_regex(norm, "(.)", r"\1 ")
    elif kind != "word":
        raise ValueError(f"shingle must be one of {', '.join(SHINGLE_KINDS)}, got {kind!r}")
    # After `normalize` the only whitespace left is ASCII (every other space character is
    # neither letter, mark, number nor RE2's ASCII `\s`, so it became " "): the ASCII split,
    # ~40% faster than the Unicode one, gives the same tokens.
    out = pc.ascii_split_whitespace(norm)
    if isinstance(out, pa.ChunkedArray):
        out = out.combine_chunks()
    # Drop empty tokens (an empty document splits into one empty string).
    flat = out.flatten()
    nonempty = pc.greater(pc.binary_length(flat), 0).to_numpy(zero_copy_only=False)
    if nonempty.all():
        return out
    offsets = out.offsets.to_numpy().astype(np.int64)
    offsets = offsets - offsets[0]
    kept_before = np.concatenate([[0], np.cumsum(nonempty)])
    new_offsets = kept_before[offsets].astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(new_offsets, pa.int32()),
                                    flat.filter(pa.array(nonempty)))


def shingle_strings(text: pa.Array, ngram: int, kind: str = "word") -> list[list[str]]:
    """The shingles of each document as strings (the reference path; per-shingle Python)."""
    sep = " " if kind == "word" else ""
    out: list[list[str]] = []
    for toks in tokens(text, kind).to_pylist():
        if kind == "char":
            toks = [" " if t == _SPACE_MARK else t for t in toks]
        if not toks:
            out.append([])
        elif len(toks) <= ngram:
            out.append([sep.join(toks)])
        else:
            out.append([sep.join(toks[i:i + ngram]) for i in range(len(toks) - ngram + 1)])
    return out


@dataclass
class ShingleHashes:
    """Shingle hashes of a batch, grouped by document.

    values: hash of every shingle, documents one after the other (uint32 or uint64).
    counts: number of shingles per document (0 for documents without any).
    """

    values: np.ndarray
    counts: np.ndarray

    @property
    def starts(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.counts)[:-1]]).astype(np.int64)


def shingle_hashes(text: pa.Array, ngram: int, kind: str = "word", hash: str = "xxh64",
                   bits: int = 32) -> ShingleHashes:
    """Hash every shingle of a batch; `bits` is 32 or 64 (the MinHash scheme's width)."""
    if hash == "sha1":
        return _sha1_hashes(text, ngram, kind, bits)
    if hash != "xxh64":
        raise ValueError(f"hash must be one of {', '.join(HASHES)}, got {hash!r}")
    toks = tokens(text, kind)
    offsets = toks.offsets.to_numpy().astype(np.int64)
    offsets = offsets - offsets[0]
    lengths = np.diff(offsets)
    flat = toks.flatten()
    total = len(flat)
    counts = np.where(lengths >= ngram, lengths - ngram + 1, np.minimum(lengths, 1))
    dtype = np.uint32 if bits == 32 else np.uint64
    if total == 0:
        return ShingleHashes(np.zeros(0, dtype), counts.astype(np.int64))
    enc = flat.dictionary_encode()
    uniq = enc.dictionary.cast(pa.binary()).to_pylist()
    uniq_h = np.fromiter((xxhash.xxh64_intdigest(t) for t in uniq), np.uint64, len(uniq))
    tok = uniq_h[enc.indices.to_numpy()]
    # Shingle starts in token order: every position with `ngram` tokens left in its document;
    # a document shorter than that has one shingle of all its tokens.
    full = lengths >= ngram
    span = np.where(full, ngram, lengths)[counts > 0]
    starts = np.repeat(offsets[:-1], counts) + (
        np.arange(int(counts.sum()), dtype=np.int64)
        - np.repeat(np.cumsum(counts) - counts, counts))
    width = np.repeat(span, counts[counts > 0])
    h = tok[starts]
    for k in range(1, ngram):
        more = width > k
        if more.all():
            h = (h * _P64) ^ tok[starts + k]
        else:
            idx = np.flatnonzero(more)
            h[idx] = (h[idx] * _P64) ^ tok[starts[idx] + k]
    h = fmix64(h)
    if bits == 32:
        h = (h >> np.uint64(32)).astype(np.uint32)
    return ShingleHashes(h, counts.astype(np.int64))


def _sha1_hashes(text: pa.Array, ngram: int, kind: str, bits: int) -> ShingleHashes:
    fmt, width = ("<I", 4) if bits == 32 else ("<Q", 8)
    unpack = struct.Struct(fmt).unpack
    sha1 = hashlib.sha1
    values: list[int] = []
    counts = []
    for shingles in shingle_strings(text, ngram, kind):
        counts.append(len(shingles))
        values.extend(unpack(sha1(s.encode("utf-8")).digest()[:width])[0] for s in shingles)
    dtype = np.uint32 if bits == 32 else np.uint64
    return ShingleHashes(np.array(values, dtype=dtype), np.array(counts, dtype=np.int64))
