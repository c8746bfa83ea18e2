"""Faster equivalents give what they stand for: the byte-level rewrites of corpusfilter.utf8
the strings of the Arrow regex replacements (text of many scripts, every kind of whitespace
and digit), the n-gram grouping of filters/text.py the result of `np.unique`."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import example, given, settings
from hypothesis import strategies as st

from corpusfilter.dedup.exact import normalize_text
from corpusfilter.dedup.lines import normalize_lines
from corpusfilter.filters.text import _group
from corpusfilter.utf8 import collapse_spaces, count_in_class, zero_digits

# Whitespace RE2's \s covers and the Unicode spaces it does not; ASCII and other digits.
SPECIAL = list(" \t\n\r\f\v\x1c\x85\xa0\u1680\u2003\u2028\u2029\u3000"
               "0123456789٠١٢٣४५๖７¹½")
WORDS = ["Straße", "café", "привет", "日本語", "한국어", "العربية", "हिन्दी", "ΑΒΓ", "x", "😀"]
PIECE = st.one_of(st.sampled_from(SPECIAL), st.sampled_from(WORDS),
                  st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=4))
TEXTS = st.lists(st.lists(PIECE, max_size=25).map("".join), min_size=1, max_size=12)


def arrays(texts: list[str]):
    """The same texts as string, large string, a slice with an offset, and chunked."""
    arr = pa.array(["pad  1", *texts], pa.string())
    yield arr.slice(1)
    yield pa.array(texts, pa.large_string())
    yield pa.chunked_array([pa.array(texts[:1], pa.string()), pa.array(texts[1:], pa.string())])


@settings(max_examples=300, deadline=None)
@given(TEXTS)
@example(["  a \t\n b  ", "", " ", "\n\n", "a", "12 34\v5\xa06"])
def test_rewrites_equal_the_regex_replacements(texts):
    for arr in arrays(texts):
        plain = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
        got = collapse_spaces(arr)
        assert got.type == plain.type
        assert got.to_pylist() == pc.replace_substring_regex(plain, r"\s+", " ").to_pylist()
        got = zero_digits(arr)
        assert got.type == plain.type
        assert got.to_pylist() == pc.replace_substring_regex(plain, r"\d", "0").to_pylist()


@settings(max_examples=150, deadline=None)
@given(TEXTS)
def test_normalisations_equal_their_regex_definitions(texts):
    arr = pa.array(texts, pa.string())
    lines = pc.utf8_lower(pc.utf8_trim_whitespace(arr))
    lines = pc.replace_substring_regex(pc.replace_substring_regex(lines, r"\d", "0"), r"\s+", " ")
    assert normalize_lines(arr).to_pylist() == lines.to_pylist()
    text = pc.utf8_trim_whitespace(pc.replace_substring_regex(pc.utf8_lower(arr), r"\s+", " "))
    assert normalize_text(arr, True, True, False, None).to_pylist() == text.to_pylist()


def test_nulls_are_kept():
    arr = pa.array(["a  b", None, "1"])
    assert collapse_spaces(arr).to_pylist() == ["a b", None, "1"]
    assert zero_digits(arr).to_pylist() == ["a  b", None, "0"]


LETTER = r"[\p{L}\p{M}]"


@settings(max_examples=200, deadline=None)
@given(TEXTS)
def test_letter_counts_equal_the_regex_definition(texts):
    for arr in arrays(texts):
        plain = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
        want = pc.utf8_length(pc.replace_substring_regex(plain, r"[^\p{L}\p{M}]+", ""))
        assert count_in_class(arr, LETTER).tolist() == want.to_pylist()
        covered = r"[\p{Latin}\p{Cyrillic}\p{Han}]"
        want = pc.utf8_length(pc.replace_substring_regex(plain, f"[^\\p{{L}}\\p{{M}}]|{covered}",
                                                         ""))
        assert count_in_class(arr, LETTER, unless=covered).tolist() == want.to_pylist()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 2**64 - 1) | st.integers(0, 5), max_size=60))
def test_group_equals_its_unique_definition(values):
    keys = np.array(values, dtype=np.uint64)
    count, first = _group(keys)
    if not len(keys):
        assert len(count) == len(first) == 0
        return
    _, index, inverse, counts = np.unique(keys, return_index=True, return_inverse=True,
                                          return_counts=True)
    assert count.tolist() == counts[inverse].tolist()
    assert first.tolist() == (index[inverse] == np.arange(len(keys))).tolist()
