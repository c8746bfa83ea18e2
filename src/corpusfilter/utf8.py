"""Zero-copy access to the UTF-8 bytes of an Arrow string array, and vectorised decoding of its
non-ASCII characters, for batch passes that work on bytes with NumPy (word tokens for MinHash,
the PII prefilter)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusfilter.arrays import sorted_unique


@dataclass
class Utf8Buffer:
    """The bytes of a string array: document i is ``data[offsets[i]:offsets[i + 1]]``
    (null documents are empty)."""

    data: np.ndarray  # uint8
    offsets: np.ndarray  # int64, len(docs) + 1, starting at 0
    nulls: pa.Array | None  # boolean mask of null documents, or None without nulls


def utf8_buffer(text: pa.Array | pa.ChunkedArray) -> Utf8Buffer:
    """`text` (string or large string, chunked or not) as one byte buffer."""
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    nulls = text.is_null() if text.null_count else None
    if nulls is not None:
        text = text.fill_null("")  # a null slot's offsets may span bytes: make it empty
    if text.type != pa.string():
        text = text.cast(pa.string())
    n = len(text)
    offs = np.frombuffer(text.buffers()[1], np.int32, n + 1, text.offset * 4).astype(np.int64)
    base = int(offs[0])
    offs -= base
    nb = int(offs[-1])
    data = (np.frombuffer(text.buffers()[2], np.uint8, nb, base) if nb
            else np.zeros(0, np.uint8))
    return Utf8Buffer(data, offs, nulls)


def decode_non_ascii(data: np.ndarray, leads: np.ndarray | None = None,
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lead byte positions, byte lengths, code points) of the non-ASCII characters in valid
    UTF-8 `data`; with `leads` (a boolean per byte value), only of the characters whose
    first byte is one of those."""
    lead = np.flatnonzero(data >= 0xC0)
    if leads is not None and len(lead):
        lead = lead[leads[data[lead]]]
    if not len(lead):
        empty = np.zeros(0, np.int64)
        return empty, empty, empty.astype(np.uint32)
    b0 = data[lead].astype(np.uint32)
    size = 2 + (b0 >= 0xE0).astype(np.int64) + (b0 >= 0xF0)
    last = len(data) - 1
    b1, b2, b3 = (data[np.minimum(lead + k, last)].astype(np.uint32) & 0x3F for k in (1, 2, 3))
    cp = np.where(size == 2, ((b0 & 0x1F) << 6) | b1,
                  np.where(size == 3, ((b0 & 0x0F) << 12) | (b1 << 6) | b2,
                           ((b0 & 0x07) << 18) | (b1 << 12) | (b2 << 6) | b3))
    return lead, size, cp


class CodePointTable:
    """A uint8 value per Unicode code point, computed by `classify` (code points -> values)
    the first time a code point is looked up, so that a class defined by a regex engine
    (RE2's, Python's) is applied to each character once per process."""

    UNSEEN = 255

    def __init__(self, classify: Callable[[np.ndarray], np.ndarray]):
        self._classify = classify
        self._values = np.full(0x110000, self.UNSEEN, dtype=np.uint8)

    def __call__(self, cps: np.ndarray) -> np.ndarray:
        got = self._values[cps]
        unseen = got == self.UNSEEN
        if unseen.any():
            new = sorted_unique(cps[unseen])
            self._values[new] = self._classify(new)
            got = self._values[cps]
        return got


# -- faster equivalents of Arrow (RE2) regex replacements (tests/test_utf8_rewrites.py) ----
# RE2's \s is [\t\n\f\r ] and its \d is [0-9] (ASCII only), and ASCII bytes never occur
# inside a multi-byte UTF-8 character: digits can be rewritten byte by byte.


def string_array(like: pa.Array, offsets: np.ndarray, data: np.ndarray) -> pa.Array:
    """A string array of `like`'s type (string or large string) from offsets and bytes."""
    n = len(offsets) - 1
    if pa.types.is_large_string(like.type):
        return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets.astype(np.int64)),
                                                pa.py_buffer(data))
    if len(data) >= 2**31:  # too large for 32-bit offsets
        return pa.LargeStringArray.from_buffers(
            n, pa.py_buffer(offsets.astype(np.int64)), pa.py_buffer(data)).cast(pa.string())
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.astype(np.int32)),
                                       pa.py_buffer(data))


def collapse_spaces(text: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Every run of whitespace (RE2's ``\\s``) replaced by one space: the strings of
    ``pc.replace_substring_regex(text, r"\\s+", " ")``, 2.5-4x faster: that regex matches
    at every gap between words, while this one skips the single spaces (replacing a lone
    " " by " " changes nothing) and so matches only longer runs and lone tabs or newlines.
    (A NumPy pass over the bytes measured slower than this.)"""
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    return pc.replace_substring_regex(text, r"\s\s+|[\t\n\f\r]", " ")


def zero_digits(text: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Every ASCII digit replaced by 0: the strings of
    ``pc.replace_substring_regex(text, r"\\d", "0")`` with one NumPy pass over the bytes."""
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    if text.null_count or len(text) == 0:
        return pc.replace_substring_regex(text, r"\d", "0")
    buf = utf8_buffer(text)
    out = buf.data.copy()
    out[(out >= 0x31) & (out <= 0x39)] = 0x30
    return string_array(text, buf.offsets, out)


def _re2_members(cls: str) -> Callable[[np.ndarray], np.ndarray]:
    """Code points -> 1 where RE2 puts the character in class `cls`, else 0."""
    def classify(cps: np.ndarray) -> np.ndarray:
        chars = pa.array([chr(int(c)) for c in cps], pa.string())
        hit = pc.match_substring_regex(chars, f"^(?:{cls})$").to_numpy(zero_copy_only=False)
        return hit.astype(np.uint8)
    return classify


_CLASS_TABLES: dict[str, tuple[np.ndarray, CodePointTable]] = {}


def _class_table(cls: str) -> tuple[np.ndarray, CodePointTable]:
    """(a bool per byte value < 128, a table of every code point) for the RE2 class `cls`."""
    got = _CLASS_TABLES.get(cls)
    if got is None:
        classify = _re2_members(cls)
        ascii_ = np.zeros(256, dtype=bool)
        ascii_[:128] = classify(np.arange(128)).astype(bool)
        got = _CLASS_TABLES[cls] = (ascii_, CodePointTable(classify))
    return got


def count_in_class(text: pa.Array | pa.ChunkedArray, cls: str,
                   unless: str | None = None) -> np.ndarray:
    """Per document: the characters in the RE2 class `cls` (and not in `unless`). The
    counts of ``utf8_length(replace_substring_regex(text, "[^cls]|unless", ""))`` (a regex
    match per gap between letters), with each distinct character classified by RE2 once
    per process and the rest done with NumPy over the bytes."""
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    buf = utf8_buffer(text)  # null documents come back empty: count 0
    data, offsets = buf.data, buf.offsets
    ascii_, table = _class_table(cls)
    hit = ascii_[data]
    if unless is not None:
        no_ascii, no_table = _class_table(unless)
        hit &= ~no_ascii[data]
    lead, _size, cp = decode_non_ascii(data)
    if len(lead):
        member = table(cp).astype(bool)
        if unless is not None:
            member &= ~no_table(cp).astype(bool)
        hit[lead] = member
    before = np.searchsorted(np.flatnonzero(hit), offsets)  # (cumsum of bools is slow)
    return (before[1:] - before[:-1]).astype(np.int64)
