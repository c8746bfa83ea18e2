"""The RE2 rewrite of a Python regex never misses a line the original matches (the speed
layer of unicode_fix's mojibake check), and it still rules out ordinary text."""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from ftfy.badness import BADNESS_RE
from hypothesis import example, given, settings
from hypothesis import strategies as st

from corpusfilter.regex_superset import ANY_CHAR, code_point_class, superset_re2

BADNESS = superset_re2(BADNESS_RE)


def re2_matches(texts: list[str], pattern: str) -> list[bool]:
    return pc.match_substring_regex(pa.array(texts, pa.string()), pattern).to_pylist()


def lines(text: str) -> list[str]:
    """ftfy's unit: every line with its newline."""
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def mojibake(text: str, codec: str) -> str:
    return text.encode("utf-8").decode(codec, errors="replace")


# Real-text-like input in several scripts, plus the mojibake of it in the usual wrong codecs.
WORDS = st.sampled_from([
    "café", "crème brûlée", "Straße", "naïve", "São Paulo", "Œuvre", "œil", "€ 5", "№ 3",
    "привет мир", "Ελληνικά", "日本語の文章", "한국어", "العربية", "हिन्दी", "“quoted”", "‘x’",
    "—", "…", "Â ", "Ã ", "\u00a0", "©", "®", "±", "°C", "the", "a", "1990", ".", ",", "\t",
])
FRAGMENT = st.one_of(
    WORDS,
    st.builds(mojibake, WORDS, st.sampled_from(["latin-1", "cp1252", "cp1251", "cp1250",
                                                 "cp1253", "cp1257", "mac_roman", "cp437"])),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6),
)
DOCS = st.lists(st.one_of(FRAGMENT, st.just(" "), st.just("\n")), min_size=1,
                max_size=30).map("".join)


def test_badness_regex_is_rewritten():
    assert BADNESS is not None


@settings(max_examples=300, deadline=None)
@given(docs=st.lists(DOCS, min_size=1, max_size=10))
@example(docs=["Voilà!\nÃ la carte", "ok\nÂ x", "œ\n", "ГўВЂВ\nx", "a\u00a0Ã "])
def test_rewrite_flags_every_document_with_a_bad_line(docs):
    got = re2_matches(docs, BADNESS)
    for doc, flagged in zip(docs, got, strict=True):
        if any(BADNESS_RE.search(line) for line in lines(doc)):
            assert flagged, doc


def test_rewrite_rules_out_ordinary_text():
    clean = ["Une crème brûlée, s'il vous plaît.", "Die Straße ist naß.",
             "привет, мир", "日本語の文章です。", "“Quoted” — and … done.", "plain ascii"]
    assert not any(BADNESS_RE.search(t) for t in clean)
    assert re2_matches(clean, BADNESS) == [False] * len(clean)
    assert all(re2_matches(["cafÃ© crÃ¨me", "Ð¿Ñ€Ð¸Ð²ÐµÑ‚"], BADNESS))


SMALL = [r"^[ÃÂ] ", r"[a-z]\s?[ÃÂ][ ]", r"[Œœ][^A-Za-z]", r"ГўВЂВ.[A-Za-z ]",
         r"x{2,3}y|[\wé]é", r"(?:ab|c)+d", r"[^\s]ß"]


@pytest.mark.parametrize("source", SMALL)
@settings(max_examples=150, deadline=None)
@given(doc=st.lists(st.sampled_from(list("abcdxyéßœŒÃÂ \n\t.ГўВЂ\u00a0")),
                    max_size=14).map("".join))
def test_rewrite_of_small_patterns_is_a_superset(source, doc):
    pattern = re.compile(source)
    rewritten = superset_re2(pattern)
    assert rewritten is not None
    if any(pattern.search(line) for line in lines(doc)):
        assert re2_matches([doc], rewritten) == [True], (source, doc)


@pytest.mark.parametrize("source,flags", [
    (r"(a)?(?(1)b|c)", 0), ("abc", re.IGNORECASE), (r"(?i:abc)", 0), (r"a{2000}", 0),
])
def test_what_cannot_be_rewritten_is_refused(source, flags):
    assert superset_re2(re.compile(source, flags)) is None


@pytest.mark.parametrize("source,doc", [
    (r"(?<![\w.])\d{3}(?!\d)", "x1234"), (r"\bab$", "xab"), (r"(\d)-\1", "1-2"),
])
def test_conditions_on_the_surroundings_are_dropped(source, doc):
    assert not re.search(source, doc)
    assert re2_matches([doc], superset_re2(re.compile(source))) == [True]


def test_categories_hold_every_character_pythons_do():
    cps = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    chars = [chr(c) for c in cps]
    for category in ("\\d", "\\w", "\\s"):
        python = re.compile(category)
        rewritten = superset_re2(python)
        assert rewritten is not None and rewritten != ANY_CHAR
        hit = re2_matches(chars, f"^{rewritten}$")
        missed = [hex(c) for c, h, ch in zip(cps, hit, chars, strict=True)
                  if not h and python.match(ch)]
        assert missed == [], (category, missed[:10])


@given(st.sets(st.integers(0, 0x10FFFF), max_size=40), st.text(max_size=20))
@settings(deadline=None)
def test_code_point_class_is_exact(chars, text):
    text = "".join(c for c in text if not 0xD800 <= ord(c) <= 0xDFFF)
    chars = {c for c in chars if not 0xD800 <= c <= 0xDFFF}
    cls = code_point_class(chars)
    if not chars:
        assert cls == ""
        return
    expected = any(ord(c) in chars for c in text)
    assert re2_matches([text], cls) == [expected]
