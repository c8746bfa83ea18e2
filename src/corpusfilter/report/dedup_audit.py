"""`corpusfilter dedup-audit`: did near-duplicate removal remove duplicates, and only them?

MinHash + LSH decides on *estimated* similarity, so it can remove a pair that is less similar
than its threshold (a false positive) and miss one that is more similar (a false negative).
The audit measures both on exact Jaccard similarity of the same shingles the stage used
(``ngram``, ``shingle`` from run.json, computed with corpusfilter's shingling):

* **removed pairs**: every document the stage removed against its kept twin (the ledger's
  ``duplicate_of``); false-positive rate = share below the threshold;
* **sampled pairs**: a seeded sample of the documents that reached the stage (all of them
  when fewer than ``sample``); every pair in it that shares a shingle is a candidate, its exact
  Jaccard computed; a pair at or above the threshold is a duplicate, *missed* when the stage
  kept both. False-negative rate = missed / duplicate pairs.

Rates carry 95% Wilson intervals, overall and per group (the removed document's group; for a
pair, the group of the document that the stage's keep rule would remove, the larger id).
Texts are read from the input shards listed in run.json, so they are the texts before any
transform that ran ahead of the stage; if one did, similarities are approximate. Shingles that
occur in more than ``max_df`` sampled documents (boilerplate) do not make candidates.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from corpusfilter.core.errors import CorpusFilterError
from corpusfilter.report.analysis import doc_table
from corpusfilter.report.data import Run, wilson

BINS = np.linspace(0.0, 1.0, 11)  # histogram edges: tenths of Jaccard
SAMPLE = 2000  # documents; all pairs of 2,000 sharing a shingle stay cheap to check
MAX_DF = 50


def _jaccards(texts: list[str], ngram: int, kind: str, a: np.ndarray,
              b: np.ndarray) -> np.ndarray:
    from corpusfilter.dedup.minhash import exact_jaccard, shingle_sets
    from corpusfilter.dedup.shingles import shingle_hashes

    values, counts = shingle_sets(shingle_hashes(pa.array(texts, pa.string()), ngram, kind))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return exact_jaccard(values, offsets, a, b) if len(a) else np.zeros(0)


def _candidates(texts: list[str], ngram: int, kind: str, max_df: int) -> tuple[np.ndarray,
                                                                              np.ndarray]:
    """Pairs (i < j) of documents sharing at least one shingle seen in at most max_df docs."""
    from corpusfilter.dedup.minhash import shingle_sets
    from corpusfilter.dedup.shingles import shingle_hashes

    values, counts = shingle_sets(shingle_hashes(pa.array(texts, pa.string()), ngram, kind))
    doc = np.repeat(np.arange(len(texts)), counts)
    order = np.argsort(values, kind="stable")
    v, d = values[order], doc[order]
    starts = np.flatnonzero(np.r_[True, v[1:] != v[:-1]])
    sizes = np.diff(np.r_[starts, len(v)])
    pairs: set[tuple[int, int]] = set()
    for s, n in zip(starts[(sizes > 1) & (sizes <= max_df)], sizes[(sizes > 1) &
                                                                   (sizes <= max_df)],
                    strict=True):
        members = np.unique(d[s:s + n])
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                pairs.add((int(members[x]), int(members[y])))
    if not pairs:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    arr = np.array(sorted(pairs), dtype=np.int64)
    return arr[:, 0], arr[:, 1]


def _hist(x: np.ndarray) -> list[int]:
    return np.histogram(np.clip(x, 0, 1), BINS)[0].tolist()


def _rate(k: int, n: int) -> dict[str, Any]:
    lo, hi = wilson(k, n)
    return {"count": k, "of": n, "rate": k / n if n else None, "lo": lo, "hi": hi}


def audit(run: Run, stage: str | None = None, by: str | None = None, sample: int = SAMPLE,
          seed: int = 0, max_df: int = MAX_DF) -> dict[str, Any]:
    """The dedup audit of one `minhash_dedup` stage of `run` as a JSON-serialisable dict."""
    from corpusfilter.report.inspect import texts_of

    entries = [s for s in run.stage_entries if s["stage"] == "minhash_dedup"]
    if stage:
        entries = [s for s in entries if s["label"] == stage]
    if not entries:
        raise CorpusFilterError(f"no minhash_dedup stage{' ' + stage if stage else ''} in this "
                                f"run (stages: {', '.join(run.stage_labels())})")
    entry = entries[0]
    label, params = entry["label"], entry["params"]
    ngram, kind, threshold = params["ngram"], params["shingle"], params["threshold"]
    table = doc_table(run)
    facet = by or (run.facets[0] if run.facets else None)
    if facet is not None and facet not in table.facets:
        raise CorpusFilterError(f"--by {facet}: not a facet of this run")
    ids = table.ids.to_pylist()
    group_of = dict(zip(ids, table.facets[facet].tolist(), strict=True)) if facet else {}
    i_stage = table.stages.index(label)

    # removed documents against their kept twin
    led = run.ledger
    rem = led.filter(pc.and_(pc.equal(led["stage"], label), pc.equal(led["action"], "removed")))
    rows = [(d, json.loads(x or "{}")) for d, x in zip(rem["doc_id"].to_pylist(),
                                                       rem["detail"].to_pylist(), strict=True)]
    rows = [(d, det) for d, det in rows if det.get("duplicate_of")]
    need = sorted({d for d, _ in rows} | {det["duplicate_of"] for _, det in rows})
    texts = texts_of(run, need)
    rows = [(d, det) for d, det in rows if d in texts and det["duplicate_of"] in texts]
    pos = {d: k for k, d in enumerate(need)}
    a = np.array([pos[d] for d, _ in rows], np.int64)
    b = np.array([pos[det["duplicate_of"]] for _, det in rows], np.int64)
    j_removed = _jaccards([texts.get(d, "") for d in need], ngram, kind, a, b)

    # a seeded sample of the documents that reached the stage: all candidate pairs in it
    reached = (table.removed_at == -1) | (table.removed_at >= i_stage)
    pool = [ids[k] for k in np.flatnonzero(reached)]
    removed_here = {ids[k] for k in np.flatnonzero(table.removed_at == i_stage)}
    if len(pool) > sample:
        key = np.array([xxhash.xxh64_intdigest(i.encode(), seed=seed) for i in pool], np.uint64)
        pool = [pool[k] for k in np.sort(np.argsort(key, kind="stable")[:sample])]
    ptexts = texts_of(run, pool)
    pool = [d for d in pool if d in ptexts]
    plist = [ptexts[d] for d in pool]
    ca, cb = _candidates(plist, ngram, kind, max_df)
    j_pairs = _jaccards(plist, ngram, kind, ca, cb)
    dup = j_pairs >= threshold
    either_removed = np.array([pool[x] in removed_here or pool[y] in removed_here
                               for x, y in zip(ca, cb, strict=True)], dtype=bool)
    missed = dup & ~either_removed
    kept_pairs = ~either_removed

    def pair_group(x: int, y: int) -> str:
        return str(group_of.get(max(pool[x], pool[y]), ""))

    pgroups = np.array([pair_group(x, y) for x, y in zip(ca, cb, strict=True)], dtype=object)
    rgroups = np.array([str(group_of.get(d, "")) for d, _ in rows], dtype=object)
    groups = []
    for g in sorted(set(rgroups.tolist()) | set(pgroups.tolist())):
        rm, pm = rgroups == g, pgroups == g
        groups.append({
            "group": g,
            "removed": int(rm.sum()), "removed_hist": _hist(j_removed[rm]),
            "false_positive": _rate(int((j_removed[rm] < threshold).sum()), int(rm.sum())),
            "candidate_pairs": int(pm.sum()), "kept_pair_hist": _hist(j_pairs[pm & kept_pairs]),
            "false_negative": _rate(int((missed & pm).sum()), int((dup & pm).sum())),
        })
    clusters: dict[str, list[dict[str, Any]]] = {}
    for (d, det), j in zip(rows, j_removed.tolist(), strict=True):
        clusters.setdefault(det["duplicate_of"], []).append(
            {"doc_id": d, "jaccard": j, "ledger_jaccard": det.get("jaccard"),
             "group": str(group_of.get(d, ""))})
    return {
        "stage": label, "ngram": ngram, "shingle": kind, "threshold": threshold,
        "facet": facet, "bins": BINS.tolist(),
        "removed": {"count": len(rows), "hist": _hist(j_removed),
                    "false_positive": _rate(int((j_removed < threshold).sum()), len(rows))},
        "sample": {"docs": len(pool), "of": int(reached.sum()), "seed": seed,
                   "candidate_pairs": len(ca), "duplicate_pairs": int(dup.sum()),
                   "kept_pair_hist": _hist(j_pairs[kept_pairs]),
                   "false_negative": _rate(int(missed.sum()), int(dup.sum())),
                   "missed": [{"a": pool[x], "b": pool[y], "jaccard": float(j)}
                              for x, y, j in zip(ca[missed], cb[missed], j_pairs[missed],
                                                 strict=True)]},
        "groups": groups,
        "clusters": [{"kept": k, "removed": v} for k, v in sorted(clusters.items())],
    }


def render_audit(res: Mapping[str, Any], console: Any = None) -> None:
    from rich.markup import escape
    from rich.table import Table

    from corpusfilter.console import make_console

    console = console or make_console()

    def rate(r: Mapping[str, Any]) -> str:
        return "–" if r["rate"] is None else \
            f"{r['count']}/{r['of']} = {r['rate']:.1%} [{r['lo']:.1%}, {r['hi']:.1%}]"

    s = res["sample"]
    console.print(f"[bold]dedup audit[/bold] {escape(res['stage'])}: exact Jaccard of word "
                  f"{res['ngram']}-gram shingles, threshold {res['threshold']:g}", highlight=False)
    console.print(f"removed {res['removed']['count']:,} near-duplicates; false positives "
                  f"(below the threshold): {rate(res['removed']['false_positive'])}",
                  highlight=False)
    console.print(f"sample of {s['docs']:,} of {s['of']:,} documents: {s['candidate_pairs']:,} "
                  f"candidate pairs, {s['duplicate_pairs']:,} duplicates; missed (both kept): "
                  f"{rate(s['false_negative'])}", highlight=False)
    table = Table(title=f"by {res['facet']}", title_justify="left")
    for col in ("group", "removed", "false positives (95% CI)", "dup pairs",
                "false negatives (95% CI)"):
        table.add_column(col)
    for g in res["groups"]:
        table.add_row(escape(g["group"]), f"{g['removed']:,}", rate(g["false_positive"]),
                      f"{g['false_negative']['of']:,}", rate(g["false_negative"]))
    console.print(table)


def write_audit_page(res: Mapping[str, Any], path: str | Path) -> Path:
    """A self-contained page: the histograms and every duplicate cluster, searchable by id."""
    from corpusfilter.io.shards import write_text_atomic

    e = html.escape
    bins = res["bins"]
    labels = [f"{bins[k]:.1f}–{bins[k + 1]:.1f}" for k in range(len(bins) - 1)]

    def hist_rows(title: str, counts: list[int]) -> str:
        top = max(counts) or 1
        return (f"<h3>{e(title)}</h3><table class='h'>" + "".join(
            f"<tr><td>{lab}</td><td><div class='bar' style='width:{300 * c / top:.0f}px'></div>"
            f"</td><td>{c}</td></tr>" for lab, c in zip(labels, counts, strict=True))
            + "</table>")

    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>dedup audit "
           f"{e(res['stage'])}</title><style>body{{font:14px system-ui,sans-serif;max-width:"
           f"1000px;margin:auto;padding:1em}}.bar{{background:#b42318;height:12px}}"
           f"td{{padding:2px 8px}}.cl{{border:1px solid #ccc;margin:.4em 0;padding:.4em}}"
           f"</style></head><body><h1>Dedup audit: {e(res['stage'])}</h1>",
           f"<p>Exact Jaccard of {res['shingle']} {res['ngram']}-gram shingles; threshold "
           f"{res['threshold']:g}.</p>",
           hist_rows("Removed near-duplicates vs their kept twin", res["removed"]["hist"]),
           hist_rows("Sampled candidate pairs the stage kept both of",
                     res["sample"]["kept_pair_hist"]),
           "<h2>Duplicate clusters</h2><input id='q' placeholder='search by id' size='40'>"
           "<div id='clusters'>"]
    for c in res["clusters"]:
        members = "".join(f"<li>{e(m['doc_id'])} ({e(m['group'])}): Jaccard "
                          f"{m['jaccard']:.3f}</li>" for m in c["removed"])
        ids = " ".join([c["kept"], *(m["doc_id"] for m in c["removed"])])
        out.append(f"<div class='cl' data-ids='{e(ids)}'>kept <b>{e(c['kept'])}</b>, removed:"
                   f"<ul>{members}</ul></div>")
    out.append("</div><script>document.getElementById('q').addEventListener('input',"
               "function(ev){var q=ev.target.value.trim();document.querySelectorAll('.cl')."
               "forEach(function(d){d.style.display=!q||d.dataset.ids.indexOf(q)>=0?'':"
               "'none'});});document.body.setAttribute('data-clusters',String("
               "document.querySelectorAll('.cl').length));</script></body></html>")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic("".join(out), p)
    return p
