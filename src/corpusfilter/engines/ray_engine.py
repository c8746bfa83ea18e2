"""The Ray engine: the local engine's units of work, scheduled on a Ray cluster.

``corpusfilter run PIPELINE IN... -o OUT --engine ray [--address ADDR]`` gives the same
``OUT/data``, ``OUT/ledger``, ``stats.json`` and ``run.json`` as the local engine (only
``run.json`` says ``"engine": "ray"``), so ``corpusfilter verify`` and ``report`` work unchanged.

How the work is laid out (see docs/scale.md):

* A pipeline runs segment by segment (global stages are barriers), exactly as in
  `corpusfilter.engines.local`. Within a segment the unit of work is one input shard: a Ray
  Data dataset with one row per unfinished shard goes through ``map_batches`` with an actor
  pool; each actor builds the pipeline (and its models, in ``setup()``) once and runs the
  local engine's `_run_unit` on the shards it is given, writing the same unit files with the
  same atomic writes and ``.done`` markers. A worker killed mid-unit leaves no ``.done``;
  Ray restarts the actor and retries the unit, whose files are simply written again.
* Global stages are planned on the cluster, never on the driver, through
  `corpusfilter.engines.ray_plans`: ``exact_dedup`` by a Ray Data groupby on its text hash,
  ``minhash_dedup`` by a groupby on its band keys and connected components over the edges,
  both running the stage's own ``plan()`` per partition and writing the plan per shard; any
  other global stage (``balance``, whose records are per-batch counts) runs its own
  ``plan()`` in one Ray task on a worker node.
* Resume: the units and plans of an interrupted run are on disk (``OUT/_work``); a rerun of
  the same command skips finished units and plans. The output directory must be visible to
  every node (one machine, or a shared file system).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import pickle
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import xxhash

from corpusfilter.core.config import PipelineConfig
from corpusfilter.core.errors import CorpusFilterError
from corpusfilter.core.ledger import Stats
from corpusfilter.core.pipeline import Segment, check_alarm
from corpusfilter.engines import local
from corpusfilter.engines.local import LocalEngine, UnitResult, _plan_path, _unit_dir
from corpusfilter.io.shards import Shard, shard_rows, write_json_atomic

log = logging.getLogger("corpusfilter")

# Below this many input documents, id uniqueness is checked on the driver (8 bytes per id);
# above it, with a groupby on the cluster.
DRIVER_ID_CHECK_MAX = 10_000_000

INSTALL_HINT = ('the ray engine needs Ray Data, which is not installed; install it with '
                'pip install "corpusfilter[ray]" (or pip install "ray[data]"), or use '
                '--engine local')


def import_ray() -> Any:
    """Import ray (and ray.data), or fail with a message that says how to install it."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # never phone home
    try:
        import ray
        import ray.data
    except ImportError:
        raise CorpusFilterError(INSTALL_HINT) from None
    return ray


@dataclass
class UnitDone:
    """What the driver learns when a unit finishes (plus the actor's process id)."""

    result: UnitResult
    pid: int


# -- actor side ------------------------------------------------------------------------------

class UnitWorker:
    """A Ray Data actor: builds the pipeline once, then runs one segment on given shards."""

    def __init__(self, config: dict[str, Any], segment: int, out: str, batch_size: int,
                 facets: list[str]):
        local._init_worker(config)
        self.segment = segment
        self.out = Path(out)
        self.batch_size = batch_size
        self.facets = facets
        self.sharded: Any = None

    def __call__(self, batch: pa.Table) -> pa.Table:
        from corpusfilter.engines.ray_plans import ShardedPlan

        keys = batch.column("key").to_pylist()
        paths = batch.column("path").to_pylist()
        limits = batch.column("rows").to_pylist()  # --limit
        rows: dict[str, list[Any]] = {"key": [], "stats": [], "rows_in": [], "rows_out": [],
                                      "pid": [], "error": []}
        pipeline = local._worker_pipeline
        assert pipeline is not None
        seg = pipeline.segments[self.segment]
        head_idx = pipeline.stages.index(seg.head) if seg.head is not None else None
        if head_idx is not None and self.sharded is None:
            with open(_plan_path(self.out, self.segment - 1), "rb") as f:
                plan = pickle.load(f)
            self.sharded = plan if isinstance(plan, ShardedPlan) else False
            if not self.sharded:
                local._worker_plans[head_idx] = plan
        for key, path, limit in zip(keys, paths, limits, strict=True):
            if self.sharded and head_idx is not None:
                local._worker_plans[head_idx] = self.sharded.for_shard(key)
            try:
                r = local._run_unit(self.segment, Shard(path, key, limit), self.out,
                                    self.batch_size, self.facets)
            except CorpusFilterError as e:
                # Returned, not raised: Ray would keep only its text, and the driver must
                # raise the error itself (it names the shard, row and what to do).
                r = UnitResult(key, self.segment, {}, -1, -1)
                rows["error"].append(pickle.dumps(e))
            else:
                rows["error"].append(None)
            rows["key"].append(r.key)
            rows["stats"].append(json.dumps(r.stats))
            rows["rows_in"].append(r.rows_in)
            rows["rows_out"].append(r.rows_out)
            rows["pid"].append(os.getpid())
        return pa.table({k: pa.array(v, pa.binary() if k == "error" else None)
                         for k, v in rows.items()})


