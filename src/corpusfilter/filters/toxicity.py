"""`toxicity`: word-list heuristics for profane, obscene and sexual text.

Lists (shipped in `corpusfilter/resources/wordlists/`, nothing downloads):

* LDNOOBW, the "List of Dirty, Naughty, Obscene, and Otherwise Bad Words" in 28 languages
  (CC BY 4.0), the block list C4 used (Raffel et al. 2020, §2.2: any page containing a listed
  word was dropped). The Quebec list ``fr-CA-u-sd-caqc`` is merged into ``fr``.
* Surge AI's English profanity list (MIT): 1,598 terms with a 1-3 severity rating from 5
  annotators and a label Mild / Strong / Severe. Used for English only; a term on both lists
  takes Surge's severity, LDNOOBW-only terms are "unrated".

The list is chosen by the document's ``lang`` (primary subtag, lower-cased: ``en-US`` → ``en``;
``nb``/``nn`` → ``no``; ``tl`` → ``fil``). Matching is on lower-cased text:

* space-separated scripts: whole words. Text and terms are tokenised the same way (runs of
  word characters and combining marks), so a term matches only as a complete token sequence
  (``"bitch"`` does not match ``"bitchin'"``; ``"son-of-a-bitch"`` matches ``"son of a
  bitch"``). Terms spelled with symbols (``"f@ck"``, ``"a$$"``) match a whitespace-delimited
  token with its surrounding punctuation stripped.
* Chinese, Japanese, Thai (no spaces between words): substring matching, leftmost-longest and
  non-overlapping, except terms written only in ASCII letters/digits (``"sm"``, ``"3p"``),
  which match as whole words. Allowlists drop terms that occur inside ordinary words: the C4
  allowlist (T5 ``c4_utils.py``; also used by datatrove): ja ``sm``, ``グロ``, ``女の子``; zh
  ``性`` — each removed over 10% of documents in its language.

Decision (documents removed when a count exceeds its limit; equal is kept): severe matches
(Surge "Severe"), the fraction of flagged words (flagged tokens / tokens; for zh/ja/th flagged
characters / non-space characters), the number of matches. C4's rule is ``max_matches: 0``.
The defaults and their precision/recall on the Davidson et al. (2017) tweets are in
``docs/toxicity.md`` (``benchmarks/toxicity_thresholds.py``).

Speed: most documents hold no term. One RE2 search per language over the whole batch (Arrow),
with the pattern `Lexicon.gate_pattern` builds, proves that for them, and only the rest are
tokenised and matched in Python. The gate matches wherever a match can exist, so scores are
those of the per-document path exactly (tests/test_toxicity.py checks both paths agree;
docs/toxicity.md has the measurements).
"""

from __future__ import annotations

import csv
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusfilter.core.docs import Docs
from corpusfilter.core.params import Count, Fraction
from corpusfilter.core.registry import register
from corpusfilter.core.scripts import SPACELESS_LANGS
from corpusfilter.core.stage import Filter, Rule

LISTS = ("ldnoobw", "surge")
SEVERITIES = ("mild", "strong", "severe", "unrated")
# Languages written without spaces (core/scripts.py, the one table of such scripts): terms
# match as substrings there. LDNOOBW has lists for zh, ja and th among them.
SUBSTRING_LANGS = SPACELESS_LANGS
# T5 c4_utils.py `_BADWORDS_ALLOWLIST`: common sub-words that each removed >10% of documents.
DEFAULT_ALLOWLIST: dict[str, tuple[str, ...]] = {"ja": ("sm", "グロ", "女の子"), "zh": ("性",)}
LANG_ALIASES = {"nb": "no", "nn": "no", "tl": "fil", "fr-ca-u-sd-caqc": "fr"}
_STRIP = ".,;:!?\"'“”‘’«»()[]{}<>…"
_ASCII_TERM = re.compile(r"[a-z0-9]+(?: [a-z0-9]+)*")
# The gate's word boundary: ASCII word characters only. Every one of them is a word
# character for Python's ``\w`` (token_re) and none is whitespace or in _STRIP, so wherever
# a token (or a stripped whitespace token) starts or ends, the neighbouring character is
# outside this class, whatever Unicode tables the two regex engines use.
# RE2's Perl class \W is exactly [^0-9A-Za-z_] (any other code point included), and it
# compiles to half the instructions of the bracket form: the gate is compiled once per batch.
_GATE_WORD = "0-9A-Za-z_"
_GATE_NON_WORD = r"\W"
_GATE_SEP = _GATE_NON_WORD + "+"


