"""`corpusfilter review`: a borderline review queue for people to judge a filter's decisions,
and the estimates their labels support.

For each rule of a filter (e.g. ``doc_length.min_words``) and each value of a facet, the
queue holds the ``n`` documents the stage *removed* by that rule with the score closest to the
threshold, and the ``n`` documents it *kept* with the score closest to it on the other side:
where a threshold's mistakes are, if it makes any. Ties in distance are broken by a seeded
hash of the id, so the queue is reproducible and the seed draws another one. The text is
redacted like `inspect`'s (report/inspect.py), never written in the clear.

A person marks each decision ``right`` or ``wrong`` (in the HTML page, or in the JSONL
sheet). ``review OUT --labels FILE`` then estimates, per stage × rule × group, the precision of
the removals (right / labelled removals) and the miss rate of the keeps (wrong / labelled
keeps), each with a 95% Wilson interval (Wilson 1927), and the threshold that the labels
support: the one that would have decided the most labelled documents as the labeller did,
with what it would change on the whole corpus computed by `whatif` (analysis.whatif). These
are estimates for the *borderline band* the queue samples, not for the stage as a whole.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from corpusfilter.core.errors import CorpusFilterError
from corpusfilter.report.analysis import Options, doc_table, scored_filters, whatif
from corpusfilter.report.data import Run, wilson

LABELS = ("right", "wrong")


@dataclass
class Item:
    """One decision to review."""

    stage: str
    rule: str  # the rule's name; the ledger reason is "<stage>.<rule>"
    bound: str  # "min" (removed below) or "max" (removed above)
    side: str  # "removed" or "kept"
    doc_id: str
    group: str  # the value of the stratifying facet
    facet: str
    metric: str
    score: float
    threshold: float
    distance: float
    text: str = ""  # redacted
    label: str | None = None


def _tiebreak(ids: Sequence[str], seed: int) -> np.ndarray:
    return np.array([xxhash.xxh64_intdigest(i.encode(), seed=seed) for i in ids], dtype=np.uint64)


def review_items(run: Run, stage: str, n: int, by: str | None = None,
                 seed: int = 0) -> list[Item]:
    """The nearest-threshold documents of `stage`, per rule × bound × side × group (no text)."""
    if n < 1:
        raise CorpusFilterError("-n must be at least 1")
    table = doc_table(run)
    facet = by or (run.facets[0] if run.facets else None)
    if facet is None or facet not in table.facets:
        raise CorpusFilterError(f"--by {facet}: not a facet of this run (facets: "
                                f"{', '.join(table.facets) or 'none'})")
    if stage not in table.stages:
        raise CorpusFilterError(f"--stage {stage!r}: no such stage in this run (stages: "
                                f"{', '.join(table.stages)})")
    found = dict(scored_filters(run, table))
    sf = found.get(stage)
    if sf is None or isinstance(sf, str):
        why = sf or "not a filter"
        raise CorpusFilterError(f"--stage {stage}: cannot review: {why} (the review queue needs "
                                f"a filter with rules and the scores of `run --score-all`)")
    i_stage = table.stages.index(stage)
    reached = (table.removed_at[sf.rows] == -1) | (table.removed_at[sf.rows] >= i_stage)
    removed = table.removed_at[sf.rows] == i_stage
    reason = table.reason[sf.rows]
    groups = table.facets[facet][sf.rows]
    ids = np.array(table.ids.take(sf.rows).to_pylist(), dtype=object)
    ties = _tiebreak(ids.tolist(), seed)
    items: list[Item] = []
    for rule in sf.stage.rules(sf.docs):
        values = np.asarray(sf.metrics.get(rule.metric, np.full(len(ids), np.nan)), np.float64)
        for bound_name, bound in (("min", rule.min), ("max", rule.max)):
            if bound is None:
                continue
            limit = np.broadcast_to(np.asarray(bound, dtype=np.float64), values.shape)
            with np.errstate(invalid="ignore"):
                # removed by this rule on this side of it / kept by the stage (the ledger's word)
                fails = values < limit if bound_name == "min" else values > limit
                # a NaN bound: the rule does not apply to that document (e.g. its language)
                applies = ~np.isnan(values) & ~np.isnan(limit)
                sides = {"removed": removed & (reason == sf.stage.reason(rule.name)) & fails,
                         "kept": reached & ~removed & applies}
            dist = np.abs(values - limit)
            for side, mask in sides.items():
                for g in sorted(set(groups[mask].tolist())):
                    rows = np.flatnonzero(mask & (groups == g))
                    order = np.lexsort((ties[rows], dist[rows]))[:n]
                    for r in rows[order]:
                        items.append(Item(stage, rule.name, bound_name, side, str(ids[r]), str(g),
                                          facet, rule.metric, float(values[r]),
                                          float(limit[r]), float(dist[r])))
    return items


def with_texts(run: Run, items: list[Item], chars: int = 2000) -> str:
    """Fill in the redacted text of every item; returns the redaction method used."""
    from corpusfilter.report.inspect import Redactor, texts_of

    redact = Redactor()
    texts = texts_of(run, sorted({it.doc_id for it in items}))
    clean = redact([(texts.get(it.doc_id) or "")[:chars] for it in items])
    for it, t in zip(items, clean, strict=True):
        it.text = t if it.doc_id in texts else "(text not found: input shards moved)"
    return redact.method


def write_sheet(items: Sequence[Item], path: str | Path) -> Path:
    """The JSONL sheet: one decision per line, ``label`` null for the reviewer to fill."""
    from corpusfilter.io.shards import write_text_atomic

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic("".join(json.dumps(asdict(it), ensure_ascii=False, allow_nan=False) + "\n"
                              for it in items), p)
    return p


_CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1000px;padding:1em}
h2{margin-top:2em}.item{border:1px solid #ccc;border-radius:6px;margin:.6em 0;padding:.5em .8em}
.item.removed{border-left:6px solid #c0392b}.item.kept{border-left:6px solid #27ae60}
.meta{color:#555;font-size:12px}.text{white-space:pre-wrap;background:#f7f7f7;padding:.4em;
max-height:12em;overflow:auto;font-size:13px}.item.done{opacity:.6}
#bar{position:sticky;top:0;background:#fff;padding:.5em 0;border-bottom:1px solid #ddd}"""

