"""Tests of the `spam` stage on real text (tests/data/spam/README.md says where it comes from)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpusfilter.core import registry
from corpusfilter.core.docs import Docs
from corpusfilter.core.errors import ConfigError
from corpusfilter.core.pipeline import Pipeline
from corpusfilter.filters.spam import METRICS, Spam, char_counts, top_token_share

SLICE = Path(__file__).resolve().parent / "data" / "spam" / "spam_slice.parquet"
RULE_PARAMS = {
    "url_density": "max_url_density",
    "boilerplate_density": "max_boilerplate_density",
    "top_token_share": "max_top_token_share",
    "title_repetition": "max_title_repetition",
    "caps_ratio": "max_caps_ratio",
    "digit_symbol_ratio": "max_digit_symbol_ratio",
}


@pytest.fixture(scope="module")
def data() -> pa.Table:
    return pq.read_table(SLICE)


def rows(table: pa.Table, kind: str) -> pa.Table:
    import pyarrow.compute as pc

    if kind.endswith("*"):
        return table.filter(pc.starts_with(table["kind"], kind[:-1]))
    return table.filter(pc.equal(table["kind"], kind))


def docs_of(texts: list[str], lang: list[str | None] | None = None) -> Docs:
    cols = {"id": pa.array([f"d{i}" for i in range(len(texts))]),
            "text": pa.array(texts, pa.string())}
    if lang is not None:
        cols["lang"] = pa.array(lang, pa.string())
    return Docs(pa.record_batch(cols))


def run(stage: Spam, table: pa.Table, batch_size: int = 1000):
    return Pipeline([stage]).run(table.select(["id", "text", "lang"]), batch_size=batch_size)


def test_registered_and_configurable_from_a_pipeline_file() -> None:
    assert registry.get("spam") is Spam
    pipe = Pipeline({"stages": [{"stage": "spam", "max_caps_ratio": None,
                                 "overrides": {"de": {"max_url_density": 0.5}}}]})
    assert pipe is not None


@pytest.mark.parametrize("params", [
    {"max_url_density": 1.5}, {"max_caps_ratio": -0.1}, {"max_top_token_share": "high"},
    {"min_words": -1}, {"overrides": {"de": {"max_colour": 0.3}}}, {"overrides": {"de": 0.3}},
])
def test_invalid_parameters_are_clear_errors(params: dict) -> None:
    with pytest.raises(ValueError):
        Spam(**params)
    with pytest.raises(ConfigError):
        Pipeline({"stages": [{"stage": "spam", **params}]})


def test_good_documents_in_many_languages_are_kept(data: pa.Table) -> None:
    good = rows(data, "good*")
    assert {"en", "ja", "zh", "ko", "ru", "ar", "de", "hi"} <= set(good["lang"].to_pylist())
    result = run(Spam(), good)
    assert result.kept.num_rows == good.num_rows, result.ledger.to_pylist()


@pytest.mark.parametrize("metric", ["url_density", "boilerplate_density",
                                    "title_repetition", "digit_symbol_ratio"])
def test_each_rule_removes_its_real_page_with_reason_score_and_threshold(
        data: pa.Table, metric: str) -> None:
    page = rows(data, f"flagged:{metric}")
    assert page.num_rows == 1
    stage = Spam()
    limit = stage.limits[RULE_PARAMS[metric]]
    only = Spam(**{p: (limit if m == metric else None) for m, p in RULE_PARAMS.items()})
    result = run(only, page)
    assert result.kept.num_rows == 0
    (row,) = result.ledger.to_pylist()
    assert row["reason"] == f"spam.{metric}"
    assert row["threshold"] == pytest.approx(limit)
    assert row["score"] > limit
    # switched off, the same rule keeps the page
    off = Spam(**{p: None for p in RULE_PARAMS.values()})
    assert run(off, page).kept.num_rows == 1


def test_url_density_counts_only_url_characters() -> None:
    text = ("Visit https://example.com/offer?id=12345 or www.cheap-pills.biz now, write to "
            "sales@cheap-pills.biz")
    share = Spam().score(docs_of([text]))["url_density"][0]
    url_chars = sum(len(u) for u in ("https://example.com/offer?id=12345", "www.cheap-pills.biz",
                                     "sales@cheap-pills.biz"))
    assert share == pytest.approx(url_chars / len(re.sub(r"\s", "", text)))


def test_keyword_stuffing_on_a_real_paragraph(data: pa.Table) -> None:
    """Stuffing a keyword into a real article (as SEO spam does) trips the rule; the article
    alone does not."""
    article = rows(data, "good")["text"][0].as_py()
    words = article.split()
    stuffed = " ".join(w + (" casino" if i % 3 == 0 else "") for i, w in enumerate(words))
    scores = Spam().score(docs_of([article, stuffed]))["top_token_share"]
    assert scores[0] < 0.2 < scores[1]
    result = Pipeline([Spam()]).run(pa.table({"id": ["a", "s"], "text": [article, stuffed]}))
    assert result.kept["id"].to_pylist() == ["a"]
    assert result.ledger["reason"].to_pylist() == ["spam.top_token_share"]


def test_caps_ratio_on_shouted_real_text(data: pa.Table) -> None:
    article = rows(data, "good")["text"][1].as_py()[:2000]
    scores = Spam().score(docs_of([article, article.upper()]))["caps_ratio"]
    assert scores[0] < 0.2 and scores[1] > 0.9
    result = Pipeline([Spam()]).run(pa.table({"id": ["a", "s"],
                                              "text": [article, article.upper()]}))
    assert result.ledger["reason"].to_pylist() == ["spam.caps_ratio"]


def test_caseless_and_unspaced_scripts_are_not_judged_by_latin_rules(data: pa.Table) -> None:
    cjk = rows(data, "good_raw").filter(pa.compute.is_in(
        rows(data, "good_raw")["lang"], pa.array(["ja", "zh"])))
    cjk = pa.concat_tables([cjk.select(["id", "text", "lang"]),
                            rows(data, "cjk_raw").select(["id", "text", "lang"])])
    texts = cjk["text"].to_pylist()
    docs = docs_of(texts, cjk["lang"].to_pylist())
    scores = Spam().score(docs)
    counts = char_counts(texts)
    from corpusfilter.filters.spam import LETTER, UNSPACED

    mostly_unspaced = counts[UNSPACED] > 0.3 * counts[LETTER]
    assert mostly_unspaced.sum() >= 3
    assert np.isnan(scores["top_token_share"][mostly_unspaced]).all()
    assert np.isnan(scores["caps_ratio"][mostly_unspaced]).all()
    assert docs.counters["top_token_share.skipped_unsupported_script"] == mostly_unspaced.sum()
    result = Pipeline([Spam()]).run(cjk)
    assert result.stats.data["stages"]["spam"]["counters"][
        "top_token_share.skipped_unsupported_script"] == mostly_unspaced.sum()


def test_punctuation_and_symbols_are_not_words() -> None:
    _, total = top_token_share(pa.array(["— , , ; ... !!! ??? « » • | 42 % %"]), 1)
    assert total[0] == 1  # only "42"


def test_spam_messages_score_higher_than_ham(data: pa.Table) -> None:
    """A sanity check of the metrics on labelled SMS (short messages: a secondary signal)."""
    spam = Spam().score(docs_of(rows(data, "sms_spam")["text"].to_pylist()))
    ham = Spam().score(docs_of(rows(data, "sms_ham")["text"].to_pylist()))
    for metric in ("url_density", "digit_symbol_ratio", "caps_ratio"):
        assert np.nanmean(spam[metric]) > 2 * np.nanmean(ham[metric]), metric


def test_per_language_overrides(data: pa.Table) -> None:
    page = rows(data, "flagged:url_density").select(["id", "text"])
    for lang, expect in (("vi", 1), ("en", 0)):
        table = page.append_column("lang", pa.array([lang]))
        stage = Spam(overrides={"vi": {"max_url_density": None}})
        assert run(stage, table).kept.num_rows == expect
    # a stricter override for one language: the good German page goes at 0 caps
    de = rows(data, "good_raw").filter(pa.compute.equal(rows(data, "good_raw")["lang"], "de"))
    strict = Spam(overrides={"de": {"max_caps_ratio": 0.0}})
    result = run(strict, de)
    assert result.ledger["reason"].to_pylist() == ["spam.caps_ratio"]
    assert result.ledger["threshold"].to_pylist() == [0.0]


def test_empty_batch_and_tiny_documents() -> None:
    stage = Spam()
    empty = docs_of([])
    scores = stage.score(empty)
    assert all(len(scores[m]) == 0 for m in METRICS)
    assert len(stage.decide(empty, scores).keep) == 0
    tiny = docs_of(["", "OK!!!", "WWW.X.COM"])
    out = stage.decide(tiny, stage.score(tiny))
    assert out.keep.all()


def test_decisions_do_not_depend_on_batching(data: pa.Table) -> None:
    table = data.select(["id", "text", "lang"])
    whole = run(Spam(), table, batch_size=10_000)
    small = run(Spam(), table, batch_size=7)
    assert whole.kept.equals(small.kept)
    assert whole.ledger.select(["doc_id", "reason", "score", "threshold"]).equals(
        small.ledger.select(["doc_id", "reason", "score", "threshold"]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=300), min_size=1, max_size=8))
def test_scores_are_ratios_and_per_document(texts: list[str]) -> None:
    stage = Spam()
    batch_scores = stage.score(docs_of(texts))
    for metric in METRICS:
        values = batch_scores[metric]
        assert len(values) == len(texts)
        finite = values[~np.isnan(values)]
        assert ((finite >= 0) & (finite <= 1)).all(), metric
    for i, text in enumerate(texts):
        alone = stage.score(docs_of([text]))
        for metric in METRICS:
            np.testing.assert_allclose(alone[metric], batch_scores[metric][i:i + 1],
                                       equal_nan=True)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["price", "cheap", "the", "Mobile", "shop", "Preis", "günstig",
                                 "дешево", "цена", "2024"]), min_size=50, max_size=120),
       st.lists(st.sampled_from([" ", ", ", " - ", " | ", "! ", "\n", " ... ", " • "]),
                min_size=1, max_size=5))
def test_top_token_share_ignores_punctuation_between_words(words: list[str],
                                                           seps: list[str]) -> None:
    plain = " ".join(words)
    punctuated = "".join(w + seps[i % len(seps)] for i, w in enumerate(words))
    a, n_a = top_token_share(pa.array([plain, punctuated]), 50)
    assert n_a[0] == n_a[1] == len(words)
    assert a[0] == pytest.approx(a[1])
    counts = {w.lower(): 0 for w in words}
    for w in words:
        counts[w.lower()] += 1
    assert a[0] == pytest.approx(max(counts.values()) / len(words))


def test_trailing_whitespace_after_non_ascii_words_does_not_make_new_words() -> None:
    """Regression: pyarrow's utf8_split_whitespace kept "preis " as a word of its own."""
    text = " ".join(["Mobile", "дешево", "Preis"] * 20) + " "
    share, total = top_token_share(pa.array([text, text.strip()]), 50)
    assert total.tolist() == [60, 60]
    assert share.tolist() == pytest.approx([1 / 3, 1 / 3])


