"""`quality_classifier` and `quality_classifier_percentile`: model-based quality filtering.

A local model (nothing downloads) scores every document with the probability of the good
label: a model trained by ``corpusfilter train-quality`` (``.cfq``), or any fastText
classifier (``.bin``/``.ftz``: DCLM's OH2.5+ELI5 ``hq`` classifier, FineWeb-Edu
distillations, ...). This is how DCLM-Baseline (Li et al. 2024, top 10% by fastText score),
FineWeb-Edu (Penedo et al. 2024, educational score ≥ 3) and Nemotron-CC filter.

* `quality_classifier` keeps documents at or above a threshold (``min_score``; per language
  with ``min_score_by_lang``, through `core.langparams.LangParams`). A batch-local filter with one rule,
  so its logged scores serve ``corpusfilter whatif``.
* `quality_classifier_percentile` keeps the top ``keep_fraction`` of the whole corpus (or of
  each language): a global stage whose threshold comes from every document's score, so the
  result does not depend on shards, batches or workers. DCLM keeps the top 10%.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusfilter.core.docs import Docs
from corpusfilter.core.langparams import LangParams
from corpusfilter.core.params import Fraction, Range
from corpusfilter.core.registry import register
from corpusfilter.core.stage import Collected, Filter, GlobalStage, Outcome, Rule
from corpusfilter.filters.quality_model import QualityModel, load_quality_model


class _Scorer:
    """Model parameters shared by both stages, and scoring."""

    model_path: str
    model_sha256: str | None
    good_label: str | None
    _model: QualityModel | None

    def _init_model(self, model_path: str, model_sha256: str | None,
                    good_label: str | None) -> None:
        if not isinstance(model_path, str) or not Path(model_path).expanduser().is_file():
            raise ValueError(f"model_path {model_path!r} is not a file; train one with "
                             f"`corpusfilter train-quality` or give a local fastText model "
                             f"(nothing is downloaded)")
        self.model_path = model_path
        self.model_sha256 = model_sha256
        self.good_label = good_label
        self._model = None

    def setup(self) -> None:
        if self._model is None:
            self._model = load_quality_model(Path(self.model_path).expanduser(),
                                             self.model_sha256, self.good_label)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_model"] = None  # reloaded by setup() in each worker
        return state

    def quality_scores(self, docs: Docs) -> np.ndarray:
        self.setup()
        assert self._model is not None
        return self._model.score(docs.text.to_pylist())


@register
class QualityClassifier(_Scorer, Filter):
    """Keep documents whose quality score (probability of the good label) reaches a threshold.

    Removal reason ``quality_classifier.min_score`` with the score and the threshold in the
    ledger. There is no universal default threshold: scores are model-specific, so choose it
    from ``train-quality``'s printed precision at the recall you want, or use
    `quality_classifier_percentile`.

    Args:
        model_path: a ``.cfq`` model from ``corpusfilter train-quality``, or a fastText
            classifier ``.bin``/``.ftz``. Never downloaded.
        min_score: keep documents scoring at least this (None: score only, remove nothing).
        min_score_by_lang: per-language thresholds overriding `min_score` ({en: 0.5,
            de: null}; null switches the rule off for that language); read from ``lang``.
        good_label: the label whose probability is the score (fastText models: required,
            e.g. ``hq`` for DCLM's classifier; ``.cfq`` models: stored in the file).
        model_sha256: expected SHA-256 of the model file, checked before loading.
    """

    name = "quality_classifier"
    version = 1

    def __init__(self, model_path: str, min_score: Fraction | None = None,
                 min_score_by_lang: Mapping[str, Fraction | None] | None = None,
                 good_label: str | None = None, model_sha256: str | None = None):
        self._init_model(model_path, model_sha256, good_label)
        self.min_score = min_score
        self.lang_params = LangParams(
            self.name, {"min_score": min_score},
            {lang: {"min_score": v} for lang, v in (min_score_by_lang or {}).items()})

    def score(self, docs: Docs) -> dict[str, np.ndarray]:
        return {"quality_score": self.quality_scores(docs)}

    def rules(self, docs: Docs) -> list[Rule]:
        return [Rule("min_score", "quality_score",
                     min=self.lang_params.values("min_score", docs))]


@register
class QualityClassifierPercentile(_Scorer, GlobalStage):
    """Keep the best-scoring `keep_fraction` of the corpus (or of each language).

    The threshold is the score of the document at rank ``n - round(keep_fraction * n)`` in
    ascending order over every document of the corpus (of its language with ``by_lang``);
    documents scoring at least the threshold are kept, so ties at the threshold are all kept.
    It depends only on the multiset of scores: the same whatever the shards, batches or
    workers. Scores are computed in `collect` and again in `apply` (the model is
    deterministic), so the plan holds only thresholds. Removal reason
    ``quality_classifier_percentile.below_percentile``; the ledger has score and threshold.

    Args:
        model_path: as for `quality_classifier`.
        keep_fraction: share of documents to keep, in (0, 1]. DCLM-Baseline kept the top 0.1.
        by_lang: compute the threshold per value of ``lang`` (each language keeps its own top
            fraction) rather than over the whole corpus.
        good_label: as for `quality_classifier`.
        model_sha256: as for `quality_classifier`.
    """

    name = "quality_classifier_percentile"
    version = 1

    def __init__(self, model_path: str,
                 keep_fraction: Annotated[float, Range(0, 1, lo_open=True)] = 0.1,
                 by_lang: bool = False, good_label: str | None = None,
                 model_sha256: str | None = None):
        self._init_model(model_path, model_sha256, good_label)
        self.keep_fraction = float(keep_fraction)
        self.by_lang = by_lang

    def _groups(self, docs: Docs) -> list[str]:
        if not self.by_lang or docs.lang is None:
            return [""] * docs.num_rows
        return ["" if v is None else str(v) for v in docs.lang]

    def collect(self, docs: Docs) -> pa.Table:
        return pa.table({"group": pa.array(self._groups(docs), pa.string()),
                         "score": pa.array(self.quality_scores(docs), pa.float64())})

    def plan(self, collected: Collected) -> dict[str, float]:
        table = collected.read(["group", "score"])
        if table is None or table.num_rows == 0:
            return {}
        by_group: dict[str, list[np.ndarray]] = defaultdict(list)
        for g in pc.unique(table["group"]).to_pylist():
            mask = pc.equal(table["group"], g)
            by_group[g].append(table.filter(mask)["score"].to_numpy(zero_copy_only=False))
        out = {}
        for g, parts in by_group.items():
            s = np.sort(np.concatenate(parts))
            k = len(s) - round(self.keep_fraction * len(s))
            out[g] = float(s[min(k, len(s) - 1)])
        return out

    def apply(self, docs: Docs, plan: dict[str, float]) -> Outcome:
        n = docs.num_rows
        if n == 0 or not plan:
            return Outcome.keep_all(n)
        scores = self.quality_scores(docs)
        limit = np.array([plan.get(g, -np.inf) for g in self._groups(docs)])
        keep = scores >= limit
        reason = np.where(keep, None, self.reason("below_percentile"))
        return Outcome(keep=keep, reason=reason, score=np.where(keep, np.nan, scores),
                       threshold=np.where(keep, np.nan, limit))