def _mark_class() -> str:
    """A regex character class body with every combining mark (Mn, Mc, Me) in the BMP, so that
    Devanagari, Thai, ... vowel signs stay inside their word (Python's ``\\w`` excludes them)."""
    ranges: list[tuple[int, int]] = []
    for cp in range(0x300, 0x10000):
        if unicodedata.category(chr(cp)) in ("Mn", "Mc", "Me"):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    return "".join(f"\\u{a:04x}-\\u{b:04x}" if a != b else f"\\u{a:04x}" for a, b in ranges)


@lru_cache(maxsize=1)
def token_re() -> re.Pattern[str]:
    return re.compile(f"[\\w{_mark_class()}]+")


def normalize_lang(value: str | None) -> str | None:
    """``en-US`` → ``en``, ``nb`` → ``no``; None/empty stays None."""
    if not value:
        return None
    v = str(value).strip().lower().replace("_", "-")
    if v in LANG_ALIASES:
        return LANG_ALIASES[v]
    primary = v.split("-", 1)[0]
    return LANG_ALIASES.get(primary, primary)


@dataclass(frozen=True)
class Term:
    """One entry of the shipped word lists: its text, the lists holding it (LDNOOBW, Surge
    AI's profanity list; docs/toxicity.md), and Surge's severity label and 1-3 rating."""

    text: str
    lists: tuple[str, ...]
    severity: str  # mild | strong | severe | unrated
    rating: float  # Surge's 1-3 rating, NaN when unrated


# -- reading the shipped lists ---------------------------------------------------------------

def _resource_dir() -> Any:
    return resources.files("corpusfilter.resources").joinpath("wordlists")


@lru_cache(maxsize=1)
def ldnoobw_languages() -> tuple[str, ...]:
    d = _resource_dir().joinpath("ldnoobw")
    langs = {normalize_lang(p.name.removesuffix(".txt")) for p in d.iterdir()
             if p.name.endswith(".txt")}
    return tuple(sorted(x for x in langs if x))


@cache
def ldnoobw_terms(lang: str) -> tuple[str, ...]:
    d = _resource_dir().joinpath("ldnoobw")
    out: set[str] = set()
    for p in d.iterdir():
        if p.name.endswith(".txt") and normalize_lang(p.name.removesuffix(".txt")) == lang:
            for line in p.read_text(encoding="utf-8").splitlines():
                t = " ".join(line.lower().split())
                if t:
                    out.add(t)
    return tuple(sorted(out))


@lru_cache(maxsize=1)
def surge_terms() -> dict[str, tuple[str, float]]:
    """Surge English list: term → (severity label, rating)."""
    path = _resource_dir().joinpath("surge_profanity_en.csv")
    out: dict[str, tuple[str, float]] = {}
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            t = " ".join(row["text"].lower().split())
            if not t:
                continue
            label = row["severity_description"].strip().lower() or "unrated"
            if label not in SEVERITIES:
                label = "unrated"
            rating = float(row["severity_rating"]) if row["severity_rating"] else math.nan
            prev = out.get(t)
            if prev is None or (not math.isnan(rating) and rating > prev[1]):
                out[t] = (label, rating)
    return out


def lexicon_terms(lang: str, lists: Iterable[str]) -> list[Term]:
    """The terms for one language from the chosen lists (merged, severity from Surge)."""
    lists = tuple(lists)
    by_text: dict[str, set[str]] = {}
    if "ldnoobw" in lists:
        for t in ldnoobw_terms(lang):
            by_text.setdefault(t, set()).add("ldnoobw")
    surge = surge_terms() if (lang == "en" and "surge" in lists) else {}
    for t in surge:
        by_text.setdefault(t, set()).add("surge")
    terms = []
    for t, src in sorted(by_text.items()):
        label, rating = surge.get(t, ("unrated", math.nan))
        terms.append(Term(t, tuple(sorted(src)), label, rating))
    return terms


# -- matching ----------------------------------------------------------------------------------

