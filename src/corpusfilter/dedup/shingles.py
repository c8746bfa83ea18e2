"""Shingling for near-duplicate detection: normalisation, tokens, n-gram shingles and their
hashes, computed for a whole batch with Arrow compute and NumPy.

Normalisation (word and character shingles alike), in this order:

1. lowercase (Unicode, ``utf8_lower``);
2. fold digits: every decimal digit (``\\p{Nd}``) becomes ``0``, so dates, prices and counters
   that differ between two copies of a page do not break their shingles;
3. strip punctuation: every character that is not a letter, mark, digit or whitespace becomes
   a space (so ``end.Start`` is two words);
4. scripts written without spaces (core/scripts.py: Han, Hiragana, Katakana, Thai, Lao,
   Tibetan, Myanmar, Khmer): each character is a word of its own, so Chinese or Japanese text
   gets word n-grams of n characters instead of one giant "word";
5. collapse whitespace: words are the maximal runs of non-whitespace.

Word shingles are n consecutive words joined by one space; character shingles are n
consecutive characters of the normalised text with whitespace collapsed to one space. A
document with fewer than n tokens has one shingle (all its tokens); a document with none (empty
or only punctuation) has no shingles and is never a duplicate of anything.

Two hash functions give each shingle its integer:

* ``sha1``: datasketch's default (``sha1_hash32`` / ``sha1_hash64`` of the shingle's UTF-8
  bytes), per shingle in Python: bit-for-bit the values ``datasketch.MinHash.update`` sees.
* ``xxh64`` (fast): each distinct token of a batch is hashed once (64-bit xxHash of its UTF-8,
  computed with NumPy for all of them at once, see `xxh64.py`), then the n token hashes of a
  shingle are combined with NumPy over the whole batch. Same structure, different (equally
  good) hash values, no per-shingle or per-token Python.

Word tokens come from `word_tokens`, one vectorised pass over the UTF-8 buffer that gives the
same tokens as the regex steps above (`regex_tokens`, kept as the reference and tested against
it); character tokens use the regex steps.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusfilter.core.scripts import SPACELESS_CLASS
from corpusfilter.dedup.xxh64 import xxh64_strings
from corpusfilter.utf8 import CodePointTable, decode_non_ascii, utf8_buffer

SHINGLE_KINDS = ("word", "char")
HASHES = ("xxh64", "sha1")
# Scripts written without spaces: the one table in core/scripts.py (Tibetan included).
NO_SPACE_SCRIPTS = f"[{SPACELESS_CLASS}]"
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
    if kind == "word":
        return word_tokens(text)
    if kind != "char":
        raise ValueError(f"shingle must be one of {', '.join(SHINGLE_KINDS)}, got {kind!r}")
    return regex_tokens(text, kind)


def regex_tokens(text: pa.Array, kind: str = "word") -> pa.ListArray:
    """Tokens by the module docstring's steps, one Arrow regex pass per step: the reference
    for `word_tokens`, and the path of character tokens."""
    norm = normalize(text)
    if kind == "char":
        # Collapse whitespace to one marker character, then make every character a token.
        norm = pc.utf8_trim_whitespace(pc.replace_substring_regex(norm, r"\s+", " "))
        norm = pc.replace_substring(norm, " ", _SPACE_MARK)
        norm = pc.replace_substring_regex(norm, "(.)", r"\1 ")
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
                                    flat.filter(pa.array(nonempty)),
                                    mask=out.is_null() if out.null_count else None)


# Character classes of the word tokenizer, as bits per byte: W a word or digit character
# (continues a token), D a digit (its lead byte becomes "0"), S the first byte of a character of
# a script without spaces (a token of its own), K a byte that is kept in the token text.
# Separators are 0.
_W, _D, _S, _K = 1, 2, 4, 8
_LETTER, _DIGIT, _SOLO = _W | _K, _W | _D | _K, _S | _K


def _classify(cps: np.ndarray) -> np.ndarray:
    """Classes of code points by the same RE2 classes `normalize` applies, so both paths
    agree on whatever Unicode version Arrow ships."""
    chars = pa.array([chr(int(c)) for c in cps], pa.string())

    def test(cls: str) -> np.ndarray:
        return pc.match_substring_regex(chars, "^" + cls + "$").to_numpy(zero_copy_only=False)

    word = test(r"[\p{L}\p{M}\p{N}]")
    return np.where(test(r"\p{Nd}"), _DIGIT,
                    np.where(word, np.where(test(NO_SPACE_SCRIPTS), _SOLO, _LETTER), 0))


_CLASS = CodePointTable(_classify)


def word_tokens(text: pa.Array) -> pa.ListArray:
    """The word tokens of `regex_tokens`, in one vectorised pass over the lower-cased UTF-8
    buffer instead of three regex replacements and a split (same tokens, tested).

    Every character gets a class (separator, word, digit, or a script without spaces, whose
    characters are tokens of their own); a token is a maximal run of word and digit characters
    or one such character. Digits become ``0``; separators are dropped. The tokens are the
    kept bytes laid end to end, so the result is built from two buffers without Python."""
    buf = utf8_buffer(pc.utf8_lower(text))  # null documents come back empty, in buf.nulls
    data, offs, nb = buf.data, buf.offsets, len(buf.data)
    # ASCII bytes by comparison (cheaper than a table lookup); `| 0x20` folds A-Z onto a-z.
    letter = (np.bitwise_or(data, 0x20) - np.uint8(97)) < 26
    digit = (data - np.uint8(48)) < 10
    digit8 = digit.view(np.uint8)
    cls = letter.view(np.uint8) * np.uint8(_LETTER) | digit8 * np.uint8(_DIGIT)
    # ASCII digits become "0" by clearing their low four bits (0x30-0x39 -> 0x30).
    out = data & ~(digit8 * np.uint8(0x0F))
    solo = False
    lead, size, cp = decode_non_ascii(data)
    if len(lead):
        c = _CLASS(cp)
        cls[lead] = c
        out[lead[c == _DIGIT]] = 48
        solo = bool((c & _S).any())
        # The other bytes of a character continue it: kept (and part of a word) for letters,
        # kept for characters that are tokens of their own; a digit keeps only its lead byte.
        cont = np.where(c == _DIGIT, _W, c & (_W | _K))
        for k in (1, 2, 3):
            more = size > k
            cls[lead[more] + k] = cont[more]
    word = cls & np.uint8(_W)
    prev = np.empty(nb, dtype=np.uint8)
    if nb:
        prev[0] = 0
        prev[1:] = word[:-1]
    prev[offs[:-1][offs[:-1] < nb]] = 0  # no token spans two documents
    start = word > prev
    if solo:
        start |= (cls & _S) != 0
    start_pos = np.flatnonzero(start)
    keep = cls >= _K
    out = np.compress(keep, out)
    tok_offs = np.empty(len(start_pos) + 1, dtype=np.int32)
    tok_offs[:-1] = np.cumsum(keep, dtype=np.int32)[start_pos] - 1
    tok_offs[-1] = len(out)
    flat = pa.StringArray.from_buffers(len(start_pos), pa.py_buffer(tok_offs),
                                       pa.py_buffer(out))
    list_offs = np.searchsorted(start_pos, offs).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(list_offs, pa.int32()), flat, mask=buf.nulls)


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
    tok = _string_xxh64(enc.dictionary)[enc.indices.to_numpy()]
    # Combine every run of `ngram` consecutive tokens of the batch with shifted slices (no
    # gathers), then keep the runs that lie inside one document. A document shorter than
    # `ngram` has one shingle of all its tokens, placed at its first token.
    usable = total - ngram + 1
    g = np.zeros(total, dtype=np.uint64)
    if usable > 0:
        run = tok[:usable].copy()
        for k in range(1, ngram):
            run *= _P64
            run ^= tok[k:usable + k]
        g[:usable] = run
    doc_end = np.repeat(offsets[1:], lengths)
    inside = np.arange(ngram, total + ngram, dtype=np.int64) <= doc_end
    short = np.flatnonzero((lengths > 0) & (lengths < ngram))
    if len(short):
        first = offsets[:-1][short]
        width = lengths[short]
        sh = tok[first]
        for k in range(1, int(width.max())):
            more = width > k
            sh[more] = (sh[more] * _P64) ^ tok[first[more] + k]
        g[first] = sh
        inside[first] = True
    h = g[inside]
    h = fmix64(h)
    if bits == 32:
        h = (h >> np.uint64(32)).astype(np.uint32)
    return ShingleHashes(h, counts.astype(np.int64))


def _string_xxh64(arr: pa.StringArray) -> np.ndarray:
    """XXH64 of the UTF-8 bytes of every string of an array without nulls."""
    buf = utf8_buffer(arr)
    return xxh64_strings(buf.data, buf.offsets)


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
