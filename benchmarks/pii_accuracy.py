"""Accuracy of the `pii` stage per entity type (span level, exact and overlap match).

Data: ../shared/data/pii_spans.parquet (presidio-research templates with fake values) for
the types it labels, plus generated IPv4/IPv6 addresses placed into its negative sentences
(IP_ADDRESS is absent from that file).
Run: .venv/bin/python benchmarks/pii_accuracy.py [-v] [--strict]
(-v lists every miss and extra; --strict uses only Presidio's recognizers.)
"""

from __future__ import annotations

import ipaddress
import random
import sys
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from corpusfilter.filters.pii_engine import DEFAULT_ENTITIES, PiiEngine

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TYPES = DEFAULT_ENTITIES


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


def main() -> None:
    table = pq.read_table(DATA / "pii_spans.parquet").to_pylist()
    rows = [(r["text"], r["spans"]) for r in table]
    negatives = [t for t, s in rows if not s]
    rows += ip_cases(negatives or [t for t, _ in rows], 200)
    strict = "--strict" in sys.argv
    engine = PiiEngine(TYPES, extended=not strict)
    texts = [t for t, _ in rows]
    found = engine.analyze_batch(pa.array(texts, pa.string()), texts)
    stats: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (_text, gold), pred in zip(rows, found, strict=True):
        for et in TYPES:
            g = [(s["start"], s["end"]) for s in gold if s["entity_type"] == et]
            p = [(f.start, f.end) for f in pred if f.entity_type == et]
            st = stats[et]
            st["gold"] += len(g)
            st["pred"] += len(p)
            st["tp_exact"] += len(set(g) & set(p))
            st["recall_overlap"] += sum(any(a < d and c < b for c, d in p) for a, b in g)
            st["prec_overlap"] += sum(any(a < d and c < b for c, d in g) for a, b in p)
    print(f"{len(rows)} texts ({len(table)} from pii_spans.parquet + {len(rows) - len(table)} "
          "generated IP cases); "
          + ("Presidio's recognizers only (--strict)" if strict else "default settings") + "\n")
    print("| entity | gold | found | precision (exact) | recall (exact) "
          "| precision (overlap) | recall (overlap) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for et in TYPES:
        st = stats[et]

        def r(a: int, b: int) -> str:
            return f"{a / b:.3f}" if b else "n/a"

        print(f"| {et} | {st['gold']} | {st['pred']} | {r(st['tp_exact'], st['pred'])} | "
              f"{r(st['tp_exact'], st['gold'])} | {r(st['prec_overlap'], st['pred'])} | "
              f"{r(st['recall_overlap'], st['gold'])} |")
    if "-v" in sys.argv:
        for (text, gold), pred in zip(rows, found, strict=True):
            g = {(s["start"], s["end"], s["entity_type"]) for s in gold
                 if s["entity_type"] in TYPES}
            p = {(f.start, f.end, f.entity_type) for f in pred}
            for a, b, et in sorted(g - p):
                print("MISSED", et, repr(text[max(0, a - 30):b + 10]), repr(text[a:b]))
            for a, b, et in sorted(p - g):
                print("EXTRA", et, repr(text[max(0, a - 30):b + 10]), repr(text[a:b]))


if __name__ == "__main__":
    main()
