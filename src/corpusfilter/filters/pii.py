"""`pii`: find personal data with Presidio's recognizers and redact it, drop it, or count it.

Detection is Presidio's (presidio-analyzer): its regexes, checksum validators (Luhn for cards,
ISO 13616 mod-97 for IBANs, Base58/Bech32 for Bitcoin addresses, the SSN invalid-group
rules, `ipaddress` for IPs), its `phonenumbers`-based phone recognizer over eight regions, and
its context words with the enhancer's defaults (+0.35 when a context word is among the five
words before an entity). `pii_engine.PiiEngine` runs them only where a cheap batch prefilter
says they can match, which is what makes the stage fast; see docs/pii.md for the measured
speed and accuracy.

Nothing downloads: no spaCy model is loaded for the pattern entities, and the email domain
check uses tldextract's bundled public suffix list. NER entities (PERSON, LOCATION,
ORGANIZATION, NRP) need a spaCy model with NER that the user installed and names in
`ner_model`; otherwise the stage refuses to start with a ConfigError.

The ledger never holds matched text: detail has entity types, counts, offsets and scores.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from corpusfilter.core.docs import Docs
from corpusfilter.core.errors import ConfigError
from corpusfilter.core.registry import register
from corpusfilter.core.stage import Outcome, Transform
from corpusfilter.filters.pii_engine import (  # the enhancer's reach
    _CONTEXT_CHARS,
    _WORD,
    DEFAULT_ENTITIES,
    KNOWN_ENTITIES,
    NER_LABELS,
    Finding,
    PiiEngine,
    resolve_overlaps,
)

MODES = ("redact", "drop", "label_only")
SPAN_TYPE = pa.list_(pa.struct([
    pa.field("entity_type", pa.string()),
    pa.field("start", pa.int32()),
    pa.field("end", pa.int32()),
    pa.field("score", pa.float64()),
]))


@register
class Pii(Transform):
    """Detect personal data (emails, phones, cards, IBANs, IPs, SSNs, ...) and redact it.

    Presidio's pattern recognizers with their checksum validators and context words, run only
    where a batch-level prefilter allows (docs/pii.md). Overlapping findings are resolved by
    score, so ``john.doe@example.com`` is one email, not a URL inside an email.

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
            IBAN_CODE, IP_ADDRESS, US_SSN, CRYPTO). Also available: URL, UK_NHS, UK_NINO,
            ES_NIF, IT_FISCAL_CODE, IN_AADHAAR, IN_PAN, PL_PESEL, SG_NRIC_FIN, AU_TFN,
            FI_PERSONAL_IDENTITY_CODE, and with `ner_model` PERSON, LOCATION, ORGANIZATION, NRP.
        min_score: keep findings scoring at least this after context enhancement (0.4: a phone
            number, 0.4, counts; a bare 9-digit SSN candidate, 0.05, counts only with a context
            word such as "ssn" before it).
        placeholder: replacement text; ``{entity}`` becomes the entity type.
        max_entities: drop mode: remove documents with more entities than this.
        drop_types: drop mode: remove documents with any entity of these types.
        phone_regions: regions for phone numbers written without a country code
            (Presidio's default eight).
        context: raise scores by Presidio's context words (e.g. "phone", "iban", "ssn").
        extended: add the recall patterns of docs/pii.md (local and fictitious phone
            numbers, card numbers Presidio's pattern leaves out, IBANs followed by a word);
            false: exactly Presidio's pattern recognizers' findings.
        ner_model: name or path of an installed spaCy model with NER, needed for PERSON,
            LOCATION, ORGANIZATION, NRP. Never downloaded.
        max_ledger_spans: at most this many spans per document in the ledger detail.
    """

    name = "pii"
    version = 1
    writes: ClassVar[tuple[str, ...]] = ("pii_count", "pii_spans")

    def __init__(self, mode: str = "redact", entities: list[str] | None = None,
                 min_score: float = 0.4, placeholder: str = "<{entity}>",
                 max_entities: int | None = 0, drop_types: list[str] | None = None,
                 phone_regions: list[str] | None = None, context: bool = True,
                 extended: bool = True, ner_model: str | None = None,
                 max_ledger_spans: int = 100):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
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
        if not isinstance(min_score, (int, float)) or not 0 < min_score <= 1:
            raise ValueError(f"min_score must be in (0, 1], got {min_score!r}")
        if not isinstance(placeholder, str):
            raise ValueError(f"placeholder must be a string, got {placeholder!r}")
        try:
            placeholder.format(entity="X")
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"placeholder {placeholder!r} may only use {{entity}}: {e}") from None
        if max_entities is not None and (not isinstance(max_entities, int)
                                         or isinstance(max_entities, bool) or max_entities < 0):
            raise ValueError(f"max_entities must be a non-negative integer or null, "
                             f"got {max_entities!r}")
        if not isinstance(max_ledger_spans, int) or max_ledger_spans < 0:
            raise ValueError(f"max_ledger_spans must be a non-negative integer, "
                             f"got {max_ledger_spans!r}")
        ner = [e for e in ents if e in NER_LABELS]
        if ner:
            _check_ner_model(ner, ner_model)
        self.mode = mode
        self.entities = ents
        self.min_score = float(min_score)
        self.placeholder = placeholder
        self.max_entities = max_entities
        self.drop_types = drop
        self.phone_regions = phone_regions
        self.context = bool(context)
        self.extended = bool(extended)
        self.ner_model = ner_model
        self.max_ledger_spans = max_ledger_spans
        self._engine: PiiEngine | None = None

    def setup(self) -> None:
        if self._engine is None:
            kwargs: dict[str, Any] = {}
            if self.phone_regions is not None:
                kwargs["phone_regions"] = tuple(self.phone_regions)
            self._engine = PiiEngine(self.entities, self.min_score, context=self.context,
                                     extended=self.extended, ner_model=self.ner_model,
                                     **kwargs)

    def transform(self, docs: Docs) -> Outcome:
        self.setup()
        assert self._engine is not None
        n = docs.num_rows
        if n == 0:
            return Outcome.keep_all(0)
        texts = docs.texts
        found = [absorb_run_on_groups(t, f)
                 for t, f in zip(texts, self._engine.analyze_batch(docs.text, texts),
                                 strict=True)]
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
            rows = [int(i) for i in np.flatnonzero(modified)]
            settled = self._settle([texts[i] for i in rows], [found[i] for i in rows])
            for i, (red, spans) in zip(rows, settled, strict=True):
                new_text[i] = red
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
        self.setup()
        assert self._engine is not None
        if not texts:
            return []
        found = [absorb_run_on_groups(t, f) for t, f in zip(
            texts, self._engine.analyze_batch(pa.array(texts, pa.string()), texts), strict=True)]
        return [red for red, _ in self._settle(list(texts), found)]

    def redact(self, text: str, spans: list[Finding]) -> str:
        """`text` with each (non-overlapping, sorted) span replaced by its placeholder."""
        parts, pos = [], 0
        for f in spans:
            parts.append(text[pos:f.start])
            parts.append(self.placeholder.format(entity=f.entity_type))
            pos = f.end
        parts.append(text[pos:])
        return "".join(parts)

    def _settle(self, texts: list[str], found: list[list[Finding]],
                ) -> list[tuple[str, list[Finding]]]:
        """Redact until nothing more is found, so that redaction is idempotent.

        Removing an entity can expose another one whose detection depended on its
        neighbours (a phone number followed by the digits of an email's local part, say).
        Only text near a placeholder can change that way: what a recognizer sees of an
        entity's surroundings is at most the `_CONTEXT_CHARS` before it (context words) and a
        few characters after it. So the redacted texts are analysed again only in windows
        around their placeholders (`_REANALYSE_BEFORE` characters before, `_context_reach`
        after, widened to a safe cut, `_safe_cut`), all windows of a batch at once; findings
        there are mapped back to the original text and merged with the earlier ones; at most
        three rounds. Presidio's phone recognizer, whose findings do not need a context word
        (only their score does), is run on the whole redacted text but only from the safe
        cut before each placeholder to the one after it (`PiiEngine.phone_near`): elsewhere
        its scan and verdicts are those of the first analysis."""
        assert self._engine is not None
        out = [(*self._redact_segments(t, s), s) for t, s in zip(texts, found, strict=True)]
        todo = list(range(len(texts)))
        for _ in range(3):
            if not todo:
                break
            windows: list[tuple[int, int, int]] = []  # (doc, start, end) in redacted text
            stretches: list[list[tuple[int, int]]] = []
            for k in todo:
                red, segments, _ = out[k]
                doc_windows = _placeholder_windows(red, segments, self._engine.stop_words)
                windows.extend((k, lo, hi) for lo, hi in doc_windows)
                stretches.append(_placeholder_stretches(red, segments, doc_windows))
            pieces = [out[k][0][lo:hi] for k, lo, hi in windows]
            more = self._engine.analyze_batch(pa.array(pieces, pa.string()), pieces,
                                              phone=False)
            extra: dict[int, list[Finding]] = {}
            for (k, lo, _), fs in zip(windows, more, strict=True):
                if fs:
                    extra.setdefault(k, []).extend(
                        Finding(f.start + lo, f.end + lo, f.entity_type, f.score) for f in fs)
            for k, ranges in zip(todo, stretches, strict=True):
                fs = self._engine.phone_near(out[k][0], ranges) if ranges else []
                if fs:
                    extra.setdefault(k, []).extend(fs)
            for k, fs in extra.items():
                _, segments, spans = out[k]
                spans = absorb_run_on_groups(texts[k], merge_spans(
                    spans + [_to_original(f, segments) for f in fs]))
                out[k] = (*self._redact_segments(texts[k], spans), spans)
            todo = sorted(extra)
        return [(red, spans) for red, _, spans in out]

    def _redact_segments(self, text: str, spans: list[Finding],
                         ) -> tuple[str, list[tuple[int, int, int, bool]]]:
        """Redacted text and its segments: (start in redacted text, original start, original
        end, is a placeholder)."""
        parts: list[str] = []
        segments: list[tuple[int, int, int, bool]] = []
        pos = out = 0
        for f in spans:
            if f.start > pos:
                segments.append((out, pos, f.start, False))
                parts.append(text[pos:f.start])
                out += f.start - pos
            token = self.placeholder.format(entity=f.entity_type)
            segments.append((out, f.start, f.end, True))
            parts.append(token)
            out += len(token)
            pos = f.end
        segments.append((out, pos, len(text), False))
        parts.append(text[pos:])
        return "".join(parts), segments

    def _detail(self, spans: list[Finding], counts: Counter[str]) -> dict[str, Any]:
        d: dict[str, Any] = {
            "entities": dict(sorted(counts.items())),
            "spans": [[f.entity_type, f.start, f.end, round(f.score, 4)]
                      for f in spans[:self.max_ledger_spans]],
        }
        if len(spans) > self.max_ledger_spans:
            d["spans_truncated"] = len(spans) - self.max_ledger_spans
        return d


def _check_ner_model(ner: list[str], model: str | None) -> None:
    """NER needs a spaCy model the user installed; never download one."""
    what = ", ".join(ner)
    if not model:
        raise ConfigError(
            f"pii: {what} need a spaCy NER model, and none is configured. Install one "
            f"yourself (the official models are not on PyPI: e.g. `python -m spacy download "
            f"en_core_web_sm` where you have network access) and set `ner_model: "
            f"en_core_web_sm`, or remove {what} from `entities`. corpusfilter never "
            f"downloads models.")
    from pathlib import Path

    import spacy.util

    if not (spacy.util.is_package(model) or Path(model).is_dir()):
        raise ConfigError(
            f"pii: ner_model {model!r} is neither an installed spaCy model package nor a "
            f"model directory; install it yourself (corpusfilter never downloads models) or "
            f"remove {what} from `entities`.")


def _to_original(f: Finding, segments: list[tuple[int, int, int, bool]]) -> Finding:
    """A finding in redacted text mapped to original offsets (placeholders it touches are
    taken whole)."""
    starts = [s[0] for s in segments]

    def where(pos: int, is_end: bool) -> int:
        k = max(0, bisect.bisect_right(starts, pos - (1 if is_end else 0)) - 1)
        red_start, orig_start, orig_end, placeholder = segments[k]
        if placeholder:
            return orig_end if is_end else orig_start
        return min(orig_end, orig_start + pos - red_start)

    return Finding(where(f.start, False), where(f.end, True), f.entity_type, f.score)


# Re-analysis windows around a placeholder (`Pii._settle`): before it, the suffix context, phone
# and lookahead checks of an entity before it (at most 40 characters) plus the context words
# that entity sees (`pii_engine._CONTEXT_CHARS`, 160); after it, `_context_reach`.
_REANALYSE_BEFORE = 200
_SAFE_SCAN = (60, 600)
_TOKEN = re.compile(r"\S+")
_HAS_DIGIT = re.compile(r"\d")
_ASCII_LETTER = re.compile(r"[A-Za-z]")


def _safe_cut(text: str, pos: int, forward: bool) -> int:
    """The nearest place at or before `pos` (after, when `forward`) where a window may end:
    the start (end, when `forward`) of a whitespace run between two `_safe_token`s, so that
    the window keeps that whitespace and nothing a recognizer sees is cut; else the text's
    start (end). Looks `_SAFE_SCAN` characters far, the first few of them first."""
    n = len(text)
    if (pos >= n) if forward else (pos <= 0):
        return n if forward else 0
    safe = _safe_token
    for reach in _SAFE_SCAN:
        lo, hi = (pos, min(n, pos + reach)) if forward else (max(0, pos - reach), min(n, pos))
        # A token touching the scanned range's edge may be cut: never judge it.
        cut_lo, cut_hi = lo > 0, hi < n
        if forward:
            prev = False  # the previous token is safe (and judged)
            for m in _TOKEN.finditer(text, lo, hi):
                s, e = m.span()
                if cut_hi and e == hi:
                    break
                ok = safe(m.group())
                if prev and ok:
                    return s
                prev = ok and not (cut_lo and s == lo)
            if hi == n:
                break
        else:
            # Tokens from right to left: those of the reversed range (`_safe_token` does not
            # depend on the order of a token's characters).
            later = False  # the later token is safe (and judged)
            for m in _TOKEN.finditer(text[lo:hi][::-1]):
                s, e = hi - m.end(), hi - m.start()
                if cut_hi and e == hi:
                    continue
                ok = safe(m.group())
                if later and ok and not (cut_lo and s == lo):
                    return e
                later = ok
            if lo == 0:
                break
    return n if forward else 0


_SAFE_MEMO: dict[str, bool] = {}


def _safe_token(token: str) -> bool:
    """A token no entity can extend across: no digit, and a lower-case letter or no ASCII
    letter at all (entity patterns span whitespace only between groups of digits or of
    upper-case ASCII letters, as in IBANs and UK NINOs; text in scripts without case, such
    as Chinese or Japanese, is safe)."""
    ok = _SAFE_MEMO.get(token)
    if ok is None:
        if len(_SAFE_MEMO) > 100_000:
            _SAFE_MEMO.clear()
        ok = _SAFE_MEMO[token] = _HAS_DIGIT.search(token) is None and (
            token.upper() != token or _ASCII_LETTER.search(token) is None)
    return ok


def _placeholder_windows(text: str, segments: list[tuple[int, int, int, bool]],
                         stop: frozenset[str] = frozenset()) -> list[tuple[int, int]]:
    """Merged stretches of redacted `text` around its placeholders (see `Pii._settle`)."""
    out: list[list[int]] = []
    for k, (start, _, _, placeholder) in enumerate(segments):
        if not placeholder:
            continue
        end = segments[k + 1][0]
        _add_cut_stretch(out, text, start - _REANALYSE_BEFORE,
                         _context_reach(text, end, stop))
    return [(lo, hi) for lo, hi in out]


def _add_cut_stretch(out: list[list[int]], text: str, lo: int, hi: int) -> None:
    """Add the stretch from the safe cut at or before `lo` to the one at or after `hi` to
    the sorted, merged stretches `out` (a later `lo` than any before), computing a cut only
    where it can change `out`."""
    last = out[-1][1] if out else None
    # When `lo` lies in the last stretch, so does the cut before it: merged either way.
    start = last if last is not None and lo <= last else _safe_cut(text, lo, forward=False)
    if last is not None and start <= last:
        if hi > last:
            out[-1][1] = max(last, _safe_cut(text, hi, forward=True))
    else:
        out.append([start, _safe_cut(text, hi, forward=True)])


# A phone candidate ends with a digit, has at most 4 separators between its digit groups and
# its verdict reads 3 characters after it: one that ran into an entity, or sees a placeholder,
# has a digit within this many characters before the placeholder.
_PHONE_LOOKBACK = 12


def _placeholder_stretches(text: str, segments: list[tuple[int, int, int, bool]],
                           windows: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merged stretches of redacted `text` from the safe cut before each placeholder to the
    safe cut after it, for the placeholders near which a phone candidate can have changed:
    a digit within `_PHONE_LOOKBACK` characters before it, or between it and the end of its
    re-analysis window (`windows`, from `_placeholder_windows`, which ends at or after the
    safe cut after it). Elsewhere no candidate can begin or change."""
    out: list[list[int]] = []
    w = 0
    digit = -1  # the first digit at or after the last `end` looked at (len(text): none)
    for k, (start, _, _, placeholder) in enumerate(segments):
        if not placeholder:
            continue
        end = segments[k + 1][0]
        while windows[w][1] < end:
            w += 1
        if digit < end:  # ends only grow: each stretch of text is searched once
            m = _HAS_DIGIT.search(text, end)
            digit = m.start() if m is not None else len(text)
        if (digit >= windows[w][1]
                and _HAS_DIGIT.search(text, max(0, start - _PHONE_LOOKBACK), start) is None):
            continue
        _add_cut_stretch(out, text, start, end)
    return [(lo, hi) for lo, hi in out]


def _context_reach(text: str, pos: int, stop: frozenset[str]) -> int:
    """How far after a placeholder ending at `pos` an entity can start and still have the
    placeholder's word among its context words: Presidio's enhancer looks at the 5 words
    before an entity that are not stop words, within `_CONTEXT_CHARS` characters; so up to
    the end of the 7th such word after `pos` (one to spare), at most that many characters.
    Entities touching the placeholder start within this reach too."""
    limit = min(len(text), pos + _CONTEXT_CHARS)
    seen = 0
    for m in _WORD.finditer(text, pos, limit):
        w = m.group().lower()
        if w not in stop and w != "be":
            seen += 1
            if seen == 7:
                return m.end()
    return limit


_RUN_ON_GROUP = re.compile(r"[ .-]?(\d{2,})(?!\w)")
_MAX_PHONE_DIGITS = 15  # E.164


def absorb_run_on_groups(text: str, spans: list[Finding]) -> list[Finding]:
    """Phone findings extended over the digit groups that directly follow them (one space,
    dot or hyphen apart), up to 15 digits in all. `phonenumbers` may take a number's first
    groups together with digits before it ("11:51 07400 123660": it reports ``51 07400``);
    redacting only that would leave the rest of the number in the text."""
    out = []
    for f in spans:
        if f.entity_type == "PHONE_NUMBER":
            end = f.end
            digits = sum(c.isdigit() for c in text[f.start:end])
            while (m := _RUN_ON_GROUP.match(text, end)) is not None \
                    and digits + len(m.group(1)) <= _MAX_PHONE_DIGITS:
                digits += len(m.group(1))
                end = m.end()
            if end != f.end:
                f = Finding(f.start, end, f.entity_type, f.score)
        out.append(f)
    return merge_spans(out)


def merge_spans(spans: list[Finding]) -> list[Finding]:
    """Overlapping findings merged into one span, typed by its highest-scoring member."""
    return resolve_overlaps(spans)
