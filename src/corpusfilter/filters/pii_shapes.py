"""The PII engine's batch prefilter: per document, whether it holds a *shape* some recognizer
needs (a chain of digits, a letter-letter-digit-digit run, two close colons, ...), computed for
a whole batch in one pass of NumPy over the UTF-8 bytes.

Each shape is a necessary condition for the RE2 pattern next to it in `SHAPES` (the patterns
of Presidio's recognizers with lookarounds and word boundaries left out): wherever the pattern
matches, the shape is found (tested with hypothesis against RE2 itself). Shapes may pass more
documents than their pattern; they never pass fewer. Scanning the batch once per pattern with
Arrow's RE2 cost about 1.2 ms per pattern and 250 pages (80-90 ms of the `pii` stage's time
per 1,000 pages); all shapes together cost about 20 ms per 1,000 pages.

A *digit chain* is a sequence of digits in which consecutive digits are at most `gap`
characters apart, every character between them being one of the chain's separators; its
length is its number of digits.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusfilter.utf8 import CodePointTable, Utf8Buffer, decode_non_ascii, utf8_buffer


@dataclass(frozen=True)
class Chain:
    """A digit chain of at least `min_len` digits (`min_gaps`: of which at least that many
    links are one separator apart). `unicode`: any decimal digit counts, not only 0-9."""

    min_len: int
    gap: int
    separators: str
    unicode: bool = False
    min_gaps: int = 0


# shape name -> (definition, the RE2 pattern it is necessary for)
SHAPES: dict[str, tuple[object, str]] = {
    "at": ("@", "@"),
    # Presidio's card pattern: 4+3+3+3 digits at least, single "-" or " " between groups.
    "card": (Chain(13, 1, "- ", unicode=True),
             r"(?:[4-6]\p{Nd}{3}|[13]\p{Nd}{3})[- ]?\p{Nd}{3,4}[- ]?\p{Nd}{3,4}[- ]?"
             r"\p{Nd}{3,5}"),
    "card_digits": (Chain(12, 1, " -"), r"[0-9](?:[ -]?[0-9]){11}"),
    # Groups of >= 3, exactly 2 and >= 4 digits, one of "- ." between them.
    "ssn_324": ("3-2-4", r"[0-9]{3}[- .][0-9]{2}[- .][0-9]{4}"),
    "ssn_9": (Chain(9, 1, "-"), r"[0-9]{5}-[0-9]{4}|[0-9]{3}-[0-9]{6}|[0-9]{9}"),
    "phone_shape": (Chain(7, 2, " .()-"), r"[0-9](?:[ .()-]{0,2}[0-9]){6}"),
    "ipv4": (Chain(4, 1, ".", min_gaps=3), r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}"),
    # Two colons at most four hex digits apart ("::" included).
    "ipv6": ("colons", r"(?i)[0-9a-f]{0,4}:[0-9a-f]{0,4}:"),
    # Two upper-case ASCII letters, then two ASCII digits.
    "iban": ("AA00", r"[A-Z]{2}[0-9]{2}"),
    # 26 characters of the crypto pattern's class in a row, counted in bytes (its non-ASCII
    # members İ, ı and the case folds K (Kelvin) and ſ take 2-3 bytes: counting bytes
    # passes more than needed, never less).
    "crypto": ("run26", r"(?i)(bc1|[13])[a-z0-9\x{130}\x{131}]{25}"),
}

_ASCII_DIGIT_LO = 0x30
_HEX = np.zeros(256, dtype=bool)
_HEX[[ord(c) for c in "0123456789abcdefABCDEF"]] = True
_ALNUM = np.zeros(256, dtype=bool)
_ALNUM[[ord(c) for c in "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"]] = True
# Non-ASCII characters the crypto pattern's class matches under (?i), as UTF-8.
_CRYPTO_EXTRA = [ch.encode("utf-8") for ch in "\u0130\u0131\u017f\u212a"]

# First bytes of the UTF-8 of non-ASCII decimal digits: those of Python's Unicode database,
# and every 3- and 4-byte lead except E2-E9 (U+2000-U+9FFF: punctuation, symbols, CJK, where
# Unicode has no digits), so that a newer Unicode version in RE2 or `regex` is covered too.
_DIGIT_LEADS = np.zeros(256, dtype=bool)
_DIGIT_LEADS[[chr(c).encode("utf-8")[0] for c in range(0x80, 0x800)
              if unicodedata.category(chr(c)) == "Nd"]] = True
_DIGIT_LEADS[0xE0:0xF5] = True
_DIGIT_LEADS[0xE2:0xEA] = False

_PY_DIGIT = re.compile(r"\d")


def _classify_digits(cps: np.ndarray) -> np.ndarray:
    """1 for a decimal digit by RE2's \\p{Nd}, Python's `re` \\d (Presidio's patterns), the
    `regex` module's \\d or Python's Unicode database, whichever says so; else 0."""
    import regex

    chars = [chr(int(c)) for c in cps]
    re2 = pc.match_substring_regex(pa.array(chars, pa.string()), r"^\p{Nd}$")
    flags = re2.to_numpy(zero_copy_only=False).copy()
    rx = regex.compile(r"\d")
    for i, ch in enumerate(chars):
        flags[i] = flags[i] or (_PY_DIGIT.match(ch) is not None
                                or unicodedata.category(ch) == "Nd"
                                or rx.match(ch) is not None)
    return flags.astype(np.uint8)


_IS_DIGIT = CodePointTable(_classify_digits)


class ShapeScan:
    """The shapes of one batch, computed on demand and cached."""

    def __init__(self, text: pa.Array | pa.ChunkedArray):
        self.buf: Utf8Buffer = utf8_buffer(text)
        self.n = len(self.buf.offsets) - 1
        self._masks: dict[str, np.ndarray] = {}
        self._ascii_digits: np.ndarray | None = None
        self._digits: tuple[np.ndarray, np.ndarray] | None = None
        self._digit_doc: dict[bool, np.ndarray] = {}  # unicode -> document of each digit
        self._digit_mask: np.ndarray | None = None

    def mask(self, shape: str) -> np.ndarray:
        """Boolean per document: the shape occurs in it."""
        got = self._masks.get(shape)
        if got is None:
            spec = SHAPES[shape][0]
            if isinstance(spec, Chain):
                got = self._chain(spec)
            elif spec == "@":
                got = self._docs_of(np.flatnonzero(self.buf.data == 0x40))
            elif spec == "colons":
                got = self._colons()
            elif spec == "3-2-4":
                got = self._ssn_groups()
            elif spec == "AA00":
                got = self._aa00()
            elif spec == "run26":
                got = self._run(self._crypto_members(), 26)
            else:  # pragma: no cover - SHAPES is closed
                raise KeyError(shape)
            self._masks[shape] = got
        return got

    def phone_starts(self) -> list[list[int]]:
        """Per document, the character offsets where `phonenumbers`' candidate pattern can
        begin: a decimal digit, "(", "[", "+" or their fullwidth forms (the class
        ``[(\\[（［+＋\\d]``; a few more digits than Python's ``\\d`` may be listed, which
        the pattern then rejects). Finding them here for the whole batch replaces a regex
        search per candidate, the largest part of the phone scan."""
        data, offs = self.buf.data, self.buf.offsets
        digits, _ = self._digit_spans(True)
        marks = [np.flatnonzero((data == 0x28) | (data == 0x5B) | (data == 0x2B))]
        wide = np.flatnonzero(data == 0xEF)  # （ ［ ＋ are EF BC 88, EF BC BB, EF BC 8B
        if len(wide):
            wide = wide[wide + 2 < len(data)]
            wide = wide[(data[wide + 1] == 0xBC) & ((data[wide + 2] == 0x88)
                                                     | (data[wide + 2] == 0xBB)
                                                     | (data[wide + 2] == 0x8B))]
            marks.append(wide)
        extra = np.sort(np.concatenate(marks))  # few; never a digit's byte
        pos = np.insert(digits, np.searchsorted(digits, extra), extra) if len(extra) else digits
        doc = self._doc_index(pos)
        # Byte offset in the document -> character offset: minus the continuation bytes
        # before it in the document.
        chars = pos - offs[doc]
        cont = np.flatnonzero((data & 0xC0) == 0x80)
        if len(cont):
            chars -= np.searchsorted(cont, pos) - np.searchsorted(cont, offs[doc])
        cuts = np.searchsorted(doc, np.arange(self.n + 1))
        flat = chars.tolist()
        return [flat[cuts[i]:cuts[i + 1]] for i in range(self.n)]

    # -- helpers ---------------------------------------------------------------------------

    def _is_digit(self) -> np.ndarray:
        """Boolean per byte: an ASCII digit."""
        if self._digit_mask is None:
            self._digit_mask = (self.buf.data - np.uint8(_ASCII_DIGIT_LO)) < 10
        return self._digit_mask

    def _docs_of(self, positions: np.ndarray) -> np.ndarray:
        """Mask of the documents that contain any of these byte positions."""
        out = np.zeros(self.n, dtype=bool)
        if len(positions):
            out[self._doc_index(positions)] = True
        return out

    def _doc_index(self, positions: np.ndarray) -> np.ndarray:
        """The document of each byte position (an empty document holds none)."""
        return np.searchsorted(self.buf.offsets, positions, side="right") - 1

    def _digit_docs(self, unicode: bool) -> np.ndarray:
        """The document of each digit of `_digit_spans(unicode)` (shared by the chains)."""
        doc = self._digit_doc.get(unicode)
        if doc is None:
            doc = self._digit_doc[unicode] = self._doc_index(self._digit_spans(unicode)[0])
        return doc

    def _digit_spans(self, unicode: bool) -> tuple[np.ndarray, np.ndarray]:
        """(start, end) byte spans of the digits, in order."""
        data = self.buf.data
        if self._ascii_digits is None:
            self._ascii_digits = np.flatnonzero(self._is_digit())
        starts = self._ascii_digits
        if not unicode:
            return starts, starts + 1
        if self._digits is None:
            lead, size, cp = decode_non_ascii(data, _DIGIT_LEADS)
            if len(lead):
                wide = _IS_DIGIT(cp) == 1
                if wide.any():
                    s = np.concatenate([starts, lead[wide]])
                    e = np.concatenate([starts + 1, lead[wide] + size[wide]])
                    order = np.argsort(s, kind="stable")
                    self._digits = (s[order], e[order])
            if self._digits is None:
                self._digits = (starts, starts + 1)
        return self._digits

    def _chain(self, spec: Chain) -> np.ndarray:
        starts, ends = self._digit_spans(spec.unicode)
        out = np.zeros(self.n, dtype=bool)
        if len(starts) < spec.min_len:
            return out
        data = self.buf.data
        sep = np.zeros(256, dtype=bool)
        sep[[ord(c) for c in spec.separators]] = True
        gap = starts[1:] - ends[:-1]
        doc = self._digit_docs(spec.unicode)
        link = (gap <= spec.gap) & (doc[1:] == doc[:-1])
        for k in range(spec.gap):  # every character in the gap is a separator
            need = np.flatnonzero(link & (gap > k))
            link[need] = sep[data[ends[:-1][need] + k]]
        breaks = np.empty(len(starts), dtype=bool)
        breaks[0] = True
        np.logical_not(link, out=breaks[1:])
        chain = np.cumsum(breaks) - 1
        first = np.flatnonzero(breaks)
        good = np.bincount(chain, minlength=len(first)) >= spec.min_len
        if spec.min_gaps:
            one = link & (gap == 1)
            gaps = np.bincount(chain[:-1][one], minlength=len(first))
            good &= gaps >= spec.min_gaps
        out[doc[first[good]]] = True
        return out

    def _ssn_groups(self) -> np.ndarray:
        starts, _ = self._digit_spans(False)
        out = np.zeros(self.n, dtype=bool)
        if len(starts) < 9:
            return out
        # Runs of adjacent digits: [first, last] byte positions.
        new = np.empty(len(starts), dtype=bool)
        new[0] = True
        np.not_equal(np.diff(starts), 1, out=new[1:])
        first = starts[new]
        last = starts[np.append(new[1:], True)]
        size = last - first + 1
        sep = np.zeros(256, dtype=bool)
        sep[[ord(c) for c in "- ."]] = True
        # Group i joined to group i + 1 by exactly one separator byte.
        joined = (first[1:] - last[:-1] == 2) & sep[self.buf.data[last[:-1] + 1]]
        a, b, c = size[:-2], size[1:-1], size[2:]
        hit = (a >= 3) & (b == 2) & (c >= 4) & joined[:-1] & joined[1:]
        where = first[:-2][hit]
        # All three groups in one document.
        ok = self._doc_index(where) == self._doc_index(last[2:][hit])
        out[self._doc_index(where[ok])] = True
        return out

    def _colons(self) -> np.ndarray:
        data = self.buf.data
        colon = np.flatnonzero(data == 0x3A)
        if len(colon) < 2:
            return np.zeros(self.n, dtype=bool)
        gap = colon[1:] - colon[:-1] - 1
        ok = gap <= 4
        for k in range(4):  # every byte between the two colons is a hex digit
            need = np.flatnonzero(ok & (gap > k))
            ok[need] = _HEX[data[colon[:-1][need] + 1 + k]]
        return self._docs_of(colon[:-1][ok])

    def _aa00(self) -> np.ndarray:
        data = self.buf.data
        if len(data) < 4:
            return np.zeros(self.n, dtype=bool)
        upper = (data - np.uint8(0x41)) < 26
        digit = self._is_digit()
        hit = upper[:-3] & upper[1:-2] & digit[2:-1] & digit[3:]
        return self._docs_of(np.flatnonzero(hit))

    def _crypto_members(self) -> np.ndarray:
        data = self.buf.data
        member = ((np.bitwise_or(data, 0x20) - np.uint8(97)) < 26) | self._is_digit()
        at = np.flatnonzero(((data - np.uint8(0xC4)) < 2) | (data == 0xE2))
        for seq in _CRYPTO_EXTRA:
            hit = at[data[at] == seq[0]]
            hit = hit[hit + len(seq) <= len(data)]
            for k in range(1, len(seq)):
                hit = hit[data[hit + k] == seq[k]]
            for k in range(len(seq)):
                member[hit + k] = True
        return member

    def _run(self, member: np.ndarray, length: int) -> np.ndarray:
        """Documents with `length` member bytes (a boolean per byte) in a row.

        Such a run covers a whole aligned block of 8 bytes, so only the rare all-member blocks
        are looked at: each group of consecutive ones is extended to its maximal run and
        measured within each document it touches."""
        offs, n = self.buf.offsets, len(member)
        out = np.zeros(self.n, dtype=bool)
        # Blocks of 8 bytes, compared as one 64-bit word each (a run of 26 covers two).
        size = 8
        if length < 2 * size - 1:
            raise ValueError(f"run length must be at least {2 * size - 1}")
        blocks = n // size
        words = np.ascontiguousarray(member[:blocks * size]).view(np.uint64)
        full = np.flatnonzero(words == np.uint64(0x0101010101010101))
        if not len(full):
            return out
        new = np.empty(len(full), dtype=bool)
        new[0] = True
        np.not_equal(np.diff(full), 1, out=new[1:])
        lo = full[new] * size
        hi = (full[np.append(new[1:], True)] + 1) * size
        for _ in range(size - 1):  # the partial blocks on either side
            more = np.flatnonzero(lo > 0)
            more = more[member[lo[more] - 1]]
            lo[more] -= 1
            more = np.flatnonzero(hi < n)
            more = more[member[hi[more]]]
            hi[more] += 1
        long = hi - lo >= length
        lo, hi = lo[long], hi[long]
        first, last = self._doc_index(lo), self._doc_index(hi - 1)
        out[first[first == last]] = True
        # A run across document boundaries: measure its piece in each document.
        across = np.flatnonzero(first != last)
        for a, b, d0, d1 in zip(lo[across], hi[across], first[across], last[across],
                                strict=True):
            for d in range(int(d0), int(d1) + 1):
                if min(b, offs[d + 1]) - max(a, offs[d]) >= length:
                    out[d] = True
        return out
