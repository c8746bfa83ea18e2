"""The local engine: a process pool over Parquet shards, with shard-level resume.

Layout of an output directory::

    OUT/data/<shard>.parquet      kept documents (all input columns + annotations)
    OUT/ledger/<shard>.parquet    one row per removed / modified document per stage
    OUT/scores/<shard>.parquet    every filter's scores (only with record_scores: all)
    OUT/stats.json                counters and timings
    OUT/run.json                  resolved config, versions, inputs, status
    OUT/_work/                    per segment and shard results while the run is going

Every unit of work (one segment of one shard, `engines/unit.py`) writes its files atomically
and then a `.done` marker; a rerun skips units with a marker, so a crash at any moment neither
loses nor redoes a finished shard. The units of the last phase write the final files under
`_work/final/`; the driver commits the run by renaming them into place, then `_work/` is
removed: `run.json` first says ``cleanup``, then ``complete`` once `_work/` (which holds text
from before later stages, such as PII redaction) is gone, so a kill in between is finished by
the rerun.

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
import shutil
import signal
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import xxhash

from corpusfilter import __version__
from corpusfilter.core.config import PipelineConfig, load_config
from corpusfilter.core.errors import CorpusFilterError, InputError, Interrupted
from corpusfilter.core.ledger import Stats
from corpusfilter.core.pipeline import (
    Pipeline,
    Segment,
    check_alarm,
    first_duplicate,
)
from corpusfilter.core.stage import Collected
from corpusfilter.engines.processes import (
    lost_worker_error,
    new_children,
    stop_signals,
    stop_workers,
)
from corpusfilter.engines.progress import Progress
from corpusfilter.engines.unit import (
    FINAL,
    FINAL_DIRS,
    UNIT_FILES,
    WORK,
    UnitResult,
    final_dir,
    final_names,
    output_totals,
    plan_path,
    publish_final_files,
    run_unit,
    start_pool_worker,
    start_worker,
    unit_dir,
    units_to_run,
)
from corpusfilter.io import fs, publish
from corpusfilter.io.atomic import remove_temp_files, write_json_atomic, write_pickle_atomic
from corpusfilter.io.fingerprint import describe_change, shard_fingerprint
from corpusfilter.io.lock import LOCK_NAME, OutputLock
from corpusfilter.io.shards import (
    GENERATED_ID_RULE,
    Shard,
    expand_inputs,
    limit_shards,
    read_ids,
    shard_keys,
    shard_rows,
    shard_schema,
)

log = logging.getLogger("corpusfilter")

CLEANUP, COMPLETE = "cleanup", "complete"  # run.json statuses, in the order they are written


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
        with Progress(self.progress, sum(rows.values()), len(shards),
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
        for d in (*(out / d for d in FINAL_DIRS), out / WORK, *(out / WORK).glob("seg-*"),
                  *(final_dir(out) / d for d in FINAL_DIRS)):
            remove_temp_files(d)

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
            last = unit_dir(out, len(self.pipeline.segments) - 1) / f"{key}.output.json"
            split = _read_json(last).get("files", [])  # its numbered data files, if split
            for udir in work.glob("seg-*"):
                for suffix in UNIT_FILES:
                    (udir / f"{key}.{suffix}").unlink(missing_ok=True)
            for d, name in final_names(key, self.config.output_format).items():
                (final_dir(out) / d / name).unlink(missing_ok=True)
            for name in split:
                (final_dir(out) / "data" / name).unlink(missing_ok=True)
        plans = sorted(work.glob("plan-*.pkl"))
        if plans and recorded != prints:
            log.warning("the input changed since the plans of global stages were made; "
                        "redoing every phase after the first")
            for p in plans:
                p.unlink()
                p.with_suffix(".json").unlink(missing_ok=True)
            for udir in [*work.glob("seg-*"), work / FINAL]:
                if udir.name != "seg-0" and udir.exists():
                    shutil.rmtree(udir)
        work.mkdir(parents=True, exist_ok=True)
        write_json_atomic({"fingerprint": fingerprint, "shards": prints}, manifest)

    def _standing(self, shards: list[Shard], out: Path) -> str:
        """Where an interrupted run stands, for the message."""
        if _read_json(out / "run.json").get("status") in (CLEANUP, COMPLETE):
            return "while removing intermediate files (the rerun finishes this)"
        n = len(self.pipeline.segments)
        for seg in self.pipeline.segments:
            udir = unit_dir(out, seg.index)
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
            start_worker(self.config.to_dict())
            return contextlib.nullcontext(None)
        # the pool's workers are the children started after this (signals, lost workers)
        self._children_before_pool = mp.active_children()
        return ProcessPoolExecutor(max_workers=min(self.workers, n_shards),
                                   mp_context=mp.get_context("spawn"),
                                   initializer=start_pool_worker,
                                   initargs=(self.config.to_dict(),))

    def _run_segment(self, seg: Segment, shards: list[Shard], out: Path, facets: list[str],
                     stats: Stats, bar: Progress, pool: Any) -> None:
        """Run the unfinished units of one phase (finished ones are counted, not redone)."""
        last = seg.index == len(self.pipeline.segments) - 1
        todo = units_to_run(out, seg.index, last, shards, stats,
                            lambda key: bar.shard_done(key, skipped=True))
        check_alarm(stats, self.pipeline)

        def finished(r: UnitResult) -> None:
            stats.merge(Stats(r.stats))
            bar.shard_done(r.key)
            check_alarm(stats, self.pipeline)

        if todo:
            self._run_units(seg, todo, out, facets, finished, pool)

    def _run_units(self, seg: Segment, todo: list[Shard], out: Path, facets: list[str],
                   finished: Callable[[UnitResult], None], pool: Any) -> None:
        """Run units on the pool (or in process), calling `finished` as each one ends."""
        phase = f"phase {seg.index + 1}/{len(self.pipeline.segments)}"
        if pool is None:
            for s in todo:
                try:
                    finished(run_unit(seg.index, s, out, self.batch_size, facets))
                except OSError as e:
                    raise _write_error(e, s.key, phase) from None
            return
        keys: dict[Future[UnitResult], str] = {
            pool.submit(run_unit, seg.index, s, out, self.batch_size, facets): s.key
            for s in todo}
        workers = new_children(self._children_before_pool)
        pending = set(keys)
        udir = unit_dir(out, seg.index)
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
            # temp files of the units the stopped workers were writing
            for d in (udir, *(final_dir(out) / d for d in FINAL_DIRS)):
                remove_temp_files(d)
            raise

    def _check_ids_unique(self, shards: list[Shard], out: Path) -> None:
        udir = unit_dir(out, 0)
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
        path = plan_path(out, seg.index)
        if path.exists():
            return
        udir = unit_dir(out, seg.index)
        files = [str(udir / f"{s.key}.collect.parquet") for s in shards
                 if (udir / f"{s.key}.collect.parquet").exists()]
        t0 = time.perf_counter()
        plan = self.pipeline.make_plan(seg, Collected(paths=files))
        seconds = time.perf_counter() - t0
        log.info("planned %s in %.1fs", seg.tail.label if seg.tail else "?", seconds)
        write_json_atomic({"seconds": seconds}, path.with_suffix(".json"))
        write_pickle_atomic(plan, path)

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
        data_files: dict[str, list[str]] = {}
        for s in shards:  # counters only: the units of the last phase wrote the final files
            for seg in self.pipeline.segments:
                udir = unit_dir(out, seg.index)
                stats.merge(Stats(json.loads((udir / f"{s.key}.stats.json").read_text())))
            totals = output_totals(out, last, s.key)
            out_docs += totals["docs"]
            out_chars += totals["chars"]
            # output.json of a version without split files: the one file of the shard
            data_files[s.key] = totals.get(
                "files", [final_names(s.key, self.config.output_format)["data"]])
        for seg in self.pipeline.segments:
            timing = plan_path(out, seg.index).with_suffix(".json")
            if seg.tail is not None and timing.exists():
                stats.stage(seg.tail.label)["plan_seconds"] = round(
                    json.loads(timing.read_text())["seconds"], 3)
        stats.data["output"] = {"docs": out_docs, "chars": out_chars}
        stats.data["wall_seconds"] = round(seconds, 3)
        publish_final_files(out, data_files, self.config.output_format,
                            self.config.record_scores == "all")
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
