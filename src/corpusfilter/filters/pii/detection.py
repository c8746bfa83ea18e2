"""Detection: which entity finders run on a text, and their findings.

`Detector` runs the precision-first finders of `recognizers` and `phone` for the default
entity types; the other types Presidio ships (URL, country-specific identifiers with
checksums, NER with an installed spaCy model) come from `presidio_path`. With
``fast_path=False`` every default type is also found by Presidio's own recognizers, filtered
by the same evidence rules (`presidio_path.ReferenceDetector`): the reference the fast path is
tested against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from corpusfilter.filters.pii import recognizers as rec
from corpusfilter.filters.pii.phone import DEFAULT_REGIONS, PhoneFinder

# Entities on by default: those with a checksum or a tight format.
DEFAULT_ENTITIES: tuple[str, ...] = (
    "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN",
    "CRYPTO",
)


@dataclass(frozen=True, order=True)
class Finding:
    """One detected entity: character offsets into the text, its type and score."""

    start: int
    end: int
    entity_type: str
    score: float


# Context a rule reads around a span: the cue window (`context.CUE_CHARS`) plus a run of
# digit groups that may start before the span; after it, labels and glued characters.
EVIDENCE_BEFORE = 160
EVIDENCE_AFTER = 40

Finder = Callable[[str], Iterator[tuple[int, int, float]]]


class Detector:
    """The default entity types, each found by its finder (docs/pii.md)."""

    def __init__(self, entities: Sequence[str] = DEFAULT_ENTITIES,
                 phone_regions: Sequence[str] = DEFAULT_REGIONS):
        self.entities = tuple(entities)
        self.phone_regions = tuple(phone_regions)
        self.finders: list[tuple[str, Finder]] = []
        table: dict[str, Finder] = {
            "EMAIL_ADDRESS": rec.find_emails,
            "CREDIT_CARD": rec.find_cards,
            "IBAN_CODE": rec.find_ibans,
            "IP_ADDRESS": rec.find_ips,
            "US_SSN": rec.find_ssns,
            "CRYPTO": rec.find_crypto,
        }
        if "PHONE_NUMBER" in self.entities:
            table["PHONE_NUMBER"] = PhoneFinder(phone_regions).find
        self.finders = [(e, table[e]) for e in self.entities if e in table]

    def analyze(self, text: str) -> list[Finding]:
        """Every finding in `text`, sorted (overlaps are resolved by the caller)."""
        out: list[Finding] = []
        if not text:
            return out
        for entity, find in self.finders:
            out.extend(Finding(a, b, entity, s) for a, b, s in find(text))
        out.sort()
        return out

    def evidence(self, entity: str, text: str, start: int, end: int) -> float | None:
        """The score the fast path's rule for `entity` gives exactly the span `start:end` of
        `text`, or None if the rule rejects it: the type's finder run on the span with the
        context its rule reads (`EVIDENCE_BEFORE` characters before, `EVIDENCE_AFTER`
        after)."""
        find = dict(self.finders).get(entity)
        if find is None:
            return None
        lo = max(0, start - EVIDENCE_BEFORE)
        hi = min(len(text), end + EVIDENCE_AFTER)
        for a, b, score in find(text[lo:hi]):
            if (a + lo, b + lo) == (start, end):
                return score
        return None
