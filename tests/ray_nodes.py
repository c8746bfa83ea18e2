"""A Ray cluster of several nodes on this machine, for tests and benchmarks of the Ray engine.

Each node is one ``ray start --block`` process with its own ``--temp-dir`` and its own ports
(from ``base_port``: 20 per node; ports 6400-6499 are this project's for such clusters). Every
process of the cluster (GCS, raylet, workers, which rename themselves ``ray::...``) inherits an
environment variable naming it, which is how `processes` finds them, so `stop` can check that
nothing of the cluster is left running, and ``ray stop`` (which would stop every Ray cluster of
the machine, other users' too) is never needed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

PORTS_PER_NODE = 20
MARKER = "CORPUSFILTER_TEST_CLUSTER"


def marked_processes(marker: str) -> list[psutil.Process]:
    """Every running process whose environment has ``MARKER=marker`` (inherited)."""
    found = []
    for p in psutil.process_iter(["pid"]):
        try:
            if p.environ().get(MARKER) == marker:
                found.append(p)
        except (psutil.Error, OSError):
            pass  # ended meanwhile, or another user's
    return found


class LocalNodes:
    """``nodes`` Ray nodes of ``cpus`` CPUs each; the first is the head."""

    def __init__(self, root: Path, nodes: int = 2, cpus: int = 1, base_port: int = 6400):
        self.root = Path(root)
        self.base_port = base_port
        self.address = f"127.0.0.1:{base_port}"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.temp_dirs: list[Path] = []
        ray_bin = Path(sys.executable).with_name("ray")
        self.marker = f"nodes-{base_port}-{os.getpid()}-{time.time_ns()}"
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", MARKER: self.marker}
        for i in range(nodes):
            # Ray's sockets live in the temp dir: its path must stay short (AF_UNIX: 107 bytes)
            tmp = Path(f"/tmp/rn{base_port}-{i}")
            shutil.rmtree(tmp, ignore_errors=True)
            self.temp_dirs.append(tmp)
            p = base_port + PORTS_PER_NODE * i
            args = [str(ray_bin), "start", "--block", f"--num-cpus={cpus}",
                    f"--temp-dir={tmp}", f"--node-manager-port={p + 1}",
                    f"--object-manager-port={p + 2}", f"--runtime-env-agent-port={p + 3}",
                    f"--dashboard-agent-grpc-port={p + 4}",
                    f"--dashboard-agent-listen-port={p + 5}", f"--metrics-export-port={p + 6}",
                    f"--min-worker-port={p + 10}", f"--max-worker-port={p + 19}",
                    "--object-store-memory=200000000", "--node-ip-address=127.0.0.1"]
            if i == 0:
                args += ["--head", f"--port={p}", "--include-dashboard=false",
                         f"--ray-client-server-port={p + 7}"]
            else:
                args += [f"--address={self.address}"]
            log = open(self.root / f"node-{i}.log", "wb")  # noqa: SIM115 (lives with the node)
            self.procs.append(subprocess.Popen(args, env=env, stdout=log, stderr=log,
                                               start_new_session=True))
            self._wait_for_nodes(i + 1)

    def _wait_for_nodes(self, n: int, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            raylets = [" ".join(cmdline(p)) for p in self.processes()
                       if "raylet/raylet" in " ".join(cmdline(p))]
            if len({d for d in self.temp_dirs if any(str(d) in r for r in raylets)}) >= n:
                return
            if any(p.poll() is not None for p in self.procs):
                raise RuntimeError(f"a Ray node did not start: see {self.root}/node-*.log")
            time.sleep(0.5)
        raise RuntimeError(f"{n} Ray node(s) not up after {timeout:.0f}s; see {self.root}")

    def processes(self) -> list[psutil.Process]:
        """Every running process of this cluster."""
        return marked_processes(self.marker)

    def stop(self, timeout: float = 60.0) -> list[str]:
        """Stop every node; return the command lines of processes still alive after
        ``timeout`` (then killed), which a clean shutdown leaves empty."""
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        while time.monotonic() < deadline and self.processes():
            time.sleep(0.5)
        left = self.processes()
        names = [" ".join(cmdline(p))[:200] for p in left]
        for p in left:
            p.kill()
        return names


def cmdline(p: psutil.Process) -> list[str]:
    """A process's command line ([] once it has ended)."""
    try:
        return p.cmdline()
    except psutil.Error:
        return []