class _SeqMatcher:
    """Leftmost-longest, non-overlapping matching of token sequences in a token list."""

    def __init__(self) -> None:
        self.first: dict[str, list[tuple[tuple[str, ...], int]]] = {}

    def add(self, tokens: tuple[str, ...], term_id: int) -> None:
        if tokens:
            self.first.setdefault(tokens[0], []).append((tokens, term_id))

    def finish(self) -> None:
        for cands in self.first.values():
            cands.sort(key=lambda c: -len(c[0]))
        self.keys = frozenset(self.first)

    def find(self, toks: list[str]) -> list[tuple[int, int]]:
        """(term id, tokens covered) per match."""
        if not self.first or self.keys.isdisjoint(toks):
            return []
        out = []
        i, n = 0, len(toks)
        first = self.first
        while i < n:
            cands = first.get(toks[i])
            if cands is not None:
                for seq, tid in cands:
                    k = len(seq)
                    if k == 1 or tuple(toks[i:i + k]) == seq:
                        out.append((tid, k))
                        i += k
                        break
                else:
                    i += 1
            else:
                i += 1
        return out


def _re2_literal(text: str) -> str:
    """`text` as an RE2 literal: ASCII letters and digits as they are, every other character
    as its code point (``\\x{...}``), so no character of a term is read as syntax."""
    return "".join(ch if ch.isascii() and ch.isalnum() else f"\\x{{{ord(ch):x}}}"
                   for ch in text)


_SEP_UNIT = ""  # the gap between two tokens in `_re2_trie` (no character is "")


def _trie_pattern(seqs: Iterable[Sequence[str]], unit: Callable[[str], str]) -> str:
    """A regex matching any of the unit sequences `seqs`, written as a trie: shared
    beginnings once, each unit as `unit` writes it, and what may follow a complete sequence
    optional (greedy), so the longest sequence at a position matches."""
    trie: dict[str | None, Any] = {}
    for seq in seqs:
        node = trie
        for u in seq:
            node = node.setdefault(u, {})
        node[None] = True

    written: dict[str, str] = {}  # each unit written once (a lexicon repeats its letters)

    def emit(node: dict[str | None, Any]) -> str:
        keys = sorted(u for u in node if u is not None)
        if not keys:
            return ""
        alts = []
        for u in keys:
            w = written.get(u)
            if w is None:
                w = written[u] = unit(u)
            alts.append(w + emit(node[u]))
        body = alts[0] if len(alts) == 1 else f"(?:{'|'.join(alts)})"
        return f"(?:{body})?" if None in node else body

    return emit(trie)


def _re2_trie(seqs: Iterable[tuple[str, ...]], sep: str = _GATE_SEP) -> str:
    """An RE2 group matching any of the token sequences `seqs` (tokens literal, `sep`
    between two), as a trie, which RE2 compiles in about half the time of the flat
    alternation (it is compiled once per batch)."""
    spelled = ([u for k, tok in enumerate(seq) for u in [_SEP_UNIT] * (k > 0) + list(tok)]
               for seq in seqs)
    return "(?:" + _trie_pattern(
        spelled, lambda u: sep if u == _SEP_UNIT else _re2_literal(u)) + ")"


def _trie_regex(words: Iterable[str]) -> str:
    """A Python regex matching any of `words`, longest first at each position."""
    return _trie_pattern(words, re.escape)


