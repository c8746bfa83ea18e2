"""What-if: removal rates, flags and mix as they would be with changed stage parameters,
attributed per document from logged scores (also used by `diff` and `review`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from corpusfilter.core.errors import CorpusFilterError
from corpusfilter.report.data import Run
from corpusfilter.report.doctable import (
    DocTable,
    check_facets,
    counts_from_docs,
    doc_table,
    value_counts,
)
from corpusfilter.report.mix import column_writers, mix
from corpusfilter.report.rates import (
    Options,
    disparity,
    funnel,
    group_rates,
    reasons_from_docs,
    stage_kinds,
)
from corpusfilter.report.redecide import redecide


def replay(run: Run, table: DocTable, overrides: Mapping[str, Mapping[str, Any]],
           ) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Per document, the stage (index into `table.stages`, -1 = kept) and reason that would
    remove it with the changed parameters, and per stage how many documents it never saw or
    scored (assumed kept). The what-if attribution, also used by `diff` and `review`."""
    red = redecide(run, table, overrides)
    for label in overrides:
        if label not in red.removes:
            raise CorpusFilterError(f"--set {label}: {red.skipped.get(label, 'not a filter')}; "
                                    f"what-if works on filters whose scores were logged")
    n = len(table)
    removed_at = np.full(n, -1, dtype=np.int64)
    reasons = np.full(n, None, dtype=object)
    alive = np.ones(n, dtype=bool)
    unscored = {}
    for i, stage in enumerate(table.stages):
        orig = table.removed_at == i
        if stage in red.removes:
            scored = red.scored[stage]
            if stage not in overrides:
                # unchanged stage: the ledger is exact for what it saw; scores for the rest
                saw = (table.removed_at == -1) | (table.removed_at >= i)
                scored = scored & ~saw
            rem = np.where(scored, red.removes[stage], orig)
            why = np.where(scored, red.reasons[stage], table.reason)
            # documents this stage never saw and never scored: assumed kept
            unscored[stage] = int((alive & ~scored & (table.removed_at >= 0)
                                   & (table.removed_at < i)).sum())
        else:
            rem, why = orig, table.reason
            unscored[stage] = int((alive & (table.removed_at >= 0)
                                   & (table.removed_at < i)).sum())
        hit = alive & rem
        removed_at[hit] = i
        reasons[hit] = why[hit]
        alive &= ~hit
    return removed_at, reasons, unscored


def whatif(run: Run, overrides: Mapping[str, Mapping[str, Any]], opts: Options,
           by: Sequence[str] | None = None) -> dict[str, Any]:
    """Removal rates and flags as they would be with changed stage parameters."""
    labels = [d["label"] for d in run.stage_entries]
    for label, _params in overrides.items():
        if label not in labels:
            raise CorpusFilterError(f"--set: no stage {label!r} in this run (stages: "
                                    f"{', '.join(labels)})")
    table = doc_table(run)
    facets = list(by) if by else list(table.facets)
    check_facets(facets, table.facets)
    removed_at, reasons, unscored = replay(run, table, overrides)
    before = report_from_table(run, table, table.removed_at, table.reason, facets, opts)
    after = report_from_table(run, table, removed_at, reasons, facets, opts)
    return {"overrides": {k: dict(v) for k, v in overrides.items()},
            "before": before, "after": after,
            "assumed_kept": {k: v for k, v in unscored.items() if v},
            "changed_docs": int((removed_at != table.removed_at).sum())}


def report_from_table(run: Run, table: DocTable, removed_at: np.ndarray, reasons: np.ndarray,
                      facets: Sequence[str], opts: Options) -> dict[str, Any]:
    counts = counts_from_docs(table, removed_at, facets, reasons)
    stats = {"stages": counts, "input": {"docs": len(table)},
             "output": {"docs": int((removed_at == -1).sum())}}
    order = table.stages
    rates = group_rates(stats, order, facets)
    flags, too_few = disparity(rates, opts, reasons_from_docs(table, removed_at, reasons))
    alive = removed_at == -1
    after = {f: value_counts(table.facets[f][alive]) for f in facets}
    return {"funnel": funnel(stats, order, stage_kinds(run)), "rates": rates, "flags": flags,
            "too_few": too_few, "mix": mix(stats, order, facets, after, column_writers(run))}
