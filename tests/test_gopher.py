"""`gopher_quality` and `gopher_repetition` on real documents (tests/data/heuristics)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpusfilter import Pipeline
from corpusfilter.core.docs import Docs
from corpusfilter.core.errors import ConfigError
from corpusfilter.filters.gopher import GopherQuality, GopherRepetition
from corpusfilter.filters.text import split_words

DATA = Path(__file__).parent / "data" / "heuristics"
ENGLISH = pq.read_table(DATA / "datatrove_decisions.parquet")
MULTI = pq.read_table(DATA / "multilingual.parquet")


def english_good(k: int = 3) -> list[str]:
    """Real English pages that datatrove's Gopher quality and repetition filters keep."""
    rows = ENGLISH.to_pylist()
    good = [r["text"] for r in rows if r["dt_gopher_quality"] and r["dt_gopher_repetition"]
            and 400 < len(r["text"].split()) < 3000]
    assert len(good) >= k
    return good[:k]


def multi(doc_id: str) -> dict[str, Any]:
    return next(r for r in MULTI.to_pylist() if r["id"] == doc_id)


def run(stage: dict[str, Any], texts: list[str], langs: list[str | None] | None = None,
        batch_size: int = 1000) -> tuple[dict[str, tuple[str, float, float]], dict[str, Any]]:
    cols: dict[str, Any] = {"id": [f"d{i}" for i in range(len(texts))], "text": texts}
    if langs is not None:
        cols["lang"] = pa.array(langs, pa.string())
    result = Pipeline({"stages": [stage]}).run(pa.table(cols), batch_size=batch_size)
    removed = {r["doc_id"]: (r["reason"], r["score"], r["threshold"])
               for r in result.ledger.to_pylist() if r["action"] == "removed"}
    return removed, result.stats.data["stages"][stage.get("name", stage["stage"])]


def test_real_pages_kept_and_each_rule_fires_with_its_reason() -> None:
    good = english_good()
    removed, _ = run({"stage": "gopher_quality"}, good)
    assert removed == {}
    page = good[0]
    lines = [ln for ln in page.splitlines() if ln.strip()]
    variants = {
        "word_count": " ".join(page.split()[:40]),
        "hash_ratio": " ".join(f"#{w}" if i % 5 == 0 else w
                               for i, w in enumerate(page.split())),
        "ellipsis_ratio": " ... ".join(page.split()),
        "bullet_lines_ratio": "\n".join("• " + ln for ln in lines),
        "ellipsis_lines_ratio": "\n".join(ln + " …" for ln in lines),
        "alpha_words_ratio": page + " " + " ".join(str(i) for i in range(2 * len(page.split()))),
    }
    removed, _ = run({"stage": "gopher_quality"}, list(variants.values()))
    for i, rule in enumerate(variants):
        reason, score, threshold = removed[f"d{i}"]
        assert reason == f"gopher_quality.{rule}", rule
        if rule == "word_count":
            assert (score, threshold) == (40, 50)
    # every rule can be switched off
    off = {"stage": "gopher_quality", "min_words": None, "max_hash_ratio": None,
           "max_ellipsis_ratio": None, "max_bullet_lines_ratio": None,
           "max_ellipsis_lines_ratio": None, "min_alpha_words_ratio": None}
    removed, _ = run(off, list(variants.values()))
    assert removed == {}


def test_stop_words_need_two_distinct_words() -> None:
    page = english_good(1)[0]
    no_stop = re.sub(r"\b(the|be|to|of|and|that|have|with)\b", "", page, flags=re.I)
    one = no_stop + " the the THE the"
    two = no_stop + " the With"
    removed, _ = run({"stage": "gopher_quality"}, [no_stop, one, two])
    assert removed["d0"][:2] == ("gopher_quality.stop_words", 0)
    assert removed["d1"][:2] == ("gopher_quality.stop_words", 1)
    assert "d2" not in removed


