"""The detection engine behind the `pii` stage: Presidio's recognizers at regex speed.

Presidio's `AnalyzerEngine.analyze` runs every recognizer over every document, tokenises each
document with spaCy for context words, and scans the whole text once per phone region with
`phonenumbers`. This engine keeps Presidio's own recognizer objects (their regexes, checksum
validators — Luhn for cards, ISO 13616 check digits for IBANs, Base58/Bech32 for Bitcoin — and
their context words) and changes only *where* they run:

1. **Batch prefilter.** For each recognizer a necessary condition (e.g. ``@`` for an email,
   a chain of 13 digits for a card) is tested on the whole batch at once, in one NumPy pass
   over the UTF-8 bytes (`pii_shapes`); context words, where a condition needs them, with
   Arrow's RE2. A recognizer runs only on documents that pass. The same pass lists where
   phone candidates can begin, so the phone scan never searches for them.
2. **Windows.** The email, IP, SSN and card recognizers run once per document on the
   stretches of text their matches can lie in (`WINDOWS`), joined by newlines.
3. **Phone candidates.** `phonenumbers`' own candidate scan is replayed once per document;
   candidates that cannot hold a valid number for a region are skipped without parsing
   (`phone_floor`, `PhoneRegionCheck`; computed once per distinct candidate), and
   the matcher's verdicts are memoised on the candidate and the few characters around it
   that it inspects (`_phone_results`).
4. **Context words without spaCy.** Presidio's `LemmaContextAwareEnhancer` (defaults: 5 words
   before the entity, +0.35, at least 0.4, substring match) is applied with lower-cased words
   as lemmas and spaCy's English stop-word list, on a short stretch of text before the entity.

Offline: nothing here downloads. The email validator uses `tldextract` with its bundled public
suffix list snapshot (no fetch, no cache dir); no spaCy model is loaded unless NER entities are
asked for with an installed model (`ner_model`).
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusfilter.filters.pii_shapes import ShapeScan

# Entities on by default: the ones with a checksum or a tight format (Presidio's generic set).
DEFAULT_ENTITIES: tuple[str, ...] = (
    "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN",
    "CRYPTO",
)

# entity -> Presidio recognizer class name (all in presidio_analyzer.predefined_recognizers).
# Country-specific ones are those with a checksum validator, so they stay precise on web text.
PATTERN_RECOGNIZERS: dict[str, str] = {
    "EMAIL_ADDRESS": "EmailRecognizer",
    "CREDIT_CARD": "CreditCardRecognizer",
    "IBAN_CODE": "IbanRecognizer",
    "IP_ADDRESS": "IpRecognizer",
    "US_SSN": "UsSsnRecognizer",
    "CRYPTO": "CryptoRecognizer",
    "URL": "UrlRecognizer",
    "UK_NHS": "NhsRecognizer",
    "UK_NINO": "UkNinoRecognizer",
    "ES_NIF": "EsNifRecognizer",
    "IT_FISCAL_CODE": "ItFiscalCodeRecognizer",
    "IN_AADHAAR": "InAadhaarRecognizer",
    "IN_PAN": "InPanRecognizer",
    "PL_PESEL": "PlPeselRecognizer",
    "SG_NRIC_FIN": "SgFinRecognizer",
    "AU_TFN": "AuTfnRecognizer",
    "FI_PERSONAL_IDENTITY_CODE": "FiPersonalIdentityCodeRecognizer",
}
# NER entities: spaCy labels mapped to Presidio's names (as in Presidio's SpacyRecognizer).
NER_LABELS: dict[str, tuple[str, ...]] = {
    "PERSON": ("PERSON", "PER"),
    "LOCATION": ("GPE", "LOC", "FAC"),
    "ORGANIZATION": ("ORG",),
    "NRP": ("NORP",),
}
NER_SCORE = 0.85  # Presidio's SpacyRecognizer default score
KNOWN_ENTITIES: tuple[str, ...] = (*PATTERN_RECOGNIZERS, "PHONE_NUMBER", *NER_LABELS)

# Necessary conditions for a recognizer to find anything in a document, as alternatives, each
# with the highest score its findings can have without a context word (1.0: a checksum or
# domain validator lifts them to 1.0). Conditions are shapes of `pii_shapes.SHAPES`, each
# necessary for the recognizer's patterns with lookarounds and word boundaries left out (the
# RE2 pattern next to it there). An alternative whose score is below `min_score` also needs
# one of the recognizer's context words in the document (`PiiEngine._prefilter_for`).
PREFILTERS: dict[str, list[tuple[str, float]]] = {
    "EMAIL_ADDRESS": [("at", 1.0)],
    "CREDIT_CARD": [("card", 1.0)],
    "IBAN_CODE": [("iban", 1.0)],
    # IPv4 (and IPv4-mapped/embedded IPv6) contain a dotted quad; every IPv6 form two colons
    # at most four hex digits apart ("::" included).
    "IP_ADDRESS": [("ipv4", 0.6), ("ipv6", 0.6)],
    "US_SSN": [("ssn_324", 0.5), ("ssn_9", 0.05)],
    "CRYPTO": [("crypto", 1.0)],
    # PHONE_NUMBER has none: nearly every web document has digits close together.
    # Extended recognizers (`extended_recognizers`): a phone shape has >= 7 digits with at
    # most two of " .()-" between consecutive ones (0.4: `_valid_phone_prefix` needs no
    # context word); card digits are 12-19 digits with single " " or "-" between groups.
    "PhoneShapeRecognizer": [("phone_shape", 0.4)],
    "CardDigitsRecognizer": [("card_digits", 0.3)],
    "IbanExactLengthRecognizer": [("iban", 1.0)],
}
# Where in a document a recognizer's matches can lie (Python regex). Each recognizer runs on
# these windows, widened by one character on each side, instead of the whole text. Exact when
# every character a pattern can match is in the window's character class and its lookarounds
# reach at most one character past a match (or two, for IP's `(?![\w:]|\.\d)`, where the
# window is a whole whitespace-delimited token): Presidio's email, IP, SSN and card patterns.
# Only runs with at least as many digits as any finding has are windows (SSN 9, Presidio's card
# pattern 13, a phone shape 7, card digits 12): the many short runs in web text (years,
# prices) are never looked at.
# (The repetition minimum skips runs with fewer characters than that in the regex already.)
WINDOWS: dict[str, tuple[str, int]] = {
    "US_SSN": (r"[0-9][0-9 .-]{7,}[0-9]", 9),
    "CREDIT_CARD": (r"\d[\d -]{11,}\d", 13),
    "PhoneShapeRecognizer": (r"[0-9+(][0-9 .()+x-]{5,}[0-9]", 7),
    "CardDigitsRecognizer": (r"[0-9][0-9 -]{10,}[0-9]", 12),
}
# Recognizers whose windows are the whitespace-delimited tokens containing a trigger (found
# with `token_windows`, much faster than a regex for the tokens): an email's "@", an IP
# address's "digit.digit" or ":".
TOKEN_WINDOWS: dict[str, str] = {
    "EMAIL_ADDRESS": "@",
    "IP_ADDRESS": r"[0-9]\.[0-9]|:",
}
_PREFILTER_MIN_CHARS = 20_000
# Characters of text before an entity searched for context words (5 words in Presidio).
_CONTEXT_CHARS = 160
_WORD = re.compile(r"\w+")
_NON_DIGIT = re.compile(r"\D")
_DIGIT = re.compile(r"\d")
_DIGIT_RUNS = re.compile(r"\d+")
_GROUP_GAP = re.compile(r"[ .-](?=[0-9])")
_SPACE_GAP = re.compile(r" (?=[0-9])")
_DOTTED = re.compile(r"[0-9]\.[0-9]+\.[0-9]")
_RUNS_ON = re.compile(r"[ .-]?[0-9]")
# a digit group (with closing bracket or separator) right before a match: "i32 07400 123660",
# "3/199 07400 123660", "6:00 07400 123660" — Presidio's matcher glues it on and rejects all
_RUNS_IN = re.compile(r"[0-9][)\]]?[ .-/]{1,2}$")
# Year ranges and ISO / European dates ("2000-2018", "2017-08-15", "23.05.2011") are not phones.
_YEARS_OR_DATE = re.compile(r"(?:1[89]|20)\d\d ?[-.] ?(?:1[89]|20)\d\d"
                            r"|(?:1[89]|20)\d\d[-./][01]?\d[-./][0-3]?\d"
                            r"|[0-3]?\d[-./][01]?\d[-./](?:1[89]|20)\d\d")
# Where a match of phonenumbers' candidate pattern can begin: a digit, or a bracket or plus
# sign of its lead class.
_PHONE_START = re.compile(r"[(\[\uff08\uff3b+\uff0b\d]")
# Years separated by spaces ("2015 2016 2017", archive navigation): not a phone number.
_YEAR_LIST = re.compile(r"(?:(?:1[89]|20)\d\d +)+(?:1[89]|20)\d\d")
_LENIENCY = 1  # Presidio's PhoneRecognizer default (phonenumbers Leniency.VALID)


@dataclass(frozen=True, order=True)
class Finding:
    """One detected entity: character offsets into the document (end exclusive) and score."""

    start: int
    end: int
    entity_type: str
    score: float


class PiiEngine:
    """Presidio's pattern recognizers behind a batch prefilter; see the module docstring.

    Args:
        entities: entity types to detect (see `KNOWN_ENTITIES`).
        min_score: findings scoring below this are dropped (after context enhancement).
        phone_regions: regions `phonenumbers` parses numbers without a country code for.
        context: apply Presidio's context-word enhancement.
        extended: add the recall recognizers of `extended_recognizers()` (they only count
            with a context word); False gives exactly Presidio's pattern findings.
        ner_model: name or path of an installed spaCy model with NER (PERSON, LOCATION, ...).
    """

    def __init__(self, entities: Sequence[str] = DEFAULT_ENTITIES, min_score: float = 0.4,
                 phone_regions: Sequence[str] = ("US", "GB", "DE", "FR", "IL", "IN", "CA",
                                                 "BR"),
                 context: bool = True, extended: bool = True,
                 ner_model: str | None = None):
        self.entities = tuple(entities)
        self.min_score = float(min_score)
        self.phone_regions = tuple(phone_regions)
        self.context = context
        self.extended = extended
        self.ner_model = ner_model
        self.recognizers: list[tuple[str, Any, list[list[str]] | None]] = []
        self._windows: dict[int, Any] = {}  # id(recognizer) -> text -> [(start, end)]
        self._phone: Any = None
        self._nlp: Any = None
        self._stop: frozenset[str] = frozenset()
        self._candidates: re.Pattern[str] | None = None
        self._phone_floor: dict[str, tuple[int, re.Pattern[str], re.Pattern[str]]] = {}
        self._phone_checks: dict[str, PhoneRegionCheck] = {}
        self._phone_rules: list[tuple[Any, ...]] = []
        self._phone_cands: dict[str, tuple[str, ...]] = {}
        self._shape_memo: dict[str, bool] = {}
        self._context_res: dict[int, re.Pattern[str]] = {}
        self._matcher_cls: Any = None
        # Texts without a digit, "@" or ":" hold none of the entities but these (a URL, an
        # Italian fiscal code with letters for digits, names).
        free = {"URL", "IT_FISCAL_CODE", *NER_LABELS}
        self._trigger = None if free & set(self.entities) else re.compile(r"[\d@:]")
        self._phone_memo: dict[tuple[str, int, str, int, bool], tuple[int, int] | None] = {}
        self._load()

    # -- set-up ---------------------------------------------------------------------------

    def _load(self) -> None:
        import presidio_analyzer.predefined_recognizers as pr

        for entity in self.entities:
            if entity in PATTERN_RECOGNIZERS:
                cls = getattr(pr, PATTERN_RECOGNIZERS[entity])
                if entity == "EMAIL_ADDRESS":
                    cls = offline_email_recognizer()
                rec = cls()
                self.recognizers.append((entity, rec, self._prefilter_for(entity, rec)))
                if entity in WINDOWS:
                    self._windows[id(rec)] = regex_windows(*WINDOWS[entity])
                elif entity in TOKEN_WINDOWS:
                    self._windows[id(rec)] = token_windows(TOKEN_WINDOWS[entity])
        if "PHONE_NUMBER" in self.entities:
            from phonenumbers import phonenumbermatcher

            self._phone = pr.PhoneRecognizer(supported_regions=self.phone_regions,
                                             leniency=_LENIENCY)
            # The matcher's own candidate pattern: every number it can report lies inside one.
            self._candidates = phonenumbermatcher._PATTERN
            self._phone_floor = {r: phone_floor(r) for r in self.phone_regions}
            self._phone_checks = phone_region_checks(self.phone_regions)
            self._phone_rules = [(r, *self._phone_floor[r], self._phone_checks[r])
                                 for r in self.phone_regions]
            self.recognizers.append(("PHONE_NUMBER", self._phone,
                                     self._prefilter_for("PHONE_NUMBER", self._phone)))
        if self.extended:
            for entity, rec in extended_recognizers():
                if entity in self.entities:
                    self.recognizers.append((entity, rec, self._prefilter_for(rec.name, rec)))
                    if rec.name in WINDOWS:
                        self._windows[id(rec)] = regex_windows(*WINDOWS[rec.name])
        if self.context:
            from spacy.lang.en.stop_words import STOP_WORDS

            self._stop = frozenset(STOP_WORDS)
        if any(e in NER_LABELS for e in self.entities) and self.ner_model:
            import spacy

            self._nlp = spacy.load(self.ner_model, exclude=["lemmatizer", "parser",
                                                            "tagger", "attribute_ruler"])

    # -- analysis -------------------------------------------------------------------------

    @property
    def stop_words(self) -> frozenset[str]:
        """The words context enhancement skips (empty without context)."""
        return self._stop

    def _prefilter_for(self, key: str, recognizer: Any) -> list[list[str]] | None:
        """The recognizer's `PREFILTERS` as alternatives of conditions that must all hold: a
        shape name, then possibly an RE2 pattern of context words (None: no prefilter, every
        document; []: the recognizer cannot reach `min_score`). Context words count when they
        are part of a word in the document (Presidio's enhancer takes a context word that is
        a substring of a lower-cased token), so a case-insensitive search for them is a
        necessary condition."""
        if key not in PREFILTERS:
            return None
        listed = [*(getattr(recognizer, "context", None) or []),
                  *(getattr(recognizer, "suffix_context", None) or [])]
        words = sorted({w.lower() for w in listed if re.fullmatch(r"\w+", w)})
        context = "(?i)" + "|".join(words) if words and self.context else None
        out = []
        for shape, score in PREFILTERS[key]:
            if score >= self.min_score:
                out.append([shape])
            elif context is not None and min(1.0, max(score + 0.35, 0.4)) >= self.min_score:
                out.append([shape, context])
        return out

    @staticmethod
    def prefilter(text: pa.Array | pa.ChunkedArray, alternatives: list[list[str]] | None,
                  cache: dict[str, Any] | None = None) -> list[bool] | None:
        """Which documents meet all conditions of one of the `alternatives` (None: all
        documents): a shape of `pii_shapes.SHAPES`, then RE2 patterns, each searched only in
        the documents still in question. `cache` keeps the batch's shape scan (`_shape_scan`)."""
        if alternatives is None:
            return None
        scan = _shape_scan(text, {} if cache is None else cache)
        mask = np.zeros(scan.n, dtype=bool)
        for conditions in alternatives:
            both = scan.mask(conditions[0]) & ~mask
            for pattern in conditions[1:]:
                rows = np.flatnonzero(both)
                if not len(rows):
                    break
                found = pc.match_substring_regex(pc.take(text, pa.array(rows)), pattern)
                both[rows] = found.fill_null(False).to_numpy(zero_copy_only=False)
            mask |= both
        return mask.tolist()

    def analyze_batch(self, text: pa.Array | pa.ChunkedArray,
                      texts: Sequence[str] | None = None, phone: bool = True,
                      ) -> list[list[Finding]]:
        """Findings per document of an Arrow string array (non-overlapping, sorted);
        `phone=False` leaves out Presidio's phone recognizer (see `phone_near`)."""
        if texts is None:
            texts = text.to_pylist()
        n = len(texts)
        raw: list[list[Finding]] = [[] for _ in range(n)]
        cache: dict[str, Any] = {}
        trigger = self._trigger
        live = [trigger is None or trigger.search(t) is not None for t in texts]
        # The shape pass costs about 0.35 ms per call even for a few short texts: on little
        # text (a document alone, the last re-analysis windows) every recognizer runs.
        small = sum(map(len, texts)) < _PREFILTER_MIN_CHARS
        for entity, recognizer, alternatives in self.recognizers:
            if recognizer is self._phone and not phone:
                continue
            mask = None if small else self.prefilter(text, alternatives, cache)
            starts: list[list[int]] | list[None] = [None] * n  # None: found by `_run`
            if recognizer is self._phone and not small:
                starts = _shape_scan(text, cache).phone_starts()
            for i in range(n):
                if (mask is None or mask[i]) and live[i]:
                    raw[i].extend(self._run(entity, recognizer, texts[i], starts[i]))
        if self._nlp is not None:
            for i, doc in enumerate(self._nlp.pipe(texts)):
                raw[i].extend(self._ner(doc))
        return [resolve_overlaps(r) for r in raw]

    def phone_near(self, text: str, ranges: Sequence[tuple[int, int]]) -> list[Finding]:
        """Presidio's phone findings in `text` whose candidates begin inside `ranges`; each
        range must start and end where no candidate can span (a safe cut, `pii._safe_cut`),
        so the matcher's scan there is the one it makes over the whole text. Context words
        are looked up in the whole text."""
        if self._phone is None:
            return []
        starts = [m.start() for lo, hi in ranges for m in _PHONE_START.finditer(text, lo, hi)]
        return self._run("PHONE_NUMBER", self._phone, text, starts) if starts else []

    def analyze(self, text: str) -> list[Finding]:
        """Findings in one document (non-overlapping, sorted)."""
        return self.analyze_batch(pa.array([text], pa.string()), [text])[0]

    def _run(self, entity: str, recognizer: Any, text: str,
             phone_starts: list[int] | None = None) -> list[Finding]:
        window = self._windows.get(id(recognizer))
        if recognizer is self._phone:
            results: list[Any] = self._phone_results(text, phone_starts)
        elif window is not None:
            results = self._windowed(recognizer, entity, window, text)
        else:
            results = _analyze(recognizer, entity, text)
        out = []
        is_shape = getattr(recognizer, "name", "") == "PhoneShapeRecognizer"
        for r in results:
            score = float(r.score)
            if self.context and recognizer.context:
                score = self._enhance(text, r.start, r.end, score, recognizer)
            if is_shape:
                long = len(_NON_DIGIT.sub("", text[r.start:r.end].split("x")[0])) > 15
                if score < self.min_score or long:
                    ok = self._valid_phone_prefix(text, r)
                    if not ok and long:
                        continue  # too long for one phone number and no valid prefix
                    score = max(score, float(r.score))
            if score >= self.min_score and score > 0:
                out.append(Finding(int(r.start), int(r.end), entity, score))
        return dedupe_contained(out)

    @staticmethod
    def _windowed(recognizer: Any, entity: str, window: Any, text: str) -> list[Any]:
        """The recognizer run once on the `WINDOWS` of `text` joined by newlines (which no
        windowed pattern can match or look at), offsets mapped back."""
        spans: list[list[int]] = []
        n = len(text)
        for start, end in window(text):
            if start == end:
                continue
            lo, hi = max(0, start - 1), min(n, end + 1)
            if spans and lo <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], hi)
            else:
                spans.append([lo, hi])
        if not spans:
            return []
        if len(spans) == 1 and spans[0] == [0, n]:
            return _analyze(recognizer, entity, text)
        starts, parts, pos = [], [], 0
        for lo, hi in spans:
            starts.append(pos)
            parts.append(text[lo:hi])
            pos += hi - lo + 1
        results = _analyze(recognizer, entity, "\n".join(parts))
        for r in results:
            k = bisect.bisect_right(starts, r.start) - 1
            shift = spans[k][0] - starts[k]
            r.start += shift
            r.end += shift
        return results

    def _phone_results(self, text: str, starts: list[int] | None = None) -> list[Finding]:
        """Presidio's PhoneRecognizer findings, computed candidate by candidate.

        `PhoneNumberMatcher` scans the text once per region and parses every candidate (any
        run of digits and separators) per region. Its verdict on a candidate depends only on
        the candidate, the character before it and the three after it (letter, currency and
        time-stamp checks), so verdicts are memoised on the candidate, the region and the
        classes of those characters the matcher distinguishes (`_char_class`, and whether a
        time stamp's `:mm` follows). Candidates with too few
        digits to hold a valid number are skipped without parsing (`phone_floor`). The scan order per region is the matcher's: after a match the search resumes
        at its end, after a rejected candidate at the candidate's (trimmed) end. Unlike the
        matcher, there is no limit of 65,535 rejected candidates per text."""
        phone = self._phone
        memo = self._phone_memo
        if len(memo) > 200_000:
            memo.clear()
        spans: set[tuple[int, int]] = set()
        if starts is None:
            starts = [m.start() for m in _PHONE_START.finditer(text)]
        chain = self._phone_chain(text, 0, starts)
        for region in phone.supported_regions:
            seq: Any = (c for c in chain if region in c[3])
            while seq is not None:
                resume = None
                for start, end, cand, _ in seq:
                    if (start, end) in spans:
                        # Another region took the whole candidate: whatever this one finds
                        # in it lies inside that span (dropped by `dedupe_contained`), and
                        # its scan resumes at the candidate's end either way.
                        continue
                    rel = self._phone_verdict(text, region, start, end, cand, memo)
                    if rel is None and self.extended:
                        self._phone_after_leading_groups(text, region, start, end, cand,
                                                         memo, spans)
                    if rel is not None:
                        spans.add((start + rel[0], start + rel[1]))
                        if start + rel[1] != end:  # an inner match: rescan from its end
                            resume = (c for c in self._phone_chain(text, start + rel[1],
                                                                   starts)
                                      if region in c[3])
                            break
                seq = resume
        score = float(phone.SCORE)
        return dedupe_contained([Finding(s, e, "PHONE_NUMBER", score) for s, e in spans])

    def _phone_after_leading_groups(self, text: str, region: str, start: int, end: int,
                                    cand: str, memo: dict[Any, Any],
                                    spans: set[tuple[int, int]]) -> None:
        """A rejected candidate may be a valid number with another digit group glued on in
        front ("i32 07400 123660", "3/199 07400 123660", "6:00 07400 123660"): the matcher
        parses them as one and rejects both, though it accepts the number on its own. Retry
        from each group boundary (extended mode only: Presidio itself does not)."""
        if _YEAR_LIST.fullmatch(cand):
            return  # "2015 2016 2017": an archive's list of years
        for gap in _SPACE_GAP.finditer(cand):  # spaces only: "198.51.100.123" is an address
            sub_start = gap.start() + 1
            sub = cand[sub_start:]
            if len(_NON_DIGIT.sub("", sub)) < 7:
                return
            if _YEARS_OR_DATE.search(sub) or _DOTTED.search(sub):
                continue  # dates, years, addresses ("47.18.5.84"), versions: not a phone
            rel = self._phone_verdict(text, region, start + sub_start, end, sub, memo)
            if rel is not None:
                spans.add((start + sub_start + rel[0], start + sub_start + rel[1]))
                return

    def _valid_phone_prefix(self, text: str, r: Any) -> bool:
        """Give Presidio's phone score (0.4) to a phone-shaped match that `phonenumbers`
        validates (in one of the phone regions, or in international form) when

        * it is in clear phone notation (a leading "+" or "(area code)"), whole or its leading
          digit groups; or
        * only its leading digit groups validate, not the whole: the number ran on into a
          following one ("01 23 45 66 60 30 回", "(201) 555-0660 28, 2022"), which makes
          Presidio's matcher reject the whole candidate; or
        * another digit group directly precedes it ("i32 07400 123660", "6:00 07400
          123660"): Presidio's matcher then parses both as one candidate and rejects it,
          though it accepts the number on its own.

        Dates and year ranges never count. Otherwise the match keeps its context-only score."""
        import phonenumbers

        span = text[r.start:r.end]
        if _YEARS_OR_DATE.search(span):
            return False  # "Dezember 2022 15.11.2022": dates run into each other, not a phone
        clear = span[:1] in ("+", "(")
        runs_on = _RUNS_ON.match(text, r.end) is not None  # another digit group follows
        runs_in = _RUNS_IN.search(text[max(0, r.start - 4):r.start]) is not None
        cuts = sorted({m.start() for m in _GROUP_GAP.finditer(span)} | {len(span)},
                      reverse=True)
        for cut in cuts:
            cand = span[:cut]
            if _YEAR_LIST.fullmatch(cand):
                continue  # "2010 2011 2012" of a list of years
            if len(_NON_DIGIT.sub("", cand)) < 7:
                break
            if not clear and not runs_on and not runs_in and cut == len(span):
                continue  # the whole shape, without clear notation: context only
            valid = self._shape_memo.get(cand)
            if valid is None:
                valid = False
                # A number in international form parses alike in every region.
                plus = _PLUS_FIRST.match(cand) is not None and not _LETTER.search(cand)
                for region in self.phone_regions[:1] if plus else self.phone_regions:
                    if not plus and not self._may_be_valid(cand, region):
                        continue
                    try:
                        num = phonenumbers.parse(cand, region)
                    except phonenumbers.NumberParseException:
                        continue
                    if phonenumbers.is_valid_number(num):
                        valid = True
                        break
                if len(self._shape_memo) > 200_000:
                    self._shape_memo.clear()
                self._shape_memo[cand] = valid
            if valid:
                r.end = r.start + cut
                r.score = max(float(r.score), 0.4)
                return True
        return False

    def _may_be_valid(self, cand: str, region: str) -> bool:
        """False only if ``is_valid_number(parse(cand, region))`` cannot hold for `cand`
        written without a plus sign (`phone_floor` and `PhoneRegionCheck` on all its
        digits, without the matcher's national-prefix condition)."""
        digits = "".join(_ascii_digit_groups(cand))
        floor, idd, nsn = self._phone_floor[region]
        if not idd.match(digits) and (len(digits) < floor or not nsn.search(digits)):
            return False
        return self._phone_checks[region].possibly_valid(cand, digits)

    def _phone_chain(self, text: str, index: int, starts: list[int],
                     ) -> list[tuple[int, int, str, tuple[str, ...]]]:
        """PhoneNumberMatcher's candidates from `index` on, as it scans when nothing matches,
        that may hold a number for some region: (start, end after trimming, candidate, the
        regions it may hold a number for — `_phone_regions_for`). `starts`: the sorted
        offsets where a candidate can begin (`_PHONE_START`; `ShapeScan.phone_starts` finds
        them for a whole batch at once)."""
        from phonenumbers import phonenumbermatcher

        assert self._candidates is not None
        trim_pattern = phonenumbermatcher._SECOND_NUMBER_START_PATTERN
        regions_for = self._phone_regions_memo
        out = []
        # finditer's scan, but the pattern is only tried where a match can begin (a digit or
        # one of its lead brackets / plus signs): the same matches, several times faster.
        match = self._candidates.match
        i, n = bisect.bisect_left(starts, index), len(starts)
        while i < n:
            start = starts[i]
            m = match(text, start)
            if m is None:
                i += 1
                continue
            cand = m.group()
            pos = m.end()
            if "/" in cand or "\\" in cand:
                cut = trim_pattern.search(cand)
                if cut:  # the matcher resumes after the trimmed candidate
                    cand = cand[:cut.start()]
                    pos = start + len(cand)
            i = bisect.bisect_left(starts, pos, i + 1)
            regions = regions_for(cand)
            if regions:
                out.append((start, start + len(cand), cand, regions))
        return out

    def _phone_regions_for(self, cand: str) -> tuple[str, ...]:
        """The phone regions for which the matcher may accept something in `cand`; for the
        others it is rejected without parsing:

        * fewer than 4 digits, or a slash-separated date in it (rejected in every region);
        * written without a plus sign and without the region's international dialling
          prefix at a digit group's start, and too few digits or no run of them matching
          the region's general number pattern (`phone_floor`) or failing
          `PhoneRegionCheck`.

        Digit groups start where a substring the matcher retries, and so an international
        dialling prefix, can begin."""
        from phonenumbers import phonenumbermatcher

        groups = _ascii_digit_groups(cand)
        digits = "".join(groups)
        nd = len(digits)
        if nd < 4 or phonenumbermatcher._SLASH_SEPARATED_DATES.search(cand):
            return ()
        heads, k = [], 0
        for g in groups:
            heads.append(k)
            k += len(g)
        if "+" in cand or "\uff0b" in cand:
            return self.phone_regions
        out = []
        idd_at_head: dict[str, bool] = {}  # regions share dialling prefixes
        for region, floor, idd, nsn, check in self._phone_rules:
            if nd < floor or not nsn.search(digits):
                hit = idd_at_head.get(idd.pattern)
                if hit is None:
                    hit = idd_at_head[idd.pattern] = any(idd.match(digits, k) for k in heads)
                if not hit:
                    continue
            if check.possible(cand, digits, heads):
                out.append(region)
        return tuple(out)

    def _phone_verdict(self, text: str, region: str, start: int, end: int, cand: str,
                       memo: dict[tuple[str, int, str, int, bool], tuple[int, int] | None],
                       ) -> tuple[int, int] | None:
        """PhoneNumberMatcher's verdict on one candidate (match offsets relative to `start`).

        The matcher used skips `parse` for the pieces of the candidate it retries (inner
        matches: "(43", "000", "2022", ...) that `_phone_regions_for` rules out for the
        region: on the benchmark's web pages this halved the parses (1,731 to 873 for 400
        pages, 162 of them matches)."""
        from phonenumbers import phonenumbermatcher

        PhoneNumberMatcher = self._matcher_class()

        prev = text[start - 1] if start else ""
        after = text[end:end + 3]
        key = (region, _char_class(prev), cand, _char_class(after[:1]),
               bool(phonenumbermatcher._TIME_STAMPS_SUFFIX.match(after)))
        if key not in memo:
            if _PLUS_FIRST.match(cand) and not _LETTER.search(cand):
                # A number in international form parses the same in every region (its
                # country code picks the metadata), so a whole-candidate match is shared
                # between regions; only the inner matches tried after a failure depend on it.
                shared = ("+", *key[1:])
                if shared not in memo:
                    mini = PhoneNumberMatcher(prev + cand + after, region, leniency=_LENIENCY)
                    hit = _whole_candidate_match(mini, cand, len(prev))
                    memo[shared] = None if hit is None else (hit.start - len(prev),
                                                             hit.end - len(prev))
                if memo[shared] is not None:
                    memo[key] = memo[shared]
                    return memo[key]
            mini = PhoneNumberMatcher(prev + cand + after, region, leniency=_LENIENCY)
            hit = mini._extract_match(cand, len(prev))
            memo[key] = None if hit is None else (hit.start - len(prev), hit.end - len(prev))
        return memo[key]

    def _matcher_class(self) -> Any:
        """`PhoneNumberMatcher` whose `_parse_and_verify` returns None without parsing when
        `_phone_regions_for` shows the piece cannot hold a number for the region, or the
        region's `PhoneRegionCheck` shows that the piece read whole cannot (the same
        verdicts: both are necessary conditions for a match; on the benchmark's pages the
        second skips a fifth of the remaining parses)."""
        if self._matcher_cls is None:
            from phonenumbers import PhoneNumberMatcher

            regions_for = self._phone_regions_memo
            checks = self._phone_checks

            class PrunedMatcher(PhoneNumberMatcher):  # type: ignore[misc]
                def _parse_and_verify(self, candidate: str, offset: int) -> Any:
                    region = self.preferred_region
                    if region not in regions_for(candidate):
                        return None
                    check = checks.get(region)
                    if check is not None and not check.possible_whole(candidate):
                        return None
                    return super()._parse_and_verify(candidate, offset)

            self._matcher_cls = PrunedMatcher
        return self._matcher_cls

    def _phone_regions_memo(self, cand: str) -> tuple[str, ...]:
        """`_phone_regions_for`, memoised per distinct candidate (bounded)."""
        memo = self._phone_cands
        regions = memo.get(cand)
        if regions is None:
            if len(memo) > 200_000:
                memo.clear()
            regions = memo[cand] = self._phone_regions_for(cand)
        return regions

    def _enhance(self, text: str, start: int, end: int, score: float, recognizer: Any) -> float:
        """Presidio's LemmaContextAwareEnhancer with lower-cased words as lemmas: the entity's
        first word and the 5 words before it that are not stop words; +0.35, ≥ 0.4, ≤ 1.
        Extended recognizers also look at the word right after the entity."""
        words: Sequence[str] = recognizer.context
        lo = max(0, start - _CONTEXT_CHARS)
        first = _WORD.match(text, start)
        suffix = getattr(recognizer, "suffix_context", None)
        # Every token below is a piece of this stretch, so a context word that is part of a
        # token is part of it too: without one, no token can hit (most entities).
        quick = self._context_res.get(id(recognizer))
        if quick is None:
            quick = self._context_res[id(recognizer)] = re.compile(
                "|".join(sorted({re.escape(w.lower()) for w in words})) or "(?!x)x")
        if not quick.search(text[lo:first.end() if first is not None else start].lower()):
            if _suffix_hit(text, end, suffix):
                return min(1.0, max(score + 0.35, 0.4))
            return score
        before = text[lo:start]
        tokens = [w.lower() for w in _WORD.findall(before)]
        if first is not None:
            if before and (before[-1].isalnum() or before[-1] == "_") and tokens:
                tokens[-1] += first.group().lower()  # glued to the entity: one token
            else:
                tokens.append(first.group().lower())
        keywords = [t for t in reversed(tokens) if t not in self._stop and t != "be"][:6]
        hit = any(w.lower() in k for w in words for k in keywords)
        if hit or _suffix_hit(text, end, suffix):
            return min(1.0, max(score + 0.35, 0.4))
        return score

    def _ner(self, doc: Any) -> list[Finding]:
        out = []
        for ent in doc.ents:
            for entity, labels in NER_LABELS.items():
                if entity in self.entities and ent.label_ in labels \
                        and self.min_score <= NER_SCORE:
                    out.append(Finding(ent.start_char, ent.end_char, entity, NER_SCORE))
        return out


