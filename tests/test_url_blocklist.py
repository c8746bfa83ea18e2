"""The `url_blocklist` stage: a user-supplied domain list, real URLs from web pages."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from corpusfilter import Pipeline
from corpusfilter.core.errors import ConfigError, StageError
from corpusfilter.filters.url_blocklist import host_of

PARAS = [json.loads(x) for x in (Path(__file__).parent / "data" / "toxicity"
                                 / "clean_paragraphs.jsonl").read_text("utf-8").splitlines()]


def corpus() -> pa.Table:
    rows = [p for p in PARAS if p["url"]]
    return pa.table({"id": [p["id"] for p in rows], "text": [p["text"] for p in rows],
                     "url": [p["url"] for p in rows]})


def test_blocks_domain_and_subdomains_from_a_file(tmp_path: Path) -> None:
    t = corpus()
    hosts = [host_of(u) for u in t["url"].to_pylist()]
    target = hosts[0]
    parent = ".".join(target.split(".")[-2:])  # e.g. www.example.com -> example.com
    lst = tmp_path / "block.txt"
    lst.write_text(f"# my list\n\n{parent}  # parent domain blocks subdomains\n"
                   f"https://not-in-the-corpus.example/path\n", encoding="utf-8")
    res = Pipeline({"stages": [{"stage": "url_blocklist", "path": str(lst)}],
                    "max_removal_rate": None}).run(t)
    expected = {i for i, h in zip(t["id"].to_pylist(), hosts, strict=True)
                if h == parent or h.endswith("." + parent)}
    assert res.removed_ids == expected and expected
    row = res.ledger.to_pylist()[0]
    assert row["reason"] == "url_blocklist.blocked"
    assert json.loads(row["detail"])["domain"] == parent
    assert res.kept.num_rows + len(expected) == t.num_rows


def test_suffix_is_not_a_subdomain() -> None:
    t = pa.table({"id": ["a", "b", "c", "d"], "text": ["x"] * 4,
                  "url": ["https://badexample.com/", "http://WWW.Example.com:8080/a",
                          None, "not a url at all"]})
    res = Pipeline({"stages": [{"stage": "url_blocklist", "domains": ["example.com"]}],
                    "max_removal_rate": None}).run(t)
    assert res.removed_ids == {"b"}
    assert res.stats.data["stages"]["url_blocklist"]["counters"]["no_url"] == 1


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="block list"):
        Pipeline({"stages": [{"stage": "url_blocklist"}]})
    with pytest.raises(ConfigError, match="not found"):
        Pipeline({"stages": [{"stage": "url_blocklist", "path": str(tmp_path / "none.txt")}]})
    bad = tmp_path / "bad.txt"
    bad.write_text("good.com\nthis is not a domain\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 2"):
        Pipeline({"stages": [{"stage": "url_blocklist", "path": str(bad)}]})
    t = pa.table({"id": ["a"], "text": ["x"]})
    with pytest.raises((ConfigError, StageError), match="column 'url' not found"):
        Pipeline({"stages": [{"stage": "url_blocklist", "domains": ["a.com"]}]}).run(t)
