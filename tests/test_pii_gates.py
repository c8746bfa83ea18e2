"""The PII batch prefilter (`Detector.skips`) only skips finders that would find nothing:
the findings with and without it are the same, on real snippets and on generated text of
PII-like pieces in several scripts (Unicode digits and separators included)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from corpusfilter.core.docs import Docs
from corpusfilter.filters.pii import Pii
from corpusfilter.filters.pii.detection import DEFAULT_ENTITIES, GATES, Detector, gate_re2

DATA = Path(__file__).parent / "data" / "pii"
SNIPPETS = [r["text"] for r in pq.read_table(DATA / "web_snippets.parquet").to_pylist()]
SPANS = [r["text"] for r in pq.read_table(DATA / "pii_spans_sample.parquet").to_pylist()]
DETECTOR = Detector()

PIECES = st.one_of(
    st.text("0123456789", min_size=1, max_size=6),
    st.text("٠١٢٣٤٥٦٧٨٩０１２３४५", min_size=1, max_size=4),  # digits of other scripts
    st.sampled_from([" ", "-", ".", "/", " (", ") ", "+", "+49 ", "+1 ", "00", "0", " - ",
                     ":", "::", "\n", "@", ", ", "x", "%", "€", "−", "\u00a0", "\u3000",
                     "–", "＋", "（", "ext. ", "bc1", "1", "3"]),
    st.sampled_from(["Tel. ", "call ", "Fax: ", "電話：", "card ", "SSN ", "IBAN ",
                     "server ", "a.b@example.com", "名前@例え.jp", "DE89 3704 0044 0532 0130 00",
                     "GB82WEST12345698765432", "4111 1111 1111 1111", "4111-1111-1111-1111",
                     "192.168.0.1", "fe80::1", "2001:db8::8a2e:370:7334", "536-22-8726",
                     "536 22 8726", "+44 20 7946 0958", "(212) 555-0187", "0711 123456",
                     "1BoatSLRHtKNngkdXEeobR76b53LETtpyT", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
                     "Straße ", "привет ", "日本語 ", "한국어 ", "word "]),
)


def same_with_and_without_skips(texts: list[str]) -> None:
    skips = DETECTOR.skips(pa.array(texts, pa.string()))
    for text, skip in zip(texts, skips, strict=True):
        assert DETECTOR.analyze(text, skip) == DETECTOR.analyze(text), text
        for entity, find in DETECTOR.finders:  # a skipped finder finds nothing at all
            if entity in skip:
                assert list(find(text)) == [], (entity, text)


def test_every_default_type_has_a_gate():
    assert set(GATES) == set(DEFAULT_ENTITIES)
    assert all(gate_re2(e) is not None for e in DEFAULT_ENTITIES)


def test_real_snippets_and_labelled_sentences():
    same_with_and_without_skips(SNIPPETS + SPANS)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(PIECES, min_size=1, max_size=20).map("".join), min_size=1,
                max_size=6))
@example(["call 1 2 3 4 5 6", "call 12 34 5", "IBAN gb82west12345698765432", "١٢٣٤٥٦٧"])
def test_generated_text(texts):
    same_with_and_without_skips(texts)


def test_plain_prose_skips_every_type():
    text = "The committee met on Tuesday; nothing in this sentence is personal data."
    assert DETECTOR.skips(pa.array([text]))[0] == frozenset(DEFAULT_ENTITIES)


def test_stage_output_is_unchanged_by_the_prefilter():
    table = pa.table({"id": [str(i) for i in range(len(SPANS))], "text": SPANS})
    stage = Pii()
    stage.setup()
    docs = Docs(table.combine_chunks().to_batches()[0])
    out = stage.transform(docs)
    want = [stage.scrub([t])[0] for t in SPANS]  # scrub analyses every type in every text
    got = out.text.to_pylist() if out.text is not None else SPANS
    assert got == want