# -- speed layers against the straightforward paths they replace -----------------------------

def _boilerplate_lines_reference(text: pa.Array, max_line_chars: int
                                 ) -> tuple[np.ndarray, np.ndarray]:
    """Every line searched by all three regexes (the path before short lines were picked)."""
    import pyarrow.compute as pc

    from corpusfilter.filters import spam

    lines = pc.split_pattern(text, "\n")
    flat = pc.utf8_trim_whitespace(pc.list_flatten(lines))
    parent = pc.list_parent_indices(lines).to_numpy()
    length = flat.to_numpy(zero_copy_only=False)
    length = np.array([len(x) for x in length], dtype=np.float64)
    nonempty = length > 0
    short = nonempty & (length <= max_line_chars)
    hit = np.zeros(len(flat), dtype=bool)
    for pattern in (spam._PHRASE_RE, spam._LINE_RE, spam._NAV_LINE):
        hit |= pc.match_substring_regex(flat, pattern).to_numpy(zero_copy_only=False)
    n = len(text)
    return (np.bincount(parent, weights=(short & hit).astype(np.float64), minlength=n),
            np.bincount(parent, weights=nonempty.astype(np.float64), minlength=n))


def _top_reference(text: pa.Array, min_words: int) -> tuple[np.ndarray, np.ndarray]:
    """Top word share by a Python dictionary per document over the same Arrow words."""
    import pyarrow.compute as pc

    from corpusfilter.filters import spam

    cleaned = pc.replace_substring_regex(text, rf"[{spam._UNSPACED}]+|{spam._NON_WORD}", " ")
    share, total = [], []
    for doc in pc.utf8_lower(cleaned).to_pylist():
        counts: dict[str, int] = {}
        for w in doc.split(" "):
            if w:
                counts[w] = counts.get(w, 0) + 1
        n = sum(counts.values())
        total.append(float(n))
        share.append(max(counts.values()) / n if n >= max(min_words, 1) else np.nan)
    return np.array(share), np.array(total)


