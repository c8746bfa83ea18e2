"""The ray engine gives the local engine's outputs, survives a killed worker and resumes.

One local Ray cluster (2 CPUs) is shared by the whole module. The corpus is the bundled web
sample plus re-crawled copies (case and layout changed, new ids) spread over several shards,
so exact duplicates cross shard boundaries and land in different key partitions.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpusfilter.core import registry
from corpusfilter.core.docs import Docs
from corpusfilter.core.errors import CorpusFilterError, InputError
from corpusfilter.core.stage import Filter
from corpusfilter.engines.local import LocalEngine
from corpusfilter.verify import verify

pytestmark = pytest.mark.ray

N_SHARDS = 8


class KillOnce(Filter):
    """Test-only fault injection; keeps every document. While the file `slow` exists, each
    batch takes 0.15 s (so a run can be interrupted with units still pending). Once the file
    `arm` exists, it SIGKILLs its own worker process in the middle of the next shard it sees,
    once (`marker` records the process id and the shard, and survives the restart)."""

    name = "kill_once"

    def __init__(self, arm: str = "", marker: str = "", slow: str = ""):
        self.arm = arm
        self.marker = marker
        self.slow = slow

    def score(self, docs: Docs) -> dict[str, Any]:
        if self.slow and os.path.exists(self.slow):
            time.sleep(0.15)
        if self.arm and os.path.exists(self.arm) and not os.path.exists(self.marker):
            Path(self.marker).write_text(f"{os.getpid()} {docs.shard}")
            os.kill(os.getpid(), signal.SIGKILL)
        return {}


def _register_test_stages() -> None:
    registry.register(KillOnce)


@pytest.fixture(scope="module")
def test_stages() -> Any:
    """KillOnce in the registry of this process for this module only (other test modules
    that list every stage never see it)."""
    _register_test_stages()
    yield
    registry._REGISTRY.pop(KillOnce.name, None)


@pytest.fixture(scope="module")
def ray_cluster(test_stages: None) -> Any:
    ray = pytest.importorskip("ray")
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    # Ship this module by value so Ray workers can register KillOnce at start-up.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level="WARNING",
             runtime_env={"worker_process_setup_hook": _register_test_stages})
    yield ray
    ray.shutdown()


# Parameters that make a global stage do real work on the test corpus (defaults otherwise).
GLOBAL_PARAMS: dict[str, dict[str, Any]] = {
    "exact_dedup": {"keep": "longest"},
    "balance": {"alpha": 0.5},  # temperature sampling over `source`: down-samples the web
}


def global_stage_entries() -> list[dict[str, Any]]:
    """Every registered global stage that can be built with its defaults, dedup before
    line boilerplate (which rewrites text, here the re-crawls' split lines) before sampling,
    so global stages added later are covered without editing this test."""
    entries: list[dict[str, Any]] = []
    for name in sorted(registry.names(),
                       key=lambda n: (n == "balance", n == "boilerplate_lines", n)):
        cls = registry.get(name)
        if not cls.is_global or any(p.required for p in registry.params_of(cls)):
            continue
        entries.append({"stage": name, **GLOBAL_PARAMS.get(name, {})})
    return entries


def recipe(arm: str = "", marker: str = "", slow: str = "") -> dict[str, Any]:
    return {"stages": [{"stage": "doc_length"},
                       {"stage": "kill_once", "arm": arm, "marker": marker, "slow": slow},
                       *global_stage_entries(),
                       {"stage": "doc_length", "name": "long_enough", "min_chars": 300}]}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, sample_table: pa.Table) -> Path:
    """~650 documents in 8 shards: the sample, 220 re-crawls of it, a few empty pages."""
    t = sample_table
    copies = t.slice(0, 220)
    text = copies["text"]
    changed = pa.chunked_array([pc.utf8_upper(text.slice(0, 110)),
                                pc.replace_substring(text.slice(110), " ", "  \n ")])
    copies = copies.set_column(copies.schema.get_field_index("text"), "text", changed)
    copies = copies.set_column(copies.schema.get_field_index("id"), "id",
                               pc.binary_join_element_wise(copies["id"], "recrawl", "-"))
    empty = t.slice(300, 6)
    empty = empty.set_column(empty.schema.get_field_index("text"), "text",
                             pa.array([""] * 6, pa.string()))
    empty = empty.set_column(empty.schema.get_field_index("id"), "id",
                             pc.binary_join_element_wise(empty["id"], "empty", "-"))
    allt = pa.concat_tables([t, copies, empty])
    # Interleave so that a document and its copy sit in different shards.
    order = sorted(range(allt.num_rows), key=lambda i: (i * 7919) % allt.num_rows)
    allt = allt.take(pa.array(order))
    d = tmp_path_factory.mktemp("ray_corpus")
    step = -(-allt.num_rows // N_SHARDS)
    for i in range(N_SHARDS):
        pq.write_table(allt.slice(i * step, step), d / f"crawl-{i:02d}.parquet")
    return d


@pytest.fixture(scope="module")
def local_out(test_stages: None, corpus: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("local") / "out"
    LocalEngine(recipe(), workers=1, batch_size=1000, progress=False).run([corpus], out)
    return out


def assert_same_outputs(a: Path, b: Path) -> None:
    names = sorted(p.name for p in (a / "data").iterdir())
    assert names == sorted(p.name for p in (b / "data").iterdir())
    assert names == sorted(p.name for p in (a / "ledger").iterdir())
    for sub in ("data", "ledger"):
        for name in names:
            ta, tb = pq.read_table(a / sub / name), pq.read_table(b / sub / name)
            if not ta.equals(tb):
                ra, rb = ta.to_pylist(), tb.to_pylist()
                diff = [(x, y) for x, y in zip(ra, rb, strict=False) if x != y][:2]
                raise AssertionError(f"{sub}/{name} differs ({len(ra)} vs {len(rb)} rows); "
                                     f"first differing rows: {diff}")
    sa, sb = (json.loads((d / "stats.json").read_text()) for d in (a, b))
    for s in (sa, sb):  # timings differ between any two runs
        s.pop("wall_seconds")
        for entry in s["stages"].values():
            entry.pop("seconds")
            if "plan_seconds" in entry:
                entry["plan_seconds"] = "timed"
    assert sa == sb, list(differences(sa, sb))[:10]


def differences(a: Any, b: Any, path: str = "") -> Iterator[str]:
    """Paths at which two JSON values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            yield from differences(a.get(k), b.get(k), f"{path}.{k}")
    elif a != b:
        yield f"{path}: {a!r} != {b!r}"


def removed_by(out: Path, stage: str) -> int:
    led = pq.read_table(out / "ledger")
    return int(pc.sum(pc.equal(led["stage"], stage)).as_py() or 0)


def test_ray_engine_matches_local_engine_through_interruption_and_killed_worker(
        ray_cluster: Any, corpus: Path, local_out: Path, tmp_path: Path) -> None:
    """Stop a run after 2 units; rerun it and SIGKILL a worker in the middle of a unit: the
    rerun redoes no finished unit, nothing is lost or duplicated, and every output file equals
    the local engine's (which ran with another batch size)."""
    from corpusfilter.engines.ray_engine import RayEngine, UnitDone

    out = tmp_path / "ray"
    first: list[str] = []

    def stop_after_two(done: UnitDone) -> None:
        first.append(done.result.key)
        if len(first) == 2:
            raise KeyboardInterrupt

    arm, marker, slow = tmp_path / "arm", tmp_path / "killed", tmp_path / "slow"
    slow.write_text("")
    spec = recipe(str(arm), str(marker), str(slow))
    with pytest.raises(KeyboardInterrupt):
        RayEngine(spec, workers=2, batch_size=37, progress=False,
                  on_unit=stop_after_two).run([corpus], out)
    finished = {p.name.removesuffix(".done") for p in (out / "_work" / "seg-0").glob("*.done")}
    assert set(first) <= finished and len(finished) < N_SHARDS
    assert not (out / "run.json").exists()

    # In the rerun, a worker dies (SIGKILL) in the middle of the first shard it runs.
    arm.write_text("")
    slow.unlink()
    second: list[tuple[int, str, int]] = []
    RayEngine(spec, workers=2, batch_size=37, progress=False,
              on_unit=lambda d: second.append((d.result.segment, d.result.key, d.pid))).run(
        [corpus], out)
    redone = {k for s, k, _ in second if s == 0}
    assert redone.isdisjoint(finished)
    assert redone | finished == {f"crawl-{i:02d}" for i in range(N_SHARDS)}
    killed_pid, victim = marker.read_text().split()
    assert victim in redone  # it was killed mid-unit, then retried by a restarted worker
    assert all(pid != int(killed_pid) for s, k, pid in second if k == victim and s == 0)
    assert_same_outputs(local_out, out)
    # ... and `corpusfilter diff` says so: no document changed fate across engines
    from corpusfilter.report.diff import diff_runs

    across = diff_runs(local_out, out)
    assert across["changed"] == 0 and across["documents"]["a"] == verify(local_out).input_docs
    assert {"what": "engine", "a": "local", "b": "ray"} in across["config"]["execution"]
    # Every global stage really decided something (re-crawls, near-duplicates, sampling).
    assert removed_by(out, "exact_dedup") >= 200
    assert removed_by(out, "doc_length") >= 6
    for entry in global_stage_entries():
        assert removed_by(out, entry["stage"]) > 0, entry
    rep = verify(out)
    assert rep.ok, rep.problems
    assert rep.kept_docs + rep.removed_docs == rep.input_docs
    run = json.loads((out / "run.json").read_text())
    assert run["engine"] == "ray" and run["status"] == "complete"
    assert not (out / "_work").exists()
    # The local engine never resumes a ray run's working directory (nor the reverse).
    with pytest.raises(CorpusFilterError, match="different pipeline, settings or engine"):
        LocalEngine(recipe(), progress=False).run([corpus], out)


def test_duplicate_ids_across_shards_found_on_the_cluster(ray_cluster: Any, corpus: Path,
                                                          tmp_path: Path) -> None:
    from corpusfilter.engines.ray_engine import RayEngine

    src = tmp_path / "in"
    src.mkdir()
    a = pq.read_table(corpus / "crawl-00.parquet")
    b = pq.read_table(corpus / "crawl-01.parquet")
    dupe = a["id"][5].as_py()
    b = b.set_column(b.schema.get_field_index("id"), "id",
                     pa.array([dupe, *b["id"].to_pylist()[1:]], pa.string()))
    pq.write_table(a, src / "a.parquet")
    pq.write_table(b, src / "b.parquet")
    engine = RayEngine({"stages": [{"stage": "doc_length"}]}, workers=2, progress=False)
    engine.driver_id_check_max = 0  # the distributed check, whatever the input size
    with pytest.raises(InputError, match=rf"{dupe!r} occurs more than once \(shards: a, b\)"):
        engine.run([src], tmp_path / "out")


def test_input_error_reaches_the_user_with_the_shard(ray_cluster: Any, corpus: Path,
                                                     tmp_path: Path) -> None:
    from corpusfilter.engines.ray_engine import RayEngine

    bad = tmp_path / "in"
    bad.mkdir()
    good = pq.read_table(corpus / "crawl-00.parquet")
    pq.write_table(good, bad / "a.parquet")
    # a missing text column (a missing id column now gets generated ids, issue #18)
    pq.write_table(good.rename_columns(["body" if c == "text" else c
                                        for c in good.column_names]), bad / "b.parquet")
    with pytest.raises(InputError, match=r"shard b: column 'text' not found"):
        RayEngine({"stages": [{"stage": "doc_length"}]}, workers=2,
                  progress=False).run([bad], tmp_path / "out")


def test_missing_ray_says_how_to_install(monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path, corpus: Path) -> None:
    from corpusfilter.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    monkeypatch.setitem(sys.modules, "ray.data", None)
    code = main(["run", "minimal", str(corpus), "-o", str(tmp_path / "o"), "--engine", "ray"])
    assert code == 2
    err = capsys.readouterr().err
    assert 'pip install "corpusfilter[ray]"' in err and "--engine local" in err
    assert not (tmp_path / "o").exists()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.booleans()), min_size=1, max_size=6),
       st.integers(1, 40))
