"""The pipeline: stages in order, run over record batches, producing kept documents, the
ledger and counters.

Stages are grouped into *segments* separated by global stages. Segment k applies the plan of
global stage k (if any), then its batch-local stages, then collects records for the next
global stage. Engines run segment by segment with a barrier between them; within a segment
every shard (and every batch) is independent, which is what makes the output independent of
batch size, worker count and engine.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusfilter.core import registry
from corpusfilter.core.batches import (
    Derived,
    as_shards,
    check_unique_ids,
    concat_batches,
    frame_kind,
    from_arrow_table,
    rebatch,
    repeat_rows,
    set_column,
)
from corpusfilter.core.batches import first_duplicate as first_duplicate  # engines' import
from corpusfilter.core.batches import id_strings as id_strings  # engines' import
from corpusfilter.core.config import DEFAULT_FACETS, PipelineConfig, load_config
from corpusfilter.core.docs import Columns, Docs
from corpusfilter.core.errors import ConfigError, InputError, RemovalAlarm, StageError
from corpusfilter.core.inputs import INPUT_STAGE, InputChecks
from corpusfilter.core.ledger import (
    MODIFIED,
    REMOVED,
    Stats,
    empty_ledger,
    facet_strings,
    ledger_rows,
)
from corpusfilter.core.stage import Collected, Filter, GlobalStage, Outcome, Stage


@dataclass
class Segment:
    """Stages between two barriers: apply `head`'s plan, run `body`, collect for `tail`."""

    index: int
    head: GlobalStage | None
    body: list[Stage]
    tail: GlobalStage | None


@dataclass
class SegmentOutput:
    """What one segment produced for one shard."""

    kept: pa.Table
    ledger: pa.Table
    stats: Stats
    collected: pa.Table | None = None
    scores: pa.Table | None = None


@dataclass
class RunResult:
    """Result of an in-script run: kept documents, the ledger, counters (and scores).

    ``kept``, ``ledger`` and ``scores`` come in the frame type the run was given (a pandas or
    polars DataFrame, a Hugging Face ``datasets.Dataset``, else a ``pyarrow.Table``; see
    `frame_kind`); `arrow` holds the same three as Arrow tables. `report` gives the removal
    report of the command line's ``corpusfilter report`` for this result.
    """

    kept: Any
    ledger: Any
    stats: Stats
    scores: Any | None = None
    config: dict[str, Any] = field(default_factory=dict)
    stages: list[dict[str, Any]] = field(default_factory=list)
    facets: list[str] = field(default_factory=list)
    frame: str = "arrow"

    def __post_init__(self) -> None:
        # The Arrow tables, kept whatever `frame` is (the report and removed_ids read them).
        self.arrow = {"kept": self.kept, "ledger": self.ledger, "scores": self.scores}
        if self.frame != "arrow":
            self.kept, self.ledger, self.scores = (
                from_arrow_table(t, self.frame) if t is not None else None
                for t in (self.kept, self.ledger, self.scores))

    @property
    def removed_ids(self) -> set[str]:
        led = self.arrow["ledger"]
        led = led.filter(pc.equal(led["action"], REMOVED))
        return set(led["doc_id"].to_pylist())

    def report(self, format: str = "text", path: str | Path | None = None,
               by: Sequence[str] | None = None, **options: Any) -> str:
        """The removal report of this result, as `corpusfilter report` writes it for a run.

        ``format``: ``text`` (the terminal report, 100 columns), ``json`` or ``html`` (a
        self-contained page). Returns it as a string and also writes it to ``path`` if
        given. ``by`` (facets to break rates down by; default the run's) and ``options``
        (``k``, ``margin``, ``min_support``, ``alpha``, ``adjust_by``, ``length_bins``) are
        the report's options, with the command line's defaults.
        """
        from corpusfilter.report.api import report_of_result

        return report_of_result(self, format, path, by, options)


