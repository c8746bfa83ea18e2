"""The shared text utilities of the heuristic filters: words, lines, duplicates, n-grams,
stop words and per-language thresholds."""

from __future__ import annotations

import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpusfilter.filters import text as T

DATA = Path(__file__).parent / "data" / "heuristics"


def words_of(*texts: str) -> list[list[str]]:
    w = T.split_words(pa.array(list(texts)))
    vals = w.values.to_pylist()
    return [vals[w.offsets[i]:w.offsets[i + 1]] for i in range(len(texts))]


def test_words_skip_punctuation_and_keep_apostrophes() -> None:
    assert words_of("Hello, world! It's -- a test... (really)")[0] == [
        "Hello", "world", "It's", "a", "test", "really"]
    assert words_of("... !!! -- | © ®")[0] == []
    assert words_of("")[0] == []


def test_words_in_spaceless_scripts_are_characters() -> None:
    zh, ja, mixed = words_of("我爱北京。", "日本語のテキスト", "GPU显卡 2024年")
    assert zh == ["我", "爱", "北", "京"]
    assert ja == ["日", "本", "語", "の", "テ", "キ", "ス", "ト"]
    assert mixed == ["GPU", "显", "卡", "2024", "年"]
    # Korean is written with spaces: ordinary words
    assert words_of("안녕하세요 세계")[0] == ["안녕하세요", "세계"]


@settings(deadline=None)
@given(st.lists(st.text(alphabet=st.characters(categories=["P", "S", "Z", "Cc"]),
                        max_size=40), max_size=5))
def test_punctuation_is_never_a_word(texts: list[str]) -> None:
    for w in words_of(*texts) if texts else []:
        assert w == []


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(exclude_categories=["Cn", "Cs", "Co"]),
                        max_size=60), min_size=1, max_size=6))
def test_batch_split_equals_one_by_one(texts: list[str]) -> None:
    together = words_of(*texts)
    assert together == [words_of(t)[0] for t in texts]
    for words in together:
        for w in words:
            assert w and not any(unicodedata.category(c)[0] in "PSZC" and c not in "'’"
                                 for c in w)


def test_real_multilingual_documents_have_words() -> None:
    t = pq.read_table(DATA / "multilingual.parquet")
    w = T.split_words(t["text"])
    assert (w.counts > 50).all()
    by_lang = dict(zip(t["id"].to_pylist(), t["lang"].to_pylist(), strict=True))
    for i, doc_id in enumerate(t["id"].to_pylist()):
        mean = w.lengths[w.offsets[i]:w.offsets[i + 1]].mean()
        if by_lang[doc_id] in ("de", "fr", "es", "ru"):
            assert 3 <= mean <= 10, doc_id
        if doc_id == "langid-zh":
            assert mean < 2  # one character per word, digits and Latin runs aside


def brute_first(pieces: list[list[str]]) -> list[bool]:
    out = []
    for doc in pieces:
        seen: set[str] = set()
        for p in doc:
            out.append(p not in seen)
            seen.add(p)
    return out


@settings(deadline=None)
@given(st.lists(st.lists(st.sampled_from(["a", "b", "c", "dd"]), max_size=12), max_size=6))
def test_first_occurrence_within_document(docs: list[list[str]]) -> None:
    pieces = T.Pieces(pa.array([p for d in docs for p in d], pa.string()),
                      np.concatenate([[0], np.cumsum([len(d) for d in docs])]).astype(np.int64))
    assert pieces.first.tolist() == brute_first(docs)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["x", "y", "z", "ww"]), max_size=30), min_size=1,
                max_size=5))
