"""CPU seconds of single stages of two source trees, run in turn (before/after a change).

Run: ``.venv/bin/python benchmarks/stage_cpu.py --before /work/main/src --after src
--stages unicode_fix,pii --rounds 3``

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


def run(src: str, stage: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
    out = subprocess.run([sys.executable, "-c", CHILD, stage, str(HERE)], env=env,
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def spread(xs: list[float]) -> str:
    return f"{min(xs):.2f} / {statistics.median(xs):.2f} / {max(xs):.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    ap.add_argument("--stages", default="unicode_fix,pii,language,boilerplate_lines")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
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