def _shape_scan(text: pa.Array | pa.ChunkedArray, cache: dict[str, Any]) -> ShapeScan:
    """The batch's `ShapeScan`, made once per `analyze_batch` (kept in its `cache`)."""
    scan = cache.get("shapes")
    if scan is None:
        scan = cache["shapes"] = ShapeScan(text)
    return scan


def _suffix_hit(text: str, end: int, suffix: Sequence[str] | None) -> bool:
    """Whether the word right after an entity ending at `end` (within 40 characters) is one
    of the recognizer's suffix context words (extended recognizers only)."""
    if not suffix:
        return False
    after = _WORD.search(text, end, min(len(text), end + 40))
    return after is not None and after.group().lower() in suffix


def regex_windows(pattern: str, min_digits: int = 0) -> Any:
    """The spans of `pattern`'s matches in a text that hold at least `min_digits` digits."""
    finditer = re.compile(pattern).finditer
    non_digits = re.compile(r"\D").findall

    def spans(text: str) -> list[tuple[int, int]]:
        # Most matches are digits only, with few separators: count those.
        return [(a, b) for a, b in (m.span() for m in finditer(text))
                if b - a - len(non_digits(text, a, b)) >= min_digits]

    return spans


_SPACE = re.compile(r"\s")


def token_windows(trigger: str) -> Any:
    """The whitespace-delimited tokens of a text that contain a match of `trigger` (what
    ``(?<!\\S)\\S*?(?:trigger)\\S*`` finds, without trying the pattern at every token)."""
    finditer = re.compile(trigger).finditer

    def spans(text: str) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        done = 0
        for m in finditer(text):
            p = m.start()
            if p < done:
                continue  # in the token already taken
            lo = max(text.rfind(" ", 0, p), text.rfind("\n", 0, p)) + 1
            for w in _SPACE.finditer(text, lo, p):  # rarer whitespace: tab, NBSP, ...
                lo = w.end()
            w = _SPACE.search(text, m.end())
            done = w.start() if w is not None else len(text)
            out.append((lo, done))
        return out

    return spans


