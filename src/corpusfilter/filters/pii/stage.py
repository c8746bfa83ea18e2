"""`pii`: find personal data that has evidence of being personal data, and redact it, drop
it, or count it (docs/pii.md).

Detection (`detection.Detector`) is precision-first: a digit string is a phone number, card
or SSN only with a cue word or a layout of its type, never when its shape is a date, a list
of years or pages, an ISBN, a version or an id in a URL. The ledger never holds matched
text: detail has entity types, counts, offsets and scores.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
import pyarrow as pa

from corpusfilter.core.docs import Docs
from corpusfilter.core.params import Count, Range
from corpusfilter.core.registry import register
from corpusfilter.core.stage import Outcome, Transform
from corpusfilter.filters.pii.detection import DEFAULT_ENTITIES, Detector, Finding
from corpusfilter.filters.pii.phone import DEFAULT_REGIONS
from corpusfilter.filters.pii.presidio_path import (
    NER_LABELS,
    PRESIDIO_ONLY,
    PresidioTypes,
    ReferenceDetector,
    check_ner_model,
)
from corpusfilter.filters.pii.redaction import resolve_overlaps, settle

KNOWN_ENTITIES: tuple[str, ...] = (*DEFAULT_ENTITIES, *PRESIDIO_ONLY, *NER_LABELS)
Mode = Literal["redact", "drop", "label_only"]
SPAN_TYPE = pa.list_(pa.struct([
    pa.field("entity_type", pa.string()),
    pa.field("start", pa.int32()),
    pa.field("end", pa.int32()),
    pa.field("score", pa.float64()),
]))


@register
class Pii(Transform):
    """Detect personal data (emails, phones, cards, IBANs, IPs, SSNs, Bitcoin addresses) that
    has evidence of its type, and redact it.

    Rules and their sources: docs/pii.md ("Precision rules"); e.g. a phone number needs a cue
    word (tel, call, Fax, Telefon, 電話, ...) or a layout `phonenumbers` validates (a ``+``
    country code, ``(ddd) ddd-dddd``, a trunk ``0``), a card an issuer range, a valid length,
    Luhn and a card word or card grouping, an SSN an SSN word and valid groups.
    Overlapping findings are merged, typed by the highest score.

    Modes: ``redact`` replaces each entity by `placeholder` (reason ``pii.redacted``);
    ``drop`` removes documents with more than `max_entities` entities (reason
    ``pii.max_entities``) or with an entity of a type in `drop_types` (``pii.entity_type``)
    and redacts the documents it keeps; ``label_only`` keeps the text and writes the columns
    ``pii_count`` and ``pii_spans`` (entity type, start, end, score). Ledger detail: counts by
    type and spans (type, start, end, score; at most `max_ledger_spans`), never the text.
    Counters in stats.json: ``docs_with_pii`` and ``entities.<TYPE>``.

    Args:
        mode: redact | drop | label_only.
        entities: entity types to detect (default: EMAIL_ADDRESS, PHONE_NUMBER, CREDIT_CARD,
            IBAN_CODE, IP_ADDRESS, US_SSN, CRYPTO). Also available, from Presidio's
            recognizers as they are: URL, UK_NHS, UK_NINO, ES_NIF, IT_FISCAL_CODE,
            IN_AADHAAR, IN_PAN, PL_PESEL, SG_NRIC_FIN, AU_TFN, FI_PERSONAL_IDENTITY_CODE, and
            with `ner_model` PERSON, LOCATION, ORGANIZATION, NRP.
        min_score: keep findings scoring at least this (every default-type finding scores at
            least 0.6; Presidio's types keep their own scores).
        placeholder: replacement text; ``{entity}`` becomes the entity type.
        max_entities: drop mode: remove documents with more entities than this.
        drop_types: drop mode: remove documents with any entity of these types.
        phone_regions: regions in which a number without a country code is validated
            (Presidio's default eight).
        fast_path: true: the stage's own finders; false: Presidio's recognizers held to the
            same evidence rules (the reference the tests compare the fast path with).
        ner_model: name or path of an installed spaCy model with NER, needed for PERSON,
            LOCATION, ORGANIZATION, NRP. Never downloaded.
        max_ledger_spans: at most this many spans per document in the ledger detail.
    """

    name = "pii"
    version = 2  # 2: precision-first detection (issue #15)
    writes: ClassVar[tuple[str, ...]] = ("pii_count", "pii_spans")

    def __init__(self, mode: Mode = "redact", entities: list[str] | None = None,
                 min_score: Annotated[float, Range(0, 1, lo_open=True)] = 0.4,
                 placeholder: str = "<{entity}>",
                 max_entities: Count | None = 0, drop_types: list[str] | None = None,
                 phone_regions: list[str] | None = None, fast_path: bool = True,
                 ner_model: str | None = None,
                 max_ledger_spans: Count = 100):
        ents = list(DEFAULT_ENTITIES) if entities is None else list(entities)
        if not ents or not all(isinstance(e, str) for e in ents):
            raise ValueError(f"entities must be a non-empty list of entity types, got "
                             f"{entities!r}")
        unknown = [e for e in ents if e not in KNOWN_ENTITIES]
        if unknown:
            raise ValueError(f"unknown entity type(s) {', '.join(unknown)}; known: "
                             f"{', '.join(KNOWN_ENTITIES)}")
        drop = list(drop_types or [])
        bad_drop = [e for e in drop if e not in ents]
        if bad_drop:
            raise ValueError(f"drop_types {', '.join(bad_drop)} are not in entities")
        if not isinstance(placeholder, str):
            raise ValueError(f"placeholder must be a string, got {placeholder!r}")
        try:
            placeholder.format(entity="X")
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"placeholder {placeholder!r} may only use {{entity}}: {e}") from None
        ner = [e for e in ents if e in NER_LABELS]
        if ner:
            check_ner_model(ner, ner_model)
        self.mode = mode
        self.entities = ents
        self.min_score = float(min_score)
        self.placeholder = placeholder
        self.max_entities = max_entities
        self.drop_types = drop
        self.phone_regions = list(phone_regions) if phone_regions is not None else None
        self.fast_path = bool(fast_path)
        self.ner_model = ner_model
        self.max_ledger_spans = max_ledger_spans
        self._analyzers: list[Any] | None = None

    def setup(self) -> None:
        if self._analyzers is None:
            regions = self.phone_regions or DEFAULT_REGIONS
            detector = Detector([e for e in self.entities if e in DEFAULT_ENTITIES], regions)
            own = detector if self.fast_path else ReferenceDetector(detector)
            self._analyzers = [own]
            if any(e in PRESIDIO_ONLY or e in NER_LABELS for e in self.entities):
                self._analyzers.append(PresidioTypes(self.entities, self.min_score,
                                                     self.ner_model))

    def analyze(self, text: str | None, skip: frozenset[str] = frozenset()) -> list[Finding]:
        """The findings in one text that redaction covers: non-overlapping, sorted (`skip`:
        types the fast path's batch prefilter proved absent, `Detector.skips`)."""
        self.setup()
        assert self._analyzers is not None
        if not text:
            return []
        found = [f for a in self._analyzers
                 for f in (a.analyze(text, skip) if isinstance(a, Detector) else a.analyze(text))
                 if f.score >= self.min_score]
        return resolve_overlaps(found)

    def transform(self, docs: Docs) -> Outcome:
        n = docs.num_rows
        if n == 0:
            return Outcome.keep_all(0)
        texts = docs.texts
        self.setup()
        assert self._analyzers is not None
        own = self._analyzers[0]
        skips = own.skips(docs.text) if isinstance(own, Detector) else [frozenset()] * n
        found = [self.analyze(t, s) for t, s in zip(texts, skips, strict=True)]
        keep = np.ones(n, dtype=bool)
        modified = np.zeros(n, dtype=bool)
        reason = np.full(n, None, dtype=object)
        score = np.full(n, np.nan)
        threshold = np.full(n, np.nan)
        detail: list[dict[str, Any] | None] = [None] * n
        new_text: list[str] = list(texts)
        for i, spans in enumerate(found):
            if not spans:
                continue
            if self.mode == "drop":
                counts = Counter(f.entity_type for f in spans)
                score[i] = len(spans)
                detail[i] = self._detail(spans, counts)
                hit = sorted(t for t in counts if t in self.drop_types)
                if hit:
                    keep[i] = False
                    reason[i] = self.reason("entity_type")
                    detail[i]["drop_types"] = hit  # type: ignore[index]
                elif self.max_entities is not None and len(spans) > self.max_entities:
                    keep[i] = False
                    reason[i] = self.reason("max_entities")
                    threshold[i] = self.max_entities
            if self.mode != "label_only" and keep[i]:
                modified[i] = True
                reason[i] = self.reason("redacted")
        if self.mode != "label_only":
            for i in np.flatnonzero(modified):
                new_text[i], spans = settle(texts[i], found[i], self.placeholder, self.analyze)
                found[i] = spans
                score[i] = len(spans)
                detail[i] = self._detail(spans, Counter(f.entity_type for f in spans))
        for spans in found:
            if spans:
                docs.count("docs_with_pii")
                for k, v in Counter(f.entity_type for f in spans).items():
                    docs.count(f"entities.{k}", v)
        annotations: dict[str, pa.Array] = {}
        if self.mode == "label_only":
            annotations["pii_count"] = pa.array([len(s) for s in found], pa.int32())
            annotations["pii_spans"] = pa.array(
                [[{"entity_type": f.entity_type, "start": f.start, "end": f.end,
                   "score": f.score} for f in s] for s in found], SPAN_TYPE)
            return Outcome(keep=keep, annotations=annotations)
        text = pa.array(new_text, docs.text.type) if modified.any() else None
        return Outcome(keep=keep, reason=reason, score=score, threshold=threshold,
                       detail=detail, text=text, modified=modified if text is not None else None)

    def scrub(self, texts: list[str]) -> list[str]:
        """The texts with every detected entity redacted (placeholders as configured), in any
        mode: for writing samples of documents this stage removed or kept unredacted
        (`drop`, `label_only`) into reports or logs."""
        return [settle(t, self.analyze(t), self.placeholder, self.analyze)[0] if t else t
                for t in texts]

    def _detail(self, spans: list[Finding], counts: Counter[str]) -> dict[str, Any]:
        d: dict[str, Any] = {
            "entities": dict(sorted(counts.items())),
            "spans": [[f.entity_type, f.start, f.end, round(f.score, 4)]
                      for f in spans[:self.max_ledger_spans]],
        }
        if len(spans) > self.max_ledger_spans:
            d["spans_truncated"] = len(spans) - self.max_ledger_spans
        return d
