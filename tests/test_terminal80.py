"""Every terminal view legible at 80 columns: nothing wider, no stage name cut short.

The run is the default recipe on the bundled sample with `--score-all`, so the report has
every section (flags, funnel, rates, mix, independent rates, overlap).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from conftest import SAMPLE, run_cli
from corpusfilter.core.pipeline import Pipeline
from corpusfilter.engines.progress import Progress
from corpusfilter.report.analysis import build_report
from corpusfilter.report.summary import print_summary
from corpusfilter.report.terminal import render

_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _console(buf: io.StringIO, terminal: bool = False) -> Console:
    return Console(file=buf, width=80, force_terminal=terminal, color_system=None)


def _lines(text: str) -> list[str]:
    return [line for chunk in _CONTROL.sub("\n", text).split("\n")
            for line in chunk.split("\r")]


@pytest.fixture(scope="module")
def run_out(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run80") / "out"
    run_cli("run", "default", str(SAMPLE), "-o", str(out), "--no-progress", "-q",
            "--score-all")
    return out


def _stage_names(out: Path) -> list[str]:
    import json

    return list(json.loads((out / "stats.json").read_text())["stages"])


def test_report_fits_80_columns_with_every_stage_name_whole(run_out):
    buf = io.StringIO()
    render(build_report(run_out), console=_console(buf))
    lines = _lines(buf.getvalue())
    assert max(map(len, lines)) <= 80, max(lines, key=len)
    text = "\n".join(lines)
    for name in _stage_names(run_out):
        # each stage is a row of the funnel, whole (no "gophe…")
        assert re.search(rf"^\s*{name}\s", text, re.M), name
    assert "gopher_repetition" in text and "gopher_quality" in text
    assert not re.search(r"\b[a-z0-9]+_?[a-z0-9]*…", text)  # no name cut with an ellipsis
    few = [line for line in lines if "Too few to judge" in line]
    if few:  # the list stays short: its first line and at most one more
        start = lines.index(few[0])
        assert not lines[start + 2].startswith(" ") or "Funnel" in lines[start + 2]


def test_run_summary_fits_80_columns(run_out):
    buf = io.StringIO()
    print_summary(run_out, console=_console(buf))
    lines = _lines(buf.getvalue())
    assert max(map(len, lines)) <= 80, max(lines, key=len)
    text = "\n".join(lines)
    for name in _stage_names(run_out):
        assert re.search(rf"^\s*{name}\s", text, re.M), name


def test_progress_bar_fits_80_columns():
    buf = io.StringIO()
    pipeline = Pipeline("default")
    rows = {f"part-{i:05d}": 12_345 for i in range(100)}
    with Progress(True, sum(rows.values()), len(rows), len(pipeline.segments),
                   console=_console(buf, terminal=True)) as bar:
        for seg in pipeline.segments:
            bar.start_segment(seg, rows)
            for key in list(rows)[:37]:
                bar.shard_done(key)
    lines = [line for line in _lines(buf.getvalue()) if line.strip()]
    assert max(map(len, lines)) <= 80, max(lines, key=len)
    bars = [line for line in lines if "shards" in line]
    assert bars and all("…" not in line for line in bars), bars
    assert any("37/100 shards" in line and "1234500" in line for line in bars)
    # the stages of each phase are printed whole above its bar (the default recipe's
    # boilerplate_lines ends phase 1, so the repetition rules run in phase 2)
    phase = 1 + next(s.index for s in pipeline.segments
                     if any(st.label == "gopher_repetition" for st in s.body))
    # (a long list wraps onto the next lines, names whole)
    header = next(i for i, line in enumerate(lines) if line.startswith(f"phase {phase}/")
                  and ":" in line.split("docs")[0])
    block = [lines[header]]
    for line in lines[header + 1:]:
        if line.startswith("phase "):
            break
        block.append(line)
    assert re.search(r"\bgopher_repetition\b", " ".join(block))
