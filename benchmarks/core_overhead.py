"""Overhead of the pipeline machinery itself (validation, ledger rows, counters per facet),
measured with the cheapest stage (`doc_length`) against calling its `score`/`decide` directly
on the same batches in the same run.

    .venv/bin/python benchmarks/core_overhead.py [--docs 50000] [--batch-size 1000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from corpusfilter import Pipeline
from corpusfilter.core.docs import Docs
from corpusfilter.filters.length import DocLength

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT.parent / "shared" / "data" / "web_docs.parquet"
SAMPLE = ROOT / "src" / "corpusfilter" / "resources" / "sample" / "web_sample.parquet"


def corpus(n: int) -> pa.Table:
    src = pq.read_table(WEB if WEB.exists() else SAMPLE, columns=["id", "text", "source", "lang"])
    reps = -(-n // src.num_rows)
    t = pa.concat_tables([src] * reps).slice(0, n)
    ids = pa.array([f"d{i:08d}" for i in range(t.num_rows)])
    return t.set_column(0, "id", ids)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=50_000)
    ap.add_argument("--batch-size", type=int, default=1000)
    args = ap.parse_args()
    t = corpus(args.docs)
    stage = DocLength(min_chars=500, max_chars=20_000)
    batches = t.to_batches(max_chunksize=args.batch_size)

    t0 = time.perf_counter()
    for b in batches:
        d = Docs(b)
        stage.decide(d, stage.score(d))
    direct = time.perf_counter() - t0

    p = Pipeline([stage], max_removal_rate=None)
    t0 = time.perf_counter()
    res = p.run(t, batch_size=args.batch_size)
    full = time.perf_counter() - t0
    n = t.num_rows
    print(f"{n:,} documents, batch size {args.batch_size}, {res.ledger.num_rows:,} ledger rows")
    print(f"stage alone:        {n / direct:12,.0f} docs/s")
    print(f"through Pipeline:   {n / full:12,.0f} docs/s  (validation, ledger, counters by "
          f"source and lang)")
    print(f"machinery per doc:  {(full - direct) / n * 1e6:8.2f} µs")


if __name__ == "__main__":
    main()
