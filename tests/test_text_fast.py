"""The fast paths of the text helpers equal their reference definitions (issue 21): the byte
pass of `split_words` and `whitespace_word_counts` the Arrow regex kernels, the per-batch
memo of derived text (prose text, words) what recomputing gives after rows are removed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conftest import TEST_DATA
from corpusfilter import Pipeline
from corpusfilter.core import batches
from corpusfilter.core.batches import Derived
from corpusfilter.core.docs import Docs
from corpusfilter.filters import text as T
from corpusfilter.filters.code import prose_of, prose_text
from corpusfilter.filters.unicode import UnicodeFix

# Characters where the word rules have edges: digits of several scripts around number
# separators, apostrophes, marks after spaceless characters (Thai vowel signs, a combining
# acute after a Han character), whitespace of every kind, and pieces of real words.
SPECIAL = list(".,:'’ \t\n\r\x0b\x0c\x1c\x85\xa0\u2028\u3000-_#…"
               "0123456789٣٤๑๒१२７\u0301\u0e31\u0e34\u0e48\u093f\u200b\u200d")
WORDS = ["Straße", "café", "привет", "日本語", "한국어", "العربية", "हिन्दी", "ไทย", "ພາສາ",
         "ភាសា", "မြန်မာ", "བོད", "カタカナ", "ひらがな", "don't", "1.000,5", "x", "😀"]
PIECE = st.one_of(st.sampled_from(SPECIAL), st.sampled_from(WORDS),
                  st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=4))
TEXTS = st.lists(st.lists(PIECE, max_size=30).map("".join), min_size=1, max_size=10)


def arrays(texts: list[str]):
    """The same texts as string, a slice with an offset, large string, and chunked."""
    yield pa.array(["pad 1.2", *texts], pa.string()).slice(1)
    yield pa.array(texts, pa.large_string())
    yield pa.chunked_array([pa.array(texts[:1], pa.string()), pa.array(texts[1:], pa.string())])


def same_pieces(got: T.Pieces, want: T.Pieces) -> None:
    assert got.values.to_pylist() == want.values.to_pylist()
    assert got.offsets.tolist() == want.offsets.tolist()
    assert got.lengths.tolist() == want.lengths.tolist()


@settings(max_examples=400, deadline=None)
@given(TEXTS)
@example(["1.2.3.4.5.6.7", "1,2:3.4", "a1.b", "1..2", "'''", "’tis’ don't ''x''", ""])
@example(["漢\u0301abc", "a\u0e31\u0e31b", "ไ\u0e31\u0e31x", "๑.๒ 1.๒ ٣.٤", ".1.", "1."])
def test_split_words_equals_the_regex_definition(texts: list[str]) -> None:
    for arr in arrays(texts):
        same_pieces(T.split_words(arr), T.split_words_regex(arr))


def test_split_words_on_empty_and_null_documents() -> None:
    arr = pa.array(["a b", None, "", "c"], pa.string())
    same_pieces(T.split_words(arr), T.split_words_regex(arr))
    same_pieces(T.split_words(pa.array([], pa.string())),
                T.split_words_regex(pa.array([], pa.string())))


def test_split_words_on_real_multilingual_pages() -> None:
    t = pq.read_table(Path(__file__).parent / "data" / "heuristics" / "multilingual.parquet")
    same_pieces(T.split_words(t["text"]), T.split_words_regex(t["text"]))


def test_word_values_keep_the_text_type() -> None:
    assert T.split_words(pa.array(["a b"], pa.large_string())).values.type == pa.large_string()
    assert T.split_words(pa.array(["a b"], pa.string())).values.type == pa.string()


def test_numbers_join_and_apostrophes_stay_inside() -> None:
    got = T.split_words(pa.array(["1.000,5 don't"])).values.to_pylist()
    assert got == ["10005", "don't"]
    assert np.array_equal(T.split_words(pa.array(["x"])).offsets, [0, 1])


@settings(max_examples=300, deadline=None)
@given(TEXTS)
@example(["a & b", "", "  x", "GPU显卡 2024年", "p.m. ghoul-friend |", "\u3000\xa0x\u2028y "])
@example(["ไ\u0e31 \u0e31", "漢\u0301", "\u200b", "a\x1cb\x1fc"])
def test_whitespace_word_counts_equal_the_arrow_definition(texts: list[str]) -> None:
    for arr in arrays(texts):
        assert T.whitespace_word_counts(arr).tolist() == \
            T.whitespace_word_counts_regex(arr).tolist()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.integers(1, 9), max_size=25), min_size=1, max_size=6),
       st.integers(1, 6), st.data())
def test_covered_chars_equal_a_pass_over_every_word(docs: list[list[int]], m: int,
                                                    data: st.DataObject) -> None:
    """Word lengths per document, spans of m words inside a document, any subset."""
    wlen = np.array([x for d in docs for x in d], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum([len(d) for d in docs])]).astype(np.int64)
    words = T.Pieces(pa.array(["w"] * len(wlen), pa.string()), offsets)
    possible = [s for d in range(len(docs)) for s in range(offsets[d], offsets[d + 1] - m + 1)]
    starts = np.array(sorted(data.draw(st.sets(st.sampled_from(possible)) if possible
                                       else st.just(set()))), dtype=np.int64)
    cum = np.concatenate([[0], np.cumsum(wlen)]).astype(np.int64)
    got = T.covered_chars(starts, m, cum, words.doc, len(docs))
    assert got.tolist() == T.covered_chars_reference(starts, m, wlen, words).tolist()


# -- the per-batch memo of derived text ---------------------------------------------------

CODE_OR_PROSE = st.sampled_from([
    "The cat sat on the mat. The cat sat on the mat again.",
    "x = compute(a, b);\nprint(x)\nThe result is printed.",
    "```\nfor i in range(3):\n    pass\n```\nA loop that does nothing.",
    "", "Ein Satz mit 1.000,5 Euro.", "日本語のテキスト。", "a\n\nb\n\nb"])


@settings(max_examples=100, deadline=None)
@given(st.lists(CODE_OR_PROSE, min_size=1, max_size=8), st.data())
def test_memo_carried_through_row_removals_equals_recomputing(texts: list[str],
                                                              data: st.DataObject) -> None:
    batch = pa.record_batch({"id": [str(i) for i in range(len(texts))], "text": texts})
    derived = Derived()
    for _ in range(3):  # three stages, rows removed between them
        docs = Docs(batch, derived=derived)
        prose = prose_of(docs)
        assert prose.to_pylist() == prose_text(batch.column("text")).to_pylist()
        for text in (prose, docs.text):
            got = T.doc_words(docs, text)
            same_pieces(got, T.split_words_regex(text))
        if data.draw(st.booleans()):  # the prose text's words were computed first above
            assert T.doc_words(docs, prose) is T.doc_words(docs, prose)
        keep = np.array(data.draw(st.lists(st.booleans(), min_size=batch.num_rows,
                                           max_size=batch.num_rows)), dtype=bool)
        batch = batch.filter(pa.array(keep))
        derived = derived.select(keep, batch.column("text"))


def test_memo_forgets_values_of_another_text() -> None:
    derived = Derived()
    a, b = pa.array(["one two"]), pa.array(["one two"])
    assert derived.get("x", a, lambda: 1) == 1
    assert derived.get("x", a, lambda: 2) == 1
    assert derived.peek("x", b) is None  # equal strings, another array: not trusted
    assert derived.get("x", b, lambda: 3) == 3


def test_pipeline_with_carried_memo_equals_recomputing_per_stage(monkeypatch) -> None:
    """The default recipe's text stages on real pages (code, several languages), a
    transform (c4_quality) between stages that share derived text: the same kept text,
    ledger and counters as when no stage reuses another's values."""
    pages = pq.read_table(TEST_DATA / "defaults" / "pages.parquet")
    names = ("unicode_fix", "gopher_repetition", "c4_quality", "doc_length",
             "gopher_quality", "fineweb_quality")
    stages = [e for e in Pipeline("default").config.stages if e["stage"] in names]
    stages.insert(1, {"stage": "gopher_quality", "name": "gq_before", "skip_code": True})

    def run() -> tuple[list, list, dict]:
        res = Pipeline({"stages": stages, "max_removal_rate": 1.0}).run(pages, batch_size=64)
        led = res.ledger.drop_columns(["seconds"]) if "seconds" in res.ledger.column_names \
            else res.ledger
        stats = {k: {kk: vv for kk, vv in v.items() if "seconds" not in kk}
                 for k, v in res.stats.data["stages"].items()}
        return res.kept["text"].to_pylist(), led.to_pylist(), stats

    carried = run()
    monkeypatch.setattr(batches.Derived, "select", lambda self, keep, text: batches.Derived())
    fresh = run()
    assert carried == fresh
    assert len(carried[1]) > 10  # the stages did remove and modify documents


