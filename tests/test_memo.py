"""`core.memo.Memo`: bounded, least recently used dropped first, pickles empty."""

from __future__ import annotations

import pickle

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from corpusfilter.core.memo import Memo
from corpusfilter.dedup.lookup import IdIndexCache


@given(st.lists(st.integers(0, 6), max_size=60), st.integers(1, 4))
def test_holds_at_most_size_values_and_always_the_right_one(keys: list[int], size: int) -> None:
    memo: Memo[int, int] = Memo(size)
    calls = []
    recent: list[int] = []  # the model: most recently used last
    for k in keys:
        before = len(calls)
        assert memo.get(k, lambda k=k: calls.append(k) or k * k) == k * k
        hit = k in recent
        assert (len(calls) == before) == hit  # computed only when not held
        if hit:
            recent.remove(k)
        recent = [*recent, k][-size:]
        assert len(memo) == len(recent) <= size


def test_pickles_empty_and_keeps_working() -> None:
    memo: Memo[str, list[int]] = Memo(3)
    memo.get("a", lambda: [1])
    copy = pickle.loads(pickle.dumps(memo))
    assert len(copy) == 0 and copy.size == 3
    assert copy.get("a", lambda: [2]) == [2]


def test_identity_keys_tell_equal_tables_apart() -> None:
    cache = IdIndexCache()
    t1 = pa.table({"doc_id": ["a", "b"]})
    t2 = pa.table({"doc_id": ["a", "b"]})
    i1 = cache.get(t1)
    assert cache.get(t1) is i1
    assert cache.get(t2) is not i1  # an equal table is another plan
    assert pickle.loads(pickle.dumps(cache)).get(t1) is not i1
