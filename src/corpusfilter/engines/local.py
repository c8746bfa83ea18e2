"""The local engine: a process pool over Parquet shards, with shard-level resume.

Layout of an output directory::

    OUT/data/<shard>.parquet      kept documents (all input columns + annotations)
    OUT/ledger/<shard>.parquet    one row per removed / modified document per stage
    OUT/scores/<shard>.parquet    every filter's scores (only with record_scores: all)
    OUT/stats.json                counters and timings
    OUT/run.json                  resolved config, versions, inputs, status
    OUT/_work/                    per segment and shard results while the run is going

Every unit of work (one segment of one shard) writes its files atomically and then a `.done`
marker; a rerun skips units with a marker, so a crash at any moment neither loses nor redoes a
finished shard. `_work/` is removed once the final files are in place: `run.json` first says
``cleanup``, then ``complete`` once `_work/` (which holds text from before later stages, such
as PII redaction) is gone, so a kill in between is finished by the rerun.

Each input shard is fingerprinted by content (`io/fingerprint.py`); a shard changed since its
units ran is redone (and global plans made from the old input are remade), a complete run
whose input changed is refused by name. `OUT/.corpusfilter.lock` keeps a second run out
(`io/lock.py`); signals and lost workers are handled by `engines/processes.py`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing as mp
import os
import pickle
import shutil
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

from corpusfilter import __version__
from corpusfilter.core.config import PipelineConfig, load_config
from corpusfilter.core.errors import CorpusFilterError, InputError, Interrupted
from corpusfilter.core.ledger import Stats, empty_ledger
from corpusfilter.core.pipeline import (
    Pipeline,
    Segment,
    check_alarm,
    first_duplicate,
    id_strings,
)
from corpusfilter.core.stage import Collected
from corpusfilter.engines.processes import (
    init_pool_worker,
    lost_worker_error,
    mark_unit_started,
    new_children,
    stop_signals,
    stop_workers,
)
from corpusfilter.io import fs, publish
from corpusfilter.io.fingerprint import describe_change, shard_fingerprint
from corpusfilter.io.lock import LOCK_NAME, OutputLock
from corpusfilter.io.shards import (
    GENERATED_ID_RULE,
    Shard,
    expand_inputs,
    export_kept,
    limit_shards,
    read_ids,
    read_shard_batches,
    shard_keys,
    shard_rows,
    shard_schema,
    write_json_atomic,
    write_parquet_atomic,
    write_text_atomic,
)

log = logging.getLogger("corpusfilter")

WORK = "_work"
CLEANUP, COMPLETE = "cleanup", "complete"  # run.json statuses, in the order they are written
# The files of one unit (segment x shard) under _work/seg-k/, `.done` (the marker) first.
UNIT_FILES = ("done", "kept.parquet", "ledger.parquet", "collect.parquet", "scores.parquet",
              "idh.npy", "stats.json", "pid")


@dataclass
class UnitResult:
    key: str
    segment: int
    stats: dict[str, Any]
    rows_in: int
    rows_out: int


# -- worker side ------------------------------------------------------------------------------

_worker_pipeline: Pipeline | None = None
_worker_plans: dict[int, Any] = {}


def _init_worker(config: dict[str, Any]) -> None:
    global _worker_pipeline
    _worker_pipeline = Pipeline(PipelineConfig(**config))
    _worker_plans.clear()


def _init_pool_worker(config: dict[str, Any]) -> None:
    init_pool_worker()
    _init_worker(config)


def _plan_path(out: Path, seg: int) -> Path:
    return out / WORK / f"plan-{seg}.pkl"


def _unit_dir(out: Path, seg: int) -> Path:
    return out / WORK / f"seg-{seg}"


def _run_unit(seg_index: int, shard: Shard, out: Path, batch_size: int,
              facets: list[str]) -> UnitResult:
    """Run one segment on one shard and write its results (called in a worker)."""
    pipeline = _worker_pipeline
    assert pipeline is not None
    seg: Segment = pipeline.segments[seg_index]
    plans: dict[int, Any] = {}
    if seg.head is not None:
        idx = pipeline.stages.index(seg.head)
        if idx not in _worker_plans:
            _worker_plans.clear()  # the pool outlives phases: hold only this phase's plan
            with open(_plan_path(out, seg_index - 1), "rb") as f:
                _worker_plans[idx] = pickle.load(f)
        plans[idx] = _worker_plans[idx]
    udir = _unit_dir(out, seg_index)
    mark_unit_started(udir, shard.key)
    src = shard.path if seg_index == 0 else \
        _unit_dir(out, seg_index - 1) / f"{shard.key}.kept.parquet"
    batches = read_shard_batches(src, batch_size, name=shard.key,
                                 storage_options=pipeline.config.storage_options,
                                 id_column=pipeline.columns.id if seg_index == 0 else None,
                                 limit=shard.rows if seg_index == 0 else None)
    id_hashes: list[np.ndarray] = []
    if seg_index == 0:
        batches = _checked(batches, pipeline, shard, id_hashes)
    result = pipeline.process_segment(seg, batches, shard.key, plans, facets)
    kept = result.kept
    rows_in = int(result.stats.data["input"]["docs"]) if seg_index == 0 else -1
    write_parquet_atomic(kept, udir / f"{shard.key}.kept.parquet")
    write_parquet_atomic(result.ledger, udir / f"{shard.key}.ledger.parquet")
    if result.collected is not None:
        write_parquet_atomic(result.collected, udir / f"{shard.key}.collect.parquet")
    if result.scores is not None:
        write_parquet_atomic(result.scores, udir / f"{shard.key}.scores.parquet")
    if seg_index == 0:
        hashes = np.concatenate(id_hashes) if id_hashes else np.zeros(0, np.uint64)
        np.save(udir / f"{shard.key}.idh.tmp.npy", hashes)
        os.replace(udir / f"{shard.key}.idh.tmp.npy", udir / f"{shard.key}.idh.npy")
    stats = result.stats.data
    write_json_atomic(stats, udir / f"{shard.key}.stats.json")
    write_text_atomic("", udir / f"{shard.key}.done")
    return UnitResult(shard.key, seg_index, stats, rows_in, kept.num_rows)


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


# -- driver side ------------------------------------------------------------------------------

class LocalEngine:
    """Runs a pipeline over Parquet shards with a process pool, resumable per shard."""

    def __init__(self, pipeline_spec: str | Path | dict[str, Any] | PipelineConfig,
                 workers: int = 1, batch_size: int = 1000, progress: bool | None = None,
                 **settings: Any):
        self.config = load_config(pipeline_spec)
        for k, v in settings.items():
            if v is not None:
                setattr(self.config, k, v)
        self.config.validate()
        self.pipeline = Pipeline(self.config)  # validates every stage up front
        self.workers = max(1, int(workers))
        self.batch_size = int(batch_size)
        self.progress = sys.stderr.isatty() if progress is None else progress
        if self.batch_size < 1:
            raise CorpusFilterError("--batch-size must be at least 1")

    def run(self, inputs: Sequence[str | Path], out: str | Path,
            overwrite: bool = False) -> dict[str, Any]:
        """Run over ``inputs`` (local paths or URLs) into ``out`` (a directory or a URL).

        A URL output is run in a local staging directory (locked, resumed and committed like
        a local one) and published with run.json last (io/publish.py)."""
        storage = self.config.storage_options
        shards = limit_shards(shard_keys(expand_inputs(inputs, storage)), self.config.limit,
                              storage)
        prints = {s.key: shard_fingerprint(s.path, storage) for s in shards}
        fingerprint = self._fingerprint(shards)
        target = fs.absolute(out)
        url = fs.is_url(target)
        local = publish.staging_dir(target) if url else Path(target)
        if not url and local.exists() and not local.is_dir():
            raise CorpusFilterError(f"output {local} is a file: cannot use {local} as the output "
                                    f"directory; -o names a directory (created if missing)")
        with OutputLock(local), stop_signals():
            try:
                if url:
                    return publish.run_staged(
                        target, fingerprint, overwrite, storage,
                        lambda d: self._run_in(shards, prints, d, fingerprint, overwrite),
                        check_complete=lambda run: _refuse_changed_input(
                            target, run.get("input_fingerprints"), prints))
                return self._run_in(shards, prints, local, fingerprint, overwrite)
            except KeyboardInterrupt as e:
                signum = getattr(e, "signum", signal.SIGINT)
                raise Interrupted(signum, self._standing(shards, local)) from None

    def _run_in(self, shards: list[Shard], prints: dict[str, str], out: Path, fingerprint: str,
                overwrite: bool) -> dict[str, Any]:
        storage = self.config.storage_options
        rows = {s.key: shard_rows(s, storage) for s in shards}
        self._prepare_out(out, fingerprint, overwrite)
        run = _read_json(out / "run.json")
        if run.get("status") in (CLEANUP, COMPLETE):
            _refuse_changed_input(out, run.get("input_fingerprints"), prints)
            if run["status"] == CLEANUP or (out / WORK).exists():
                _commit(out, run)  # a kill interrupted the commit: finish it
            log.info("%s already holds a complete run of this pipeline; nothing to do", out)
            return json.loads((out / "stats.json").read_text())
        self._reconcile(out, fingerprint, prints)
        schema = shard_schema(shards[0], storage) if shards else pa.schema([])
        facets = self.pipeline.facets_for(schema)
        generated = self._generated_ids(shards)
        if generated:
            log.warning("no %r column in shard(s) %s: ids generated as %s (set id_column: "
                        "if the ids are in another column)", generated["column"],
                        ", ".join(generated["shards"][:5]), GENERATED_ID_RULE)
        t0 = time.perf_counter()
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        stats = Stats()
        stats.data["input"]["shards"] = len(shards)
        with _Progress(self.progress, sum(rows.values()), len(shards),
                       len(self.pipeline.segments)) as bar, self._pool(len(shards)) as pool:
            for seg in self.pipeline.segments:
                bar.start_segment(seg, rows)
                self._run_segment(seg, shards, out, facets, stats, bar, pool)
                if seg.index == 0:
                    self._check_ids_unique(shards, out)
                if seg.tail is not None:
                    self._make_plan(seg, shards, out)
        return self._finalize(shards, out, facets, fingerprint, started,
                              time.perf_counter() - t0, prints)

    # -- pieces -------------------------------------------------------------------------

    def _fingerprint(self, shards: list[Shard]) -> str:
        """The run's identity: the configuration (inputs are checked per shard on resume)."""
        return xxhash.xxh64_hexdigest(json.dumps(self.config.fingerprint()).encode())

    def _prepare_out(self, out: Path, fingerprint: str, overwrite: bool) -> None:
        manifest = out / WORK / "manifest.json"
        run_json = out / "run.json"
        if out.exists() and not out.is_dir():
            raise CorpusFilterError(f"output {out} is a file: cannot use {out} as the output "
                                    f"directory; -o names a directory (created if missing)")
        out.mkdir(parents=True, exist_ok=True)
        if overwrite:
            for p in out.iterdir():  # everything but the lock this run holds
                if p.name != LOCK_NAME:
                    shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        if any(p.name != LOCK_NAME for p in out.iterdir()):
            previous = (_read_json(manifest) or _read_json(run_json)).get("fingerprint")
            if previous is None:
                raise CorpusFilterError(f"output directory {out} is not empty and holds no "
                                        f"corpusfilter run; choose another or pass --overwrite")
            if previous != fingerprint:
                raise CorpusFilterError(f"output directory {out} holds a run of a different "
                                        f"pipeline, settings or engine; choose another "
                                        f"directory or pass --overwrite to start again")
            if manifest.exists():
                log.info("resuming the run in %s", out)
        # temp files of a run killed while writing: its units, plans and final files
        for d in (out / "data", out / "ledger", out / "scores", out / WORK,
                  *(out / WORK).glob("seg-*")):
            _remove_temp_files(d)

    def _reconcile(self, out: Path, fingerprint: str, prints: dict[str, str]) -> None:
        """Forget work done on input that has changed since, then record the current input.

        A shard whose fingerprint differs from the one recorded when its units ran has its
        units removed (so they are redone). If any shard changed, appeared or disappeared, the
        plans of global stages (made from every shard's records) and all units after the first
        barrier are removed too. Unchanged shards keep their finished first-phase units.
        """
        work = out / WORK
        manifest = work / "manifest.json"
        recorded: dict[str, str] = _read_json(manifest).get("shards", {})
        changed = sorted(k for k in prints if k in recorded and recorded[k] != prints[k])
        for key in changed:
            log.warning("shard %s changed since it was processed (%s); redoing it", key,
                        describe_change(recorded[key], prints[key]))
            for udir in work.glob("seg-*"):
                for suffix in UNIT_FILES:
                    (udir / f"{key}.{suffix}").unlink(missing_ok=True)
        plans = sorted(work.glob("plan-*.pkl"))
        if plans and recorded != prints:
            log.warning("the input changed since the plans of global stages were made; "
                        "redoing every phase after the first")
            for p in plans:
                p.unlink()
                p.with_suffix(".json").unlink(missing_ok=True)
            for udir in work.glob("seg-*"):
                if udir.name != "seg-0":
                    shutil.rmtree(udir)
        work.mkdir(parents=True, exist_ok=True)
        write_json_atomic({"fingerprint": fingerprint, "shards": prints}, manifest)

    def _standing(self, shards: list[Shard], out: Path) -> str:
        """Where an interrupted run stands, for the message."""
        if _read_json(out / "run.json").get("status") in (CLEANUP, COMPLETE):
            return "while removing intermediate files (the rerun finishes this)"
        n = len(self.pipeline.segments)
        for seg in self.pipeline.segments:
            udir = _unit_dir(out, seg.index)
            done = sum((udir / f"{s.key}.done").exists() for s in shards)
            if done < len(shards):
                return f"in phase {seg.index + 1}/{n} with {done} of {len(shards)} shards " \
                       f"finished"
        return "while writing the final files"

    def _pool(self, n_shards: int) -> contextlib.AbstractContextManager[Any]:
        """ONE process pool for every phase of the run (workers and their models start once:
        a pool per phase cost ~9 CPU-seconds per run with 2 workers); in-process with one
        worker or one shard."""
        if self.workers == 1 or n_shards <= 1:
            _init_worker(self.config.to_dict())
            return contextlib.nullcontext(None)
        # the pool's workers are the children started after this (signals, lost workers)
        self._children_before_pool = mp.active_children()
        return ProcessPoolExecutor(max_workers=min(self.workers, n_shards),
                                   mp_context=mp.get_context("spawn"),
                                   initializer=_init_pool_worker,
                                   initargs=(self.config.to_dict(),))

    def _run_segment(self, seg: Segment, shards: list[Shard], out: Path, facets: list[str],
                     stats: Stats, bar: _Progress, pool: ProcessPoolExecutor | None) -> None:
        udir = _unit_dir(out, seg.index)
        udir.mkdir(parents=True, exist_ok=True)
        todo = []
        for s in shards:
            if (udir / f"{s.key}.done").exists():
                part = Stats(json.loads((udir / f"{s.key}.stats.json").read_text()))
                stats.merge(part)
                bar.shard_done(s.key, skipped=True)
            else:
                todo.append(s)
        check_alarm(stats, self.pipeline)

        def finished(r: UnitResult) -> None:
            stats.merge(Stats(r.stats))
            bar.shard_done(r.key)
            check_alarm(stats, self.pipeline)

        phase = f"phase {seg.index + 1}/{len(self.pipeline.segments)}"
        if pool is None:
            for s in todo:
                try:
                    finished(_run_unit(seg.index, s, out, self.batch_size, facets))
                except OSError as e:
                    raise _write_error(e, s.key, phase) from None
            return
        keys: dict[Future[UnitResult], str] = {
            pool.submit(_run_unit, seg.index, s, out, self.batch_size, facets): s.key
            for s in todo}
        workers = new_children(self._children_before_pool)
        pending = set(keys)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    try:
                        finished(fut.result())
                    except BrokenProcessPool:
                        raise lost_worker_error(workers, udir, keys.values(),
                                                phase) from None
                    except OSError as e:
                        raise _write_error(e, keys[fut], phase) from None
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            stop_workers(workers)
            _remove_temp_files(udir)  # of units the stopped workers were writing
            raise

    def _check_ids_unique(self, shards: list[Shard], out: Path) -> None:
        udir = _unit_dir(out, 0)
        hashes = [np.load(udir / f"{s.key}.idh.npy") for s in shards]
        if not hashes:
            return
        allh = np.concatenate(hashes)
        uniq, counts = np.unique(allh, return_counts=True)
        dup_h = uniq[counts > 1]
        if len(dup_h) == 0:
            return
        col = self.pipeline.columns.id
        involved = [s for s, h in zip(shards, hashes, strict=True) if np.isin(h, dup_h).any()]
        ids = [read_ids(s, col, self.config.storage_options) for s in involved]
        dupe = first_duplicate(pa.chunked_array(ids, type=pa.string()))
        if dupe is None:
            return  # a 64-bit hash collision between different ids: not a duplicate
        where = [s.key for s, a in zip(involved, ids, strict=True)
                 if dupe in set(a.to_pylist())]
        raise InputError(f"document id {dupe!r} occurs more than once (shards: "
                         f"{', '.join(where)}); ids must be unique across the input for the "
                         f"ledger to account for every document", shard=where[0])

    def _make_plan(self, seg: Segment, shards: list[Shard], out: Path) -> None:
        path = _plan_path(out, seg.index)
        if path.exists():
            return
        udir = _unit_dir(out, seg.index)
        files = [str(udir / f"{s.key}.collect.parquet") for s in shards
                 if (udir / f"{s.key}.collect.parquet").exists()]
        t0 = time.perf_counter()
        plan = self.pipeline.make_plan(seg, Collected(paths=files))
        seconds = time.perf_counter() - t0
        log.info("planned %s in %.1fs", seg.tail.label if seg.tail else "?", seconds)
        write_json_atomic({"seconds": seconds}, path.with_suffix(".json"))
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            pickle.dump(plan, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)

    def _engine_info(self) -> dict[str, Any]:
        """What run.json says about the engine (the Ray engine adds its version, address)."""
        return {"engine": "local"}

    def _generated_ids(self, shards: list[Shard]) -> dict[str, Any] | None:
        """Shards without an id column get ids ``<shard>:<row>``; run.json says which."""
        col = self.pipeline.columns.id
        keys = [s.key for s in shards
                if col not in shard_schema(s, self.config.storage_options).names]
        return {"column": col, "rule": GENERATED_ID_RULE, "shards": keys} if keys else None

    def _finalize(self, shards: list[Shard], out: Path, facets: list[str], fingerprint: str,
                  started: str, seconds: float, prints: dict[str, str]) -> dict[str, Any]:
        last = len(self.pipeline.segments) - 1
        stats = Stats()
        stats.data["input"]["shards"] = len(shards)
        out_docs = out_chars = 0
        record_scores = self.config.record_scores == "all"
        for s in shards:
            ledgers, scores = [], []
            for seg in self.pipeline.segments:
                udir = _unit_dir(out, seg.index)
                stats.merge(Stats(json.loads((udir / f"{s.key}.stats.json").read_text())))
                ledgers.append(pq.read_table(udir / f"{s.key}.ledger.parquet"))
                sp = udir / f"{s.key}.scores.parquet"
                if sp.exists():
                    scores.append(pq.read_table(sp))
            kept_path = _unit_dir(out, last) / f"{s.key}.kept.parquet"
            export_kept(kept_path, out / "data", s.key, self.config.output_format,
                        self.config.max_rows_per_file, self.config.max_bytes_per_file)
            meta = pq.ParquetFile(kept_path).metadata
            out_docs += meta.num_rows
            if meta.num_rows:
                col = pq.read_table(kept_path, columns=[self.config.text_column])
                out_chars += int(pa.compute.sum(pa.compute.utf8_length(col[0])).as_py() or 0)
            ledger = pa.concat_tables(ledgers, promote_options="default") if ledgers \
                else empty_ledger(facets)
            write_parquet_atomic(ledger, out / "ledger" / f"{s.key}.parquet")
            if record_scores:
                write_parquet_atomic(pa.concat_tables(scores) if scores else pa.table({}),
                                     out / "scores" / f"{s.key}.parquet")
        for seg in self.pipeline.segments:
            timing = _plan_path(out, seg.index).with_suffix(".json")
            if seg.tail is not None and timing.exists():
                stats.stage(seg.tail.label)["plan_seconds"] = round(
                    json.loads(timing.read_text())["seconds"], 3)
        stats.data["output"] = {"docs": out_docs, "chars": out_chars}
        stats.data["wall_seconds"] = round(seconds, 3)
        write_json_atomic(stats.data, out / "stats.json")
        import pyarrow

        run = {
            "status": CLEANUP,
            "fingerprint": fingerprint,
            "corpusfilter": __version__,
            "pyarrow": pyarrow.__version__,
            "python": sys.version.split()[0],
            **self._engine_info(),
            "workers": self.workers,
            "batch_size": self.batch_size,
            "started": started,
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "config_source": self.config.source,
            "config": self.config.to_dict(),
            "stages": self.pipeline.describe(),
            "facets": facets,
            "inputs": [{"shard": s.key, "path": s.path} for s in shards],
            "generated_ids": self._generated_ids(shards),
            "input_fingerprints": prints,
        }
        write_json_atomic(run, out / "run.json")
        _commit(out, run)
        return stats.data


