"""The `toxicity` stage on real multilingual paragraphs with word-list terms inserted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpusfilter import Pipeline
from corpusfilter.core.docs import Docs
from corpusfilter.core.errors import ConfigError
from corpusfilter.filters.toxicity import (
    DEFAULT_ALLOWLIST,
    SUBSTRING_LANGS,
    Toxicity,
    ldnoobw_languages,
    ldnoobw_terms,
    normalize_lang,
    surge_terms,
)

DATA = Path(__file__).parent / "data" / "toxicity"
PARAS = [json.loads(line) for line in (DATA / "clean_paragraphs.jsonl").read_text(
    encoding="utf-8").splitlines()]
BY_LANG: dict[str, list[dict]] = {}
for p in PARAS:
    BY_LANG.setdefault(p["lang"], []).append(p)


def table(rows: list[dict]) -> pa.Table:
    cols = {k: [r.get(k) for r in rows] for k in ("id", "text", "lang", "source")}
    return pa.table(cols)


def scores(stage: Toxicity, rows: list[dict]) -> dict[str, np.ndarray]:
    return stage.score(Docs(table(rows).to_batches()[0]))


def insert(text: str, term: str, lang: str, where: float = 0.5) -> str:
    """Put `term` into real text at a sentence-ish position: between words (spaces) for
    space-separated scripts, directly between characters for zh/ja/th."""
    if lang in SUBSTRING_LANGS and not term.isascii():
        i = int(len(text) * where)
        return text[:i] + term + text[i:]
    words = text.split(" ")
    i = max(1, int(len(words) * where))
    return " ".join([*words[:i], term, *words[i:]])


def test_real_paragraphs_are_clean_in_every_language() -> None:
    s = scores(Toxicity(), [{**p, "source": "web"} for p in PARAS])
    assert np.all(s["matches"] == 0), [p["id"] for p, m in zip(PARAS, s["matches"], strict=True)
                                       if m]
    assert np.all(s["flagged_fraction"] == 0)


def test_shipped_lists_cover_the_ldnoobw_languages() -> None:
    langs = set(ldnoobw_languages())
    assert {"en", "de", "fr", "es", "ja", "zh", "th", "hi", "ru", "ko", "ar"} <= langs
    assert "fr-ca-u-sd-caqc" not in langs  # merged into fr
    assert "tabarnak" in ldnoobw_terms("fr")
    assert len(surge_terms()) > 1500


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_list_term_inserted_into_real_text_is_found(data: st.DataObject) -> None:
    langs = sorted(lang for lang in BY_LANG if lang in ldnoobw_languages())
    lang = data.draw(st.sampled_from(langs))
    allow = set(DEFAULT_ALLOWLIST.get(lang, ()))
    term = data.draw(st.sampled_from([t for t in ldnoobw_terms(lang) if t not in allow]))
    para = data.draw(st.sampled_from(BY_LANG[lang]))
    where = data.draw(st.floats(0.1, 0.9))
    doc = {**para, "text": insert(para["text"], term, lang, where)}
    s = scores(Toxicity(lists=["ldnoobw"]), [doc])
    assert s["matches"][0] >= 1, (lang, term)
    assert s["flagged_fraction"][0] > 0


def test_whole_words_only_for_space_separated_scripts() -> None:
    en = BY_LANG["en"][0]
    # Words that contain list terms ("ass", "cum", "tit") but are ordinary English.
    text = en["text"] + " The class assessment of cumulative titles in Scunthorpe passed."
    s = scores(Toxicity(), [{**en, "text": text}])
    assert s["matches"][0] == 0
    s = scores(Toxicity(), [{**en, "text": insert(en["text"], "ass", "en")}])
    assert s["matches"][0] == 1


def test_substring_matching_and_allowlist_for_chinese_and_japanese() -> None:
    zh = BY_LANG["zh"][0]
    term = next(t for t in ldnoobw_terms("zh") if len(t) >= 2 and not t.isascii())
    s = scores(Toxicity(), [{**zh, "text": insert(zh["text"], term, "zh")}])
    assert s["matches"][0] == 1
    # 性 occurs in ordinary Chinese words (性能, 可能性): C4's allowlist ignores it
    text = insert(zh["text"], "可能性和性能", "zh")
    assert scores(Toxicity(), [{**zh, "text": text}])["matches"][0] == 0
    assert scores(Toxicity(use_default_allowlist=False),
                  [{**zh, "text": text}])["matches"][0] == 2
    ja = BY_LANG["ja"][0]
    text = insert(ja["text"], "女の子", "ja")
    assert scores(Toxicity(), [{**ja, "text": text}])["matches"][0] == 0
    assert scores(Toxicity(allowlist={"ja": []}, use_default_allowlist=False),
                  [{**ja, "text": text}])["matches"][0] == 1


def test_thai_terms_match_inside_unspaced_text() -> None:
    zh = BY_LANG["zh"][0]
    term = ldnoobw_terms("th")[0]
    s = scores(Toxicity(), [{**zh, "lang": "th", "text": insert(zh["text"], term, "th")}])
    assert s["matches"][0] == 1


def test_list_is_chosen_by_lang() -> None:
    de = BY_LANG["de"][0]
    term = next(t for t in ldnoobw_terms("de") if " " not in t and t not in ldnoobw_terms("en")
                and t not in surge_terms())
    doc = {**de, "text": insert(de["text"], term, "de")}
    assert scores(Toxicity(), [doc])["matches"][0] == 1
    assert scores(Toxicity(), [{**doc, "lang": "en"}])["matches"][0] == 0
    assert scores(Toxicity(), [{**doc, "lang": "de-AT"}])["matches"][0] == 1
    # a language without a list is not scored (kept), a null lang uses default_lang
    assert np.isnan(scores(Toxicity(), [{**doc, "lang": "xx"}])["matches"][0])
    assert scores(Toxicity(default_lang="de"), [{**doc, "lang": None}])["matches"][0] == 1
    assert np.isnan(scores(Toxicity(default_lang=None), [{**doc, "lang": None}])["matches"][0])


def severe_terms(k: int) -> list[str]:
    return sorted(t for t, (sev, _) in surge_terms().items()
                  if sev == "severe" and t.isalpha())[:k]


def test_decision_rules_and_ledger_detail_by_list_and_severity() -> None:
    en = BY_LANG["en"]
    severe = severe_terms(2)
    one = {**en[0], "id": "one-severe", "source": "a", "text": insert(en[0]["text"], severe[0],
                                                                       "en")}
    two_text = insert(insert(en[1]["text"], severe[0], "en", 0.3), severe[1], "en", 0.7)
    two = {**en[1], "id": "two-severe", "source": "b", "text": two_text}
    clean = {**en[2], "id": "clean", "source": "b"}
    dense = {"id": "dense", "lang": "en", "source": "a",
             "text": " ".join([*en[2]["text"].split()[:20], "shit"])}
    res = Pipeline([Toxicity()], max_removal_rate=None).run(table([one, two, clean, dense]))
    assert sorted(res.kept["id"].to_pylist()) == ["clean", "one-severe"]
    led = {r["doc_id"]: r for r in res.ledger.to_pylist()}
    assert led["two-severe"]["reason"] == "toxicity.severe"
    assert led["two-severe"]["score"] == 2 and led["two-severe"]["threshold"] == 1
    detail = json.loads(led["two-severe"]["detail"])
    assert detail["lang"] == "en" and detail["severity"]["severe"] == 2
    assert detail["lists"]["surge"] == 2
    assert led["dense"]["reason"] == "toxicity.fraction"
    assert led["dense"]["score"] == pytest.approx(1 / 21)
    assert json.loads(led["dense"]["detail"])["lists"] == {"ldnoobw": 1, "surge": 1}
    # the facets let a report compare groups (Dodge et al. 2021)
    by = res.stats.data["stages"]["toxicity"]["by"]["source"]
    assert by["a"] == {"in": 2, "removed": 1, "modified": 0}
    assert by["b"] == {"in": 2, "removed": 1, "modified": 0}
    # C4's rule: any match removes
    c4 = Pipeline([Toxicity(max_severe=None, max_fraction=None, max_matches=0)],
                  max_removal_rate=None).run(table([one, two, clean, dense]))
    assert c4.kept["id"].to_pylist() == ["clean"]


def test_empty_batch_and_bad_parameters() -> None:
    empty = pa.table({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())})
    s = Toxicity().score(Docs(empty.to_batches()[0] if empty.to_batches() else
                              pa.RecordBatch.from_pylist([], schema=empty.schema)))
    assert all(len(v) == 0 for v in s.values())
    for bad in ({"max_fraction": 2}, {"max_severe": -1}, {"lists": ["nope"]},
                {"languages": ["xx"]}, {"default_lang": "xx"}, {"allowlist": ["sm"]}):
        with pytest.raises(ConfigError):
            Pipeline({"stages": [{"stage": "toxicity", **bad}]})


def test_normalize_lang() -> None:
    assert normalize_lang("EN-us") == "en"
    assert normalize_lang("nb") == "no"
    assert normalize_lang("zh_Hant") == "zh"
    assert normalize_lang("") is None


# -- the batch gate (Lexicon.gate) against the per-document path ------------------------------

# Glue put between real words and list terms: ASCII and Unicode letters right against a term
# (where the gate may say "maybe" but no term counts), marks, symbols, _STRIP punctuation,
# Unicode spaces, newlines, upper case and the one character whose lower case grows (İ).
GLUE = ["", " ", "  ", "\n", "\t", "\u00a0", "\u3000", "-", "'", "’", ".", ",", "(", ")", "«",
        "»", "…", "!", "?", "\"", "@", "$", "*", "+", "_", "x", "é", "ß", "İ", "Σ", "\u0301",
        "性", "ก", "1", "/", ":", "&", "ж", "ä", "ñ"]


def _analyse(stage: Toxicity, rows: list[dict], gate: bool) -> tuple[dict, list]:
    stage.batch_gate = gate
    try:
        return stage.measure(Docs(table(rows).to_batches()[0]))
    finally:
        stage.batch_gate = True


def _same(a: tuple[dict, list], b: tuple[dict, list]) -> None:
    for k in a[0]:
        np.testing.assert_array_equal(a[0][k], b[0][k], err_msg=k)
    assert a[1] == b[1]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_gate_gives_the_per_document_scores(data: st.DataObject) -> None:
    """Documents made of real words, list terms (in any case) and glue: the gated batch path
    and the per-document path give the same scores and details, row for row."""
    langs = ["en", "de", "fr", "ja", "zh", "th", "es", "ru", None]
    stage = Toxicity(allowlist={"en": ["xxx"]}) if data.draw(st.booleans()) else Toxicity()
    rows = []
    for k in range(data.draw(st.integers(1, 6))):
        lang = data.draw(st.sampled_from(langs))
        pool_lang = lang or "en"
        terms = list(ldnoobw_terms(pool_lang)) + (list(surge_terms()) if pool_lang == "en"
                                                  else [])
        # terms spelled with symbols (f@ck) and of several words, drawn as often as others
        kinds = [[t for t in terms if not t.replace(" ", "").isalnum()],
                 [t for t in terms if " " in t], terms]
        words = data.draw(st.sampled_from(PARAS))["text"].split()[:40]
        parts = []
        for _ in range(data.draw(st.integers(0, 6))):
            kind = data.draw(st.sampled_from(["word", "term", "glue"]))
            if kind == "word":
                parts.append(data.draw(st.sampled_from(words)))
            elif kind == "term":
                t = data.draw(st.sampled_from([x for x in data.draw(st.sampled_from(kinds))
                                               if x] or terms))
                t = data.draw(st.sampled_from([t, t.upper(), t.title()]))
                # the spaces of a several-word term as another separator (or glue)
                parts.append(t.replace(" ", data.draw(st.sampled_from(
                    [" ", "-", "\n", " - ", "\u00a0", "'", "", "x"]))))
            else:
                parts.append(data.draw(st.sampled_from(GLUE)))
        joiner = data.draw(st.sampled_from(["", " "]))  # glued, or apart as words
        rows.append({"id": str(k), "text": joiner.join(parts), "lang": lang, "source": "t"})
    _same(_analyse(stage, rows, True), _analyse(stage, rows, False))


def test_gate_skips_most_real_text_and_keeps_every_hit() -> None:
    """Real paragraphs with and without inserted terms: the gate rejects the clean ones in
    space-separated languages, and every document with a match is scored as before."""
    stage = Toxicity()
    severe = severe_terms(3)
    rows = [{**p, "source": "web"} for p in PARAS]
    rows += [{**p, "id": f"{p['id']}-t", "source": "web",
              "text": insert(p["text"], severe[i % 3], "en")}
             for i, p in enumerate(BY_LANG["en"])]
    _same(_analyse(stage, rows, True), _analyse(stage, rows, False))
    lex = stage.lexicon("en")
    assert lex is not None
    clean = [p["text"].lower() for p in BY_LANG["en"]]
    assert not lex.candidates(clean).any()
    assert lex.candidates([insert(t, severe[0], "en") for t in clean]).all()
    # a term glued to a non-ASCII letter: the gate may say maybe, the match says no
    assert lex.match("the " + severe[0] + "é here")[0].sum() == 0
    # a symbol term alone: the symbol gate finds it, so the symbol pass runs
    assert lex.candidates(["you f@ck off"], lex.symbol_gate).all()
    _same(_analyse(stage, [{"id": "s", "text": "you F@CK off", "lang": "en"}], True),
          _analyse(stage, [{"id": "s", "text": "you F@CK off", "lang": "en"}], False))


def test_gate_non_word_class_is_every_character_but_ascii_word_ones() -> None:
    """The gate writes [^0-9A-Za-z_] as RE2's \\W: the same set on every code point."""
    import pyarrow.compute as pc

    from corpusfilter.filters import toxicity

    cps = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    chars = pa.array([chr(c) for c in cps], pa.string())
    short = pc.match_substring_regex(chars, f"^{toxicity._GATE_NON_WORD}$")
    long = pc.match_substring_regex(chars, f"^[^{toxicity._GATE_WORD}]$")
    assert short.equals(long)
    assert pc.sum(short).as_py() == len(cps) - 63


