"""Shared, batch-wise text utilities for the heuristic filters.

Everything here works on a whole batch at once (Arrow compute kernels and NumPy over the
flattened pieces of all documents), so a stage never loops over documents in Python:

* `split_words`: words of every document. A word is a maximal run of letters, combining marks
  and digits (internal apostrophes kept, e.g. ``don't``); punctuation and symbols are never
  words. Scripts written without spaces (Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar,
  Tibetan) have no word boundaries a regex can find, so there each character (with its
  combining marks) counts as one word: the same unit for every document of a language, with no
  dictionary to ship. Thresholds that assume space-separated words (mean word length) are
  switched off for those languages by the stages' built-in language defaults. Found in one
  NumPy pass over the UTF-8 bytes (`split_words_regex`, in Arrow regex kernels, is the
  definition it is tested against); `doc_words` shares one batch's words between stages.
* `split_pieces`: lines or paragraphs of every document by a separator regex.
* `Pieces`: flattened pieces with per-document offsets and helpers for per-document sums,
  maxima and "first occurrence within its document" (the basis of every duplicate count).
* `ngram_repeats`: the word n-grams that repeat within their document (hashed level by
  level, each level only over the survivors of the previous one), for repetition counts.
* `stop_words(lang)`: stop-word list per language (Gopher's eight English words for ``en``;
  spaCy's lists, MIT licence, for the others).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from corpusfilter.core.docs import Docs

# Per-language parameters live in core/langparams.py; re-exported for the stages' imports.
from corpusfilter.core.langparams import LangParams, doc_langs, normalise_lang  # noqa: F401
from corpusfilter.core.scripts import (
    SPACELESS_CLASS,
    SPACELESS_LANGS,
    SPACELESS_SCRIPTS,
)
from corpusfilter.utf8 import CodePointTable, decode_non_ascii, string_array, utf8_buffer

# -- character classes (RE2 syntax, used by Arrow's regex kernels) ------------------------

# Unicode Sentence_Terminal (full stops, question and exclamation marks of every script:
# . ! ? 。 ！ ？ । ። ۔ ...), generated from the Unicode character database. FineWeb's
# "terminal punctuation" list is nearly this set (it excludes , : ; which are Terminal_Punctuation
# but do not end a sentence).
SENTENCE_TERMINALS = (
    r"\x{0021}\x{002E}\x{003F}\x{0589}\x{061D}-\x{061F}\x{06D4}\x{0700}-\x{0702}"
    r"\x{07F9}\x{0837}\x{0839}\x{083D}-\x{083E}\x{0964}-\x{0965}\x{104A}-\x{104B}"
    r"\x{1362}\x{1367}-\x{1368}\x{166E}\x{1735}-\x{1736}\x{17D4}-\x{17D5}\x{1803}"
    r"\x{1809}\x{1944}-\x{1945}\x{1AA8}-\x{1AAB}\x{1B4E}-\x{1B4F}\x{1B5A}-\x{1B5B}"
    r"\x{1B5E}-\x{1B5F}\x{1B7D}-\x{1B7F}\x{1C3B}-\x{1C3C}\x{1C7E}-\x{1C7F}\x{2024}"
    r"\x{203C}-\x{203D}\x{2047}-\x{2049}\x{2CF9}-\x{2CFB}\x{2E2E}\x{2E3C}"
    r"\x{2E53}-\x{2E54}\x{2E60}-\x{2E61}\x{3002}\x{A4FF}\x{A60E}-\x{A60F}\x{A6F3}"
    r"\x{A6F7}\x{A876}-\x{A877}\x{A8CE}-\x{A8CF}\x{A92F}\x{A9C8}-\x{A9C9}"
    r"\x{AA5D}-\x{AA5F}\x{AAF0}-\x{AAF1}\x{ABEB}\x{FE12}\x{FE15}-\x{FE16}\x{FE52}"
    r"\x{FE56}-\x{FE57}\x{FF01}\x{FF0E}\x{FF1F}\x{FF61}\x{10A56}-\x{10A57}"
    r"\x{10F55}-\x{10F59}\x{10F86}-\x{10F89}\x{11047}-\x{11048}\x{110BE}-\x{110C1}"
    r"\x{11141}-\x{11143}\x{111C5}-\x{111C6}\x{111CD}\x{111DE}-\x{111DF}"
    r"\x{11238}-\x{11239}\x{1123B}-\x{1123C}\x{112A9}\x{113D4}-\x{113D5}"
    r"\x{1144B}-\x{1144C}\x{115C2}-\x{115C3}\x{115C9}-\x{115D7}\x{11641}-\x{11642}"
    r"\x{1173C}-\x{1173E}\x{11944}\x{11946}\x{11A42}-\x{11A43}\x{11A9B}-\x{11A9C}"
    r"\x{11C41}-\x{11C42}\x{11EF7}-\x{11EF8}\x{11F43}-\x{11F44}\x{16A6E}-\x{16A6F}"
    r"\x{16AF5}\x{16B37}-\x{16B38}\x{16B44}\x{16D6E}-\x{16D6F}\x{16E98}\x{1BC9F}"
    r"\x{1DA88}"
)

# Scripts written without spaces between words. Han, Hiragana and Katakana characters are one
# word each; a Thai/Lao/Khmer/Myanmar/Tibetan character takes its combining marks with it.
SPACELESS = SPACELESS_CLASS
_SPACELESS_UNIT = ("(" + "|".join(rf"\p{{{s.name}}}" for s in SPACELESS_SCRIPTS
                                  if s.kind == "ideographic")
                   + "|[" + "".join(rf"\p{{{s.name}}}" for s in SPACELESS_SCRIPTS
                                    if s.kind == "syllabic") + r"]\p{M}*)")
_HAS_SPACELESS = f"[{SPACELESS}]"
# Everything that separates words: not a letter, mark, digit or apostrophe.
_WORD_SEPARATOR = r"[^\p{L}\p{M}\p{N}'’]+"
_APOSTROPHES = "'’"
# A number written with separators (14.372,4  7:43  1,000,000) is one word, as when words are
# split on whitespace (Gopher) or by a tokenizer (datatrove, FineWeb-2): the separator between
# two digits is dropped before splitting. Two passes: a match consumes the digit after it.
_NUMBER_SEPARATOR = r"(\p{Nd})[.,:](\p{Nd})"
# Line breaks as Python's str.splitlines() knows them.
LINE_BREAK = r"\r\n|[\n\r\x{0B}\x{0C}\x{1C}-\x{1E}\x{85}\x{2028}\x{2029}]"



# -- flattened pieces -------------------------------------------------------------------

@dataclass
class Pieces:
    """The pieces (words, lines, ...) of every document of a batch, flattened.

    `values[offsets[d]:offsets[d + 1]]` are the pieces of document `d`, in order.
    """

    values: pa.Array
    offsets: np.ndarray

    @property
    def num_docs(self) -> int:
        return len(self.offsets) - 1

    @cached_property
    def counts(self) -> np.ndarray:
        """Pieces per document."""
        return np.diff(self.offsets)

    @cached_property
    def doc(self) -> np.ndarray:
        """The document index of every piece."""
        return np.repeat(np.arange(self.num_docs, dtype=np.int64), self.counts)

    @cached_property
    def lengths(self) -> np.ndarray:
        """Characters per piece."""
        return _np(pc.utf8_length(self.values)).astype(np.int64)

    @cached_property
    def codes(self) -> np.ndarray:
        """An integer per piece, equal for equal strings (case-sensitive), in order of first
        appearance in the batch."""
        return _codes(self.values)

    @cached_property
    def first(self) -> np.ndarray:
        """True where a piece's text did not occur earlier in the same document."""
        return first_in_doc(self.codes, self.doc, self.num_docs)

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Per-document sum of one value per piece."""
        return seg_sum(values, self.offsets)

    def matches(self, pattern: str) -> np.ndarray:
        """Bool per piece: the piece contains a match of the RE2 `pattern`."""
        if len(self.values) == 0:
            return np.zeros(0, dtype=bool)
        return _np(pc.match_substring_regex(self.values, pattern)).astype(bool)

    def select(self, mask: np.ndarray) -> Pieces:
        """Only the pieces where `mask` is True."""
        counts = seg_sum(mask.astype(np.int64), self.offsets)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return Pieces(self.values.filter(pa.array(mask, pa.bool_())), offsets)

    def select_docs(self, keep: np.ndarray) -> Pieces:
        """The pieces of the documents where `keep` is True (a `Derived` value's rows)."""
        rows = np.repeat(np.asarray(keep, dtype=bool), self.counts)
        counts = self.counts[keep]
        out = Pieces(self.values.filter(pa.array(rows, pa.bool_())),
                     np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))
        if "lengths" in self.__dict__:  # exact per piece: keep it
            out.__dict__["lengths"] = self.lengths[rows]
        return out

    def join(self, sep: str) -> pa.Array:
        """The pieces of every document joined with `sep` (a string array, one per doc)."""
        lists = pa.ListArray.from_arrays(pa.array(self.offsets.astype(np.int32), pa.int32()),
                                         self.values.cast(pa.string()))
        return pc.binary_join(lists, sep)


