"""Re-deciding filters from logged scores: each filter rebuilt from the run's config (with any
changed parameters) decides again on the scores it logged, which gives every filter's rate on
its own, the overlap between filters, and (in `whatif`) the effect of other thresholds."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusfilter.core.errors import CorpusFilterError
from corpusfilter.report.data import NONE_VALUE, Run, wilson
from corpusfilter.report.doctable import DocTable
from corpusfilter.report.rates import Options


@dataclass
class Redecided:
    """Per re-decidable filter: which documents it removes when applied on its own."""

    scored: dict[str, np.ndarray]  # stage -> bool mask: the stage logged scores for the doc
    removes: dict[str, np.ndarray]  # stage -> bool mask (meaningful where scored)
    reasons: dict[str, np.ndarray]  # stage -> reason per doc (None if kept)
    skipped: dict[str, str]  # stage -> why it cannot be re-decided


@dataclass
class ScoredFilter:
    """A filter rebuilt from run.json (with any overrides) and the scores it logged."""

    stage: Any  # the Filter instance
    scored: np.ndarray  # bool mask over the DocTable: the stage logged scores for the doc
    rows: np.ndarray  # DocTable indices of the scored documents
    metrics: dict[str, np.ndarray]  # metric -> value per scored document (NaN if not logged)
    docs: Any  # Docs of the scored documents (id and lang columns only)


def scored_filters(run: Run, table: DocTable,
                   overrides: Mapping[str, Mapping[str, Any]] | None = None,
                   ) -> Iterator[tuple[str, ScoredFilter | str]]:
    """Per stage of the run: its rebuilt filter with logged scores, or why there is none."""
    from corpusfilter.core import registry
    from corpusfilter.core.docs import Columns, Docs
    from corpusfilter.core.stage import Filter

    overrides = overrides or {}
    scores = run.scores
    entries = run.config.get("stages", [])
    cfg = run.config
    cols = Columns(cfg.get("text_column", "text"), cfg.get("id_column", "id"),
                   cfg.get("lang_column", "lang"))
    n = len(table)
    for i, desc in enumerate(run.stage_entries):
        label = desc["label"]
        entry = dict(entries[i]) if i < len(entries) else {"stage": desc["stage"]}
        entry["stage"] = f"{desc['stage']}@{desc['version']}"
        entry.update(overrides.get(label, {}))
        stage = registry.build(entry, i)
        if not isinstance(stage, Filter):
            yield label, f"a {desc.get('kind', 'non-filter')} stage: no scores to re-decide"
            continue
        if type(stage).process is not Filter.process:
            yield label, ("decides in process() rather than rules()/decide(), so its "
                          "decisions cannot be re-applied to logged scores")
            continue
        sub = scores.filter(pc.equal(scores["stage"], label))
        if sub.num_rows == 0:
            yield label, "no scores logged"
            continue
        idx = table.index_of(sub["doc_id"].combine_chunks())
        scored = np.zeros(n, dtype=bool)
        scored[idx] = True
        rows = np.flatnonzero(scored)
        pos = np.full(n, -1, dtype=np.int64)
        pos[rows] = np.arange(len(rows))
        metrics: dict[str, np.ndarray] = {}
        values = sub["value"].to_numpy(zero_copy_only=False)
        for m in sorted(pc.unique(sub["metric"]).to_pylist()):
            mask = pc.equal(sub["metric"], m).to_numpy(zero_copy_only=False)
            arr = np.full(len(rows), np.nan)
            arr[pos[idx[mask]]] = values[mask]
            metrics[m] = arr
        batch_cols = {cols.id: table.ids.take(pa.array(rows))}
        lang_facet = cols.lang if cols.lang in table.facets else None
        if lang_facet:
            lv = table.facets[lang_facet][rows]
            batch_cols[cols.lang] = pa.array([None if v == NONE_VALUE else v for v in lv],
                                             pa.string())
        docs = Docs(pa.RecordBatch.from_pydict(batch_cols), cols)
        yield label, ScoredFilter(stage, scored, rows, metrics, docs)


def redecide(run: Run, table: DocTable,
             overrides: Mapping[str, Mapping[str, Any]] | None = None) -> Redecided:
    """Apply each filter's thresholds (possibly changed) to its logged scores."""
    res = Redecided({}, {}, {}, {})
    n = len(table)
    for label, sf in scored_filters(run, table, overrides):
        if isinstance(sf, str):
            res.skipped[label] = sf
            continue
        try:
            outcome = sf.stage.decide(sf.docs, sf.metrics)
        except KeyError as e:
            raise CorpusFilterError(
                f"stage {label} did not log metric {e.args[0]!r} in this run (logged: "
                f"{', '.join(sorted(sf.metrics))}); enable that rule in the pipeline and rerun "
                f"with --score-all to explore it") from None
        except Exception as e:  # a decide() that needs more than scores
            res.skipped[label] = f"cannot re-decide from scores alone ({type(e).__name__}: {e})"
            continue
        removes = np.zeros(n, dtype=bool)
        removes[sf.rows] = ~outcome.keep
        reasons = np.full(n, None, dtype=object)
        reasons[sf.rows] = outcome.reason
        res.scored[label] = sf.scored
        res.removes[label] = removes
        res.reasons[label] = reasons
    return res


def independent(run: Run, table: DocTable, opts: Options) -> dict[str, Any]:
    """Each filter's removal rate on its own, and how much the filters overlap."""
    red = redecide(run, table)
    stages = [s for s in table.stages if s in red.removes]
    rows = []
    for s in stages:
        scored, rem = red.scored[s], red.removes[s]
        n, x = int(scored.sum()), int((rem & scored).sum())
        lo, hi = wilson(x, n)
        i = table.stages.index(s)
        attributed = int((table.removed_at == i).sum())
        seen = int(((table.removed_at == -1) | (table.removed_at >= i)).sum())
        # consistency: on the documents the stage saw, the re-decision must equal the ledger
        saw = scored & ((table.removed_at == -1) | (table.removed_at >= i))
        agree = int(((rem == (table.removed_at == i)) & saw).sum())
        by = []
        for f, col in table.facets.items():
            for v in sorted(set(col[scored].tolist())):
                m = scored & (col == v)
                nn, xx = int(m.sum()), int((rem & m).sum())
                lo_, hi_ = wilson(xx, nn)
                by.append({"facet": f, "value": v, "in": nn, "removed": xx,
                           "rate": xx / nn if nn else 0.0, "lo": lo_, "hi": hi_})
        rows.append({"stage": s, "scored": n, "removed_independent": x,
                     "rate_independent": x / n if n else 0.0, "lo": lo, "hi": hi,
                     "removed_attributed": attributed, "seen": seen,
                     "rate_attributed": attributed / seen if seen else 0.0,
                     "agreement": agree / int(saw.sum()) if saw.any() else 1.0, "by": by})
    matrix, counts = [], []
    for a in stages:
        ra, ca = [], []
        for b in stages:
            both = red.scored[a] & red.scored[b]
            ra_set = red.removes[a] & both
            nb = int((ra_set & red.removes[b]).sum())
            ca.append(nb)
            ra.append(nb / int(ra_set.sum()) if ra_set.any() else None)
        matrix.append(ra)
        counts.append(ca)
    return {"stages": rows, "overlap": {"stages": stages, "matrix": matrix, "counts": counts},
            "skipped": red.skipped}
