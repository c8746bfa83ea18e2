"""CPU of the Ray engine vs the local engine on the same input, side by side.

Run: ``.venv/bin/python benchmarks/ray_cpu.py [--recipe default] [--docs 10000] [--rounds 3]
[--workers 2]``

Each round runs, in turn, ``corpusfilter run PIPELINE IN -o OUT --workers N`` with
``--engine local`` and with ``--engine ray`` (which starts a local Ray cluster of N CPUs for the
run and stops it after), and a bare Ray start and stop in a subprocess (``ray.init`` of N CPUs,
one trivial task, ``ray.shutdown``: the fixed cost a one-machine Ray run pays whatever its
size). CPU is user + system time of each subprocess and all its descendants, read from
``/proc/PID/stat`` every 0.1 s for every process carrying this run's marker in its
environment (inherited by the Ray cluster's GCS, raylet, agents and workers), each process's
last reading summed: `rusage` of waited-for children is not enough here, since Ray's workers
are never accounted to their parent (a first version that used it printed Ray at 0.4× the
local engine's CPU for the same filtering work). What a process spends after its last
reading (< 0.1 s each) is missed, alike for both engines; the waited-for children's rusage is
printed beside as a cross-check. Ratios are taken round by round (the machine's speed drifts
less within a round) and printed as min / median / max. The outputs of the two engines are
compared byte for byte in every round.

``--recipe default``: the default recipe on ``pipeline.write_corpus`` (2 KB chunks of the real
pages of ``../shared/data/web_docs.parquet``, 5% exact and 10% near copies, shards of 5,000).
``--recipe dedup``: ``doc_length``, ``exact_dedup``, ``minhash_dedup`` on
``dedup_scale.write_corpus`` (~640-character documents, 5% exact and 5% near copies), in
shards of ``--shard-docs``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import pipeline as pb  # noqa: E402

DEDUP = {"max_removal_rate": 1.0,
         "stages": [{"stage": "doc_length"}, {"stage": "exact_dedup"},
                    {"stage": "minhash_dedup"}]}
RAY_START_STOP = ("import ray, sys\n"
                  "ray.init(address='local', num_cpus=int(sys.argv[1]), include_dashboard=False,"
                  " log_to_driver=False)\n"
                  "ray.get(ray.remote(lambda: 0).remote())\n"
                  "ray.shutdown()\n")


MARK = "CORPUSFILTER_CPU_RUN"
TICK = os.sysconf("SC_CLK_TCK")
WALL: list[float] = []
RUSAGE: list[float] = []  # CPU of waited-for descendants, per run (cross-check)
BY_KIND: list[dict[str, float]] = []  # CPU per kind of process, per run


def kind(cmd: str) -> str:
    """What a process of a run is, from its command line (Ray workers retitle themselves)."""
    for needle, name in (("UnitActor", "unit actors"), ("corpusfilter.cli", "driver"),
                         ("gcs_server", "GCS"), ("raylet/raylet", "raylet"),
                         ("Agent", "Ray agents"), ("dashboard", "Ray agents"),
                         ("log_monitor", "Ray monitors"), ("monitor.py", "Ray monitors"),
                         ("ray::", "other Ray workers"), ("default_worker.py", "other Ray workers"),
                         ("multiprocessing", "local pool workers")):
        if needle in cmd:
            return name
    return "other"


def _marked(pid: str, want: bytes) -> bool:
    try:
        return want in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False


def timed(cmd: list[str]) -> float:
    """CPU seconds of `cmd` and every process that inherited its marker, by sampling."""
    marker = f"{os.getpid()}-{time.time_ns()}"
    want = f"{MARK}={marker}".encode()
    seen: dict[tuple[str, str], float] = {}  # (pid, start time) -> last user + system s
    kinds: dict[tuple[str, str], str] = {}
    ours: set[tuple[str, str]] = set()

    def processes() -> list[tuple[tuple[str, str], list[str]]]:
        out = []
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    f = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                out.append(((d, f[19]), f))  # field 22: start time (a reused pid is new)
        return out

    older = {key for key, _ in processes()}  # running before the command: not ours
    stop = threading.Event()

    def sample() -> None:
        while True:
            for key, f in processes():
                # checked again until marked: between fork and exec a child still has the
                # environment of its parent
                if key not in ours and key not in older and _marked(key[0], want):
                    ours.add(key)
                if key in ours:
                    seen[key] = (int(f[11]) + int(f[12])) / TICK  # fields 14-15: utime, stime
                    try:
                        cmd = Path(f"/proc/{key[0]}/cmdline").read_bytes().replace(b"\0", b" ")
                    except OSError:
                        continue
                    # a zombie's command line is empty; once a unit actor, always one
                    if cmd and kinds.get(key) != "unit actors":
                        kinds[key] = kind(cmd.decode(errors="replace"))
            if stop.is_set():
                return
            time.sleep(0.1)

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    thread = threading.Thread(target=sample, daemon=True)
    t0 = time.perf_counter()
    thread.start()
    subprocess.run(cmd, check=True, env={**pb.ENV, MARK: marker}, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    pb.reap_orphans()
    stop.set()
    thread.join()
    WALL.append(time.perf_counter() - t0)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    RUSAGE.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    by_kind: dict[str, float] = {}
    for key, cpu in seen.items():
        by_kind[kinds.get(key, "other")] = by_kind.get(kinds.get(key, "other"), 0.0) + cpu
    BY_KIND.append(by_kind)
    return sum(seen.values())


def run(recipe: str, inp: Path, out: Path, engine: str, workers: int) -> float:
    shutil.rmtree(out, ignore_errors=True)
    return timed([pb.PY, "-m", "corpusfilter.cli", "run", recipe, str(inp), "-o", str(out),
                  "--workers", str(workers), "--engine", engine, "--no-progress", "-q"])


def same_outputs(a: Path, b: Path) -> bool:
    files = [p.relative_to(a) for sub in ("data", "ledger") for p in sorted((a / sub).iterdir())]
    return bool(files) and all((a / f).read_bytes() == (b / f).read_bytes() for f in files)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--recipe", choices=["default", "dedup"], default="default")
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--shard-docs", type=int, default=25_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    if not pb.become_subreaper():
        print("warning: not Linux: CPU of orphaned descendants is not counted", file=sys.stderr)
    tmp = Path(tempfile.mkdtemp(prefix="cf-ray-cpu-"))
    try:
        inp = tmp / "in"
        if args.recipe == "default":
            pb.write_corpus(args.docs, inp)
            recipe = "default"
        else:
            import dedup_scale

            dedup_scale.SHARD_DOCS = args.shard_docs
            dedup_scale.write_corpus(args.docs, inp)
            recipe = str(tmp / "dedup.yaml")
            Path(recipe).write_text(json.dumps(DEDUP))  # JSON is YAML
        shards = len(list(inp.glob("*.parquet")))
        local, ray, fixed, same = [], [], [], []
        for _ in range(args.rounds):
            local.append(run(recipe, inp, tmp / "local", "local", args.workers))
            ray.append(run(recipe, inp, tmp / "ray", "ray", args.workers))
            fixed.append(timed([pb.PY, "-c", RAY_START_STOP, str(args.workers)]))
            same.append(same_outputs(tmp / "local", tmp / "ray"))
        walls, rus = WALL, RUSAGE
        print(f"\n## {args.recipe} recipe, {args.docs:,} documents in {shards} shards, "
              f"--workers {args.workers}, {args.rounds} interleaved rounds\n")
        print("| run | CPU s (min / median / max) | wall s (median) | docs per CPU-second | "
              "rusage CPU s (median) |")
        print("|---|---|---:|---:|---:|")
        for k, (name, xs) in enumerate((
                ("local engine", local),
                ("ray engine (cluster started and stopped by the run)", ray),
                ("ray start + stop alone", fixed))):
            per = f"{args.docs / statistics.median(xs):,.0f}" if xs is not fixed else "–"
            print(f"| {name} | {pb.spread(xs)} | {statistics.median(walls[k::3]):.1f} | "
                  f"{per} | {statistics.median(rus[k::3]):.2f} |")
        ratio = [r / lo for r, lo in zip(ray, local, strict=True)]
        net = [(r - f) / lo for r, f, lo in zip(ray, fixed, local, strict=True)]
        print(f"\nray / local CPU (min / median / max): {pb.spread(ratio)}")
        print(f"(ray - start/stop) / local CPU: {pb.spread(net)}")
        print(f"outputs byte-identical in every round: {all(same)}")
        for k, name in ((0, "local engine"), (1, "ray engine")):
            runs = BY_KIND[k::3]
            names = sorted({n for r in runs for n in r}, key=lambda n: -sum(r.get(n, 0)
                                                                          for r in runs))
            print(f"{name}, CPU s per kind of process (median over rounds): " + ", ".join(
                f"{n} {statistics.median([r.get(n, 0.0) for r in runs]):.2f}" for n in names))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
