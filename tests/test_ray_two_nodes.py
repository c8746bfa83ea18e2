"""The Ray engine on a two-node cluster (two ``ray start`` processes on this machine): output
byte-identical to the local engine's, every phase's units on both nodes with two shards, final
files written by the workers (the driver only renames), and no process left behind (issue #22).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from conftest import write_shards
from corpusfilter.engines.local import LocalEngine
from ray_nodes import MARKER, LocalNodes, cmdline, free_base_port, marked_processes

pytestmark = [pytest.mark.ray, pytest.mark.slow]

RECIPE = {"max_removal_rate": 1.0,
          "stages": [{"stage": "doc_length"}, {"stage": "exact_dedup", "keep": "longest"},
                     {"stage": "minhash_dedup"},
                     {"stage": "doc_length", "name": "long_enough", "min_chars": 300}]}


@pytest.fixture(scope="module")
def two_shards(sample_table: pa.Table, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample plus 60 of its documents again under new ids (exact duplicates that cross
    the two shards), so both dedup stages remove documents."""
    copies = sample_table.slice(0, 60)
    copies = copies.set_column(copies.schema.get_field_index("id"), "id",
                               pa.array([f"again-{i}" for i in range(60)]))
    d = tmp_path_factory.mktemp("two-in")
    write_shards(pa.concat_tables([sample_table, copies]), d, 2)
    return d


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes()
            for sub in ("data", "ledger") for p in sorted((out / sub).iterdir())}


def _counters(out: Path) -> dict[str, Any]:
    def strip(o: Any) -> Any:
        if isinstance(o, dict):
            return {k: strip(v) for k, v in o.items() if "seconds" not in k}
        return o
    return strip(json.loads((out / "stats.json").read_text()))


def _drive(address: str, inputs: str, out: str) -> tuple[list[tuple[int, str, int, str]],
                                                         list[str], bool, int]:
    """The driver of the Ray run, in a fresh process with token authentication off like the
    nodes: `ray.init` in an earlier test sets RAY_AUTH_MODE=token in the pytest process's
    environment, and a token-mode driver rejects the GCS's unauthenticated calls, which the GCS
    takes for a dead owner and answers by destroying the run's actors."""
    os.environ["RAY_AUTH_MODE"] = "disabled"
    import ray

    from corpusfilter.engines.ray_engine import RayEngine, UnitDone
    from corpusfilter.io import atomic

    # Every atomic write of this process (the driver): none may be an output file.
    written: list[str] = []
    real = atomic.atomic_write

    def spy(path: Any, write: Any) -> None:
        written.append(str(path))
        real(path, write)

    atomic.atomic_write = spy  # type: ignore[assignment]
    units: list[UnitDone] = []
    RayEngine(RECIPE, progress=False, address=address, on_unit=units.append).run(
        [Path(inputs)], Path(out))
    return ([(u.result.segment, u.result.key, u.pid, u.node) for u in units], written,
            ray.is_initialized(), os.getpid())


def test_two_nodes_same_bytes_balanced_written_by_workers_nothing_left(
        two_shards: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    LocalEngine(RECIPE, workers=1, progress=False).run([two_shards], tmp_path / "local")
    nodes = LocalNodes(tmp_path, nodes=2, cpus=1, base_port=free_base_port(2))
    try:
        assert len(nodes.processes()) >= 4  # the check below can see the nodes' processes
        out = tmp_path / "ray"
        with concurrent.futures.ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn")) as pool:
            units, written, still_connected, driver_pid = pool.submit(
                _drive, nodes.address, str(two_shards), str(out)).result(timeout=900)
        assert not still_connected  # the driver disconnected
        deadline = time.monotonic() + 10  # ray.kill returns before the process has ended
        while (actors := [p for p in nodes.processes() if "UnitActor" in " ".join(cmdline(p))]) \
                and time.monotonic() < deadline:
            time.sleep(0.2)

    finally:
        left = nodes.stop()
    assert left == [], left  # every process of both nodes ended
    assert actors == []  # the run's actors were gone before the cluster was stopped
    assert _files(out) == _files(tmp_path / "local")
    assert _counters(out) == _counters(tmp_path / "local")
    # 3 phases x 2 shards; in every phase one unit on each node, never in the driver
    assert len(units) == 6
    for seg in range(3):
        assert len({node for s, _, _, node in units if s == seg}) == 2, \
            [(s, key, pid, node[:8]) for s, key, pid, node in units]
    assert all(pid != driver_pid for _, _, pid, _ in units)
    finals = [p for p in map(Path, written) if p.parent.name in ("data", "ledger", "scores")]
    assert finals == [], finals  # the driver wrote no output file, it only renamed them
    assert any(p.name == "run.json" for p in map(Path, written))


def test_a_cluster_started_for_the_run_leaves_no_process(two_shards: Path,
                                                         tmp_path: Path) -> None:
    """Without --address the run starts a local cluster; when the command has returned,
    no process of that cluster is running (issue #22: a worker outlived 3 of 6 runs)."""
    pytest.importorskip("ray")
    marker = f"own-{os.getpid()}-{time.time_ns()}"
    root = Path(f"/tmp/rn-own-{os.getpid()}")  # short: Ray's socket paths live under it
    env = {**os.environ, "RAY_TMPDIR": str(root), MARKER: marker}
    env.pop("RAY_ADDRESS", None)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(json.dumps(RECIPE))  # JSON is YAML
    try:
        run = subprocess.Popen(
            [str(Path(sys.executable).with_name("corpusfilter")), "run", str(recipe),
             str(two_shards), "-o", str(tmp_path / "out"), "--engine", "ray", "--workers",
             "2", "--no-progress", "-q"], env=env, stderr=(tmp_path / "stderr").open("w"))
        seen = 0  # processes of the run's cluster while it runs (the check below can see them)
        while run.poll() is None:
            seen = max(seen, len(marked_processes(marker)))
            time.sleep(0.5)
        assert run.returncode == 0, (tmp_path / "stderr").read_text()[-2000:]
        assert seen >= 3
        assert json.loads((tmp_path / "out" / "run.json").read_text())["status"] == "complete"
        left = marked_processes(marker)
        assert left == [], [" ".join(cmdline(p))[:150] for p in left]
    finally:
        for pid in marked_processes(marker):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)