LINE_BITS = ["Home", "Menu", "Read more", "Add to cart", "Lire la suite", "Facebook | Twitter | "
             "Mail", "© 2024 All rights reserved", "A sentence of ordinary prose, long enough to "
             "be more than a hundred characters when it is repeated twice over. " * 2,
             "Tweet", "x", "", "   ", "日本語の文", "Kontakt", "you are here: a » b » c",
             # boilerplate exactly at the two line-length limits drawn below, and one past
             "Read more " + "x" * 10, "Read more " + "x" * 11, "Add to cart " + "y" * 88,
             "Add to cart " + "y" * 89]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(st.sampled_from(LINE_BITS) | st.text(max_size=40), max_size=12)
                .map("\n".join), min_size=1, max_size=8),
       st.sampled_from([20, 100]))
def test_boilerplate_lines_match_the_every_line_reference(texts: list[str], limit: int
                                                          ) -> None:
    from corpusfilter.filters.spam import boilerplate_lines

    arr = pa.array(texts, pa.string())
    got = boilerplate_lines(arr, limit)
    want = _boilerplate_lines_reference(arr, limit)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["Preis", "preis", "PREIS", "günstig", "日本", "x",
                                          "2024", "Σ", "ς", "σ", "İ", " ", ", ", "\n", "é",
                                          "e\u0301"]) | st.text(max_size=6),
                         max_size=60).map("".join), min_size=1, max_size=6),
       st.sampled_from([0, 1, 5]))
