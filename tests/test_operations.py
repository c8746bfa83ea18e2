"""What operators do to long runs: signals, killed drivers and workers, kills during the
commit, inputs changed between crash and resume, two runs into one directory, hostile YAML."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from conftest import SAMPLE, run_cli, write_shards

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    """The 414 real web documents of the sample corpus in four shards."""
    d = tmp_path_factory.mktemp("ops_in")
    write_shards(pq.read_table(SAMPLE), d, 4)
    return d


def _start(inputs: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "corpusfilter.cli", "run", "default", str(inputs), "-o",
           str(out), "--no-progress", "-q", "--workers", "2", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _children(pid: int) -> list[int]:
    """Live child processes of `pid` (from /proc)."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            kids.append(int(stat.parent.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for_workers(proc: subprocess.Popen[str], out: Path, n: int = 2) -> list[int]:
    """Wait until `n` pool workers run units (they record their pid), return the children."""
    deadline = time.time() + 120
    while time.time() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        if len(list((out / "_work" / "seg-0").glob("*.pid"))) >= n:
            return _children(proc.pid)
        time.sleep(0.05)
    raise AssertionError("the workers never started a unit")


def _gone_within(pids: list[int], seconds: float) -> list[int]:
    deadline = time.time() + seconds
    while time.time() < deadline:
        left = [p for p in pids if _alive(p)]
        if not left:
            return []
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


@pytest.mark.skipif(not Path("/proc").exists(), reason="needs /proc")
def test_sigterm_stops_workers_says_where_and_resumes(shards, tmp_path):
    out = tmp_path / "out"
    proc = _start(shards, out)
    kids = _wait_for_workers(proc, out)
    assert len(kids) >= 3  # two workers and the resource tracker
    proc.send_signal(signal.SIGTERM)  # to the driver only, as `kill` or systemd do
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    assert "interrupted by SIGTERM in phase 1/3 with" in err
    assert f"rerun the same command to resume {out}" in err
    assert _gone_within(kids, 10) == []
    resumed = run_cli("run", "default", str(shards), "-o", str(out), "--no-progress", "-q",
                      "--workers", "2")
    assert "resuming the run" in resumed.stderr
    assert run_cli("verify", str(out)).returncode == 0


@pytest.mark.skipif(not Path("/proc").exists(), reason="needs /proc")
def test_sigkill_of_the_driver_leaves_no_process_behind(shards, tmp_path):
    out = tmp_path / "out"
    proc = _start(shards, out)
    kids = _wait_for_workers(proc, out)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert _gone_within(kids, 15) == [], "orphaned workers survived the driver"


@pytest.mark.skipif(not Path("/proc").exists(), reason="needs /proc")
def test_a_killed_worker_names_its_shard_and_the_rerun_resumes(shards, tmp_path):
    out = tmp_path / "out"
    proc = _start(shards, out)
    _wait_for_workers(proc, out)
    pid_file = sorted((out / "_work" / "seg-0").glob("*.pid"))[0]
    victim, shard = int(pid_file.read_text()), pid_file.name[:-4]
    os.kill(victim, signal.SIGKILL)  # what the out-of-memory killer does
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert "Traceback" not in err and "BrokenProcessPool" not in err
    assert f"worker process {victim} was killed by SIGKILL" in err
    assert f"while processing shard {shard} in phase 1/3" in err
    assert "rerun the same command to resume" in err
    run_cli("run", "default", str(shards), "-o", str(out), "--no-progress", "-q")
    assert run_cli("verify", str(out)).returncode == 0


# -- the commit: no pre-scrub text in a complete run ---------------------------------------

SCRUB_RECIPE = """
stages:
  - stage: doc_length
  - stage: exact_dedup
  - stage: pii
"""
EMAIL = "jane.roe.4711@example.org"


def _texts_containing(out: Path, needle: str) -> list[str]:
    """Every Parquet file under `out` with a string cell containing `needle`."""
    hits = []
    for f in sorted(out.rglob("*.parquet")):
        t = pq.read_table(f)
        for name in t.column_names:
            col = t[name]
            if pa.types.is_string(col.type) and pc.any(pc.match_substring(col, needle)).as_py():
                hits.append(str(f.relative_to(out)))
                break
    return hits


class _Killed(BaseException):
    """Stands for SIGKILL at one point of the run: nothing after it runs."""


def test_kill_between_run_json_and_cleanup_leaves_no_prescrub_text(tmp_path, monkeypatch):
    from corpusfilter.engines import local

    t = pq.read_table(SAMPLE).slice(0, 60).select(["id", "text", "source"])
    texts = t["text"].to_pylist()
    for i in range(0, 60, 6):
        texts[i] += f"\n\nWrite to {EMAIL} for the details."
    src = tmp_path / "pii.parquet"
    pq.write_table(t.set_column(1, "text", pa.array(texts)), src)
    recipe = tmp_path / "scrub.yaml"
    recipe.write_text(SCRUB_RECIPE)
    out = tmp_path / "out"

    def killed(out_dir: Path, run: dict) -> None:
        raise _Killed

    monkeypatch.setattr(local, "_commit", killed)
    with pytest.raises(_Killed):
        local.LocalEngine(str(recipe), progress=False).run([src], out)
    monkeypatch.undo()
    assert json.loads((out / "run.json").read_text())["status"] == "cleanup"
    assert _texts_containing(out, EMAIL), "the kill came too late: nothing to clean up"
    assert not _texts_containing(out / "data", EMAIL)
    # verify refuses the half-committed run and says what to do
    v = run_cli("verify", str(out), check=False)
    assert v.returncode == 1
    assert "intermediate file(s), including text from before later stages" in v.stdout
    assert "rerun the same command" in v.stdout
    # the rerun finishes the commit without redoing anything
    rerun = run_cli("run", str(recipe), str(src), "-o", str(out), "--no-progress", "-q")
    assert "nothing to do" in rerun.stderr
    assert _texts_containing(out, EMAIL) == []
    assert not (out / "_work").exists()
    assert json.loads((out / "run.json").read_text())["status"] == "complete"
    assert run_cli("verify", str(out)).returncode == 0