# -- unicode_fix: the line prefilter never skips a line ftfy would be handed ----------------

@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.one_of(st.sampled_from(["\n", "\n\n", "&amp;", "ﬁ", "\x1b[0m"]),
                                   st.text(alphabet=st.sampled_from(list(
                                       "ab \nÃÂâ€œ™é©\x80\x9d\xa0–’“日Ж\ufffd\x07&<")),
                                       max_size=30)), max_size=6).map("".join),
                min_size=1, max_size=6))
@example(["Voilà!\nÃ la carte\n", "\n", "", "x\n\ncafÃ©"])
def test_unicode_line_prefilter_keeps_every_line_that_needs_a_check(texts: list[str]) -> None:
    stage = UnicodeFix()
    stage.setup()
    docs = Docs(pa.record_batch({"id": [str(i) for i in range(len(texts))], "text": texts}))
    rows = np.arange(len(texts))
    bad = rows % 2 == 1
    for may_be_bad in (bad, ~bad):
        maybe = stage.line_prefilter(docs, rows, may_be_bad)
        for i, flags in zip(rows, maybe, strict=True):
            segments = stage.segments(texts[i])
            assert flags is not None and len(flags) == len(segments)
            for seg, flag in zip(segments, flags, strict=True):
                if stage.needs_fix(seg, bool(may_be_bad[i])):
                    assert flag, seg