_JS = """(function(){
var items=JSON.parse(document.getElementById('items').textContent);
var key='corpusfilter-review:'+document.body.dataset.key;
var saved={};try{saved=JSON.parse(localStorage.getItem(key)||'{}')}catch(e){}
function count(){var n=0;items.forEach(function(it){if(it.label)n++});
 document.getElementById('progress').textContent=n+' of '+items.length+' labelled';}
items.forEach(function(it,i){
 if(saved[i])it.label=saved[i];
 var el=document.getElementById('item-'+i);
 el.querySelectorAll('input').forEach(function(inp){
  if(inp.value===it.label)inp.checked=true;
  inp.addEventListener('change',function(){it.label=inp.value;saved[i]=inp.value;
   el.classList.add('done');try{localStorage.setItem(key,JSON.stringify(saved))}catch(e){}
   count();});});
 if(it.label)el.classList.add('done');});
function jsonl(){return items.map(function(it){return JSON.stringify(it)}).join('\\n')+'\\n';}
document.getElementById('export').addEventListener('click',function(){
 var a=document.createElement('a');
 a.href=URL.createObjectURL(new Blob([jsonl()],{type:'application/jsonl'}));
 a.download='review-labels.jsonl';document.body.appendChild(a);a.click();a.remove();});
if(location.hash==='#selftest'){ /* tests: label every item 'right' and show the export */
 items.forEach(function(it){it.label='right'});
 document.getElementById('selftest').textContent=jsonl();}
count();document.body.setAttribute('data-items-rendered',String(items.length));
})();"""


