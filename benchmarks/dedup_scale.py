"""Per-document cost of a dedup-only run, from 200k to 2M short documents (issue #22).

Run: ``.venv/bin/python benchmarks/dedup_scale.py [--sizes 200000 2000000] [--workers 1]``

Short documents (~640 characters) are three random real lines (>= 60 characters) of
``../shared/data/web_docs.parquet`` (37k lines, so two documents rarely share more than one),
with 5% exact copies (case changed) and 5% near copies (one word added), in shards of 100k. The pipeline is ``exact_dedup`` then
``minhash_dedup`` (defaults) on the local engine. For each size it prints CPU seconds (this
process and its children), CPU microseconds per document, the ratio to the smallest size,
and how many plan indexes (``IdIndex``) were built: with apply in O(batch) the per-document
cost stays flat (the issue's bar: the largest size within 1.2× of the smallest).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SHARD_DOCS = 100_000
PIPELINE = {"max_removal_rate": 1.0,
            "stages": [{"stage": "exact_dedup"}, {"stage": "minhash_dedup"}]}


def lines() -> list[str]:
    t = pq.read_table(DATA / "web_docs.parquet", columns=["text"])
    out = [ln.strip() for doc in t["text"].to_pylist() for ln in doc.split("\n")]
    return [ln for ln in out if len(ln) >= 60]


def write_corpus(n: int, d: Path) -> None:
    """`n` short documents in shards of SHARD_DOCS rows (5% exact, 5% near copies)."""
    src = lines()
    rng = np.random.default_rng(0)
    d.mkdir(parents=True)
    for start in range(0, n, SHARD_DOCS):
        m = min(SHARD_DOCS, n - start)
        idx = np.arange(start, start + m)
        pick = rng.integers(0, len(src), size=(m, 3))
        text = [f"{src[a]} {src[b]} {src[c]}" for a, b, c in pick]
        kind = rng.random(m)
        for j in np.flatnonzero(kind < 0.10):
            base = text[(j - 1) % m]
            text[j] = base.upper() if kind[j] < 0.05 else base.replace(" ", " x ", 1)
        ids = pc.binary_join_element_wise("d", pa.array(idx.astype(str)), "")
        pq.write_table(pa.table({"id": ids, "text": text}),
                       d / f"part-{start // SHARD_DOCS:04d}.parquet")


def cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[200_000, 2_000_000])
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from corpusfilter.dedup.lookup import IdIndex
    from corpusfilter.engines.local import LocalEngine

    tmp = Path(tempfile.mkdtemp(prefix="cf-dedup-scale-"))
    base = None
    print(f"dedup-only run (exact_dedup, minhash_dedup), local engine, workers={args.workers}")
    print(f"{'docs':>10} {'removed':>9} {'CPU s':>8} {'µs/doc':>8} {'× smallest':>10} "
          f"{'wall s':>7} {'indexes':>7}")
    try:
        for n in args.sizes:
            inp, out = tmp / f"in-{n}", tmp / f"out-{n}"
            write_corpus(n, inp)
            builds, c0, w0 = IdIndex.builds, cpu(), time.perf_counter()
            stats = LocalEngine(PIPELINE, workers=args.workers, progress=False).run(
                sorted(inp.glob("*.parquet")), out)
            c, w = cpu() - c0, time.perf_counter() - w0
            per = c / n * 1e6
            base = base or per
            removed = n - stats["output"]["docs"]
            indexes = IdIndex.builds - builds if args.workers == 1 else "n/a"
            print(f"{n:>10,} {removed:>9,} {c:>8.1f} {per:>8.1f} {per / base:>10.2f} "
                  f"{w:>7.1f} {indexes:>7}", flush=True)
            shutil.rmtree(inp)
            shutil.rmtree(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
