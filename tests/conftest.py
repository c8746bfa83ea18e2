"""Shared fixtures. Tests use only data inside the repository (a user's clone has no
../shared): the bundled sample corpus and slices under tests/data/."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "src" / "corpusfilter" / "resources" / "sample" / "web_sample.parquet"
TEST_DATA = ROOT / "tests" / "data"

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

# A quick pipeline with a barrier (two phases): engines, resume and the command line use it.
TWO_PHASE_RECIPE = """
stages:
  - stage: doc_length
    min_chars: 300
  - stage: exact_dedup
  - stage: doc_length
    name: too_long
    max_chars: 15000
"""

# In CI the same examples every run (a failure is reproducible, never flaky); locally
# hypothesis explores new examples each time.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(scope="session")
def sample_table() -> pa.Table:
    """414 real web documents (see resources/sample/README.md)."""
    return pq.read_table(SAMPLE)


def write_shards(table: pa.Table, directory: Path, n: int, prefix: str = "part") -> list[Path]:
    """Split a table into `n` Parquet shards (contiguous row ranges)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    step = -(-table.num_rows // n) if table.num_rows else 0
    for i in range(n):
        p = directory / f"{prefix}-{i:03d}.parquet"
        pq.write_table(table.slice(i * step, step) if step else table, p)
        paths.append(p)
    return paths


def run_cli(*args: str, check: bool = True, env: dict[str, str] | None = None,
            prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the `corpusfilter` command of this environment in a subprocess."""
    cmd = [*(prefix or []), sys.executable, "-m", "corpusfilter.cli", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})},
                          timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def pipeline_file(factory: pytest.TempPathFactory, text: str) -> Path:
    """A pipeline file with `text` in a fresh temporary directory."""
    p = factory.mktemp("pipe") / "pipe.yaml"
    p.write_text(text)
    return p


def run_killed_after_first_unit(args: list[str], work_dir: Path,
                                env: dict[str, str] | None = None) -> None:
    """Start ``corpusfilter run ARGS`` and SIGKILL its whole process group as soon as the
    first unit of phase 1 is marked done under `work_dir` (the run's directory or staging)."""
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "corpusfilter.cli", "run", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=env, start_new_session=True)
    work = work_dir / "_work" / "seg-0"
    deadline = time.time() + 120
    while time.time() < deadline and not (work.exists() and list(work.glob("*.done"))):
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _no_network_prefix() -> list[str] | None:
    """A command prefix that runs a process with no network (root: -n; else also -r)."""
    import shutil

    if shutil.which("unshare") is None:
        return None
    for prefix in (["unshare", "-n"], ["unshare", "-rn"]):
        if subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
            return prefix
    return None


UNSHARE = _no_network_prefix()