def test_language_decides_stop_words_and_word_rules() -> None:
    de = multi("html-0004cc6dbdcd194a")["text"]
    zh = multi("langid-zh")["text"]
    ja = multi("langid-ja")["text"]
    # judged as English (lang column absent -> default_lang en): German lacks English stop
    # words, Chinese and Japanese have one-character words
    removed, stats = run({"stage": "gopher_quality"}, [de, zh, ja])
    assert removed["d0"][0] == "gopher_quality.stop_words"
    assert removed["d1"][0] == removed["d2"][0] == "gopher_quality.mean_word_length"
    assert stats["counters"]["lang_defaulted"] == 3
    # with their languages: German stop words, no mean word length for zh/ja
    removed, stats = run({"stage": "gopher_quality"}, [de, zh, ja], ["de", "zh", "ja"])
    assert removed == {}
    assert "skipped_unsupported_lang" not in stats["counters"]


def test_unsupported_language_is_kept_and_counted() -> None:
    th = multi("langid-th")["text"]
    page = english_good(1)[0]
    removed, stats = run({"stage": "gopher_quality"}, [th, page, page], ["th", "xx", None])
    assert removed == {}
    assert stats["counters"]["skipped_unsupported_lang"] == 2  # th and xx; None -> en
    # default_lang null: documents without a language skip the stop-word rule too
    no_stop = re.sub(r"\b(the|be|to|of|and|that|have|with)\b", "", page, flags=re.I)
    removed, stats = run({"stage": "gopher_quality", "default_lang": None}, [no_stop])
    assert removed == {} and stats["counters"]["skipped_unsupported_lang"] == 1
    removed, _ = run({"stage": "gopher_quality"}, [no_stop])
    assert removed["d0"][0] == "gopher_quality.stop_words"


def test_per_language_overrides() -> None:
    de = multi("html-0004cc6dbdcd194a")["text"]
    page = english_good(1)[0]
    stage = {"stage": "gopher_quality",
             "overrides": {"de": {"min_words": 100_000}, "en": {"stop_words": ["zzz"]}}}
    removed, _ = run(stage, [de, page, de], ["de", "fr", "de-AT"])
    assert removed["d0"][0] == "gopher_quality.word_count" and removed["d0"][2] == 100_000
    assert removed["d2"][2] == 100_000
    assert "d1" not in removed
    removed, _ = run(stage, [page], ["en"])
    assert removed["d0"][:2] == ("gopher_quality.stop_words", 0)


def test_bad_parameters_are_config_errors() -> None:
    for bad in ({"min_words": "fifty"}, {"min_alpha_words_ratio": 1.5},
                {"overrides": {"de": {"nope": 1}}}, {"stop_words": "the"},
                {"default_lang": 3}):
        with pytest.raises((ConfigError, ValueError)):
            Pipeline({"stages": [{"stage": "gopher_quality", **bad}]})
    with pytest.raises((ConfigError, ValueError)):
        Pipeline({"stages": [{"stage": "gopher_repetition", "max_dup_line_frac": -1}]})


def test_empty_batch() -> None:
    empty = pa.record_batch({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())})
    for stage in (GopherQuality(), GopherRepetition()):
        outcome, scores = stage.process(Docs(empty))
        assert len(outcome.keep) == 0 and all(len(v) == 0 for v in scores.values())


# -- repetition --------------------------------------------------------------------------

def brute_repetition(text: str) -> dict[str, float]:
    """Gopher's repetition metrics, computed the slow obvious way (test oracle)."""
    out: dict[str, float] = {}
    n_chars = len(text)
    for unit, sep in (("para", r"\n{2,}"), ("line", r"\n+")):
        pieces = re.split(sep, text.strip())
        seen: set[str] = set()
        dup = dup_chars = 0
        for p in pieces:
            if p in seen:
                dup += 1
                dup_chars += len(p)
            seen.add(p)
        out[f"dup_{unit}_frac"] = dup / len(pieces)
        out[f"dup_{unit}_char_frac"] = dup_chars / n_chars
    words = split_words(pa.array([text])).values.to_pylist()
    for n in (2, 3, 4):
        grams = Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
        best = max(grams.values(), default=0)
        longest = max((sum(map(len, g)) for g, c in grams.items() if c == best), default=0)
        out[f"top_{n}gram_char_frac"] = best * longest / n_chars if best >= 2 else 0.0
    for n in range(5, 11):
        seen_g: set[tuple[str, ...]] = set()
        covered = [False] * len(words)
        for i in range(len(words) - n + 1):
            g = tuple(words[i:i + n])
            if g in seen_g:
                for j in range(i, i + n):
                    covered[j] = True
            seen_g.add(g)
        out[f"dup_{n}gram_char_frac"] = sum(len(w) for w, c in zip(words, covered,
                                                                   strict=True) if c) / n_chars
    return out


