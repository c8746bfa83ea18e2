"""The report side of the language-coverage guard: real isiZulu and isiXhosa sentences (which
lid.176 has no label for) planted as `lang: und` documents among real web pages are shown as
their own group with their fate in every stage, and the run summary warns when they exceed
the share."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from corpusfilter.cli import main
from corpusfilter.report.analysis import build_report
from corpusfilter.report.coverage import UND_WARN_SHARE, und_warning
from corpusfilter.report.data import Run
from corpusfilter.report.html import write_html
from test_report import DATA

LINGUA = Path(__file__).parent / "data" / "langid" / "lingua_slice.parquet"
PIPELINE = {"facets": ["source", "lang"], "max_removal_rate": 1.0,
            "stages": [{"stage": "doc_length", "min_words": 50},
                       {"stage": "gopher_quality", "min_words": None}]}


def und_docs(n_long: int) -> pa.Table:
    """Each zu/xh sentence a document, plus `n_long` documents of 8 sentences each."""
    t = pq.read_table(LINGUA)
    t = t.filter(pc.and_(pc.is_in(t["gold"], pa.array(["zu", "xh"])),
                         pc.equal(t["kind"], "sentence")))
    texts = t["text"].to_pylist()
    docs = texts + [" ".join(texts[i:i + 8]) for i in range(n_long)]
    return pa.table({"id": [f"und-{i:03d}" for i in range(len(docs))], "text": docs,
                     "source": ["planted"] * len(docs), "lang": ["und"] * len(docs)})


def corpus(n_long: int) -> pa.Table:
    web = pq.read_table(DATA, columns=["id", "text", "source", "lang"])
    return pa.concat_tables([web, und_docs(n_long)])


def run(tmp: Path, table: pa.Table) -> Path:
    inp = tmp / "in"
    inp.mkdir(parents=True)
    pq.write_table(table, inp / "part-0.parquet")
    out = tmp / "out"
    assert main(["run", "-q", "--no-progress", "--overwrite", _yaml(tmp), str(inp), "-o",
                 str(out)]) == 0
    return out


def _yaml(tmp: Path) -> str:
    import yaml

    p = tmp / "pipeline.yaml"
    p.write_text(yaml.safe_dump(PIPELINE))
    return str(p)


def test_und_documents_are_a_group_with_their_fate_in_every_stage(tmp_path: Path) -> None:
    table = corpus(n_long=10)
    out = run(tmp_path, table)
    report = build_report(out)
    und = report["undetermined"]
    planted = [t for t, lang in zip(table["text"].to_pylist(), table["lang"].to_pylist(),
                                    strict=True) if lang == "und"]
    assert und["docs"] == len(planted) == 34
    first = {s["stage"]: s for s in und["stages"]}["doc_length"]
    # ground truth from the texts: doc_length removes documents under 50 words
    assert first["in"] == len(planted)
    assert first["removed"] == sum(len(t.split()) < 50 for t in planted)
    kept = pq.read_table(out / "data")
    assert und["kept"] == pc.sum(pc.equal(kept["lang"], "und")).as_py() > 0
    assert und["kept"] + sum(s["removed"] for s in und["stages"]) == und["docs"]
    # and the group appears in the rates beside every other language
    rates = {(r["stage"], r["value"]) for r in report["rates"] if r["facet"] == "lang"}
    assert ("doc_length", "und") in rates
    # single sentences removed by a word minimum: flagged, and explained by their length
    flag = [f for f in report["flags"] if (f["stage"], f["value"]) == ("doc_length", "und")]
    assert flag and flag[0]["rests_on"] == "raw ratio only: explained by length"
    html = write_html(report, tmp_path / "r.html").read_text()
    assert "id='undetermined'" in html and "lang=und" in html


def test_summary_warns_above_the_share(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = run(tmp_path / "many", corpus(n_long=10))  # 34 of 434: 7.8%
    warning = und_warning(Run.open(out))
    assert warning and warning.startswith("34 of 434 documents (7.8%) are `und`")
    main(["run", "--no-progress", "--overwrite", _yaml(tmp_path), str(tmp_path / "many" / "in"),
          "-o", str(tmp_path / "again")])
    assert "are `und`" in capsys.readouterr().out


def test_no_warning_at_or_below_the_share(tmp_path: Path) -> None:
    table = corpus(n_long=0)
    keep = int(UND_WARN_SHARE * 400 / (1 - UND_WARN_SHARE))  # at most 5% of the corpus
    table = table.slice(0, 400 + keep)
    out = run(tmp_path, table)
    assert und_warning(Run.open(out)) is None
    assert build_report(out)["undetermined"]["docs"] == keep
