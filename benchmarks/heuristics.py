"""Speed of our heuristic stages against datatrove's filters, one process, one core.

Documents: ~2 KB pieces of real text from ``../shared/data`` — ``web_docs.parquet`` pages cut
at line boundaries (three different cut phases), ``quality_labeled.parquet`` pages, and
``langid.parquet`` sentences of each language joined into ~2 KB documents (so CJK, Thai and
every other script are in the mix). At least 20,000 documents.

For each of GopherQuality, GopherRepetition, C4Quality, FineWebQuality and the four chained
(in that order, each seeing what the previous kept), prints documents per second for
datatrove (benchmark-only dependency) and for our stages, and the ratio. Datatrove is about
two orders of magnitude slower, so by default it runs on a random sample of
``--datatrove-docs`` of the same documents (docs/s is a per-document rate; ``--datatrove-docs
0`` runs it on all). The machine is shared, so both sides are measured ``--rounds`` times,
interleaved, and the best rate of each is kept. Pin one core with ``taskset -c 0`` for a
per-core figure.

    taskset -c 0 .venv/bin/python benchmarks/heuristics.py [--datatrove-docs 500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
TARGET = 2000


def _chunks(text: str, phase: int) -> list[str]:
    """~2 KB pieces of `text`, cut at line ends, the first cut `phase` characters in."""
    out, cur, size = [], [], 0
    budget = phase or TARGET
    for line in text.splitlines(keepends=True):
        cur.append(line)
        size += len(line)
        if size >= budget:
            out.append("".join(cur))
            cur, size, budget = [], 0, TARGET
    if size >= TARGET // 4:
        out.append("".join(cur))
    return out


def build_documents() -> list[str]:
    docs: list[str] = []
    web = pq.read_table(SHARED / "web_docs.parquet", columns=["text"])["text"].to_pylist()
    for phase in (0, 700, 1400):
        for text in web:
            docs += _chunks(text, phase)
    docs += pq.read_table(SHARED / "quality_labeled.parquet", columns=["text"])[
        "text"].to_pylist()
    lid = pq.read_table(SHARED / "langid.parquet", columns=["text", "lang", "kind"])
    by_lang: dict[str, list[str]] = {}
    for text, lang, kind in zip(lid["text"].to_pylist(), lid["lang"].to_pylist(),
                                lid["kind"].to_pylist(), strict=True):
        if kind == "sentence":
            by_lang.setdefault(lang, []).append(text)
    for lang in sorted(by_lang):
        sep = "" if lang in ("zh", "ja", "th") else " "
        docs += _chunks("\n".join(sep.join(by_lang[lang][i:i + 4])
                                  for i in range(0, len(by_lang[lang]), 4)), 0)
    return [d for d in docs if d.strip()]


def rate(n: int, fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t0)


def datatrove_rates(texts: list[str]) -> dict[str, float]:
    from datatrove.data import Document
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    filters = {"gopher_quality": GopherQualityFilter(),
               "gopher_repetition": GopherRepetitionFilter(),
               "c4_quality": C4QualityFilter(),
               "fineweb_quality": FineWebQualityFilter()}
    filters["gopher_quality"].filter(Document(text="warm up the tokenizer", id="0"))
    out = {}
    for name, f in filters.items():
        out[name] = rate(len(texts), lambda f=f: [f.filter(Document(text=t, id=str(i)))
                                                  for i, t in enumerate(texts)])

    def chained() -> None:
        for i, t in enumerate(texts):
            doc = Document(text=t, id=str(i))
            for f in filters.values():
                r = f.filter(doc)
                if not (r if isinstance(r, bool) else r[0]):
                    break

    out["all four chained"] = rate(len(texts), chained)
    return out


def our_rates(texts: list[str], batch_size: int) -> dict[str, float]:
    from corpusfilter import Pipeline

    table = pa.table({"id": [str(i) for i in range(len(texts))], "text": texts})
    names = ["gopher_quality", "gopher_repetition", "c4_quality", "fineweb_quality"]
    Pipeline({"stages": [{"stage": s} for s in names]}).run(table.slice(0, 100))  # warm-up
    out = {}
    for name in names:
        p = Pipeline({"stages": [{"stage": name}]})
        out[name] = rate(len(texts), lambda p=p: p.run(table, batch_size=batch_size))
    chain = Pipeline({"stages": [{"stage": s} for s in names]})
    out["all four chained"] = rate(len(texts), lambda: chain.run(table, batch_size=batch_size))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datatrove-docs", type=int, default=500,
                        help="random sample of documents for datatrove (0: all)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="measure both sides this many times, interleaved; keep the best")
    parser.add_argument("--no-datatrove", action="store_true")
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()
    texts = build_documents()
    mean_chars = sum(map(len, texts)) / len(texts)
    print(f"{len(texts)} documents, mean {mean_chars:.0f} characters")
    sample = texts
    if args.datatrove_docs and args.datatrove_docs < len(texts):
        sample = random.Random(0).sample(texts, args.datatrove_docs)
    if not args.no_datatrove:
        print(f"datatrove on {len(sample)} of them; {args.rounds} interleaved rounds",
              flush=True)
    ours: dict[str, float] = {}
    theirs: dict[str, float] = {}
    for _ in range(max(args.rounds, 1)):
        for name, value in our_rates(texts, args.batch_size).items():
            ours[name] = max(ours.get(name, 0.0), value)
        if not args.no_datatrove:
            for name, value in datatrove_rates(sample).items():
                theirs[name] = max(theirs.get(name, 0.0), value)
    print(f"\n{'stage':22s} {'datatrove docs/s':>17s} {'ours docs/s':>12s} {'ratio':>8s}")
    for name, ours_rate in ours.items():
        dt = theirs.get(name)
        dt_s = f"{dt:17.0f}" if dt else f"{'-':>17s}"
        ratio_s = f"{ours_rate / dt:7.1f}x" if dt else f"{'-':>8s}"
        print(f"{name:22s} {dt_s} {ours_rate:12.0f} {ratio_s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
