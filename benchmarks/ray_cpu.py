"""CPU of the Ray engine vs the local engine on the same input, side by side.

Run: ``.venv/bin/python benchmarks/ray_cpu.py [--recipe default] [--docs 10000] [--rounds 3]
[--workers 2]``

Each round runs, in turn, ``corpusfilter run PIPELINE IN -o OUT --workers N`` with
``--engine local`` and with ``--engine ray`` (which starts a local Ray cluster of N CPUs for the
run and stops it after), and a bare Ray start and stop in a subprocess (``ray.init`` of N CPUs,
one trivial task, ``ray.shutdown``: the fixed cost a one-machine Ray run pays whatever its
size). CPU is user + system time of each subprocess and all its descendants, orphans included
(this script becomes their subreaper and reaps them: `pipeline.become_subreaper`), so the Ray
cluster's GCS, raylet and workers count. Ratios are taken round by round (the machine's speed
drifts less within a round) and printed as min / median / max. The outputs of the two engines
are compared byte for byte in every round.

``--recipe default``: the default recipe on ``pipeline.write_corpus`` (2 KB chunks of the real
pages of ``../shared/data/web_docs.parquet``, 5% exact and 10% near copies, shards of 5,000).
``--recipe dedup``: ``doc_length``, ``exact_dedup``, ``minhash_dedup`` on
``dedup_scale.write_corpus`` (~640-character documents, 5% exact and 5% near copies), in
shards of ``--shard-docs``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
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


def run(recipe: str, inp: Path, out: Path, engine: str, workers: int) -> float:
    shutil.rmtree(out, ignore_errors=True)
    return pb.timed([pb.PY, "-m", "corpusfilter.cli", "run", recipe, str(inp), "-o", str(out),
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
            fixed.append(pb.timed([pb.PY, "-c", RAY_START_STOP, str(args.workers)]))
            same.append(same_outputs(tmp / "local", tmp / "ray"))
        walls = pb.WALL
        print(f"\n## {args.recipe} recipe, {args.docs:,} documents in {shards} shards, "
              f"--workers {args.workers}, {args.rounds} interleaved rounds\n")
        print("| run | CPU s (min / median / max) | wall s (median) | docs per CPU-second |")
        print("|---|---|---:|---:|")
        for name, xs, w in (("local engine", local, walls[0::3]),
                            ("ray engine (cluster started and stopped by the run)", ray,
                             walls[1::3]),
                            ("ray start + stop alone", fixed, walls[2::3])):
            per = f"{args.docs / statistics.median(xs):,.0f}" if xs is not fixed else "–"
            print(f"| {name} | {pb.spread(xs)} | {statistics.median(w):.1f} | {per} |")
        ratio = [r / lo for r, lo in zip(ray, local, strict=True)]
        net = [(r - f) / lo for r, f, lo in zip(ray, fixed, local, strict=True)]
        print(f"\nray / local CPU (min / median / max): {pb.spread(ratio)}")
        print(f"(ray - start/stop) / local CPU: {pb.spread(net)}")
        print(f"outputs byte-identical in every round: {all(same)}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