class Pipeline:
    """An ordered list of stages with the settings of a pipeline file.

    Build it from a pipeline file or recipe name (``Pipeline.load("default")``), a dict, or a
    list of stage objects (``Pipeline([DocLength(min_words=50), ExactDedup()])``), then call
    `run()` on a `pyarrow.Table`, record batches, a pandas/polars DataFrame, a Hugging Face
    `datasets.Dataset`, or Parquet paths.
    """

    def __init__(self, stages: Sequence[Stage] | PipelineConfig | dict[str, Any] | str | Path,
                 **settings: Any):
        if isinstance(stages, (PipelineConfig, dict, str, Path)):
            cfg = load_config(stages)
            for k, v in settings.items():
                setattr(cfg, k, v)
            cfg.validate()
            self.config = cfg
            registry.load_plugins(cfg.plugins)
            self.stages = [registry.build(e, i) for i, e in enumerate(cfg.stages)]
        else:
            self.stages = list(stages)
            for s in self.stages:  # `s.params` was recorded by its constructor
                s.instance_name = s.instance_name or s.name
            entries = [{"stage": f"{s.name}@{s.version}", **s.params} for s in self.stages]
            self.config = PipelineConfig(stages=entries, source="<python>", **settings)
        labels = [s.label for s in self.stages]
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        if dupes:
            raise ConfigError(f"stage label(s) {', '.join(dupes)} used twice; give each "
                              f"instance a distinct `name:` in the pipeline file")
        if INPUT_STAGE in labels:
            raise ConfigError(f"{INPUT_STAGE!r} is reserved for input validation")
        self.columns = Columns(self.config.text_column, self.config.id_column,
                               self.config.lang_column)
        self.segments = _segments(self.stages)
        self.inputs = InputChecks(self.columns, self.config)
        self._ready = False

    @classmethod
    def load(cls, spec: str | Path | dict[str, Any], **settings: Any) -> Pipeline:
        return cls(spec, **settings)

    # -- set-up ---------------------------------------------------------------------------

    def setup(self) -> None:
        if not self._ready:
            for s in self.stages:
                s.setup()
            self._ready = True

    def facets_for(self, schema: pa.Schema) -> list[str]:
        """The facet columns of a run: configured ones, or `source`/`lang` where present.

        `lang` counts as present when a stage writes it (the `language` stage)."""
        if self.config.facets is not None:
            return list(self.config.facets)
        written = {c for s in self.stages for c in s.writes}
        lang = self.columns.lang
        defaults = [lang if f == "lang" else f for f in DEFAULT_FACETS]
        return [f for f in defaults if f in schema.names or f in written]

    def describe(self) -> list[dict[str, Any]]:
        return [{"label": s.label, "stage": s.name, "version": s.version, "kind": s.kind,
                 "params": s.params} for s in self.stages]

    # -- the per-shard work engines call -------------------------------------------------

    def check_schema(self, schema: pa.Schema, shard: str) -> None:
        """Fail early, naming the shard, if required columns are missing or mistyped."""
        self.inputs.check_schema(schema, shard)

    def process_segment(self, seg: Segment, batches: Iterable[pa.RecordBatch], shard: str,
                        plans: dict[int, Any], facets: Sequence[str],
                        first_row: int = 0) -> SegmentOutput:
        """Run one segment over the batches of one shard."""
        self.setup()
        work = ShardWork(self, shard, plans, facets)
        kept_parts: list[pa.RecordBatch] = []
        collected: list[pa.Table] = []
        stages: list[tuple[Stage, bool]] = [(seg.head, True)] if seg.head else []
        stages += [(s, False) for s in seg.body]
        row = first_row
        for batch in batches:
            n = batch.num_rows
            chars: np.ndarray | None = None
            if seg.index == 0:
                batch, led, chars = self.inputs.validate(batch, shard, row, facets, work.stats)
                if led is not None:
                    work.ledger_parts.append((-1, led))
            row += n
            work.removed = []
            work.derived = Derived()
            for pos, (stage, is_apply) in enumerate(stages):
                batch, chars = work.run_stage(pos, stage, is_apply, batch, chars)
            if seg.tail is not None:
                c = work.collect(seg.tail, batch)
                if c is not None:
                    collected.append(c)
            kept_parts.append(batch)
        return SegmentOutput(
            kept=concat_batches(kept_parts),
            ledger=work.ledger(),
            stats=work.stats,
            collected=pa.concat_tables(collected, promote_options="default") if collected
            else None,
            scores=work.scores(),
        )

    # -- global stages -------------------------------------------------------------------

    def make_plan(self, seg: Segment, collected: Collected) -> Any:
        assert seg.tail is not None
        try:
            return seg.tail.plan(collected)
        except (InputError, ConfigError):
            raise
        except Exception as e:
            raise _stage_error(seg.tail, "<plan>", e) from e

    # -- in-script runs ------------------------------------------------------------------

    def run(self, data: Any, batch_size: int = 1000) -> RunResult:
        """Run in this process on in-memory data or Parquet paths; returns a `RunResult`."""
        shards = as_shards(data, batch_size, self.columns.id, self.config.storage_options,
                           self.config.limit)
        self.setup()
        plans: dict[int, Any] = {}
        stats = Stats()
        ledgers: list[pa.Table] = []
        scores: list[pa.Table] = []
        current: list[tuple[str, list[pa.RecordBatch]]] = []
        facets: list[str] | None = None
        for name, batches in shards:
            batches = list(batches)
            schema = batches[0].schema if batches else None
            if schema is not None:
                self.check_schema(schema, name)
                if facets is None:
                    facets = self.facets_for(schema)
            current.append((name, batches))
            stats.data["input"]["shards"] += 1
        facets = facets or []
        check_unique_ids([(name, [b.column(self.columns.id) for b in batches])
                          for name, batches in current], self.columns.id)
        for seg in self.segments:
            nxt: list[tuple[str, list[pa.RecordBatch]]] = []
            collected = []
            for name, batches in current:
                out = self.process_segment(seg, batches, name, plans, facets)
                stats.merge(out.stats)
                ledgers.append(out.ledger)
                if out.scores is not None:
                    scores.append(out.scores)
                if out.collected is not None:
                    collected.append(out.collected)
                nxt.append((name, rebatch(out.kept, batch_size)))
            if seg.tail is not None:
                t0 = time.perf_counter()
                plans[self.stages.index(seg.tail)] = self.make_plan(seg, Collected(collected))
                stats.stage(seg.tail.label)["plan_seconds"] = round(time.perf_counter() - t0, 3)
            current = nxt
            check_alarm(stats, self)
        kept_tables = [concat_batches(b) for _, b in current if b]
        kept = (pa.concat_tables(kept_tables, promote_options="default") if kept_tables
                else pa.table({}))
        stats.data["output"]["docs"] += kept.num_rows
        if kept.num_rows:
            stats.data["output"]["chars"] += int(pc.sum(pc.utf8_length(
                kept[self.columns.text])).as_py() or 0)
        ledger = (pa.concat_tables(ledgers, promote_options="default") if ledgers
                  else empty_ledger(facets))
        return RunResult(kept=kept, ledger=ledger, stats=stats,
                         scores=pa.concat_tables(scores) if scores else None,
                         config=self.config.to_dict(), stages=self.describe(), facets=facets,
                         frame=frame_kind(data))