@dataclass
class Lexicon:
    """Everything needed to match one language's terms."""

    lang: str
    terms: list[Term]
    substring: bool
    words: _SeqMatcher = field(default_factory=_SeqMatcher)
    symbols: _SeqMatcher = field(default_factory=_SeqMatcher)
    pattern: re.Pattern[str] | None = None
    term_of: dict[str, int] = field(default_factory=dict)
    # RE2 pattern found in every lower-cased text that `match` finds a term in (None: no
    # terms); see `gate_pattern`. `symbol_gate`: the same for the symbol terms alone.
    gate: str | None = None
    symbol_gate: str | None = None

    @classmethod
    def build(cls, lang: str, terms: list[Term]) -> Lexicon:
        lex = cls(lang, terms, lang in SUBSTRING_LANGS)
        tok = token_re()
        substrings = []
        for i, term in enumerate(terms):
            lex.term_of[term.text] = i
            if lex.substring and not _ASCII_TERM.fullmatch(term.text):
                substrings.append(term.text)
                continue
            word_toks = tuple(tok.findall(term.text))
            # A term is a word term when its tokens, rejoined, spell it up to separators
            # that tokenisation drops anyway (space, hyphen, apostrophe).
            if word_toks and re.sub(r"[\s\-'’]+", "", term.text) == "".join(word_toks):
                lex.words.add(word_toks, i)
            else:
                sym = tuple(w.strip(_STRIP) for w in term.text.split())
                lex.symbols.add(tuple(w for w in sym if w), i)
        lex.words.finish()
        lex.symbols.finish()
        if substrings:
            lex.pattern = re.compile(_trie_regex(substrings))
        lex.gate = lex.gate_pattern((lex.words, lex.symbols), substrings)
        lex.symbol_gate = lex.gate_pattern((lex.symbols,), [])
        return lex

    def gate_pattern(self, matchers: tuple[_SeqMatcher, ...], substrings: list[str]
                     ) -> str | None:
        """An RE2 pattern that matches every lower-cased text in which `match` counts a term.

        A word term (tokens t1 … tk) is counted only where those tokens follow each other in
        the text, i.e. t1, characters outside tokens, t2, …, with no word character right
        before t1 or after tk; a symbol term likewise with whitespace and `_STRIP` characters
        between its stripped pieces. Written with "not an ASCII word character, nor a letter
        of the terms that Python's tokeniser counts as a word character" for the gaps and
        edges, the gate matches there too: it can say "maybe" where no term is counted (a
        letter of another script next to the term), never "no" where one is. Substring
        terms (zh/ja/th) are searched as they are."""
        seqs = {seq for matcher in matchers for cands in matcher.first.values()
                for seq, _ in cands}
        parts = []
        if seqs:
            # Letters of the terms beyond ASCII (Cyrillic, Greek, accented Latin ...) that
            # Python's tokeniser counts as word characters join the boundary class: in text
            # of those scripts an ASCII-only boundary is everywhere, and RE2 then tracks a
            # term start at every letter (Russian text: slower than no gate at all).
            extra = sorted({ch for seq in seqs for tok in seq for ch in tok
                            if not ch.isascii() and token_re().fullmatch(ch)})
            non_word = (f"[^{_GATE_WORD}{''.join(_re2_literal(ch) for ch in extra)}]"
                        if extra else _GATE_NON_WORD)
            parts.append(f"(?:^|{non_word}){_re2_trie(seqs, non_word + '+')}"
                         f"(?:{non_word}|$)")
        if substrings:
            parts.append(_re2_trie((t,) for t in substrings))
        return "|".join(parts) if parts else None

    def candidates(self, lowered: list[str], gate: str | None = None) -> np.ndarray:
        """Which lower-cased texts may hold a term (one RE2 pass over all of them with `gate`,
        by default `self.gate`); the others certainly hold none (`gate_pattern`)."""
        gate = self.gate if gate is None else gate
        if gate is None or not lowered:
            return np.zeros(len(lowered), dtype=bool)
        hit = pc.match_substring_regex(pa.array(lowered, pa.large_string()), gate)
        return hit.to_numpy(zero_copy_only=False).astype(bool)

    def match(self, lower: str, symbols: bool = True) -> tuple[np.ndarray, int, int]:
        """(match count per term, flagged units, total units) for lower-cased text; with
        `symbols` False the symbol terms are not looked for (the caller knows, from
        `symbol_gate`, that none is there)."""
        counts = np.zeros(len(self.terms), dtype=np.int64)
        toks = token_re().findall(lower)
        flagged = 0
        for tid, k in self.words.find(toks):
            counts[tid] += 1
            flagged += k
        if symbols and self.symbols.first:
            ws = [w.strip(_STRIP) for w in lower.split()]
            for tid, k in self.symbols.find([w for w in ws if w]):
                counts[tid] += 1
                flagged += k
        if not self.substring:
            return counts, flagged, len(toks)
        units = len(lower) - sum(lower.count(c) for c in " \n\t\r\u3000")
        flagged_chars = 0
        if self.pattern is not None:
            for m in self.pattern.finditer(lower):
                counts[self.term_of[m.group()]] += 1
                flagged_chars += len(m.group())
        # whole-word ASCII terms in a CJK/Thai text: count their characters as flagged
        for tid, _ in self.words.find(toks):
            flagged_chars += len(self.terms[tid].text.replace(" ", ""))
        return counts, flagged_chars, units


