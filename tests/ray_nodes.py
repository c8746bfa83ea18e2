"""A Ray cluster of several nodes on this machine, for tests and benchmarks of the Ray engine.

Each node is one ``ray start --block`` process with its own ``--temp-dir`` and its own ports
(from ``base_port``: 50 per node, 40 of them for worker processes; `free_base_port` picks a
range no other cluster on this machine holds). Every
process of the cluster (GCS, raylet, workers, which rename themselves ``ray::...``) inherits an
environment variable naming it, which is how `processes` finds them, so `stop` can check that
nothing of the cluster is left running, and ``ray stop`` (which would stop every Ray cluster of
the machine, other users' too) is never needed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

PORTS_PER_NODE = 50
MARKER = "CORPUSFILTER_TEST_CLUSTER"


def marked_processes(marker: str) -> list[int]:
    """The pids of every running process whose environment has ``MARKER=marker`` (inherited;
    read from Linux's /proc, as psutil is not a dependency)."""
    want = f"{MARKER}={marker}".encode()
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if want in (d / "environ").read_bytes().split(b"\0"):
                found.append(int(d.name))
        except OSError:
            pass  # ended meanwhile, or another user's
    return found


def free_base_port(nodes: int = 2, first: int = 6400, step: int = 1000, tries: int = 20) -> int:
    """The first of ``first``, ``first + step``, ... whose whole port range for ``nodes`` nodes
    is free on 127.0.0.1 now, so a cluster already running here (a benchmark, another test
    run, a user's Ray) is not joined or broken."""
    import socket

    for k in range(tries):
        base = first + k * step
        socks = []
        try:
            for port in range(base, base + PORTS_PER_NODE * nodes):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no free range of {PORTS_PER_NODE * nodes} ports from {first}")


class LocalNodes:
    """``nodes`` Ray nodes of ``cpus`` CPUs each; the first is the head."""

    def __init__(self, root: Path, nodes: int = 2, cpus: int = 1, base_port: int = 6400):
        self.root = Path(root)
        self.base_port = base_port
        self.address = f"127.0.0.1:{base_port}"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.temp_dirs: list[Path] = []
        self.marker = f"nodes-{base_port}-{os.getpid()}-{time.time_ns()}"
        # Token authentication off: with a token in ~/.ray the head would enable it and the
        # second node (which does not) could not join; the nodes listen on 127.0.0.1 only.
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled",
               MARKER: self.marker}
        try:
            self._start(nodes, cpus, env)
        except BaseException:
            self.stop(timeout=20)
            raise

    def _start(self, nodes: int, cpus: int, env: dict[str, str]) -> None:
        base_port = self.base_port
        ray_bin = Path(sys.executable).with_name("ray")
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
                    f"--min-worker-port={p + 10}", f"--max-worker-port={p + PORTS_PER_NODE - 1}",
                    "--object-store-memory=200000000", "--node-ip-address=127.0.0.1"]
            if i == 0:
                args += ["--head", f"--port={p}", "--include-dashboard=false"]
            else:
                args += [f"--address={self.address}"]
            log = open(self.root / f"node-{i}.log", "wb")  # noqa: SIM115 (lives with the node)
            self.procs.append(subprocess.Popen(args, env=env, stdout=log, stderr=log,
                                               start_new_session=True))
            self._wait_for_nodes(i + 1)
        self._wait_registered(nodes, env)

    def _wait_registered(self, n: int, env: dict[str, str], timeout: float = 120.0) -> None:
        """Wait until the head knows all ``n`` nodes (a raylet runs before it registers)."""
        code = (f"import ray, time; ray.init(address={self.address!r}, logging_level='ERROR')\n"
                f"t = time.monotonic() + {timeout}\n"
                f"while sum(x['Alive'] for x in ray.nodes()) < {n} and time.monotonic() < t:\n"
                f"    time.sleep(0.3)\n"
                f"assert sum(x['Alive'] for x in ray.nodes()) >= {n}\n")
        subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=timeout + 60,
                       capture_output=True)

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

    def processes(self) -> list[int]:
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
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        return names


def cmdline(pid: int) -> list[str]:
    """A process's command line ([] once it has ended)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.rstrip(b"\0").split(b"\0")]


def rss(pid: int) -> int:
    """A process's resident memory in bytes (0 once it has ended)."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")