@functools.cache
def _offline_tldextract() -> Any:
    """One extractor per process: it parses its suffix list snapshot on first use (~30 ms)."""
    import tldextract

    return tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


def offline_email_recognizer() -> type:
    """Presidio's EmailRecognizer with its domain check on tldextract's bundled snapshot.

    The stock recognizer calls `tldextract.extract`, which fetches the public suffix list over
    the network on first use; this one never does (no fetch, no cache directory)."""
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    extract = _offline_tldextract()

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            return extract(pattern_text).fqdn != ""

    return OfflineEmailRecognizer


def dedupe_contained(findings: list[Finding]) -> list[Finding]:
    """Presidio's `remove_duplicates` within one entity type: drop a finding contained in
    another one of the same type that scores at least as high.

    One sweep per type in (start, longest first, highest score first) order, keeping for
    each score the furthest end seen so far: a finding is contained in an earlier one of at
    least its score exactly when one of those ends reaches its end (a document with 200,000
    e-mail addresses must not take 200,000² comparisons)."""
    if len(findings) < 2:
        return list(findings)
    by_type: dict[str, list[Finding]] = {}
    for f in set(findings):
        by_type.setdefault(f.entity_type, []).append(f)
    out = []
    for group in by_type.values():
        group.sort(key=lambda f: (f.start, -f.end, -f.score))
        reach: dict[float, int] = {}  # score -> furthest end of the findings before
        for f in group:
            if not any(end >= f.end for score, end in reach.items() if score >= f.score):
                out.append(f)
            if reach.get(f.score, -1) < f.end:
                reach[f.score] = f.end
    return sorted(out)


