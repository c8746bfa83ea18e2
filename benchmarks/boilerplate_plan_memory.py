"""Peak memory of `boilerplate_lines`' plan as the corpus grows: one pass vs hash partitions.

Run: ``.venv/bin/python benchmarks/boilerplate_plan_memory.py [--docs 100000 300000 1000000]``

Synthetic collected records, as the local engine writes them (Parquet, one file per shard of
25,000 documents): 30 lines per document (what a ~2 KB web page has), 90% of them unique to
their document and 10% drawn from 2,000 boilerplate lines shared across documents and sites.
Each size runs `plan_lines` in a fresh process, once with every row at once
(``plan_rows`` = infinity, the plan before issue #22's change) and once with the default
``PLAN_ROWS``; the process's peak RSS (ru_maxrss) is printed with the plan's wall time.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r'''
import resource, sys, time
from pathlib import Path
from corpusfilter.core.stage import Collected
from corpusfilter.dedup.lines import PLAN_ROWS, plan_lines
paths = sorted(str(p) for p in Path(sys.argv[1]).glob("*.parquet"))
rows = {"default": PLAN_ROWS, "one pass": 10**15}.get(sys.argv[2]) or int(sys.argv[2])
t = time.perf_counter()
plan = plan_lines(Collected(paths=paths), {"corpus": 5, "site": 3}, plan_rows=rows)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, time.perf_counter() - t,
      plan["corpus"].num_rows, plan["site"].num_rows)
'''


def write_records(docs: int, out: Path, shard_docs: int = 25_000, lines: int = 30) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    shared = rng.integers(0, 2**63, 2_000, dtype=np.uint64)
    for s, start in enumerate(range(0, docs, shard_docs)):
        n = min(shard_docs, docs - start)
        doc = np.repeat(rng.integers(0, 2**63, n, dtype=np.uint64), lines)
        line = rng.integers(0, 2**63, n * lines, dtype=np.uint64)
        common = rng.random(n * lines) < 0.1
        line[common] = shared[rng.integers(0, len(shared), common.sum())]
        site = np.repeat(rng.integers(0, 500, n).astype(np.uint64), lines)
        pq.write_table(pa.table({"line": line, "site_line": line ^ (site * np.uint64(0x9E37)),
                                 "has_site": np.ones(len(line), bool), "doc": doc}),
                       out / f"{s:05d}.parquet")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    ap.add_argument("--modes", nargs="+", default=["one pass", "default"],
                    help="plan_rows per run: \"one pass\", \"default\" or a number")
    args = ap.parse_args()
    print("| documents | rows | plan | peak RSS MiB | seconds | repeated lines (corpus/site) |")
    print("|---:|---:|---|---:|---:|---|")
    for docs in args.docs:
        with tempfile.TemporaryDirectory() as tmp:
            write_records(docs, Path(tmp))
            for mode in args.modes:
                out = subprocess.run([sys.executable, "-c", CHILD, tmp, mode], check=True,
                                     capture_output=True, text=True).stdout.split()
                rss, secs, corpus, site = float(out[0]), float(out[1]), out[2], out[3]
                print(f"| {docs:,} | {docs * 30:,} | {mode} | {rss:,.0f} | {secs:.1f} | "
                      f"{corpus}/{site} |", flush=True)


if __name__ == "__main__":
    main()
