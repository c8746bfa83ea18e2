"""Counting the documents of a JSON Lines shard (progress totals, `--limit`): the blank-line
aware count of `io/shards.py` against a plain newline count, on the same buffer in
interleaved rounds (min / median / max). The sample's rows, repeated to ~80 MB.

    python benchmarks/jsonl_rows.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from importlib import resources

import pyarrow.parquet as pq

from corpusfilter.io import shards


def blank_aware(data: bytes) -> int:
    cut = data.rfind(b"\n") + 1
    blank = len(shards._BLANK_AFTER_NEWLINE.findall(data, 0, cut)) + (
        shards._BLANK_FIRST.match(data, 0, cut) is not None)
    return data.count(b"\n", 0, cut) - blank


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    sample = resources.files("corpusfilter.resources") / "sample" / "web_sample.parquet"
    rows = pq.read_table(str(sample)).to_pylist()
    data = b"".join((json.dumps(r) + "\n").encode() for r in rows) * 20
    assert blank_aware(data) == data.count(b"\n")
    times: dict[str, list[float]] = {"newlines": [], "blank-aware": []}
    for _ in range(args.rounds):
        for name, fn in (("newlines", lambda d: d.count(b"\n")), ("blank-aware", blank_aware)):
            t0 = time.perf_counter()
            fn(data)
            times[name].append(time.perf_counter() - t0)
    print(f"{len(data) / 1e6:.0f} MB, {args.rounds} interleaved rounds (ms min/median/max)")
    for name, ts in times.items():
        print(f"  {name:12s} {min(ts) * 1e3:7.1f} {statistics.median(ts) * 1e3:7.1f} "
              f"{max(ts) * 1e3:7.1f}")
    ratio = [b / a for a, b in zip(times["newlines"], times["blank-aware"], strict=True)]
    print(f"  ratio blank-aware / newlines per round: min {min(ratio):.1f}, median "
          f"{statistics.median(ratio):.1f}, max {max(ratio):.1f}")


if __name__ == "__main__":
    main()