# -- driver side ------------------------------------------------------------------------------

class RayEngine(LocalEngine):
    """Runs a pipeline on a Ray cluster; same outputs and resume rules as `LocalEngine`.

    Args:
        address: a running cluster (``auto``, ``ray://host:10001``, ``host:6379``); None: the
            cluster this process is already connected to, else ``RAY_ADDRESS``, else a local
            one started for the run (and stopped after it).
        workers: the most actors per segment; 1 or less means one per CPU of the cluster.
        on_unit: called on the driver after every finished unit (progress, tests).
    """

    def __init__(self, pipeline_spec: str | Path | dict[str, Any] | PipelineConfig,
                 workers: int = 0, batch_size: int = 1000, progress: bool | None = None,
                 address: str | None = None,
                 on_unit: Callable[[UnitDone], None] | None = None, **settings: Any):
        super().__init__(pipeline_spec, workers=max(1, workers), batch_size=batch_size,
                         progress=progress, **settings)
        self.requested_workers = workers
        self.address = address
        self.on_unit = on_unit
        self._ray: Any = None
        self.driver_id_check_max = DRIVER_ID_CHECK_MAX

    def run(self, inputs: Sequence[str | Path], out: str | Path,
            overwrite: bool = False) -> dict[str, Any]:
        ray = import_ray()
        self._ray = ray
        started_here = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False,
                                      "logging_level": logging.WARNING,
                                      "log_to_driver": False}
            address = self.address or os.environ.get("RAY_ADDRESS")
            # "local" starts a cluster for this run; without it ray.init() would join any
            # stray local cluster recorded in Ray's temp directory
            kwargs["address"] = address or "local"
            if not address and self.requested_workers > 1:
                kwargs["num_cpus"] = self.requested_workers
            try:
                ray.init(**kwargs)
            except ValueError as e:  # Ray's refusal to size a cluster it only connects to
                if "existing cluster" not in str(e):
                    raise
                raise CorpusFilterError(
                    f"a Ray cluster is already running on this machine, so --workers "
                    f"{self.requested_workers} cannot start one of that size; run on it with "
                    f"--address auto (its CPUs set the workers), or stop it with `ray stop`"
                ) from None
            started_here = True
        elif self.address:
            log.info("already connected to a Ray cluster; ignoring --address %s", self.address)
        try:
            ctx = ray.data.DataContext.get_current()
            saved = (ctx.enable_progress_bars, ctx.print_on_execution_start,
                     getattr(ctx, "shuffle_strategy", None))
            ctx.enable_progress_bars = False
            ctx.print_on_execution_start = False
            # Sort-based shuffle for the groupbys of global stages: tasks only, no aggregator
            # actors to start (seconds per groupby on a small cluster), scales with the data.
            strategy = getattr(ray.data.context, "ShuffleStrategy", None)
            if strategy is not None:
                ctx.shuffle_strategy = strategy.SORT_SHUFFLE_PULL_BASED
            logging.getLogger("ray.data").setLevel(logging.WARNING)
            cpus = int(ray.cluster_resources().get("CPU", 1))
            self.workers = self.requested_workers if self.requested_workers > 1 else cpus
            stats = super().run(inputs, out, overwrite=overwrite)
        finally:
            ctx.enable_progress_bars, ctx.print_on_execution_start = saved[:2]
            if saved[2] is not None:
                ctx.shuffle_strategy = saved[2]
            if started_here:
                ray.shutdown()
        return stats

    def _engine_info(self) -> dict[str, Any]:
        return {"engine": "ray", "ray": {"version": self._ray.__version__,
                                         "address": self.address}}

    # -- overrides of the local engine's pieces --------------------------------------------

    def _fingerprint(self, shards: list[Shard]) -> str:
        # Different from the local engine's: an interrupted ray run (whose _work/ may hold
        # sharded plans) is never resumed by the local engine, nor the other way round.
        return xxhash.xxh64_hexdigest(f"ray:{super()._fingerprint(shards)}".encode())

    def _pool(self, n_shards: int) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext(None)  # Ray's actors are the workers

    def _run_segment(self, seg: Segment, shards: list[Shard], out: Path, facets: list[str],
                     stats: Stats, bar: Any, pool: Any = None) -> None:
        ray = self._ray
        udir = _unit_dir(out, seg.index)
        udir.mkdir(parents=True, exist_ok=True)
        todo = []
        for s in shards:
            if (udir / f"{s.key}.done").exists():
                stats.merge(Stats(json.loads((udir / f"{s.key}.stats.json").read_text())))
                bar.shard_done(s.key, skipped=True)
            else:
                todo.append(s)
        check_alarm(stats, self.pipeline)
        if not todo:
            return
        items = [{"key": s.key, "path": s.path, "rows": s.rows} for s in todo]
        pool = max(1, min(self.workers, len(todo)))
        ds = ray.data.from_items(items, override_num_blocks=len(items))
        ds = ds.map_batches(
            UnitWorker, batch_size=1, batch_format="pyarrow", zero_copy_batch=True,
            fn_constructor_kwargs={"config": self.config.to_dict(), "segment": seg.index,
                                   "out": str(out), "batch_size": self.batch_size,
                                   "facets": facets},
            compute=ray.data.ActorPoolStrategy(size=pool), num_cpus=1, max_restarts=-1, max_task_retries=-1)
        try:
            for row in ds.iter_rows():
                if row["error"] is not None:
                    raise pickle.loads(row["error"])
                r = UnitResult(row["key"], seg.index, json.loads(row["stats"]),
                               int(row["rows_in"]), int(row["rows_out"]))
                stats.merge(Stats(r.stats))
                bar.shard_done(r.key)
                if self.on_unit is not None:
                    self.on_unit(UnitDone(r, int(row["pid"])))
                check_alarm(stats, self.pipeline)
        except CorpusFilterError:
            raise
        except Exception as e:
            raise unwrap(e) from e

    def _check_ids_unique(self, shards: list[Shard], out: Path) -> None:
        from corpusfilter.engines.ray_plans import duplicate_id_shards

        rows = sum(shard_rows(s, self.config.storage_options) for s in shards)
        if rows <= self.driver_id_check_max:
            super()._check_ids_unique(shards, out)  # 8 bytes per id: at most 80 MB here
            return
        try:
            suspects = duplicate_id_shards(self._ray, shards, out, self._partitions(shards, out))
        except Exception as e:
            raise unwrap(e) from e
        if suspects:
            # Confirm (and name the id) on the few shards involved, as the local engine does.
            super()._check_ids_unique([s for s in shards if s.key in suspects], out)

    def _make_plan(self, seg: Segment, shards: list[Shard], out: Path) -> None:
        from corpusfilter.engines.ray_plans import make_plan

        path = _plan_path(out, seg.index)
        if path.exists():
            return
        t0 = time.perf_counter()
        try:
            make_plan(self._ray, self.config.to_dict(), seg.index, shards, out,
                      self._partitions(shards, out))
        except CorpusFilterError:
            raise
        except Exception as e:
            raise unwrap(e) from e
        seconds = time.perf_counter() - t0
        write_json_atomic({"seconds": seconds}, path.with_suffix(".json"))  # as local does
        log.info("planned %s on the cluster in %.1fs", seg.tail.label if seg.tail else "?",
                 seconds)

    def _partitions(self, shards: list[Shard], out: Path) -> int:
        """Key partitions of a distributed plan: ~200k records each, at least 2 per CPU."""
        rows = sum(shard_rows(s, self.config.storage_options) for s in shards)
        return int(min(8192, max(2 * self.workers, rows // 200_000 + 1)))


def unwrap(e: BaseException) -> BaseException:
    """The corpusfilter error inside a Ray task error (it names stage, shard and row)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [e]
    while todo:
        cur = todo.pop(0)
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, CorpusFilterError) and type(cur).__module__.startswith("corpusfilter"):
            return cur
        todo += [getattr(cur, "cause", None), cur.__cause__, cur.__context__]
    return e


def run_cli(args: argparse.Namespace, config: PipelineConfig) -> int:
    """``corpusfilter run ... --engine ray`` (``config``: the pipeline with the flags)."""
    from corpusfilter.report.summary import print_summary

    import_ray()
    engine = RayEngine(config, workers=args.workers, batch_size=args.batch_size,
                       progress=None if not args.no_progress else False,
                       address=args.address)
    engine.run(args.inputs, args.output, overwrite=args.overwrite)
    if not args.quiet:
        print_summary(args.output)
    return 0
