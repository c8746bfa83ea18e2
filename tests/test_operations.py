"""What operators do to long runs: signals, killed drivers and workers, kills during the
commit, inputs changed between crash and resume, two runs into one directory, hostile YAML."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from conftest import SAMPLE, TWO_PHASE_RECIPE, run_cli, write_shards
from corpusfilter import Pipeline

# phases of the default recipe (one per global stage, plus the last)
PHASES = len(Pipeline.load("default").segments)

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
    assert f"interrupted by SIGTERM in phase 1/{PHASES} with" in err
    assert f"rerun the same command to resume {out}" in err
    assert _gone_within(kids, 10) == []
    assert not list(out.rglob("*.tmp"))  # no half-written file of the stopped units
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
    assert f"while processing shard {shard} in phase 1/{PHASES}" in err
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


# -- resume keyed on content; one run per directory -----------------------------------------

def _digest(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes()
            for sub in ("data", "ledger") for p in sorted((out / sub).iterdir())}


@pytest.fixture()
def light(tmp_path) -> tuple[Path, Path]:
    """Four uncompressed shards of the sample corpus and a two-phase recipe."""
    d = tmp_path / "in"
    d.mkdir()
    t = pq.read_table(SAMPLE)
    step = -(-t.num_rows // 4)
    for i in range(4):
        pq.write_table(t.slice(i * step, step), d / f"part-{i:03d}.parquet", compression="none")
    recipe = tmp_path / "light.yaml"
    recipe.write_text(TWO_PHASE_RECIPE)
    return d, recipe


def _assert_resumed_as_fresh(stderr: str, kept: list[str], recipe: Path, inputs: Path,
                             out: Path, fresh: Path) -> None:
    """The resumed run skipped `kept` shards and equals a fresh run on the current input."""
    for key in kept:
        assert f"shard {key} already done" in stderr
    run_cli("run", str(recipe), str(inputs), "-o", str(fresh), "--no-progress", "-q")
    assert _digest(out) == _digest(fresh)
    assert run_cli("verify", str(out)).returncode == 0


def _same_size_rewrite(path: Path) -> None:
    """Change one character of one document: same byte size, different content."""
    t = pq.read_table(path)
    texts = t["text"].to_pylist()
    i = next(i for i, x in enumerate(texts) if len(x) > 400 and "e" in x)
    texts[i] = texts[i].replace("e", "E", 1)
    size = path.stat().st_size
    time.sleep(0.01)  # a rewrite a moment later, as between a crash and the rerun
    pq.write_table(t.set_column(t.schema.get_field_index("text"), "text", pa.array(texts)),
                   path, compression="none")
    assert path.stat().st_size == size


def test_a_same_size_changed_shard_is_redone_not_mixed(light, tmp_path, monkeypatch):
    from corpusfilter.engines import local

    inputs, recipe = light
    out = tmp_path / "out"
    run_segment = local.LocalEngine._run_segment

    def killed_in_phase_2(self, seg, *args):
        if seg.index == 1:
            raise _Killed
        return run_segment(self, seg, *args)

    monkeypatch.setattr(local.LocalEngine, "_run_segment", killed_in_phase_2)
    with pytest.raises(_Killed):
        local.LocalEngine(str(recipe), progress=False).run([inputs], out)
    monkeypatch.undo()
    assert (out / "_work" / "plan-0.pkl").exists()  # phase 1 finished and planned
    _same_size_rewrite(inputs / "part-002.parquet")
    resumed = run_cli("run", str(recipe), str(inputs), "-o", str(out), "--no-progress")
    assert "shard part-002 changed since it was processed (new modification time" in \
        resumed.stderr
    assert "redoing every phase after the first" in resumed.stderr
    _assert_resumed_as_fresh(resumed.stderr, ["part-000", "part-001", "part-003"], recipe,
                             inputs, out, tmp_path / "fresh")
    # a complete run whose input then changes is refused by name, not reported as done
    _same_size_rewrite(inputs / "part-001.parquet")
    again = run_cli("run", str(recipe), str(inputs), "-o", str(out), check=False)
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert "input changed since: shard part-001 (new modification time)" in again.stderr
    assert "--overwrite" in again.stderr


def _corrupt_a_data_page(path: Path) -> bytes:
    """Overwrite bytes inside the zstd-compressed text column chunk; returns the original."""
    original = path.read_bytes()
    meta = pq.read_metadata(path)
    col = next(meta.row_group(0).column(j) for j in range(meta.num_columns)
               if meta.row_group(0).column(j).path_in_schema == "text")
    start = col.dictionary_page_offset or col.data_page_offset
    mid = start + col.total_compressed_size // 2
    damaged = bytearray(original)
    damaged[mid:mid + 64] = b"\xff" * 64
    path.write_bytes(bytes(damaged))
    return original


@pytest.mark.parametrize("fix", ["repaired", "removed"])
def test_after_a_corrupt_shard_the_run_resumes_without_overwrite(light, tmp_path, fix):
    inputs, recipe = light
    bad = inputs / "part-003.parquet"
    t = pq.read_table(bad)
    pq.write_table(t, bad, compression="zstd")
    original = _corrupt_a_data_page(bad)
    out = tmp_path / "out"
    failed = run_cli("run", str(recipe), str(inputs), "-o", str(out), "--no-progress",
                     check=False)
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    assert "shard part-003: failed while reading" in failed.stderr
    assert "repair or remove it and rerun the same command (finished shards are not " \
        "redone)" in failed.stderr
    if fix == "repaired":
        bad.write_bytes(original)
    else:
        bad.unlink()
    resumed = run_cli("run", str(recipe), str(inputs), "-o", str(out), "--no-progress")
    _assert_resumed_as_fresh(resumed.stderr, ["part-000", "part-001", "part-002"], recipe,
                             inputs, out, tmp_path / "fresh")


def test_a_second_run_into_a_directory_in_use_is_refused_cleanly(light, tmp_path):
    from corpusfilter.io.lock import OutputLock

    inputs, recipe = light
    out = tmp_path / "out"
    with OutputLock(out):  # this test process is the first run
        second = run_cli("run", str(recipe), str(inputs), "-o", str(out), "--no-progress",
                         check=False)
        assert second.returncode == 2 and "Traceback" not in second.stderr
        assert f"output directory {out} is in use by another corpusfilter run (pid " \
               f"{os.getpid()} on" in second.stderr
        assert "wait for it to finish or choose another -o directory" in second.stderr
        assert sorted(p.name for p in out.iterdir()) == [".corpusfilter.lock"]
    # once the first run is over (its lock released with it), the directory is usable
    run_cli("run", str(recipe), str(inputs), "-o", str(out), "--no-progress", "-q")
    assert run_cli("verify", str(out)).returncode == 0


# -- hostile or mistaken pipeline files ---------------------------------------------------

def _alias_bomb() -> str:
    """The classic "billion laughs": nine levels of nine aliases, ~9^9 nodes once expanded."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\nstages:\n  - stage: doc_length\n    name: *i\n"


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs prlimit (util-linux)")
def test_the_alias_bomb_is_refused_before_it_expands(tmp_path):
    bomb = _alias_bomb()
    assert len(bomb.encode()) < 450
    y = tmp_path / "bomb.yaml"
    y.write_text(bomb)
    # in a child limited to 10 CPU seconds (before: ~90 s, then MemoryError)
    proc = run_cli("run", str(y), str(SAMPLE), "-o", str(tmp_path / "o"), check=False,
                   prefix=["prlimit", "--cpu=10"])
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "expands to more than 100,000 YAML nodes through aliases" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_recursive_aliases_and_oversized_files_are_refused(tmp_path):
    from corpusfilter import ConfigError
    from corpusfilter.core.config import load_config

    y = tmp_path / "loop.yaml"
    y.write_text("x: &x [1, *x]\nstages:\n  - stage: doc_length\n")
    with pytest.raises(ConfigError, match="an alias refers to a node that contains it"):
        load_config(y)
    y.write_text("stages:\n  - stage: doc_length\n" + "# padding\n" * 120_000)
    with pytest.raises(ConfigError, match="is larger than 1,000,000 bytes"):
        load_config(y)
    # anchors and aliases within bounds are fine: a shared parameter block
    y.write_text("stages:\n  - stage: doc_length\n    min_words: &n 50\n"
                 "  - stage: gopher_quality\n    min_words: *n\n")
    assert [s["min_words"] for s in load_config(y).stages] == [50, 50]


