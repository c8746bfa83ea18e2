"""The driver's memory for one shuffle of M inputs into P partitions: the engine's file
exchange against Ray Data's sort shuffle (which the engine used before, issue #22).

Run: ``.venv/bin/python benchmarks/ray_exchange_scale.py [--shapes 80x40 400x400]
[--rows 1000] [--ray-data-max-blocks 200000]``

Each (shape, method) runs in a fresh subprocess with its own local Ray cluster of 2 CPUs: M
inputs of ``--rows`` rows each (a random int64 key and a payload), shuffled by key into P
partitions, then a last step per partition that returns its row count (what the engine's
plans do, minus the plan). ``file``: `ray_exchange.FileExchange` (source, shuffle, sink:
two shuffle steps, as the plans' records then plan rows); ``ray-data``:
``groupby(_part, num_partitions=P).map_groups`` with the sort shuffle, the engine's former
setting, then the same counting step as a second groupby. The driver's private memory
(RssAnon) is sampled every 0.05 s; growth is its peak during the shuffle minus its value
just before (after a warm-up task;
both modules imported). Shapes with more than ``--ray-data-max-blocks`` blocks
(M × P) are not run with Ray Data (too slow on a small machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
MiB = 1 << 20
PART = "_part"


def private_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    return 0


def generate(batch: pa.Table, rows: int, parts: int) -> pa.Table:
    i = int(batch.column("i")[0].as_py())
    key = np.random.default_rng(i).integers(0, 1 << 62, rows, dtype=np.int64)
    return pa.table({"key": key, "payload": key ^ i, PART: key % parts})


def repartition(t: pa.Table, parts: int) -> pa.Table:
    """Keyed again by the partition itself: the second step's input, one row per row."""
    return t.set_column(t.schema.get_field_index(PART), PART,
                        pa.array(t.column("key").to_numpy() // parts % parts))


def count(t: pa.Table) -> pa.Table:
    return pa.table({"rows": [t.num_rows]})


def one(m: int, p: int, rows: int, method: str) -> dict[str, Any]:
    import ray
    import ray.data  # imported before the baseline, as the engine does at its start

    from corpusfilter.engines.ray_exchange import FileExchange

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR")
    try:
        ray.get(ray.remote(lambda: 0).remote())  # warm-up: a worker, the core worker's state
        before = private_rss()
        peak = [before]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], private_rss())
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.perf_counter()
        items = [{"i": j} for j in range(m)]
        if method == "file":
            with tempfile.TemporaryDirectory(prefix="xscale-") as d:
                ex = FileExchange(ray, d, p)
                data = ex.source(generate, items, rows=rows, parts=p)
                data = ex.shuffle(data, repartition, parts=p)
                total = sum(int(t.column("rows")[0].as_py()) for t in ex.sink(data, count))
                ex.close()
        else:
            ctx = ray.data.DataContext.get_current()
            ctx.enable_progress_bars = False
            ctx.shuffle_strategy = ray.data.context.ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
            ds = ray.data.from_items(items, override_num_blocks=m).map_batches(
                generate, fn_kwargs={"rows": rows, "parts": p}, batch_format="pyarrow",
                batch_size=1)
            ds = ds.groupby(PART, num_partitions=p).map_groups(
                repartition, fn_kwargs={"parts": p}, batch_format="pyarrow").materialize()
            out = ds.groupby(PART, num_partitions=p).map_groups(
                count, batch_format="pyarrow").materialize()
            total = int(out.sum("rows"))
        seconds = time.perf_counter() - t0
        stop.set()
        sampler.join()
        assert total == m * rows, (total, m * rows)
        return {"m": m, "p": p, "method": method, "seconds": round(seconds, 1),
                "before_mib": round(before / MiB, 1),
                "growth_mib": round((peak[0] - before) / MiB, 1)}
    finally:
        ray.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shapes", nargs="+", default=["80x40", "400x400", "1000x2000"])
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--ray-data-max-blocks", type=int, default=200_000)
    ap.add_argument("--one", nargs=2, metavar=("SHAPE", "METHOD"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        m, p = map(int, args.one[0].split("x"))
        print(json.dumps(one(m, p, args.rows, args.one[1])), flush=True)
        return
    print("| M inputs × P partitions | method | seconds | driver RssAnon before, MiB | "
          "growth, MiB |")
    print("|---|---|---:|---:|---:|")
    for shape in args.shapes:
        m, p = map(int, shape.split("x"))
        for method in ("file", "ray-data"):
            if method == "ray-data" and m * p > args.ray_data_max_blocks:
                print(f"| {m:,} × {p:,} | {method} | not run ({m * p:,} blocks) | | |")
                continue
            r = subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--one",
                                shape, method], capture_output=True, text=True)
            lines = [x for x in r.stdout.splitlines() if x.startswith("{")]
            if r.returncode or not lines:
                print(f"| {m:,} × {p:,} | {method} | failed: "
                      f"{(r.stderr.strip().splitlines() or ['?'])[-1][:120]} | | |")
                continue
            res = json.loads(lines[-1])
            print(f"| {m:,} × {p:,} | {method} | {res['seconds']} | {res['before_mib']} | "
                  f"+{res['growth_mib']} |", flush=True)


if __name__ == "__main__":
    main()
