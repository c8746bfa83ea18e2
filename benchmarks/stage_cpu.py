"""CPU seconds of single stages, or of the whole default recipe, of two source trees, run in
turn (before/after a change).

Run: ``.venv/bin/python benchmarks/stage_cpu.py --before /work/main/src --after src
--stages unicode_fix,pii,default --rounds 3 [--docs 5000]``

Each run is a fresh process (``PYTHONPATH`` = the tree) that builds
``Pipeline({"stages": [{"stage": X}]})`` (``default``: the default recipe, every stage),
warms it up on 100 documents and times ``Pipeline.run`` (process CPU) on the first
``--docs`` (5,000) ~2 KB chunks of ``../shared/data/web_docs.parquet``
(``benchmarks/pipeline.py``'s chunks), in batches of 1,000. Trees alternate round by round;
min / median / max over rounds and the ratio before / after are printed. For ``default`` the
run is in one process (no pool, no Parquet writing): documents per CPU-second, and each
stage's own CPU seconds (its ``process``/``apply``/``collect``/``plan`` calls, timed with
``time.process_time`` around each call) with the before / after ratio of their medians.

The CLI (``--workers``, Parquet in and out) of two trees: ``benchmarks/pipeline.py --before SRC``.

``X@default`` times the step named X of the default recipe alone, with the recipe's options
(``c4_quality@default``: closing_quotes, keep_headings, ..., source_overrides), where ``X``
alone builds the stage with its own defaults.

Single stages see the chunks without a ``lang`` column (``toxicity`` then uses its
``default_lang``, English); inside ``default`` they see the labels of ``language``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHILD = r'''
import json, sys, time
sys.path.insert(0, sys.argv[2])
import pipeline as bp
import pyarrow as pa
from corpusfilter import Pipeline
texts = bp.chunks()[:int(sys.argv[3])]
t = pa.table({"id": [str(i) for i in range(len(texts))], "text": texts})
stage = sys.argv[1]
if stage.endswith("@default"):  # the step of the default recipe, with its options
    spec = {"stages": [s for s in Pipeline("default").config.stages
                       if s.get("name", s["stage"]) == stage[:-len("@default")]]}
else:
    spec = "default" if stage == "default" else {"stages": [{"stage": stage}]}
Pipeline.load(spec, max_removal_rate=1.0).run(t.slice(0, 100))
p = Pipeline.load(spec, max_removal_rate=1.0)
stages = {}


def timed(label, fn):
    def call(*a, **k):
        c = time.process_time()
        try:
            return fn(*a, **k)
        finally:
            stages[label] = stages.get(label, 0.0) + time.process_time() - c
    return call


for s in p.stages:  # each stage's own CPU: its per-batch calls, timed here
    for method in ("process", "apply", "collect", "plan"):
        if hasattr(s, method):
            setattr(s, method, timed(s.label, getattr(s, method)))
c0 = time.process_time()
res = p.run(t, batch_size=1000)
cpu = time.process_time() - c0
print(json.dumps({"cpu": cpu, "docs": len(texts), "stages": stages}))
'''


def run(src: str, stage: str, docs: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
    out = subprocess.run([sys.executable, "-c", CHILD, stage, str(HERE), str(docs)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def spread(xs: list[float], fmt: str = ".2f") -> str:
    return f"{min(xs):{fmt}} / {statistics.median(xs):{fmt}} / {max(xs):{fmt}}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    ap.add_argument("--stages", default="unicode_fix,pii,language,boilerplate_lines")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--docs", type=int, default=5000)
    args = ap.parse_args()
    for stage in args.stages.split(","):
        before, after = [], []
        for _ in range(args.rounds):
            before.append(run(args.before, stage, args.docs))
            after.append(run(args.after, stage, args.docs))
        b = [r["cpu"] for r in before]
        a = [r["cpu"] for r in after]
        ratios = [x / y for x, y in zip(b, a, strict=True)]
        print(f"{stage:18s} before {spread(b)} s  after {spread(a)} s  "
              f"before/after {spread(ratios)}", flush=True)
        if stage != "default":
            continue
        n = args.docs
        print(f"{'':18s} docs/CPU-s before {spread([n / x for x in b], '.0f')}  "
              f"after {spread([n / x for x in a], '.0f')}")
        for name in before[0]["stages"]:
            sb = [r["stages"][name] for r in before]
            sa = [r["stages"].get(name, float("nan")) for r in after]
            ratio = statistics.median(sb) / max(statistics.median(sa), 1e-9)
            print(f"  {name:22s} before {spread(sb)} s  after {spread(sa)} s  "
                  f"median before/after {ratio:.2f}", flush=True)


if __name__ == "__main__":
    main()
