"""The stage contract.

Every stage sees a batch of documents (`Docs`) and returns an `Outcome`: which rows to keep, a
reason, score and threshold for each removed or modified row, optionally new text (transforms)
or new columns (annotations). The pipeline, not the stage, turns outcomes into ledger rows and
counters, so a concrete stage only computes.

Three flavours:

* `Filter`: `score()` computes named metrics per document; `decide()` compares them with
  thresholds (by default: the stage's `rules()`, first violated rule wins). Scores are kept so
  a threshold can be re-applied later without recomputing (NeMo Curator's split of
  `score_document` from `keep_document`).
* `Transform`: `transform()` returns new text and what it changed; it may also drop documents.
* `GlobalStage`: needs the whole corpus. `collect()` runs per batch (in parallel), `plan()`
  runs once over everything collected (behind a barrier), `apply()` runs per batch again.
  The plan must not depend on order, batching or worker count.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from corpusfilter.core.docs import Docs
from corpusfilter.core.params import check_arguments


@dataclass
class Outcome:
    """What a stage decided for each row of a batch (all arrays have the batch's length).

    keep: rows that stay.
    reason: for removed rows (and modified rows of a transform), a reason code such as
        ``gopher_quality.mean_word_length``; None elsewhere.
    score / threshold: the measured value and the limit it was compared with (NaN if none).
    detail: optional JSON-serialisable dict per row (entity counts, duplicate_of, ...). Must
        never hold text a stage scrubbed.
    text: new text for every row (transforms); None when the text is unchanged.
    modified: rows whose text changed (transforms).
    annotations: columns to add to (or overwrite in) the batch, e.g. ``lang``.
    repeat: copies of each kept row to emit (up-sampling); None means one.
    """

    keep: np.ndarray
    reason: np.ndarray | None = None
    score: np.ndarray | None = None
    threshold: np.ndarray | None = None
    detail: list[dict[str, Any] | None] | None = None
    text: pa.Array | None = None
    modified: np.ndarray | None = None
    annotations: dict[str, pa.Array] = field(default_factory=dict)
    repeat: np.ndarray | None = None

    @classmethod
    def keep_all(cls, n: int) -> Outcome:
        return cls(keep=np.ones(n, dtype=bool))

    def __post_init__(self) -> None:
        n = len(self.keep)
        self.keep = np.asarray(self.keep, dtype=bool)
        if self.reason is None:
            self.reason = np.full(n, None, dtype=object)
        else:
            self.reason = np.asarray(self.reason, dtype=object)
        self.score = _float_array(self.score, n)
        self.threshold = _float_array(self.threshold, n)
        for name, arr in (("reason", self.reason), ("score", self.score),
                          ("threshold", self.threshold)):
            if len(arr) != n:
                raise ValueError(f"Outcome.{name} has {len(arr)} rows, keep has {n}")
        if self.modified is not None:
            self.modified = np.asarray(self.modified, dtype=bool)
        if self.text is not None and len(self.text) != n:
            raise ValueError(f"Outcome.text has {len(self.text)} rows, keep has {n}")


def _float_array(values: Any, n: int) -> np.ndarray:
    if values is None:
        return np.full(n, np.nan)
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    return arr


@dataclass(frozen=True)
class Rule:
    """A threshold on one metric: remove a document when ``metric < min`` or ``metric > max``.

    Values equal to a threshold are kept. `min`/`max` may be per-document arrays (per-language
    thresholds). A NaN metric means "not applicable" and never removes.
    """

    name: str
    metric: str
    min: float | np.ndarray | None = None
    max: float | np.ndarray | None = None


class Stage:
    """Base of all stages.

    Subclasses set `name` (the stable registered name), `version` (bumped whenever the stage's
    decisions change for the same parameters) and take their parameters as keyword arguments
    with defaults, documented in an ``Args:`` section of the class docstring. Heavy resources
    (models, recognizers) are loaded in `setup()`, which runs once per worker.
    """

    name: ClassVar[str] = ""
    version: ClassVar[int] = 1
    kind: ClassVar[str] = "filter"
    is_global: ClassVar[bool] = False
    # Columns this stage adds to the documents (e.g. ("lang", "lang_score")); a written
    # `lang` or `source` becomes a default facet of the ledger.
    writes: ClassVar[tuple[str, ...]] = ()

    # Set by the registry when built from a pipeline file.
    instance_name: str = ""
    max_removal_rate: float | None = None
    # The constructor's arguments as given, defaults filled in: recorded by the base class
    # (see `__init_subclass__`) so that a run's config rebuilds the same stages.
    params: dict[str, Any] = {}  # noqa: RUF012 - replaced per instance, never mutated

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None:
            cls.__init__ = _recording_params(init)  # type: ignore[method-assign]

    def setup(self) -> None:
        """Load heavy resources; called once per worker before the first batch."""

    def named(self, label: str) -> Stage:
        """Give this instance its own label (needed when a stage is used twice)."""
        self.instance_name = label
        return self

    @property
    def label(self) -> str:
        """The name this stage instance carries in the ledger and stats."""
        return self.instance_name or self.name

    def reason(self, rule: str) -> str:
        return f"{self.label}.{rule}"


def _recording_params(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap a stage constructor so the instance checks its arguments against their
    annotations (`core.params`) and records them as `params`.

    Only the constructor of the instance's own class records (a subclass calling
    ``super().__init__`` does not overwrite what its caller gave). Reading the values back
    from attributes instead would record defaults for renamed attributes and methods for
    parameters that share a method's name."""
    sig = inspect.signature(init)
    named = [n for n, p in sig.parameters.items()
             if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)][1:]  # without self

    @functools.wraps(init)
    def __init__(self: Stage, *args: Any, **kwargs: Any) -> None:
        bound = sig.bind(self, *args, **kwargs)
        bound.apply_defaults()
        given = {n: bound.arguments[n] for n in named}
        check_arguments(self.name or type(self).__name__, init, given)
        if type(self).__init__ is __init__:
            self.params = given
        init(self, *args, **kwargs)

    return __init__


