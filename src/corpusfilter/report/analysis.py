"""The numbers of the removal report: funnel, rates by group, disparity flags, corpus mix,
independent vs attributed rates with their overlap, and what-if re-decisions from logged scores.

Everything here works on a stats-like *counts* layout (``{stage: {"in", "removed", "modified",
"reasons", "by": {facet: {value: {"in", "removed", "modified"}}}}}``), which is what
``stats.json`` holds; what-if analysis and facets that were not counted during the run
synthesise the same layout from per-document attribution, so one code path computes every
rate and flag.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusfilter.core.errors import CorpusFilterError
from corpusfilter.report.data import NONE_VALUE, Run, wilson

INPUT_STAGE = "input"


@dataclass(frozen=True)
class Options:
    """Thresholds of the disparity flags.

    k: flag a group removed at >= k times the stage's overall rate...
    margin: ...or whose 95% interval lies entirely above the overall rate by this much
        (absolute, as a fraction: 0.05 = 5 percentage points).
    min_support: groups that fewer documents reached are "too few to judge", never flagged.

    alpha: family-wise error level: either way a flag also needs the group's Wilson interval,
        widened for the number of stage × group pairs judged (Bonferroni), to lie above the
        overall rate: a ratio that chance alone explains is not evidence.
    """

    k: float = 2.0
    margin: float = 0.05
    min_support: int = 30
    alpha: float = 0.05
    # confounders (report/confounders.py): flags also get a ratio adjusted for length
    adjust_by: tuple[str, ...] = ()  # ...and for these facets
    length_bins: int = 5

    def __post_init__(self) -> None:
        if not self.k > 1:
            raise CorpusFilterError(f"--k must be greater than 1, got {self.k}")
        if not 0 <= self.margin < 1:
            raise CorpusFilterError(f"--margin must be in [0, 1), got {self.margin}")
        if not 0 < self.alpha < 1:
            raise CorpusFilterError(f"--alpha must be in (0, 1), got {self.alpha}")
        if self.min_support < 1:
            raise CorpusFilterError(f"--min-support must be at least 1, got {self.min_support}")
        if self.length_bins < 1:
            raise CorpusFilterError(f"--length-bins must be at least 1, got {self.length_bins}")


# -- per-document view of a run --------------------------------------------------------------

@dataclass
class DocTable:
    """One row per input document: id, facet values, the stage that removed it (or -1)."""

    ids: pa.Array
    facets: dict[str, np.ndarray]  # facet -> object array of strings (NONE_VALUE for null)
    stages: list[str]  # stage labels in pipeline order (input first)
    removed_at: np.ndarray  # index into `stages`, -1 = kept
    reason: np.ndarray  # object array: the ledger reason of the removal (None if kept)
    modified: dict[str, np.ndarray] = field(default_factory=dict)  # stage -> bool mask

    def __len__(self) -> int:
        return len(self.ids)

    def index_of(self, ids: pa.Array) -> np.ndarray:
        idx = pc.index_in(ids.cast(pa.string()), value_set=self.ids)
        return idx.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def doc_table(run: Run, extra: Mapping[str, Any] | None = None) -> DocTable:
    """Every document of the run (kept, removed, and scored) with its facet values."""
    facets = run.facets
    id_col = run.config.get("id_column", "id")
    parts = []
    kept = run.kept_columns([id_col, *facets]).rename_columns(["doc_id", *facets])
    parts.append(kept)
    led = run.ledger
    parts.append(_string_cols(led, ["doc_id", *facets]))
    if run.has_scores:
        parts.append(_string_cols(run.scores, ["doc_id", *facets]))
    allt = pa.concat_tables(parts)
    if facets:
        grouped = allt.group_by("doc_id").aggregate([(f, "min") for f in facets])
        grouped = pa.table({"doc_id": grouped["doc_id"],
                            **{f: grouped[f"{f}_min"] for f in facets}})
    else:
        grouped = pa.table({"doc_id": pc.unique(allt["doc_id"])})
    grouped = grouped.sort_by("doc_id")
    ids = grouped["doc_id"].combine_chunks()
    fvals = {f: _obj(grouped[f]) for f in facets}
    stages = run.stage_labels()
    pos = {s: i for i, s in enumerate(stages)}
    removed_at = np.full(len(ids), -1, dtype=np.int64)
    reason = np.full(len(ids), None, dtype=object)
    table = DocTable(ids, fvals, stages, removed_at, reason)
    if led.num_rows:
        rem = led.filter(pc.equal(led["action"], "removed"))
        idx = table.index_of(rem["doc_id"].combine_chunks())
        st = np.array([pos.get(s, -1) for s in rem["stage"].to_pylist()], dtype=np.int64)
        removed_at[idx] = st
        reason[idx] = np.array(rem["reason"].to_pylist(), dtype=object)
        mod = led.filter(pc.equal(led["action"], "modified"))
        for s in set(mod["stage"].to_pylist()):
            m = np.zeros(len(ids), dtype=bool)
            sub = mod.filter(pc.equal(mod["stage"], s))
            m[table.index_of(sub["doc_id"].combine_chunks())] = True
            table.modified[s] = m
    for name, values in (extra or {}).items():
        if isinstance(values, _IdValues):
            table.facets[name] = np.array([values.map.get(i, NONE_VALUE)
                                           for i in ids.to_pylist()], dtype=object)
        elif values is not None:
            table.facets[name] = values
    return table


def _string_cols(t: pa.Table, cols: Sequence[str]) -> pa.Table:
    out = {}
    for c in cols:
        if c in t.column_names:
            out[c] = t[c].cast(pa.string())
        else:
            out[c] = pa.nulls(t.num_rows, pa.string())
    return pa.table(out)


def _obj(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.array([NONE_VALUE if v is None else v for v in col.to_pylist()], dtype=object)


def counts_from_docs(table: DocTable, removed_at: np.ndarray, facets: Sequence[str],
                     reasons: np.ndarray | None = None) -> dict[str, Any]:
    """Stats-like counters from per-document attribution (a document reaches every stage
    before the one that removed it)."""
    out: dict[str, Any] = {}
    alive = np.ones(len(table), dtype=bool)
    reasons = table.reason if reasons is None else reasons
    for i, stage in enumerate(table.stages):
        removed = alive & (removed_at == i)
        modified = alive & ~removed & table.modified.get(stage, np.zeros(len(table), bool))
        s: dict[str, Any] = {"in": int(alive.sum()), "removed": int(removed.sum()),
                             "modified": int(modified.sum()), "reasons": {}, "by": {}}
        if removed.any():
            vals, cnt = np.unique(reasons[removed].astype(str), return_counts=True)
            s["reasons"] = {str(v): int(c) for v, c in zip(vals, cnt, strict=True)}
        for f in facets:
            col = table.facets[f]
            by: dict[str, dict[str, int]] = {}
            for kind, mask in (("in", alive), ("removed", removed), ("modified", modified)):
                vals, cnt = np.unique(col[mask].astype(str), return_counts=True)
                for v, c in zip(vals, cnt, strict=True):
                    by.setdefault(str(v), {"in": 0, "removed": 0, "modified": 0})[kind] = int(c)
            s["by"][f] = by
        out[stage] = s
        alive &= ~removed
    return out


# -- sections ---------------------------------------------------------------------------------

def funnel(stats: Mapping[str, Any], order: Sequence[str],
           kinds: Mapping[str, str]) -> dict[str, Any]:
    stages = []
    for label in order:
        s = stats["stages"].get(label)
        if s is None:
            continue
        n = s["in"]
        reasons = sorted(s.get("reasons", {}).items(), key=lambda kv: (-kv[1], kv[0]))
        stages.append({
            "stage": label, "kind": kinds.get(label, "input" if label == INPUT_STAGE else ""),
            "in": n, "removed": s["removed"], "modified": s.get("modified", 0),
            "out": n - s["removed"], "rate": s["removed"] / n if n else 0.0,
            "chars_in": s.get("chars_in"), "chars_removed": s.get("chars_removed"),
            "chars_modified": s.get("chars_modified", 0), "chars_out": s.get("chars_out"),
            "reasons": [{"reason": r, "count": c} for r, c in reasons],
        })
    return {"input": dict(stats.get("input", {})), "stages": stages,
            "output": dict(stats.get("output", {}))}


def group_rates(stats: Mapping[str, Any], order: Sequence[str],
                facets: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for label in order:
        s = stats["stages"].get(label)
        if s is None or not s["in"]:
            continue
        overall = s["removed"] / s["in"]
        for f in facets:
            for value, c in sorted(s.get("by", {}).get(f, {}).items()):
                n, x = c["in"], c["removed"]
                if n == 0:
                    continue
                lo, hi = wilson(x, n)
                rate = x / n
                rows.append({
                    "stage": label, "facet": f, "value": value, "in": n, "removed": x,
                    "modified": c.get("modified", 0),
                    "chars_modified": c.get("chars_modified", 0), "rate": rate, "lo": lo, "hi": hi,
                    "overall": overall,
                    "ratio": rate / overall if overall > 0 else None,
                })
    return rows


def disparity(rates: Sequence[Mapping[str, Any]], opts: Options,
              reasons_of: Any = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(flags, too_few): flags ranked by how far the interval lies above the overall rate.

    A report compares many stage × group pairs, so the evidence bar is corrected for their
    number (Bonferroni): a group is only flagged when its Wilson interval at the family-wise
    level `opts.alpha` (two-sided alpha / (2 m) per tail for m judged pairs) lies above the
    stage's overall rate. On a corpus without disparity, a report then flags nothing with
    probability >= 1 - alpha, however many groups and stages it has.
    """
    judged = [r for r in rates
              if r["overall"] > 0 and r["removed"] > 0 and r["in"] >= opts.min_support]
    z = NormalDist().inv_cdf(1 - opts.alpha / (2 * max(len(judged), 1)))
    flags, too_few = [], []
    for r in rates:
        overall = r["overall"]
        if overall <= 0 or r["removed"] == 0:
            continue
        by_ratio = r["rate"] >= opts.k * overall
        by_interval = r["lo"] >= overall + opts.margin
        if r["in"] < opts.min_support:
            if by_ratio or by_interval:
                too_few.append({**r, "would_flag": True})
            continue
        lo_adj, _ = wilson(r["removed"], r["in"], z)
        if not (lo_adj > overall and (by_ratio or by_interval)):
            continue
        rule = "+".join(n for n, hit in (("ratio", by_ratio), ("interval", by_interval)) if hit)
        excess = r["removed"] - r["in"] * overall
        flag = {**r, "rule": rule, "lo_adjusted": lo_adj, "comparisons": len(judged),
                "lo_ratio": lo_adj / overall, "excess": excess}
        if reasons_of is not None:
            flag["top_reasons"] = reasons_of(r["stage"], r["facet"], r["value"])
        flag["evidence"] = (
            f"{r['stage']} removed {r['removed']:,} of {r['in']:,} {r['facet']}={r['value']} "
            f"documents ({r['rate']:.1%}, 95% CI {r['lo']:.1%}–{r['hi']:.1%}) vs "
            f"{overall:.1%} overall: {r['rate'] / overall:.1f}×, ~{excess:,.0f} more than the "
            f"overall rate predicts")
        flags.append(flag)
    flags.sort(key=lambda f: (-f["lo_ratio"], -f["excess"], f["stage"], f["facet"], f["value"]))
    too_few.sort(key=lambda f: (f["stage"], f["facet"], f["value"]))
    return flags, too_few


