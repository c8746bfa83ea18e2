"""`boilerplate_lines`: repeated navigation goes as lines, the articles stay (real pages)."""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import TEST_DATA
from corpusfilter import Pipeline
from corpusfilter.core.docs import Docs
from corpusfilter.core.stage import Collected
from corpusfilter.dedup.lines import BoilerplateLines, normalize_lines, plan_lines, site_of

PAGES = TEST_DATA / "defaults" / "pages.parquet"


@pytest.fixture(scope="module")
def pages() -> pa.Table:
    return pq.read_table(PAGES)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _site(pages: pa.Table, host: str) -> pa.Table:
    return pages.filter(pc.match_substring(pages["url"].fill_null(""), host))


def test_site_navigation_removed_as_lines_articles_stay(pages: pa.Table) -> None:
    fox = _site(pages, "foxnews.com")
    assert fox.num_rows == 5
    result = Pipeline([BoilerplateLines(min_docs=None, min_site_docs=3)]).run(fox)
    assert result.kept.num_rows == 5  # no page removed
    before = dict(zip(fox["id"].to_pylist(), fox["text"].to_pylist(), strict=True))
    after = dict(zip(result.kept["id"].to_pylist(), result.kept["text"].to_pylist(),
                     strict=True))
    shrunk = [i for i in before if len(after[i]) < len(before[i])]
    assert len(shrunk) >= 4  # all but the owner of the navigation lose it
    # the curated article text of these pages is all still there
    checked = 0
    for doc_id, main in zip(fox["id"].to_pylist(), fox["main_text"].to_pylist(), strict=True):
        if main is None:
            continue
        page, out = _norm(before[doc_id]), _norm(after[doc_id])
        for line in main.splitlines():
            if len(line.strip()) >= 40 and _norm(line) in page:
                assert _norm(line) in out, line
                checked += 1
    assert checked >= 20
    # a navigation line repeated on every page of the site survives only in its owner
    lines_per_page = [{_norm(x) for x in t.splitlines() if x.strip()} for t in before.values()]
    common = set.intersection(*lines_per_page)
    assert common
    for line in common:
        holders = [i for i in after if line in {_norm(x) for x in after[i].splitlines()}]
        assert len(holders) == 1
    # ledger: one modified row per shrunk page, with counts per scope
    led = result.ledger.filter(pc.equal(result.ledger["stage"], "boilerplate_lines"))
    assert sorted(led["doc_id"].to_pylist()) == sorted(shrunk)
    assert set(led["action"].to_pylist()) == {"modified"}
    assert set(led["reason"].to_pylist()) == {"boilerplate_lines.lines_removed"}
    for row in led.to_pylist():
        assert '"site":' in row["detail"] and '"chars_removed":' in row["detail"]


def test_pages_of_different_sites_keep_their_lines(pages: pa.Table) -> None:
    # one page per site: nothing repeats within a site; corpus-wide counting off
    one_each = pages.filter(pc.invert(pc.match_substring(pages["url"].fill_null(""),
                                                         "foxnews.com")))
    result = Pipeline([BoilerplateLines(min_docs=None, min_site_docs=2)]).run(one_each)
    assert result.kept["text"].to_pylist() == one_each["text"].to_pylist()
    assert result.ledger.num_rows == 0


def test_batch_size_and_order_invariant(pages: pa.Table) -> None:
    stage = {"stage": "boilerplate_lines", "min_docs": 2, "min_site_docs": 2}
    ref = Pipeline({"stages": [stage]}).run(pages, batch_size=1000)
    for batch_size in (1, 4):
        out = Pipeline({"stages": [stage]}).run(pages, batch_size=batch_size)
        assert out.kept.equals(ref.kept)
        assert out.ledger.equals(ref.ledger)
    reordered = pages.take(pa.array(list(range(pages.num_rows))[::-1]))
    out = Pipeline({"stages": [stage]}).run(reordered)
    assert dict(zip(out.kept["id"].to_pylist(), out.kept["text"].to_pylist(), strict=True)) \
        == dict(zip(ref.kept["id"].to_pylist(), ref.kept["text"].to_pylist(), strict=True))


def test_exact_copies_behave_alike(pages: pa.Table) -> None:
    fox = _site(pages, "foxnews.com").slice(0, 1)
    copies = pa.concat_tables([fox, fox, fox]).set_column(
        0, "id", pa.array(["a", "b", "c"]))
    result = Pipeline([BoilerplateLines(min_docs=2, min_site_docs=2)]).run(copies)
    # three copies are one document for counting: no line is repeated, nothing changes
    assert result.kept["text"].to_pylist() == copies["text"].to_pylist()


_LINES = ["Home", "Share on Facebook", "Das ist ein Satz.", "Menü", "© 2019 Acme",
          "「こんにちは」と言った。", "Read more »", ""]


@given(st.lists(st.lists(st.sampled_from(_LINES), min_size=1, max_size=6), min_size=1,
                max_size=8))
def test_every_distinct_line_survives_somewhere(docs: list[list[str]]) -> None:
    texts = ["\n".join(d) for d in docs]
    table = pa.table({"id": [f"d{i}" for i in range(len(texts))], "text": texts})
    result = Pipeline([BoilerplateLines(min_docs=2, min_site_docs=None)]).run(table)
    removed = set(result.removed_ids)
    before = {x for t in texts for x in normalize_lines(pa.array(t.split("\n"))).to_pylist()
              if x}
    after = {x for t in result.kept["text"].to_pylist()
             for x in normalize_lines(pa.array(t.split("\n"))).to_pylist() if x}
    assert before == after
    # nothing is lost: a removed document's lines are all kept in other documents
    assert len(removed) + result.kept.num_rows == table.num_rows


