"""Accuracy of the `pii` stage: precision on judged real web pages, recall on labelled
sentences.

1. Precision per entity type on the dev pages (../shared/data/web_docs.parquet): every finding
   of the stage is looked up in benchmarks/pii_dev_labels.csv (offsets and verdicts only, no
   text; judging rules in docs/pii.md, "Judged precision set"). Wilson 95% interval over
   findings and a document-bootstrap interval (findings of one page are not independent).
   Findings without a label are counted as unjudged, never as right.
   The same file holds a seeded sample of what the previous stage (version 1) found and this
   one does not; the judged-true spans of both samples give a recall proxy on real pages.
2. Recall per entity type on ../shared/data/pii_spans.parquet (presidio-research template
   sentences with fake values), plus generated cases the file lacks: IPv4/IPv6 addresses and
   its IBAN sentences with the IBAN lower-cased, grouped in fours, and both.

Run: .venv/bin/python benchmarks/pii_accuracy.py [-v] [--reference]
(-v lists misses and unjudged findings; --reference runs `fast_path: false`.)
"""

from __future__ import annotations

import csv
import ipaddress
import random
import sys
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq

from corpusfilter.filters.pii import DEFAULT_ENTITIES, Pii
from corpusfilter.report.data import wilson

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
LABELS = Path(__file__).with_name("pii_dev_labels.csv")
BOOTSTRAP = 2000


def ip_cases(sentences: list[str], n: int, seed: int = 0) -> list[tuple[str, list[dict]]]:
    rng = random.Random(seed)
    out = []
    for k in range(n):
        if k % 2:
            ip = str(ipaddress.IPv6Address(rng.getrandbits(128)))
        else:
            ip = str(ipaddress.IPv4Address(rng.getrandbits(32)))
        s = rng.choice(sentences)
        cut = rng.choice([m for m in range(len(s) + 1) if m in (0, len(s)) or s[m - 1] == " "])
        text = s[:cut] + ip + " " + s[cut:]
        out.append((text, [{"start": cut, "end": cut + len(ip), "entity_type": "IP_ADDRESS"}]))
    return out


def iban_variants(rows: list[tuple[str, list[dict]]]) -> list[tuple[str, list[dict]]]:
    """Each IBAN sentence with its IBAN lower-cased, grouped in fours, and both."""
    out = []
    for text, spans in rows:
        for s in spans:
            if s["entity_type"] != "IBAN_CODE":
                continue
            iban = text[s["start"]:s["end"]].replace(" ", "")
            grouped = " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))
            for form in (iban.lower(), grouped, grouped.lower()):
                new = text[:s["start"]] + form + text[s["end"]:]
                out.append((new, [{"start": s["start"], "end": s["start"] + len(form),
                                   "entity_type": "IBAN_CODE"}]))
    return out


def interval(lo: float, hi: float) -> str:
    return f"{lo:.2f}–{hi:.2f}"


def recall(stage: Pii, verbose: bool) -> None:
    table = pq.read_table(DATA / "pii_spans.parquet").to_pylist()
    rows = [(r["text"], r["spans"]) for r in table]
    negatives = [t for t, s in rows if not s]
    ip = ip_cases(negatives, 200)
    ibans = iban_variants(rows)
    print(f"## Recall on pii_spans.parquet ({len(rows)} sentences) + {len(ip)} generated IP "
          f"cases + {len(ibans)} IBAN variants (lower-case, grouped, both)\n")
    print("| entity | source | gold | found (overlap) | recall | Wilson 95% | exact |")
    print("|---|---|---:|---:|---:|---|---:|")
    for name, cases in (("pii_spans", rows), ("generated IPs", ip), ("IBAN variants", ibans)):
        found = [stage.analyze(t) for t, _ in cases]
        for et in DEFAULT_ENTITIES:
            gold = hit = exact = 0
            for (text, spans), pred in zip(cases, found, strict=True):
                p = [(f.start, f.end) for f in pred if f.entity_type == et]
                for s in spans:
                    if s["entity_type"] != et:
                        continue
                    gold += 1
                    a, b = s["start"], s["end"]
                    ok = any(c < b and a < d for c, d in p)
                    hit += ok
                    exact += (a, b) in p
                    if verbose and not ok:
                        print("MISSED", et, repr(text[max(0, a - 40):b + 10]))
            if gold:
                lo, hi = wilson(hit, gold)
                print(f"| {et} | {name} | {gold} | {hit} | {hit / gold:.3f} | "
                      f"{interval(lo, hi)} | {exact / gold:.3f} |")
    print()


