"""Local engine vs ray engine on the same input, and the memory model of global dedup.

Run: ``.venv/bin/python benchmarks/engines.py [--docs 20000] [--workers 2]``

1. Throughput: the real web documents of ``../shared/data/web_docs.parquet``, repeated with
   new ids (so exact_dedup has copies to remove) up to ``--docs``, in 8 shards; the same
   pipeline (doc_length, exact_dedup, minhash_dedup) with the local engine (process pool) and
   the ray engine (a local Ray cluster with ``--workers`` CPUs; its start-up is reported
   apart). Prints docs/s of each and the ratio ray / local; outputs are compared byte for byte.
2. Memory model: for exact_dedup and minhash_dedup, the Arrow bytes per document that
   ``collect()`` records (what the cluster shuffles) and the peak Python/NumPy heap per
   document of ``plan()`` (tracemalloc), measured on the same documents; then scaled to 1B.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PIPELINE = {"max_removal_rate": 1.0,
            "stages": [{"stage": "doc_length"}, {"stage": "exact_dedup"},
                       {"stage": "minhash_dedup"}]}
SHARDS = 8
BILLION = 1_000_000_000


def corpus(n: int, unique: bool = False) -> pa.Table:
    """`n` documents: the web documents repeated with new ids; with `unique`, each copy's
    text ends in its id, so no two are exact duplicates (but all copies stay near-duplicates:
    the worst case for minhash_dedup's plan)."""
    t = pq.read_table(DATA / "web_docs.parquet", columns=["id", "text", "source", "lang"])
    parts, i = [], 0
    while sum(p.num_rows for p in parts) < n:
        ids = pc.binary_join_element_wise(t["id"], pa.scalar(f"r{i}"), "-") if i else t["id"]
        part = t.set_column(0, "id", ids)
        if unique:
            part = part.set_column(1, "text", pc.binary_join_element_wise(
                part["text"], ids, " "))
        parts.append(part)
        i += 1
    return pa.concat_tables(parts).slice(0, n)


def write_shards(table: pa.Table, d: Path) -> None:
    d.mkdir(parents=True)
    step = -(-table.num_rows // SHARDS)
    for k in range(SHARDS):
        pq.write_table(table.slice(k * step, step), d / f"part-{k:02d}.parquet")


def differing_outputs(a: Path, b: Path) -> list[str]:
    """Files of data/ and ledger/ whose tables differ between two runs."""
    out = []
    for sub in ("data", "ledger"):
        for p in sorted((a / sub).iterdir()):
            if not pq.read_table(p).equals(pq.read_table(b / sub / p.name)):
                out.append(f"{sub}/{p.name}")
    return out


def throughput(n: int, workers: int, tmp: Path) -> None:
    from corpusfilter.engines.local import LocalEngine
    from corpusfilter.engines.ray_engine import RayEngine, import_ray

    write_shards(corpus(n), tmp / "in")
    t0 = time.perf_counter()
    LocalEngine(PIPELINE, workers=workers, progress=False).run([tmp / "in"], tmp / "local")
    local_s = time.perf_counter() - t0

    ray = import_ray()
    t0 = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
             logging_level="WARNING")
    start_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    RayEngine(PIPELINE, workers=workers, progress=False).run([tmp / "in"], tmp / "ray")
    ray_s = time.perf_counter() - t0
    ray.shutdown()

    diff = differing_outputs(tmp / "local", tmp / "ray")
    print(f"\n== throughput: {n:,} documents, {SHARDS} shards, {workers} CPUs, "
          f"pipeline doc_length + exact_dedup + minhash_dedup ==")
    print(f"local engine ({workers} processes): {local_s:7.1f} s  {n / local_s:8,.0f} docs/s")
    print(f"ray engine   ({workers} actors):    {ray_s:7.1f} s  {n / ray_s:8,.0f} docs/s"
          f"   (+ {start_s:.1f} s to start the local Ray cluster)")
    print(f"ratio ray / local docs/s: {local_s / ray_s:.2f}")
    print(f"outputs identical (data + ledger): {not diff}"
          + (f"; differing: {', '.join(diff)}" if diff else ""))
    if diff:
        keep = Path(tempfile.mkdtemp(prefix="cf-engines-diff-"))
        for name in ("local", "ray"):
            shutil.copytree(tmp / name, keep / name)
        print(f"both outputs kept in {keep}")


def memory_model(n: int) -> None:
    from corpusfilter.core.docs import Columns, Docs
    from corpusfilter.core.stage import Collected
    from corpusfilter.dedup.exact import ExactDedup
    from corpusfilter.dedup.minhash import MinHashDedup

    table = corpus(n, unique=True)
    print(f"\n== memory model (measured on {n:,} documents, no exact duplicates, every "
          f"document in a near-duplicate cluster; scaled to 1B) ==")
    # minhash_dedup's default (verify: exact) also collects every document's shingle hashes
    for stage in (ExactDedup(), MinHashDedup(), MinHashDedup(verify="estimate")):
        stage.setup()
        label = stage.name + ("" if getattr(stage, "verify", "exact") == "exact"
                              else f" (verify: {stage.verify})")
        parts = [stage.collect(Docs(b, Columns("text", "id", "lang"), "bench"))
                 for b in table.to_batches(max_chunksize=1000)]
        records = pa.concat_tables(parts)
        per_doc = records.nbytes / n
        tracemalloc.start()
        stage.plan(Collected(tables=[records]))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        plan_per_doc = peak / n
        print(f"{label}: collect records {per_doc:6.1f} B/doc -> "
              f"{per_doc * BILLION / 2**30:7.1f} GiB at 1B docs (cluster object store / "
              f"spill, spread over partitions); plan() peak heap {plan_per_doc:6.1f} B/doc "
              f"-> {plan_per_doc * BILLION / 2**30:7.1f} GiB if planned in one process")
        print(json.dumps({"stage": label, "collect_bytes_per_doc": round(per_doc, 1),
                          "plan_peak_bytes_per_doc": round(plan_per_doc, 1)}))
        if label == "minhash_dedup":
            components_step(records, [f"band_{j}" for j in range(stage.bands)])
    chunk_records()


def chunk_records(n: int = 3000) -> None:
    """minhash_dedup's collected bytes per document on ~2 KB chunks of the same pages (the
    documents of docs/scale.md's 1B plan), with and without shingles."""
    import pipeline
    from corpusfilter.core.docs import Columns, Docs
    from corpusfilter.dedup.minhash import MinHashDedup

    texts = pipeline.chunks()[:n]
    table = pa.table({"id": [f"c{i}" for i in range(len(texts))], "text": texts})
    chars = sum(len(t) for t in texts) / len(texts)
    for verify in ("exact", "estimate"):
        stage = MinHashDedup(verify=verify)
        stage.setup()
        records = pa.concat_tables([stage.collect(Docs(b, Columns("text", "id", None), "bench"))
                                    for b in table.to_batches(max_chunksize=1000)])
        per_doc = records.nbytes / len(texts)
        print(f"minhash_dedup (verify: {verify}) on {len(texts):,} chunks of {chars:,.0f} "
              f"characters: collect records {per_doc:6.1f} B/doc -> "
              f"{per_doc * BILLION / 2**30:7.1f} GiB at 1B docs")


class _PeakExchange:
    """The in-process exchange of `ray_components`, measuring every task (one call of a step
    on one partition): the largest input table (Arrow bytes) and the largest peak
    Python/NumPy heap (tracemalloc) of any single task."""

    def __init__(self) -> None:
        import scipy.sparse.csgraph  # noqa: F401  (imported before measuring: not a task's)

        from corpusfilter.engines.ray_components import LocalExchange

        self.inner = LocalExchange()
        self.max_input = 0
        self.max_peak = 0
        self.tasks = 0

    def shuffle(self, data: list[pa.Table], fn: Any, **kwargs: Any) -> list[pa.Table]:
        def measured(t: pa.Table, **kw: Any) -> pa.Table:
            self.tasks += 1
            self.max_input = max(self.max_input, t.nbytes)
            tracemalloc.start()
            out = fn(t, **kw)
            self.max_peak = max(self.max_peak, tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
            return out

        return self.inner.shuffle(data, measured, **kwargs)

    def changed(self, data: list[pa.Table]) -> int:
        return self.inner.changed(data)


def components_step(records: pa.Table, links: list[str]) -> None:
    """The ray engine's components of the band buckets, step by step in one process with
    the cluster's partitions: per-task memory for 1, 8 and 64 partitions (here every document
    is linked, the worst case)."""
    from corpusfilter.engines import ray_components as rc

    with tempfile.TemporaryDirectory() as d:
        files = []
        step = -(-records.num_rows // SHARDS)
        for k in range(SHARDS):
            files.append(str(Path(d) / f"s{k}.collect.parquet"))
            pq.write_table(records.slice(k * step, step).select(links), files[-1])
        batch = pa.table({"path": files, "index": list(range(len(files)))})
        for parts in (1, 8, 64):
            rows = rc.link_rows(batch, links, parts)
            ex = _PeakExchange()
            edges = ex.shuffle([rows], rc.bucket_edges, parts=parts)
            n_edges = sum(t.num_rows for t in edges)
            final, rounds = rc.star_rounds(ex, edges, parts)
            labels = pa.concat_tables([rc.label_rows(t) for t in final])
            linked = len(pc.unique(labels["node"]))
            comps = len(pc.unique(labels["label"]))
            print(f"minhash_dedup components on ray, {parts:3d} partitions: "
                  f"{linked:,} linked docs in {comps:,} components; "
                  f"{n_edges / max(linked, 1):.2f} edges per linked doc after the bucket "
                  f"step; {rounds} rounds, {ex.tasks} tasks; largest task input "
                  f"{ex.max_input / max(linked, 1):6.1f} B and peak heap "
                  f"{ex.max_peak / max(linked, 1):6.1f} B per linked doc")
            print(json.dumps({"stage": "minhash_dedup/ray_components", "partitions": parts,
                              "linked": linked, "components": comps, "rounds": rounds,
                              "link_rows_bytes_per_doc": round(
                                  rows.nbytes / records.num_rows, 1),
                              "edges_per_linked_doc": round(n_edges / max(linked, 1), 2),
                              "max_task_input_bytes_per_linked_doc": round(
                                  ex.max_input / max(linked, 1), 1),
                              "max_task_peak_bytes_per_linked_doc": round(
                                  ex.max_peak / max(linked, 1), 1)}))


def components_scale(sizes: list[int], per_part: int) -> None:
    """Largest task of the components step at several corpus sizes, with the engine's rule
    of a fixed number of records per partition (every document linked: the worst case)."""
    from corpusfilter.core.docs import Columns, Docs
    from corpusfilter.dedup.minhash import MinHashDedup
    from corpusfilter.engines import ray_components as rc

    stage = MinHashDedup(verify="off")  # the band keys are the same for every verify mode
    links = stage.ray_link_columns
    print(f"\n== components step vs corpus size ({per_part:,} records per partition; every "
          f"document near-duplicated) ==")
    for n in sizes:
        table = corpus(n, unique=True)
        with tempfile.TemporaryDirectory() as d:
            files = []
            step = -(-n // SHARDS)
            for k in range(SHARDS):
                part = table.slice(k * step, step)
                recs = pa.concat_tables([
                    stage.collect(Docs(b, Columns("text", "id", "lang"), "bench"))
                    for b in part.to_batches(max_chunksize=1000)]).select(links)
                files.append(str(Path(d) / f"s{k}.collect.parquet"))
                pq.write_table(recs, files[-1])
            parts = max(1, n // per_part)
            rows = rc.link_rows(pa.table({"path": files, "index": list(range(SHARDS))}),
                                links, parts)
            ex = _PeakExchange()
            _, rounds = rc.star_rounds(ex, ex.shuffle([rows], rc.bucket_edges, parts=parts),
                                       parts)
        print(f"{n:>9,} documents, {parts:4d} partitions, {rounds} rounds: largest task "
              f"input {ex.max_input / 2**20:6.2f} MiB, peak heap {ex.max_peak / 2**20:6.2f} MiB")
        print(json.dumps({"stage": "minhash_dedup/ray_components_scale", "docs": n,
                          "partitions": parts, "rounds": rounds,
                          "max_task_input_bytes": ex.max_input,
                          "max_task_peak_bytes": ex.max_peak}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--docs", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-docs", type=int, default=20_000)
    ap.add_argument("--no-throughput", action="store_true",
                    help="only the memory model (no engine runs)")
    ap.add_argument("--components-scale", type=int, nargs="*", metavar="DOCS",
                    help="only the components step's largest task at these corpus sizes")
    ap.add_argument("--per-partition", type=int, default=2_500,
                    help="records per partition for --components-scale")
    args = ap.parse_args()
    if args.components_scale:
        components_scale(args.components_scale, args.per_partition)
        return
    tmp = Path(tempfile.mkdtemp(prefix="cf-engines-"))
    try:
        if not args.no_throughput:
            throughput(args.docs, args.workers, tmp)
        memory_model(args.memory_docs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