@dataclass
class ShardWork:
    """One segment's work on one shard: runs each batch through a stage and gathers what the
    stages produced (ledger rows, scores, counters) until `SegmentOutput` is built.

    The pipeline alone turns a stage's `Outcome` into ledger rows and counters (here), so a
    stage only computes."""

    pipeline: Pipeline
    shard: str
    plans: dict[int, Any]
    facets: Sequence[str]
    stats: Stats = field(default_factory=Stats)
    # (stage position, ledger rows): sorted by stage at the end so the ledger's row order
    # (stage, then input order) does not depend on how the shard was cut into batches.
    ledger_parts: list[tuple[int, pa.Table]] = field(default_factory=list)
    score_parts: list[pa.Table] = field(default_factory=list)
    # the current batch's rows removed by earlier stages (kept for record_scores: all)
    removed: list[pa.RecordBatch] = field(default_factory=list)
    # values derived from the current batch's text, carried while the text is unchanged
    derived: Derived = field(default_factory=Derived)

    def run_stage(self, pos: int, stage: Stage, is_apply: bool, batch: pa.RecordBatch,
                  chars: np.ndarray | None) -> tuple[pa.RecordBatch, np.ndarray]:
        """Run one stage on one batch; returns the kept rows and their character counts."""
        columns = self.pipeline.columns
        # character counts carried from the previous stage: no rescan of the text
        docs = Docs(batch, columns, self.shard, known_text_chars=chars, derived=self.derived)
        t0 = time.perf_counter()
        try:
            if is_apply:
                assert isinstance(stage, GlobalStage)
                outcome: Outcome = stage.apply(
                    docs, self.plans[self.pipeline.stages.index(stage)])
                scores: dict[str, np.ndarray] = {}
            else:
                outcome, scores = stage.process(docs)  # type: ignore[attr-defined]
        except (InputError, ConfigError):
            raise
        except Exception as e:
            raise _stage_error(stage, self.shard, e) from e
        seconds = time.perf_counter() - t0
        n = batch.num_rows
        if len(outcome.keep) != n:
            raise StageError(f"stage {stage.label} returned {len(outcome.keep)} decisions for "
                             f"a batch of {n} rows (shard {self.shard})")
        chars_in = docs.text_chars
        for name, arr in outcome.annotations.items():
            batch = set_column(batch, name, arr)
        if outcome.text is not None:
            text_type = batch.schema.field(columns.text).type
            batch = set_column(batch, columns.text, outcome.text.cast(text_type))
            chars_out = pc.utf8_length(outcome.text).to_numpy(zero_copy_only=False)
            self.derived = Derived()  # derived from the old text
        else:
            chars_out = chars_in
        keep = outcome.keep
        modified = (outcome.modified if outcome.modified is not None
                    else np.zeros(n, dtype=bool))
        self._record(pos, stage, docs, batch, outcome, modified, chars_in, chars_out, seconds)
        if self.pipeline.config.record_scores == "all" and isinstance(stage, Filter):
            self._record_scores(stage, docs.ids, batch, scores)
        chars_out = np.asarray(chars_out, dtype=np.int64)
        if not keep.all():
            if self.pipeline.config.record_scores == "all":
                self.removed.append(batch.filter(pa.array(~keep)))
            batch = batch.filter(pa.array(keep))
            chars_out = chars_out[keep]
            self.derived = self.derived.select(keep, batch.column(columns.text))
        if outcome.repeat is not None:
            repeat = np.asarray(outcome.repeat)[keep]
            batch = repeat_rows(batch, repeat, columns.id)
            self.derived = Derived()
            chars_out = np.repeat(chars_out, repeat.astype(np.int64))
        return batch, chars_out

    def _record(self, pos: int, stage: Stage, docs: Docs, batch: pa.RecordBatch,
                outcome: Outcome, modified: np.ndarray, chars_in: np.ndarray,
                chars_out: np.ndarray, seconds: float) -> None:
        """Ledger rows (one per removed or modified document, in row order, so the ledger
        does not depend on where batches were cut) and the stage's counters."""
        keep = outcome.keep
        assert outcome.reason is not None  # Outcome fills it
        rows = np.flatnonzero(~keep | modified)
        if len(rows):
            self.ledger_parts.append((pos, ledger_rows(
                batch=batch, ids=docs.ids, rows=rows,
                action=np.where(keep[rows], MODIFIED, REMOVED), shard=self.shard,
                stage=stage.label, reason=outcome.reason, score=outcome.score,
                threshold=outcome.threshold, detail=outcome.detail, text_chars=chars_in,
                facets=self.facets)))
        missing_reason = [i for i in rows if outcome.reason[i] is None]
        if missing_reason:
            raise StageError(f"stage {stage.label} removed or modified row "
                             f"{int(missing_reason[0])} without a reason (shard {self.shard})")
        self.stats.record_stage(stage.label, batch, keep, modified, outcome.reason, chars_in,
                                np.asarray(chars_out), self.facets, docs.counters, seconds)

    def _record_scores(self, stage: Filter, ids: pa.Array, batch: pa.RecordBatch,
                       scores: dict[str, np.ndarray]) -> None:
        """Scores of the documents the stage saw (with the columns it wrote, as in the
        ledger) and of those earlier stages removed from this batch (`seen` false)."""
        self.score_parts.append(self._score_rows(stage, ids, batch, scores, True))
        for rb in self.removed:
            if rb.num_rows:
                earlier = Docs(rb, self.pipeline.columns, self.shard)
                self.score_parts.append(self._score_rows(stage, earlier.ids, rb,
                                                         stage.score(earlier), False))

    def _score_rows(self, stage: Filter, ids: pa.Array, batch: pa.RecordBatch,
                    scores: dict[str, np.ndarray], seen: bool) -> pa.Table:
        n = batch.num_rows
        names = sorted(scores)
        ids = ids.cast(pa.string())
        cols: dict[str, pa.Array] = {
            "doc_id": pa.concat_arrays([ids] * len(names)) if names else pa.array([], pa.string()),
            "shard": pa.array([self.shard] * (n * len(names)), pa.string()),
            "stage": pa.array([stage.label] * (n * len(names)), pa.string()),
            "metric": pa.array([m for m in names for _ in range(n)], pa.string()),
            "value": pa.array(np.concatenate([np.asarray(scores[m], dtype=np.float64)
                                              for m in names]) if names else [], pa.float64()),
            "seen": pa.array([seen] * (n * len(names)), pa.bool_()),
        }
        for f in self.facets:
            col = facet_strings(batch, f)
            cols[f] = pa.concat_arrays([col] * len(names)) if names else pa.array([], pa.string())
        return pa.table(cols)

    def collect(self, stage: GlobalStage, batch: pa.RecordBatch) -> pa.Table | None:
        """The next global stage's records of this batch; its counters count for it."""
        docs = Docs(batch, self.pipeline.columns, self.shard)
        try:
            c = stage.collect(docs)
        except (InputError, ConfigError):
            raise
        except Exception as e:
            raise _stage_error(stage, self.shard, e) from e
        if docs.counters:
            counters = self.stats.stage(stage.label)["counters"]
            for k, v in docs.counters.items():
                counters[k] = counters.get(k, 0) + int(v)
        return c

    def ledger(self) -> pa.Table:
        self.ledger_parts.sort(key=lambda part: part[0])  # stable: input order per stage
        return (pa.concat_tables([t for _, t in self.ledger_parts]) if self.ledger_parts
                else empty_ledger(self.facets))

    def scores(self) -> pa.Table | None:
        if not self.score_parts:
            return None
        return pa.concat_tables(self.score_parts).sort_by(
            [("stage", "ascending"), ("metric", "ascending"), ("doc_id", "ascending")])


