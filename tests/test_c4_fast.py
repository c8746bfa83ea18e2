"""The fast path of `c4_quality` (issue #21) against its reference: the rules' patterns run
over every line (`C4Quality._reference`), as the stage ran before it looked only at the lines
a rule can still change. Real lines of web pages (tests/data/heuristics, see its README), cut
and spliced with the characters and phrases the rules look for."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from hypothesis import example, given, settings
from hypothesis import strategies as st

from corpusfilter import Pipeline
from corpusfilter.core.docs import Docs
from corpusfilter.filters import c4
from corpusfilter.filters import text as T
from corpusfilter.filters.c4 import C4Quality

DATA = Path(__file__).parent / "data" / "heuristics"
_PAGES = (pq.read_table(DATA / "datatrove_decisions.parquet")["text"].to_pylist()[:60]
          + pq.read_table(DATA / "multilingual.parquet")["text"].to_pylist())
# untrimmed: indentation makes list items
REAL_LINES = [ln for t in _PAGES for ln in t.split("\n") if ln.strip()]
# what the rules look at: citation markers, line ends (quotes, closers, parentheticals,
# ellipses, full-width marks), list bullets, code, phrases in any case (İ and the Kelvin
# sign lower-case to ASCII letters), long tokens, blank lines
SPLICES = ["[1]", "[]", "[edit]", "[citation needed]", "...", "…", ".", "!", "?", ".”", "!“",
           "?»", "。」", "。", "！", "？", "｡", ". (Foto: dpa)", ".) (x)", ":", "- ", "• ", "1. ",
           "a) ", "   ", "\t", "{", "}", "JavaScript", "JAVASCRİPT", "lorem ipsum",
           "LOREM İPSUM", "Privacy Policy", "uses cookies", "USE COOKİES", "Terms of Use",
           "def f(x):", "x = 1;", "```", "fin. Und", "30. April", "der Satz. Noch", "a." * 3,
           "\u0964", "\u2028", "\r", "ǅ", "x" * 1001, "  x" + "y" * 1000, " ", "", "漢字。かな"]


def _piece(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        line = REAL_LINES[draw(st.integers(0, len(REAL_LINES) - 1))]
        cut = draw(st.integers(0, len(line)))
        return line[:cut] if draw(st.booleans()) else line[cut:]
    return draw(st.sampled_from(SPLICES))


@st.composite
def documents(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(1, 14))):
        if draw(st.integers(0, 5)) == 0:
            lines.append(REAL_LINES[draw(st.integers(0, len(REAL_LINES) - 1))])
        else:
            lines.append("".join(_piece(draw) for _ in range(draw(st.integers(1, 3)))))
    return "\n".join(lines)


OPTIONS: list[dict[str, Any]] = [
    {k: v for k, v in s.items() if k not in ("stage", "name")}
    for s in Pipeline("default").config.stages if s["stage"] == "c4_quality"]
OPTIONS += [{},  # C4's own settings
            {"keep_unended_prose": True, "keep_headings": True, "colon_line_words": 3,
             "min_words_per_line": 2, "curly_bracket_lines": True, "join_wrapped_lines": True,
             "overrides": {"de": {"remove_citations": False, "filter_javascript": False}}},
            {"closing_quotes": True, "cut_unended_lines": True, "keep_code_lines": True,
             "keep_list_items": True, "colon_line_words": 5, "min_words_per_line": None,
             "max_word_length": None, "filter_policy": False, "filter_lorem_ipsum": False,
             "min_sentences": None},
            {"filter_no_terminal_punct": False, "cut_unended_lines": True,
             "keep_headings": True, "overrides": {"ja": {"filter_no_terminal_punct": True}}}]


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is b
    return [None if isinstance(x, float) and math.isnan(x) else x for x in a.tolist()] == \
        [None if isinstance(x, float) and math.isnan(x) else x for x in b.tolist()]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(documents(), st.sampled_from(["web", "stackexchange", "c4"]),
                          st.sampled_from(["en", "de", "ja", None])), min_size=1, max_size=6),
       st.integers(0, len(OPTIONS) - 1), st.booleans())
def test_fast_path_equals_the_patterns_over_every_line(
        docs: list[tuple[str, str, str | None]], option: int, large: bool) -> None:
    texts = [d[0] for d in docs]
    batch = pa.record_batch({
        "id": [f"d{i}" for i in range(len(docs))],
        "text": pa.array(texts, pa.large_string() if large else pa.string()),
        "source": [d[1] for d in docs], "lang": pa.array([d[2] for d in docs], pa.string())})
    stage = C4Quality(**OPTIONS[option])
    fast_docs, ref_docs = Docs(batch), Docs(batch)
    fast = stage.transform(fast_docs)
    stage._reference = True
    ref = stage.transform(ref_docs)
    assert fast.keep.tolist() == ref.keep.tolist()
    assert _same(fast.reason, ref.reason)
    assert _same(fast.score, ref.score) and _same(fast.threshold, ref.threshold)
    assert fast.detail == ref.detail
    assert fast.text is not None and ref.text is not None
    assert fast.text.to_pylist() == ref.text.to_pylist()
    assert _same(fast.modified, ref.modified)
    assert fast_docs.counters == ref_docs.counters


def test_fast_path_equals_the_reference_on_real_pages() -> None:
    """Every real page of the test data as it is, in one batch, under each option set."""
    batch = pa.record_batch({"id": [f"d{i}" for i in range(len(_PAGES))], "text": _PAGES})
    for options in OPTIONS:
        stage = C4Quality(**options)
        fast = stage.transform(Docs(batch))
        stage._reference = True
        ref = stage.transform(Docs(batch))
        assert fast.keep.tolist() == ref.keep.tolist() and fast.detail == ref.detail
        assert fast.text is not None and ref.text is not None
        assert fast.text.to_pylist() == ref.text.to_pylist()
        assert sum(d is not None for d in fast.detail or []) > 10  # the rules did work


EDGE_CHARS = [*". ?!\"'”“’‘»«›‹」』）)]】〕〉》:;…。！？｡ (abcXYZäßΣσ-1",
              "\u0301", "\u0964", "\U00011047", "\u2024", "ǅ", "\u00a0", "\t", "é", "漢"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(EDGE_CHARS), max_size=8), min_size=1,
                max_size=20))
@example(["a.", "a...", "...", "..", "x.”", "x. (y)", "x.) (y)", "(y)", "x:", ":", "", "ǅx",
          "σ", "x…”"])
def test_line_edges_equal_their_patterns(lines: list[str]) -> None:
    values = pa.array(lines)
    fast, ref = c4._Edges(values), c4._Edges(values, reference=True)
    for closing in (False, True):
        assert fast.ends(closing).tolist() == ref.ends(closing).tolist()
    assert fast.colon().tolist() == ref.colon().tolist()
    assert fast.lower_start().tolist() == ref.lower_start().tolist()


@settings(max_examples=400, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from([*EDGE_CHARS, "x", "7", "\u3001"]),
                        max_size=12), min_size=1, max_size=20))
@example(["Ein Satz. Noch", "am 30. April", "a... b", "漢。か", "漢。」", "漢。 か", "a.\u00a0b"])
def test_head_prefilter_is_where_the_cut_patterns_match(lines: list[str]) -> None:
    values = pa.array(lines)
    want = (pc.match_substring_regex(values, c4._CUT_TAIL).to_numpy(zero_copy_only=False)
            | pc.match_substring_regex(values, c4._CUT_TAIL_CJK).to_numpy(zero_copy_only=False))
    got = c4._may_have_head(values, np.ones(len(lines), dtype=bool))
    assert got.tolist() == want.tolist()


BREAKS = ["\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029",
          "é", "è", "Å", "х", "…", "\u2027", "\u202a", "\u00a0", "a", " "]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(BREAKS), max_size=6), max_size=8))
def test_other_line_breaks_by_bytes_equal_re2(texts: list[str]) -> None:
    values = pa.array(texts, pa.string())
    want = pc.match_substring_regex(values, T._OTHER_BREAKS).to_numpy(zero_copy_only=False)
    assert T._other_line_break_docs(values).tolist() == want.tolist()
    # and split as RE2 splits
    got, ref = T.split_lines(values), T.split_pieces_regex(values, T.LINE_BREAK)
    assert got.values.to_pylist() == ref.values.to_pylist()
    assert got.offsets.tolist() == ref.offsets.tolist()


def test_only_two_characters_besides_a_to_z_lower_case_to_ascii_letters() -> None:
    """`caseless` needs every character whose `utf8_lower` is an ASCII letter."""
    cps = [c for c in range(0x80, 0x110000) if not 0xD800 <= c < 0xE000]
    low = pc.utf8_lower(pa.array([chr(c) for c in cps])).to_pylist()
    found = {chr(c): x for c, x in zip(cps, low, strict=True) if len(x) == 1 and x.isascii()
             and x.isalpha()}
    assert found == {v: k for k, v in c4._LOWERS_TO.items()}


CASES = ["i", "I", "\u0130", "\u0131", "k", "K", "\u212a", "s", "S", "\u017f", "a", "A", "x",
         " ", "\u00a0", "j"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(CASES), max_size=12), min_size=1, max_size=10),
       st.sampled_from(["ik", "kis", "a sik", "j", "|".join(c4.POLICY_PHRASES), "javascript"]))
@example(["J\u0130K\u212a", "ss", "\u017fs"], "sik|ss")
def test_caseless_phrases_equal_the_lower_cased_match(lines: list[str], phrases: str) -> None:
    values = pa.array(lines)
    want = pc.match_substring_regex(pc.utf8_lower(values), phrases)
    assert pc.match_substring_regex(values, c4.caseless(phrases)).to_pylist() == \
        want.to_pylist()
