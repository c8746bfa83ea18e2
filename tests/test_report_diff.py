"""`corpusfilter diff` on real web text: a changed threshold changes exactly the documents
`whatif` predicts; the same pipeline in other batchings and worker counts changes nothing; a
transform added to the pipeline shows as text modified differently."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from corpusfilter.cli import main
from corpusfilter.engines.local import LocalEngine
from corpusfilter.report.analysis import doc_table, replay
from corpusfilter.report.data import Run
from corpusfilter.report.diff import KEPT, config_differences, diff_runs
from test_report import corpus, pipeline, run_dir


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    table = corpus(seed=11, plant="gamma", rate=0.3)
    return run_dir(tmp_path_factory.mktemp("base"), table), table


def test_diff_of_one_threshold_is_what_whatif_predicts(base, tmp_path: Path) -> None:
    out_a, table = base
    out_b = run_dir(tmp_path, table, pipeline(min_words=30))
    result = diff_runs(out_a, out_b)

    run = Run.open(out_a)
    docs = doc_table(run)
    _, reasons, _ = replay(run, docs, {"doc_length": {"min_words": 30}})
    now = np.array([r if r is not None else KEPT for r in reasons], dtype=object)
    before = np.array([r if r is not None else KEPT for r in docs.reason], dtype=object)
    predicted = {i: (b, a) for i, b, a in zip(docs.ids.to_pylist(), before, now, strict=True)
                 if b != a}
    assert predicted, "the threshold move must change some documents on this corpus"
    found = {d["doc_id"]: (d["a"], d["b"]) for d in result["changed_docs"]}
    assert found == predicted
    assert result["changed"] == len(predicted)
    assert sum(t["count"] for t in result["transitions"]) == len(predicted)
    # the explanation: exactly the one parameter that differs
    assert result["config"]["pipeline"] == [{"what": "doc_length.min_words", "a": 50, "b": 30}]
    # the facet breakdown adds up per transition
    for t in result["transitions"]:
        assert sum(t["by"]["source"].values()) == t["count"]


def test_no_change_across_batching_and_workers(base, tmp_path: Path) -> None:
    out_a, table = base
    inp = tmp_path / "in"
    inp.mkdir()
    pq.write_table(table.slice(0, 150), inp / "x-0.parquet")
    pq.write_table(table.slice(150), inp / "x-1.parquet")
    out_b = tmp_path / "out"
    LocalEngine(pipeline(), workers=2, batch_size=29, progress=False).run([inp], out_b)
    result = diff_runs(out_a, out_b)
    assert result["changed"] == 0
    assert result["documents"] == {"a": 400, "b": 400, "compared": 400}
    assert {d["what"] for d in result["config"]["execution"]} == {"workers", "batch_size"}
    assert result["config"]["pipeline"] == []
    assert main(["diff", str(out_a), str(out_b)]) == 0


def test_modified_text_and_exit_code(base, tmp_path: Path) -> None:
    out_a, table = base
    cfg = pipeline()
    cfg["stages"].insert(0, {"stage": "c4_quality"})
    out_b = run_dir(tmp_path, table, cfg)
    report = tmp_path / "diff.json"
    assert main(["diff", str(out_a), str(out_b), "--json", str(report)]) == 1
    result = json.loads(report.read_text())
    assert result["changed"] == len(result["changed_docs"]) > 0
    # ground truth from the outputs themselves: kept in both runs with different text
    texts = []
    for out in (out_a, out_b):
        t = pq.read_table(out / "data")
        texts.append(dict(zip(t["id"].to_pylist(), t["text"].to_pylist(), strict=True)))
    differ = {i for i in texts[0].keys() & texts[1].keys() if texts[0][i] != texts[1][i]}
    assert differ
    modified = {d["doc_id"] for d in result["changed_docs"] if d["kind"] == "modified differently"}
    assert modified == differ
    assert any(d["what"] == "stage c4_quality" for d in result["config"]["pipeline"])


def test_config_differences_name_versions_and_added_stages() -> None:
    a = {"stages": [{"label": "x", "stage": "gopher_quality", "version": 1, "params": {"k": 1}}],
         "config": {"facets": ["source"]}, "corpusfilter": "0.1.0", "workers": 1}
    b = {"stages": [{"label": "x", "stage": "gopher_quality", "version": 2, "params": {"k": 1}},
                    {"label": "y", "stage": "exact_dedup", "version": 1, "params": {}}],
         "config": {"facets": ["source", "lang"]}, "corpusfilter": "0.2.0", "workers": 1}
    d = config_differences(a, b)
    whats = [x["what"] for x in d["pipeline"]]
    assert whats == ["stage order", "x: version", "stage y", "facets"]
    assert d["environment"] == [{"what": "corpusfilter", "a": "0.1.0", "b": "0.2.0"}]
    assert d["execution"] == []
