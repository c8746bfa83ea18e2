"""`whatif` re-decides the filters that attach a detail to their removals (`toxicity`,
`url_blocklist`): they explain through `Filter.measure()` and still decide through their
rules, so the report re-applies other thresholds to their logged scores exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpusfilter.engines.local import LocalEngine
from corpusfilter.report.analysis import Options, build_report, whatif
from corpusfilter.report.data import Run

DATA = Path(__file__).parent / "data" / "report" / "web_slice.parquet"
DOMAINS = ["www.foxnews.com", "www.theguardian.com", "www.sfgate.com"]


def pipeline(max_fraction: float) -> dict[str, Any]:
    return {
        "facets": ["source"],
        "record_scores": "all",
        "max_removal_rate": 1.0,
        "stages": [
            {"stage": "url_blocklist", "domains": DOMAINS},
            {"stage": "toxicity", "max_fraction": max_fraction, "max_severe": None},
        ],
    }


def run(tmp: Path, table: pa.Table, cfg: dict[str, Any]) -> Path:
    inp = tmp / "in"
    inp.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, inp / "part-0.parquet")
    out = tmp / "out"
    LocalEngine(cfg, batch_size=128, progress=False).run([inp], out, overwrite=True)
    return out


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return pq.read_table(DATA)


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory, table: pa.Table) -> Path:
    return run(tmp_path_factory.mktemp("strict"), table, pipeline(max_fraction=0.002))


def test_both_filters_are_re_decided_with_full_ledger_agreement(strict: Path) -> None:
    ind = build_report(strict)["independent"]
    rows = {r["stage"]: r for r in ind["stages"]}
    assert "toxicity" not in ind["skipped"] and "url_blocklist" not in ind["skipped"]
    assert rows["url_blocklist"]["removed_independent"] > 0
    assert rows["toxicity"]["removed_independent"] > 0
    assert rows["url_blocklist"]["agreement"] == 1.0
    assert rows["toxicity"]["agreement"] == 1.0


def test_whatif_on_toxicity_equals_a_rerun(strict: Path, table: pa.Table,
                                           tmp_path: Path) -> None:
    result = whatif(Run.open(strict), {"toxicity": {"max_fraction": 0.02}}, Options())
    rerun = build_report(run(tmp_path, table, pipeline(max_fraction=0.02)))
    got = {s["stage"]: (s["in"], s["removed"]) for s in result["after"]["funnel"]["stages"]}
    want = {s["stage"]: (s["in"], s["removed"]) for s in rerun["funnel"]["stages"]}
    assert got == want
    assert result["changed_docs"] > 0


# -- language: decides on the label it writes, so a report re-decides it too -----------------

def language_pipeline(min_score: float) -> dict[str, Any]:
    return {
        "record_scores": "all",
        "max_removal_rate": 1.0,
        "stages": [
            {"stage": "language", "keep": ["en", "und"], "min_score": min_score},
            {"stage": "doc_length", "min_words": 60},
        ],
    }


@pytest.fixture(scope="module")
def lang_strict(tmp_path_factory: pytest.TempPathFactory, table: pa.Table) -> Path:
    return run(tmp_path_factory.mktemp("lang"), table, language_pipeline(min_score=0.9))


def test_language_is_re_decided_with_full_ledger_agreement(lang_strict: Path) -> None:
    ind = build_report(lang_strict)["independent"]
    rows = {r["stage"]: r for r in ind["stages"]}
    assert "language" not in ind["skipped"]
    assert rows["language"]["removed_independent"] > 0
    assert rows["language"]["agreement"] == 1.0


def test_whatif_on_language_equals_a_rerun(lang_strict: Path, table: pa.Table,
                                           tmp_path: Path) -> None:
    result = whatif(Run.open(lang_strict), {"language": {"min_score": 0.5}}, Options())
    rerun = build_report(run(tmp_path, table, language_pipeline(min_score=0.5)))
    got = {s["stage"]: (s["in"], s["removed"]) for s in result["after"]["funnel"]["stages"]}
    want = {s["stage"]: (s["in"], s["removed"]) for s in rerun["funnel"]["stages"]}
    assert got == want
    assert result["changed_docs"] > 0


def test_no_registered_filter_decides_in_process() -> None:
    """Every built-in filter decides through `decide()`/`rules()`: `process()` is the base's,
    which is what lets a report re-decide it from logged scores."""
    from corpusfilter.core import registry
    from corpusfilter.core.stage import Filter

    filters = [registry.get(n) for n in registry.names()]
    filters = [c for c in filters if issubclass(c, Filter)]
    assert "language" in {c.name for c in filters}
    assert [c.name for c in filters if c.process is not Filter.process] == []