def resolve_overlaps(findings: list[Finding]) -> list[Finding]:
    """Non-overlapping findings for redaction: overlapping findings become one span covering
    all of them, typed (and scored) by the highest-scoring one, ties to the longer. So
    ``john.doe@example.com`` is one email (1.0), not a bare-domain URL ``john.do`` (0.5)
    inside it, and no piece of a lower-scored overlapping finding is left unredacted."""
    if len(findings) < 2:
        return list(findings)
    out: list[Finding] = []
    top: Finding | None = None
    for f in sorted(findings):
        if out and f.start < out[-1].end:
            assert top is not None
            if (f.score, f.end - f.start) > (top.score, top.end - top.start):
                top = f
            out[-1] = Finding(out[-1].start, max(out[-1].end, f.end), top.entity_type,
                              top.score)
        else:
            out.append(f)
            top = f
    return out


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check of payment card numbers (ISO/IEC 7812-1)."""
    total = 0
    for k, ch in enumerate(reversed(digits)):
        d = int(ch)
        if k % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


@functools.cache
def _regex_timeout() -> int:
    from presidio_analyzer.pattern_recognizer import REGEX_TIMEOUT_SECONDS

    return int(REGEX_TIMEOUT_SECONDS)


def pattern_analyze(recognizer: Any, text: str) -> list[Any]:
    """What ``recognizer.analyze(text, ...)`` returns for a Presidio `PatternRecognizer`
    that does not override `analyze`, without the per-match explanation objects and
    timestamps Presidio builds (a third of the recognizer's time on web text): the same
    patterns, flags, regex engine and timeout, `validate_result` (a True lifts the score
    to 1.0, a False drops the match), `invalidate_result`, and matches of score 0 dropped.
    Containment within the type is resolved by the caller (`dedupe_contained`, Presidio's
    `remove_duplicates`)."""
    flags = recognizer.global_regex_flags
    entity = recognizer.supported_entities[0]
    validate, invalidate = recognizer.validate_result, recognizer.invalidate_result
    out = []
    for pattern in recognizer.patterns:
        if not pattern.compiled_regex or pattern.compiled_with_flags != flags:
            import regex

            pattern.compiled_with_flags = flags
            pattern.compiled_regex = regex.compile(pattern.regex, flags=flags)
        try:
            for m in pattern.compiled_regex.finditer(text, timeout=_regex_timeout()):
                start, end = m.span()
                if start == end:
                    continue
                current = text[start:end]
                score = pattern.score
                valid = validate(current)
                if valid is not None:
                    score = 1.0 if valid else 0.0
                if invalidate(current):
                    score = 0.0
                if score > 0:
                    out.append(PlainResult(entity, start, end, score))
        except TimeoutError:
            continue  # as Presidio: a pattern that times out finds nothing
    return out


@functools.cache
def _plain_pattern_class(cls: type) -> bool:
    """Whether `pattern_analyze` gives the results of `cls.analyze` (a `PatternRecognizer`
    that keeps Presidio's `analyze`)."""
    from presidio_analyzer import PatternRecognizer

    return issubclass(cls, PatternRecognizer) and cls.analyze is PatternRecognizer.analyze


def _analyze(recognizer: Any, entity: str, text: str) -> list[Any]:
    """The recognizer's results on `text` (`pattern_analyze` where that is the same)."""
    if _plain_pattern_class(type(recognizer)) and not recognizer.deny_list:
        return pattern_analyze(recognizer, text)
    return recognizer.analyze(text, [entity], None)


class PlainResult:
    """A match of a `PlainRecognizer` (the fields of Presidio's RecognizerResult we use)."""

    __slots__ = ("end", "entity_type", "score", "start")

    def __init__(self, entity_type: str, start: int, end: int, score: float):
        self.entity_type, self.start, self.end, self.score = entity_type, start, end, score


class PlainRecognizer:
    """One regex with an invalidation rule, answering like Presidio's `PatternRecognizer`
    (`analyze` → results with start, end, score; `context`, `suffix_context`), without its
    per-match explanation objects, which cost more than the regex on digit-rich text."""

    def __init__(self, name: str, entity: str, regex: str, score: float,
                 context: Sequence[str], invalid: Any, suffix_context: Sequence[str] = ()):
        self.name = name
        self.supported_entities = [entity]
        self.pattern = re.compile(regex, re.DOTALL | re.MULTILINE)
        self.score = score
        self.context = list(context)
        self.suffix_context = list(suffix_context)
        self.invalid = invalid

    def analyze(self, text: str, entities: Any = None, nlp_artifacts: Any = None,
                ) -> list[PlainResult]:
        entity, score, invalid = self.supported_entities[0], self.score, self.invalid
        return [PlainResult(entity, m.start(), m.end(), score)
                for m in self.pattern.finditer(text)
                if m.end() > m.start() and not invalid(m.group())]


class IbanExactLengthRecognizer:
    """IBANs read at their country's registered length (Presidio's per-country formats),
    validated by Presidio's `IbanRecognizer` (ISO 13616 check digits and format).

    Presidio's own pattern takes up to seven 4-character groups greedily, so an IBAN written
    without spaces and followed by a word of capitals or digits ("ES82 0000 ... 0000 2022",
    "... ACHEMA") is read with that word glued on, fails its checksum, and is missed."""

    name = "IbanExactLengthRecognizer"
    supported_entities: ClassVar[list[str]] = ["IBAN_CODE"]
    context: ClassVar[list[str]] = []
    _start = re.compile(r"(?<![A-Z0-9])[A-Z]{2}[0-9]{2}")

    def __init__(self) -> None:
        from presidio_analyzer.predefined_recognizers import IbanRecognizer
        from presidio_analyzer.predefined_recognizers.generic.iban_patterns import (
            regex_per_country,
        )

        self._formats = {cc: re.compile(rx) for cc, rx in regex_per_country.items()}
        self._validate = IbanRecognizer().validate_result

    def analyze(self, text: str, entities: Any = None, nlp_artifacts: Any = None,
                ) -> list[PlainResult]:
        out = []
        for m in self._start.finditer(text):
            fmt = self._formats.get(m.group()[:2])
            hit = fmt.match(text, m.start()) if fmt is not None else None
            if hit is None:
                continue
            end = hit.end()
            while end > hit.start() and text[end - 1] == " ":
                end -= 1
            if end < len(text) and text[end].isalnum():
                continue  # runs on into a longer token: not this IBAN
            if self._validate(text[m.start():end]):
                out.append(PlainResult("IBAN_CODE", m.start(), end, 1.0))
        return out


def _not_phone_shape(s: str) -> bool:
    return len(_DIGIT.findall(s.split("x")[0])) < 7 or bool(_YEARS_OR_DATE.fullmatch(s))


def _not_card_digits(s: str) -> bool:
    digits = "".join(_DIGIT.findall(s))
    return not (12 <= len(digits) <= 19 and luhn_valid(digits))


def extended_recognizers() -> list[tuple[str, Any]]:
    """Recall patterns beyond Presidio's (`PlainRecognizer`s).

    Both score below the default `min_score` on their own and count only with a context word
    (+0.35), so bare digit runs in web text (dates, order numbers) are not taken:

    * PHONE_NUMBER: phone-shaped digit groups (7–15 digits, optional +country code, (area)
      code, x-extension), for the local and fictitious numbers `phonenumbers` does not
      validate in its regions; context words before or right after ("office", "fax"). A
      shape starting with "+" or "(" that `phonenumbers` validates, or one whose leading
      groups it validates (a number followed by another number), counts without context, at
      Presidio's phone score (`PiiEngine._valid_phone_prefix`).
    * CREDIT_CARD: 12–19 Luhn-valid digits, for card lengths and prefixes Presidio's pattern
      leaves out (Maestro 12-digit, 19-digit Visa, Mastercard 2-series, JCB 2131/1800).
    * IBAN_CODE: IBANs at their registered length (`IbanExactLengthRecognizer`), checksum
      validated, which Presidio's greedy pattern misses when a word follows them.
    """
    phone = PlainRecognizer(
        "PhoneShapeRecognizer", "PHONE_NUMBER",
        r"(?<![\w+.-])(?:\+[0-9]{1,3}[ .-]?)?(?:\([0-9]{1,4}\)[ .-]?)?[0-9]{1,15}"
        r"(?:[ .-][0-9]{2,8}){0,4}(?:[ ]?x[0-9]{1,6})?(?![\w]|[.-][0-9])", 0.2,
        context=["phone", "telephone", "tel", "cell", "mobile", "call", "fax", "contact",
                 "reach", "answer", "dial", "text", "sms", "whatsapp", "message"],
        suffix_context=["office", "fax", "mobile", "cell", "phone", "tel", "home", "work"],
        invalid=_not_phone_shape)
    card = PlainRecognizer(
        "CardDigitsRecognizer", "CREDIT_CARD",
        r"(?<![\w.-])[0-9]{2,19}(?:[ -][0-9]{2,6}){0,5}(?![\w]|[.-][0-9])", 0.3,
        context=["credit", "card", "visa", "mastercard", "amex", "cc", "maestro", "discover",
                 "jcb", "diners", "debit"],
        invalid=_not_card_digits)
    return [("PHONE_NUMBER", phone), ("CREDIT_CARD", card),
            ("IBAN_CODE", IbanExactLengthRecognizer())]


_PLUS_FIRST = re.compile(r"[^\d+\uff0b]*[+\uff0b]")
_LETTER = re.compile(r"[^\W\d_]")


def _ascii_digit_groups(cand: str) -> list[str]:
    """The runs of digits in a phone candidate, in ASCII (phonenumbers reads any decimal
    digit as its ASCII twin)."""
    groups = _DIGIT_RUNS.findall(cand)
    if not cand.isascii():
        groups = ["".join(str(int(ch)) for ch in g) for g in groups]
    return groups


def _whole_candidate_match(matcher: Any, cand: str, offset: int) -> Any:
    """`PhoneNumberMatcher._extract_match` without its inner-match retries: the match of the
    whole candidate, or None."""
    from phonenumbers import phonenumbermatcher as pm

    if pm._SLASH_SEPARATED_DATES.search(cand):
        return None
    if pm._TIME_STAMPS.search(cand) and pm._TIME_STAMPS_SUFFIX.match(
            matcher.text[offset + len(cand):]):
        return None
    return matcher._parse_and_verify(cand, offset)


def _char_class(ch: str) -> int:
    """What PhoneNumberMatcher sees of a neighbouring character: none (0), a Latin letter or
    a percent/currency sign (1: rejects the match at VALID leniency), anything else (2)."""
    if not ch:
        return 0
    from phonenumbers import PhoneNumberMatcher

    if PhoneNumberMatcher._is_latin_letter(ch) or \
            PhoneNumberMatcher._is_invalid_punctuation_symbol(ch):
        return 1
    return 2


def phone_floor(region: str) -> tuple[int, re.Pattern[str], re.Pattern[str]]:
    """Necessary conditions for a phone number candidate to hold a number `phonenumbers`
    finds valid for `region` when it is written nationally (no plus sign, no international
    dialling prefix anywhere in its digits):

    * at least as many digits as the shortest national number of a region sharing the
      country code;
    * some run of its digits matches the general national-number pattern of a region
      sharing the country code (`is_valid_number` checks that pattern first, and the number
      it checks — after stripping a national prefix or carrier code, or taking the part of an
      over-long candidate the matcher retries — is always a run of the candidate's digits;
      the one default region with a national-prefix transform, BR, keeps a run too).

    Returned: the digit floor, the international dialling prefix, and the pattern. A
    candidate in international form may belong to any country; the caller then only asks
    for 4 digits (the shortest national number anywhere)."""
    import phonenumbers
    from phonenumbers import PhoneMetadata

    never = re.compile(r"(?!x)x")
    md = PhoneMetadata.metadata_for_region(region)
    if md is None:
        return 4, never, re.compile("")
    idd = re.compile(md.international_prefix or never.pattern)
    group = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(md.country_code, (region,))
    patterns, floor = [], 99
    for other in group:
        omd = PhoneMetadata.metadata_for_region(other)
        pattern = omd.general_desc.national_number_pattern if omd else None
        lengths = [n for n in omd.general_desc.possible_length if n > 0] if omd else []
        if not pattern or not lengths:
            return 4, idd, re.compile("")  # unknown: no pruning
        patterns.append(f"(?:{pattern})")
        floor = min(floor, *lengths)
    if md.national_prefix_transform_rule and not re.fullmatch(
            r"\\\d", md.national_prefix_transform_rule):
        return 4, idd, re.compile("")  # a rule that may insert digits: no pruning
    return max(4, floor), idd, re.compile("|".join(patterns))


# Characters after which the digits of a phone candidate are exactly the digits `phonenumbers`
# parses: no letter (vanity numbers, "ext", carrier-code "xx"), no plus sign and none of the
# extension marks (# ~ , ;). Candidates with any of them skip `PhoneRegionCheck`.
_PHONE_UNSAFE = re.compile(r"[^\W\d_]|[#＃~～+＋,;]")
_NUMBER_TYPES = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number",
                 "pager", "uan", "voicemail", "fixed_line", "mobile")


def phone_region_checks(regions: Sequence[str]) -> dict[str, PhoneRegionCheck]:
    """A `PhoneRegionCheck` per region; regions with the same rules (country code, dialling
    prefix, national prefix and main region: US and CA) share one, and its memos."""
    import phonenumbers
    from phonenumbers import PhoneMetadata

    by_rules: dict[tuple[Any, ...], PhoneRegionCheck] = {}
    out = {}
    for region in regions:
        md = PhoneMetadata.metadata_for_region(region)
        rules: tuple[Any, ...] = (region,) if md is None else (
            md.country_code, md.international_prefix, md.national_prefix_for_parsing,
            md.national_prefix_transform_rule,
            phonenumbers.region_code_for_country_code(md.country_code))
        if rules not in by_rules:
            by_rules[rules] = PhoneRegionCheck(region)
        out[region] = by_rules[rules]
    return out


class PhoneRegionCheck:
    """An exact, parse-free necessary condition for `PhoneNumberMatcher` (leniency VALID,
    preferred region `region`) to accept anything in a candidate written without a plus sign.

    What the matcher parses is the candidate or a piece of it cut at separators (its inner
    matches), so a run of whole digit groups ``digits[k:b]``. Without a plus sign, `parse`
    then either

    * meets the region's international dialling prefix (IDD) at the start of a piece: this
      check then gives up (no pruning) unless the IDD is followed by a 0 or by too few digits
      (which `parse` rejects);
    * or reads the number as national: it may strip the region's country code (when the
      piece starts with it) and the national prefix / carrier code
      (``national_prefix_for_parsing``, at most twice), so the national significant number
      (NSN) is ``digits[a:b]`` for ``a`` among those strip points (all of them are tried,
      whether or not `parse` would take them).

    `is_valid_number` needs the NSN to have a possible length and to fit a number-type
    pattern (fixed line, mobile, toll free, ...) of a region sharing the country code; and
    at VALID leniency, a number read nationally without stripping a country code must show
    the national prefix when the region's formatting rule for it requires one
    (`_is_national_prefix_present_if_required`). A candidate for which no ``(k, a, b)``
    passes cannot yield a match and is skipped without parsing. Candidates with letters,
    plus signs or extension marks are not judged (`_PHONE_UNSAFE`); nor are regions whose
    national-prefix transform may insert digits (AR, MX, ...)."""

    def __init__(self, region: str):
        import phonenumbers
        from phonenumbers import PhoneMetadata

        self.memo: dict[str, bool] = {}
        self.active = False
        md = PhoneMetadata.metadata_for_region(region)
        if md is None:
            return
        cc = md.country_code
        main = PhoneMetadata.metadata_for_region(phonenumbers.region_code_for_country_code(cc))
        # `parse` strips national prefixes with the metadata of the region (or, when it took
        # the country code off a national number, of the country code's main region): only
        # their transform rules matter, not those of the other regions sharing the code.
        for omd in (md, main):
            if omd is None or (omd.national_prefix_transform_rule and not re.fullmatch(
                    r"\\\d", omd.national_prefix_transform_rule)):
                return  # unknown, or a rule that may insert digits: no pruning
        patterns, lengths = [], set()
        for other in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(cc, (region,)):
            omd = PhoneMetadata.metadata_for_region(other)
            if omd is None:
                return  # unknown: no pruning
            for kind in _NUMBER_TYPES:
                desc = getattr(omd, kind)
                if desc is not None and desc.national_number_pattern:
                    patterns.append(f"(?:{desc.national_number_pattern})")
            lengths.update(omd.general_desc.possible_length)
        if not patterns:
            return
        self.cc = str(cc)
        self.valid = re.compile("|".join(patterns))
        self.lengths = frozenset(n for n in lengths if n > 0)
        self.idd = re.compile(md.international_prefix) if md.international_prefix else None
        prefixes = {p for p in (md.national_prefix_for_parsing,
                                main.national_prefix_for_parsing if main else None) if p}
        self.prefixes = [re.compile(p) for p in sorted(prefixes)]
        # The most digits `_possible` may strip in front of a national number: the country
        # code and two national-prefix matches (their widest match, from the regex).
        from re import _parser

        widest = max((_parser.parse(p.pattern).getwidth()[1] for p in self.prefixes),
                     default=0)
        self.min_len, self.max_len = min(self.lengths), max(self.lengths)
        self.slack = len(self.cc) + 2 * min(widest, 10_000)
        self.main_prefix = (re.compile(main.national_prefix_for_parsing)
                            if main is not None and main.national_prefix_for_parsing else None)
        from phonenumbers import phonenumberutil as pu

        # The main region's formats, compiled once (phonenumbers looks them up per call).
        self.format_rules = [
            (re.compile(f.leading_digits_pattern[-1]) if f.leading_digits_pattern else None,
             re.compile(f.pattern),
             bool(f.national_prefix_formatting_rule
                  and not f.national_prefix_optional_when_formatting
                  and not pu._formatting_rule_has_first_group_only(
                      f.national_prefix_formatting_rule)))
            for f in (main.number_format if main is not None else [])]
        self.no_prefix_memo: dict[str, bool] = {}
        self.piece_memo: dict[str, bool] = {}
        self.piece_memo_valid: dict[str, bool] = {}
        self.active = True

    def possible(self, cand: str, digits: str, heads: Sequence[int]) -> bool:
        """False only if the matcher cannot accept anything in `cand` for this region
        (`digits`: its digits in ASCII; `heads`: where its digit groups start in them)."""
        if not self.active or _PHONE_UNSAFE.search(cand):
            return True
        hit = self.memo.get(cand)
        if hit is None:
            if len(self.memo) > 200_000:
                self.memo.clear()
            hit = self.memo[cand] = self._possible(digits, heads)
        return hit

    def possible_whole(self, cand: str) -> bool:
        """False only if the matcher cannot accept `cand` read whole (its first group to its
        last) for this region: `possible` restricted to that one piece."""
        if not self.active or _PHONE_UNSAFE.search(cand):
            return True
        return self._possible("".join(_ascii_digit_groups(cand)), (0,))

    def possibly_valid(self, cand: str, digits: str) -> bool:
        """False only if ``is_valid_number(parse(cand, region))`` is False (the whole
        candidate parsed, no national-prefix condition)."""
        if not self.active or _PHONE_UNSAFE.search(cand):
            return True
        return self._possible(digits, (0,), prefix_rule=False)

    def _possible(self, digits: str, heads: Sequence[int], prefix_rule: bool = True) -> bool:
        ends = (*heads[1:], len(digits))
        idd, lo_len, hi_len = self.idd, self.min_len, self.max_len + self.slack
        memo = self.piece_memo if prefix_rule else self.piece_memo_valid
        if len(memo) > 200_000:
            memo.clear()
        for i, k in enumerate(heads):
            # A dialling prefix that matches in a piece matches in the whole rest too (no
            # anchors or lookarounds in these patterns): without one, only the pieces of a
            # possible length matter, and they are the ones ending in a short range.
            at_idd = idd is not None and idd.match(digits, k) is not None
            for b in ends[i:]:
                if at_idd:
                    m = idd.match(digits, k, b)  # type: ignore[union-attr]
                    if m is not None and b - m.end() > 2 and digits[m.end()] != "0":
                        return True  # international form: any country, not judged
                elif b - k > hi_len:
                    break
                if not lo_len <= b - k <= hi_len:
                    continue  # no strip of it can have a possible length
                piece = digits[k:b]
                ok = memo.get(piece)
                if ok is None:
                    ok = memo[piece] = self._national(piece, prefix_rule)
                if ok:
                    return True
        return False

    def _national(self, piece: str, prefix_rule: bool) -> bool:
        """Whether `piece`, read as a national number (with or without the country code and
        national prefixes stripped), has a valid NSN (and, with `prefix_rule`, shows the
        national prefix where the region's formatting requires it)."""
        valid, cc = self._valid, self.cc
        if valid(piece, 0):
            main = self.main_prefix
            if not prefix_rule or (main is not None and main.match(piece)) \
                    or self._no_prefix_ok(piece):
                return True
        if any(valid(piece, a) for a in self._strips(piece, 0) if a > 0):
            return True
        # Country code without a plus sign, then up to two national-prefix strips.
        if piece.startswith(cc):
            points = {len(cc)}
            for _ in range(2):
                points |= {x for a in points for x in self._strips(piece, a)}
            if any(valid(piece, a) for a in points):
                return True
        return False

    def _valid(self, piece: str, a: int) -> bool:
        return len(piece) - a in self.lengths and self.valid.fullmatch(piece[a:]) is not None

    def _strips(self, piece: str, a: int) -> set[int]:
        """Where the NSN may start after `parse` strips a national prefix / carrier code
        from ``piece[a:]`` (the end of the match, or with a transform rule the start of the
        group it keeps)."""
        out = set()
        for prefix in self.prefixes:
            m = prefix.match(piece[a:])
            if m is not None:
                out.add(a + m.end())
                out.update(a + m.start(g) for g in range(1, prefix.groups + 1)
                           if m.start(g) >= 0)
        return out

    def _no_prefix_ok(self, nsn: str) -> bool:
        """Whether the main region's formatting rule for `nsn` lets it go without its
        national prefix (phonenumbers' `_is_national_prefix_present_if_required`: the first
        format whose last leading-digits pattern matches and whose pattern matches whole)."""
        ok = self.no_prefix_memo.get(nsn)
        if ok is None:
            ok = True
            for leading, pattern, needs_prefix in self.format_rules:
                if (leading is None or leading.match(nsn)) and pattern.fullmatch(nsn):
                    ok = not needs_prefix
                    break
            if len(self.no_prefix_memo) > 200_000:
                self.no_prefix_memo.clear()
            self.no_prefix_memo[nsn] = ok
        return ok