def _np(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.to_numpy(zero_copy_only=False)


def _codes(values: pa.Array) -> np.ndarray:
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    return _np(pc.dictionary_encode(values).indices).astype(np.int64)


def seg_sum(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Sum of `values[offsets[d]:offsets[d+1]]` for every segment d."""
    cs = np.concatenate([[0], np.cumsum(values, dtype=np.float64 if values.dtype.kind == "f"
                                        else np.int64)])
    return cs[offsets[1:]] - cs[offsets[:-1]]


def seg_max(values: np.ndarray, offsets: np.ndarray, empty: float | int = 0) -> np.ndarray:
    """Maximum of every segment of `values` (`empty` for empty segments)."""
    n = len(offsets) - 1
    out = np.full(n, empty, dtype=values.dtype if len(values) else np.int64)
    nonempty = offsets[1:] > offsets[:-1]
    if nonempty.any():
        out[nonempty] = np.maximum.reduceat(values, offsets[:-1][nonempty])
    return out


def first_in_doc(codes: np.ndarray, doc: np.ndarray, num_docs: int) -> np.ndarray:
    """True where (doc, code) occurs for the first time (pieces sorted by document)."""
    if len(codes) == 0:
        return np.zeros(0, dtype=bool)
    key = codes.astype(np.int64) * max(num_docs, 1) + doc
    return _group(key)[1]  # one unstable sort instead of np.unique's passes


def _flatten(lists: pa.Array | pa.ChunkedArray) -> Pieces:
    if isinstance(lists, pa.ChunkedArray):
        lists = lists.combine_chunks()
    offsets = np.asarray(lists.offsets, dtype=np.int64)
    values = lists.flatten()
    return Pieces(values, offsets - offsets[0])


def as_text(text: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A plain (non-chunked) string array."""
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    return text


def split_pieces(text: pa.Array, separator: str, strip: bool = False) -> Pieces:
    """Split every document on the RE2 regex `separator` (e.g. ``LINE_BREAK``, ``\\n{2,}``).

    With `strip`, surrounding whitespace of the whole document is removed first (so a leading
    or trailing newline makes no empty piece). ``\\n``, ``\\n+`` and ``LINE_BREAK`` split on
    the literal newline, ~3x cheaper than RE2's split, which pays per match
    (`split_pieces_regex`: the definition); for ``LINE_BREAK`` the other line breaks are
    first replaced by a newline in the few documents that hold any (`_other_break_docs`; a
    ``\\r\\n`` pair is one break, as in the definition)."""
    text = as_text(text)
    if strip:
        text = pc.utf8_trim_whitespace(text)
    literal = separator in (r"\n", r"\n+", LINE_BREAK)
    if not literal:
        return _flatten(pc.split_pattern_regex(text, separator))
    if separator == LINE_BREAK:
        docs = _other_break_docs(text)
        if len(docs):  # only those documents through RE2
            mask = np.zeros(len(text), dtype=bool)
            mask[docs] = True
            fixed = pc.replace_substring_regex(text.take(pa.array(docs)), _OTHER_BREAK_UNIT,
                                               "\n")
            text = pc.replace_with_mask(text, pa.array(mask), fixed)
    pieces = _flatten(pc.split_pattern(text, "\n"))
    if separator == r"\n+" and len(pieces.values):
        # a run of k newlines leaves k - 1 empty pieces inside it: drop those (an empty
        # first or last piece is the regex's too)
        edge = np.zeros(len(pieces.values), dtype=bool)
        edge[pieces.offsets[:-1][pieces.counts > 0]] = True
        edge[pieces.offsets[1:][pieces.counts > 0] - 1] = True
        empty = _np(pc.equal(pc.binary_length(pieces.values), 0)).astype(bool)
        if (empty & ~edge).any():
            pieces = pieces.select(~empty | edge)
    return pieces


def split_pieces_regex(text: pa.Array, separator: str, strip: bool = False) -> Pieces:
    """`split_pieces` with RE2's split for every separator: the definition it is tested
    against."""
    text = as_text(text)
    if strip:
        text = pc.utf8_trim_whitespace(text)
    return _flatten(pc.split_pattern_regex(text, separator))


# The line breaks of LINE_BREAK other than "\n", a "\r\n" pair as one (RE2 takes the
# leftmost alternative, as LINE_BREAK's split does).
_OTHER_BREAK_UNIT = r"\r\n|[\r\x{0B}\x{0C}\x{1C}-\x{1E}\x{85}\x{2028}\x{2029}]"


def _other_break_docs(text: pa.Array) -> np.ndarray:
    """The documents (sorted indices) that hold a line break other than "\\n". Exact, on the
    UTF-8 bytes: \\v \\f \\r (0x0B-0x0D) and \\x1c-\\x1e are single bytes; U+0085 is C2 85
    and U+2028, U+2029 are E2 80 A8, E2 80 A9, sequences no other character holds in valid
    UTF-8. Whole-buffer compares and counts (vectorised) first, positions only of the few
    candidates: ~5x cheaper than a 256-entry table lookup per byte or an RE2 pass."""
    none = np.zeros(0, dtype=np.int64)
    if not len(text):
        return none
    buf = utf8_buffer(text)
    data = buf.data
    found = []
    low = data < 0x1F
    n_low = np.count_nonzero(low)
    if n_low and n_low != np.count_nonzero(data == 0x0A) + np.count_nonzero(data == 0x09):
        pos = np.flatnonzero(low)
        v = data[pos]
        found.append(pos[((v >= 0x0B) & (v <= 0x0D)) | (v >= 0x1C)])
    if np.count_nonzero(data == 0x85):  # a continuation byte: never at position 0
        pos = np.flatnonzero(data == 0x85)
        found.append(pos[data[pos - 1] == 0xC2])
    pos = np.flatnonzero(data[:-2] == 0xE2)
    if len(pos):
        third = data[pos + 2]
        found.append(pos[(data[pos + 1] == 0x80) & ((third == 0xA8) | (third == 0xA9))])
    pos = np.concatenate(found) if found else none
    if not len(pos):
        return none
    return np.unique(np.searchsorted(buf.offsets, pos, side="right") - 1).astype(np.int64)


def split_lines(text: pa.Array) -> Pieces:
    """Lines as Python's ``str.splitlines()`` finds them, except that a trailing line break
    leaves an empty last line (callers drop blank lines where it matters)."""
    return split_pieces(text, LINE_BREAK)


def split_words(text: pa.Array) -> Pieces:
    """The words of every document (see the module docstring for the definition).

    One NumPy pass over the UTF-8 bytes (`_word_spans`) instead of RE2's split, which pays
    per match, i.e. per word: `split_words_regex` is the definition in Arrow regex kernels,
    which this equals (tests/test_text_fast.py) at a fraction of the cost."""
    text = as_text(text)
    buf = utf8_buffer(text)
    starts, sizes, inside = _word_spans(buf.data, buf.offsets)
    offsets = np.searchsorted(starts, buf.offsets).astype(np.int64)
    value_offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return Pieces(string_array(text, value_offsets, buf.data[inside]), offsets)


# Per-byte classes of `_word_spans` and `whitespace_word_counts` (continuation bytes carry
# their character's class): a word character, a decimal digit, an apostrophe (RE2's
# classes), whitespace (Arrow's `utf8_split_whitespace`), a letter or digit, a character of
# an ideographic or a syllabic spaceless script, a combining mark (RE2).
_WORD, _DIGIT, _APOS, _SPACE, _ALNUM, _IDEO, _SYLL, _MARK = 1, 2, 4, 8, 16, 32, 64, 128
_IDEO_CLASS = "[" + "".join(rf"\p{{{s.name}}}" for s in SPACELESS_SCRIPTS
                            if s.kind == "ideographic") + "]"
_SYLL_CLASS = "[" + "".join(rf"\p{{{s.name}}}" for s in SPACELESS_SCRIPTS
                            if s.kind == "syllabic") + "]"


def _classify_words(cps: np.ndarray) -> np.ndarray:
    """Code points -> class bits, by RE2 itself (the classes `split_words_regex` uses)."""
    chars = pa.array([chr(int(c)) for c in cps], pa.string())
    out = np.zeros(len(cps), dtype=np.uint8)
    for bit, cls in ((_WORD, _WORD_SEPARATOR[:-1].replace("[^", "[", 1)),
                     (_DIGIT, r"\p{Nd}"), (_APOS, f"[{_APOSTROPHES}]"),
                     (_IDEO, _IDEO_CLASS), (_SYLL, _SYLL_CLASS), (_MARK, r"\p{M}")):
        hit = _np(pc.match_substring_regex(chars, f"^(?:{cls})$")).astype(bool)
        out[hit] |= bit
    out[_np(pc.match_substring_regex(chars, r"^[\p{L}\p{N}]$")).astype(bool)] |= _ALNUM
    # whitespace as utf8_split_whitespace knows it: the character splits "a?b" in two
    parts = pc.list_value_length(pc.utf8_split_whitespace(
        pc.binary_join_element_wise("a", chars, "b", "")))
    out[_np(parts) == 2] |= _SPACE
    return out


_WORD_TABLE = CodePointTable(_classify_words)
_ASCII_WORD = np.zeros(256, dtype=np.uint8)
_ASCII_WORD[:128] = _classify_words(np.arange(128))


def _byte_classes(data: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The class bits of every byte (a multi-byte character's bits on each of its bytes),
    and where a document starts (or the data ends) or `_spaceless_cuts` puts a space: a
    bool per byte position, ``len(data) + 1`` of them."""
    flags = _ASCII_WORD.take(data)  # (`take` is ~2.5x faster than fancy indexing here)
    bound = np.zeros(len(data) + 1, dtype=bool)
    bound[offsets] = True
    lead, size, cp = decode_non_ascii(data)
    if len(lead):
        f = _WORD_TABLE(cp)
        for k in range(4):
            sel = size > k
            flags[lead[sel] + k] = f[sel]
        bound[_spaceless_cuts(lead, size, f, bound)] = True
    return flags, bound


def _spaceless_cuts(lead: np.ndarray, size: np.ndarray, f: np.ndarray, bound: np.ndarray
                    ) -> np.ndarray:
    """Byte positions where the replacement of `_SPACELESS_UNIT` by " \\1 " puts a space
    (before and after every unit), from the non-ASCII characters (`lead`, `size`, class
    bits `f`; `bound`: document starts). RE2 scans left to right: an ideographic character
    is a unit; a syllabic one is a unit with the marks that follow it, and a mark taken so
    is no unit of its own (a syllabic mark after anything else starts one)."""
    ideo = (f & _IDEO) != 0
    syll = (f & _SYLL) != 0
    if not (ideo.any() or syll.any()):
        return np.zeros(0, np.int64)
    n = len(lead)
    mark = (f & _MARK) != 0
    end = lead + size
    contig = np.zeros(n, dtype=bool)  # character k directly follows k - 1, same document
    contig[1:] = (lead[1:] == end[:-1]) & ~bound[lead[1:]]
    prev_mark = np.zeros(n, dtype=bool)
    prev_mark[1:] = mark[:-1]
    run_start = mark & ~(contig & prev_mark)  # runs of marks
    starts = np.flatnonzero(run_start)
    absorbed = np.zeros(n, dtype=bool)
    if len(starts):
        run = np.cumsum(run_start) - 1  # the run of each mark
        # marks after a syllabic character (not a mark, so a unit's start) all join it
        after_syll = np.zeros(len(starts), dtype=bool)
        has = starts > 0
        after_syll[has] = contig[starts[has]] & syll[starts[has] - 1]
        # else the run's first syllabic mark starts a unit that takes the rest of the run
        pos = np.arange(n)
        first_syll = np.minimum.reduceat(np.where(syll & mark, pos, n), starts)
        absorbed = mark & (after_syll[run] | (pos > first_syll[run]))
    unit_start = (ideo | syll) & ~absorbed
    next_absorbed = np.zeros(n, dtype=bool)
    next_absorbed[:-1] = absorbed[1:] & contig[1:]
    unit_end = (unit_start | absorbed) & ~next_absorbed
    return np.concatenate([lead[unit_start], end[unit_end]])


def _word_spans(data: np.ndarray, offsets: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Words of UTF-8 documents (`data[offsets[d]:offsets[d+1]]`): the first byte of each,
    its size in bytes, and a mask of the bytes that make up the words' text.

    The regex definition, byte by byte: a word is a maximal run of letters, marks, digits
    and apostrophes; a ``.``, ``,`` or ``:`` between two decimal digits joins them and is
    left out (the two passes of `_NUMBER_SEPARATOR` remove exactly those: the first pass
    skips a separator only when its left digit was consumed by the previous match, and the
    second pass never skips two in a row); apostrophes at either end of a run are trimmed,
    and a run left empty is no word."""
    nb = len(data)
    empty = np.zeros(0, np.int64)
    if nb == 0:
        return empty, empty, np.zeros(0, dtype=bool)
    # `bound`: a document starts at this byte (or the data ends), or a spaceless unit
    # starts or ends here: no word crosses it, no number separator joins over it
    flags, bound = _byte_classes(data, offsets)
    word = (flags & _WORD).view(bool)  # _WORD is bit 0
    sep = np.flatnonzero((data == 0x2E) | (data == 0x2C) | (data == 0x3A))
    in_run = word
    if len(sep):
        sep = sep[~bound[sep] & ~bound[sep + 1]]  # a neighbour on either side
        sep = sep[((flags[sep - 1] & flags[sep + 1]) & _DIGIT) != 0]
        if len(sep):
            in_run = word.copy()
            in_run[sep] = True
    # run edges: where `in_run` flips, and document boundaries inside or between runs
    edge = np.empty(nb + 1, dtype=bool)
    edge[0] = in_run[0]
    edge[-1] = in_run[-1]
    np.not_equal(in_run[1:], in_run[:-1], out=edge[1:-1])
    inner = np.flatnonzero(bound[1:-1]) + 1  # boundaries inside the data
    edge[inner] |= in_run[inner] | in_run[inner - 1]
    flips = np.flatnonzero(edge)
    padded = np.zeros(nb + 2, dtype=bool)  # padded[f + 1] is in_run[f]
    padded[1:-1] = in_run
    after, before, cut = padded[flips + 1], padded[flips], bound[flips]
    # a run starts where it is in a run and the byte before is not (or is another document)
    starts = flips[after & (cut | ~before)]
    ends = flips[before & (cut | ~after)]
    inside = word
    is_apos = (flags & _APOS) != 0
    edged = np.flatnonzero(is_apos[starts] | is_apos[ends - 1])
    if len(edged):
        starts, ends, inside = _trim_apostrophes(is_apos, word, starts, ends, edged)
    sizes = ends - starts
    if len(sep):  # the joined separators are no bytes of the word
        sizes = sizes - np.bincount(np.searchsorted(starts, sep, side="right") - 1,
                                    minlength=len(starts))
    return starts, sizes, inside


def _ranges(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The concatenated positions of the ranges [lo, hi)."""
    size = hi - lo
    return np.repeat(lo - np.concatenate([[0], np.cumsum(size)[:-1]]), size) + \
        np.arange(int(size.sum()))


def _trim_apostrophes(is_apos: np.ndarray, word: np.ndarray, starts: np.ndarray,
                      ends: np.ndarray, edged: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs [starts, ends) without the apostrophes at either end of the runs `edged` (runs
    left empty dropped), and the word-byte mask without those apostrophes. Works on the
    bytes of those runs only (few: most words neither start nor end with one)."""
    a, b = starts[edged], ends[edged]
    pos = _ranges(a, b)  # the runs' bytes, run after run
    solid = pos[word[pos] & ~is_apos[pos]]
    i = np.searchsorted(solid, a)
    j = np.searchsorted(solid, b) - 1
    ok = i <= j
    last = max(len(solid) - 1, 0)
    solid = solid if len(solid) else np.zeros(1, np.int64)
    lo = np.where(ok, solid[np.minimum(i, last)], b)
    hi = np.where(ok, solid[np.clip(j, 0, last)] + 1, b)
    inside = word.copy()
    inside[_ranges(a, lo)] = False
    inside[_ranges(hi, b)] = False
    starts = starts.copy()
    ends = ends.copy()
    starts[edged], ends[edged] = lo, hi
    keep = ends > starts
    return starts[keep], ends[keep], inside


def split_words_regex(text: pa.Array) -> Pieces:
    """`split_words` in Arrow regex kernels: the definition it is tested against."""
    text = as_text(text)
    if len(text) and _np(pc.match_substring_regex(text, _HAS_SPACELESS)).any():
        text = pc.replace_substring_regex(text, _SPACELESS_UNIT, r" \1 ")
    for _ in range(2):
        text = pc.replace_substring_regex(text, _NUMBER_SEPARATOR, r"\1\2")
    pieces = _flatten(pc.split_pattern_regex(text, _WORD_SEPARATOR))
    values = pc.utf8_trim(pieces.values, _APOSTROPHES)
    keep = _np(pc.greater(pc.utf8_length(values), 0)).astype(bool)
    return Pieces(values, pieces.offsets).select(keep)


def doc_words(docs: Docs, text: pa.Array) -> Pieces:
    """`split_words(text)`, where `text` is the documents' text (``docs.text``) or their
    prose text (`corpusfilter.filters.code.prose_of`): computed once per batch and text,
    and carried by the pipeline to the next stages that ask (with the rows they still
    have). Any other `text` is split afresh."""
    derived, base = docs.derived, docs.text
    if text is derived.peek("prose_text", base):
        name = "words:prose"
    elif text is base:
        name = "words:text"
    else:
        return split_words(text)
    return derived.get(name, base, lambda: split_words(text))


def whitespace_word_counts(text: pa.Array) -> np.ndarray:
    """Per document: whitespace-separated tokens holding a letter or digit (a lone "&" or
    "|" is not a word, "p.m." or "ghoul-friend" is one), each character of a spaceless
    script counting as one. This is C4's notion of a line's words (``line.split()``) without
    counting punctuation, and defined for Chinese, Japanese or Thai lines.

    One NumPy pass over the UTF-8 bytes; `whitespace_word_counts_regex` is the definition
    in Arrow kernels, which this equals (tests/test_text_fast.py)."""
    text = as_text(text)
    buf = utf8_buffer(text)
    data, offsets = buf.data, buf.offsets
    if not len(data):
        return np.zeros(len(text), dtype=np.int64)
    flags, bound = _byte_classes(data, offsets)
    token = (flags & _SPACE) == 0
    start = np.empty(len(data), dtype=bool)  # a token starts: no space, after a space
    start[0] = token[0]
    np.greater(token[1:], token[:-1], out=start[1:])
    cuts = np.flatnonzero(bound[:-1])
    start[cuts] = token[cuts]  # or at the start of its document or of a spaceless unit
    starts = np.flatnonzero(start)
    if not len(starts):
        return np.zeros(len(text), dtype=np.int64)
    # a token runs to the next token's start (the spaces between hold no letter); a
    # document's last token stops at the document's end only if the next one starts later,
    # which the spaces (or the next start) guarantee
    alnum = (flags & _ALNUM) != 0
    has = np.logical_or.reduceat(alnum, starts)
    return np.diff(np.searchsorted(starts[has], offsets)).astype(np.int64)


def whitespace_word_counts_regex(text: pa.Array) -> np.ndarray:
    """`whitespace_word_counts` in Arrow kernels: the definition it is tested against."""
    text = as_text(text)
    if len(text) and _np(pc.match_substring_regex(text, _HAS_SPACELESS)).any():
        text = pc.replace_substring_regex(text, _SPACELESS_UNIT, r" \1 ")
    tokens = _flatten(pc.utf8_split_whitespace(text))
    return tokens.sum(tokens.matches(r"[\p{L}\p{N}]"))


def count_substring(text: pa.Array, pattern: str) -> np.ndarray:
    """Non-overlapping occurrences of a literal `pattern` in every document (one ASCII
    character: counted over the bytes with NumPy, ~4x cheaper than Arrow's kernel)."""
    text = as_text(text)
    if len(pattern) == 1 and pattern.isascii() and not text.null_count:
        buf = utf8_buffer(text)  # an ASCII byte is never part of another character
        hits = np.flatnonzero(buf.data == ord(pattern))
        return np.diff(np.searchsorted(hits, buf.offsets)).astype(np.int64)
    return _np(pc.count_substring(text, pattern)).astype(np.int64)


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where den is 0 (the metric is not applicable)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(len(num), np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


_MULT = np.uint64(0x9E3779B97F4A7C15)
_DOC_MULT = np.uint64(0xC2B2AE3D27D4EB4F)


@dataclass
class NgramRepeats:
    """The word n-grams of a batch that occur at least twice in their document.

    `start`: word index where such an n-gram starts (every occurrence, in order);
    `count`: its occurrences in the document; `first`: True for the first of them.
    n-grams occurring once are left out (count 1, first occurrence)."""

    start: np.ndarray
    count: np.ndarray
    first: np.ndarray


def _group(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Occurrences of each key and whether a position is its key's first occurrence.

    One unstable sort, ~2x faster than `np.unique` with its index, inverse and counts (a
    stable sort plus more passes): in sorted order a key's occurrences are adjacent, and its
    first occurrence is the smallest position among them."""
    n = len(keys)
    if not n:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    order = np.argsort(keys)
    ranked = keys[order]
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(ranked[1:], ranked[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    sizes = np.diff(np.append(starts, n))
    count = np.empty(n, dtype=np.int64)
    count[order] = np.repeat(sizes, sizes)
    first = np.zeros(n, dtype=bool)
    first[np.minimum.reduceat(order, starts)] = True
    return count, first


def ngram_repeats(words: Pieces, n_max: int) -> dict[int, NgramRepeats]:
    """Repeated word n-grams (n = 1..n_max) of every document, found level by level.

    An n-gram can only repeat where both of its (n-1)-gram parts repeat, so each level only
    hashes the survivors of the previous one. Keys are a polynomial hash of the words'
    batch-wide codes mixed with the document index; two different n-grams collide with
    probability about 2^-64 per pair."""
    codes = words.codes
    doc = words.doc
    total = len(codes)
    out: dict[int, NgramRepeats] = {}
    if total == 0:
        empty = NgramRepeats(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool))
        return {n: empty for n in range(1, n_max + 1)}
    start = np.arange(total, dtype=np.int64)
    h = codes.astype(np.uint64)
    ucodes = h.copy()
    udoc = doc.astype(np.uint64) * _DOC_MULT
    with np.errstate(over="ignore"):
        for n in range(1, n_max + 1):
            if n > 1:
                rep = np.zeros(total + 1, dtype=bool)
                prev = out[n - 1]
                rep[prev.start[prev.count >= 2]] = True
                cand = start[rep[start + 1]]
                cand = cand[cand + n - 1 < total]
                cand = cand[doc[cand] == doc[cand + n - 1]]
                h_full = np.zeros(total, dtype=np.uint64)
                h_full[start] = h
                h = h_full[cand] * _MULT + ucodes[cand + n - 1]
                start = cand
            count, first = _group(h ^ udoc[start])
            keep = count >= 2
            out[n] = NgramRepeats(start[keep], count[keep], first[keep])
            start, h = start[keep], h[keep]
    return out


def covered_chars(starts: np.ndarray, m: int, cum: np.ndarray, word_doc: np.ndarray,
                  n_docs: int) -> np.ndarray:
    """Per document: characters of the words covered by at least one of the word spans
    [s, s + m) for s in `starts` (ascending; a span never crosses its document's end), with
    `cum` the running sum of word lengths (``cum[k]``: characters of words before k).

    Each span counts up to where the next one starts, so overlaps count once: O(spans)
    instead of a pass over every word of the batch (`covered_chars_reference`)."""
    if not len(starts):
        return np.zeros(n_docs, dtype=np.int64)
    stop = starts + m
    stop[:-1] = np.minimum(stop[:-1], starts[1:])
    chars = cum[stop] - cum[starts]
    return np.bincount(word_doc[starts], weights=chars, minlength=n_docs).astype(np.int64)


def covered_chars_reference(starts: np.ndarray, m: int, wlen: np.ndarray, words: Pieces
                            ) -> np.ndarray:
    """`covered_chars` as a pass over every word (a coverage count per word)."""
    cover = np.zeros(len(wlen) + 1, dtype=np.int64)
    np.add.at(cover, starts, 1)
    np.add.at(cover, starts + m, -1)
    covered = np.cumsum(cover[:-1]) > 0
    return words.sum(wlen * covered)


# -- languages ---------------------------------------------------------------------------

# Gopher (Rae et al. 2021, appendix A.1.1): a document must contain at least two of these.
GOPHER_STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")


@cache
def stop_words(lang: str) -> frozenset[str] | None:
    """The stop words of a language (lower-case), or None when none are known.

    ``en``: Gopher's eight words. Other languages: spaCy's ``spacy.lang.<xx>.stop_words``
    (MIT licence; read from the installed spaCy without importing spaCy itself). For
    languages written without spaces only the one-character entries can match a word (see
    `split_words`); with fewer than eight such entries the language counts as unsupported.
    """
    if lang == "en":
        return frozenset(GOPHER_STOP_WORDS)
    if not lang.isalpha() or not lang.isascii():
        return None
    words = _spacy_stop_words(lang)
    if words is None:
        return None
    words = frozenset(w.lower() for w in words if w.strip())
    if lang in SPACELESS_LANGS:
        words = frozenset(w for w in words if len(w) == 1)
        if len(words) < 8:
            return None
    return words or None


def _spacy_stop_words(lang: str) -> set[str] | None:
    spec = importlib.util.find_spec("spacy")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "lang" / lang / "stop_words.py"
    if not path.is_file():
        return None
    mod_spec = importlib.util.spec_from_file_location(f"_cf_stop_words_{lang}", path)
    if mod_spec is None or mod_spec.loader is None:
        return None
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    words = getattr(module, "STOP_WORDS", None)
    return set(words) if words else None
