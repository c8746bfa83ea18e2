"""The pipeline: stages in order, run over record batches, producing kept documents, the
ledger and counters.

Stages are grouped into *segments* separated by global stages. Segment k applies the plan of
global stage k (if any), then its batch-local stages, then collects records for the next
global stage. Engines run segment by segment with a barrier between them; within a segment
every shard (and every batch) is independent, which is what makes the output independent of
batch size, worker count and engine.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusfilter.core import registry
from corpusfilter.core.config import DEFAULT_FACETS, PipelineConfig, load_config
from corpusfilter.core.docs import Columns, Docs
from corpusfilter.core.errors import ConfigError, InputError, RemovalAlarm, StageError
from corpusfilter.core.ledger import (
    MODIFIED,
    REMOVED,
    Stats,
    empty_ledger,
    facet_strings,
    ledger_rows,
)
from corpusfilter.core.stage import Collected, Filter, GlobalStage, Outcome, Stage

INPUT_STAGE = "input"


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
        cols = self.columns
        for role, name in (("text", cols.text), ("id", cols.id)):
            if name not in schema.names:
                key = "text_column" if role == "text" else "id_column"
                raise InputError(f"column {name!r} not found (columns: "
                                 f"{', '.join(schema.names)}); set `{key}:` in the pipeline "
                                 f"file to the column holding the document {role}",
                                 shard=shard)
        t = schema.field(cols.text).type
        if not _is_text_type(t):
            raise InputError(f"text column {cols.text!r} has type {t}, expected a string "
                             f"(string, large_string, string_view, binary, or a dictionary "
                             f"of these); set `text_column:` to the column holding the text",
                             shard=shard)
        it = schema.field(cols.id).type
        if pa.types.is_nested(it) or (pa.types.is_dictionary(it)
                                      and pa.types.is_nested(it.value_type)):
            raise InputError(f"id column {cols.id!r} has type {it}; an id is one string or "
                             f"integer per document: set `id_column:` to such a column",
                             shard=shard)

    def process_segment(self, seg: Segment, batches: Iterable[pa.RecordBatch], shard: str,
                        plans: dict[int, Any], facets: Sequence[str],
                        first_row: int = 0) -> SegmentOutput:
        """Run one segment over the batches of one shard."""
        self.setup()
        stats = Stats()
        kept_parts: list[pa.RecordBatch] = []
        # (stage position, ledger rows): sorted by stage at the end so the ledger's row order
        # (stage, then input order) does not depend on how the shard was cut into batches.
        ledger_parts: list[tuple[int, pa.Table]] = []
        collected: list[pa.Table] = []
        score_parts: list[pa.Table] = []
        row = first_row
        for batch in batches:
            n = batch.num_rows
            chars: np.ndarray | None = None
            if seg.index == 0:
                batch, led, chars = self._validate(batch, shard, row, facets, stats)
                if led is not None:
                    ledger_parts.append((-1, led))
            row += n
            removed_batches: list[pa.RecordBatch] = []
            stages: list[tuple[Stage, bool]] = [(seg.head, True)] if seg.head else []
            stages += [(s, False) for s in seg.body]
            for pos, (stage, is_apply) in enumerate(stages):
                batch, chars, led, removed = self._run_stage(
                    stage, is_apply, batch, chars, shard, plans, facets, stats,
                    removed_batches, score_parts)
                if led is not None:
                    ledger_parts.append((pos, led))
                if removed is not None:
                    removed_batches.append(removed)
            if seg.tail is not None:
                docs = Docs(batch, self.columns, shard)
                try:
                    c = seg.tail.collect(docs)
                except (InputError, ConfigError):
                    raise
                except Exception as e:
                    raise _stage_error(seg.tail, shard, e) from e
                if c is not None:
                    collected.append(c)
                if docs.counters:  # counters from the collect phase belong to the tail stage
                    counters = stats.stage(seg.tail.label)["counters"]
                    for k, v in docs.counters.items():
                        counters[k] = counters.get(k, 0) + int(v)
            kept_parts.append(batch)
        kept = _concat_batches(kept_parts)
        ledger_parts.sort(key=lambda part: part[0])  # stable: keeps input order per stage
        ledger = (pa.concat_tables([t for _, t in ledger_parts]) if ledger_parts
                  else empty_ledger(facets))
        return SegmentOutput(
            kept=kept,
            ledger=ledger,
            stats=stats,
            collected=pa.concat_tables(collected, promote_options="default") if collected
            else None,
            scores=pa.concat_tables(score_parts).sort_by(
                [("stage", "ascending"), ("metric", "ascending"), ("doc_id", "ascending")])
            if score_parts else None,
        )

    def _validate(self, batch: pa.RecordBatch, shard: str, first_row: int,
                  facets: Sequence[str], stats: Stats,
                  ) -> tuple[pa.RecordBatch, pa.Table | None, np.ndarray]:
        """Input checks: ids present, text valid UTF-8, not null, not over the size limit."""
        cols = self.columns
        n = batch.num_rows
        stats.data["input"]["docs"] += n
        ids = batch.column(cols.id)
        if ids.null_count:
            bad = int(np.flatnonzero(ids.is_null().to_numpy(zero_copy_only=False))[0])
            raise InputError(f"id column {cols.id!r} is null; every document needs an id",
                             shard=shard, row=first_row + bad)
        text = batch.column(cols.text)
        if _needs_plain_text(text.type):
            text = _plain_text(text)
            batch = batch.set_column(batch.schema.get_field_index(cols.text), cols.text, text)
        reason = np.full(n, None, dtype=object)
        if pa.types.is_binary(text.type) or pa.types.is_large_binary(text.type):
            text, bad_utf8 = _decode_utf8(text)
            for i in bad_utf8:
                reason[i] = "input.invalid_utf8"
            batch = batch.set_column(batch.schema.get_field_index(cols.text), cols.text, text)
        if text.null_count:
            null_mask = text.is_null().to_numpy(zero_copy_only=False)
            reason[null_mask & (reason == None)] = "input.null_text"  # noqa: E711
            text = text.fill_null("")
        chars = pc.utf8_length(text).to_numpy(zero_copy_only=False).astype(np.int64)
        stats.data["input"]["chars"] += int(chars.sum())
        if self.config.max_doc_chars is not None:
            too_long = chars > self.config.max_doc_chars
            reason[too_long & (reason == None)] = "input.too_long"  # noqa: E711
        bad = reason != None  # noqa: E711
        keep = ~bad
        # counted for every batch: the input stage's `in` is the denominator of its rates
        stats.record_stage(INPUT_STAGE, batch, keep, np.zeros(n, bool), reason, chars, chars,
                           facets, {}, 0.0)
        if not bad.any():
            return batch, None, chars
        if self.config.on_invalid == "error":
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"{reason[i]} (document id {ids[i].as_py()!r}); fix the input "
                             f"or set on_invalid: remove to record such rows as removed",
                             shard=shard, row=first_row + i)
        rows = np.flatnonzero(bad)
        threshold = np.full(n, np.nan)
        score = np.full(n, np.nan)
        if self.config.max_doc_chars is not None:
            long_rows = reason == "input.too_long"
            threshold[long_rows] = self.config.max_doc_chars
            score[long_rows] = chars[long_rows]
        detail = [{"row": first_row + int(i)} if bad[i] else None for i in range(n)]
        led = ledger_rows(batch=batch, ids=ids, rows=rows, action=REMOVED, shard=shard,
                          stage=INPUT_STAGE, reason=reason, score=score, threshold=threshold,
                          detail=detail, text_chars=chars, facets=facets)
        return batch.filter(pa.array(keep)), led, chars[keep]

    def _run_stage(self, stage: Stage, is_apply: bool, batch: pa.RecordBatch,
                   chars: np.ndarray | None, shard: str, plans: dict[int, Any],
                   facets: Sequence[str], stats: Stats,
                   removed_batches: list[pa.RecordBatch], score_parts: list[pa.Table],
                   ) -> tuple[pa.RecordBatch, np.ndarray, pa.Table | None,
                              pa.RecordBatch | None]:
        """Run one stage on one batch: returns the kept batch, its character counts, the
        stage's ledger rows and (when scores of removed documents are wanted) the removed
        rows."""
        docs = Docs(batch, self.columns, shard)
        if chars is not None:  # carried from the previous stage: no rescan of the text
            docs.__dict__["text_chars"] = chars
        t0 = time.perf_counter()
        try:
            if is_apply:
                assert isinstance(stage, GlobalStage)
                outcome: Outcome = stage.apply(docs, plans[self.stages.index(stage)])
                scores: dict[str, np.ndarray] = {}
            else:
                outcome, scores = stage.process(docs)  # type: ignore[attr-defined]
        except (InputError, ConfigError):
            raise
        except Exception as e:
            raise _stage_error(stage, shard, e) from e
        seconds = time.perf_counter() - t0
        n = batch.num_rows
        if len(outcome.keep) != n:
            raise StageError(f"stage {stage.label} returned {len(outcome.keep)} decisions for "
                             f"a batch of {n} rows (shard {shard})")
        chars_in = docs.text_chars
        for name, arr in outcome.annotations.items():
            batch = _set_column(batch, name, arr)
        if outcome.text is not None:
            text_type = batch.schema.field(self.columns.text).type
            batch = _set_column(batch, self.columns.text, outcome.text.cast(text_type))
            chars_out = pc.utf8_length(outcome.text).to_numpy(zero_copy_only=False)
        else:
            chars_out = chars_in
        keep = outcome.keep
        modified = (outcome.modified if outcome.modified is not None
                    else np.zeros(n, dtype=bool))
        # one ledger row per removed or modified document, in row order (so the ledger does
        # not depend on where batches were cut)
        removed_rows = np.flatnonzero(~keep)
        rows = np.flatnonzero(~keep | modified)
        led = None
        if len(rows):
            led = ledger_rows(
                batch=batch, ids=docs.ids, rows=rows,
                action=np.where(keep[rows], MODIFIED, REMOVED), shard=shard,
                stage=stage.label, reason=outcome.reason, score=outcome.score,
                threshold=outcome.threshold, detail=outcome.detail, text_chars=chars_in,
                facets=facets)
        missing_reason = [i for i in rows if outcome.reason[i] is None]
        if missing_reason:
            raise StageError(f"stage {stage.label} removed or modified row "
                             f"{int(missing_reason[0])} without a reason (shard {shard})")
        stats.record_stage(stage.label, batch, keep, modified, outcome.reason, chars_in,
                           np.asarray(chars_out), facets, docs.counters, seconds)
        if self.config.record_scores == "all" and isinstance(stage, Filter):
            score_parts.append(self._score_rows(stage, docs, scores, shard, facets, True))
            for rb in removed_batches:
                if rb.num_rows:
                    earlier = Docs(rb, self.columns, shard)
                    score_parts.append(self._score_rows(stage, earlier, stage.score(earlier),
                                                        shard, facets, False))
        removed = None
        chars_out = np.asarray(chars_out, dtype=np.int64)
        if len(removed_rows):
            if self.config.record_scores == "all":
                removed = batch.filter(pa.array(~keep))
            batch = batch.filter(pa.array(keep))
            chars_out = chars_out[keep]
        if outcome.repeat is not None:
            repeat = np.asarray(outcome.repeat)[keep]
            batch = _repeat_rows(batch, repeat, self.columns.id)
            chars_out = np.repeat(chars_out, repeat.astype(np.int64))
        return batch, chars_out, led, removed

    def _score_rows(self, stage: Filter, docs: Docs, scores: dict[str, np.ndarray], shard: str,
                    facets: Sequence[str], seen: bool) -> pa.Table:
        n = docs.num_rows
        names = sorted(scores)
        ids = docs.ids.cast(pa.string())
        cols: dict[str, pa.Array] = {
            "doc_id": pa.concat_arrays([ids] * len(names)) if names else pa.array([], pa.string()),
            "shard": pa.array([shard] * (n * len(names)), pa.string()),
            "stage": pa.array([stage.label] * (n * len(names)), pa.string()),
            "metric": pa.array([m for m in names for _ in range(n)], pa.string()),
            "value": pa.array(np.concatenate([np.asarray(scores[m], dtype=np.float64)
                                              for m in names]) if names else [], pa.float64()),
            "seen": pa.array([seen] * (n * len(names)), pa.bool_()),
        }
        for f in facets:
            col = facet_strings(docs.batch, f)
            cols[f] = pa.concat_arrays([col] * len(names)) if names else pa.array([], pa.string())
        return pa.table(cols)

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
        shards = _as_shards(data, batch_size, self.columns.id, self.config.storage_options,
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
                nxt.append((name, _rebatch(out.kept, batch_size)))
            if seg.tail is not None:
                t0 = time.perf_counter()
                plans[self.stages.index(seg.tail)] = self.make_plan(seg, Collected(collected))
                stats.stage(seg.tail.label)["plan_seconds"] = round(time.perf_counter() - t0, 3)
            current = nxt
            check_alarm(stats, self)
        kept_tables = [_concat_batches(b) for _, b in current if b]
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


_TEXT_TYPES = (pa.types.is_string, pa.types.is_large_string, pa.types.is_binary,
               pa.types.is_large_binary, pa.types.is_string_view, pa.types.is_binary_view)


def _is_text_type(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return any(is_type(t) for is_type in _TEXT_TYPES)


def _needs_plain_text(t: pa.DataType) -> bool:
    return pa.types.is_dictionary(t) or pa.types.is_string_view(t) or \
        pa.types.is_binary_view(t)


def _plain_text(arr: pa.Array) -> pa.Array:
    """Dictionary-encoded and view text → plain (large_)string/binary, which every stage's
    kernels take (Arrow has no `utf8_length` for views, for one). Same values, so the output
    holds the text as an ordinary string column."""
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    if pa.types.is_string_view(arr.type):
        return arr.cast(pa.string())
    if pa.types.is_binary_view(arr.type):
        return arr.cast(pa.binary())
    return arr


def id_strings(ids: pa.Array, column: str, shard: str, first_row: int) -> pa.Array:
    """Ids as strings; an id that cannot be one raises `InputError` naming shard and row."""
    try:
        return ids.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    for i, v in enumerate(ids.to_pylist()):  # the slow path only finds the row to name
        if isinstance(v, bytes):
            try:
                v.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(f"id {v[:40]!r} in column {column!r} is not valid UTF-8; "
                                 f"ids must be text: fix this shard's ids",
                                 shard=shard, row=first_row + i) from None
    raise InputError(f"id column {column!r} has type {ids.type}, which cannot be read as "
                     f"text; set `id_column:` to a string or integer column", shard=shard)


def _decode_utf8(arr: pa.Array) -> tuple[pa.Array, list[int]]:
    """Binary → string; rows that are not valid UTF-8 become null and are reported."""
    target = pa.large_string() if pa.types.is_large_binary(arr.type) else pa.string()
    try:
        return arr.cast(target), []
    except pa.ArrowInvalid:
        pass
    values, bad = [], []
    for i, v in enumerate(arr.to_pylist()):
        if v is None:
            values.append(None)
            continue
        try:
            values.append(v.decode("utf-8"))
        except UnicodeDecodeError:
            values.append(None)
            bad.append(i)
    return pa.array(values, target), bad


def _set_column(batch: pa.RecordBatch, name: str, arr: pa.Array) -> pa.RecordBatch:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    i = batch.schema.get_field_index(name)
    if i >= 0:
        return batch.set_column(i, name, arr)
    return batch.append_column(name, arr)


def _repeat_rows(batch: pa.RecordBatch, repeat: np.ndarray, id_col: str) -> pa.RecordBatch:
    """Emit each row `repeat[i]` times; copies get ``epoch`` 1, 2, ... and id ``<id>#<epoch>``."""
    repeat = repeat.astype(np.int64)
    idx = np.repeat(np.arange(batch.num_rows), repeat)
    starts = np.repeat(np.cumsum(repeat) - repeat, repeat)
    epoch = np.arange(len(idx)) - starts
    out = batch.take(pa.array(idx, pa.int64()))
    ids = out.column(id_col).cast(pa.string())
    suffix = pa.array([f"#{e}" if e else "" for e in epoch], pa.string())
    new_ids = pc.binary_join_element_wise(ids, suffix, "")
    out = _set_column(out, id_col, new_ids.cast(batch.schema.field(id_col).type))
    return _set_column(out, "epoch", pa.array(epoch, pa.int32()))


