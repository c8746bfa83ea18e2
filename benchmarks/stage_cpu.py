"""CPU seconds of single stages of two source trees, run in turn (before/after a change).

Run: ``.venv/bin/python benchmarks/stage_cpu.py --before /work/main/src --after src
--stages unicode_fix,pii --rounds 3``; ``--recipe default`` times every stage inside the
whole recipe instead (stages that share work, such as the prose text and the words of
gopher_repetition, gopher_quality and fineweb_quality, are timed as the pipeline runs them).

Each run is a fresh process (``PYTHONPATH`` = the tree) that builds
``Pipeline({"stages": [{"stage": X}]})``, warms it up on 100 documents and times
``Pipeline.run`` (process CPU) on the first 5,000 ~2 KB chunks of
``../shared/data/web_docs.parquet`` (``benchmarks/pipeline.py``'s chunks), in batches of
1,000. Trees alternate round by round; min / median / max over rounds and the ratio
before / after are printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHILD = r'''
import sys, time
sys.path.insert(0, sys.argv[2])
import pipeline as bp
import pyarrow as pa
from corpusfilter import Pipeline
texts = bp.chunks()[:5000]
t = pa.table({"id": [str(i) for i in range(len(texts))], "text": texts})
p = Pipeline({"stages": [{"stage": sys.argv[1]}]}, max_removal_rate=1.0)
p.run(t.slice(0, 100))
c0 = time.process_time()
p.run(t, batch_size=1000)
print(time.process_time() - c0)
'''
# The whole recipe in process: CPU of each stage (process time around ShardWork.run_stage)
# and of the run, printed as one JSON line.
RECIPE = r'''
import sys, time, json
sys.path.insert(0, sys.argv[2])
import pipeline as bp
import pyarrow as pa
from corpusfilter import Pipeline
from corpusfilter.core import pipeline as cp
texts = bp.chunks()[:int(sys.argv[3])]
t = pa.table({"id": [str(i) for i in range(len(texts))], "text": texts})
p = Pipeline(sys.argv[1], max_removal_rate=1.0)
p.run(t.slice(0, 100))
cpu = {}
inner = cp.ShardWork.run_stage
def timed(self, pos, stage, *args):
    c = time.process_time()
    try:
        return inner(self, pos, stage, *args)
    finally:
        cpu[stage.label] = cpu.get(stage.label, 0.0) + time.process_time() - c
cp.ShardWork.run_stage = timed
c0 = time.process_time()
p.run(t, batch_size=1000)
cpu["(whole run)"] = time.process_time() - c0
print(json.dumps(cpu))
'''


def run(src: str, stage: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
    out = subprocess.run([sys.executable, "-c", CHILD, stage, str(HERE)], env=env,
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def run_recipe(src: str, recipe: str, docs: int) -> dict[str, float]:
    import json

    env = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
    out = subprocess.run([sys.executable, "-c", RECIPE, recipe, str(HERE), str(docs)],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def spread(xs: list[float]) -> str:
    return f"{min(xs):.2f} / {statistics.median(xs):.2f} / {max(xs):.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    ap.add_argument("--stages", default="unicode_fix,pii,language,boilerplate_lines")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--recipe", help="time every stage inside this recipe instead")
    ap.add_argument("--docs", type=int, default=5000, help="documents (with --recipe)")
    args = ap.parse_args()
    if args.recipe:
        rounds_b, rounds_a = [], []
        for _ in range(args.rounds):  # interleaved: a drift of the machine hits both
            rounds_b.append(run_recipe(args.before, args.recipe, args.docs))
            rounds_a.append(run_recipe(args.after, args.recipe, args.docs))
        print(f"recipe {args.recipe}, {args.docs:,} documents, {args.rounds} interleaved "
              f"rounds; CPU s min / median / max")
        for label in rounds_b[0]:
            before = [r[label] for r in rounds_b]
            after = [r.get(label, 0.0) for r in rounds_a]
            ratios = [b / a if a else float("nan") for b, a in zip(before, after, strict=True)]
            print(f"{label:18s} before {spread(before)}  after {spread(after)}  "
                  f"before/after {spread(ratios)}", flush=True)
        whole = [r["(whole run)"] for r in rounds_a]
        print(f"docs/CPU-s in process: before "
              f"{args.docs / statistics.median([r['(whole run)'] for r in rounds_b]):,.0f}, "
              f"after {args.docs / statistics.median(whole):,.0f}")
        return
    for stage in args.stages.split(","):
        before, after = [], []
        for _ in range(args.rounds):
            before.append(run(args.before, stage))
            after.append(run(args.after, stage))
        ratios = [b / a for b, a in zip(before, after, strict=True)]
        print(f"{stage:18s} before {spread(before)} s  after {spread(after)} s  "
              f"before/after {spread(ratios)}", flush=True)


if __name__ == "__main__":
    main()