ENTITY_TEXT = st.lists(st.lists(st.one_of(
    st.sampled_from(["&amp;", "&eacute;", "&#x2019;", "&#39;", "Q&A", "&", "&AMP;", "&nbsp",
                     "&ATILDE;&SUP3;", "<b>", "&#1234567;", "&;", "& amp;", "\n", "Ã©", "ﬁ"]),
    st.text(alphabet=st.sampled_from(list("ab #;&\n0x")), max_size=8)), max_size=8).map("".join),
    min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(ENTITY_TEXT)
def test_unicode_fix_with_ampersands_equals_ftfy(texts: list[str]) -> None:
    import ftfy

    stage = UnicodeFix()
    stage.setup()
    docs = Docs(pa.record_batch({"id": [str(i) for i in range(len(texts))], "text": texts}))
    out = stage.transform(docs)
    got = out.text.to_pylist() if out.text is not None else texts
    want = [ftfy.fix_text(t, stage._config._replace(explain=False, unescape_html="<" not in t))
            for t in texts]
    assert got == want


# Spaceless units in every combination: ideographic and syllabic characters, marks of their
# own scripts and inherited ones (combining kana marks, an acute), their digits, separators.
UNITS = st.lists(st.text(alphabet=st.sampled_from(list(
    "漢字あア\u3099\u309aไท\u0e31\u0e34\u0e48๑๒ລ\u0eb1ក\u17b6\u17d2မ\u103a\u1039༡\u0f72"
    "\u0301\u0308a1.,:'’ \n")), max_size=25), min_size=1, max_size=8)


@settings(max_examples=500, deadline=None)
@given(UNITS)
@example(["\u0e31\u0e31", "x\u0301\u0e31\u0e34y", "漢\u3099\u0e31ไ", "๑.๒.3", "ไ\u0e31.1"])
def test_spaceless_units_cut_as_the_regex_replacement(texts: list[str]) -> None:
    for arr in arrays(texts):
        same_pieces(T.split_words(arr), T.split_words_regex(arr))
        assert T.whitespace_word_counts(arr).tolist() == \
            T.whitespace_word_counts_regex(arr).tolist()


LINES = st.lists(st.lists(st.one_of(
    st.sampled_from(["\n", "\n\n", "\n\n\n", "\r\n", "\r", "\x0b", "\x0c", "\x1c", "\x85",
                     "\u2028", "\u2029", " ", "\t", "é", "Å", "…"]),
    st.text(alphabet=st.sampled_from(list("ab .")), max_size=5)), max_size=12).map("".join),
    min_size=1, max_size=8)


@settings(max_examples=300, deadline=None)
@given(LINES)
def test_literal_line_splits_equal_the_regex_splits(texts: list[str]) -> None:
    for arr in arrays(texts):
        for sep in (r"\n", r"\n+", T.LINE_BREAK, r"\n{2,}"):
            for strip in (False, True):
                same_pieces(T.split_pieces(arr, sep, strip),
                            T.split_pieces_regex(arr, sep, strip))
        # and batches where every document has only "\n" for a line break
        plain = [t.translate({ord(c): "\n" for c in "\r\x0b\x0c\x1c\x85\u2028\u2029"})
                 for t in texts]
        same_pieces(T.split_lines(pa.array(plain)),
                    T.split_pieces_regex(pa.array(plain), T.LINE_BREAK))


@settings(max_examples=300, deadline=None)
@given(LINES)
@example(["\x85", "é\u2028", "\xe9\x85", "\u2027\u202a\u2029", "\x1f\x1b\x0e\x0b", "\t\n"])
def test_other_line_break_docs_are_those_the_regex_finds(texts: list[str]) -> None:
    """The byte test of `_other_line_break_docs` names exactly the documents in which RE2 finds a
    line break other than "\\n" (neighbours of the break bytes in the examples: U+2027,
    U+202A, é before U+0085, the C0 controls around \\v)."""
    with_nulls = [*texts, None, ""]
    for arr in arrays(with_nulls):
        text = T.as_text(arr)
        want = np.flatnonzero(pc.fill_null(pc.match_substring_regex(
            text, T._OTHER_BREAKS), False).to_numpy(zero_copy_only=False))
        assert np.flatnonzero(T._other_line_break_docs(text)).tolist() == want.tolist()


@settings(max_examples=200, deadline=None)
@given(TEXTS, st.sampled_from(["#", "\n", ".", "...", "…", "a"]))
def test_count_substring_equals_arrow(texts: list[str], pattern: str) -> None:
    for arr in arrays(texts):
        plain = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
        want = pc.count_substring(plain, pattern).to_numpy(zero_copy_only=False)
        assert T.count_substring(arr, pattern).tolist() == want.tolist()
