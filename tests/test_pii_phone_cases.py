"""Phone numbers on real texts the precision rules were not written from (SMS spam, DCLM
pages; tests/data/pii/README.md): the stage finds exactly the numbers a reader finds."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from corpusfilter.filters.pii import Pii

CASES = pq.read_table(Path(__file__).parent / "data" / "pii" / "phone_cases.parquet").to_pylist()
STAGE = Pii(entities=["PHONE_NUMBER"])


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_phone_numbers_are_those_a_reader_finds(case: dict) -> None:
    text = case["text"]
    found = [text[f.start:f.end] for f in STAGE.analyze(text)]
    assert found == case["phones"]
