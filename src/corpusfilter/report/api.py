"""The report of an in-script run (``RunResult.report()``): the same numbers, terminal text,
JSON and HTML page as ``corpusfilter report`` gives for a run directory."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpusfilter.core.errors import CorpusFilterError

if TYPE_CHECKING:
    from corpusfilter.core.pipeline import RunResult

FORMATS = ("text", "json", "html")
TEXT_WIDTH = 100  # columns of the text report (the terminal view is legible from 80)


def memory_run(result: RunResult) -> Any:
    """A `Run` the report code reads, built from the result's tables and counters."""
    from corpusfilter import __version__
    from corpusfilter.report.data import MemoryRun

    meta = {"config": result.config, "facets": result.facets, "stages": result.stages,
            "config_source": "<python>", "corpusfilter": __version__, "inputs": []}
    return MemoryRun(result.stats.data, meta, result.arrow["ledger"], result.arrow["kept"],
                     result.arrow["scores"])


def report_of_result(result: RunResult, format: str, path: str | Path | None,
                     by: Sequence[str] | None, options: Mapping[str, Any]) -> str:
    from corpusfilter.report.analysis import Options, build_report

    if format not in FORMATS:
        raise CorpusFilterError(f"report format must be one of {', '.join(FORMATS)}, got "
                                f"{format!r}")
    try:
        opts = Options(**{k: tuple(v) if k == "adjust_by" else v for k, v in options.items()})
    except TypeError as e:
        raise CorpusFilterError(f"report: {e}; options are k, margin, min_support, alpha, "
                                f"adjust_by, length_bins") from None
    report = build_report(memory_run(result), by=by, opts=opts)
    if format == "json":
        from corpusfilter.report.html import clean_json

        text = json.dumps(clean_json(report), indent=2, ensure_ascii=False,
                          allow_nan=False) + "\n"
    elif format == "html":
        from corpusfilter.report.html import render_html

        text = render_html(report)
    else:
        from rich.console import Console

        from corpusfilter.report.terminal import render

        console = Console(file=io.StringIO(), width=TEXT_WIDTH, record=True,
                          color_system=None)
        render(report, console)
        text = console.export_text()
    if path is not None:
        from corpusfilter.io.shards import write_text_atomic

        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(text, p)
    return text