def test_ngram_repeats_match_brute_force(docs: list[list[str]]) -> None:
    text = pa.array([" ".join(d) for d in docs])
    words = T.split_words(text)
    reps = T.ngram_repeats(words, 6)
    base = 0
    expected: dict[int, list[tuple[int, int, bool]]] = {n: [] for n in range(1, 7)}
    for d in docs:
        for n in range(1, 7):
            grams = [tuple(d[i:i + n]) for i in range(len(d) - n + 1)]
            counts = Counter(grams)
            seen: set[tuple[str, ...]] = set()
            for i, g in enumerate(grams):
                if counts[g] >= 2:
                    expected[n].append((base + i, counts[g], g not in seen))
                seen.add(g)
        base += len(d)
    for n in range(1, 7):
        got = list(zip(reps[n].start.tolist(), reps[n].count.tolist(), reps[n].first.tolist(),
                       strict=True))
        assert got == expected[n], n


def test_lines_and_sentence_terminals() -> None:
    lines = T.split_lines(pa.array(["a\r\nb\nc\u2028d", ""]))
    assert lines.values.to_pylist()[:4] == ["a", "b", "c", "d"]
    ends = T.Pieces(pa.array(["Done.", "Fertig!", "完了。", "खत्म।", "none", "list:"]),
                    np.array([0, 6]))
    assert ends.matches(f"[{T.SENTENCE_TERMINALS}]$").tolist() == [
        True, True, True, True, False, False]


def test_stop_words_per_language() -> None:
    assert T.stop_words("en") == frozenset(T.GOPHER_STOP_WORDS)
    de = T.stop_words("de")
    assert de is not None and {"und", "der", "die"} <= de
    zh = T.stop_words("zh")
    assert zh is not None and "的" in zh and all(len(w) == 1 for w in zh)
    assert T.stop_words("th") is None  # only multi-character entries: unsupported
    assert T.stop_words("xx") is None


def test_lang_normalisation_and_defaults() -> None:
    assert T.normalise_lang("en-US") == "en"
    assert T.normalise_lang("deu_Latn") == "deu"
    assert T.normalise_lang(" ") is None
    langs = T.doc_langs(["de", None, "EN_us"], 3, "en")
    assert langs.tolist() == ["de", "en", "en"]
    assert T.doc_langs(None, 2, None).tolist() == [None, None]


def test_lang_params_shape_and_errors() -> None:
    p = T.LangParams("s", {"a": 1.0, "b": None}, {"de": {"a": 2.0}, "fr-FR": {"a": None}})
    langs = np.array(["en", "de", "fr", None], dtype=object)
    vals = p.values("a", langs)
    assert isinstance(vals, np.ndarray)
    assert vals[:3].tolist()[:2] == [1.0, 2.0] and np.isnan(vals[2]) and vals[3] == 1.0
    assert p.values("b", langs) is None
    with pytest.raises(ValueError, match="unknown parameter 'c'"):
        T.LangParams("s", {"a": 1.0}, {"de": {"c": 1}})
    with pytest.raises(ValueError, match="mapping"):
        T.LangParams("s", {"a": 1.0}, {"de": 3})
    with pytest.raises(ValueError, match="quote it"):
        T.LangParams("s", {"a": 1.0}, {False: {"a": 2.0}})  # YAML's reading of `no:`


@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=6),
       st.sampled_from([".", ",", ":"]))
def test_a_number_with_separators_is_one_word(parts: list[int], sep: str) -> None:
    number = sep.join(str(p) for p in parts)
    words = T.split_words(pa.array([f"Umsatz {number} Euro"])).values.to_pylist()
    assert words == ["Umsatz", number.replace(sep, ""), "Euro"]


def test_numbers_do_not_lower_the_alphabetic_word_ratio() -> None:
    # a real sentence of a Spanish news article (dev data, trafilatura's evaluation set)
    text = ("Nicaragua cerró 2021 con una deuda externa total de 14.372,4 millones de "
            "dólares, lo que equivale al 102,6 % del producto interior bruto")
    words = T.split_words(pa.array([text])).values.to_pylist()
    assert "143724" in words and "1026" in words
    assert sum(not w.isdigit() for w in words) / len(words) >= 0.8