class Filter(Stage):
    """A batch-local stage that keeps or removes documents by their scores.

    A filter implements `score()` and `rules()`; the base decides. A filter that also
    explains its removals (matched terms, a predicted label) overrides `measure()` to return
    the scores together with a JSON-able detail per row; one that writes columns overrides
    `annotate()`. Either way it still decides through `rules()` (or `decide()`, from the
    scores and the documents' columns alone), never in `process()`, so a report can
    re-decide it from logged scores with other thresholds.
    """

    kind: ClassVar[str] = "filter"

    def score(self, docs: Docs) -> dict[str, np.ndarray]:
        """Named metrics, one float array per metric, each of the batch's length."""
        raise NotImplementedError

    def measure(self, docs: Docs) -> tuple[dict[str, np.ndarray],
                                           list[dict[str, Any] | None] | None]:
        """Scores and an optional detail per row (written to the ledger for removed rows)."""
        return self.score(docs), None

    def rules(self, docs: Docs) -> list[Rule]:
        """Thresholds applied by the default `decide()`, in order; first violated rule wins."""
        return []

    def decide(self, docs: Docs, scores: Mapping[str, np.ndarray]) -> Outcome:
        n = docs.num_rows
        keep = np.ones(n, dtype=bool)
        reason = np.full(n, None, dtype=object)
        score = np.full(n, np.nan)
        threshold = np.full(n, np.nan)
        for rule in self.rules(docs):
            if rule.min is None and rule.max is None:
                continue
            values = np.asarray(scores[rule.metric], dtype=np.float64)
            for bound, fails in ((rule.min, np.less), (rule.max, np.greater)):
                if bound is None:
                    continue
                limit = np.broadcast_to(np.asarray(bound, dtype=np.float64), (n,))
                with np.errstate(invalid="ignore"):
                    hit = keep & fails(values, limit)  # NaN compares False: never removes
                if hit.any():
                    keep[hit] = False
                    reason[hit] = self.reason(rule.name)
                    score[hit] = values[hit]
                    threshold[hit] = limit[hit]
        return Outcome(keep=keep, reason=reason, score=score, threshold=threshold)

    def annotate(self, docs: Docs, scores: Mapping[str, np.ndarray],
                 detail: list[dict[str, Any] | None] | None) -> dict[str, pa.Array]:
        """Columns this filter writes (its `writes`), built from what `measure()` found.

        `decide()` then sees the documents with these columns, as later stages, the ledger
        and a report's re-decision do (`language` decides on the label it writes)."""
        return {}

    def process(self, docs: Docs) -> tuple[Outcome, dict[str, np.ndarray]]:
        scores, detail = self.measure(docs)
        written = self.annotate(docs, scores, detail)
        outcome = self.decide(docs.with_columns(written) if written else docs, scores)
        if detail is not None:
            outcome.detail = detail
        if written:
            outcome.annotations = {**written, **outcome.annotations}
        return outcome, scores


class Transform(Stage):
    """A batch-local stage that rewrites text (and may also remove documents)."""

    kind: ClassVar[str] = "transform"

    def transform(self, docs: Docs) -> Outcome:
        raise NotImplementedError

    def process(self, docs: Docs) -> tuple[Outcome, dict[str, np.ndarray]]:
        return self.transform(docs), {}


class Collected:
    """What a global stage's `collect()` produced over the whole corpus.

    Backed by Parquet files (local engine) or by tables in memory (in-script runs). `plan()`
    can stream it shard by shard (`tables()`) or read selected columns at once (`read()`).
    The order of tables is the order of shards, but a correct plan never depends on it.
    """

    def __init__(self, tables: Iterable[pa.Table] | None = None,
                 paths: Iterable[str] | None = None):
        self._tables = list(tables) if tables is not None else None
        self.paths = list(paths) if paths is not None else []

    def tables(self, columns: list[str] | None = None) -> Iterator[pa.Table]:
        if self._tables is not None:
            for t in self._tables:
                yield t.select(columns) if columns else t
            return
        import pyarrow.parquet as pq

        for path in self.paths:
            yield pq.read_table(path, columns=columns)

    def read(self, columns: list[str] | None = None) -> pa.Table | None:
        tables = [t for t in self.tables(columns)]
        if not tables:
            return None
        return pa.concat_tables(tables, promote_options="default")


class GlobalStage(Stage):
    """A stage that needs the whole corpus: collect → plan (barrier) → apply."""

    kind: ClassVar[str] = "global"
    is_global: ClassVar[bool] = True

    def collect(self, docs: Docs) -> pa.Table | None:
        """Compact per-document records for the plan (e.g. id and hash)."""
        raise NotImplementedError

    def plan(self, collected: Collected) -> Any:
        """Decide globally from everything collected. Must be picklable and deterministic."""
        raise NotImplementedError

    def apply(self, docs: Docs, plan: Any) -> Outcome:
        raise NotImplementedError

