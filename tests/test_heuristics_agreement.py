"""Our heuristic stages against datatrove's filters on 615 real English documents.

datatrove is a benchmark-only dependency, so its decisions are recorded in
``tests/data/heuristics/datatrove_decisions.parquet`` (keep/drop and reason per filter, with
the document texts); regenerate that file with
``.venv/bin/python benchmarks/heuristics_agreement.py`` (which also prints every class of
disagreement; docs/heuristics.md explains each).

Agreement is required to be at least 97% per stage. One class is set apart:
datatrove's Gopher quality filter tokenizes with spaCy and counts every punctuation mark as a
word, so a page with many commas and full stops falls under "80% of words contain an
alphabetic character"; the Gopher paper's words are words, and ours never include
punctuation. That class is asserted separately (its cause and its size).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpusfilter import Pipeline
from corpusfilter.core.docs import Docs
from corpusfilter.filters.gopher import GopherQuality

DATA = Path(__file__).parent / "data" / "heuristics" / "datatrove_decisions.parquet"
TABLE = pq.read_table(DATA)
STAGES = ("gopher_quality", "gopher_repetition", "c4_quality", "fineweb_quality",
          "c4_paragraph")


def ours(stage: str) -> tuple[np.ndarray, list[str | None], dict[str, str]]:
    """Keep mask, reasons and the text kept (c4_quality) of our stage, default parameters."""
    table = TABLE.select(["id", "text"])
    result = Pipeline({"stages": [{"stage": stage}]}).run(table)
    removed = {r["doc_id"]: r["reason"].split(".", 1)[1]
               for r in result.ledger.to_pylist() if r["action"] == "removed"}
    ids = table["id"].to_pylist()
    kept_text = dict(zip(result.kept["id"].to_pylist(), result.kept["text"].to_pylist(),
                         strict=True))
    return (np.array([i not in removed for i in ids]), [removed.get(i) for i in ids],
            kept_text)


@pytest.mark.parametrize("stage", [s for s in STAGES if s != "gopher_quality"])
def test_agreement_per_stage(stage: str) -> None:
    keep, _, _ = ours(stage)
    theirs = np.array(TABLE[f"dt_{stage}"].to_pylist())
    agreement = float((keep == theirs).mean())
    assert agreement >= 0.97, f"{stage}: {agreement:.3f}"
    # both sides remove something: the comparison is not between two no-ops
    assert 0 < (~theirs).sum() < len(theirs) and 0 < (~keep).sum() < len(keep)


def test_gopher_quality_agreement_and_the_punctuation_class() -> None:
    keep, _, _ = ours("gopher_quality")
    theirs = np.array(TABLE["dt_gopher_quality"].to_pylist())
    dt_reason = TABLE["dt_gopher_quality_reason"].to_pylist()
    punct_class = np.array([r == "gopher_below_alpha_threshold" for r in dt_reason]) & keep
    rest = ~punct_class
    agreement = float((keep[rest] == theirs[rest]).mean())
    assert agreement >= 0.97, agreement
    # the class is what docs/heuristics.md says: we keep these pages because at least 80% of
    # their words (punctuation excluded) contain a letter, and it is a minority of pages
    texts = TABLE["text"].to_pylist()
    idx = np.flatnonzero(punct_class)
    batch = pa.record_batch({"id": [str(i) for i in idx], "text": [texts[i] for i in idx]})
    scores = GopherQuality().score(Docs(batch))
    assert (scores["alpha_words_ratio"] >= 0.8).all()
    assert len(idx) / len(texts) < 0.2


def test_c4_kept_text_matches_datatrove() -> None:
    keep, _, kept_text = ours("c4_quality")
    theirs = TABLE["dt_c4_text"].to_pylist()
    ids = TABLE["id"].to_pylist()
    both = [(kept_text[i], t) for i, k, t in zip(ids, keep, theirs, strict=True)
            if k and t is not None]
    assert len(both) > 300
    same = sum(a == b for a, b in both) / len(both)
    assert same >= 0.97, same