def test_top_token_share_matches_a_dictionary_count(texts: list[str], min_words: int) -> None:
    arr = pa.array(texts, pa.string())
    got = top_token_share(arr, min_words)
    want = _top_reference(arr, min_words)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_allclose(got[0], want[0], equal_nan=True, rtol=0, atol=0)


def test_speed_layers_on_real_pages(data: pa.Table) -> None:
    text = data["text"].combine_chunks()
    from corpusfilter.filters.spam import boilerplate_lines

    for got, want in ((boilerplate_lines(text, 100), _boilerplate_lines_reference(text, 100)),
                      (top_token_share(text, 50), _top_reference(text, 50))):
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_allclose(got[0], want[0], equal_nan=True, rtol=0, atol=0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from(LINE_BITS), max_size=14).map("\n".join),
                min_size=1, max_size=6),
       st.sampled_from([0, 1, 3, 10]))
def test_boilerplate_density_skips_only_documents_without_enough_lines(
        texts: list[str], min_lines: int) -> None:
    """Lines of documents with fewer than `min_lines` lines are not searched: the stage's
    density is still the every-line reference's, NaN for those documents."""
    from corpusfilter.filters.spam import ratio_or_nan

    stage = Spam(min_lines=min_lines, min_chars=0)
    got = stage.score(docs_of(texts))["boilerplate_density"]
    bp, lines = _boilerplate_lines_reference(pa.array(texts, pa.string()),
                                             stage.max_boilerplate_line_chars)
    want = ratio_or_nan(bp, lines, max(min_lines, 1))
    small = np.array([len("".join(t.split())) < 1 for t in texts])
    want[small] = np.nan
    np.testing.assert_array_equal(got, want)


