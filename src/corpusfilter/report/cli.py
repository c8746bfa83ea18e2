"""Sub-commands `report`, `whatif` and `inspect` (added to the main CLI by `add_commands`)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from corpusfilter.core.errors import CorpusFilterError


def _facets(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def _options(args: argparse.Namespace) -> Any:
    from corpusfilter.report.analysis import Options

    return Options(k=args.k, margin=args.margin, min_support=args.min_support, alpha=args.alpha,
                   adjust_by=tuple(_facets(getattr(args, "adjust_by", None)) or ()),
                   length_bins=getattr(args, "length_bins", 5))


def _write_json(obj: Any, path: str) -> None:
    from corpusfilter.io.shards import write_text_atomic
    from corpusfilter.report.html import clean_json

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(json.dumps(clean_json(obj), indent=2, ensure_ascii=False,
                                 allow_nan=False) + "\n", p)


def _cmd_report(args: argparse.Namespace) -> int:
    from corpusfilter.report.analysis import build_report
    from corpusfilter.report.terminal import render

    report = build_report(args.output, by=_facets(args.by), opts=_options(args))
    if args.json:
        _write_json(report, args.json)
    if args.html:
        from corpusfilter.report.html import write_html

        write_html(report, args.html)
    if not args.quiet:
        render(report)
    if args.json:
        print(f"JSON report: {args.json}")
    if args.html:
        print(f"HTML report: {Path(args.html).resolve()}")
    return 0


def parse_sets(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``stage.param=value`` (value in YAML: 30, 0.5, null, [a, b], {en: 3}) → nested dict."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        stage, dot, param = key.strip().partition(".")
        if not sep or not dot or not stage or not param:
            raise CorpusFilterError(f"--set {item!r}: expected STAGE.PARAM=VALUE, e.g. "
                                    f"doc_length.min_words=30")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as e:
            raise CorpusFilterError(f"--set {item!r}: value is not valid YAML ({e})") from None
        out.setdefault(stage, {})[param] = value
    return out


def _cmd_whatif(args: argparse.Namespace) -> int:
    from corpusfilter.report.analysis import whatif
    from corpusfilter.report.data import Run
    from corpusfilter.report.terminal import render_whatif

    if not args.set:
        raise CorpusFilterError("whatif needs at least one --set STAGE.PARAM=VALUE")
    result = whatif(Run.open(args.output), parse_sets(args.set), _options(args),
                    by=_facets(args.by))
    if args.json:
        _write_json(result, args.json)
    render_whatif(result)
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from corpusfilter.report.data import Run
    from corpusfilter.report.inspect import parse_where, print_samples, samples

    if args.n < 1:
        raise CorpusFilterError("-n must be at least 1")
    run = Run.open(args.output)
    found, total = samples(run, args.stage, args.reason, parse_where(args.where or []), args.n,
                           action="modified" if args.modified else "removed")
    print_samples(run, found, total, chars=args.chars)
    return 0


def _cmd_diff(args: argparse.Namespace) -> int:
    from corpusfilter.report.diff import diff_runs, render_diff

    result = diff_runs(args.run_a, args.run_b)
    if args.json:
        _write_json(result, args.json)
    render_diff(result)
    return 1 if result["changed"] else 0


def _cmd_card(args: argparse.Namespace) -> int:
    from corpusfilter.report.card import check_card, write_card

    if args.check:
        if len(args.paths) != 2:
            raise CorpusFilterError("card --check needs CARD DATA, e.g. "
                                    "`corpusfilter card --check card.json OUT/data`")
        problems = check_card(*args.paths)
        for p in problems:
            print(f"MISMATCH: {p}")
        if problems:
            return 1
        print(f"OK: {args.paths[1]} is exactly the dataset {args.paths[0]} describes")
        return 0
    if len(args.paths) != 1 or not args.o:
        raise CorpusFilterError("card needs OUT -o CARD (or --check CARD DATA)")
    js, md = write_card(args.paths[0], args.o)
    print(f"card: {js}\nreadable: {md}")
    return 0


def _cmd_review(args: argparse.Namespace) -> int:
    from corpusfilter.report import review
    from corpusfilter.report.data import Run

    run = Run.open(args.output)
    if args.labels:
        summary = review.summarize_labels(run, review.read_labels(args.labels), _options(args))
        if args.json:
            _write_json(summary, args.json)
        review.render_labels(summary)
        return 0
    if not args.stage or not (args.html or args.jsonl):
        raise CorpusFilterError("review needs --stage S and --html FILE and/or --jsonl FILE "
                                "(or --labels FILE to summarise a labelled sheet)")
    items = review.review_items(run, args.stage, args.n, args.by, args.seed)
    method = review.with_texts(run, items, args.chars)
    print(f"{len(items)} decisions of {args.stage} to review; text redacted with {method}")
    if args.jsonl:
        print(f"sheet: {review.write_sheet(items, args.jsonl)}")
    if args.html:
        page = review.write_page(items, args.html, f"Review of {args.stage} ({run.name})",
                                 method)
        print(f"page: {page.resolve()}")
    return 0


def _cmd_dedup_audit(args: argparse.Namespace) -> int:
    from corpusfilter.report.data import Run
    from corpusfilter.report.dedup_audit import audit, render_audit, write_audit_page

    res = audit(Run.open(args.output), args.stage, args.by, args.sample, args.seed)
    if args.json:
        _write_json(res, args.json)
    render_audit(res)
    if args.html:
        print(f"page: {write_audit_page(res, args.html).resolve()}")
    return 0


def _add_flag_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--by", default=None,
                   help="facets to break rates down by, comma-separated (default: the run's "
                        "facets); any input column works, COLUMN:domain gives a URL's host")
    p.add_argument("--k", type=float, default=2.0,
                   help="flag groups removed at >= k times the stage's rate (default 2)")
    p.add_argument("--margin", type=float, default=0.05,
                   help="...or whose 95%% interval lies this far above it (default 0.05)")
    p.add_argument("--min-support", type=int, default=30,
                   help="groups with fewer documents are 'too few to judge' (default 30)")
    p.add_argument("--alpha", type=float, default=0.05,
                   help="family-wise error level of the flags over all stage x group pairs "
                        "(Bonferroni; default 0.05)")
    p.add_argument("--adjust-by", default=None, metavar="FACETS",
                   help="flags also compare groups within strata of these facets, besides "
                        "document length (Mantel-Haenszel), e.g. source")
    p.add_argument("--length-bins", type=int, default=5,
                   help="length strata (quantile bins) of the adjusted ratio (default 5)")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the numbers as JSON")


def add_commands(sub: Any) -> None:
    if "report" in sub.choices:  # cli.main() registers its hooks again on every call
        return
    r = sub.add_parser("report", help="removal report: funnel, rates by group, disparity flags")
    r.add_argument("output", help="the run's output directory")
    _add_flag_options(r)
    r.add_argument("--html", default=None, metavar="FILE",
                   help="also write a self-contained HTML page with charts")
    r.add_argument("-q", "--quiet", action="store_true", help="no terminal report")
    r.set_defaults(func=_cmd_report)

    w = sub.add_parser("whatif", help="rates and flags with changed thresholds, from the "
                                      "logged scores (needs run --score-all)")
    w.add_argument("output", help="the run's output directory")
    w.add_argument("--set", action="append", metavar="STAGE.PARAM=VALUE",
                   help="a changed parameter (repeatable); VALUE is YAML")
    _add_flag_options(w)
    w.set_defaults(func=_cmd_whatif)

    i = sub.add_parser("inspect", help="print removed documents (PII-redacted) with scores")
    i.add_argument("output", help="the run's output directory")
    i.add_argument("--stage", required=True, help="stage label")
    i.add_argument("--reason", default=None, help="reason code (with or without 'stage.')")
    i.add_argument("--where", action="append", metavar="FACET=VALUE",
                   help="only documents of this group (repeatable), e.g. lang=sw")
    i.add_argument("-n", type=int, default=5, help="how many documents (default 5)")
    i.add_argument("--chars", type=int, default=600, help="characters of text to show")
    i.add_argument("--modified", action="store_true",
                   help="show modified instead of removed documents")
    i.set_defaults(func=_cmd_inspect)

    d = sub.add_parser("diff", help="documents whose fate differs between two runs, and the "
                                    "configuration differences behind them (exit 1 if any)")
    d.add_argument("run_a", help="output directory of the first run")
    d.add_argument("run_b", help="output directory of the second run")
    d.add_argument("--json", default=None, metavar="FILE",
                   help="also write every changed document and count as JSON")
    d.set_defaults(func=_cmd_diff)

    c = sub.add_parser("card", help="provenance card of a run (hashes, pipeline, versions, "
                                    "removals, verify); --check a dataset against a card")
    c.add_argument("paths", nargs="+", metavar="PATH", help="OUT (with -o), or CARD DATA "
                                                           "(with --check)")
    c.add_argument("-o", default=None, metavar="CARD",
                   help="card file to write (JSON; a markdown twin .md is written beside it)")
    c.add_argument("--check", action="store_true",
                   help="check that DATA (a run directory or its data/) is exactly what CARD "
                        "describes (exit 1 if not)")
    c.set_defaults(func=_cmd_card)

    rv = sub.add_parser("review", help="borderline review queue of a filter (HTML / JSONL), "
                                       "or estimates from its labels (--labels)")
    rv.add_argument("output", help="the run's output directory (run with --score-all)")
    rv.add_argument("--stage", default=None, help="the filter to review (stage label)")
    rv.add_argument("-n", type=int, default=5,
                    help="documents per rule, side of the threshold and group (default 5)")
    rv.add_argument("--by", default=None,
                    help="facet to stratify by (default: the run's first facet)")
    rv.add_argument("--seed", type=int, default=0, help="seed of the tie-break (default 0)")
    rv.add_argument("--chars", type=int, default=2000, help="characters of text per document")
    rv.add_argument("--html", default=None, metavar="FILE", help="write the review page")
    rv.add_argument("--jsonl", default=None, metavar="FILE", help="write the review sheet")
    rv.add_argument("--labels", default=None, metavar="FILE",
                    help="a labelled sheet: print precision / miss rate per rule and group and "
                         "the threshold the labels support")
    rv.add_argument("--json", default=None, metavar="FILE", help="with --labels: the numbers")
    rv.set_defaults(func=_cmd_review, k=2.0, margin=0.05, min_support=30, alpha=0.05)

    da = sub.add_parser("dedup-audit", help="exact Jaccard of removed near-duplicates and of "
                                            "sampled kept pairs: false positive / negative rates")
    da.add_argument("output", help="the run's output directory")
    da.add_argument("--stage", default=None, help="the minhash_dedup stage label (default: the "
                                                  "first)")
    da.add_argument("--by", default=None, help="facet for the per-group rates (default: the "
                                               "run's first facet)")
    da.add_argument("--sample", type=int, default=2000,
                    help="documents sampled for missed pairs (default 2000)")
    da.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    da.add_argument("--json", default=None, metavar="FILE", help="write every number as JSON")
    da.add_argument("--html", default=None, metavar="FILE",
                    help="write a page with the histograms and the clusters, searchable by id")
    da.set_defaults(func=_cmd_dedup_audit)
