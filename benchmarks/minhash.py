"""Speed of `minhash_dedup`: signatures vs datasketch and rensa, end-to-end vs datatrove, and
end-to-end wall time / peak memory / index bytes per document at scale.

    .venv/bin/python benchmarks/minhash.py [--sig-docs 3000] [--docs 100000] [--skip-datatrove]

Documents are ~2 KB chunks of the real web pages in ../shared/data/web_docs.parquet (two
half-chunks joined, 10% of words substituted, so they are distinct); 10% of them get an
edited copy (2% of words substituted) so the dedup has real work. Every system gets the same
documents as Python strings; shingling is included in every timing. Peers (datasketch,
rensa, datatrove) are benchmark-only dependencies. Timings on a shared machine are noisy:
compare the ratios, which are measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
NUM_PERM = 128
NGRAM = 5
WORD = re.compile(r"\w+")


def make_docs(n: int, seed: int = 0, dup_rate: float = 0.1) -> tuple[list[str], list[str]]:
    """n documents (ids d0000001...), the last `dup_rate` share edited copies of earlier ones."""
    texts = pq.read_table(DATA / "web_docs.parquet", columns=["text"])["text"].to_pylist()
    words = [w for t in texts for w in t.split()]
    chunk = 175  # half of a ~2 KB document
    halves = [words[i:i + chunk] for i in range(0, len(words) - chunk, chunk)]
    vocab = words[:: max(1, len(words) // 50000)]
    rng = np.random.default_rng(seed)
    n_orig = n - int(n * dup_rate)
    out: list[str] = []
    for _ in range(n_orig):
        a, b = rng.integers(len(halves), size=2)
        doc = halves[a] + halves[b]
        for i in rng.choice(len(doc), size=len(doc) // 10, replace=False):
            doc[i] = vocab[rng.integers(len(vocab))]
        out.append(" ".join(doc))
    for _ in range(n - n_orig):
        doc = out[rng.integers(n_orig)].split()
        for i in rng.choice(len(doc), size=len(doc) // 50, replace=False):
            doc[i] = vocab[rng.integers(len(vocab))]
        out.append(" ".join(doc))
    order = rng.permutation(n)
    return [out[i] for i in order], [f"d{i:07d}" for i in range(n)]


def py_shingles(text: str) -> list[str]:
    toks = WORD.findall(text.lower())
    return [" ".join(toks[i:i + NGRAM]) for i in range(max(1, len(toks) - NGRAM + 1))]


def rate(fn, texts: list[str], rounds: int = 3) -> float:
    """docs/s of `fn` over `texts`: the best of `rounds` runs in CPU time of this process (the
    machine is shared; every system gets the same treatment, a warm first call included)."""
    best = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        fn(texts)
        best = min(best, time.process_time() - t0)
    return len(texts) / best


def ours(texts: list[str], hash: str = "xxh64") -> None:
    from corpusfilter.dedup.minhash import MinHasher

    h = MinHasher(num_perm=NUM_PERM, bands=16, rows=8, hash=hash)
    for i in range(0, len(texts), 1000):
        h.signatures(pa.array(texts[i:i + 1000], pa.string()))


def datasketch_per_shingle(texts: list[str]) -> None:
    from datasketch import MinHash

    for t in texts:
        m = MinHash(num_perm=NUM_PERM)
        for s in py_shingles(t):
            m.update(s.encode("utf-8"))


def datasketch_bulk(texts: list[str]) -> None:
    from datasketch import MinHash

    MinHash.bulk(([s.encode("utf-8") for s in py_shingles(t)] for t in texts),
                 num_perm=NUM_PERM)


def rensa_rminhash(texts: list[str]) -> None:
    from rensa import RMinHash

    for t in texts:
        m = RMinHash(num_perm=NUM_PERM, seed=1)
        m.update(py_shingles(t))
        m.digest()


def signature_benchmark(n: int) -> None:
    texts, _ = make_docs(n, seed=1)
    kb = sum(len(t) for t in texts) / len(texts) / 1000
    print(f"\n## Signatures: {n} documents of {kb:.1f} KB, {NUM_PERM} permutations, word "
          f"{NGRAM}-grams, Python strings in (shingling included); best of 3 runs each, CPU "
          f"time\n")
    small = texts[: max(200, n // 10)]
    rows = [("datasketch MinHash.update per shingle", rate(datasketch_per_shingle, small))]
    rows.append(("datasketch MinHash.bulk", rate(datasketch_bulk, texts[: n // 2])))
    try:
        rows.append(("rensa RMinHash", rate(rensa_rminhash, texts)))
    except ImportError:
        print("(rensa not installed: pip install rensa)")
    rows.append(("corpusfilter, hash=sha1 (datasketch-identical)",
                 rate(lambda t: ours(t, "sha1"), texts)))
    rows.append(("corpusfilter, hash=xxh64 (default)", rate(ours, texts)))
    base = rows[0][1]
    rensa = dict(rows).get("rensa RMinHash")
    print(f"| {'system':48} | docs/s | × datasketch per-shingle | × rensa |")
    print(f"|{'-' * 50}|-------:|------:|------:|")
    for name, r in rows:
        vs_rensa = f"{r / rensa:.2f}" if rensa else "-"
        print(f"| {name:48} | {r:7,.0f} | {r / base:6.1f} | {vs_rensa} |")


def datatrove_dedup(texts: list[str], ids: list[str], work: Path) -> tuple[float, int]:
    import xxhash
    from datatrove.data import Document
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.utils.hashes import xxhash as dt_xxhash

    # datatrove 0.10 passes str to xxhash, which recent xxhash releases refuse: encode first
    # (what older xxhash did internally), so datatrove runs its default FineWeb configuration.
    dt_xxhash.xxhash64 = lambda data: xxhash.xxh64_intdigest(  # type: ignore[assignment]
        data.encode("utf-8") if isinstance(data, str) else data)
    cfg = MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8)
    docs = [Document(text=t, id=i) for t, i in zip(texts, ids, strict=True)]
    kept: list[int] = []

    def count(data, rank: int = 0, world_size: int = 1):
        for d in data:
            kept.append(1)
            yield d

    t0 = time.perf_counter()
    stages = [
        [docs, MinhashDedupSignature(output_folder=str(work / "sigs"), config=cfg)],
        [MinhashDedupBuckets(input_folder=str(work / "sigs"), output_folder=str(work / "bk"),
                             config=cfg)],
        [MinhashDedupCluster(input_folder=str(work / "bk"), output_folder=str(work / "rm"),
                             config=cfg)],
        [docs, MinhashDedupFilter(input_folder=str(work / "rm")), count],
    ]
    for i, pipe in enumerate(stages):
        tasks = cfg.num_buckets if i == 1 else 1
        LocalPipelineExecutor(pipeline=pipe, tasks=tasks, workers=1,
                              logging_dir=str(work / f"logs{i}")).run()
    return time.perf_counter() - t0, len(kept)


def ours_dedup(texts: list[str], ids: list[str]) -> tuple[float, int]:
    from corpusfilter.core.pipeline import Pipeline
    from corpusfilter.dedup.minhash import MinHashDedup

    table = pa.table({"id": ids, "text": texts})
    t0 = time.perf_counter()
    res = Pipeline([MinHashDedup()]).run(table, batch_size=1000)
    return time.perf_counter() - t0, res.kept.num_rows


def end_to_end_vs_datatrove(n: int) -> None:
    texts, ids = make_docs(n, seed=2)
    print(f"\n## End-to-end dedup vs datatrove: {n} documents, 14 bands × 8 rows, 5-grams\n")
    t_ours, k_ours = ours_dedup(texts, ids)
    with tempfile.TemporaryDirectory() as d:
        try:
            t_dt, k_dt = datatrove_dedup(texts, ids, Path(d))
        except ImportError:
            print("(datatrove not installed: pip install datatrove)")
            t_dt, k_dt = float("nan"), 0
    print("| system | seconds | docs/s | kept | × datatrove |")
    print("|---|---:|---:|---:|---:|")
    print(f"| datatrove 4-stage MinHash (1 worker) | {t_dt:.1f} | {n / t_dt:,.0f} | {k_dt} | 1.0 |")
    print(f"| corpusfilter minhash_dedup (in-script) | {t_ours:.1f} | {n / t_ours:,.0f} | "
          f"{k_ours} | {t_dt / t_ours:.1f} |")


PLAN_SCRIPT = """
import glob, resource, sys, time, tracemalloc
import numpy, pyarrow as pa, scipy.sparse.csgraph
from corpusfilter.core.stage import Collected
from corpusfilter.dedup.minhash import MinHashDedup
paths = sorted(glob.glob(sys.argv[1] + "/*.parquet"))
pool = pa.default_memory_pool()
stage = MinHashDedup(verify=sys.argv[2])
stage.plan(Collected(paths=paths[:1]))  # warm-up: lazy imports are not the index
tracemalloc.start()
t0 = time.perf_counter()
plan = stage.plan(Collected(paths=paths))
dt = time.perf_counter() - t0
numpy_peak = tracemalloc.get_traced_memory()[1]
print(dt, numpy_peak, pool.max_memory(), plan.removed.num_rows,
      getattr(stage, "pairs_checked", 0), getattr(stage, "verify_passes", 0))
