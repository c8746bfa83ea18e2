"""Dedup `apply()` in O(batch): `IdIndex` finds ids exactly as `pc.index_in` does, is built
once per plan (not once per batch), and leaves outputs and ledger unchanged on real text."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from corpusfilter.core.pipeline import Pipeline
from corpusfilter.dedup import lookup
from corpusfilter.dedup.exact import ExactDedup
from corpusfilter.dedup.lookup import IdIndex
from corpusfilter.dedup.minhash import MinHashDedup


def _reference(plan_ids: pa.Array, ids: pa.Array) -> np.ndarray:
    """The previous path: a hash table of the whole plan for every batch."""
    pos = pc.index_in(ids, value_set=plan_ids)
    return pos.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


ids_st = st.lists(st.text(max_size=40), max_size=60)


@given(plan=ids_st.map(lambda x: list(dict.fromkeys(x))), query=ids_st)
def test_positions_equal_index_in(plan: list[str], query: list[str]) -> None:
    plan_arr, query_arr = pa.array(plan, pa.string()), pa.array(plan[:7] + query, pa.string())
    got = IdIndex(plan_arr).positions(query_arr)
    assert got.tolist() == _reference(plan_arr, query_arr).tolist()


def test_colliding_hashes_still_find_the_right_id(monkeypatch: pytest.MonkeyPatch,
                                                  sample_table: pa.Table) -> None:
    # Every id hashes to the same value: each lookup must fall back to comparing strings.
    monkeypatch.setattr(lookup, "_hashes", lambda ids: np.zeros(len(ids), np.uint64))
    plan = sample_table["id"].combine_chunks().slice(0, 40)
    query = pa.concat_arrays([sample_table["id"].combine_chunks().slice(30, 30),
                              pa.array(["not-in-the-plan"])])
    got = IdIndex(plan).positions(query)
    assert got.tolist() == _reference(plan, query).tolist()
    assert (got[:10] == np.arange(30, 40)).all() and (got[10:] == -1).all()


@pytest.fixture(scope="module")
def dup_corpus(sample_table: pa.Table) -> pa.Table:
    """The 414 real sample documents, exact copies of 60 (case changed) and near copies of 60
    (the last 3% of words dropped), in shuffled order."""
    rows = sample_table.select(["id", "text", "source"]).to_pylist()
    extra = []
    for k, r in enumerate(rows[:60]):
        extra.append({**r, "id": f"copy-{k:03d}", "text": r["text"].upper()})
    for k, r in enumerate(rows[60:120]):
        words = r["text"].split(" ")
        extra.append({**r, "id": f"near-{k:03d}", "text": " ".join(words[:int(len(words) * .97)])})
    all_rows = rows + extra
    order = np.random.default_rng(3).permutation(len(all_rows))
    return pa.Table.from_pylist([all_rows[i] for i in order])


def _stages() -> list:
    return [ExactDedup(), MinHashDedup(annotate=True)]


def test_index_is_built_once_per_plan_not_per_batch(dup_corpus: pa.Table) -> None:
    before = IdIndex.builds
    res = Pipeline(_stages()).run(dup_corpus, batch_size=10)  # 54 batches
    # exact's removed ids, minhash's removed ids and its cluster heads: three plans.
    assert IdIndex.builds - before == 3
    assert len(res.removed_ids) > 100


def test_outputs_equal_the_index_in_path(monkeypatch: pytest.MonkeyPatch,
                                         dup_corpus: pa.Table) -> None:
    fast = Pipeline(_stages()).run(dup_corpus, batch_size=37)
    monkeypatch.setattr(IdIndex, "positions", lambda self, ids: _reference(self.ids, ids))
    ref = Pipeline(_stages()).run(dup_corpus, batch_size=37)
    assert fast.kept.equals(ref.kept)
    assert fast.ledger.equals(ref.ledger)
    reasons = set(fast.ledger["reason"].to_pylist())
    assert {"exact_dedup.duplicate", "minhash_dedup.near_duplicate"} <= reasons, reasons