def _concat_batches(batches: list[pa.RecordBatch]) -> pa.Table:
    """Zero-copy when all batches share a schema (the usual case)."""
    if not batches:
        return pa.table({})
    schema = batches[0].schema
    if all(b.schema.equals(schema) for b in batches):
        return pa.Table.from_batches(batches, schema=schema)
    tables = [pa.Table.from_batches([b]) for b in batches]
    return pa.concat_tables(tables, promote_options="default")


def _rebatch(table: pa.Table, batch_size: int) -> list[pa.RecordBatch]:
    if table.num_columns == 0:
        return []
    batches = table.to_batches(max_chunksize=batch_size)
    return batches or [pa.RecordBatch.from_pylist([], schema=table.schema)]


def check_unique_ids(shards: Sequence[tuple[str, Sequence[pa.Array]]],
                     column: str = "id") -> None:
    """Ids must be unique across the whole input, or conservation cannot be checked."""
    arrays = []
    for name, arrs in shards:
        row = 0
        for a in arrs:
            arrays.append(id_strings(a, column, name, row))
            row += len(a)
    if not arrays:
        return
    dupe = first_duplicate(pa.chunked_array(arrays, type=pa.string()))
    if dupe is None:
        return
    where = [name for name, arrs in shards
             if any(pc.any(pc.equal(a.cast(pa.string()), dupe)).as_py() for a in arrs)]
    raise InputError(f"document id {dupe!r} occurs more than once (in {', '.join(where)}); "
                     f"ids must be unique for the ledger to account for every document",
                     shard=where[0])


