"""`boilerplate_lines`' plan as the Ray engine runs it (issue #22): spill tasks per shard,
count tasks per line-hash partition, gather tasks per shard; every shard gets the plan rows
of its own lines, which `apply()` treats exactly as the whole plan; and the Ray engine's
output is byte-identical to the local engine's with the partitioned path forced.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import write_shards
from corpusfilter.core.docs import Docs
from corpusfilter.core.stage import Collected
from corpusfilter.dedup import lines
from corpusfilter.dedup.lines import BoilerplateLines, plan_lines
from ray_nodes import LocalNodes, free_base_port

LIMITS = {"corpus": 5, "site": 3}


def _collect_files(table: pa.Table, shards: int, directory: Path,
                   stage: BoilerplateLines) -> list[tuple[pa.Table, str]]:
    """Per shard: its documents and its collect file, as the engines write them."""
    directory.mkdir(parents=True, exist_ok=True)
    size = -(-table.num_rows // shards)
    out = []
    for j in range(shards):
        docs = table.slice(j * size, size).combine_chunks()
        path = str(directory / f"s{j}.collect.parquet")
        pq.write_table(stage.collect(Docs(docs.to_batches()[0]))
                       if docs.num_rows else pa.table({}), path)
        out.append((docs, path))
    return out


def _run_tasks(files: list[str], parts: int, scratch: Path,
               limits: dict[str, int | None]) -> list[dict[str, pa.Table]]:
    """The three task kinds in turn, in this process, as `ray_plans._plan_lines` runs them."""
    scratch.mkdir(parents=True, exist_ok=True)
    d = str(scratch)
    spilled = [lines.spill_shard(f, parts, d, j) for j, f in enumerate(files)]
    assert sum(spilled) == sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    for i in range(parts):
        lines.count_partition(d, len(files), i, limits)
    return [lines.gather_shard(d, parts, j) for j in range(len(files))]


def _restricted(plan: dict[str, pa.Table], collect_file: str) -> dict[str, pa.Table]:
    """The whole plan's rows whose key occurs in one shard's collected rows."""
    rows = pq.read_table(collect_file)
    site_keys = rows.filter(rows["has_site"])["site_line"]
    return {"corpus": plan["corpus"].filter(pc.is_in(plan["corpus"]["key"], rows["line"])),
            "site": plan["site"].filter(pc.is_in(plan["site"]["key"], site_keys))}


@pytest.mark.parametrize("parts", [1, 4, 64])
def test_each_shard_gets_the_plan_rows_of_its_lines_and_applies_them_alike(
        sample_table: pa.Table, tmp_path: Path, parts: int) -> None:
    stage = BoilerplateLines()
    shards = _collect_files(sample_table, 5, tmp_path / "collect", stage)
    files = [p for _, p in shards]
    whole = plan_lines(Collected(paths=files), LIMITS, plan_rows=10**12)
    assert whole["corpus"].num_rows > 20 and whole["site"].num_rows > 20  # real work
    sliced = _run_tasks(files, parts, tmp_path / "spill", LIMITS)
    for (docs, path), plan in zip(shards, sliced, strict=True):
        want = _restricted(whole, path)
        for scope in ("corpus", "site"):
            assert plan[scope].equals(want[scope]), scope
        # what a unit of the next phase does with its slice: the same as with the whole plan
        a = stage.apply(Docs(docs.to_batches()[0]), plan)
        b = stage.apply(Docs(docs.to_batches()[0]), whole)
        assert np.array_equal(a.keep, b.keep) and list(a.reason) == list(b.reason)
        assert a.text is not None and b.text is not None and a.text.equals(b.text)
        assert a.detail == b.detail
    # every plan row reaches the shards holding its line, so none is lost
    for scope in ("corpus", "site"):
        keys = set().union(*(p[scope]["key"].to_pylist() for p in sliced))
        assert keys == set(whole[scope]["key"].to_pylist())
    changed = sum(int(stage.apply(Docs(d.to_batches()[0]), p).modified.sum())
                  for (d, _), p in zip(shards, sliced, strict=True))
    assert changed > 20


_LINES = ["Home | About | Contact", "Share on Twitter", "© 2024 Example Inc.", "Read more",
          "The river rose in the night.", "}", "Subscribe to our newsletter", "1 comment",
          "We use cookies.", "A long paragraph of its own about gardens."]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_LINES), min_size=1, max_size=6), min_size=1,
                max_size=16), st.integers(1, 5), st.sampled_from([1, 2, 8, 32]),
       st.sampled_from([None, 2, 3]), st.sampled_from([None, 2]))
def test_slices_are_the_whole_plan_per_shard(tmp_path_factory: pytest.TempPathFactory,
                                             docs: list[list[str]], shards: int, parts: int,
                                             min_docs: int | None,
                                             min_site_docs: int | None) -> None:
    tmp = tmp_path_factory.mktemp("h")
    texts = ["\n".join(d) for d in docs]
    table = pa.table({"id": [f"d{i}" for i in range(len(texts))], "text": texts,
                      "url": [f"https://s{i % 3}.example/{i}" if i % 4 else None
                              for i in range(len(texts))]})
    stage = BoilerplateLines(min_docs=min_docs, min_site_docs=min_site_docs)
    limits = {"corpus": min_docs, "site": min_site_docs}
    files = [p for _, p in _collect_files(table, shards, tmp / "c", stage)
             if pq.ParquetFile(p).metadata.num_rows]
    whole = plan_lines(Collected(paths=files), limits, plan_rows=10**12)
    for path, plan in zip(files, _run_tasks(files, parts, tmp / "s", limits), strict=True):
        want = _restricted(whole, path)
        assert all(plan[s].equals(want[s]) for s in ("corpus", "site"))


def test_local_plan_reopens_no_spill_file_within_the_limit(
        sample_table: pa.Table, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The local plan opens each spill file once (not once per partition) up to
    MAX_OPEN_FILES, then once per partition for the rest; the plan is the same either way."""
    opened: list[str] = []
    real = os.open

    def counting(path: Any, *args: Any, **kwargs: Any) -> int:
        if str(path).endswith(".spill"):
            opened.append(str(path))
        return real(path, *args, **kwargs)

    files = [p for _, p in _collect_files(sample_table, 6, tmp_path / "c", BoilerplateLines())]
    want = plan_lines(Collected(paths=files), LIMITS, plan_rows=10**12)
    parts = lines.partition_count(sum(pq.ParquetFile(f).metadata.num_rows for f in files),
                                  1_000)
    assert parts >= 16
    monkeypatch.setattr(os, "open", counting)
    for limit, opens in ((256, 6), (4, 4 + 2 * parts)):
        opened.clear()
        monkeypatch.setattr(lines, "MAX_OPEN_FILES", limit)
        got = plan_lines(Collected(paths=files), LIMITS, plan_rows=1_000)
        assert len(opened) == opens
        assert all(got[s].equals(want[s]) for s in want)


