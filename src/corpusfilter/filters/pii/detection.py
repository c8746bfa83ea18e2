"""Detection: which entity finders run on a text, and their findings.

`Detector` runs the precision-first finders of `recognizers` and `phone` for the default
entity types; the other types Presidio ships (URL, country-specific identifiers with
checksums, NER with an installed spaCy model) come from `presidio_path`. With
``fast_path=False`` every default type is also found by Presidio's own recognizers, filtered
by the same evidence rules (`presidio_path.ReferenceDetector`): the reference the fast path is
tested against.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusfilter.filters.pii import phone
from corpusfilter.filters.pii import recognizers as rec
from corpusfilter.filters.pii.phone import DEFAULT_REGIONS, PhoneFinder
from corpusfilter.regex_superset import superset_re2

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

# The regexes each finder reports only matches of (every hit lies in a match of one of
# them): a text none of them matches has nothing for that finder.
GATES: dict[str, tuple[re.Pattern[str], ...]] = {
    # every address holds "@" (the rewrite of the whole pattern, Unicode classes under
    # counted repeats, made RE2 ~200x slower than this)
    "EMAIL_ADDRESS": (re.compile("@"),),
    "CREDIT_CARD": (rec._CARD,),
    "IBAN_CODE": (rec._IBAN_HEAD,),
    "IP_ADDRESS": (rec._IPV4, rec._IPV6),
    "US_SSN": (rec._SSN,),
    "CRYPTO": (rec._BTC,),
    "PHONE_NUMBER": (phone.GATE,),
}


def gate_re2(entity: str) -> str | None:
    """An RE2 pattern every text in which `entity`'s finder finds something matches (the
    gates rewritten by `regex_superset`); None: no gate, the finder always runs."""
    parts = [superset_re2(g) for g in GATES.get(entity, ())]
    if not parts or any(p is None for p in parts):
        return None
    return "|".join(f"(?:{p})" for p in parts)


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
        self._gates = {e: gate_re2(e) for e, _ in self.finders}

    def skips(self, text: pa.Array | pa.ChunkedArray) -> list[frozenset[str]]:
        """Per document of a batch: the entity types whose finder would find nothing there,
        proved with one RE2 pass per type over the whole batch (most web text holds no
        IBAN, card or SSN shape, and Python's regex scan per document and type was the
        stage's main cost)."""
        n = len(text)
        missing = np.zeros((len(self._gates), n), dtype=bool)
        names = list(self._gates)
        for k, entity in enumerate(names):
            gate = self._gates[entity]
            if gate is not None and n:
                hit = pc.match_substring_regex(text, gate)
                missing[k] = ~np.asarray(hit.to_numpy(zero_copy_only=False), dtype=bool)
        cache: dict[bytes, frozenset[str]] = {}
        out = []
        for col in missing.T:
            key = col.tobytes()
            if key not in cache:
                cache[key] = frozenset(e for e, m in zip(names, col, strict=True) if m)
            out.append(cache[key])
        return out

    def analyze(self, text: str, skip: Collection[str] = ()) -> list[Finding]:
        """Every finding in `text`, sorted (overlaps are resolved by the caller); the types
        in `skip` are not looked for (`skips` proved they are absent)."""
        out: list[Finding] = []
        if not text:
            return out
        for entity, find in self.finders:
            if entity in skip:
                continue
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