def mix(stats: Mapping[str, Any], order: Sequence[str], facets: Sequence[str],
        after: Mapping[str, Mapping[str, int]],
        written: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Per facet: shares before and after, and which stages moved them most.

    "Before" is the mix the first stage received, or, for a facet a stage writes (``lang`` by
    `language`), the mix the stage after the writer received: the first point where the
    facet means what it means in the output."""
    out = {}
    written = written or {}
    for f in facets:
        before: dict[str, int] = {}
        first = None
        start = 0
        if f in written and written[f] in order:
            start = min(order.index(written[f]) + 1, len(order) - 1)
        for label in order[start:]:
            by = stats["stages"].get(label, {}).get("by", {}).get(f)
            if not by:
                continue
            if set(by) == {NONE_VALUE} and label != order[-1]:
                continue  # the column is written by a later stage (e.g. lang by `language`)
            first = label
            before = {v: c["in"] for v, c in by.items()}
            break
        if first is None:
            continue
        aft = dict(after.get(f, {}))
        nb, na = sum(before.values()), sum(aft.values())
        moves = []
        for label in order[order.index(first):]:
            by = stats["stages"].get(label, {}).get("by", {}).get(f) or {}
            n_in = sum(c["in"] for c in by.values())
            n_out = sum(c["in"] - c["removed"] for c in by.values())
            if not n_in or not n_out:
                continue
            deltas = {v: (c["in"] - c["removed"]) / n_out - c["in"] / n_in for v, c in by.items()}
            tv = 0.5 * sum(abs(d) for d in deltas.values())
            moves.append({"stage": label, "tv": tv, "deltas": deltas})
        values = []
        for v in sorted(set(before) | set(aft), key=lambda v: (-before.get(v, 0), v)):
            b, a = before.get(v, 0), aft.get(v, 0)
            sb, sa = (b / nb if nb else 0.0), (a / na if na else 0.0)
            worst = min(moves, key=lambda m: m["deltas"].get(v, 0.0), default=None)
            values.append({
                "value": v, "before": b, "before_share": sb, "after": a, "after_share": sa,
                "delta": sa - sb,
                "moved_most_by": worst["stage"] if worst and worst["deltas"].get(v, 0) < 0
                else None,
                "moved_most_delta": worst["deltas"].get(v, 0.0) if worst else 0.0,
            })
        moves.sort(key=lambda m: -m["tv"])
        out[f] = {"before_stage": first, "before_total": nb, "after_total": na,
                  "values": values,
                  "stages": [{"stage": m["stage"], "tv": m["tv"]} for m in moves]}
    return out


def after_counts(run: Run, facets: Sequence[str]) -> dict[str, dict[str, int]]:
    """Facet value counts of the output (``data/``, up-sampled copies included)."""
    out: dict[str, dict[str, int]] = {}

    for f in facets:
        counts: dict[str, int] = {}
        for t in run.data_tables([f]):
            if f in t.column_names:
                col = t[f].cast(pa.string())
                vc = pc.value_counts(col.fill_null(NONE_VALUE))
                for v, c in zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(),
                                strict=True):
                    counts[v] = counts.get(v, 0) + c
            elif t.num_rows:
                counts[NONE_VALUE] = counts.get(NONE_VALUE, 0) + t.num_rows
        out[f] = counts
    return out


# -- re-deciding filters from logged scores ---------------------------------------------------

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
    _check_facets(facets, table.facets)
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
    flags, too_few = disparity(rates, opts, _reasons_from_docs(table, removed_at, reasons))
    alive = removed_at == -1
    after = {f: _value_counts(table.facets[f][alive]) for f in facets}
    return {"funnel": funnel(stats, order, _kinds(run)), "rates": rates, "flags": flags,
            "too_few": too_few, "mix": mix(stats, order, facets, after, _writers(run))}


def _value_counts(values: np.ndarray) -> dict[str, int]:
    vals, cnt = np.unique(values.astype(str), return_counts=True)
    return {str(v): int(c) for v, c in zip(vals, cnt, strict=True)}


def _reasons_from_docs(table: DocTable, removed_at: np.ndarray, reasons: np.ndarray) -> Any:
    def reasons_of(stage: str, facet: str, value: str) -> list[dict[str, Any]]:
        i = table.stages.index(stage)
        m = (removed_at == i) & (table.facets[facet] == value)
        return [{"reason": r, "count": c}
                for r, c in sorted(_value_counts(reasons[m]).items(), key=lambda kv: -kv[1])[:3]]
    return reasons_of


def _writers(run: Run) -> dict[str, str]:
    """facet -> label of the last stage that writes that column."""
    from corpusfilter.core import registry

    out = {}
    for d in run.stage_entries:
        try:
            cls = registry.get(f"{d['stage']}@{d['version']}")
        except Exception:  # a stage no longer installed (or broken): its columns are unknown
            continue
        for col in getattr(cls, "writes", ()):
            out[col] = d["label"]
    return out


def _kinds(run: Run) -> dict[str, str]:
    return {d["label"]: d.get("kind", "") for d in run.stage_entries}


def _check_facets(facets: Sequence[str], known: Mapping[str, Any]) -> None:
    unknown = [f for f in facets if f not in known]
    if unknown:
        raise CorpusFilterError(f"--by {', '.join(unknown)}: not a facet of this run or a column "
                                f"of its input (facets: {', '.join(known) or 'none'})")


# -- the whole report -------------------------------------------------------------------------

def build_report(out: str | Any, by: Sequence[str] | None = None,
                 opts: Options | None = None) -> dict[str, Any]:
    """Every number of the report as a JSON-serialisable dict."""
    opts = opts or Options()
    run = out if isinstance(out, Run) else Run.open(out)
    stats = copy.deepcopy(run.stats)
    order = [s for s in run.stage_labels() if s in stats.get("stages", {})]
    _fix_input_counts(stats, order)
    facets = list(by) if by else run.facets
    missing = [f for f in facets if f not in run.facets]
    table: DocTable | None = None
    if missing:
        extra = {f: _input_column(run, f) for f in missing}
        table = doc_table(run, extra)
        _check_facets(facets, table.facets)
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
            return _reasons_from_docs(table, table.removed_at, table.reason)(stage, facet, value)
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
            after[f] = _value_counts(table.facets[f][kept])
    report: dict[str, Any] = {
        "run": {"out": run.location, "pipeline": run.meta.get("config_source"),
                "stages": run.stage_entries, "facets": facets,
                "corpusfilter": run.meta.get("corpusfilter"),
                "finished": run.meta.get("finished"),
                "limit": run.config.get("limit"),
                "options": {"k": opts.k, "margin": opts.margin,
                            "min_support": opts.min_support, "alpha": opts.alpha}},
        "funnel": funnel(stats, order, _kinds(run)),
        "rates": rates,
        "flags": flags,
        "too_few": too_few,
        "mix": mix(stats, order, facets, after, _writers(run)),
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


def _fix_input_counts(stats: dict[str, Any], order: Sequence[str]) -> None:
    """The engine counts the `input` stage only in batches that had invalid rows; what it
    received is everything: the next stage's input plus what `input` removed."""
    if INPUT_STAGE not in order or order.index(INPUT_STAGE) + 1 >= len(order):
        return
    inp = stats["stages"][INPUT_STAGE]
    nxt = stats["stages"][order[order.index(INPUT_STAGE) + 1]]
    inp["in"] = nxt["in"] + inp["removed"]
    for f, values in nxt.get("by", {}).items():
        by = inp.setdefault("by", {}).setdefault(f, {})
        for v in set(values) | set(by):
            entry = by.setdefault(v, {"in": 0, "removed": 0, "modified": 0})
            entry["in"] = values.get(v, {}).get("in", 0) + entry.get("removed", 0)


def _input_column(run: Run, name: str) -> _IdValues:
    """A column of the input shards per document, aligned later by id (for --by on columns
    that were not facets of the run). ``COL:domain`` gives the host name of a URL column."""
    col, _, fn = name.partition(":")
    if fn not in ("", "domain"):
        raise CorpusFilterError(f"--by {name}: unknown function {fn!r} (supported: domain)")
    id_col = run.config.get("id_column", "id")
    ids, vals = [], []
    from corpusfilter.io.shards import Shard, read_input_columns, shard_schema

    for inp in run.meta.get("inputs", []):
        path = inp["path"]
        try:
            t = read_input_columns(Shard(path, inp["shard"]), [col], id_col,
                                   run.config.get("storage_options"))
        except (OSError, CorpusFilterError) as e:
            raise CorpusFilterError(f"--by {name}: cannot read input shard {path} ({e}); "
                                    f"facets other than the run's need the input") from None
        if col not in t.column_names:
            raise CorpusFilterError(f"--by {name}: column {col!r} is not in input shard {path} "
                                    f"(columns: {', '.join(shard_schema(Shard(path, inp['shard']), run.config.get('storage_options')).names)})")
        ids.extend(str(v) for v in t[id_col].to_pylist())
        vals.extend(t[col].to_pylist())
    if fn == "domain":
        from urllib.parse import urlsplit

        vals = [(urlsplit(v).hostname or None) if isinstance(v, str) else None for v in vals]
    return _IdValues(ids, vals)


class _IdValues:
    """Values keyed by id, turned into an array aligned with a DocTable by `doc_table`."""

    def __init__(self, ids: list[str], values: list[Any]):
        self.map = {i: (NONE_VALUE if v is None else str(v)) for i, v in zip(ids, values,
                                                                            strict=True)}
