"""The numbers of the removal report, assembled from the modules that compute them: the
per-document view (`doctable`), funnel, rates by group and disparity flags (`rates`), corpus
mix (`mix`), independent vs attributed rates with their overlap (`redecide`) and what-if
re-decisions from logged scores (`whatif`).

Everything works on a stats-like *counts* layout (``{stage: {"in", "removed", "modified",
"reasons", "by": {facet: {value: {"in", "removed", "modified"}}}}}``), which is what
``stats.json`` holds; what-if analysis and facets that were not counted during the run
synthesise the same layout from per-document attribution, so one code path computes every
rate and flag.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from corpusfilter.report.data import NONE_VALUE, Run
from corpusfilter.report.doctable import (
    DocTable,
    check_facets,
    counts_from_docs,
    doc_table,
    input_column,
    value_counts,
)
from corpusfilter.report.mix import after_counts, column_writers, mix
from corpusfilter.report.rates import (
    INPUT_STAGE,
    Options,
    disparity,
    funnel,
    group_rates,
    reasons_from_docs,
    stage_kinds,
)
from corpusfilter.report.redecide import (
    Redecided,
    ScoredFilter,
    independent,
    redecide,
    scored_filters,
)
from corpusfilter.report.whatif import replay, report_from_table, whatif

# the report's public names, importable from here as before the split
__all__ = ["INPUT_STAGE", "DocTable", "Options", "Redecided", "ScoredFilter", "after_counts",
           "build_report", "counts_from_docs", "disparity", "doc_table", "funnel",
           "group_rates", "independent", "mix", "redecide", "replay", "report_from_table",
           "scored_filters", "whatif"]


def build_report(out: str | Any, by: Sequence[str] | None = None,
                 opts: Options | None = None) -> dict[str, Any]:
    """Every number of the report as a JSON-serialisable dict."""
    opts = opts or Options()
    run = out if isinstance(out, Run) else Run.open(out)
    stats = copy.deepcopy(run.stats)
    order = [s for s in run.stage_labels() if s in stats.get("stages", {})]
    facets = list(by) if by else run.facets
    missing = [f for f in facets if f not in run.facets]
    table: DocTable | None = None
    if missing:
        extra = {f: input_column(run, f) for f in missing}
        table = doc_table(run, extra)
        check_facets(facets, table.facets)
        synth = counts_from_docs(table, table.removed_at, missing)
        for label in order:
            if label in synth:
                stats["stages"][label].setdefault("by", {}).update(synth[label]["by"])
    rates = group_rates(stats, order, facets)
    led = run.ledger

    def reasons_of(stage: str, facet: str, value: str) -> list[dict[str, Any]]:
        if facet not in led.column_names:
            if table is None:
                return []
            return reasons_from_docs(table, table.removed_at, table.reason)(stage, facet, value)
        col = led[facet].cast(pa.string()).fill_null(NONE_VALUE)
        m = pc.and_(pc.and_(pc.equal(led["stage"], stage), pc.equal(col, value)),
                    pc.equal(led["action"], "removed"))
        sub = led.filter(m)
        vc = pc.value_counts(sub["reason"].fill_null(""))
        pairs = sorted(zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(),
                           strict=True), key=lambda kv: (-kv[1], kv[0]))
        return [{"reason": r, "count": c} for r, c in pairs[:3]]

    flags, too_few = disparity(rates, opts, reasons_of)
    if flags:
        from corpusfilter.report.confounders import adjust_flags

        if table is None:
            table = doc_table(run)
        adjust_flags(run, flags, table, opts.adjust_by, opts.length_bins, opts.alpha)
    after = after_counts(run, [f for f in facets if f in run.facets])
    if missing and table is not None:
        kept = table.removed_at == -1
        for f in missing:
            after[f] = value_counts(table.facets[f][kept])
    report: dict[str, Any] = {
        "run": {"out": run.location, "pipeline": run.meta.get("config_source"),
                "stages": run.stage_entries, "facets": facets,
                "corpusfilter": run.meta.get("corpusfilter"),
                "finished": run.meta.get("finished"),
                "limit": run.config.get("limit"),
                "options": {"k": opts.k, "margin": opts.margin,
                            "min_support": opts.min_support, "alpha": opts.alpha}},
        "funnel": funnel(stats, order, stage_kinds(run)),
        "rates": rates,
        "flags": flags,
        "too_few": too_few,
        "mix": mix(stats, order, facets, after, column_writers(run)),
        "independent": None,
    }
    from corpusfilter.report.coverage import und_count, und_fate

    lang_col = run.config.get("lang_column", "lang")
    report["undetermined"] = None
    if lang_col in run.facets and und_count(run):
        if table is None:
            table = doc_table(run)
        report["undetermined"] = und_fate(table, lang_col)
    if run.has_scores:
        if table is None:
            table = doc_table(run)
        report["independent"] = independent(run, table, opts)
    return report
