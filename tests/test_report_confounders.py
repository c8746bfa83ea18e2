"""Confounder-adjusted disparity on real web text: a group whose documents are merely shorter is
flagged by a length filter on the raw rate and explained by the length-adjusted ratio, while a
group hit for something other than length (planted hashtags) stays flagged after adjustment."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from corpusfilter.report.analysis import Options, build_report
from corpusfilter.report.confounders import length_strata, mantel_haenszel
from corpusfilter.report.html import write_html
from test_report import DATA, GROUPS, run_dir

PIPELINE = {"facets": ["source"], "max_removal_rate": 1.0,
            "stages": [{"stage": "doc_length", "min_words": 50},
                       # without its own word minimum, gopher_quality is not a length filter
                       {"stage": "gopher_quality", "min_words": None}]}


def planted(seed: int) -> pa.Table:
    """beta: every document cut to 15-120 words (shorter, nothing else); gamma: half its
    documents with every third word turned into a #hashtag (same length)."""
    t = pq.read_table(DATA)
    rng = np.random.default_rng(seed)
    groups = np.array(GROUPS)[rng.integers(0, len(GROUPS), t.num_rows)]
    texts = t["text"].to_pylist()
    for i in range(t.num_rows):
        words = texts[i].split()
        if groups[i] == "beta":
            texts[i] = " ".join(words[: int(rng.integers(15, 120))])
        elif groups[i] == "gamma" and rng.random() < 0.5:
            texts[i] = " ".join("#" + w if j % 3 == 0 else w for j, w in enumerate(words))
    t = t.set_column(t.schema.get_field_index("text"), "text", pa.array(texts))
    return t.set_column(t.schema.get_field_index("source"), "source", pa.array(groups))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_length_confound_is_explained_and_true_disparity_stays(seed: int,
                                                               tmp_path: Path) -> None:
    out = run_dir(tmp_path, planted(seed), PIPELINE)
    report = build_report(out)
    flags = {(f["stage"], f["value"]): f for f in report["flags"]}
    assert set(flags) == {("doc_length", "beta"), ("gopher_quality", "gamma")}
    short = flags[("doc_length", "beta")]
    assert short["adjusted"]["crude_ratio"] > 5
    assert not short["adjusted"]["holds"] and short["adjusted"]["lo"] <= 1
    assert short["rests_on"] == "raw ratio only: explained by length"
    true = flags[("gopher_quality", "gamma")]
    assert true["adjusted"]["holds"] and true["adjusted"]["lo"] > 1
    assert true["rests_on"] == "raw and length-adjusted ratio"
    html = write_html(report, tmp_path / "r.html").read_text()
    assert "adjusted for length" in html


def test_adjusting_for_another_facet(tmp_path: Path) -> None:
    table = planted(1)
    table = table.append_column("site", table["subset"])  # the upstream test suite
    out = run_dir(tmp_path, table, {**PIPELINE, "facets": ["source", "site"]})
    report = build_report(out, by=["source"], opts=Options(adjust_by=("site",)))
    for f in report["flags"]:
        assert f["adjusted"]["by"] == ["length", "site"]
    gamma = [f for f in report["flags"] if f["value"] == "gamma"]
    assert gamma and gamma[0]["adjusted"]["holds"]


def test_mantel_haenszel_by_hand() -> None:
    # two strata; within each the group is removed at twice the rest's rate
    removed, group, strata = [], [], []
    for s, (n1, a, n0, c) in enumerate([(10, 4, 40, 8), (50, 10, 20, 2)]):
        removed += [True] * a + [False] * (n1 - a) + [True] * c + [False] * (n0 - c)
        group += [True] * n1 + [False] * n0
        strata += [s] * (n1 + n0)
    mh = mantel_haenszel(np.array(removed), np.array(group), np.array(strata))
    num = 4 * 40 / 50 + 10 * 20 / 70
    den = 8 * 10 / 50 + 2 * 50 / 70
    assert mh["ratio"] == pytest.approx(num / den) == pytest.approx(2.0)
    assert mh["lo"] < 2 < mh["hi"] and mh["strata"] == 2
    # crude ratio differs: the group sits mostly in the low-rate stratum
    assert mh["crude_ratio"] == pytest.approx((14 / 60) / (10 / 60))


@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=200),
       st.integers(1, 10))
def test_length_strata_are_ordered_quantile_bins(lengths: list[float], bins: int) -> None:
    x = np.array(lengths)
    s = length_strata(x, bins)
    assert s.min() >= 0 and s.max() < bins
    order = np.argsort(x, kind="stable")
    assert (np.diff(s[order]) >= 0).all()  # longer never in a lower bin
    for v in np.unique(x):
        assert len(set(s[x == v])) == 1  # equal lengths share a bin


def test_infinite_ratio_when_only_the_group_is_removed() -> None:
    mh = mantel_haenszel(np.array([True, False, False, False]),
                         np.array([True, True, False, False]), np.zeros(4, int))
    assert mh["ratio"] == math.inf
