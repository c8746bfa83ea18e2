"""Peak memory of `boilerplate_lines`' plan as the corpus grows: one pass vs hash partitions.

Run: ``.venv/bin/python benchmarks/boilerplate_plan_memory.py [--docs 100000 300000 1000000]``
or, for the tasks of the Ray engine's plan: ``... --tasks [--docs 300000 1000000]``

Synthetic collected records, as the local engine writes them (Parquet, one file per shard of
25,000 documents): 30 lines per document (what a ~2 KB web page has), 90% of them unique to
their document and 10% drawn from 2,000 boilerplate lines shared across documents and sites.
Each size runs `plan_lines` in a fresh process, once with every row at once
(``plan_rows`` = infinity, the plan before issue #22's change) and once with the default
``PLAN_ROWS``; the process's peak RSS (ru_maxrss) is printed with the plan's wall time.

With ``--tasks``: the Ray engine's three task kinds (``dedup/lines.py``: spill one shard,
count one partition, gather one shard's slice) run once each in this process to make their
files, then up to ``--sample`` tasks of each kind (evenly spaced, first and last included) run
again, each alone in a fresh process: its peak RSS while the task ran (Linux's VmHWM, reset
after the imports), and the RSS of the process before the task (the imports, which every
task pays, a Ray worker once), are printed.
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

TASK = r'''
import sys, time
from corpusfilter.dedup import lines

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024

base = status("VmRSS:")
with open("/proc/self/clear_refs", "w") as f:  # Linux: the peak (VmHWM) restarts from here
    f.write("5")
kind, d, n, i = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
t = time.perf_counter()
if kind == "spill":
    lines.spill_shard(sys.argv[5], n, d, i)
elif kind == "count":
    lines.count_partition(d, n, i, {"corpus": 5, "site": 3})
elif kind == "gather":
    lines.gather_shard(d, n, i)
print(status("VmHWM:"), time.perf_counter() - t, base)
'''


def write_records(docs: int, out: Path, shard_docs: int = 25_000, lines: int = 30) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    shared = rng.integers(0, 2**64, 2_000, dtype=np.uint64)
    for s, start in enumerate(range(0, docs, shard_docs)):
        n = min(shard_docs, docs - start)
        doc = np.repeat(rng.integers(0, 2**64, n, dtype=np.uint64), lines)
        line = rng.integers(0, 2**64, n * lines, dtype=np.uint64)
        common = rng.random(n * lines) < 0.1
        line[common] = shared[rng.integers(0, len(shared), common.sum())]
        site = np.repeat(rng.integers(0, 500, n).astype(np.uint64), lines)
        pq.write_table(pa.table({"line": line, "site_line": line ^ (site * np.uint64(0x9E37)),
                                 "has_site": np.ones(len(line), bool), "doc": doc}),
                       out / f"{s:05d}.parquet")


def measure_tasks(docs: int, sample: int) -> None:
    """Peak RSS of the Ray plan's tasks at one corpus size (see the module's docstring)."""
    import pyarrow.parquet as pq

    from corpusfilter.dedup import lines

    with tempfile.TemporaryDirectory() as tmp:
        records = Path(tmp) / "records"
        records.mkdir()
        write_records(docs, records)
        files = sorted(str(p) for p in records.glob("*.parquet"))
        rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        parts = lines.partition_count(rows)
        d = str(Path(tmp))
        for j, f in enumerate(files):
            lines.spill_shard(f, parts, d, j)
        plan_rows = sum(lines.count_partition(d, len(files), i, {"corpus": 5, "site": 3})
                        for i in range(parts))
        slices = [sum(t.num_rows for t in lines.gather_shard(d, parts, j).values())
                  for j in range(len(files))]

        def run(*args: str) -> tuple[float, float, float]:
            out = subprocess.run([sys.executable, "-c", TASK, *args], check=True,
                                 capture_output=True, text=True).stdout.split()
            return float(out[0]), float(out[1]), float(out[2])

        def picks(n: int) -> list[int]:
            return sorted({round(k * (n - 1) / max(1, sample - 1)) for k in range(sample)})

        base = run("none", d, "0", "0")[2]
        print(f"{docs:,} documents, {rows:,} rows, {len(files)} shards, {parts} partitions, "
              f"{plan_rows:,} plan rows by partition and shard (largest shard slice "
              f"{max(slices):,}); a fresh process after the imports: {base:,.0f} MiB")
        print("| task | tasks run / of | peak RSS MiB min / max | seconds max |")
        print("|---|---|---:|---:|")
        for kind, n, arg, count in (("spill", parts, lambda j: [files[j]], len(files)),
                                    ("count", len(files), lambda i: [], parts),
                                    ("gather", parts, lambda j: [], len(files))):
            got = [run(kind, d, str(n), str(k), *arg(k)) for k in picks(count)]
            print(f"| {kind} | {len(got)} / {count} | {min(r for r, _, _ in got):,.0f} / "
                  f"{max(r for r, _, _ in got):,.0f} | {max(s for _, s, _ in got):.1f} |",
                  flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    ap.add_argument("--modes", nargs="+", default=["one pass", "default"],
                    help="plan_rows per run: \"one pass\", \"default\" or a number")
    ap.add_argument("--tasks", action="store_true",
                    help="measure the Ray engine's plan tasks instead")
    ap.add_argument("--sample", type=int, default=5, help="with --tasks: tasks per kind")
    args = ap.parse_args()
    if args.tasks:
        for docs in args.docs:
            measure_tasks(docs, args.sample)
        return
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