def _commit(out: Path, run: dict[str, Any]) -> None:
    """The last step of a run: remove `_work/`, then mark `run.json` complete.

    `_work/` holds every phase's text, including text a later stage changed (e.g. before PII
    redaction), so a complete run must not keep it. `run.json` says ``cleanup`` until the
    removal is done; a rerun after a kill in between calls this again.
    """
    try:
        shutil.rmtree(out / WORK)
    except FileNotFoundError:
        pass
    except OSError as e:
        raise CorpusFilterError(f"cannot remove {out / WORK} ({e.strerror}: {e.filename}); it "
                                f"holds intermediate text from before later stages (such as "
                                f"PII redaction): fix the cause and rerun the same command "
                                f"to finish") from None
    write_json_atomic({**run, "status": COMPLETE}, out / "run.json")


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON object from a file, or {} if the file does not exist."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}


def _refuse_changed_input(out: Path, recorded: dict[str, str] | None,
                          prints: dict[str, str]) -> None:
    """A complete run cannot be redone in part (its `_work/` is gone): name what changed."""
    if recorded is None:  # written by a version without input fingerprints
        return
    what = [f"{k} ({describe_change(recorded[k], prints[k])})" for k in sorted(prints)
            if k in recorded and recorded[k] != prints[k]]
    what += [f"{k} (new)" for k in sorted(set(prints) - set(recorded))]
    what += [f"{k} (no longer in the input)" for k in sorted(set(recorded) - set(prints))]
    if what:
        raise CorpusFilterError(f"{out} holds a complete run, but its input changed since: "
                                f"shard {', '.join(what)}; pass --overwrite to run again on "
                                f"the current input, or write to another directory")


