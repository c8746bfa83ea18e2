"""`corpusfilter review` on real web text: the queue holds exactly the nearest-threshold
documents of each group on both sides, its text is redacted, and labels give precision / miss
rate with Wilson intervals and the threshold they support, checked against the texts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from corpusfilter.cli import main
from corpusfilter.core.errors import CorpusFilterError
from corpusfilter.report.data import Run, wilson
from corpusfilter.report.review import (
    read_labels,
    review_items,
    summarize_labels,
    with_texts,
    write_page,
    write_sheet,
)
from test_report import MIN_WORDS, corpus, pipeline, run_dir

EMAIL = "jane.doe@example.org"


def with_email(table: pa.Table) -> pa.Table:
    """Every document's first word replaced by an e-mail address (word counts unchanged)."""
    texts = [EMAIL + " " + " ".join(t.split()[1:]) for t in table["text"].to_pylist()]
    return table.set_column(table.schema.get_field_index("text"), "text", pa.array(texts))


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int],
                                                                  dict[str, str]]:
    table = with_email(corpus(seed=7, plant="beta"))
    out = run_dir(tmp_path_factory.mktemp("review"), table, pipeline())
    words = {i: len(t.split()) for i, t in zip(table["id"].to_pylist(),
                                               table["text"].to_pylist(), strict=True)}
    groups = dict(zip(table["id"].to_pylist(), table["source"].to_pylist(), strict=True))
    return out, words, groups


def test_queue_is_exactly_the_nearest_documents_of_each_group(reviewed) -> None:
    out, words, groups = reviewed
    n = 4
    items = [it for it in review_items(Run.open(out), "doc_length", n, by="source")
             if it.rule == "min_words"]
    assert items
    for group in sorted(set(groups.values())):
        for side in ("removed", "kept"):
            # ground truth from the texts: doc_length is the first stage, so every document
            # reached it; min_words removes those under 50 words
            docs = {i: abs(w - MIN_WORDS) for i, w in words.items() if groups[i] == group
                    and ((w < MIN_WORDS) == (side == "removed"))}
            got = {it.doc_id: it.distance for it in items
                   if it.group == group and it.side == side}
            assert len(got) == min(n, len(docs)), (group, side)
            assert all(docs[i] == d for i, d in got.items())  # the distance is the text's
            cutoff = max(got.values())
            assert {i for i, d in docs.items() if d < cutoff} <= set(got), (group, side)
            assert sorted(got.values()) == sorted(docs.values())[:n]


def test_seed_changes_only_the_tie_break(reviewed) -> None:
    out, _, _ = reviewed
    run = Run.open(out)
    a, b = review_items(run, "doc_length", 3, seed=0), review_items(run, "doc_length", 3, seed=1)
    assert [(x.rule, x.side, x.group, x.distance) for x in a] == \
        [(x.rule, x.side, x.group, x.distance) for x in b]
    assert review_items(run, "doc_length", 3, seed=0) == a


def test_sheet_text_is_redacted(reviewed, tmp_path: Path) -> None:
    out, _, _ = reviewed
    run = Run.open(out)
    items = review_items(run, "doc_length", 2)
    with_texts(run, items)
    sheet = write_sheet(items, tmp_path / "sheet.jsonl").read_text()
    assert EMAIL not in sheet and "<EMAIL_ADDRESS>" in sheet
    assert all(json.loads(line)["label"] is None for line in sheet.splitlines())


def test_labels_give_precision_miss_rate_and_the_threshold_they_support(reviewed,
                                                                       tmp_path: Path) -> None:
    out, words, _ = reviewed
    run = Run.open(out)
    items = [it for it in review_items(run, "doc_length", 12) if it.rule == "min_words"]
    truth = 40  # the reviewer: a document under 40 words should go, 40 or more should stay
    for it in items:
        right = (words[it.doc_id] < truth) == (it.side == "removed")
        it.label = "right" if right else "wrong"
    sheet = write_sheet(items, tmp_path / "labelled.jsonl")
    summary = summarize_labels(run, read_labels(sheet))
    (rule,) = [r for r in summary["rules"] if r["rule"] == "min_words"]
    removed = [it for it in items if it.side == "removed"]
    right = sum(words[it.doc_id] < truth for it in removed)
    assert 0 < right < len(removed)  # the band holds both kinds of removal
    assert rule["removed_labelled"] == len(removed) and rule["removed_right"] == right
    assert (rule["precision_lo"], rule["precision_hi"]) == wilson(right, len(removed))
    assert rule["kept_wrong"] == 0  # every kept document has >= 50 words
    for g in rule["groups"]:
        mine = [it for it in removed if it.group == g["group"]]
        assert g["removed_labelled"] == len(mine)
        assert g["removed_right"] == sum(words[it.doc_id] < truth for it in mine)
    s = rule["suggestion"]
    expected = min(it.score for it in items if words[it.doc_id] >= truth)
    assert (s["threshold"], s["errors"], s["param"]) == (expected, 0, "min_words")
    assert s["errors_now"] == len(removed) - right
    # what the move would change on the whole corpus, from the texts
    assert s["whatif"]["changed_docs"] == sum(expected <= w < MIN_WORDS for w in words.values())


def test_cli_and_bad_labels(reviewed, tmp_path: Path) -> None:
    out, _, _ = reviewed
    sheet, page = tmp_path / "s.jsonl", tmp_path / "p.html"
    assert main(["review", str(out), "--stage", "doc_length", "-n", "2", "--jsonl", str(sheet),
                 "--html", str(page)]) == 0
    assert EMAIL not in page.read_text()
    lines = sheet.read_text().splitlines()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([lines[0], lines[1].replace('"label": null', '"label": "maybe"')]))
    with pytest.raises(CorpusFilterError, match=r"bad.jsonl:2: label 'maybe'"):
        read_labels(bad)
    with pytest.raises(CorpusFilterError, match="cannot review"):
        review_items(Run.open(out), "exact_dedup", 2)


def test_rules_that_do_not_apply_to_a_language_are_left_out(sample_table: pa.Table,
                                                           tmp_path: Path) -> None:
    """gopher_quality has no stop-word list for some languages (a NaN bound): those documents
    are not "near" that threshold, and the page's data stays valid JSON."""
    cfg = {"facets": ["lang"], "record_scores": "all", "max_removal_rate": 1.0,
           "stages": [{"stage": "language"}, {"stage": "gopher_quality"}]}
    run = Run.open(run_dir(tmp_path, sample_table, cfg))
    items = review_items(run, "gopher_quality", 2, by="lang")
    assert items and all(np.isfinite([it.score, it.threshold, it.distance]).all()
                         for it in items)
    stop = [it for it in items if it.rule == "stop_words"]
    assert stop and len({it.group for it in stop}) < len({it.group for it in items})
    page = write_page(items, tmp_path / "p.html", "t", "none")
    data = page.read_text().split("id='items'>")[1].split("</script>")[0]
    assert len(json.loads(data)) == len(items)