def write_page(items: Sequence[Item], path: str | Path, title: str, method: str) -> Path:
    """A self-contained HTML page: every decision with its redacted text and right/wrong
    buttons; "Download labels" saves the JSONL that ``review --labels`` reads."""
    from corpusfilter.io.shards import write_text_atomic

    e = html.escape
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title>"
           f"<style>{_CSS}</style></head><body data-key='{e(title)}'>",
           f"<h1>{e(title)}</h1><p>For each document: was the filter's decision "
           f"<b>right</b> or <b>wrong</b>? Removed documents are those closest to the "
           f"threshold below it (red), kept ones closest above it (green). Text redacted with "
           f"{e(method)}.</p><div id='bar'><span id='progress'></span> "
           f"<button id='export'>Download labels (JSONL)</button></div>"]
    section = None
    for i, it in enumerate(items):
        head = (it.stage, it.rule, it.bound, it.side)
        if head != section:
            section = head
            verb = "removed: score just past" if it.side == "removed" else "kept: score within"
            out.append(f"<h2>{e(it.stage)}.{e(it.rule)} ({it.bound}) — {verb} the "
                       f"threshold</h2>")
        out.append(
            f"<div class='item {it.side}' id='item-{i}'><div class='meta'><b>{e(it.doc_id)}"
            f"</b> · {e(it.facet)}={e(it.group)} · {e(it.metric)} {it.score:g} vs threshold "
            f"{it.threshold:g} ({it.side})</div><div class='text'>{e(it.text)}</div>"
            f"<label><input type='radio' name='l{i}' value='right'> right</label> "
            f"<label><input type='radio' name='l{i}' value='wrong'> wrong</label></div>")
    data = json.dumps([asdict(it) for it in items], ensure_ascii=False, allow_nan=False)
    data = data.replace("</", "<\\/")
    out.append(f"<pre id='selftest' hidden></pre><script type='application/json' id='items'>"
               f"{data}</script><script>{_JS}</script></body></html>")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic("".join(out), p)
    return p


# -- labels -----------------------------------------------------------------------------------

def read_labels(path: str | Path) -> list[Item]:
    """Labelled items of a sheet (or the page's download); unlabelled lines are skipped."""
    items = []
    fields = set(Item.__dataclass_fields__)
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as e:
        raise CorpusFilterError(f"cannot read labels {path}: {e}") from None
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            item = Item(**{k: v for k, v in row.items() if k in fields})
        except (json.JSONDecodeError, TypeError) as e:
            raise CorpusFilterError(f"{path}:{no}: not a review item ({e})") from None
        if item.label is None or item.label == "":
            continue
        if item.label not in LABELS:
            raise CorpusFilterError(f"{path}:{no}: label {item.label!r} must be one of "
                                    f"{', '.join(LABELS)} (or null for not reviewed)")
        items.append(item)
    return items


def _estimate(items: Sequence[Item]) -> dict[str, Any]:
    rem = [it for it in items if it.side == "removed"]
    kept = [it for it in items if it.side == "kept"]
    right = sum(it.label == "right" for it in rem)
    missed = sum(it.label == "wrong" for it in kept)
    p_lo, p_hi = wilson(right, len(rem))
    m_lo, m_hi = wilson(missed, len(kept))
    return {"removed_labelled": len(rem), "removed_right": right,
            "precision": right / len(rem) if rem else None, "precision_lo": p_lo,
            "precision_hi": p_hi, "kept_labelled": len(kept), "kept_wrong": missed,
            "miss_rate": missed / len(kept) if kept else None, "miss_lo": m_lo, "miss_hi": m_hi}


def should_remove(it: Item) -> bool:
    """What the reviewer says the right decision was."""
    return (it.side == "removed") == (it.label == "right")


def best_threshold(items: Sequence[Item]) -> tuple[float, int, int]:
    """(threshold, labelled errors at it, labelled errors now) for one rule × bound: the
    candidate (a labelled score, or the current threshold) that decides the most labelled
    documents as the reviewer did; ties go to the candidate closest to the current one."""
    current = items[0].threshold
    bound = items[0].bound
    scores = np.array([it.score for it in items])
    truth = np.array([should_remove(it) for it in items])

    def errors(t: float) -> int:
        removes = scores < t if bound == "min" else scores > t
        return int((removes != truth).sum())

    cands = sorted(set(scores.tolist()) | {current}, key=lambda t: (abs(t - current), t))
    best = min(cands, key=lambda t: (errors(t), abs(t - current)))
    return best, errors(best), errors(current)


def _param_for(run: Run, stage: str, rule: str, metric: str, bound: str,
               threshold: float) -> str | None:
    """The stage parameter that sets a rule's bound: named like the rule or the metric, or
    the only ``min_*``/``max_*`` parameter currently equal to the threshold."""
    params = next((s.get("params", {}) for s in run.stage_entries if s["label"] == stage), {})
    for name in (rule, f"{bound}_{rule}", f"{bound}_{metric}"):
        if name in params and name.startswith(bound):
            return name
    same = [k for k, v in params.items() if k.startswith(f"{bound}_")
            and isinstance(v, int | float) and not isinstance(v, bool) and v == threshold]
    return same[0] if len(same) == 1 else None


