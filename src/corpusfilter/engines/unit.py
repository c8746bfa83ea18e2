"""The unit of work both engines schedule: one phase (segment) of the pipeline on one shard.

Layout of the working directory of a run (``OUT/_work``)::

    manifest.json                 the run's fingerprint and the input shards' fingerprints
    seg-<k>/<shard>.<file>        the files of one unit, `UNIT_FILES`; `.done` is written last
    plan-<k>.pkl, plan-<k>.json   the plan of the global stage closing segment k (+ its time)
    final/{data,ledger,scores}/   the run's final files, written by the units of the last phase

A unit reads its shard (phase 0) or the kept documents of the previous phase, applies the
phase's stages, and writes its results with atomic writes (`io/atomic.py`), the ``.done``
marker last: a unit is finished exactly when its marker exists, so a worker killed at any
moment leaves a unit that is simply run again. A unit of the *last* phase also writes the
shard's final files (its kept documents in the output format, its ledger rows of every phase,
its scores) under ``final/``; committing a run is then only renames (`publish_final_files`),
so no process ever copies the whole output (issue #22: the Ray driver used to, serially).

`Worker` is the state of a worker process (local pool worker or Ray actor): the pipeline,
built once per worker (models load once), and the plan of the current phase only.
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

from corpusfilter.core.config import PipelineConfig
from corpusfilter.core.errors import CorpusFilterError
from corpusfilter.core.ledger import Stats
from corpusfilter.core.pipeline import Pipeline, Segment, id_strings
from corpusfilter.engines.processes import init_pool_worker, mark_unit_started
from corpusfilter.io.atomic import (
    write_json_atomic,
    write_npy_atomic,
    write_parquet_atomic,
    write_text_atomic,
)
from corpusfilter.io.shards import OUTPUT_FORMATS, Shard, export_kept, read_shard_batches

WORK = "_work"
FINAL = "final"
FINAL_DIRS = ("data", "ledger", "scores")
# The files of one unit (segment x shard) under _work/seg-k/, `.done` (the marker) first.
UNIT_FILES = ("done", "kept.parquet", "ledger.parquet", "collect.parquet", "scores.parquet",
              "idh.npy", "stats.json", "output.json", "pid")
# Compression of a unit's Parquet files: each is written once, read once by the next phase
# (or the plan) and deleted with `_work/`. zstd cost ~0.03 CPU-s per 5,000 2 KB documents to
# write and half that to read back, and MinHash's band hashes do not compress at all; the
# final files (`_write_final`, `export_kept`) keep zstd.
WORK_COMPRESSION = "none"


def work_dir(out: Path) -> Path:
    return Path(out) / WORK


def unit_dir(out: Path, seg: int) -> Path:
    return Path(out) / WORK / f"seg-{seg}"


def plan_path(out: Path, seg: int) -> Path:
    """The plan of the global stage that closes segment ``seg``."""
    return Path(out) / WORK / f"plan-{seg}.pkl"


def final_dir(out: Path) -> Path:
    return Path(out) / WORK / FINAL


def final_names(key: str, output_format: str) -> dict[str, str]:
    """The final file names of one shard, per directory of the output (``data``: when it is
    not split into numbered files; `output_totals` lists the files written)."""
    return {"data": f"{key}{OUTPUT_FORMATS[output_format]}", "ledger": f"{key}.parquet",
            "scores": f"{key}.parquet"}


@dataclass
class UnitResult:
    """What a finished unit tells the driver."""

    key: str
    segment: int
    stats: dict[str, Any]
    rows_in: int
    rows_out: int


def units_to_run(out: Path, seg: int, last: bool, shards: list[Shard], stats: Stats,
                 on_skip: Callable[[str], None]) -> list[Shard]:
    """The shards whose unit of segment ``seg`` is still to run; the counters of finished
    units are merged into ``stats`` (and ``on_skip`` called with their keys). A unit of the
    last phase without its final files (left by a version that wrote them in the driver)
    is run again."""
    udir = unit_dir(out, seg)
    udir.mkdir(parents=True, exist_ok=True)
    todo = []
    for s in shards:
        if (udir / f"{s.key}.done").exists() and \
                (not last or (udir / f"{s.key}.output.json").exists()):
            stats.merge(Stats(json.loads((udir / f"{s.key}.stats.json").read_text())))
            on_skip(s.key)
        else:
            todo.append(s)
    return todo


class Worker:
    """The state of one worker process: the pipeline (built once) and the current plan.

    A worker serves every phase of a run, so it keeps the plan of one phase at a time
    (plans can be large: every removed id of a dedup stage). A plan stored per shard (the
    Ray engine's, which has a ``for_shard(key)`` method) is opened shard by shard.
    """

    def __init__(self, config: dict[str, Any]):
        self.pipeline = Pipeline(PipelineConfig(**config))
        self._plan_seg: int | None = None
        self._plan: Any = None

    def plans(self, out: Path, seg: Segment, key: str) -> dict[int, Any]:
        """The plans a unit of ``seg`` applies: {stage index: plan} (empty without a head)."""
        if seg.head is None:
            return {}
        if self._plan_seg != seg.index:
            self._plan, self._plan_seg = None, None  # free the previous phase's plan first
            with open(plan_path(out, seg.index - 1), "rb") as f:
                self._plan = pickle.load(f)
            self._plan_seg = seg.index
        plan = self._plan.for_shard(key) if hasattr(self._plan, "for_shard") else self._plan
        return {self.pipeline.stages.index(seg.head): plan}

    def run_unit(self, seg_index: int, shard: Shard, out: Path, batch_size: int,
                 facets: list[str]) -> UnitResult:
        """Run one segment on one shard and write its files (the ``.done`` marker last)."""
        pipeline = self.pipeline
        seg = pipeline.segments[seg_index]
        last = seg_index == len(pipeline.segments) - 1
        plans = self.plans(out, seg, shard.key)
        udir = unit_dir(out, seg_index)
        mark_unit_started(udir, shard.key)
        src = shard.path if seg_index == 0 else \
            unit_dir(out, seg_index - 1) / f"{shard.key}.kept.parquet"
        batches = read_shard_batches(src, batch_size, name=shard.key,
                                     storage_options=pipeline.config.storage_options,
                                     id_column=pipeline.columns.id if seg_index == 0 else None,
                                     limit=shard.rows if seg_index == 0 else None)  # --limit
        id_hashes: list[np.ndarray] = []
        if seg_index == 0:
            batches = _checked(batches, pipeline, shard, id_hashes)
        result = pipeline.process_segment(seg, batches, shard.key, plans, facets)
        kept = result.kept
        rows_in = int(result.stats.data["input"]["docs"]) if seg_index == 0 else -1
        if not last:
            write_parquet_atomic(kept, udir / f"{shard.key}.kept.parquet",
                                 WORK_COMPRESSION)
        write_parquet_atomic(result.ledger, udir / f"{shard.key}.ledger.parquet",
                             WORK_COMPRESSION)
        if result.collected is not None:
            write_parquet_atomic(result.collected, udir / f"{shard.key}.collect.parquet",
                                 WORK_COMPRESSION)
        if result.scores is not None:
            write_parquet_atomic(result.scores, udir / f"{shard.key}.scores.parquet",
                                 WORK_COMPRESSION)
        if seg_index == 0:
            write_npy_atomic(np.concatenate(id_hashes) if id_hashes
                             else np.zeros(0, np.uint64), udir / f"{shard.key}.idh.npy")
        stats = result.stats.data
        write_json_atomic(stats, udir / f"{shard.key}.stats.json")
        if last:
            self._write_final(out, shard.key, kept)
        write_text_atomic("", udir / f"{shard.key}.done")
        return UnitResult(shard.key, seg_index, stats, rows_in, kept.num_rows)

    def _write_final(self, out: Path, key: str, kept: pa.Table) -> None:
        """The shard's final files, under ``_work/final/`` until the run is committed."""
        config = self.pipeline.config
        segments = range(len(self.pipeline.segments))
        names = final_names(key, config.output_format)
        final = final_dir(out)
        last = unit_dir(out, segments[-1])
        data = export_kept(kept, final / "data", key, config.output_format,
                           config.max_rows_per_file, config.max_bytes_per_file)
        ledgers = [pq.read_table(unit_dir(out, i) / f"{key}.ledger.parquet") for i in segments]
        write_parquet_atomic(pa.concat_tables(ledgers, promote_options="default"),
                             final / "ledger" / names["ledger"])
        if config.record_scores == "all":
            scores = [pq.read_table(p) for i in segments
                      if (p := unit_dir(out, i) / f"{key}.scores.parquet").exists()]
            write_parquet_atomic(pa.concat_tables(scores) if scores else pa.table({}),
                                 final / "scores" / names["scores"])
        chars = int(pc.sum(pc.utf8_length(kept[config.text_column])).as_py() or 0) \
            if kept.num_rows else 0
        write_json_atomic({"docs": kept.num_rows, "chars": chars,
                           "files": [p.name for p in data]}, last / f"{key}.output.json")


def publish_final_files(out: Path, data_files: dict[str, list[str]], output_format: str,
                        record_scores: bool) -> None:
    """Move the final files of every shard (``data_files``: shard key -> its data files, as
    `output_totals` lists them) from ``_work/final/`` into the output (renames only; each is
    atomic, and a rerun after a kill in between moves the rest), then remove final files of
    shards no longer in the input (or of an earlier split into more files)."""
    final = final_dir(out)
    dirs = [d for d in FINAL_DIRS if d != "scores" or record_scores]
    for d in dirs:
        if data_files:  # no input shards, no output directories (as before)
            (Path(out) / d).mkdir(parents=True, exist_ok=True)
        elif not (Path(out) / d).exists():
            continue
        wanted = {n for k, files in data_files.items()
                  for n in (files if d == "data" else [final_names(k, output_format)[d]])}
        for name in sorted(wanted):
            src = final / d / name
            if src.exists():
                os.replace(src, Path(out) / d / name)
            elif not (Path(out) / d / name).exists():
                raise CorpusFilterError(f"final file {d}/{name} is missing from {final}; the "
                                        f"working directory is incomplete: run again with "
                                        f"--overwrite")
        for p in (Path(out) / d).iterdir():
            if p.name not in wanted and p.is_file():
                p.unlink()  # from an earlier attempt, for a shard no longer in the input


def output_totals(out: Path, seg: int, key: str) -> dict[str, Any]:
    """Documents (``docs``) and characters (``chars``) a shard's last unit kept, and the names
    of the data files it wrote (``files``)."""
    result: dict[str, Any] = json.loads((unit_dir(out, seg) / f"{key}.output.json").read_text())
    return result


# -- the worker of a local process pool (module state: the pool calls plain functions) -------

_worker: Worker | None = None


def start_worker(config: dict[str, Any]) -> None:
    """Build this process's worker state (in process, or as a pool's initializer)."""
    global _worker
    _worker = Worker(config)


def start_pool_worker(config: dict[str, Any]) -> None:
    """A pool worker's initializer: die with the driver, then build the worker state."""
    init_pool_worker()
    start_worker(config)


def run_unit(seg_index: int, shard: Shard, out: Path, batch_size: int,
             facets: list[str]) -> UnitResult:
    """Run one unit with this process's worker (`start_worker` first)."""
    if _worker is None:
        raise RuntimeError("start_worker() was not called in this process")
    return _worker.run_unit(seg_index, shard, out, batch_size, facets)


def _checked(batches: Iterator[pa.RecordBatch], pipeline: Pipeline, shard: Shard,
             id_hashes: list[np.ndarray]) -> Iterator[pa.RecordBatch]:
    """Check the schema on the first batch; hash ids on the way (cross-shard uniqueness)."""
    first = True
    row = 0
    for b in batches:
        if first:
            pipeline.check_schema(b.schema, shard.key)
            first = False
        col = pipeline.columns.id
        ids = id_strings(b.column(col), col, shard.key, row).to_pylist()
        row += b.num_rows
        id_hashes.append(np.fromiter((xxhash.xxh64_intdigest(str(v).encode()) for v in ids),
                                     dtype=np.uint64, count=len(ids)))
        yield b