def first_duplicate(ids: pa.Array | pa.ChunkedArray) -> str | None:
    """The smallest id occurring more than once, or None."""
    if len(ids) == 0:
        return None
    vc = pc.value_counts(ids)
    counts = vc.field("counts").to_numpy()
    if counts.max(initial=0) <= 1:
        return None
    dupes = vc.field("values").filter(pa.array(counts > 1)).to_pylist()
    return min(str(d) for d in dupes)


def _as_shards(data: Any, batch_size: int, id_column: str | None = None,
               storage: dict[str, Any] | None = None, limit: int | None = None
               ) -> Iterator[tuple[str, Iterable[pa.RecordBatch]]]:
    """Normalise what `Pipeline.run` accepts into (shard name, batches) pairs (only the
    first ``limit`` documents, as the engines read them, when the config sets one)."""
    from corpusfilter.io.shards import (
        expand_inputs,
        limit_shards,
        read_shard_batches,
        shard_keys,
        with_ids,
    )

    if isinstance(data, (str, Path)) or (isinstance(data, list) and data
                                         and isinstance(data[0], (str, Path))):
        paths = expand_inputs([data] if isinstance(data, (str, Path)) else data, storage)
        for s in limit_shards(shard_keys(paths), limit, storage):
            yield s.key, list(read_shard_batches(s.path, batch_size, s.key,
                                                 storage_options=storage, id_column=id_column,
                                                 limit=s.rows))
        return
    table = to_arrow_table(data)
    if table is not None and limit is not None:
        table = table.slice(0, limit)
    if table is not None:
        batches = table.to_batches(max_chunksize=batch_size) or [
            pa.RecordBatch.from_pylist([], schema=table.schema)]
        yield "<memory>", list(with_ids(batches, "<memory>", id_column)) if id_column \
            else batches
        return
    first = (lambda t: t) if limit is None else (lambda t: t.slice(0, limit))
    if isinstance(data, pa.RecordBatch):
        yield "<memory>", _rebatch(first(pa.Table.from_batches([data])), batch_size)
        return
    if isinstance(data, Iterable):
        batches = list(data)
        if batches and all(isinstance(b, pa.RecordBatch) for b in batches):
            yield "<memory>", _rebatch(first(pa.Table.from_batches(batches)), batch_size)
            return
    raise TypeError(f"cannot run a pipeline on {type(data).__name__}: pass a pyarrow Table or "
                    f"RecordBatch(es), a pandas/polars DataFrame, a datasets.Dataset, or "
                    f"Parquet paths")