def _write_error(e: OSError, shard: str, phase: str) -> CorpusFilterError:
    """An OS error while a unit wrote its results (disk full, permissions, ...)."""
    where = f" ({e.filename})" if e.filename else ""
    return CorpusFilterError(f"shard {shard}: {e.strerror or e}{where} in {phase}; fix the "
                             f"cause (e.g. free disk space) and rerun the same command to "
                             f"resume: finished shards are kept")


def _remove_temp_files(d: Path) -> None:
    """Remove the temporary files of interrupted atomic writes (never a finished file)."""
    for pattern in ("*.tmp", "*.tmp.npy"):
        for tmp in d.glob(pattern):
            tmp.unlink(missing_ok=True)


class _Progress:
    """A rich progress bar (documents, shards, rate, ETA) on a terminal; log lines otherwise."""

    def __init__(self, enabled: bool, total_docs: int, total_shards: int, segments: int,
                 console: Any = None):
        self.enabled = enabled
        self.console = console  # rich's stderr console unless given (tests: a fixed width)
        self.total_docs = total_docs
        self.total_shards = total_shards
        self.segments = segments
        self._rows: dict[str, int] = {}
        self._bar: Any = None
        self._task: Any = None
        self._done = 0
        self._t0 = time.perf_counter()

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            # ~75 characters in all: legible on an 80-column terminal; the phase's stages
            # are printed above the bar, not in it.
            self._bar = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(bar_width=10),
                MofNCompleteColumn(), TextColumn("docs, {task.fields[shards]} shards"),
                TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                transient=False, console=self.console)
            self._bar.__enter__()
        return self

    def start_segment(self, seg: Segment, rows: dict[str, int]) -> None:
        self._rows = rows
        self._done = 0
        self._t0 = time.perf_counter()
        names = [s.label for s in ([seg.head] if seg.head else []) + seg.body]
        if seg.tail is not None:
            names.append(f"{seg.tail.label} (collect)")
        phase = f"phase {seg.index + 1}/{self.segments}"
        desc = f"{phase}: {', '.join(names) or 'read'}"
        if self._bar is not None:
            self._bar.console.print(desc, highlight=False, markup=False)
            self._task = self._bar.add_task(phase, total=self.total_docs, shards="0/"
                                            f"{self.total_shards}", rate="")
        else:
            log.info("%s", desc)

    def shard_done(self, key: str, skipped: bool = False) -> None:
        self._done += 1
        n = self._rows.get(key, 0)
        elapsed = max(time.perf_counter() - self._t0, 1e-9)
        if self._bar is not None:
            task = self._bar.tasks[-1]
            done_docs = task.completed + n
            self._bar.update(self._task, advance=n,
                             shards=f"{self._done}/{self.total_shards}",
                             rate=f"{done_docs / elapsed:,.0f}/s")
        else:
            log.info("  shard %s %s (%d/%d)", key, "already done" if skipped else "done",
                     self._done, self.total_shards)

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