def test_repetition_scores_match_a_plain_python_oracle_on_real_pages() -> None:
    texts = ENGLISH["text"].to_pylist()[:60] + MULTI["text"].to_pylist()
    batch = pa.record_batch({"id": [str(i) for i in range(len(texts))], "text": texts})
    scores = GopherRepetition().score(Docs(batch))
    for i, text in enumerate(texts):
        expected = brute_repetition(text)
        for metric, value in expected.items():
            assert scores[metric][i] == pytest.approx(value, abs=1e-12), (i, metric)


def test_repeated_content_is_removed_and_batching_does_not_matter() -> None:
    good = english_good(3)
    paras = list(dict.fromkeys(p.strip() for p in good[0].split("\n") if len(p.strip()) > 40))
    assert len(paras) >= 3
    repeated = "\n\n".join(paras[:3] * 4)
    looped = " ".join(good[1].split()[:30]) + " " + " ".join(good[1].split()[:12] * 40)
    texts = [*good, repeated, looped]
    removed, _ = run({"stage": "gopher_repetition"}, texts)
    assert set(removed) == {"d3", "d4"}
    assert removed["d3"][0] == "gopher_repetition.dup_para_frac"
    assert removed["d3"][1] == pytest.approx(9 / 12)  # 3 distinct x 4
    assert removed["d4"][0].startswith("gopher_repetition.top_")
    small, _ = run({"stage": "gopher_repetition"}, texts, batch_size=2)
    assert small == removed
    # a switched-off rule is skipped: the next violated one is reported
    removed, _ = run({"stage": "gopher_repetition", "max_dup_para_frac": None}, texts)
    assert removed["d3"][0] == "gopher_repetition.dup_para_char_frac"


def test_repetition_rules_follow_language_defaults() -> None:
    th = multi("langid-th")["text"]
    scores = GopherRepetition().score(Docs(pa.record_batch({"id": ["t"], "text": [th]})))
    assert max(scores[f"dup_{n}gram_char_frac"][0] for n in range(5, 11)) > 0.10
    removed, _ = run({"stage": "gopher_repetition"}, [th], ["th"])
    assert removed == {}  # letter n-grams are not word repetition
    removed, _ = run({"stage": "gopher_repetition",
                      "overrides": {"th": {"max_dup_5gram_char_frac": 0.01}}}, [th], ["th"])
    assert removed["d0"][0] == "gopher_repetition.dup_5gram_char_frac"
    assert np.isclose(removed["d0"][2], 0.01)


POOL = ENGLISH.select(["id", "text"]).slice(0, 40).to_pylist() + \
    MULTI.select(["id", "text"]).to_pylist()


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(0, len(POOL) - 1), min_size=1, max_size=8))
def test_scores_of_a_document_do_not_depend_on_its_batch(picks: list[int]) -> None:
    from corpusfilter.filters.c4 import C4Paragraph
    from corpusfilter.filters.fineweb import FineWebQuality

    rows = [POOL[i] for i in picks]
    batch = pa.record_batch({"id": [f"{r['id']}#{k}" for k, r in enumerate(rows)],
                             "text": [r["text"] for r in rows]})
    for stage in (GopherQuality(), GopherRepetition(), FineWebQuality(), C4Paragraph()):
        together = stage.score(Docs(batch))
        for k in range(len(rows)):
            alone = stage.score(Docs(batch.slice(k, 1)))
            for metric, values in together.items():
                np.testing.assert_equal(values[k], alone[metric][0], err_msg=metric)


