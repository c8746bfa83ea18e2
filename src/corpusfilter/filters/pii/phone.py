"""Phone numbers that have evidence of being phone numbers.

A run of digit groups is a phone number only with *evidence* (docs/pii.md, "Phone numbers"):

* a phone cue word among the words before it (``Tel.``, ``call``, ``Fax``, ``Handy``,
  ``電話``, a ``tel:`` link, ☎; `context.nearest_cue`) or a phone label right after it
  (``555 1234 office``), or
* a phone layout that `phonenumbers` validates: an international ``+``/``00`` prefix, the
  North American ``(ddd) ddd-dddd`` / ``ddd-ddd-dddd`` forms, or a trunk prefix ``0`` with
  separated groups (``0711 123456``, ``06-24312407``).

And never, with or without a cue, when its shape is one of the things the issue found posing
as phone numbers on real pages (`excluded_shape`): dates, date ranges, times, lists of years,
page-number lists (arithmetic runs), prices and percentages; and never inside a URL, path or
identifier (the run must not be glued to a word, ``/``, ``=``, ``#``, ...), nor after a
reference word (ISBN, DOI, id, page, version, ...; `context`).

Linear time: one regex pass finds the runs (`_RUN`, no nested quantifiers); inside a run each
start tries at most `_MAX_GROUPS` groups; cue words are read in a fixed window; `phonenumbers`
is asked only about layout candidates without a cue, memoised by candidate string.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import phonenumbers

from corpusfilter.filters.pii.context import counting_run, nearest_cue, phone_label_after

# Presidio's PhoneRecognizer default regions (presidio_analyzer PhoneRecognizer
# DEFAULT_SUPPORTED_REGIONS), for numbers written without a country code.
DEFAULT_REGIONS: tuple[str, ...] = ("US", "GB", "DE", "FR", "IL", "IN", "CA", "BR")
MIN_DIGITS = 6     # "33 93 31": short local numbers exist; fewer is a postcode or a year
MAX_DIGITS = 15    # E.164: at most 15 digits with the country code
_MAX_GROUPS = 8    # groups one candidate may span (``+46 (0)8 928 571 38`` has 6)
SCORE_CUE = 0.75   # a cue word or label says it is a phone number
SCORE_LAYOUT = 0.6  # a validated phone layout, no cue

# Separators between digit groups: spaces, brackets, dots, slashes and the hyphens and dashes
# of every script (full-width "－", minus "−", en dash "–" as in "+43 – (0)1 – 361 88 98").
_SEP_CHAR = r"[ \u00a0\u200b\u3000().\-/\u2010-\u2013\u2212\uff0d]"
_SEP = _SEP_CHAR + "{1,4}"
# A run of digit groups: not glued to a word, a number, a path, a URL query, a currency sign,
# a time (``11:51`` does not start a run at ``51``) or an attribute (``type="54455854"``).
_RUN = re.compile(
    r"(?<![\w.,/=?&#@$€£¥%~+\-\u2010-\u2013\u2212\uff0d])(?<!\d:)(?<!=[\"'])[+＋(（]?\d+(?:"
    + _SEP + r"\d+)*")
_GROUP = re.compile(r"\d+")
# What every text holding a phone number holds: a run's groups are digits with 1-4
# separators between them, and a number needs MIN_DIGITS digits, so MIN_DIGITS digits with at
# most four separators between neighbours (the batch prefilter, `Detector.skips`).
GATE = re.compile(rf"\d(?:{_SEP_CHAR}{{0,4}}\d){{{MIN_DIGITS - 1}}}")
_EXT = re.compile(r" ?(?:x|ext\.?|extension) ?\d{1,6}(?![\w])", re.IGNORECASE)
# What may follow a number: not a word character (``123abc``), not ``@`` (an e-mail's local
# part), not a path or a unit glued on.
_BAD_AFTER = re.compile(r"[^\W_]|[@/=%‰€$£¥]|[.,]\d|:\d")
_CURRENCY_BEFORE = re.compile(r"[$€£¥]\s?$")
_AFTER_UNIT = re.compile(
    r"\s?(?:[%‰€$£¥]|(?:eur|usd|chf|gbp|uhr|h|am|pm|a\.m|p\.m|km|kg|mm|cm|mb|gb|px)(?![^\W_]))",
    re.IGNORECASE)
_YEAR = re.compile(r"(?:1[89]|20)\d\d$")
# A date not continued by another group with the same separator (``02.27.96.63.08`` is a
# French phone number, ``07.11.2023`` a date): day.month.year, year-month-day, m/d/yy.
_DATE = re.compile(
    r"(?<![\d./-])(?:(\d{1,2})([./-])(\d{1,2})\2(?:(?:1[89]|20)\d\d|\d\d)"
    r"|(?:1[89]|20)\d\d([-./])(\d{1,2})\4(\d{1,2}))(?![./-]?\d)")
# A date written without separators, as one group: ddmmyy / yymmdd (``b4 310303``, "before
# 31 March 2003") and ddmmyyyy / yyyymmdd.
_DD, _MM, _YYYY = r"(?:0[1-9]|[12]\d|3[01])", r"(?:0[1-9]|1[0-2])", r"(?:19|20)\d\d"
_COMPACT_DATE = re.compile(
    f"(?:{_DD}{_MM}\\d\\d|\\d\\d{_MM}{_DD}|{_DD}{_MM}{_YYYY}|{_YYYY}{_MM}{_DD})$")
_SENTENCE_END = re.compile(r"\.\s")
_THOUSANDS = re.compile(r"\d{1,3}(?:([.,])\d{3})(?:\1\d{3})*$")
_HYPHEN_RANGE = re.compile(r"\(?\d+ ?[-–] ?\d+$")
_RANGE = re.compile(r"\d{1,2}[./]\d{1,4}\s?[-–]\s?\d{1,2}[./]\d{1,4}")
# Layouts: `phonenumbers` validates the number in one of the regions.
_NANP = re.compile(r"(?:\+?1[ .-]?)?(?:\(\d{3}\) ?|\d{3}[-. ])\d{3}[-.]\d{4}$")
_TRUNK = re.compile(r"\(?0\d{1,4}\)?(?:[ \u00a0/.-]{1,3}\d{2,})+(?:-\d{1,2})?$")
_INTERNATIONAL = re.compile(r"(?:[+＋]|00)[1-9]")


def _layout(cand: str) -> str | None:
    """The phone layout a candidate has (``international``, ``nanp``, ``trunk``), or None."""
    if _INTERNATIONAL.match(cand):
        return "international"
    if _NANP.match(cand):
        return "nanp"
    if _TRUNK.match(cand):
        return "trunk"
    return None


class PhoneFinder:
    """Finds phone numbers with evidence (module docstring); `regions` are those a number
    without a country code is validated in (default: Presidio's eight)."""

    def __init__(self, regions: Sequence[str] = DEFAULT_REGIONS):
        self.regions = tuple(regions)
        self._trunk_regions = tuple(
            r for r in self.regions
            if (phonenumbers.ndd_prefix_for_region(r, True) or "") == "0")
        self._nanp_regions = tuple(
            r for r in self.regions if phonenumbers.country_code_for_region(r) == 1)
        self._valid: dict[tuple[str, str], bool] = {}

    def find(self, text: str) -> Iterator[tuple[int, int, float]]:
        """(start, end, score) of each phone number in `text`, in order, not overlapping."""
        for run in _RUN.finditer(text):
            if run.end() - run.start() >= MIN_DIGITS:  # shorter runs hold too few digits
                yield from self._split_run(text, run.start(), run.end())

    def _split_run(self, text: str, lo: int, hi: int) -> Iterator[tuple[int, int, float]]:
        groups = [m.span() for m in _GROUP.finditer(text, lo, hi)]
        i = 0
        while i < len(groups):
            start = groups[i][0]
            if i > 0 and not text[groups[i - 1][1]:start].isspace():
                # Only a whitespace gap may start a number inside a run (not "-" or "."),
                # but a "+" or "(" right before the group belongs to it.
                gap = text[groups[i - 1][1]:start]
                if not (gap[:-1].isspace() and gap[-1] in "+(＋"):
                    i += 1
                    continue
                start -= 1
            elif i == 0:
                start = lo
            best = self._longest(text, groups, i, start, hi)
            if best is None:
                i += 1
                continue
            j, end, score = best
            yield start, end, score
            i = j + 1

    def _longest(self, text: str, groups: list[tuple[int, int]], i: int, start: int,
                 hi: int) -> tuple[int, int, float] | None:
        """The longest acceptable candidate starting at group `i` (index of its last group,
        its end, its score), or None."""
        if all(b - a == 1 for a, b in groups[i:i + 3]):
            # Any candidate from here (6 digits or more) holds three one-digit groups:
            # `excluded_shape` rejects it (pagination), so skip the cue and the verdicts.
            return None
        ends = []
        digits = 0
        for j in range(i, min(len(groups), i + _MAX_GROUPS)):
            digits += groups[j][1] - groups[j][0]
            if digits > MAX_DIGITS:
                break
            end = groups[j][1]
            gap = text[end:groups[j + 1][0]] if j + 1 < len(groups) else ""
            sentence_end = _SENTENCE_END.match(gap) is not None
            if digits >= MIN_DIGITS and (not gap or gap[0].isspace() or sentence_end):
                ends.append((j, end))
            if sentence_end:
                break  # "call 512-984-4641. 28 ..." : the number ends with its sentence
        if not ends:
            return None  # too few digits (most runs: years, counts): no cue needed
        cue = nearest_cue(text, start)
        if cue not in (None, "phone"):
            return None  # after ISBN, DOI, id, page, card, ssn, iban, ip, ...
        if _CURRENCY_BEFORE.search(text, max(0, start - 2), start):
            return None
        for j, end in reversed(ends):
            ext = _EXT.match(text, end)
            full_end = ext.end() if ext else end
            score = self._verdict(text, groups[i:j + 1], start, end, full_end, cue)
            if score is not None:
                return j, full_end, score
        return None

    def _verdict(self, text: str, groups: list[tuple[int, int]], start: int, end: int,
                 full_end: int, cue: str | None) -> float | None:
        """The candidate's score, or None. Cheapest tests first: most digit runs on the web
        have neither a cue nor a phone layout, and are rejected by one anchored regex."""
        cand = text[start:end]
        cued = cue == "phone" or phone_label_after(text, full_end)
        layout = None if cued else _layout(cand)
        if not cued and layout is None:
            return None
        if _BAD_AFTER.match(text, full_end, full_end + 4) \
                or _AFTER_UNIT.match(text, full_end, full_end + 6):
            return None
        if excluded_shape(cand, [text[a:b] for a, b in groups]):
            return None
        if cued:
            return SCORE_CUE
        return SCORE_LAYOUT if self._layout_valid(cand, layout) else None

    def _layout_valid(self, cand: str, layout: str | None) -> bool:
        """Whether `phonenumbers` accepts the number in a region its layout allows."""
        if layout == "international":
            num = "+" + cand.lstrip("+＋")[2:] if cand.startswith("00") else cand
            return self._is_valid(num, "ZZ")
        regions = self._nanp_regions if layout == "nanp" else self._trunk_regions
        return any(self._is_valid(cand, r) for r in regions)

    def _is_valid(self, cand: str, region: str) -> bool:
        key = (cand, region)
        ok = self._valid.get(key)
        if ok is None:
            if len(self._valid) > 200_000:
                self._valid.clear()
            try:
                ok = phonenumbers.is_valid_number(phonenumbers.parse(cand, region))
            except phonenumbers.NumberParseException:
                ok = False
            self._valid[key] = ok
        return ok


def excluded_shape(cand: str, groups: list[str]) -> bool:
    """Whether a candidate has a shape that is never a phone number: a date (``07.11.2023``,
    ``2023-11-07``, ``7/11/23``, one group ``310303`` or ``20231107``), a date range (``05/12 - 06/12``), a list of years
    (``2015 2016``), an arithmetic run such as page numbers (``104 105 106``), or a list of
    single digits (pagination ``1 2 3 4 5``)."""
    if _RANGE.search(cand) or any(_plausible_date(m) for m in _DATE.finditer(cand)):
        return True
    if len(groups) == 1 and len(groups[0]) in (6, 8) and _COMPACT_DATE.match(groups[0]):
        return True
    if len(groups) >= 2 and _YEAR.match(groups[0]) and _YEAR.match(groups[1]):
        return True
    if _THOUSANDS.match(cand):
        return True
    if (len(groups) == 2 and len(groups[0]) == len(groups[1]) and _HYPHEN_RANGE.match(cand)
            and 0 < int(groups[1]) - int(groups[0]) <= 100):
        return True  # a range of pages or house numbers: "173-175", "8095-8101"
    if sum(len(g) == 1 for g in groups) >= 3:
        return True
    return len(groups) >= 3 and counting_run(groups)


def _plausible_date(m: re.Match[str]) -> bool:
    """Whether a `_DATE` match has a day and month that exist (either order for d.m / m/d)."""
    if m.group(1) is not None:
        a, b = int(m.group(1)), int(m.group(3))
        return (1 <= a <= 31 and 1 <= b <= 12) or (1 <= a <= 12 and 1 <= b <= 31)
    return 1 <= int(m.group(5)) <= 12 and 1 <= int(m.group(6)) <= 31
