"""Zero-copy access to the UTF-8 bytes of an Arrow string array, and vectorised decoding of its
non-ASCII characters, for batch passes that work on bytes with NumPy (word tokens for MinHash,
the PII prefilter)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

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