def test_mean_word_length_leaves_out_characters_of_spaceless_scripts() -> None:
    # a real English blog post quoting Japanese (痴漢（ちかん）...): each kana or kanji is a
    # word of one character, which pulled the page's mean under Gopher's 3
    row = next(r for r in ENGLISH.to_pylist() if r["id"] == "html-322aafb75b6f37f2")
    docs = Docs(pa.table({"id": ["a"], "text": [row["text"]], "lang": ["en"]}).to_batches()[0])
    words = split_words(docs.text)
    all_mean = float(words.lengths.sum() / len(words.values))
    assert all_mean < 3.0
    score = GopherQuality().score(docs)["mean_word_length"][0]
    spaced = [w for w in row["text"].split() if re.fullmatch(r"[A-Za-z]+", w)]
    assert score > 3.0 and abs(score - np.mean([len(w) for w in spaced])) < 1.0
    # a page of Japanese characters only has no such words: the rule does not judge it
    ja = Docs(pa.table({"id": ["b"], "text": ["痴漢は犯罪です。" * 20],
                        "lang": ["en"]}).to_batches()[0])
    assert np.isnan(GopherQuality().score(ja)["mean_word_length"][0])


# -- the stop-word count's one sort by language against a mask per language ---------------

_LANGS = st.sampled_from(["en", "de", "fr", "ja", "EN-us", "zz", None, ""])
_WORDS = st.sampled_from(["the", "The", "and", "und", "der", "le", "et", "の", "は", "x",
                          "Haus", "maison", "1999", "to", "be", "ET"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_LANGS, st.lists(_WORDS, max_size=15)), min_size=1, max_size=12),
       st.sampled_from([None, "de"]))
def test_stop_word_counts_equal_the_per_language_mask(docs, default_lang) -> None:
    langs = [lang for lang, _ in docs]
    texts = [" ".join(words) for _, words in docs]
    batch = pa.record_batch({"id": [str(i) for i in range(len(docs))], "text": texts,
                             "lang": pa.array(langs, pa.string())})
    stage = GopherQuality(default_lang=default_lang)
    d = Docs(batch)
    words = split_words(d.text)
    per_doc = stage._langs(d)
    got = stage._stop_word_counts(d, words, per_doc, len(docs))
    want = stage._stop_word_counts_reference(Docs(batch), words, per_doc, len(docs))
    assert np.array_equal(got, want, equal_nan=True)
    # every supported document's count is its distinct lower-cased stop words
    for i, (_, words_i) in enumerate(docs):
        sw = stage._stop_list(per_doc[i])
        if sw is not None:
            assert got[i] == len({w.lower() for w in words_i} & sw)


def test_lang_defaulted_counts_every_document_without_a_language() -> None:
    from corpusfilter.filters.gopher import lang_counters

    langs = ["en", None, "", " ", "EN-us", "de", None, "_", "de"]
    batch = pa.record_batch({"id": [str(i) for i in range(len(langs))],
                             "text": ["x"] * len(langs), "lang": pa.array(langs, pa.string())})
    d = Docs(batch)
    lang_counters(d, np.array(langs, dtype=object), "en")
    assert d.counters["lang_defaulted"] == 5  # None twice, "", " ", "_"
    plain = Docs(pa.record_batch({"id": ["a", "b"], "text": ["x", "y"]}))
    lang_counters(plain, np.array(["en", "en"], dtype=object), "en")
    assert plain.counters["lang_defaulted"] == 2


def test_every_spaceless_character_starts_with_a_three_byte_lead() -> None:
    """`_starts_spaceless` reads only words whose first byte is 0xE0 or above: no character
    below U+0800 (one or two UTF-8 bytes) is in the class."""
    import pyarrow.compute as pc

    from corpusfilter.filters.text import SPACELESS

    chars = pa.array([chr(c) for c in range(0x800)])
    assert not pc.any(pc.match_substring_regex(chars, f"^[{SPACELESS}]")).as_py()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(st.sampled_from(list("aé日本語ไทยカナ한ǅ١x ,.\n\u0e31\u3000")),
                        max_size=20), min_size=1, max_size=8))
def test_starts_spaceless_equals_the_regex_on_every_word(texts: list[str]) -> None:
    from corpusfilter.filters.gopher import _starts_spaceless
    from corpusfilter.filters.text import SPACELESS

    words = split_words(pa.array(texts))
    assert _starts_spaceless(words).tolist() == words.matches(f"^[{SPACELESS}]").tolist()
