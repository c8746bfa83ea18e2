"""The review page in headless Chromium (the way tests/test_report_browser.py does it): every
decision renders with its buttons, no console error, and the page's export is a sheet that
`review --labels` reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from corpusfilter.report.data import Run
from corpusfilter.report.review import (
    read_labels,
    review_items,
    summarize_labels,
    with_texts,
    write_page,
)
from test_report import corpus, pipeline, run_dir
from test_report_browser import chromium, console_errors, pytestmark  # noqa: F401


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, Run]:
    tmp = tmp_path_factory.mktemp("review-page")
    run = Run.open(run_dir(tmp, corpus(seed=7, plant="beta"), pipeline()))
    items = review_items(run, "doc_length", 3)
    method = with_texts(run, items)
    return write_page(items, tmp / "review.html", "Review of doc_length", method), len(items), run


def test_page_renders_and_exports_labels(page, tmp_path: Path) -> None:
    path, n, run = page
    res = chromium(tmp_path, "--dump-dom", path.as_uri() + "#selftest")
    assert res.returncode == 0, res.stderr[-2000:]
    dom = res.stdout
    assert f'data-items-rendered="{n}"' in dom
    assert len(re.findall(r"<div class=\"item (?:removed|kept)", dom)) == n
    assert len(re.findall(r"type=\"radio\"", dom)) == 2 * n
    assert console_errors(res.stderr) == []
    export = re.search(r"<pre id=\"selftest\"[^>]*>(.*?)</pre>", dom, re.S)
    assert export
    sheet = tmp_path / "export.jsonl"
    sheet.write_text(export.group(1).replace("&lt;", "<").replace("&gt;", ">")
                     .replace("&amp;", "&").replace("&quot;", '"'))
    labels = read_labels(sheet)
    assert len(labels) == n and {it.label for it in labels} == {"right"}
    summary = summarize_labels(run, labels)
    assert all(r["precision"] in (1.0, None) and r["kept_wrong"] == 0 for r in summary["rules"])


def test_screenshot(page, tmp_path: Path) -> None:
    path, _, _ = page
    shot = tmp_path / "review.png"
    res = chromium(tmp_path, "--hide-scrollbars", "--window-size=1000,1200",
                   f"--screenshot={shot}", path.as_uri())
    assert res.returncode == 0, res.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dedup_audit_page_renders(tmp_path: Path) -> None:
    from corpusfilter.report.dedup_audit import audit, write_audit_page
    from test_report_dedup_audit import PIPELINE, planted

    run = Run.open(run_dir(tmp_path, planted(), PIPELINE))
    res = audit(run)
    page = write_audit_page(res, tmp_path / "audit.html")
    out = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert out.returncode == 0, out.stderr[-2000:]
    assert f'data-clusters="{len(res["clusters"])}"' in out.stdout
    assert console_errors(out.stderr) == []
