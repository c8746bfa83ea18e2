"""Largest process memory per phase of a Ray run on a two-node cluster, at growing corpus sizes.

Run: ``.venv/bin/python benchmarks/ray_memory.py [--docs 100000 1000000] [--shard-docs 25000]
[--pipeline dedup|minhash|boilerplate] [--partition-records N] [--compare]``

For each size: short documents (~640 characters, three real lines of
``../shared/data/web_docs.parquet``, 5% exact and 5% near copies: `dedup_scale.write_corpus`)
in shards of ``--shard-docs`` documents (the same shard size at every corpus size, so what
grows with the corpus is told apart from what grows with a shard); a cluster of two
``ray start`` nodes of one CPU each on this machine (ports 6800-6899, `tests/ray_nodes.py`: not
6400-6499, which tests/test_ray_two_nodes.py uses; two clusters on the same ports and temp
directories break each other, which once made a run here wait forever for CPUs). Pipeline ``dedup``: ``doc_length``, ``exact_dedup``,
``minhash_dedup`` (the global stages are where memory could grow with the corpus);
``minhash``: ``minhash_dedup`` alone, the cheapest run through the MinHash plan;
``boilerplate``: ``boilerplate_lines`` alone (its plan's spill, count and gather tasks,
`dedup/lines.py`).
``--partition-records`` sets the engine's records per plan partition (default: its
``PARTITION_RECORDS``), so that two corpus sizes can be compared at the same partition size.

A thread samples every 0.2 s the resident memory of the driver and of every process of the
two nodes, classified as driver, unit actor (batch-local work), shuffle aggregator (Ray Data's
hash-shuffle actors, if any), Ray task worker (planning tasks: shuffles, per-partition plans,
components; and idle workers, which keep the heap of their last task), raylet (which maps the
object store: its RSS includes the shared-memory pages it touched) and other Ray processes
(GCS, agents, Ray Data's helper actors). It prints, per phase, the wall time and the largest
RSS of each kind with, in brackets, its private part (RssAnon: the process's own heap, without
the object-store pages it read), then the task workers' largest private RSS by process title
(which step). With ``--compare`` it also runs the local engine and checks the data and ledger
files are byte-identical.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from ray_nodes import LocalNodes, cmdline, free_base_port, rss  # noqa: E402

PIPELINES = {
    "dedup": {"max_removal_rate": 1.0,
              "stages": [{"stage": "doc_length"}, {"stage": "exact_dedup"},
                         {"stage": "minhash_dedup"}]},
    # the cheapest run through the MinHash plan (collect, components, per-partition plans)
    "minhash": {"max_removal_rate": 1.0, "stages": [{"stage": "minhash_dedup"}]},
    "boilerplate": {"max_removal_rate": 1.0, "stages": [{"stage": "boilerplate_lines"}]},
}
MiB = 1 << 20
KINDS = ["driver", "unit actor", "shuffle aggregator", "ray task worker", "raylet",
         "other ray"]


def private_rss(pid: int) -> int:
    """Resident memory a process does not share (RssAnon: its heap; 0 once it has ended):
    RSS also counts the object-store pages a Ray process touched, which are shared memory."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def kind(p: int) -> str:
    cmd = " ".join(cmdline(p))
    if "UnitActor" in cmd:
        return "unit actor"
    if "HashShuffleAggregator" in cmd:  # Ray Data's shuffle actors (hash shuffle)
        return "shuffle aggregator"
    if any(a in cmd for a in ("DashboardAgent", "RuntimeEnvAgent", "_StatsActor",
                              "_AutoscalingCoordinatorActor")):
        return "other ray"  # Ray's own long-lived helpers, not work of the run
    if "raylet/raylet" in cmd:
        return "raylet"
    if cmd.startswith("ray::"):
        return "ray task worker"
    return "other ray"


class Sampler(threading.Thread):
    """Largest RSS and largest private RSS per (phase, kind of process) while the run goes."""

    def __init__(self, nodes: LocalNodes):
        super().__init__(daemon=True)
        self.nodes = nodes
        self.phase = "start"
        self.peak: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.private: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        # largest RSS (private) per process title of a task worker, per phase: which step
        self.titles: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.stop = threading.Event()
        self.me = os.getpid()

    def run(self) -> None:
        while not self.stop.is_set():
            procs = [(p, kind(p)) for p in self.nodes.processes()] + [(self.me, "driver")]
            for p, k in procs:
                peak, private = self.peak[self.phase], self.private[self.phase]
                peak[k] = max(peak[k], rss(p))
                private[k] = max(private[k], private_rss(p))
                if k in ("ray task worker", "shuffle aggregator"):
                    title = " ".join(cmdline(p))[:60]
                    titles = self.titles[self.phase]
                    titles[title] = max(titles[title], private_rss(p))
            time.sleep(0.2)


