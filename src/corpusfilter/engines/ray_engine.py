"""The Ray engine: the local engine's units of work, scheduled on a Ray cluster.

``corpusfilter run PIPELINE IN... -o OUT --engine ray [--address ADDR]`` gives the same
``OUT/data``, ``OUT/ledger``, ``stats.json`` and ``run.json`` as the local engine (only
``run.json`` says ``"engine": "ray"``), so ``corpusfilter verify`` and ``report`` work unchanged.

How the work is laid out (see docs/scale.md):

* A pipeline runs segment by segment (global stages are barriers), exactly as in
  `corpusfilter.engines.local`, with the same unit of work (`corpusfilter.engines.unit`):
  one segment on one shard. One Ray actor per worker serves every phase of the run (the
  pipeline and its models are built once per actor), the actors are spread over the nodes,
  and each runs one unit at a time, taking the next pending shard when it is free, so a few
  shards still spread over all nodes. A worker killed mid-unit leaves no ``.done``; Ray
  restarts the actor and retries the unit, whose files are simply written again.
* The units of the last phase write the final files (``data/``, ``ledger/``, ``scores/``
  and each shard's totals) on the workers; the driver only merges the small per-unit
  counters and commits the run by renaming files into place (no copy of the output).
* Global stages are planned on the cluster, never on the driver, through
  `corpusfilter.engines.ray_plans`: ``exact_dedup`` by a shuffle on its text hash,
  ``minhash_dedup`` by a shuffle on its band keys and connected components over the edges
  (shuffles through one file per task in ``OUT/_work``, `corpusfilter.engines.ray_exchange`),
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
import logging
import os
import pickle
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xxhash

from corpusfilter.core.config import PipelineConfig
from corpusfilter.core.errors import CorpusFilterError, InputError
from corpusfilter.core.pipeline import Segment
from corpusfilter.engines.local import LocalEngine
from corpusfilter.engines.unit import UnitResult, Worker, plan_path
from corpusfilter.io.atomic import write_json_atomic
from corpusfilter.io.shards import Shard, read_ids, shard_rows

log = logging.getLogger("corpusfilter")

# Up to this many input documents, id uniqueness is checked on the driver; above it, with a
# shuffle on the cluster. Measured at 2M documents (docs/scale.md): the driver's check costs
# ~46 bytes per id (+88 MiB), the cluster's check +161 MiB on the driver (then a Ray Data
# groupby, whose machinery the plans started anyway and which then reused that memory). Up to here the driver's
# check stays below that fixed cost, so the driver's peak does not grow with the corpus.
DRIVER_ID_CHECK_MAX = 2_000_000
# Records per partition of a distributed plan: what one planning task holds, whatever the
# corpus size (docs/scale.md: 0.86 GiB RSS, 0.54 GiB private, for the largest task of
# minhash_dedup's plan at this size with 640-character documents). The number of partitions
# grows with the corpus instead, from a floor of 2 per CPU for parallelism, up to
# MAX_PARTITIONS (past 1.6B records the partitions grow again; the driver submits one task
# and receives two numbers per partition and shuffle step, ray_exchange).
PARTITION_RECORDS = 200_000
MAX_PARTITIONS = 8192
# A unit whose worker dies this many times more (a kill, an out-of-memory kill, a lost node)
# fails the run with a message naming the shard; Ray restarts the actor each time.
MAX_UNIT_RETRIES = 3

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
    """What the driver learns when a unit finishes (plus where it ran)."""

    result: UnitResult
    pid: int
    node: str = ""


# -- actor side ------------------------------------------------------------------------------

class UnitActor:
    """A Ray actor that serves every phase of a run: the pipeline is built (and its models
    loaded) once, and one unit at a time is run with `unit.Worker`, as in a local pool."""

    def __init__(self, config: dict[str, Any]):
        self.worker = Worker(config)

    def run(self, segment: int, key: str, path: str, rows: int | None, out: str,
            batch_size: int, facets: list[str]) -> dict[str, Any]:
        import ray

        done: dict[str, Any] = {"pid": os.getpid(),
                                "node": ray.get_runtime_context().get_node_id()}
        try:
            done["result"] = self.worker.run_unit(segment, Shard(path, key, rows), Path(out),
                                                  batch_size, facets)
        except CorpusFilterError as e:
            # Returned, not raised: the driver raises it itself, with its type and message
            # (it names the shard, row and what to do), not wrapped in a Ray error.
            done["error"] = pickle.dumps(e)
        return done


# -- driver side ------------------------------------------------------------------------------

class RayEngine(LocalEngine):
    """Runs a pipeline on a Ray cluster; same outputs and resume rules as `LocalEngine`.

    Args:
        address: a running cluster (``auto``, ``ray://host:10001``, ``host:6379``); None: the
            cluster this process is already connected to, else ``RAY_ADDRESS``, else a local
            one started for the run (and stopped after it).
        workers: the number of actors (at most one per shard), which serve every phase; 1
            or less means one per CPU of the cluster.
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
        self.partition_records = PARTITION_RECORDS

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
            # Sort-based shuffle for the groupbys of a stage's own plan_ray hook (the engine's
            # own plans shuffle through files instead, ray_exchange): tasks only, no
            # aggregator actors to start (seconds per groupby on a small cluster).
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

    @contextlib.contextmanager
    def _pool(self, n_shards: int) -> Iterator[list[Any]]:
        """One actor per worker for the whole run (as the local engine's single pool), killed
        when the run ends however it ends: no actor of this run outlives it.

        Actors are placed on the nodes in turn, as many per node as it has CPUs
        (`actor_nodes`), so a few shards still spread over the nodes (Ray's own placement put
        every unit of a 2-shard run on one of 2 nodes, issue #22). They reserve no CPU: the
        engine runs at most one unit per actor, and between phases the planning tasks of
        global stages need every CPU (actors holding CPUs for the run would starve them).
        """
        ray = self._ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        config = self.config.to_dict()
        nodes = actor_nodes(ray.nodes(), max(1, min(self.workers, n_shards)))
        actors = [ray.remote(UnitActor).options(
            num_cpus=0, max_restarts=-1, max_task_retries=MAX_UNIT_RETRIES,
            # hard: Ray 2.60 placed "soft" ones on one node of two. A lost node fails its
            # actors' units with a message; the rerun places actors on the nodes alive then.
            scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
        ).remote(config) for node in nodes]
        try:
            yield actors
        finally:
            for a in actors:
                with contextlib.suppress(Exception):
                    ray.kill(a, no_restart=True)

    def _run_units(self, seg: Segment, todo: list[Shard], out: Path, facets: list[str],
                   finished: Callable[[UnitResult], None], pool: Any) -> None:
        """Each actor runs one unit at a time and gets the next pending shard as soon as it
        is free, so units spread over all actors (and nodes) even with few shards."""
        ray = self._ray
        pending = list(reversed(todo))
        idle: list[Any] = list(pool)
        running: dict[Any, tuple[Any, Shard]] = {}
        try:
            while pending or running:
                while pending and idle:
                    a, s = idle.pop(0), pending.pop()
                    ref = a.run.remote(seg.index, s.key, s.path, s.rows, str(out), self.batch_size,
                                       facets)
                    running[ref] = (a, s)
                ready, _ = ray.wait(list(running), num_returns=1)
                a, s = running.pop(ready[0])
                done = self._unit_result(ready[0], s, seg)
                idle.append(a)
                finished(done.result)
                if self.on_unit is not None:
                    self.on_unit(done)
        finally:
            for ref in running:
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)

    def _unit_result(self, ref: Any, shard: Shard, seg: Segment) -> UnitDone:
        try:
            done = self._ray.get(ref)
        except CorpusFilterError:
            raise
        except Exception as e:
            cause = unwrap(e)
            if isinstance(cause, CorpusFilterError):
                raise cause from e
            raise CorpusFilterError(
                f"shard {shard.key}: its worker was lost in phase "
                f"{seg.index + 1}/{len(self.pipeline.segments)}, after up to "
                f"{MAX_UNIT_RETRIES} retries ({type(e).__name__}: "
                f"{str(e).splitlines()[0] if str(e) else ''}); finished shards are kept: "
                f"rerun the same command to resume") from e
        if "error" in done:
            raise pickle.loads(done["error"])
        return UnitDone(done["result"], done["pid"], done["node"])

    def _check_ids_unique(self, shards: list[Shard], out: Path) -> None:
        from corpusfilter.engines.ray_plans import MAX_ID_COLLISIONS, colliding_ids

        rows = sum(shard_rows(s, self.config.storage_options) for s in shards)
        if rows <= self.driver_id_check_max:
            super()._check_ids_unique(shards, out)  # ~46 bytes per id: < 100 MB
            return
        start = 0
        while True:  # more than one pass only past MAX_ID_COLLISIONS 64-bit hash collisions
            try:
                found = colliding_ids(self._ray, shards, out, self._partitions(shards, out),
                                      start)
            except Exception as e:
                raise unwrap(e) from e
            for h, keys in found:
                # Confirm (and name the id) on the few shards holding this hash only.
                self._confirm_duplicate(h, [s for s in shards if s.key in keys])
            if len(found) < MAX_ID_COLLISIONS:
                return
            start = found[-1][0] + 1

    def _confirm_duplicate(self, h: int, involved: list[Shard]) -> None:
        """Raise the local engine's error if an id hashing to `h` occurs twice in `involved`
        (else it was a 64-bit collision between different ids)."""
        col = self.pipeline.columns.id
        where: dict[str, list[str]] = {}
        for s in involved:
            for v in read_ids(s, col, self.config.storage_options).to_pylist():
                if xxhash.xxh64_intdigest(str(v).encode()) == h:
                    where.setdefault(v, []).append(s.key)
        for dupe, keys in sorted(where.items()):
            if len(keys) > 1:
                shards = list(dict.fromkeys(keys))
                raise InputError(f"document id {dupe!r} occurs more than once (shards: "
                                 f"{', '.join(shards)}); ids must be unique across the input "
                                 f"for the ledger to account for every document",
                                 shard=shards[0])

    def _make_plan(self, seg: Segment, shards: list[Shard], out: Path) -> None:
        from corpusfilter.engines.ray_plans import make_plan

        path = plan_path(out, seg.index)
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
        """Key partitions of a distributed plan: at most `partition_records` records each
        (input documents: collected records are at most one per document), at least 2 per
        CPU, at most MAX_PARTITIONS."""
        rows = sum(shard_rows(s, self.config.storage_options) for s in shards)
        return partitions(rows, self.workers, self.partition_records)


def partitions(rows: int, cpus: int, per_partition: int = PARTITION_RECORDS) -> int:
    """max(2 per CPU, ceil(rows / per_partition)), capped at MAX_PARTITIONS: so that past
    2 × CPUs × per_partition records the partitions stop growing and their number grows."""
    return int(min(MAX_PARTITIONS, max(2 * cpus, -(-rows // per_partition))))


def actor_nodes(nodes: list[dict[str, Any]], n: int) -> list[str]:
    """The node ids of ``n`` actors: the alive nodes with CPUs taken in turn, each at most
    as often as it has CPUs (then in turn again), so actors i and i+1 are on different nodes
    whenever there are several."""
    cpus = {nd["NodeID"]: int(nd.get("Resources", {}).get("CPU", 0)) for nd in nodes
            if nd.get("Alive") and nd.get("Resources", {}).get("CPU", 0) >= 1}
    if not cpus:
        raise CorpusFilterError("the Ray cluster has no alive node with a CPU to run on")
    order = sorted(cpus)
    slots = [node for k in range(max(cpus.values())) for node in order if cpus[node] > k]
    return [slots[i % len(slots)] for i in range(n)]


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
