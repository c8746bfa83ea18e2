"""What operators do to a run, measured: signals, a killed driver, a killed worker, the YAML
alias bomb, and the cost of the per-shard content fingerprint that resume relies on.

On the real ``web_docs.parquet`` (1,425 documents, split into 4 shards), the default recipe
with ``--workers 2``; each signal case is repeated ``--rounds`` times (min / median / max):

* SIGTERM to the driver once both workers run a unit: exit code, seconds until the driver
  has exited, processes of the run still alive 1 s later;
* SIGKILL of the driver: seconds until every worker and the resource tracker are gone;
* SIGKILL of one worker: exit code and whether the message names the worker's shard;
* the 385-byte "billion laughs" pipeline file: CPU seconds until it is refused;
* fingerprint of a shard (size, mtime, Parquet footer hash) vs hashing the whole file with
  xxh64, on the same files, interleaved.

Run: ``.venv/bin/python benchmarks/operations.py [--rounds 3]`` (Linux: reads /proc).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import xxhash

from corpusfilter.core.config import load_yaml
from corpusfilter.core.errors import ConfigError
from corpusfilter.io.fingerprint import shard_fingerprint

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def spread(xs: list[float], fmt: str = "{:.2f}") -> str:
    return " / ".join(fmt.format(v) for v in (min(xs), statistics.median(xs), max(xs)))


def descendants(pid: int) -> set[int]:
    """Processes whose parent is `pid` (one level: pool workers and the resource tracker)."""
    found = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(entry.name))
    return found


def living(pids: set[int]) -> set[int]:
    alive = set()
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    alive.add(p)
        except OSError:
            pass
    return alive


def start(shards: Path, out: Path) -> tuple[subprocess.Popen[str], set[int]]:
    cmd = [sys.executable, "-m", "corpusfilter.cli", "run", "default", str(shards), "-o",
           str(out), "--no-progress", "-q", "--workers", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    work = out / "_work" / "seg-0"
    while len(list(work.glob("*.pid"))) < 2:
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read() if proc.stderr else "run ended early")
        time.sleep(0.02)
    return proc, descendants(proc.pid)


def sigterm_round(shards: Path, out: Path) -> tuple[int, float, int]:
    proc, kids = start(shards, out)
    t0 = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    proc.communicate()
    seconds = time.perf_counter() - t0
    time.sleep(1.0)
    return proc.returncode, seconds, len(living(kids))


def sigkill_round(shards: Path, out: Path) -> tuple[float, int]:
    proc, kids = start(shards, out)
    t0 = time.perf_counter()
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    while living(kids) and time.perf_counter() - t0 < 30:
        time.sleep(0.01)
    return time.perf_counter() - t0, len(living(kids))


def worker_kill_round(shards: Path, out: Path) -> tuple[int, bool]:
    proc, _ = start(shards, out)
    pid_file = sorted((out / "_work" / "seg-0").glob("*.pid"))[0]
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    _, err = proc.communicate()
    return proc.returncode, f"shard {pid_file.name[:-4]}" in err and "Traceback" not in err


def alias_bomb() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"{n}: &{n} [" + ",".join([f"*{p}"] * 9) + "]"
              for p, n in zip("abcdefgh", "bcdefghi", strict=True)]
    return "\n".join(lines) + "\nstages:\n  - stage: doc_length\n    name: *i\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    table = pq.read_table(DATA / "web_docs.parquet")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        shards = tmp / "in"
        shards.mkdir()
        step = -(-table.num_rows // 4)
        for i in range(4):
            pq.write_table(table.slice(i * step, step), shards / f"part-{i}.parquet")
        print(f"web_docs.parquet: {table.num_rows} documents in 4 shards; default recipe, "
              f"--workers 2; {args.rounds} rounds (min / median / max)")

        term = [sigterm_round(shards, tmp / f"term{r}") for r in range(args.rounds)]
        print(f"SIGTERM to the driver: exit codes {sorted({c for c, _, _ in term})}, "
              f"seconds to exit {spread([s for _, s, _ in term])}, processes left 1 s later "
              f"{max(n for _, _, n in term)}")
        kill = [sigkill_round(shards, tmp / f"kill{r}") for r in range(args.rounds)]
        print(f"SIGKILL of the driver: seconds until workers and resource tracker are gone "
              f"{spread([s for s, _ in kill])}, processes left {max(n for _, n in kill)}")
        lost = [worker_kill_round(shards, tmp / f"lost{r}") for r in range(args.rounds)]
        print(f"SIGKILL of a worker: exit codes {sorted({c for c, _ in lost})}, message names "
              f"the shard without a traceback in {sum(ok for _, ok in lost)}/{len(lost)} runs")

        bomb, cpu = alias_bomb(), []
        for _ in range(5):
            t0 = time.process_time()
            try:
                load_yaml(bomb, "bomb")
            except ConfigError:
                cpu.append(time.process_time() - t0)
        print(f"alias bomb ({len(bomb.encode())} bytes): refused in {len(cpu)}/5 tries, CPU "
              f"seconds {spread(cpu, '{:.4f}')}")

        files = sorted(shards.iterdir())
        fp, full = [], []
        for _ in range(20):  # interleaved rounds: the page cache is warm for both
            t0 = time.perf_counter()
            for f in files:
                shard_fingerprint(f)
            fp.append((time.perf_counter() - t0) / len(files))
            t0 = time.perf_counter()
            for f in files:
                xxhash.xxh64_hexdigest(f.read_bytes())
            full.append((time.perf_counter() - t0) / len(files))
        size = sum(f.stat().st_size for f in files) / len(files) / 1e6
        print(f"fingerprint per shard ({size:.1f} MB): {spread([x * 1e6 for x in fp], '{:.0f}')}"
              f" µs; whole-file xxh64 {spread([x * 1e6 for x in full], '{:.0f}')} µs; ratio "
              f"(median) {statistics.median(full) / statistics.median(fp):.1f}x")


if __name__ == "__main__":
    main()