def test_normalisation_and_sites() -> None:
    assert normalize_lines(pa.array(["  © 2019   Acme ", "© 2021 ACME"])).to_pylist() == \
        ["© 0000 acme", "© 0000 acme"]
    assert site_of(pa.array(["https://www.Example.org/a?b", "hard::x.html", None]),
                   3).to_pylist() == ["example.org", "", ""]


def test_bad_parameters() -> None:
    with pytest.raises(ValueError, match="min_docs"):
        BoilerplateLines(min_docs=1)
    with pytest.raises(ValueError, match="min_chars"):
        BoilerplateLines(min_chars=-1)


def _counts(text: str) -> dict[str, int]:
    # lines as the stage compares them (CCNet's normalisation: digits as 0)
    lines = [line for line in text.splitlines() if line.strip()]
    out: dict[str, int] = {}
    for key in normalize_lines(pa.array(lines, pa.string())).to_pylist():
        out[key] = out.get(key, 0) + 1
    return out


def test_widgets_repeated_within_a_page_keep_one_copy(pages: pa.Table) -> None:
    # real pages: menus listed three times, a phone number under every office, a Japanese
    # heading repeated as a link; Stack Exchange code ("}", "return 0;") is left out
    off = {"min_docs": None, "min_site_docs": None, "min_doc_repeats": None}
    stage = BoilerplateLines(min_docs=None, min_site_docs=None, min_doc_repeats=3,
                             source_overrides={"stackexchange": off})
    result = Pipeline([stage]).run(pages)
    assert result.kept.num_rows == pages.num_rows
    after = dict(zip(result.kept["id"].to_pylist(), result.kept["text"].to_pylist(),
                     strict=True))
    changed, checked = set(), 0
    for row in pages.to_pylist():
        before, out = _counts(row["text"]), _counts(after[row["id"]])
        if row["source"] == "stackexchange":
            assert after[row["id"]] == row["text"]
            continue
        for line, n in before.items():
            # a line 3+ times keeps exactly one copy; rarer lines keep every copy
            assert out.get(line, 0) == (1 if n >= 3 else n), (row["id"], line)
        if any(n >= 3 for n in before.values()):
            changed.add(row["id"])
        # the curated article's lines on the page are all still there
        page, kept = _norm(row["text"]), _norm(after[row["id"]])
        for line in (row["main_text"] or "").splitlines():
            if len(line.strip()) >= 40 and _norm(line) in page:
                assert _norm(line) in kept, line
                checked += 1
    assert len(changed) >= 10 and checked >= 50
    led = result.ledger.filter(pc.equal(result.ledger["stage"], "boilerplate_lines"))
    assert set(led["doc_id"].to_pylist()) == changed
    assert set(led["action"].to_pylist()) == {"modified"}
    assert all('"document":' in d for d in led["detail"].to_pylist())
    # per document: the same whatever the batching
    for batch_size in (1, 7):
        out = Pipeline([stage]).run(pages, batch_size=batch_size)
        assert out.kept.equals(result.kept) and out.ledger.equals(result.ledger)


def _collected_of(pages: pa.Table, shards: int, tmp_path=None) -> Collected:
    """What the engines hand `plan()`: one collected table per shard, in memory or as files."""
    stage = BoilerplateLines()
    size = -(-pages.num_rows // shards)
    tables = [stage.collect(Docs(b)) for i in range(shards)
              for b in pages.slice(i * size, size).combine_chunks().to_batches()]
    if tmp_path is None:
        return Collected(tables=tables)
    paths = []
    for i, t in enumerate(tables):
        paths.append(str(tmp_path / f"collected-{i}.parquet"))
        pq.write_table(t, paths[-1])
    return Collected(paths=paths)


@pytest.mark.parametrize("plan_rows", [1, 500, 5_000])
def test_spilled_plan_equals_the_one_pass_plan(pages: pa.Table, tmp_path, plan_rows: int) -> None:
    limits = {"corpus": 5, "site": 3}
    one_pass = plan_lines(_collected_of(pages, 4), limits, plan_rows=10**12)
    assert one_pass["corpus"].num_rows > 0 and one_pass["site"].num_rows > 0
    for collected in (_collected_of(pages, 4), _collected_of(pages, 4, tmp_path)):
        spilled = plan_lines(collected, limits, plan_rows=plan_rows)
        for scope in ("corpus", "site"):
            assert spilled[scope].equals(one_pass[scope]), scope
    assert not [p for p in tmp_path.iterdir() if p.is_dir()]  # the spill is removed


@given(st.lists(st.lists(st.sampled_from(_LINES), min_size=1, max_size=6), min_size=1,
                max_size=12), st.integers(1, 40))
def test_plan_does_not_depend_on_its_partitions(docs: list[list[str]], plan_rows: int) -> None:
    texts = ["\n".join(d) for d in docs]
    table = pa.table({"id": [f"d{i}" for i in range(len(texts))], "text": texts,
                      "url": [f"https://s{i % 2}.example/{i}" for i in range(len(texts))]})
    collected = _collected_of(table, 3)
    limits = {"corpus": 2, "site": 2}
    want = plan_lines(collected, limits, plan_rows=10**12)
    got = plan_lines(collected, limits, plan_rows=plan_rows)
    assert all(got[s].equals(want[s]) for s in want)
