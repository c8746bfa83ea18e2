"""The code in the docs runs as written."""

from __future__ import annotations

import re

import pyarrow as pa

from conftest import ROOT


def _blocks(name: str) -> list[str]:
    text = (ROOT / "docs" / name).read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_writing_a_stage_example_filters_real_text(sample_table):
    ns: dict = {}
    exec(_blocks("writing-a-stage.md")[0], ns)
    from corpusfilter import Pipeline
    from corpusfilter.core import registry

    stage = registry.get("question_marks")(max_ratio=0.05)
    texts = ["Why?\nHow?\nA statement.", "One line.\nTwo lines.", ""]
    t = pa.table({"id": ["q", "s", "e"], "text": texts})
    res = Pipeline([stage], max_removal_rate=None).run(t)
    assert res.kept["id"].to_pylist() == ["s", "e"]
    row = res.ledger.to_pylist()[0]
    assert (row["doc_id"], row["reason"], row["threshold"]) == (
        "q", "question_marks.question_ratio", 0.05)
    assert abs(row["score"] - 2 / 3) < 1e-9
    res = Pipeline([stage], max_removal_rate=None).run(sample_table, batch_size=33)
    assert res.kept.num_rows + res.ledger.num_rows == sample_table.num_rows