def engine_class(sampler: Sampler, times: dict[str, float], parts: list[int],
                 growth: dict[str, tuple[int, int]]) -> Any:
    from corpusfilter.engines.ray_engine import RayEngine

    def timed(label: str, fn: Any, *args: Any) -> Any:
        sampler.phase = label
        t0 = time.perf_counter()
        try:
            return fn(*args)
        finally:
            times[label] = times.get(label, 0.0) + time.perf_counter() - t0
            sampler.phase = "between"

    class Measured(RayEngine):
        def _run_segment(self, seg: Any, *args: Any) -> None:
            timed(f"phase {seg.index + 1}: units", super()._run_segment, seg, *args)

        def _check_ids_unique(self, *args: Any) -> None:
            timed("id check", super()._check_ids_unique, *args)

        def _make_plan(self, seg: Any, *args: Any) -> None:
            label = f"plan {seg.tail.label}"
            before = private_rss(os.getpid())
            timed(label, super()._make_plan, seg, *args)
            # the driver's own heap at the plan's start and its peak during it (sampled)
            growth[label] = (before, max(before, sampler.private[label]["driver"]))

        def _finalize(self, *args: Any) -> Any:
            return timed("commit", super()._finalize, *args)

        def _partitions(self, *args: Any) -> int:
            parts.append(super()._partitions(*args))
            return parts[-1]

    return Measured


def measure(n: int, shard_docs: int, base: Path, compare: bool, pipeline: str,
            partition_records: int) -> None:
    corpus = base / f"in-{n}"
    shards = -(-n // shard_docs)
    config = PIPELINES[pipeline]
    # in another process: the driver's memory below is the engine's, not the generator's
    subprocess.run([sys.executable, "-c", f"import dedup_scale as d; d.SHARD_DOCS = "
                    f"{shard_docs}; d.write_corpus({n}, __import__('pathlib').Path("
                    f"{str(corpus)!r}))"], check=True, cwd=ROOT / "benchmarks")
    nodes = LocalNodes(base, nodes=2, cpus=1, base_port=free_base_port(2, first=6800))
    sampler = Sampler(nodes)
    times: dict[str, float] = {}
    parts: list[int] = []
    growth: dict[str, tuple[int, int]] = {}
    try:
        sampler.start()
        t0 = time.perf_counter()
        engine = engine_class(sampler, times, parts, growth)(config, progress=False,
                                                     address=nodes.address)
        if partition_records:
            engine.partition_records = partition_records
        engine.run([corpus], base / f"ray-{n}")
        wall = time.perf_counter() - t0
    finally:
        sampler.stop.set()
        sampler.join()
        left = nodes.stop()
    stages = ", ".join(s["stage"] for s in config["stages"])
    print(f"\n## {n:,} documents, {shards} shards, 2 nodes x 1 CPU, {stages}: {wall:.0f} s; "
          f"plan partitions {parts} (~{n / max(parts or [1]):,.0f} records each); "
          f"processes left after stopping the nodes: {len(left)}\n")
    print("RSS MiB (private RSS MiB in brackets: RssAnon, without shared object-store pages)\n")
    print("| phase | seconds | " + " | ".join(KINDS) + " |")
    print("|---|---:|" + "---:|" * len(KINDS))
    for phase, peak in sampler.peak.items():
        label = f"({phase})" if phase in ("start", "between") else phase
        private = sampler.private[phase]
        cells = " | ".join(f"{peak[k] / MiB:,.0f} ({private[k] / MiB:,.0f})" if k in peak
                           else "-" for k in KINDS)
        print(f"| {label} | {times.get(phase, 0):.1f} | {cells} |")
    top = {k: max(p.get(k, 0) for p in sampler.peak.values()) for k in KINDS}
    top_private = {k: max(p.get(k, 0) for p in sampler.private.values()) for k in KINDS}
    print("\nlargest over the run: " + ", ".join(
        f"{k} {v / MiB:,.0f} ({top_private[k] / MiB:,.0f}) MiB" for k, v in top.items()),
        flush=True)
    for label, (before, peak) in growth.items():
        print(f"driver RssAnon in {label}: {before / MiB:,.0f} MiB at its start, peak "
              f"{peak / MiB:,.0f} MiB: growth +{(peak - before) / MiB:,.0f} MiB", flush=True)
    for phase, titles in sampler.titles.items():
        top5 = sorted(titles.items(), key=lambda kv: -kv[1])[:5]
        print(f"largest task workers in {phase} (private MiB, by process title): " + "; ".join(
            f"{t} {v / MiB:,.0f}" for t, v in top5))
    if compare:
        from corpusfilter.engines.local import LocalEngine

        LocalEngine(config, workers=1, progress=False).run([corpus], base / f"local-{n}")
        same = all((base / f"ray-{n}" / sub / f.name).read_bytes() == f.read_bytes()
                   for sub in ("data", "ledger")
                   for f in sorted((base / f"local-{n}" / sub).iterdir()))
        print(f"data and ledger byte-identical to the local engine: {same}", flush=True)
    shutil.rmtree(corpus, ignore_errors=True)
    shutil.rmtree(base / f"ray-{n}", ignore_errors=True)
    shutil.rmtree(base / f"local-{n}", ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--shard-docs", type=int, default=25_000)
    ap.add_argument("--pipeline", choices=sorted(PIPELINES), default="dedup")
    ap.add_argument("--partition-records", type=int, default=0,
                    help="records per plan partition (default: the engine's)")
    ap.add_argument("--compare", action="store_true")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="ray-memory-"))
    try:
        for n in args.docs:
            measure(n, args.shard_docs, base, args.compare, args.pipeline,
                    args.partition_records)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