def frame_kind(data: Any) -> str:
    """The frame type results are returned in: that of the data given to `Pipeline.run`
    (``pandas``, ``polars``, ``datasets``), else ``arrow`` (tables, batches, paths)."""
    mod = type(data).__module__.split(".")[0]
    return mod if mod in ("pandas", "polars", "datasets") else "arrow"


def from_arrow_table(table: pa.Table, kind: str) -> Any:
    """An Arrow table in the frame type ``kind`` (`frame_kind`). The library is the one the
    caller's data came from, already imported (none of them is a dependency)."""
    if kind == "pandas":
        return table.to_pandas()
    if kind == "polars":
        return sys.modules["polars"].from_arrow(table)
    if kind == "datasets":
        # datasets.Dataset wraps its own Table class around an Arrow table
        ds = sys.modules["datasets"]
        return ds.Dataset(ds.table.InMemoryTable(table))
    return table


def to_arrow_table(data: Any) -> pa.Table | None:
    """Zero-copy (where the library allows) conversion of DataFrame-like objects to Arrow."""
    if isinstance(data, pa.Table):
        return data
    mod = type(data).__module__.split(".")[0]
    if mod == "pandas":
        return pa.Table.from_pandas(data, preserve_index=False)
    if mod == "polars":
        return data.to_arrow()
    if mod == "datasets":  # Hugging Face datasets: Arrow-backed already
        return data.with_format("arrow")[:]
    if hasattr(data, "__arrow_c_stream__"):
        return pa.table(data)
    return None
