"""The fast path against the reference path (`fast_path: false`).

The reference finds candidates with Presidio's own recognizers (its regexes, checksums and
`phonenumbers` matcher) and holds each to the same evidence rules (`Detector.evidence`). Every
layer the fast path adds (its own candidate scan of digit runs, the split of runs at
whitespace, look-up tables for cue words, the validation memo, the skips for texts without a
digit or an "@") must not lose a finding the reference makes: every reference finding lies
inside a fast-path finding (what the fast path redacts covers it), on real text with
inserted PII and on random strings built from the characters the rules read. The reference
shares the rules' code (`evidence` runs the type's finder on a window around the span), so
these tests check candidate generation and shortcuts, not the rules themselves. (The fast path finds more: numbers `phonenumbers` does not
match as candidates, such as local numbers after a cue word.)
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corpusfilter.filters.pii import Pii

DATA = Path(__file__).parent / "data" / "pii"
SNIPPETS = [r["text"] for r in pq.read_table(DATA / "web_snippets.parquet").to_pylist()]
SPANS = [r["text"] for r in pq.read_table(DATA / "pii_spans_sample.parquet").to_pylist()]
SLOW = settings(max_examples=400, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

FAST = Pii()
REFERENCE = Pii(fast_path=False)

# Pieces the rules read: cue words of every kind, separators, digit groups, signs.
PIECES = st.one_of(
    st.text("0123456789", min_size=1, max_size=5),
    st.sampled_from([" ", "-", ".", "/", " (", ") ", "+", "+49 ", "+1 ", "00", "0", " - ",
                     ":", "\n", "@", ", ", "x", "%", "€", "１２３", "−"]),
    st.sampled_from(["Tel. ", "call ", "Fax: ", "Telefon ", "電話：", "card ", "Visa ",
                     "SSN ", "IBAN ", "ISBN ", "page ", "version ", "id ", "server ",
                     "a.b@example.com", "DE89 3704 0044 0532 0130 00", "4111 1111 1111 1111",
                     "192.168.0.1", "fe80::1", "078-05-1120", "536-22-8726", "07.11.2023",
                     "2015 2016", "104 105 106", "office", "word "]),
)


def missing_from_fast(text: str) -> list[tuple[str, str]]:
    """Reference findings not inside a fast-path finding (the fast path merges overlapping
    findings, so a reference finding may sit inside a longer fast one)."""
    fast = FAST.analyze(text)
    return [(f.entity_type, text[f.start:f.end]) for f in REFERENCE.analyze(text)
            if not any(g.start <= f.start and f.end <= g.end for g in fast)]


def test_reference_findings_on_labelled_sentences_are_fast_findings() -> None:
    for text in SPANS:
        assert missing_from_fast(text) == [], text


@pytest.mark.slow
@SLOW
@given(st.lists(PIECES, min_size=1, max_size=25))
def test_reference_findings_on_random_strings_are_fast_findings(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert missing_from_fast(text) == [], text


@pytest.mark.slow
@SLOW
@given(base=st.sampled_from(SNIPPETS), pieces=st.lists(PIECES, min_size=1, max_size=12),
       where=st.floats(0, 1))
def test_reference_findings_in_real_text_are_fast_findings(base: str, pieces: list[str],
                                                           where: float) -> None:
    cut = int(where * len(base))
    text = base[:cut] + " " + "".join(pieces) + " " + base[cut:]
    assert missing_from_fast(text) == [], text


def test_both_paths_redact_the_same_cued_entities() -> None:
    """Entities with their evidence, which Presidio's candidate scan also finds: the two
    paths agree exactly."""
    text = ("Kontakt: anna@example.de, Tel. +49 30 901820, card 4111 1111 1111 1111, "
            "IBAN DE89 3704 0044 0532 0130 00, server 192.168.0.1, SSN 536-22-8726.")
    assert FAST.analyze(text) == REFERENCE.analyze(text)
    assert len(FAST.analyze(text)) == 6