# Pieces where the byte-level word cut can go wrong: unspaced scripts next to Latin letters,
# combining marks, digits of other scripts, case pairs that change byte length when
# lower-cased (İ, Ⱥ), symbols, emoji, and words touching a document's edge.
WORD_BITS = ["Preis", "ÖL", "e\u0301", "\u0301", "İ", "Ⱥ", "ΣΑΣ", "日本", "ไทย", "ກາ", "123",
             "٣", "a'b", "—", " ", "\n", "🙂", "x", "Straße", "ß", "ǅ", "\u200d", "ﬁ"]


@settings(max_examples=120, deadline=None)
@given(st.lists(st.lists(st.sampled_from(WORD_BITS) | st.text(max_size=4), max_size=30)
                .map("".join), min_size=0, max_size=7),
       st.sampled_from([0, 1, 3]), st.booleans(), st.integers(0, 2))
def test_top_token_share_byte_words_match_the_regex_definition(
        texts: list[str], min_words: int, large: bool, offset: int) -> None:
    """The NumPy word cut gives the words (and so the scores) of the RE2 replacement it
    replaced, for string and large string arrays and for a slice not starting at 0."""
    from corpusfilter.filters.spam import top_token_share_regex

    arr = pa.array(["pad"] * offset + texts, pa.large_string() if large else pa.string())
    arr = arr.slice(offset)
    got = top_token_share(arr, min_words)
    want = top_token_share_regex(arr, min_words)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])


def test_top_token_share_regex_definition_on_real_pages(data: pa.Table) -> None:
    from corpusfilter.filters.spam import top_token_share_regex

    text = data["text"].combine_chunks()
    got, want = top_token_share(text, 50), top_token_share_regex(text, 50)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])
    assert np.isfinite(got[0]).sum() > 10  # the pages have enough words to be judged


@settings(max_examples=120, deadline=None)
@given(st.lists(st.lists(st.sampled_from([*WORD_BITS, "\t", "\u3000", "€", "½", "Ⅻ", "\x85"])
                         | st.text(max_size=4), max_size=30).map("".join),
                min_size=0, max_size=7),
       st.integers(0, 2))
def test_char_counts_from_utf8_bytes_match_the_per_string_counts(texts: list[str],
                                                                 offset: int) -> None:
    from corpusfilter.filters.spam import char_counts_utf8
    from corpusfilter.utf8 import decode_non_ascii, utf8_buffer

    arr = pa.array(["pad"] * offset + texts, pa.string()).slice(offset)
    buf = utf8_buffer(arr)
    got = char_counts_utf8(buf, decode_non_ascii(buf.data))
    want = char_counts(texts)
    assert sorted(got) == sorted(want)
    for bit in want:
        np.testing.assert_array_equal(got[bit], want[bit])


def test_char_counts_from_utf8_bytes_on_real_pages(data: pa.Table) -> None:
    from corpusfilter.filters.spam import char_counts_utf8
    from corpusfilter.utf8 import decode_non_ascii, utf8_buffer

    text = data["text"].combine_chunks()
    buf = utf8_buffer(text)
    got = char_counts_utf8(buf, decode_non_ascii(buf.data))
    want = char_counts(text.to_pylist())
    for bit in want:
        np.testing.assert_array_equal(got[bit], want[bit])