def summarize_labels(run: Run, items: Sequence[Item],
                     opts: Options | None = None) -> dict[str, Any]:
    """Per stage × rule (all groups, then per group): precision of removals and miss rate of
    keeps with Wilson intervals, and the threshold the labels support with its `whatif`."""
    if not items:
        raise CorpusFilterError("no labelled items (every label is null); mark decisions "
                                "right or wrong first")
    opts = opts or Options()
    units: dict[tuple[str, str, str], list[Item]] = {}
    for it in items:
        units.setdefault((it.stage, it.rule, it.bound), []).append(it)
    out = []
    for (stage, rule, bound), its in sorted(units.items()):
        groups: dict[str, list[Item]] = {}
        for it in its:
            groups.setdefault(it.group, []).append(it)
        entry: dict[str, Any] = {
            "stage": stage, "rule": rule, "bound": bound, "facet": its[0].facet,
            **_estimate(its),
            "groups": [{"group": g, **_estimate(v)} for g, v in sorted(groups.items())]}
        t, err, err_now = best_threshold(its)
        current = its[0].threshold
        sug: dict[str, Any] = {"current": current, "errors_now": err_now, "threshold": t,
                               "errors": err, "labelled": len(its)}
        if err < err_now:
            param = _param_for(run, stage, rule, its[0].metric, bound, current)
            sug["param"] = param
            if param is None:
                sug["whatif"] = "no parameter of the stage maps to this rule"
            else:
                value: float | int = int(t) if float(t).is_integer() else t
                sug["value"] = value
                w = whatif(run, {stage: {param: value}}, opts)
                before = {s["stage"]: s for s in w["before"]["funnel"]["stages"]}
                after = {s["stage"]: s for s in w["after"]["funnel"]["stages"]}
                sug["whatif"] = {"set": f"{stage}.{param}={value}",
                                 "changed_docs": w["changed_docs"],
                                 "removed_before": before[stage]["removed"],
                                 "removed_after": after[stage]["removed"],
                                 "output_before": w["before"]["funnel"]["output"]["docs"],
                                 "output_after": w["after"]["funnel"]["output"]["docs"]}
        entry["suggestion"] = sug
        out.append(entry)
    return {"labelled": len(items), "rules": out}


def render_labels(summary: Mapping[str, Any], console: Any = None) -> None:
    from rich.table import Table

    from corpusfilter.console import make_console

    console = console or make_console()
    console.print(f"{summary['labelled']} labelled decisions (estimates are for the "
                  f"borderline band the queue sampled, not for the whole stage)")

    def pct(x: float | None, lo: float, hi: float) -> str:
        return "–" if x is None else f"{x:.0%} [{lo:.0%}, {hi:.0%}]"

    for r in summary["rules"]:
        table = Table(title=f"{r['stage']}.{r['rule']} ({r['bound']})", title_justify="left")
        for col in (r["facet"], "removals right", "precision (95% CI)", "keeps wrong",
                    "miss rate (95% CI)"):
            table.add_column(col)
        for g in [*r["groups"], {"group": "all", **{k: v for k, v in r.items()
                                                    if k not in ("groups",)}}]:
            table.add_row(g["group"], f"{g['removed_right']}/{g['removed_labelled']}",
                          pct(g["precision"], g["precision_lo"], g["precision_hi"]),
                          f"{g['kept_wrong']}/{g['kept_labelled']}",
                          pct(g["miss_rate"], g["miss_lo"], g["miss_hi"]))
        console.print(table)
        s = r["suggestion"]
        if s["errors"] >= s["errors_now"]:
            console.print(f"  the labels support the current threshold {s['current']:g} "
                          f"({s['errors_now']} of {s['labelled']} labelled decisions wrong)")
            continue
        w = s["whatif"]
        console.print(f"  the labels support threshold {s['threshold']:g} instead of "
                      f"{s['current']:g}: {s['errors']} instead of {s['errors_now']} of "
                      f"{s['labelled']} labelled decisions wrong", highlight=False)
        if isinstance(w, dict):
            console.print(f"  whatif --set {w['set']}: {w['changed_docs']:,} documents change "
                          f"fate; the stage removes {w['removed_after']:,} instead of "
                          f"{w['removed_before']:,}; output {w['output_after']:,} instead of "
                          f"{w['output_before']:,} documents", highlight=False)
        else:
            console.print(f"  ({w})")
