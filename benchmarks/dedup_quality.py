"""Near-duplicate detection quality of `minhash_dedup`: precision, recall and F1 against ground
truth, for the default settings and two alternatives, plus the S-curve plot of docs/dedup.md.

    .venv/bin/python benchmarks/dedup_quality.py [--plot docs/img/dedup_s_curve.png]

Benchmark (built from real text in ../shared/data/web_docs.parquet):

* every document of web_docs.parquet (1,425 real pages, including the 412 naturally occurring
  near-duplicate pairs of web_docs_neardup_pairs.parquet, Jaccard 0.5–0.98);
* plus one edited copy of each of the first 540 documents with >= 150 words that are in no
  natural pair, the edit cycling through 18 documented variants: word substitutions (1, 3, 5,
  10, 20% of words replaced by words of other documents), insertions (2, 5, 15%), deletions
  (2, 5, 15%), boilerplate appended (words of another page equal to 10, 30, 100% of the
  length), truncation (keep 90, 70, 40%), paragraph (line) reorder.

Ground truth: two documents are duplicates when their exact Jaccard similarity is >= 0.75 (the
stage's default threshold), computed as for web_docs_neardup_pairs.parquet: text lower-cased,
tokens = Python re `\\w+` matches, shingles = sets of 5 consecutive tokens. Evaluation is over
pairs: a pair is predicted duplicate when both documents end up in one cluster (a removed
document and the document it is a duplicate of, or two removed documents of one cluster).
Every predicted pair, every (original, copy) pair and every natural pair is checked exactly;
unrelated web pages are assumed to have Jaccard < 0.75 (the natural pair list is exhaustive
at >= 0.5).
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections import defaultdict
from itertools import combinations, pairwise
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
TRUTH = 0.75
GREY = (0.6, 0.85)  # pairs with exact Jaccard here are scored only in the "all pairs" column
WORD = re.compile(r"\w+")

VARIANTS = ([("substitute", p) for p in (0.01, 0.03, 0.05, 0.10, 0.20)]
            + [("insert", p) for p in (0.02, 0.05, 0.15)]
            + [("delete", p) for p in (0.02, 0.05, 0.15)]
            + [("boilerplate", p) for p in (0.1, 0.3, 1.0)]
            + [("truncate", p) for p in (0.9, 0.7, 0.4)]
            + [("reorder", 1.0)])

CONFIGS = {
    "default (112 perm, 14×8, exact verification at 0.75)": {},
    "verify: estimate (MinHash estimate at 0.75)": {"verify": "estimate"},
    "no verification (FineWeb/datatrove)": {"verify": False},
    "verify: estimate at 0.8": {"verify": "estimate", "threshold": 0.8},
    "128 perm, bands×rows from threshold 0.75, exact": {"num_perm": 128, "bands": None,
                                                        "rows": None, "threshold": 0.75},
    "looser bands 20×5 (112 perm), exact": {"bands": 20, "rows": 5},
    "looser bands 20×5 (112 perm), estimate": {"bands": 20, "rows": 5, "verify": "estimate"},
}


def shingles(text: str) -> frozenset[str]:
    toks = WORD.findall(text.lower())
    return frozenset(" ".join(toks[i:i + 5]) for i in range(max(1, len(toks) - 4)))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def edit(text: str, kind: str, level: float, rng: random.Random, vocab: list[str],
         other: str) -> str:
    words = text.split()
    n = len(words)
    if kind == "substitute":
        for i in rng.sample(range(n), int(n * level)):
            words[i] = rng.choice(vocab)
    elif kind == "insert":
        for _ in range(int(n * level)):
            words.insert(rng.randrange(len(words) + 1), rng.choice(vocab))
    elif kind == "delete":
        drop = set(rng.sample(range(n), int(n * level)))
        words = [w for i, w in enumerate(words) if i not in drop]
    elif kind == "boilerplate":
        words = words + other.split()[: int(n * level)]
    elif kind == "truncate":
        words = words[: int(n * level)]
    elif kind == "reorder":
        lines = text.split("\n")
        rng.shuffle(lines)
        return "\n".join(lines)
    return " ".join(words)


def build() -> tuple[pa.Table, dict[tuple[str, str], str], set[tuple[str, str]]]:
    web = pq.read_table(DATA / "web_docs.parquet", columns=["id", "text"]).to_pylist()
    natural = pq.read_table(DATA / "web_docs_neardup_pairs.parquet").to_pylist()
    in_pairs = {p[k] for p in natural for k in ("id_a", "id_b")}
    rng = random.Random(0)
    vocab = [w for r in web[::7] for w in r["text"].split()[:200]]
    bases = [r for r in web if r["id"] not in in_pairs and len(r["text"].split()) >= 150][:540]
    rows = list(web)
    variant_of: dict[tuple[str, str], str] = {}
    check: set[tuple[str, str]] = {(p["id_a"], p["id_b"]) for p in natural}
    for k, r in enumerate(bases):
        kind, level = VARIANTS[k % len(VARIANTS)]
        other = bases[(k + 7) % len(bases)]
        cid = f"copy-{k:04d}"
        rows.append({"id": cid, "text": edit(r["text"], kind, level, rng, vocab,
                                             other["text"])})
        variant_of[(r["id"], cid)] = f"{kind} {level:g}"
        check.add((other["id"], cid))
    return pa.Table.from_pylist(rows), variant_of, check


def clusters(table: pa.Table, params: dict) -> list[list[str]]:
    from corpusfilter.core.pipeline import Pipeline

    res = Pipeline({"stages": [{"stage": "minhash_dedup", **params}]}).run(table,
                                                                            batch_size=500)
    groups: dict[str, list[str]] = defaultdict(list)
    for row in res.ledger.to_pylist():
        groups[json.loads(row["detail"])["duplicate_of"]].append(row["doc_id"])
    return [[head, *members] for head, members in groups.items()]


def stage_shingles(table: pa.Table) -> dict[str, frozenset[str]]:
    """Second ground truth: the stage's own documented shingles (digits folded, scripts
    without spaces one word per character), from its per-shingle Python reference path."""
    from corpusfilter.dedup.shingles import shingle_strings

    out: dict[str, frozenset[str]] = {}
    ids = table["id"].to_pylist()
    text = table["text"].combine_chunks()
    for s in range(0, len(ids), 500):
        for i, sh in zip(ids[s:s + 500], shingle_strings(text.slice(s, 500), 5), strict=True):
            out[i] = frozenset(sh)
    return out


def evaluate(table: pa.Table, params: dict, check: set[tuple[str, str]],
             sh: dict[str, frozenset[str]], jcache: dict[tuple[str, str], float],
             sh2: dict[str, frozenset[str]], jcache2: dict[tuple[str, str], float],
             ) -> tuple[dict[str, float], set[tuple[str, str]]]:
    def j(a: str, b: str, sh: dict = sh, jcache: dict = jcache) -> float:
        key = (a, b) if a < b else (b, a)
        if key not in jcache:
            jcache[key] = jaccard(sh[a], sh[b])
        return jcache[key]

    def j2(a: str, b: str) -> float:
        return j(a, b, sh2, jcache2)

    predicted = {tuple(sorted(p)) for c in clusters(table, params) for p in combinations(c, 2)}
    truth = {tuple(sorted(p)) for p in check | predicted if j(*p) >= TRUTH}
    # pairs to check under the stage's shingles: also the natural pairs' near misses
    truth2 = {tuple(sorted(p)) for p in check | predicted if j2(*p) >= TRUTH}
    out = {"pairs": len(truth), "predicted": len(predicted), "pairs2": len(truth2)}
    grey = {p for p in check | predicted if GREY[0] <= j(*p) < GREY[1]}
    for tag, pred, true in (("", predicted, truth), ("clear_", predicted - grey, truth - grey),
                            ("stage_", predicted, truth2)):
        tp = len(pred & true)
        prec = tp / len(pred) if pred else 1.0
        rec = tp / len(true) if true else 1.0
        out[tag + "precision"], out[tag + "recall"] = prec, rec
        out[tag + "f1"] = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return out, predicted


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--plot", type=Path, help="write the S-curve PNG here (needs matplotlib)")
    args = ap.parse_args()
    table, variant_of, check = build()
    check |= set(variant_of)
    sh = {i: shingles(t) for i, t in zip(table["id"].to_pylist(), table["text"].to_pylist(),
                                         strict=True)}
    jcache: dict[tuple[str, str], float] = {}
    sh2 = stage_shingles(table)
    jcache2: dict[tuple[str, str], float] = {}
    js = {p: jaccard(sh[p[0]], sh[p[1]]) for p in variant_of}
    print(f"# dedup quality: {table.num_rows} documents, {len(variant_of)} edited copies, "
          f"ground truth: exact word-5-gram Jaccard >= {TRUTH}\n")
    print("Edited copies by variant (exact Jaccard with the original):\n")
    print("| variant | copies | Jaccard min | median | max |")
    print("|---|---:|---:|---:|---:|")
    by_variant: dict[str, list[float]] = defaultdict(list)
    for p, v in variant_of.items():
        by_variant[v].append(js[p])
    for v, vals in by_variant.items():
        print(f"| {v} | {len(vals)} | {min(vals):.2f} | {np.median(vals):.2f} | "
              f"{max(vals):.2f} |")
    print(f"\nAll pairs: truth = exact Jaccard >= {TRUTH} of the `\\w+` 5-gram sets. Clear "
          f"pairs: pairs with that Jaccard in [{GREY[0]}, {GREY[1]}) (the S-curve's "
          f"transition zone) left out. Stage shingles: truth = exact Jaccard >= {TRUTH} of "
          f"the stage's own documented shingles (shingle_strings: digits folded, Chinese/"
          f"Japanese one word per character), which is what exact verification measures.\n")
    print("| configuration | true pairs | predicted pairs | precision | recall | F1 | "
          "clear: precision | recall | F1 | stage shingles: true pairs | precision | "
          "recall | F1 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    predicted_by: dict[str, set[tuple[str, str]]] = {}
    for name, params in CONFIGS.items():
        m, predicted = evaluate(table, params, check, sh, jcache, sh2, jcache2)
        predicted_by[name] = predicted
        print(f"| {name} | {m['pairs']} | {m['predicted']} | {m['precision']:.3f} | "
              f"{m['recall']:.3f} | {m['f1']:.3f} | {m['clear_precision']:.3f} | "
              f"{m['clear_recall']:.3f} | {m['clear_f1']:.3f} | {m['pairs2']} | "
              f"{m['stage_precision']:.3f} | {m['stage_recall']:.3f} | "
              f"{m['stage_f1']:.3f} |")
    # Empirical catch rate by Jaccard bin (edited copies + natural pairs), default settings.
    natural = pq.read_table(DATA / "web_docs_neardup_pairs.parquet").to_pylist()
    pairs = {**{tuple(sorted(p)): js[p] for p in variant_of},
             **{tuple(sorted((p["id_a"], p["id_b"]))): jaccard(sh[p["id_a"]], sh[p["id_b"]])
                for p in natural}}
    bins = np.array([0.0, 0.3, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0001])
    default = predicted_by[next(iter(CONFIGS))]
    print("\nDefault settings, share of pairs caught by exact Jaccard bin:\n")
    print("| Jaccard | pairs | caught |")
    print("|---|---:|---:|")
    centers, rates = [], []
    for lo, hi in pairwise(bins):
        sel = [p for p, v in pairs.items() if lo <= v < hi]
        if not sel:
            continue
        caught = sum(p in default for p in sel) / len(sel)
        print(f"| {lo:.2f}–{min(hi, 1):.2f} | {len(sel)} | {caught:.2f} |")
        centers.append(float(np.mean([pairs[p] for p in sel])))
        rates.append(caught)
    if args.plot:
        plot(args.plot, centers, rates)


def plot(path: Path, centers: list[float], rates: list[float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from corpusfilter.dedup.lsh import candidate_probability, optimal_params

    s = np.linspace(0, 1, 501)
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    b, r = optimal_params(0.75, 128)
    for (bb, rr), style, label in (((14, 8), "-", "default: 14 bands × 8 rows (112 perm)"),
                                   ((b, r), "--", f"{b} × {r} (128 perm, threshold 0.75)"),
                                   ((20, 5), ":", "20 × 5 (looser)")):
        ax.plot(s, candidate_probability(s, bb, rr), style, label=label)
    ax.scatter(centers, rates, color="black", zorder=3, s=18,
               label="measured: default, with verification")
    ax.axvline(0.75, color="grey", lw=0.8)
    ax.set_xlabel("true Jaccard similarity (word 5-grams)")
    ax.set_ylabel("probability of being caught")
    ax.set_title("MinHash LSH: probability two documents become candidates")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