# -- on a Ray cluster ------------------------------------------------------------------------

RECIPE = {"stages": [{"stage": "doc_length"}, {"stage": "boilerplate_lines"},
                     {"stage": "doc_length", "name": "long_enough", "min_chars": 300}]}


@pytest.fixture(scope="module")
def ray_cluster() -> Any:
    ray = pytest.importorskip("ray")
    before = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level="WARNING")
    yield ray
    ray.shutdown()
    # ray.init leaves RAY_AUTH_MODE=token behind, which breaks later tests' own clusters
    if before is None:
        os.environ.pop("RAY_AUTH_MODE", None)
    else:
        os.environ["RAY_AUTH_MODE"] = before


def _strip(o: Any) -> Any:
    if isinstance(o, dict):
        return {k: _strip(v) for k, v in o.items() if "seconds" not in k}
    return o


@pytest.mark.ray
def test_ray_plan_in_partitions_gives_the_local_engines_bytes(
        ray_cluster: Any, sample_table: pa.Table, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from corpusfilter.engines.local import LocalEngine
    from corpusfilter.engines.ray_engine import RayEngine

    inputs = tmp_path / "in"
    write_shards(sample_table, inputs, 5)
    LocalEngine(RECIPE, workers=1, progress=False).run([inputs], tmp_path / "local")
    monkeypatch.setattr(lines, "PLAN_ROWS", 1_000)  # the driver picks the partitions
    with caplog.at_level(logging.INFO, logger="corpusfilter"):
        RayEngine(RECIPE, workers=2, progress=False).run([inputs], tmp_path / "ray")
    found = [re.search(r"spilled by (\d+) tasks.* (\d+) partitions counted.*\((\d+) plan rows\)"
                       r", (\d+) shard plans", r.getMessage()) for r in caplog.records]
    spills, parts, rows, shard_plans = (int(x) for x in next(m for m in found if m).groups())
    assert spills == 5 and parts >= 16 and rows > 0 and 1 <= shard_plans <= 5
    for sub in ("data", "ledger"):
        names = sorted(p.name for p in (tmp_path / "local" / sub).iterdir())
        assert names == sorted(p.name for p in (tmp_path / "ray" / sub).iterdir())
        for name in names:
            assert (tmp_path / "local" / sub / name).read_bytes() == \
                (tmp_path / "ray" / sub / name).read_bytes(), f"{sub}/{name}"
    assert _strip(json.loads((tmp_path / "ray" / "stats.json").read_text())) == \
        _strip(json.loads((tmp_path / "local" / "stats.json").read_text()))
    ledger = pq.read_table(tmp_path / "ray" / "ledger")
    assert pc.sum(pc.equal(ledger["stage"], "boilerplate_lines")).as_py() > 20


def _drive_two_nodes(address: str, inputs: str, out: str) -> str:
    """The Ray run's driver, in a fresh process with token authentication off like the nodes
    (see tests/test_ray_two_nodes.py) and the plan's partition size lowered; returns the
    plan's log line."""
    os.environ["RAY_AUTH_MODE"] = "disabled"
    from corpusfilter.engines.ray_engine import RayEngine

    lines.PLAN_ROWS = 1_000
    said: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda r: said.append(r.getMessage())  # type: ignore[method-assign]
    logging.getLogger("corpusfilter").addHandler(handler)
    logging.getLogger("corpusfilter").setLevel(logging.INFO)
    RayEngine(RECIPE, progress=False, address=address).run([Path(inputs)], Path(out))
    return next(m for m in said if "partitions counted" in m)


@pytest.mark.ray
@pytest.mark.slow
def test_two_nodes_plan_in_partitions_same_bytes_nothing_left(sample_table: pa.Table,
                                                              tmp_path: Path) -> None:
    import concurrent.futures
    import multiprocessing

    pytest.importorskip("ray")
    from corpusfilter.engines.local import LocalEngine

    inputs = tmp_path / "in"
    write_shards(sample_table, inputs, 4)
    LocalEngine(RECIPE, workers=1, progress=False).run([inputs], tmp_path / "local")
    nodes = LocalNodes(tmp_path, nodes=2, cpus=1, base_port=free_base_port(2))
    try:
        with concurrent.futures.ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn")) as pool:
            said = pool.submit(_drive_two_nodes, nodes.address, str(inputs),
                               str(tmp_path / "ray")).result(timeout=900)
    finally:
        left = nodes.stop()
    assert left == [], left
    m = re.search(r"spilled by (\d+) tasks.* (\d+) partitions counted", said)
    assert m is not None and int(m.group(1)) == 4 and int(m.group(2)) >= 16, said
    for sub in ("data", "ledger"):
        for p in sorted((tmp_path / "local" / sub).iterdir()):
            assert p.read_bytes() == (tmp_path / "ray" / sub / p.name).read_bytes(), p.name
