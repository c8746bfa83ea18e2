"""The `unicode_fix` transform: ftfy with conservative multilingual settings and a fast path.

Real mojibake from real documents: tests/data/unicode/mojibake.parquet (origins in
tests/data/unicode/README.md). Clean multilingual text: tests/data/langid/lingua_slice.parquet.
"""

from __future__ import annotations

import json
from pathlib import Path

import ftfy
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from corpusfilter.core.docs import Docs
from corpusfilter.core.errors import ConfigError
from corpusfilter.core.pipeline import Pipeline
from corpusfilter.filters.unicode import UnicodeFix

DATA = Path(__file__).resolve().parent / "data"
MOJIBAKE = DATA / "unicode" / "mojibake.parquet"
LINGUA = DATA / "langid" / "lingua_slice.parquet"


def run(table: pa.Table, **params):
    return Pipeline({"stages": [{"stage": "unicode_fix", **params}]}).run(table)


def table_of(texts: list[str]) -> pa.Table:
    return pa.table({"id": [f"t{i}" for i in range(len(texts))], "text": texts})


# -- real mojibake ----------------------------------------------------------------------------

# What a reader of each language knows the damaged words to be (origin of each row: README).
REPAIRED = {
    "html-d996b11148e0042a": ("kÃ¶nnenâ€¦", "können…"),
    "html-0e09746bf375480d": ("MÃ¤scot", "Mäscot"),
    "html-1450c1fcd916cc0a": ("Ãœber uns", "Über uns"),
    "html-6e6775c14bca655d": ("à¤¹à¤¿à¤‚à¤¦à¥€", "हिंदी"),
    "html-d1ede50c4b5eff8f": ("AusschÃ¼sse", "Ausschüsse"),
    "cc2019-3vmwb67j4y4floth3krdb3rwfdfxqmzo": ("776\x96781", "776–781"),
    "quality-3cff34a69c3a40f5": ("KodÃ¡ly", "Kodály"),
    "sms-02341": ("I\x92ve", "I’ve"),
    "sms-03861": ("\x93Harry", "“Harry"),
}


def test_real_mojibake_is_repaired_and_recorded():
    table = pq.read_table(MOJIBAKE)
    res = run(table)
    assert res.kept.num_rows == table.num_rows  # a transform removes nothing
    fixed = dict(zip(res.kept["id"].to_pylist(), res.kept["text"].to_pylist(), strict=True))
    for doc_id, (broken, repaired) in REPAIRED.items():
        original = table.filter(pc.equal(table["id"], doc_id))["text"][0].as_py()
        assert broken in original
        assert broken not in fixed[doc_id] and repaired in fixed[doc_id], doc_id
    led = res.ledger
    assert set(led["action"].to_pylist()) == {"modified"}
    assert set(led["doc_id"].to_pylist()) == set(REPAIRED)
    assert set(led["reason"].to_pylist()) == {"unicode_fix.mojibake"}
    for detail in led["detail"].to_pylist():
        d = json.loads(detail)
        actions = {s.split(":")[0] for s in d["fixes"]}
        assert actions & {"encode", "decode"} or "apply:decode_inconsistent_utf8" in d["fixes"]
        assert d["lines"] >= 1
    assert res.stats.data["stages"]["unicode_fix"]["modified"] == len(REPAIRED)


def test_windows_1252_quotes_fix_names_the_encoding():
    res = run(table_of(["Cheers for the message Zogtorius. I\x92ve been staring at my phone."]))
    detail = json.loads(res.ledger["detail"][0].as_py())
    assert detail["fixes"] == ["encode:latin-1", "decode:windows-1252"]


# -- conservative settings ---------------------------------------------------------------------

CONSERVED = [
    "ＬＯＵＤ ＮＯＩＳＥＳ：全角の文字，そのまま。",           # full-width forms in CJK text
    "„Anführungszeichen“ und «guillemets» und ‘curly’ “quotes”",  # quotes are text
    "line one\r\nline two\r\n",                                 # CRLF line breaks
    "Cafe\u0301 decomposed, not normalised",                    # NFD stays NFD
    "Ｈｅｌｌｏ ｗｏｒｌｄ",
]


def test_conservative_defaults_leave_intended_forms_alone():
    res = run(table_of(CONSERVED))
    assert res.kept["text"].to_pylist() == CONSERVED
    assert res.ledger.num_rows == 0
    # ftfy's own defaults would have changed every one of them
    assert all(ftfy.fix_text(t) != t for t in CONSERVED)


def test_opt_in_fixes_apply_when_asked():
    res = run(table_of(CONSERVED), fix_character_width=True, uncurl_quotes=True,
              fix_line_breaks=True, normalization="NFC")
    out = res.kept["text"].to_pylist()
    assert out[0].startswith("LOUD NOISES")
    assert not set("„“‘’”") & set(out[1]) and "«guillemets»" in out[1]
    assert out[2] == "line one\nline two\n"
    assert out[3].startswith("Café")
    assert res.ledger.num_rows == len(CONSERVED)


def test_clean_multilingual_text_is_never_modified():
    # 656 real sentences and words in 41 languages and many scripts. A few carry real damage:
    # leftover HTML entities ("l&#248;pet") or Windows-1252 quotes read as C1 controls
    # ("d\x92épuration"); every other string must come out byte-identical.
    table = pq.read_table(LINGUA)
    res = run(table)
    before = dict(zip(table["id"].to_pylist(), table["text"].to_pylist(), strict=True))
    after = dict(zip(res.kept["id"].to_pylist(), res.kept["text"].to_pylist(), strict=True))
    damaged = {k for k, t in before.items() if "&" in t or any("\x80" <= c <= "\x9f" for c in t)}
    changed = {k for k in before if before[k] != after[k]}
    assert changed and changed <= damaged
    assert set(res.ledger["doc_id"].to_pylist()) == changed
    joined = " ".join(after.values())
    assert "løpet" in joined and "d’épuration" in joined


