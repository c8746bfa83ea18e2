"""A compact terminal summary of a run from its ``stats.json`` (the funnel and top reasons)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console

from corpusfilter.console import make_console
from corpusfilter.console import table as narrow_aware_table


def funnel_rows(stats: dict[str, Any]) -> list[dict[str, Any]]:
    """Per stage: documents in, removed, modified, out, removal rate, chars removed."""
    rows = []
    for label, s in stats["stages"].items():
        seen = s["in"]
        rows.append({
            "stage": label,
            "in": seen,
            "removed": s["removed"],
            "modified": s["modified"],
            "out": seen - s["removed"],
            "rate": s["removed"] / seen if seen else 0.0,
            "chars_removed": s["chars_removed"],
            "top_reasons": sorted(s["reasons"].items(), key=lambda kv: (-kv[1], kv[0]))[:3],
            "seconds": s.get("seconds", 0.0) + s.get("plan_seconds", 0.0),
        })
    return rows


def print_summary(out: str | Path, console: Console | None = None) -> None:
    from corpusfilter.io import fs

    out = fs.absolute(out)
    stats = json.loads(fs.read_bytes(fs.join(out, "stats.json")))
    console = console or make_console()
    inp, outp = stats["input"], stats["output"]
    table = narrow_aware_table(console, f"corpusfilter run {out}")
    for col, justify in (("stage", "left"), ("in", "right"), ("removed", "right"),
                         ("rate", "right"), ("modified", "right"), ("out", "right"),
                         ("top reasons", "left"), ("s", "right")):
        table.add_column(col, justify=justify,  # type: ignore[arg-type]
                         no_wrap=col != "top reasons",
                         overflow="fold")
    for r in funnel_rows(stats):
        reasons = ", ".join(f"{k.split('.', 1)[-1]} {v:,}" for k, v in r["top_reasons"])
        table.add_row(r["stage"], f"{r['in']:,}", f"{r['removed']:,}", f"{r['rate']:.1%}",
                      f"{r['modified']:,}", f"{r['out']:,}", reasons, f"{r['seconds']:.2f}")
    console.print(table)
    kept = outp["docs"] / inp["docs"] if inp["docs"] else 0.0
    chars = outp["chars"] / inp["chars"] if inp["chars"] else 0.0
    console.print(f"input {inp['docs']:,} documents in {inp['shards']} shard(s), "
                  f"{inp['chars']:,} characters → kept {outp['docs']:,} ({kept:.1%}), "
                  f"{outp['chars']:,} characters ({chars:.1%})"
                  + (f" in {stats['wall_seconds']:.1f}s" if "wall_seconds" in stats else ""))
    from corpusfilter.report.coverage import und_warning
    from corpusfilter.report.data import Run

    run = Run.open(out)
    limit = run.config.get("limit")
    if limit:
        console.print(f"[yellow]limited run[/yellow] (--limit {limit:,}): only the first "
                      f"{inp['docs']:,} documents of the input, in shard order", highlight=False)
    warning = und_warning(run)  # local or at a URL alike
    if warning:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
