"""The removal report on real web text with planted (and without) filtering bias.

The corpus is 400 real web documents (tests/data/report, see its README). Each test assigns the
documents to four groups at random (seeded), so without intervention no stage can hit one
group harder than chance allows; a *planted* corpus truncates a known share of one group's
documents to 20 words, below the `doc_length` word minimum of 50.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpusfilter.cli import main
from corpusfilter.core.pipeline import Pipeline
from corpusfilter.engines.local import LocalEngine
from corpusfilter.report.analysis import Options, build_report, disparity, group_rates, whatif
from corpusfilter.report.data import Run, wilson
from corpusfilter.report.inspect import regex_redact

DATA = Path(__file__).parent / "data" / "report" / "web_slice.parquet"
GROUPS = ["alpha", "beta", "gamma", "delta"]
MIN_WORDS = 50


def pipeline(**overrides: Any) -> dict[str, Any]:
    words = overrides.get("min_words", MIN_WORDS)
    return {
        "facets": ["source"],
        "record_scores": "all",
        "max_removal_rate": 1.0,
        "stages": [
            {"stage": "doc_length", "min_words": words},
            {"stage": "doc_length", "name": "short_chars", "min_chars": 600},
            {"stage": "exact_dedup"},
        ],
    }


def corpus(seed: int, plant: str | None = None, rate: float = 0.5) -> pa.Table:
    """The real documents with random group labels; `plant`: truncate `rate` of that group."""
    t = pq.read_table(DATA)
    rng = np.random.default_rng(seed)
    groups = np.array(GROUPS)[rng.integers(0, len(GROUPS), t.num_rows)]
    texts = t["text"].to_pylist()
    draws = rng.random(t.num_rows)
    for i in range(t.num_rows):
        if groups[i] == plant and draws[i] < rate:
            texts[i] = " ".join(texts[i].split()[:20])
    t = t.set_column(t.schema.get_field_index("text"), "text", pa.array(texts))
    return t.set_column(t.schema.get_field_index("source"), "source", pa.array(groups))


def run_dir(tmp: Path, table: pa.Table, cfg: dict[str, Any] | None = None) -> Path:
    inp = tmp / "in"
    inp.mkdir(parents=True, exist_ok=True)
    half = table.num_rows // 2
    pq.write_table(table.slice(0, half), inp / "part-0.parquet")
    pq.write_table(table.slice(half), inp / "part-1.parquet")
    out = tmp / "out"
    LocalEngine(cfg or pipeline(), batch_size=128, progress=False).run([inp], out, overwrite=True)
    return out


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pa.Table]:
    table = corpus(seed=7, plant="beta")
    return run_dir(tmp_path_factory.mktemp("planted"), table), table


def flag_keys(report: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(f["stage"], f["facet"], f["value"]) for f in report["flags"]}


def short(text: str) -> bool:
    return len(text.split()) < MIN_WORDS


# -- planted bias -----------------------------------------------------------------------------

def test_planted_bias_is_flagged_exactly(planted: tuple[Path, pa.Table]) -> None:
    out, table = planted
    report = build_report(out)
    assert flag_keys(report) == {("doc_length", "source", "beta")}
    flag = report["flags"][0]
    # the counts behind the flag, recomputed from the texts themselves
    texts, groups = table["text"].to_pylist(), table["source"].to_pylist()
    beta = [t for t, g in zip(texts, groups, strict=True) if g == "beta"]
    assert flag["in"] == len(beta)
    assert flag["removed"] == sum(short(t) for t in beta)
    assert flag["overall"] == pytest.approx(sum(map(short, texts)) / len(texts))
    assert flag["top_reasons"][0]["reason"] == "doc_length.min_words"
    assert flag["lo"] > flag["overall"]
    # the planted 50% (plus the group's naturally short documents) lies in the interval
    assert flag["lo"] <= 0.5 <= flag["hi"] + 0.1


def test_no_flags_without_planted_disparity(tmp_path: Path) -> None:
    for seed in (1, 2, 3):
        out = run_dir(tmp_path / str(seed), corpus(seed=seed))
        report = build_report(out)
        assert report["flags"] == [], (seed, report["flags"])
        assert any(r["removed"] for r in report["rates"])  # the stages did remove documents


def test_too_few_to_judge(planted: tuple[Path, pa.Table]) -> None:
    out, _ = planted
    # with a support above every group's size nothing may be flagged; the planted group is
    # listed as too few to judge instead
    report = build_report(out, opts=Options(min_support=10_000))
    assert report["flags"] == []
    assert ("doc_length", "source", "beta") in {
        (f["stage"], f["facet"], f["value"]) for f in report["too_few"]}


def test_funnel_and_mix_agree_with_the_data(planted: tuple[Path, pa.Table]) -> None:
    out, table = planted
    report = build_report(out)
    fun = report["funnel"]
    assert fun["input"]["docs"] == table.num_rows
    kept = pq.read_table(out / "data")
    assert fun["output"]["docs"] == kept.num_rows
    # each stage passes on what the next one receives
    for a, b in zip(fun["stages"], fun["stages"][1:], strict=False):
        assert a["out"] == b["in"]
    mix = report["mix"]["source"]
    before = {v["value"]: v["before"] for v in mix["values"]}
    after = {v["value"]: v["after"] for v in mix["values"]}
    groups = table["source"].to_pylist()
    assert before == {g: groups.count(g) for g in set(groups)}
    kept_groups = kept["source"].to_pylist()
    assert after == {g: kept_groups.count(g) for g in set(groups)}
    beta = next(v for v in mix["values"] if v["value"] == "beta")
    assert beta["delta"] < 0 and beta["moved_most_by"] == "doc_length"


# -- independent rates, overlap, what-if --------------------------------------------------------

def removed_alone(table: pa.Table, entry: dict[str, Any]) -> set[str]:
    """The oracle: run a stage on its own over the whole corpus."""
    res = Pipeline({"stages": [entry], "facets": ["source"], "max_removal_rate": 1.0}).run(table)
    return res.removed_ids


def test_independent_rates_and_overlap_match_single_stage_runs(
        planted: tuple[Path, pa.Table]) -> None:
    out, table = planted
    ind = build_report(out)["independent"]
    a = removed_alone(table, {"stage": "doc_length", "min_words": MIN_WORDS})
    b = removed_alone(table, {"stage": "doc_length", "min_chars": 600})
    rows = {r["stage"]: r for r in ind["stages"]}
    assert rows["doc_length"]["removed_independent"] == len(a)
    assert rows["short_chars"]["removed_independent"] == len(b)
    assert rows["short_chars"]["removed_attributed"] == len(b - a)
    assert rows["doc_length"]["agreement"] == 1.0 and rows["short_chars"]["agreement"] == 1.0
    ov = ind["overlap"]
    i, j = ov["stages"].index("doc_length"), ov["stages"].index("short_chars")
    assert ov["counts"][i][j] == ov["counts"][j][i] == len(a & b)
    assert ov["matrix"][j][i] == pytest.approx(len(a & b) / len(b))
    assert "exact_dedup" in ind["skipped"]  # a global stage has no scores to re-decide


def test_whatif_equals_a_rerun(planted: tuple[Path, pa.Table], tmp_path: Path) -> None:
    out, table = planted
    result = whatif(Run.open(out), {"doc_length": {"min_words": 30}}, Options())
    rerun = build_report(run_dir(tmp_path, table, pipeline(min_words=30)))
    got = {s["stage"]: (s["in"], s["removed"]) for s in result["after"]["funnel"]["stages"]}
    want = {s["stage"]: (s["in"], s["removed"]) for s in rerun["funnel"]["stages"]}
    assert got == want
    assert flag_keys(result["after"]) == flag_keys(rerun)
    assert flag_keys(result["before"]) == {("doc_length", "source", "beta")}
    assert result["changed_docs"] > 0


def test_whatif_lifting_the_rule_resolves_the_flag(planted: tuple[Path, pa.Table]) -> None:
    out, _ = planted
    result = whatif(Run.open(out), {"doc_length": {"min_words": None}}, Options())
    assert not any(f["stage"] == "doc_length" for f in result["after"]["flags"])
    dl = next(s for s in result["after"]["funnel"]["stages"] if s["stage"] == "doc_length")
    assert dl["removed"] == 0


# -- statistics: properties ---------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 100_000), frac=st.floats(0, 1))
def test_wilson_interval_properties(n: int, frac: float) -> None:
    x = round(frac * n)
    lo, hi = wilson(x, n)
    assert 0.0 <= lo <= x / n <= hi <= 1.0
    assert hi - lo > 0
    lo2, hi2 = wilson(min(4 * x, 4 * n), 4 * n)  # more data at the same rate: narrower
    assert hi2 - lo2 <= hi - lo + 1e-12


@settings(max_examples=200, deadline=None)
@given(groups=st.lists(st.tuples(st.integers(1, 500), st.floats(0, 1)), min_size=1,
                       max_size=8),
       k=st.floats(1.1, 5), margin=st.floats(0, 0.3), support=st.integers(1, 100))
def test_flags_need_support_and_an_interval_above_the_rate(
        groups: list[tuple[int, float]], k: float, margin: float, support: int) -> None:
    by = {f"g{i}": {"in": n, "removed": round(p * n), "modified": 0}
          for i, (n, p) in enumerate(groups)}
    total_in = sum(c["in"] for c in by.values())
    total_rm = sum(c["removed"] for c in by.values())
    stats = {"stages": {"s": {"in": total_in, "removed": total_rm, "by": {"f": by}}}}
    opts = Options(k=k, margin=margin, min_support=support)
    flags, too_few = disparity(group_rates(stats, ["s"], ["f"]), opts)
    overall = total_rm / total_in
    for f in flags:
        assert f["in"] >= support
        assert f["lo"] > overall  # the plain 95% interval lies above the overall rate
        assert f["rate"] >= k * overall or f["lo"] >= overall + margin
    assert all(f["in"] < support for f in too_few)
    flagged = {f["value"] for f in flags}
    for value, c in by.items():
        # overwhelming evidence (interval at z = 4, wider than the Bonferroni bound for the
        # at most 8 pairs here, z = 2.73) is always flagged
        lo4, _ = wilson(c["removed"], c["in"], z=4.0)
        lo, _ = wilson(c["removed"], c["in"])
        rate = c["removed"] / c["in"]
        if (c["in"] >= support and c["removed"] and overall > 0 and lo4 > overall
                and (rate >= k * overall or lo >= overall + margin)):
            assert value in flagged


# -- command line -------------------------------------------------------------------------------

def test_cli_report_json_and_html(planted: tuple[Path, pa.Table], tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    out, _ = planted
    js, page = tmp_path / "r.json", tmp_path / "r.html"
    assert main(["report", str(out), "--json", str(js), "--html", str(page)]) == 0
    text = capsys.readouterr().out
    assert "Disparity flags (1)" in text and "source=beta" in text
    assert text.index("Disparity flags") < text.index("Funnel")  # flags first
    assert f"HTML report: {page.resolve()}" in text
    data = json.loads(js.read_text())
    assert flag_keys(data) == {("doc_length", "source", "beta")}
    html = page.read_text()
    assert not re.search(r"(src|href)\s*=\s*['\"]?(https?:)?//", html)  # self-contained
    assert "<script" in html and 'data-chart="heatmap"' in html.replace("'", '"')


def test_cli_report_by_an_input_column(planted: tuple[Path, pa.Table], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out, table = planted
    js = tmp_path / "r.json"
    assert main(["report", str(out), "--by", "lang,url:domain", "--json", str(js), "-q"]) == 0
    data = json.loads(js.read_text())
    langs = table["lang"].to_pylist()
    first = [r for r in data["rates"] if r["stage"] == "doc_length" and r["facet"] == "lang"]
    assert {r["value"]: r["in"] for r in first} == {
        ("(none)" if v is None else v): langs.count(v) for v in set(langs)}
    assert any(r["facet"] == "url:domain" for r in data["rates"])


def test_cli_errors(tmp_path: Path, planted: tuple[Path, pa.Table],
                    capsys: pytest.CaptureFixture[str]) -> None:
    out, table = planted
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert main(["whatif", str(out), "--set", "nosuch.min_words=3"]) == 2
    assert "no stage 'nosuch'" in capsys.readouterr().err
    assert main(["whatif", str(out), "--set", "doc_length.min_words"]) == 2
    assert "STAGE.PARAM=VALUE" in capsys.readouterr().err
    assert main(["whatif", str(out), "--set", "doc_length.min_wordz=3"]) == 2
    assert "min_words" in capsys.readouterr().err  # names the valid parameter
    assert main(["inspect", str(out), "--stage", "doc_length", "--reason", "nope"]) == 2
    assert "min_words" in capsys.readouterr().err
    cfg = pipeline()
    cfg["record_scores"] = "none"
    plain = run_dir(tmp_path / "plain", table.slice(0, 60), cfg)
    assert main(["whatif", str(plain), "--set", "doc_length.min_words=3"]) == 2
    assert "--score-all" in capsys.readouterr().err
    assert main(["report", str(plain), "-q"]) == 0  # no scores: report without that section


def test_cli_whatif(planted: tuple[Path, pa.Table], capsys: pytest.CaptureFixture[str]) -> None:
    out, _ = planted
    assert main(["whatif", str(out), "--set", "doc_length.min_words=null"]) == 0
    text = capsys.readouterr().out
    assert "resolved" in text and "source=beta" in text


# -- inspect: removed documents, redacted ---------------------------------------------------------

def test_inspect_prints_redacted_removed_documents(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    table = corpus(seed=7, plant="beta").slice(0, 80)
    texts = table["text"].to_pylist()
    # a real removed document (too short) carrying personal data
    i = next(k for k, t in enumerate(texts) if short(t))
    pii = "Contact maria.lopez@example.org or +1 212 555 0143, card 4111 1111 1111 1111."
    texts[i] = f"{texts[i]} {pii}"
    table = table.set_column(table.schema.get_field_index("text"), "text", pa.array(texts))
    out = run_dir(tmp_path, table)
    doc_id = table["id"][i].as_py()
    group = table["source"][i].as_py()
    assert main(["inspect", str(out), "--stage", "doc_length", "--reason", "min_words",
                 "--where", f"source={group}", "-n", "50", "--chars", "100000"]) == 0
    text = capsys.readouterr().out
    assert doc_id in text
    assert "maria.lopez@example.org" not in text and "4111 1111 1111 1111" not in text
    assert "555 0143" not in text
    assert "EMAIL_ADDRESS" in text
    assert "doc_length.min_words" in text and "threshold 50" in text


def test_regex_fallback_redaction() -> None:
    text = ("Write to jan.kowalski@poczta.pl, call 0049 30 1234567 or visit 192.168.10.4; "
            "IBAN-free card 5500 0000 0000 0004. Published 2019.")
    red = regex_redact(text)
    for secret in ("jan.kowalski@poczta.pl", "1234567", "192.168.10.4", "5500 0000 0000 0004"):
        assert secret not in red
    assert "Published 2019." in red  # short numbers stay


def test_invalid_input_rows_are_counted_against_the_whole_input(tmp_path: Path) -> None:
    # null text in two of many batches: the `input` stage saw every document, not only the
    # batches where it removed something
    table = corpus(seed=3).slice(0, 120)
    texts = table["text"].to_pylist()
    texts[3] = texts[110] = None
    table = table.set_column(table.schema.get_field_index("text"), "text",
                             pa.array(texts, pa.string()))
    report = build_report(run_dir(tmp_path, table))
    first = report["funnel"]["stages"][0]
    assert (first["stage"], first["in"], first["removed"]) == ("input", 120, 2)
    groups = table["source"].to_pylist()
    by = {r["value"]: r["in"] for r in report["rates"] if r["stage"] == "input"}
    assert by == {g: groups.count(g) for g in set(groups)}