"""


def tree_rss(pid: int) -> list[int]:
    """Resident memory (KB) of a process and all its descendants (Linux /proc)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            out.append(int(status.split("VmRSS:")[1].split()[0]) if "VmRSS:" in status else 0)
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return out


def at_scale(n: int, workers: int) -> None:
    from corpusfilter.core.docs import Docs
    from corpusfilter.dedup.minhash import MinHashDedup

    print(f"\n## End-to-end at scale: {n:,} documents\n")
    texts, ids = make_docs(n, seed=3)
    work = Path(tempfile.mkdtemp(prefix="cf_minhash_"))
    try:
        shard_dir = work / "in"
        shard_dir.mkdir()
        per = 10_000
        for s in range(0, n, per):
            pq.write_table(pa.table({"id": ids[s:s + per], "text": texts[s:s + per]}),
                           shard_dir / f"part-{s // per:04d}.parquet")
        gb = sum(len(t) for t in texts) / 1e9
        del texts
        recipe = work / "p.yaml"
        recipe.write_text("stages:\n  - stage: minhash_dedup\n")
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "corpusfilter.cli", "run", str(recipe), str(shard_dir),
             "-o", str(work / "out"), "--workers", str(workers), "--no-progress", "-q"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        peak_total = peak_one = 0
        while proc.poll() is None:  # sample the RSS of the run's process tree
            rss = tree_rss(proc.pid)
            peak_total, peak_one = max(peak_total, sum(rss)), max([peak_one, *rss])
            time.sleep(0.1)
        wall = time.perf_counter() - t0
        if proc.returncode:
            print(proc.stderr.read() if proc.stderr else "")
            return
        peak = peak_one / 1024
        kept = sum(pq.read_metadata(p).num_rows for p in (work / "out" / "data").glob("*.parquet"))
        print(f"CLI local engine, {workers} workers: {wall:.1f} s wall ({n / wall:,.0f} docs/s) "
              f"for {gb:.2f} GB of text; {n - kept:,} removed; peak RSS (sampled every "
              f"0.1 s) of the largest process {peak:,.0f} MB, of all processes together "
              f"{peak_total / 1024:,.0f} MB")
        # Index memory of the plan phase alone, from signatures collected to disk.
        coll = work / "collected"
        coll.mkdir()
        stage = MinHashDedup()
        for p in sorted(shard_dir.glob("*.parquet")):
            t = pq.read_table(p)
            for i, b in enumerate(t.to_batches(max_chunksize=5000)):
                pq.write_table(stage.collect(Docs(b)), coll / f"{p.stem}-{i}.parquet")
        disk = sum(p.stat().st_size for p in coll.glob("*.parquet"))
        # the same records serve every verify mode (the others ignore the shingles column)
        print(f"collected records on disk (default, with shingles for exact verification): "
              f"{disk / n:.0f} bytes/document\n")
        print("| plan phase, verify | seconds | removed | pairs verified | passes over shingles "
              "| NumPy/Python peak B/doc | Arrow read buffers peak B/doc |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for mode in ("off", "estimate", "exact"):
            out = subprocess.run([sys.executable, "-c", PLAN_SCRIPT, str(coll), mode],
                                 capture_output=True, text=True, check=True).stdout.split()
            secs, py_peak, arrow_peak = float(out[0]), int(out[1]), int(out[2])
            print(f"| {mode} | {secs:.1f} | {int(out[3]):,} | {int(out[4]):,} | {out[5]} | "
                  f"{py_peak / n:.0f} | {arrow_peak / n:.0f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sig-docs", type=int, default=3000)
    ap.add_argument("--dt-docs", type=int, default=10000)
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-datatrove", action="store_true")
    ap.add_argument("--skip-signatures", action="store_true")
    args = ap.parse_args()
    print(f"# minhash benchmark (cpus: {os.cpu_count()})")
    if not args.skip_signatures:
        signature_benchmark(args.sig_docs)
    if not args.skip_datatrove:
        end_to_end_vs_datatrove(args.dt_docs)
    if args.docs:
        at_scale(args.docs, args.workers)


if __name__ == "__main__":
    main()
