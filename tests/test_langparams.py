"""One mechanism for per-language and per-source parameters (core/langparams.py): the same
override reaches the same documents in every stage."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import TEST_DATA
from corpusfilter import Pipeline
from corpusfilter.core.langparams import LangParams, doc_langs, normalise_lang

PAGES = pq.read_table(TEST_DATA / "defaults" / "pages.parquet")
GERMAN = next(r["text"] for r in PAGES.to_pylist() if r["id"] == "html-dc557a5e22a23f9f")

# per stage: an override for `de` that removes this real German page, and its reason
STRICT = {
    "gopher_quality": ({"min_words": 10**9}, "word_count"),
    "gopher_repetition": ({"max_top_2gram_char_frac": 0.0}, "top_2gram_char_frac"),
    "c4_quality": ({"min_sentences": 10**6}, "min_sentences"),
    "fineweb_quality": ({"max_newline_word_ratio": 0.0}, "newline_word_ratio"),
    "spam": ({"max_digit_symbol_ratio": 0.0}, "digit_symbol_ratio"),
}
TAGS = ["de", "de-AT", "de_CH", "DE", "en", None]
# earlier rules of the same stage that would remove this raw page whatever its language
OTHERS_OFF = {"fineweb_quality": {"min_line_punct_ratio": None, "max_short_line_ratio": None,
                                  "max_dup_line_char_ratio": None},
              "gopher_repetition": dict.fromkeys(["max_dup_para_frac", "max_dup_para_char_frac",
                                                  "max_dup_line_frac",
                                                  "max_dup_line_char_frac"])}


@pytest.mark.parametrize("stage", sorted(STRICT))
def test_language_override_reaches_every_regional_tag_in_every_stage(stage: str) -> None:
    override, rule = STRICT[stage]
    table = pa.table({"id": [f"d{i}" for i in range(len(TAGS))], "text": [GERMAN] * len(TAGS),
                      "lang": pa.array(TAGS, pa.string())})
    result = Pipeline({"stages": [{"stage": stage, **OTHERS_OFF.get(stage, {}),
                                   "overrides": {"de": override}}]}).run(table)
    hit = {r["doc_id"] for r in result.ledger.to_pylist()
           if r["action"] == "removed" and r["reason"] == f"{stage}.{rule}"}
    # de, de-AT, de_CH, DE: the override; en and no language: the top-level value
    assert hit == {"d0", "d1", "d2", "d3"}


@pytest.mark.parametrize("stage", sorted(STRICT))
def test_source_override_wins_over_language(stage: str) -> None:
    override, rule = STRICT[stage]
    relaxed = {key: None for key in override}
    table = pa.table({"id": ["web", "qa"], "text": [GERMAN, GERMAN], "lang": ["de-AT", "de-AT"],
                      "source": ["web", "stackexchange"]})
    result = Pipeline({"stages": [{"stage": stage, **OTHERS_OFF.get(stage, {}),
                                   "overrides": {"de": override},
                                   "source_overrides": {"stackexchange": relaxed}}]}).run(table)
    hit = {r["doc_id"] for r in result.ledger.to_pylist() if r["reason"] == f"{stage}.{rule}"}
    assert hit == {"web"}


def test_lookup_order_and_errors() -> None:
    p = LangParams("s", {"a": 1.0, "b": True}, {"de": {"a": 2.0}},
                   builtin={"de": {"a": 5.0}, "zh": {"a": None}},
                   source_overrides={"arxiv": {"a": 3.0}})
    assert p.get("a", "de-AT") == 2.0  # pipeline file over built-in
    assert p.get("a", "zh-Hant") is None
    assert p.get("a", "de", "arxiv") == 3.0
    assert p.get("a", "en", "web") == 1.0
    assert p.is_set("a") and p.is_set("b")
    assert not LangParams("s", {"b": False}, None).is_set("b")
    assert LangParams("s", {"b": False}, {"de": {"b": True}}).is_set("b")
    vals = p.values("a", np.array(["de", "en", "zh"], dtype=object))
    assert vals[:2].tolist() == [2.0, 1.0] and np.isnan(vals[2])
    with pytest.raises(ValueError, match=r"source_overrides.*unknown parameter 'c'"):
        LangParams("s", {"a": 1.0}, None, source_overrides={"web": {"c": 1}})
    with pytest.raises(ValueError, match="mapping"):
        LangParams("s", {"a": 1.0}, None, source_overrides={"web": 3})
    assert normalise_lang("de_AT") == normalise_lang("DE-at") == "de"
    assert doc_langs(["de-AT", None], 2, "en").tolist() == ["de", "en"]


def test_fineweb2_table_in_our_units() -> None:
    from corpusfilter.core.langparams import fineweb2_overrides
    from corpusfilter.core.scripts import SYLLABIC_LANGS

    rep = fineweb2_overrides("gopher_repetition")
    qual = fineweb2_overrides("gopher_quality")
    fw = fineweb2_overrides("fineweb_quality")
    assert len(rep) > 150  # nearly every label of the language stage
    assert rep["de"]["max_dup_line_frac"] == 0.263  # FineWeb-2's deu_Latn.yml
    assert rep["ja"]["max_dup_5gram_char_frac"] == 0.243  # jpn_Jpan: n-grams as 2n chars
    assert not (SYLLABIC_LANGS & set(rep))  # Thai & co: our words are letters, no unit
    assert "min_mean_word_length" not in qual["zh"] and "stop_words" in qual["de"]
    for table in (rep, qual, fw):
        for entry in table.values():
            for key, value in entry.items():
                if key.endswith(("frac", "ratio")) and value is not None:
                    assert 0 <= value <= 1, (key, value)
    # the table sits under the pipeline file's overrides, and reaches de-AT
    p = LangParams("gopher_repetition", {"max_dup_line_frac": 0.3}, {"fr": {
        "max_dup_line_frac": 0.5}}, table="fineweb2")
    assert p.get("max_dup_line_frac", "de-AT") == 0.263
    assert p.get("max_dup_line_frac", "fr") == 0.5
    assert p.get("max_dup_line_frac", "en") == 0.3  # FineWeb-2 has no English table
    with pytest.raises(ValueError, match="lang_table"):
        LangParams("s", {"a": 1.0}, None, table="fineweb3")


def test_fineweb2_thresholds_in_the_ledger() -> None:
    table = pa.table({"id": ["a", "b"], "text": [GERMAN, GERMAN], "lang": ["de-AT", "en"]})
    stage = {"stage": "gopher_repetition", "lang_table": "fineweb2", "max_dup_line_frac": 0.0,
             **dict.fromkeys(["max_dup_para_frac", "max_dup_para_char_frac"])}
    result = Pipeline({"stages": [stage]}).run(table)
    by_id = {r["doc_id"]: r for r in result.ledger.to_pylist()}
    assert by_id["b"]["threshold"] == 0.0 and by_id["b"]["reason"].endswith("dup_line_frac")
    assert "a" not in by_id or by_id["a"]["threshold"] != 0.0