def precision(stage: Pii, verbose: bool) -> None:
    with LABELS.open() as f:
        rows = list(csv.DictReader(f))
    # A span judged in both samples (found by this stage and in the v1-only sample) counts
    # as this stage's finding; the file sorts the v1-only sample first.
    labels: dict[tuple[str, int, int, str], tuple[int, str]] = {
        (r["doc_id"], int(r["start"]), int(r["end"]), r["entity_type"]):
            (int(r["verdict"]), r["sample"]) for r in rows}
    docs = pq.read_table(DATA / "web_docs.parquet", columns=["id", "text", "source"]).to_pylist()
    per_doc: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    unjudged: dict[str, int] = defaultdict(int)
    by_source: dict[tuple[str, str], list[int]] = defaultdict(list)
    true_spans = [(k, s) for k, (v, s) in labels.items() if v == 1]
    found_true: set[tuple[str, int, int, str]] = set()
    spans_of: dict[str, list[tuple[int, int, str]]] = {}
    for d in docs:
        found = stage.analyze(d["text"])
        spans_of[d["id"]] = [(f.start, f.end, f.entity_type) for f in found]
        for f in found:
            key = (d["id"], f.start, f.end, f.entity_type)
            if key in labels:
                v = labels[key][0]
                per_doc[f.entity_type][d["id"]].append(v)
                by_source[(f.entity_type, d["source"])].append(v)
            else:
                unjudged[f.entity_type] += 1
                if verbose:
                    print("UNJUDGED", f.entity_type, repr(d["text"][max(0, f.start - 40):f.end + 10]))
    for (doc, a, b, et), _ in true_spans:
        if any(c < b and a < e and t == et for c, e, t in spans_of.get(doc, [])):
            found_true.add((doc, a, b, et))
    rng = random.Random(0)
    print(f"## Precision on judged dev pages ({len(docs)} pages of web_docs.parquet; "
          f"labels: {LABELS.name})\n")
    print("| entity | findings | judged right | precision | Wilson 95% | doc-bootstrap 95% "
          "| pages | unjudged |")
    print("|---|---:|---:|---:|---|---|---:|---:|")
    for et in DEFAULT_ENTITIES:
        pages = per_doc.get(et, {})
        verdicts = [v for vs in pages.values() for v in vs]
        n, k = len(verdicts), sum(verdicts)
        if not n:
            print(f"| {et} | 0 | 0 | n/a | | | 0 | {unjudged[et]} |")
            continue
        lo, hi = wilson(k, n)
        groups = list(pages.values())
        boot = []
        for _ in range(BOOTSTRAP):
            pick = [groups[rng.randrange(len(groups))] for _ in groups]
            m = sum(len(g) for g in pick)
            boot.append(sum(sum(g) for g in pick) / m)
        boot.sort()
        b_lo, b_hi = boot[int(0.025 * BOOTSTRAP)], boot[int(0.975 * BOOTSTRAP) - 1]
        print(f"| {et} | {n} | {k} | {k / n:.3f} | {interval(lo, hi)} | "
              f"{interval(b_lo, b_hi)} | {len(pages)} | {unjudged[et]} |")
    print("\nBy source (precision, findings): " + ", ".join(
        f"{et} {src} {sum(v) / len(v):.2f} ({len(v)})"
        for (et, src), v in sorted(by_source.items())))
    print("\n## Recall proxy on real pages: judged-true spans (this stage's findings and a "
          "seeded sample of what stage version 1 found and this one does not) that the "
          "stage's findings overlap\n")
    print("| entity | judged-true spans | found | recall proxy | of which from the v1-only "
          "sample (missed) |")
    print("|---|---:|---:|---:|---:|")
    for et in DEFAULT_ENTITIES:
        spans = [(k, s) for k, s in true_spans if k[3] == et]
        if not spans:
            continue
        got = sum(k in found_true for k, _ in spans)
        v1 = [k for k, s in spans if s == "old_stage_only_sample"]
        print(f"| {et} | {len(spans)} | {got} | {got / len(spans):.3f} | {len(v1)} "
              f"({sum(k not in found_true for k in v1)}) |")
    sample = [r for r in rows if r["sample"] == "old_stage_only_sample"]
    now = sum((r["doc_id"], int(r["start"]), int(r["end"]), r["entity_type"]) in found_true
              for r in sample if r["verdict"] == "1")
    print(f"\nThe v1-only sample: {len(sample)} findings of stage version 1 that this stage "
          f"did not make when judged (150 phone findings drawn with seed 15 from 1,216, and "
          f"all 17 others), {sum(r['verdict'] == '1' for r in sample)} of them judged right, "
          f"{now} of those found now.")


def main() -> None:
    verbose = "-v" in sys.argv
    stage = Pii(fast_path="--reference" not in sys.argv)
    print("configuration: " + ("fast_path: false (reference)" if not stage.fast_path
                               else "default (fast path)") + "\n")
    recall(stage, verbose)
    precision(stage, verbose)


if __name__ == "__main__":
    main()