# -- the stage --------------------------------------------------------------------------------

@register
class Toxicity(Filter):
    """Remove documents with profane, obscene or sexual terms from multilingual word lists.

    The list is chosen by the document's ``lang`` column (LDNOOBW, 28 languages; for English
    also Surge AI's severity-rated list). Whole-word matching for space-separated scripts,
    substring matching for zh/ja/th with allowlists (see the module docstring). Scores:
    ``matches``, ``severe_matches``, ``flagged_fraction``, ``max_severity`` (Surge rating 1-3).
    Documents in a language without a list are not scored (NaN, kept; counter ``no_list``).
    Reasons: ``toxicity.severe``, ``toxicity.fraction``, ``toxicity.matches``; the ledger
    detail holds the language, match counts per list and per severity (never the words).
    Defaults from the precision/recall study in docs/toxicity.md.

    Args:
        max_severe: remove when more Surge "Severe" matches than this (None: off; English).
        max_fraction: remove when the flagged fraction of words (zh/ja/th: characters) is
            above this (None: off).
        max_matches: remove when more matches than this, any list (0 = C4's rule; None: off).
        lists: word lists to use: ldnoobw, surge (surge is English only).
        languages: only score documents in these languages (None: every language with a list).
        default_lang: list used for documents whose ``lang`` is null or missing (None: leave
            them unscored).
        allowlist: extra terms to ignore, per language ({lang: [term, ...]}).
        use_default_allowlist: also ignore C4's allowlist (ja: sm, グロ, 女の子; zh: 性).
    """

    name = "toxicity"
    version = 1

    def __init__(self, max_severe: Count | None = 1, max_fraction: Fraction | None = 0.02,
                 max_matches: Count | None = None,
                 lists: str | list[str] | tuple[str, ...] = ("ldnoobw", "surge"),
                 languages: list[str] | None = None, default_lang: str | None = "en",
                 allowlist: Mapping[str, list[str]] | None = None,
                 use_default_allowlist: bool = True):
        if isinstance(lists, str):
            lists = [lists]
        bad = [x for x in lists if x not in LISTS]
        if bad or not lists:
            raise ValueError(f"lists must be a non-empty subset of {', '.join(LISTS)}, "
                             f"got {list(lists)!r}")
        known = set(ldnoobw_languages())
        if languages is not None:
            norm = [normalize_lang(x) for x in languages]
            unknown = sorted({str(x) for x, n in zip(languages, norm, strict=True)
                              if n not in known})
            if unknown:
                raise ValueError(f"no word list for language(s) {', '.join(unknown)}; "
                                 f"available: {', '.join(sorted(known))}")
        if default_lang is not None and normalize_lang(default_lang) not in known:
            raise ValueError(f"default_lang {default_lang!r} has no word list; available: "
                             f"{', '.join(sorted(known))}")
        if allowlist is not None and not (isinstance(allowlist, Mapping) and all(
                isinstance(v, (list, tuple)) for v in allowlist.values())):
            raise ValueError("allowlist must map a language to a list of terms, e.g. "
                             "{ja: [sm]}")
        self.max_severe, self.max_fraction, self.max_matches = max_severe, max_fraction, \
            max_matches
        self.lists = tuple(lists)
        self.languages = (None if languages is None
                          else frozenset(normalize_lang(x) for x in languages))
        self.default_lang = normalize_lang(default_lang)
        allow: dict[str, set[str]] = {}
        if use_default_allowlist:
            for lang, terms in DEFAULT_ALLOWLIST.items():
                allow.setdefault(lang, set()).update(terms)
        for lang, terms in (allowlist or {}).items():
            allow.setdefault(str(normalize_lang(lang)), set()).update(
                " ".join(str(t).lower().split()) for t in terms)
        self.allow = allow
        self._lexicons: dict[str, Lexicon | None] = {}
        #: The batch RE2 gate (on). False sends every document down the per-document
        #: path, the reference the gate is tested against; not a parameter: it never
        #: changes a score.
        self.batch_gate = True

    def lexicon(self, lang: str | None) -> Lexicon | None:
        """The lexicon for a (normalised) language, or None when it has no list."""
        if lang is None:
            return None
        if lang not in self._lexicons:
            lex = None
            if lang in ldnoobw_languages() and (self.languages is None
                                                or lang in self.languages):
                allow = self.allow.get(lang, set())
                terms = [t for t in lexicon_terms(lang, self.lists) if t.text not in allow]
                lex = Lexicon.build(lang, terms) if terms else None
            self._lexicons[lang] = lex
        return self._lexicons[lang]

    def setup(self) -> None:
        token_re()

    def _analyse(self, docs: Docs) -> tuple[dict[str, np.ndarray], list[dict[str, Any] | None]]:
        n = docs.num_rows
        matches = np.full(n, np.nan)
        severe = np.full(n, np.nan)
        fraction = np.full(n, np.nan)
        max_sev = np.full(n, np.nan)
        details: list[dict[str, Any] | None] = [None] * n
        langs = docs.lang if docs.lang is not None else [None] * n
        texts = docs.texts
        no_list = no_lang = 0
        rows_of: dict[str, list[int]] = {}
        normal = {v: normalize_lang(v) for v in set(langs)}  # few distinct values per batch
        for i in range(n):
            lang = normal[langs[i]]
            if lang is None:
                no_lang += 1
                lang = self.default_lang
            if self.lexicon(lang) is None:
                no_list += 1
                continue
            rows_of.setdefault(lang, []).append(i)  # type: ignore[arg-type]
        for lang, rows in rows_of.items():
            lex = self.lexicon(lang)
            assert lex is not None
            lowered = [texts[i].lower() for i in rows]
            maybe = (lex.candidates(lowered) if self.batch_gate
                     else np.ones(len(rows), dtype=bool))
            # of those, the ones that may hold a symbol term (f@ck): the others skip that pass
            sym = np.zeros(len(rows), dtype=bool)
            sym[maybe] = (lex.candidates([x for x, m in zip(lowered, maybe, strict=True) if m],
                                         lex.symbol_gate)
                          if self.batch_gate and lex.symbol_gate else True)
            for i, lower, may, may_sym in zip(rows, lowered, maybe, sym, strict=True):
                if not may:  # what `match` gives for a text without a term
                    matches[i], fraction[i], severe[i] = 0.0, 0.0, 0.0
                    continue
                self._score_one(i, lex, lex.match(lower, bool(may_sym)), matches, severe,
                                fraction, max_sev, details)
        docs.count("no_list", no_list)
        docs.count("no_lang", no_lang)
        scores = {"matches": matches, "severe_matches": severe,
                  "flagged_fraction": fraction, "max_severity": max_sev}
        return scores, details

    def _score_one(self, i: int, lex: Lexicon, matched: tuple[np.ndarray, int, int],
                   matches: np.ndarray, severe: np.ndarray, fraction: np.ndarray,
                   max_sev: np.ndarray, details: list[dict[str, Any] | None]) -> None:
        """Scores and detail of document `i` from `Lexicon.match`'s answer, in place."""
        counts, flagged, units = matched
        total = int(counts.sum())
        matches[i] = total
        fraction[i] = flagged / units if units else 0.0
        if not total:
            severe[i] = 0.0
            return
        by_sev = dict.fromkeys(SEVERITIES, 0)
        by_list = dict.fromkeys(self.lists, 0)
        best = math.nan
        for tid in np.flatnonzero(counts):
            term, c = lex.terms[tid], int(counts[tid])
            by_sev[term.severity] += c
            for src in term.lists:
                by_list[src] += c
            if not math.isnan(term.rating) and not (term.rating <= best):
                best = term.rating
        severe[i] = by_sev["severe"]
        max_sev[i] = best
        details[i] = {"lang": lex.lang, "lists": by_list,
                      "severity": {k: v for k, v in by_sev.items() if v}}

    def score(self, docs: Docs) -> dict[str, np.ndarray]:
        return self._analyse(docs)[0]

    def rules(self, docs: Docs) -> list[Rule]:
        return [
            Rule("severe", "severe_matches", max=self.max_severe),
            Rule("fraction", "flagged_fraction", max=self.max_fraction),
            Rule("matches", "matches", max=self.max_matches),
        ]

    def measure(self, docs: Docs) -> tuple[dict[str, np.ndarray],
                                           list[dict[str, Any] | None] | None]:
        return self._analyse(docs)