def _trie_reference(seqs, unit) -> str:
    """The trie regex written the plain way: every node's children sorted, each unit written
    where it occurs (what `_trie_pattern` writes with its per-unit memo)."""
    trie: dict = {}
    for seq in seqs:
        node = trie
        for u in seq:
            node = node.setdefault(u, {})
        node[None] = True

    def emit(node: dict) -> str:
        alts = [unit(u) + emit(c) for u, c in sorted((u, c) for u, c in node.items()
                                                     if u is not None)]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else f"(?:{'|'.join(alts)})"
        return f"(?:{body})?" if None in node else body

    return emit(trie)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet="abcé日 -", max_size=6), max_size=25))
def test_trie_pattern_is_written_as_the_plain_trie(words: list[str]) -> None:
    import re

    from corpusfilter.filters.toxicity import _re2_literal, _trie_pattern

    for unit in (re.escape, _re2_literal):
        assert _trie_pattern(words, unit) == _trie_reference(words, unit)
    pattern = _trie_pattern([w for w in words if w], re.escape)
    for w in words:  # and it matches every word it was built from
        if w:
            assert re.fullmatch(pattern, w)


def test_gate_patterns_of_every_shipped_language_are_the_plain_tries() -> None:
    from corpusfilter.filters import toxicity as tox

    stage = Toxicity()
    for lang in tox.ldnoobw_languages():
        lex = stage.lexicon(lang)
        if lex is None:
            continue
        original = tox._trie_pattern
        tox._trie_pattern = _trie_reference
        try:
            plain = tox.Lexicon.build(lang, lex.terms)
        finally:
            tox._trie_pattern = original
        assert (lex.gate, lex.symbol_gate) == (plain.gate, plain.symbol_gate)
        assert (lex.pattern.pattern if lex.pattern else None) == (
            plain.pattern.pattern if plain.pattern else None)