@pytest.mark.parametrize(("setting", "message"), [
    ("max_doc_chars: -1", "max_doc_chars must be a whole number of at least 1 (default "
                          "10000000), or null for no limit; got -1"),
    ("max_doc_chars: '5000'", "got '5000' (a string: write the number without quotes)"),
    ("max_removal_rate: .nan", "max_removal_rate must be a fraction between 0 and 1 "
                               "(default 0.9), or null to disable the alarm; got nan"),
    ("max_removal_rate: 1.5", "got 1.5"),
    ("max_removal_rate: high", "got 'high' (a string"),
    ("alarm_min_docs: true", "alarm_min_docs must be a whole number of at least 0"),
    ("text_column: 5", "text_column must be a column name (a non-empty string), got 5"),
    ("id_column: text", "text_column and id_column are both 'text'"),
    ("facets: source", "facets must be a list of column names, e.g. [source, lang]"),
    ("on_invalid: skip", "on_invalid must be 'remove' or 'error', got 'skip'"),
    ("stages: [doc_length]", "stages[0] is 'doc_length', not a stage entry; write "
                             "`- stage: NAME`"),
])
def test_every_top_level_setting_is_validated_with_the_fix(tmp_path, setting, message):
    y = tmp_path / "p.yaml"
    body = setting + "\n"
    if not setting.startswith("stages"):
        body += "stages:\n  - stage: doc_length\n"
    y.write_text(body)
    proc = run_cli("run", str(y), str(SAMPLE), "-o", str(tmp_path / "o"), check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert f"corpusfilter: error: {y}: " in proc.stderr
    assert message in proc.stderr


def test_settings_changed_in_python_are_validated_too():
    from corpusfilter import ConfigError, Pipeline

    with pytest.raises(ConfigError, match="max_doc_chars must be a whole number"):
        Pipeline("minimal", max_doc_chars=0)
    with pytest.raises(ConfigError, match="max_removal_rate must be a fraction"):
        Pipeline("minimal", max_removal_rate=float("nan"))


# -- disk full ------------------------------------------------------------------------------

# Loaded by every Python process of the run (driver and spawned workers) through PYTHONPATH:
# writing the results of shard part-002 fails as on a full disk.
DISK_FULL = '''
import errno, os
import pyarrow.parquet as pq
_write = pq.write_table
def write_table(table, where, *args, **kwargs):
    if "part-002" in str(where):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(where))
    return _write(table, where, *args, **kwargs)
pq.write_table = write_table
'''


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_full_disk_names_the_shard_and_the_rerun_resumes(light, tmp_path, workers):
    inputs, recipe = light
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(DISK_FULL)
    env = {"PYTHONPATH": os.pathsep.join([str(inject), os.environ.get("PYTHONPATH", "")])}
    out = tmp_path / "out"
    full = run_cli("run", str(recipe), str(inputs), "-o", str(out), "--no-progress",
                   "--workers", workers, check=False, env=env)
    assert full.returncode == 2, full.stderr
    assert "Traceback" not in full.stderr
    assert "corpusfilter: error: shard part-002: No space left on device (" in full.stderr
    assert "in phase 1/2; fix the cause (e.g. free disk space) and rerun the same command " \
           "to resume" in full.stderr
    assert not list(out.rglob("*.tmp"))  # no half-written file left behind
    resumed = run_cli("run", str(recipe), str(inputs), "-o", str(out), "--no-progress")
    assert "shard part-002 done" in resumed.stderr
    assert run_cli("verify", str(out)).returncode == 0


def test_ray_workers_while_another_cluster_runs_is_a_clear_error(light, tmp_path,
                                                                  monkeypatch):
    """Ray's own refusal (raised by `ray.init` when it finds a cluster started with `ray
    start` and is given `num_cpus`) becomes one line saying what to do. Starting a real
    second cluster here would capture the Ray tests running beside this one."""
    ray = pytest.importorskip("ray")
    from corpusfilter.core.errors import CorpusFilterError
    from corpusfilter.engines.ray_engine import RayEngine

    def init(**kwargs):
        assert kwargs.get("num_cpus") == 2
        raise ValueError("When connecting to an existing cluster, num_cpus and num_gpus must "
                         "not be provided.")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    inputs, recipe = light
    with pytest.raises(CorpusFilterError, match=r"a Ray cluster is already running on this "
                       r"machine, so --workers 2 cannot start one of that size; run on it "
                       r"with --address auto"):
        RayEngine(str(recipe), workers=2).run([inputs], tmp_path / "out")


def test_fingerprint_sees_size_mtime_and_footer_changes(tmp_path):
    from corpusfilter.io.fingerprint import describe_change, shard_fingerprint

    t = pq.read_table(SAMPLE).select(["id", "text"])
    p = tmp_path / "s.parquet"
    pq.write_table(t.slice(0, 50), p)
    first = shard_fingerprint(p)
    assert shard_fingerprint(p) == first  # reading changes nothing
    st = p.stat()
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert describe_change(first, shard_fingerprint(p)) == "new modification time"
    # other rows written, the old mtime put back: the footer's statistics still differ
    pq.write_table(t.slice(50, 50), p)
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert "Parquet footer" in describe_change(first, shard_fingerprint(p))
    # a file that is not Parquet (no footer) is fingerprinted by its tail
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"x" * 100)
    before = shard_fingerprint(bad)
    bad.write_bytes(b"x" * 99 + b"y")
    os.utime(bad, ns=(bad.stat().st_atime_ns, int(before.split(":")[1])))
    assert describe_change(before, shard_fingerprint(bad)) == "new Parquet footer"


def test_an_output_path_that_is_a_file_is_a_clear_error(light, tmp_path):
    inputs, recipe = light
    f = tmp_path / "taken"
    f.write_text("not a directory")
    proc = run_cli("run", str(recipe), str(inputs), "-o", str(f), check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"cannot use {f} as the output directory" in proc.stderr