def test_actors_go_to_nodes_in_turn_within_their_cpus(nodes: list[tuple[int, bool]],
                                                      n: int) -> None:
    """Actors are spread over the alive nodes with CPUs: never on another node, at most as
    many per node as it has CPUs while the cluster has room, counts as even as the CPUs
    allow, and two nodes alternate from the first actor (so 2 shards use 2 nodes)."""
    from corpusfilter.engines.ray_engine import actor_nodes

    listing = [{"NodeID": f"n{i}", "Alive": alive, "Resources": {"CPU": float(c)} if c else {}}
               for i, (c, alive) in enumerate(nodes)]
    cpus = {f"n{i}": c for i, (c, alive) in enumerate(nodes) if alive and c >= 1}
    if not cpus:
        with pytest.raises(CorpusFilterError, match="no alive node with a CPU"):
            actor_nodes(listing, n)
        return
    got = actor_nodes(listing, n)
    assert len(got) == n and set(got) <= set(cpus)
    count = {k: got.count(k) for k in cpus}
    if n <= sum(cpus.values()):
        assert all(count[k] <= cpus[k] for k in cpus)
        for a in cpus:  # a node with fewer actors than another by 2+ is full
            assert all(count[a] >= count[b] - 1 or count[a] == cpus[a] for b in cpus)
    if len(cpus) >= 2 and n >= 2:
        assert got[0] != got[1]
