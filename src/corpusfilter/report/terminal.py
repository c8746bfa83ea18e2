"""Terminal rendering of the report (rich): disparity flags first, then the funnel, the rates
by group, the corpus mix, and independent vs attributed rates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape

from corpusfilter.console import NARROW, column_groups, make_console, table


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.1%}"


def render(report: Mapping[str, Any], console: Console | None = None,
           max_groups: int = 12) -> None:
    console = console or make_console()
    opts = report["run"]["options"]
    console.print(f"[bold]corpusfilter report[/bold] {report['run']['out']}  "
                  f"[dim](flags: ≥{opts['k']:g}× the stage's rate or 95% CI ≥ "
                  f"{opts['margin']:.0%} above it, significant at family-wise "
                  f"{opts.get('alpha', 0.05):g}; support ≥ {opts['min_support']})[/dim]",
                  highlight=False)
    if report["run"].get("limit"):
        console.print(f"[bold yellow]limited run[/bold yellow]: only the first "
                      f"{report['run']['limit']:,} documents of the input (--limit)",
                      highlight=False)
    render_flags(report, console)
    if report.get("undetermined"):
        render_undetermined(report["undetermined"], console)
    render_funnel(report["funnel"], console)
    render_rates(report, console, max_groups)
    render_mix(report["mix"], console)
    if report.get("independent"):
        render_independent(report["independent"], console)


def render_undetermined(und: Mapping[str, Any], console: Console) -> None:
    """The `und` documents (language not labelled) and their fate in every stage."""
    console.print(f"[bold yellow]{und['docs']:,} documents ({und['share']:.1%}) with "
                  f"{escape(und['facet'])}=und[/bold yellow] (the language model cannot label "
                  f"their language); kept {und['kept']:,}. Their fate per stage:",
                  highlight=False)
    for s in und["stages"]:
        if not s["in"]:
            continue
        reasons = ", ".join(f"{r.split('.', 1)[-1]} {c}" for r, c in
                            list(s["reasons"].items())[:3])
        console.print(f"  {escape(s['stage'])}: removed {s['removed']:,} of {s['in']:,} "
                      f"({s['rate']:.1%}; all documents {s['overall']:.1%})"
                      + (f" — {escape(reasons)}" if reasons else ""), highlight=False)


def render_flags(report: Mapping[str, Any], console: Console) -> None:
    flags = report["flags"]
    if not flags:
        console.print("[green]No disparity flags[/green]: no group with enough support was "
                      "removed disproportionately by any stage.")
    else:
        console.print(f"[bold red]Disparity flags ({len(flags)})[/bold red], strongest first")
        for i, f in enumerate(flags, 1):
            reasons = ", ".join(f"{r['reason'].split('.', 1)[-1]} {r['count']:,}"
                                for r in f.get("top_reasons", []))
            console.print(
                f" [bold red]⚑ {i}.[/bold red] [bold]{escape(f['stage'])}[/bold] × "
                f"[bold]{escape(f['facet'])}={escape(f['value'])}[/bold]: removed "
                f"{f['removed']:,} of {f['in']:,} = {f['rate']:.1%} (95% CI {f['lo']:.1%}–"
                f"{f['hi']:.1%}) vs {f['overall']:.1%} overall, "
                f"{f['rate'] / f['overall']:.1f}×, ~{f['excess']:,.0f} more than the overall "
                f"rate predicts" + (f"; reasons: {escape(reasons)}" if reasons else ""),
                highlight=False)
            if f.get("adjusted"):
                from corpusfilter.report.confounders import describe

                style = "bold" if f["adjusted"]["holds"] else "yellow"
                console.print(f"     [{style}]{escape(describe(f['adjusted']))}[/{style}]",
                              highlight=False)
    few = report.get("too_few", [])
    if few:
        n = 3 if console.width < 120 else 8  # a line or two, not a paragraph
        items = ", ".join(f"{f['stage']}: {f['facet']}={f['value']} {f['removed']}/{f['in']}"
                          for f in few[:n])
        more = f" and {len(few) - n} more (--json, --html)" if len(few) > n else ""
        console.print(f"[yellow]Too few to judge[/yellow] (high rate but support < "
                      f"{report['run']['options']['min_support']}): {items}{more}",
                      highlight=False)


def render_funnel(fun: Mapping[str, Any], console: Console) -> None:
    t = table(console, "Funnel")
    # "chars removed" only where it fits (the line below gives the totals either way)
    chars_col = console.width >= NARROW
    for col, j in (("stage", "left"), ("in", "right"), ("removed", "right"), ("rate", "right"),
                   ("modified", "right"), ("out", "right"), ("chars removed", "right"),
                   ("chars cut by edits", "right"), ("top reasons", "left")):
        if col not in ("chars removed", "chars cut by edits") or chars_col:
            t.add_column(col, justify=j, no_wrap=col != "top reasons",  # type: ignore[arg-type]
                         overflow="fold")
    for s in fun["stages"]:
        reasons = ", ".join(f"{r['reason'].split('.', 1)[-1]} {r['count']:,}"
                            for r in s["reasons"][:2])
        chars = "" if s.get("chars_removed") is None else f"{s['chars_removed']:,}"
        t.add_row(s["stage"], f"{s['in']:,}", f"{s['removed']:,}", _pct(s["rate"]),
                  f"{s['modified']:,}", f"{s['out']:,}",
                  *([chars, f"{s.get('chars_modified', 0):,}"] if chars_col else []), reasons)
    console.print(t)
    inp, out = fun["input"], fun["output"]
    if inp.get("docs"):
        line = (f"input {inp['docs']:,} documents → output {out.get('docs', 0):,} "
                f"({out.get('docs', 0) / inp['docs']:.1%})")
        if inp.get("chars"):
            line += (f"; characters {inp['chars']:,} → {out.get('chars', 0):,} "
                     f"({out.get('chars', 0) / inp['chars']:.1%})")
        console.print(line, highlight=False)


def render_rates(report: Mapping[str, Any], console: Console, max_groups: int) -> None:
    rates: Sequence[Mapping[str, Any]] = report["rates"]
    flagged = {(f["stage"], f["facet"], f["value"]) for f in report["flags"]}
    for facet in report["run"]["facets"]:
        rows = [r for r in rates if r["facet"] == facet and r["overall"] > 0]
        if not rows:
            continue
        stages = list(dict.fromkeys(r["stage"] for r in rows))
        totals: dict[str, int] = {}
        for r in rows:
            if r["stage"] == stages[0]:
                totals[r["value"]] = r["in"]
        values = sorted(totals, key=lambda v: -totals[v])
        shown = values[:max_groups]
        group_width = max(len(facet), *(len(v) for v in shown), len("overall"))
        parts = column_groups(stages, console.width, group_width + 10)
        for i, part in enumerate(parts, 1):
            title = f"Removal rate by {facet}" + (f" ({i}/{len(parts)})" if len(parts) > 1
                                                  else "")
            _rates_table(report, facet, title, part, rows, totals, values, shown,
                         max_groups, flagged, console)


def _rates_table(report: Mapping[str, Any], facet: str, title: str, stages: list[str],
                 rows: Sequence[Mapping[str, Any]], totals: Mapping[str, int],
                 values: list[str], shown: list[str], max_groups: int,
                 flagged: set[tuple[str, str, str]], console: Console) -> None:
    """One table of removal rates: groups × the given stages (all that fit the width)."""
    t = table(console, title)
    t.add_column(facet, no_wrap=True)
    t.add_column("n", justify="right", no_wrap=True)  # documents at the first stage
    for s in stages:
        t.add_column(s, justify="right", no_wrap=True)
    cell = {(r["stage"], r["value"]): r for r in rows}
    overall = {r["stage"]: r["overall"] for r in rows if r["stage"] in stages}
    t.add_row("[dim]overall[/dim]", "", *[f"[dim]{_pct(overall[s])}[/dim]" for s in stages])
    for v in shown:
        cells = []
        for s in stages:
            r = cell.get((s, v))
            if r is None:
                cells.append("")
                continue
            text = f"{r['rate']:.1%} ±{(r['hi'] - r['lo']) / 2:.0%}"
            if (s, facet, v) in flagged:
                text = f"[bold red]{text} ⚑[/bold red]"
            elif r["in"] < report["run"]["options"]["min_support"]:
                text = f"[dim]{text}[/dim]"
            cells.append(text)
        t.add_row(v, f"{totals[v]:,}", *cells)
    if len(values) > max_groups:
        t.caption = f"{len(values) - max_groups} smaller groups not shown (see --json/--html)"
    console.print(t)


def render_mix(mix: Mapping[str, Any], console: Console, max_values: int = 10) -> None:
    for facet, m in mix.items():
        t = table(console, f"Corpus mix by {facet} (before: at {m['before_stage']})")
        for col, j in ((facet, "left"), ("before", "right"), ("after", "right"),
                       ("Δ share", "right"), ("moved most by", "left")):
            t.add_column(col, justify=j, no_wrap=col != "moved most by")  # type: ignore[arg-type]
        for v in m["values"][:max_values]:
            by = (f"{v['moved_most_by']} ({v['moved_most_delta'] * 100:+.1f} pt)"
                  if v["moved_most_by"] else "")
            t.add_row(v["value"], f"{v['before_share']:.1%} ({v['before']:,})",
                      f"{v['after_share']:.1%} ({v['after']:,})",
                      f"{v['delta'] * 100:+.1f} pt", by)
        movers = ", ".join(f"{s['stage']} {s['tv']:.1%}" for s in m["stages"][:3] if s["tv"] > 0)
        if movers:
            t.caption = f"stages that shifted the {facet} mix most (total variation): {movers}"
        console.print(t)


def render_independent(ind: Mapping[str, Any], console: Console) -> None:
    t = table(console, "Independent vs attributed removal rates (from scores/)")
    for col, j in (("stage", "left"), ("scored", "right"), ("independent", "right"),
                   ("attributed", "right"), ("ledger agreement", "right")):
        t.add_column(col, justify=j)  # type: ignore[arg-type]
    for s in ind["stages"]:
        t.add_row(s["stage"], f"{s['scored']:,}",
                  f"{s['rate_independent']:.1%} ({s['removed_independent']:,})",
                  f"{s['rate_attributed']:.1%} ({s['removed_attributed']:,}/{s['seen']:,})",
                  f"{s['agreement']:.1%}")
    console.print(t)
    ov = ind["overlap"]
    if len(ov["stages"]) > 1:
        width = max(len(a) for a in ov["stages"]) + 3
        for part in column_groups(ov["stages"], console.width, width, cell=6):
            m = table(console, "Overlap: of the documents row A removes, the share B also "
                               "removes")
            m.add_column("A \\ B", no_wrap=True)
            for b in part:
                m.add_column(b, justify="right", no_wrap=True)
            for a, row in zip(ov["stages"], ov["matrix"], strict=True):
                m.add_row(a, *[_pct(x) for b, x in zip(ov["stages"], row, strict=True)
                               if b in part])
            console.print(m)
    for label, why in ind.get("skipped", {}).items():
        console.print(f"[dim]{label}: {why}[/dim]", highlight=False)


def render_whatif(result: Mapping[str, Any], console: Console | None = None) -> None:
    console = console or make_console()
    sets = "; ".join(f"{s}.{k}={v!r}" for s, p in result["overrides"].items()
                     for k, v in p.items())
    console.print(f"[bold]what-if[/bold] {sets}: {result['changed_docs']:,} documents change "
                  f"fate", highlight=False)
    before, after = result["before"], result["after"]
    t = table(console, "Funnel: logged run → what-if")
    for col, j in (("stage", "left"), ("removed (run)", "right"), ("removed (what-if)", "right"),
                   ("rate (run)", "right"), ("rate (what-if)", "right")):
        t.add_column(col, justify=j)  # type: ignore[arg-type]
    b_st = {s["stage"]: s for s in before["funnel"]["stages"]}
    for s in after["funnel"]["stages"]:
        b = b_st.get(s["stage"], {"removed": 0, "rate": 0.0})
        t.add_row(s["stage"], f"{b['removed']:,}", f"{s['removed']:,}", _pct(b["rate"]),
                  _pct(s["rate"]))
    console.print(t)
    b_out = before["funnel"]["output"]["docs"]
    a_out = after["funnel"]["output"]["docs"]
    console.print(f"output documents: {b_out:,} → {a_out:,}", highlight=False)
    key = lambda f: (f["stage"], f["facet"], f["value"])  # noqa: E731
    bk = {key(f) for f in before["flags"]}
    ak = {key(f) for f in after["flags"]}
    console.print("[bold]Disparity flags with the change[/bold]")
    shown = 0
    for f in after["flags"]:
        tag = "" if key(f) in bk else " [red](new)[/red]"
        console.print(f"  ⚑ {f['evidence']}{tag}", highlight=False)
        shown += 1
    for f in before["flags"]:
        if key(f) not in ak:
            console.print(f"  [green]resolved[/green]: {f['stage']} {f['facet']}={f['value']} "
                          f"(was {f['rate']:.1%} vs {f['overall']:.1%})", highlight=False)
            shown += 1
    if not shown:
        console.print("  none")
    for stage, n in result.get("assumed_kept", {}).items():
        console.print(f"[dim]{stage}: {n:,} documents it never saw or scored in the run are "
                      f"assumed kept by it[/dim]", highlight=False)
