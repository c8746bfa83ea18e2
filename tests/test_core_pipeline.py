"""The stage contract, the pipeline and the ledger on real documents."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from corpusfilter import Pipeline
from corpusfilter.core.errors import ConfigError, RemovalAlarm
from corpusfilter.core.ledger import LEDGER_FIELDS
from corpusfilter.dedup.exact import ExactDedup
from corpusfilter.filters.length import DocLength


def _ids(t: pa.Table, col: str = "id") -> set[str]:
    return set(t[col].to_pylist())


def test_doc_length_removes_short_docs_with_score_and_threshold(sample_table):
    res = Pipeline([DocLength(min_chars=500)]).run(sample_table)
    chars = dict(zip(sample_table["id"].to_pylist(),
                     pc.utf8_length(sample_table["text"]).to_pylist(), strict=True))
    expected_removed = {i for i, c in chars.items() if c < 500}
    assert expected_removed, "the sample should contain short pages"
    assert res.removed_ids == expected_removed
    assert _ids(res.kept) == set(chars) - expected_removed
    led = res.ledger.to_pylist()
    for row in led:
        assert row["stage"] == "doc_length"
        assert row["reason"] == "doc_length.min_chars"
        assert row["threshold"] == 500
        assert row["score"] == chars[row["doc_id"]] == row["text_chars"]
        assert row["action"] == "removed"


def test_ledger_schema_and_default_facets(sample_table):
    res = Pipeline([DocLength(min_chars=500)]).run(sample_table)
    names = res.ledger.schema.names
    assert names[: len(LEDGER_FIELDS)] == [f.name for f in LEDGER_FIELDS]
    assert names[len(LEDGER_FIELDS):] == ["source", "lang"]
    by_source = res.stats.data["stages"]["doc_length"]["by"]["source"]
    assert sum(v["in"] for v in by_source.values()) == sample_table.num_rows
    removed_by_source = pc.value_counts(res.ledger["source"]).to_pylist()
    for entry in removed_by_source:
        assert by_source[entry["values"]]["removed"] == entry["counts"]


def test_exact_dedup_keeps_smallest_id_and_names_it(sample_table):
    res = Pipeline([ExactDedup()]).run(sample_table)
    recaptures = [i for i in sample_table["id"].to_pylist() if i.startswith("recapture-")]
    assert len(recaptures) == 8
    rows = res.ledger.to_pylist()
    assert {r["doc_id"] for r in rows} | {json.loads(r["detail"])["duplicate_of"]
                                          for r in rows} >= set(recaptures)
    text_of = dict(zip(sample_table["id"].to_pylist(), sample_table["text"].to_pylist(),
                       strict=True))
    for r in rows:
        d = json.loads(r["detail"])
        keeper = d["duplicate_of"]
        assert keeper < r["doc_id"]  # smallest id kept
        assert " ".join(text_of[keeper].lower().split()) == \
            " ".join(text_of[r["doc_id"]].lower().split())
        assert d["group_size"] >= 2
        assert r["reason"] == "exact_dedup.duplicate"


def test_exact_dedup_keep_longest(sample_table):
    res = Pipeline([ExactDedup(keep="longest")]).run(sample_table)
    text_of = dict(zip(sample_table["id"].to_pylist(), sample_table["text"].to_pylist(),
                       strict=True))
    for r in res.ledger.to_pylist():
        keeper = json.loads(r["detail"])["duplicate_of"]
        assert len(text_of[keeper]) >= len(text_of[r["doc_id"]])


def test_global_stage_between_filters_sees_only_survivors(sample_table):
    res = Pipeline([DocLength(min_chars=500), ExactDedup(),
                    DocLength(max_chars=20_000).named("too_long")]).run(sample_table)
    stages = res.stats.data["stages"]
    assert list(stages) == ["input", "doc_length", "exact_dedup", "too_long"]
    assert stages["exact_dedup"]["in"] == sample_table.num_rows - stages["doc_length"]["removed"]
    assert stages["too_long"]["in"] == stages["exact_dedup"]["in"] - stages["exact_dedup"][
        "removed"]
    assert stages["too_long"]["removed"] > 0


def test_duplicate_labels_need_names(sample_table):
    with pytest.raises(ConfigError, match="used twice"):
        Pipeline([DocLength(), DocLength()])
    p = Pipeline({"stages": [{"stage": "doc_length", "min_chars": 500},
                             {"stage": "doc_length", "name": "doc_length_max",
                              "max_chars": 20_000}]})
    res = p.run(sample_table)
    assert set(res.ledger["stage"].to_pylist()) == {"doc_length", "doc_length_max"}
    assert set(res.ledger.filter(pc.equal(res.ledger["stage"], "doc_length_max"))["reason"]
               .to_pylist()) == {"doc_length_max.max_chars"}


def test_inputs_batches_parquet_and_arrow_stream(sample_table, tmp_path):
    p = Pipeline([DocLength(min_chars=500)])
    ref = p.run(sample_table)
    path = tmp_path / "s.parquet"
    import pyarrow.parquet as pq

    pq.write_table(sample_table, path)
    for data in (sample_table.to_batches(max_chunksize=37), path, str(path),
                 sample_table.to_reader()):
        res = p.run(data)
        assert _ids(res.kept) == _ids(ref.kept)


def test_pandas_and_polars_through_arrow(sample_table):
    pd = pytest.importorskip("pandas")
    df = sample_table.to_pandas()
    assert isinstance(df, pd.DataFrame)
    res = Pipeline([DocLength(min_chars=500)]).run(df)
    ref = Pipeline([DocLength(min_chars=500)]).run(sample_table)
    assert isinstance(res.kept, pd.DataFrame)  # results come back in the caller's type
    assert _ids(res.arrow["kept"]) == _ids(ref.kept) == set(res.kept["id"])
    pl = pytest.importorskip("polars")
    res2 = Pipeline([DocLength(min_chars=500)]).run(pl.from_arrow(sample_table))
    assert isinstance(res2.kept, pl.DataFrame)
    assert _ids(res2.kept.to_arrow()) == _ids(ref.kept)


def test_removal_alarm_stops_a_runaway_filter(sample_table):
    with pytest.raises(RemovalAlarm, match=r"doc_length removed .* above the alarm at 90%"):
        Pipeline([DocLength(min_chars=1_000_000)]).run(sample_table)
    # explicitly allowed: runs
    p = Pipeline({"stages": [{"stage": "doc_length", "min_chars": 1_000_000,
                              "max_removal_rate": 1.0}]})
    assert p.run(sample_table).kept.num_rows == 0


def test_annotations_and_transforms_are_recorded():
    from corpusfilter import Outcome, Transform, register

    class Upper(Transform):
        """Upper-cases documents containing 'x' (test stage)."""

        name = "test_upper"
        writes = ("has_x",)

        def transform(self, docs):
            has_x = np.array(["x" in t for t in docs.texts], dtype=bool)
            new = pa.array([t.upper() if h else t for t, h in zip(docs.texts, has_x,
                                                                  strict=True)])
            reason = np.where(has_x, "test_upper.had_x", None)
            return Outcome(keep=np.ones(len(docs), bool), reason=reason, text=new,
                           modified=has_x, annotations={"has_x": pa.array(has_x)},
                           detail=[{"n": int(h)} if h else None for h in has_x])

    t = pa.table({"id": ["a", "b", "c"], "text": ["x marks", "nothing", "box"]})
    res = Pipeline([Upper()]).run(t)
    assert res.kept["text"].to_pylist() == ["X MARKS", "nothing", "BOX"]
    assert res.kept["has_x"].to_pylist() == [True, False, True]
    led = res.ledger.to_pylist()
    assert [(r["doc_id"], r["action"], r["reason"], r["detail"]) for r in led] == [
        ("a", "modified", "test_upper.had_x", '{"n":1}'),
        ("c", "modified", "test_upper.had_x", '{"n":1}')]
    assert res.stats.data["stages"]["test_upper"]["modified"] == 2
    assert register  # the decorator is public API


def test_stage_without_reason_is_a_bug_not_a_silent_drop():
    from corpusfilter import Filter
    from corpusfilter.core.errors import StageError

    class Bad(Filter):
        name = "test_bad"

        def score(self, docs):
            return {}

        def decide(self, docs, scores):
            from corpusfilter import Outcome

            return Outcome(keep=np.zeros(len(docs), bool))

    t = pa.table({"id": ["a"], "text": ["hello"]})
    with pytest.raises(StageError, match="without a reason"):
        Pipeline([Bad()], max_removal_rate=None).run(t)


def test_record_scores_all_scores_documents_removed_earlier(sample_table):
    p = Pipeline([DocLength(min_chars=500), DocLength(max_chars=20_000).named("long")],
                 record_scores="all")
    res = p.run(sample_table)
    s = res.scores
    assert s is not None
    long_scores = s.filter(pc.equal(s["stage"], "long"))
    # every input document has a `chars` score from the second stage, seen or not
    assert set(long_scores["doc_id"].to_pylist()) == _ids(sample_table)
    unseen = set(long_scores.filter(pc.invert(long_scores["seen"]))["doc_id"].to_pylist())
    assert unseen == {r for r in res.removed_ids
                      if r in set(res.ledger.filter(pc.equal(res.ledger["stage"],
                                                             "doc_length"))["doc_id"]
                                  .to_pylist())}


def test_doc_length_counts_words_not_whitespace(sample_table):
    texts = ["  two words  ", "one", "   ", "\tthree\nwords here\n"]
    t = pa.table({"id": ["a", "b", "c", "d"], "text": texts})
    res = Pipeline([DocLength(min_chars=None, min_words=2)], max_removal_rate=None).run(t)
    assert res.kept["id"].to_pylist() == ["a", "d"]
    assert {r["doc_id"]: r["score"] for r in res.ledger.to_pylist()} == {"b": 1.0, "c": 0.0}
    real = Pipeline([DocLength(min_chars=None, min_words=100)]).run(sample_table)
    words = {i: len(t.split()) for i, t in zip(sample_table["id"].to_pylist(),
                                                sample_table["text"].to_pylist(), strict=True)}
    assert real.removed_ids == {i for i, w in words.items() if w < 100}


def test_counters_from_a_global_stages_collect_phase_reach_stats(sample_table):
    from corpusfilter.dedup.minhash import MinHashDedup

    extra = pa.table({"id": ["punct-only", "symbols"], "text": ["!!! ??? ...", "--- *** ###"]})
    t = pa.concat_tables([sample_table.select(["id", "text"]).slice(0, 20), extra])
    res = Pipeline([MinHashDedup()]).run(t)
    assert res.stats.data["stages"]["minhash_dedup"]["counters"]["no_shingles"] == 2
    assert {"punct-only", "symbols"} <= set(res.kept["id"].to_pylist())
