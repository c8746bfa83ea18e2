"""Accuracy and cost of the `balance` stage.

* mix accuracy: realised share vs target per group on a synthetic 200,000-document corpus
  (ids + source + short text) and on the real ``web_docs.parquet`` (by ``source``);
* cost: a `balance` run against a baseline run of `doc_length` (a trivial batch-local stage)
  over the same table in the same process, as a ratio.

Run: ``.venv/bin/python benchmarks/balance.py``
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from corpusfilter import Pipeline

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def synthetic(n: int) -> pa.Table:
    rng = np.random.default_rng(0)
    src = rng.choice(["web", "books", "code", "wiki"], size=n, p=[0.7, 0.15, 0.1, 0.05])
    return pa.table({"id": [f"d{i}" for i in range(n)],
                     "text": ["w " * int(k) for k in rng.integers(1, 60, n)], "source": src})


def run(t: pa.Table, **params: object) -> tuple[pa.Table, float]:
    p = Pipeline({"stages": [params], "max_removal_rate": None})
    t0 = time.perf_counter()
    res = p.run(t, batch_size=10_000)
    return res.kept, time.perf_counter() - t0


def report(name: str, kept: pa.Table, target: dict[str, float]) -> None:
    c = Counter(kept["source"].to_pylist())
    total = sum(c.values())
    worst = max(abs(c[g] / total - w) / w for g, w in target.items())
    print(f"| {name} | {total:,} | " + ", ".join(
        f"{g} {c[g] / total:.4f} (target {w:.4f})" for g, w in target.items())
        + f" | {worst:.2%} |")


def main() -> None:
    t = synthetic(200_000)
    print("| corpus / mix | kept | realised share | worst relative error |")
    print("|---|---|---|---|")
    target = {"web": 0.4, "books": 0.3, "code": 0.2, "wiki": 0.1}
    kept, took = run(t, stage="balance", weights=target)
    report("synthetic 200k, weights", kept, target)
    have = Counter(t["source"].to_pylist())
    z = sum(v ** 0.3 for v in have.values())
    alpha_target = {g: v ** 0.3 / z for g, v in have.items()}
    kept_a, took_a = run(t, stage="balance", alpha=0.3, upsample=True)
    report("synthetic 200k, alpha 0.3 + upsample", kept_a, alpha_target)
    _, base = run(t, stage="doc_length")
    web = pq.read_table(DATA / "web_docs.parquet", columns=["id", "text", "source"])
    wt = {"web": 0.5, "cc": 0.3, "stackexchange": 0.2}
    kept_w, _ = run(web, stage="balance", weights=wt, others="drop")
    report("web_docs, weights (others dropped)", kept_w, wt)
    print()
    print(f"cost on 200k documents: balance (weights) {took:.2f} s, (alpha + upsample) "
          f"{took_a:.2f} s; baseline doc_length {base:.2f} s; ratios {took / base:.2f}x and "
          f"{took_a / base:.2f}x")


if __name__ == "__main__":
    main()
