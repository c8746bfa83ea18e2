"""`boilerplate_lines`' apply side, fast paths against their definitions (issue 21): the one
unstable sort of `_repeated_in_doc` against the exact (document, line, position) sort, also
when mixed keys collide; the text hash of a subset of documents (apply hashes only those that
hold a planned line) against the hash of every document."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import TEST_DATA
from corpusfilter.core.docs import Docs
from corpusfilter.dedup import lines as L
from corpusfilter.dedup.lines import BoilerplateLines

PAGES = TEST_DATA / "defaults" / "pages.parquet"

# documents made of lines drawn from a small pool (so lines repeat within and across
# documents), with case, digit and whitespace variants that normalise to the same line
LINE = st.sampled_from(["Share this", "share  THIS", "Reply", "© 2019 Acme", "© 2021 Acme",
                        "", "   ", "Read more…", "Затем", "記事を読む", "x", "Reply "])
DOCS = st.lists(st.lists(LINE, max_size=12).map("\n".join), min_size=1, max_size=12)


def _lines_of(texts: list[str], stage: BoilerplateLines) -> L._Lines:
    batch = pa.record_batch({"id": [str(i) for i in range(len(texts))], "text": texts})
    return stage._lines(Docs(batch), doc_hashes=False)


@settings(max_examples=300, deadline=None)
@given(DOCS, st.sampled_from([2, 3]), st.sampled_from([0, 3]))
def test_repeated_in_doc_equals_the_exact_sort(texts: list[str], repeats: int,
                                               min_chars: int) -> None:
    stage = BoilerplateLines(min_doc_repeats=repeats, min_chars=min_chars)
    ln = _lines_of(texts, stage)
    assert stage._repeated_in_doc(ln).tolist() == stage._repeated_in_doc_reference(ln).tolist()


@settings(max_examples=100, deadline=None)
@given(DOCS)
def test_repeated_in_doc_when_every_mixed_key_collides(texts: list[str]) -> None:
    """With a zero mix every document's copy of a line has one key: the exact sort decides."""
    stage = BoilerplateLines(min_doc_repeats=2)
    ln = _lines_of(texts, stage)
    mix = L._DOC_MIX
    L._DOC_MIX = np.uint64(0)
    try:
        got = stage._repeated_in_doc(ln)
    finally:
        L._DOC_MIX = mix
    assert got.tolist() == stage._repeated_in_doc_reference(ln).tolist()


@pytest.mark.parametrize("repeats", [2, 3])
def test_repeated_in_doc_on_real_pages(repeats: int) -> None:
    texts = pq.read_table(PAGES, columns=["text"])["text"].to_pylist()
    stage = BoilerplateLines(min_doc_repeats=repeats)
    ln = _lines_of(texts, stage)
    got = stage._repeated_in_doc(ln)
    assert got.any()  # real pages repeat widgets within a page
    assert got.tolist() == stage._repeated_in_doc_reference(ln).tolist()


@settings(max_examples=200, deadline=None)
@given(DOCS, st.data())
def test_doc_hashes_of_a_subset_are_the_full_hashes(texts: list[str], data) -> None:
    rows = sorted(data.draw(st.sets(st.integers(0, len(texts) - 1))))
    text = pa.array(texts)
    full = L._doc_hashes(text)
    assert L._doc_hashes(text.take(pa.array(rows, pa.int64()))).tolist() == \
        full[rows].tolist()
    # equal hashes exactly where the texts are equal up to case and whitespace
    norm = [" ".join(t.lower().split()) for t in texts]
    for i in range(len(texts)):
        for j in range(len(texts)):
            assert (full[i] == full[j]) == (norm[i] == norm[j])
