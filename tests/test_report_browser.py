"""The HTML report in a real headless browser (Debian's chromium; `.ci/run` installs it): the
page loads with no console error and every chart renders."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from corpusfilter.report.analysis import build_report
from corpusfilter.report.html import write_html
from test_report import corpus, run_dir

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists()
                                        else None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: "
                                "apt-get install chromium; .ci/run installs it)")


def chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp / "profile"
    profile.mkdir(exist_ok=True)
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
           "--virtual-time-budget=5000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


class Charts(HTMLParser):
    """Collects chart containers, the SVG marks inside each, and the body's status attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: list[dict[str, object]] = []
        self.body: dict[str, str | None] = {}
        self._stack: list[int] = []  # open elements, chart index or -1

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "body":
            self.body = a
        if "data-chart" in a:
            self.charts.append({"kind": a["data-chart"], "rendered": a.get("data-rendered"),
                                "marks": 0, "svg": 0})
            self._stack.append(len(self.charts) - 1)
        elif tag not in ("br", "img", "meta", "link", "input", "hr"):
            self._stack.append(-1)
        inside = [i for i in self._stack if i >= 0]
        if inside:
            c = self.charts[inside[-1]]
            if tag == "svg":
                c["svg"] = int(c["svg"]) + 1  # type: ignore[call-overload]
            if tag in ("rect", "line", "text"):
                c["marks"] = int(c["marks"]) + 1  # type: ignore[call-overload]

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if self._stack:
            self._stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if self._stack:
            self._stack.pop()


def console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines()
            if "CONSOLE" in line and re.search(r"Uncaught|Error|error", line)]


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("browser")
    out = run_dir(tmp, corpus(seed=7, plant="beta"))
    report = build_report(out, by=["source", "lang"])
    return write_html(report, tmp / "report.html")


def test_every_chart_renders_without_console_errors(page: Path, tmp_path: Path) -> None:
    res = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert res.returncode == 0, res.stderr[-2000:]
    p = Charts()
    p.feed(res.stdout)
    kinds = [c["kind"] for c in p.charts]
    # funnel, a heatmap per facet, bars per stage with removals x facet, mix, overlap
    assert {"funnel", "heatmap", "bars", "mix", "overlap"} <= set(kinds)
    assert p.body.get("data-errors") is None, p.body.get("data-errors")
    assert p.body.get("data-charts-rendered") == str(len(p.charts))
    for c in p.charts:
        assert c["rendered"] == "1" and c["svg"] == 1 and int(c["marks"]) >= 5, c  # type: ignore[call-overload]
    assert console_errors(res.stderr) == []


def test_a_broken_page_is_detected(page: Path, tmp_path: Path) -> None:
    """The checks above can fail: a chart whose data is missing is reported, not drawn."""
    html = page.read_text().replace("data-chart='mix' data-facet='source'",
                                    "data-chart='mix' data-facet='no-such-facet'")
    html = html.replace("<script>\n(function", "<script>undefinedFunction();</script><script>"
                        "\n(function", 1)
    broken = tmp_path / "broken.html"
    broken.write_text(html)
    res = chromium(tmp_path, "--dump-dom", broken.as_uri())
    p = Charts()
    p.feed(res.stdout)
    assert "mix" in (p.body.get("data-errors") or "")
    assert int(p.body.get("data-charts-rendered") or 0) == len(p.charts) - 1
    assert any("undefinedFunction" in line for line in console_errors(res.stderr))


def test_screenshot(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    res = chromium(tmp_path, "--hide-scrollbars", "--window-size=1100,1600",
                   f"--screenshot={shot}", page.as_uri())
    assert res.returncode == 0, res.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # not a blank page