def test_html_entities_only_without_markup():
    texts = ["Fish &amp; chips &eacute;t&eacute;", "<p>Fish &amp; chips</p>"]
    res = run(table_of(texts))
    out = res.kept["text"].to_pylist()
    assert out == ["Fish & chips été", "<p>Fish &amp; chips</p>"]
    assert res.ledger["reason"].to_pylist() == ["unicode_fix.unescape_html"]
    never = run(table_of(texts), unescape_html=False)
    assert never.ledger.num_rows == 0


def test_control_characters_and_terminal_escapes_removed():
    texts = ["bell\x07 and \x1b[31mred\x1b[0m text\ufeff", "tab\tnewline\nstay"]
    res = run(table_of(texts))
    assert res.kept["text"].to_pylist() == ["bell and red text", "tab\tnewline\nstay"]
    detail = json.loads(res.ledger["detail"][0].as_py())
    assert set(detail["fixes"]) == {"apply:remove_terminal_escapes", "apply:remove_control_chars"}


# -- the fast path gives exactly ftfy's output ---------------------------------------------------

# Characters that matter to ftfy's detectors, plus ordinary text in several scripts.
ALPHABET = st.sampled_from(list(
    "abcxyz ABC\n\t.,;!?&<>#01"
    "ÃÂâ€œ™šžŸ¢£¤¥¦§¨©ª«¬®¯°±²³´µ¶·¸¹º»¼½¾¿×÷ØÙàáâãäåæçèéêëìíîïðñòóôõöøùúûüýþÿ"
    "\x80\x81\x8d\x8f\x90\x92\x93\x96\x9d\xa0\xad"
    "ĀāĆćŒœƒˆ˜–—‘’‚“”„†‡•…‰‹›€"
    "βΒΓΞΟπВГРСвЂ√≈×"
    "ñüößçøåé日本語中文한국어\u200c\u200d\ufeff\ufffd\x07\x1b\x7fﬁﬂ"
))


WORDS = st.text(alphabet=st.sampled_from(list("aeo ñüößçéàœ–—‘’“”…€日本語ЖжΩ한👋\n")), min_size=1,
                max_size=12)


def mojibake(text: str, codec: str) -> str:
    """What a program shows when it reads UTF-8 bytes as `codec`."""
    return text.encode("utf-8").decode(codec, errors="replace")


MOJIBAKE_FRAGMENTS = st.builds(mojibake, WORDS,
                               st.sampled_from(["latin-1", "cp1252", "cp1251", "cp1250",
                                                "cp1253", "mac_roman", "cp437"]))


def texts_strategy():
    fragment = st.one_of(st.text(alphabet=ALPHABET, max_size=40), MOJIBAKE_FRAGMENTS)
    doc = st.lists(fragment, min_size=1, max_size=4).map("".join)
    return st.lists(doc, min_size=1, max_size=8)


def reference(text: str, stage: UnicodeFix) -> str:
    config = stage._config._replace(explain=False, unescape_html="<" not in text)
    return ftfy.fix_text(text, config)


@settings(max_examples=250, deadline=None)
@given(texts=texts_strategy())
@example(texts=["Voilà!\nÃ la carte"])  # mojibake only ftfy's line-start rule sees
@example(texts=["cafÃ© crÃ¨me", "Ð¿Ñ€Ð¸Ð²ÐµÑ‚"])
def test_fast_path_equals_ftfy_on_every_document(texts):
    fast = UnicodeFix()
    fast.setup()
    docs = Docs(pa.record_batch({"id": [str(i) for i in range(len(texts))], "text": texts}))
    out = fast.transform(docs)
    got = out.text.to_pylist() if out.text is not None else texts
    assert got == [reference(t, fast) for t in texts]
    assert list(out.modified if out.modified is not None else [False] * len(texts)) == \
        [g != t for g, t in zip(got, texts, strict=True)]
    # ftfy cuts lines longer than max_decode_length; so must the stage
    short = UnicodeFix()
    short.setup()
    short._config = short._config._replace(max_decode_length=7)
    out = short.transform(docs)
    got = out.text.to_pylist() if out.text is not None else texts
    assert got == [reference(t, short) for t in texts]


def test_fast_path_equals_full_ftfy_on_real_mojibake():
    table = pq.read_table(MOJIBAKE)
    fast = run(table)
    slow = run(table, fast_path=False)
    assert fast.kept["text"].equals(slow.kept["text"])
    assert fast.ledger.equals(slow.ledger)


# -- configuration ----------------------------------------------------------------------------

@pytest.mark.parametrize("params", [
    {"unescape_html": "sometimes"}, {"normalization": "NFX"}, {"fix_encoding": "yes"},
    {"fast_path": 1}, {"uncurl": True},
])
def test_invalid_parameters_are_config_errors(params):
    with pytest.raises(ConfigError):
        Pipeline({"stages": [{"stage": "unicode_fix", **params}]})


def test_empty_and_ascii_batches():
    empty = pa.table({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())})
    assert run(empty).kept.num_rows == 0
    res = run(table_of(["plain ascii", "more plain ascii text."]))
    assert res.ledger.num_rows == 0
    assert res.stats.data["stages"]["unicode_fix"]["counters"].get("ftfy_lines", 0) == 0