def check_alarm(stats: Stats, pipeline: Pipeline) -> None:
    """Stop the run when a stage removes more than its allowed share of what it saw."""
    cfg = pipeline.config
    for stage in pipeline.stages:
        limit = stage.max_removal_rate if stage.max_removal_rate is not None \
            else cfg.max_removal_rate
        if limit is None:
            continue
        s = stats.data["stages"].get(stage.label)
        if not s or s["in"] < cfg.alarm_min_docs:
            continue
        rate = s["removed"] / s["in"]
        if rate > limit:
            reasons = sorted(s["reasons"].items(), key=lambda kv: -kv[1])[:3]
            raise RemovalAlarm(
                f"stage {stage.label} removed {s['removed']:,} of {s['in']:,} documents "
                f"({rate:.1%}), above the alarm at {limit:.0%}; top reasons: "
                + ", ".join(f"{r} ({c:,})" for r, c in reasons)
                + ". Check its parameters, or allow it with `max_removal_rate: 1.0` on that "
                "stage (or at the top of the pipeline file).")


def _segments(stages: list[Stage]) -> list[Segment]:
    segs: list[Segment] = []
    head: GlobalStage | None = None
    body: list[Stage] = []
    for s in stages:
        if isinstance(s, GlobalStage):
            segs.append(Segment(len(segs), head, body, s))
            head, body = s, []
        else:
            body.append(s)
    segs.append(Segment(len(segs), head, body, None))
    return segs


def _stage_error(stage: Stage, shard: str, e: Exception) -> StageError:
    return StageError(f"stage {stage.label} failed on shard {shard}: "
                      f"{type(e).__name__}: {e}")
