"""`gopher_quality` and `gopher_repetition`: the quality and repetition rules of Gopher's
MassiveWeb (Rae et al. 2021, "Scaling Language Models: Methods, Analysis & Insights from
Training Gopher", arXiv:2112.11446, appendix A.1.1 and table A1). Defaults are the paper's.

Both compute over the whole batch (Arrow regex kernels, NumPy over flattened words, lines and
n-gram keys; see `corpusfilter.filters.text`), with words defined for every script (no spaCy or
NLTK tokenizer, punctuation is never a word). Thresholds can be set per language
(``overrides: {de: {min_mean_word_length: 2.5}}``) by the document's `lang` column.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusfilter.core.docs import Docs
from corpusfilter.core.langparams import LangParams, doc_langs, normalise_lang
from corpusfilter.core.memo import Memo
from corpusfilter.core.params import Fraction, Label, LangCode, NonNegative, check_entries
from corpusfilter.core.registry import register
from corpusfilter.core.scripts import (
    CHARS_PER_WORD,
    IDEOGRAPHIC_LANGS,
    SPACELESS_LANGS,
    SYLLABIC_LANGS,
)
from corpusfilter.core.stage import Filter, Rule
from corpusfilter.filters.code import chars as text_chars
from corpusfilter.filters.code import prose_of
from corpusfilter.filters.text import (
    SPACELESS,
    NgramRepeats,
    Pieces,
    count_substring,
    covered_chars,
    doc_words,
    first_in_doc,
    ngram_repeats,
    ratio,
    seg_max,
    split_lines,
    split_pieces,
    stop_words,
)
from corpusfilter.utf8 import utf8_buffer

# A line "starts with a bullet point" when its first non-blank character is one of these:
# • ‣ ◦ ∙ · ● ○ ▪ ▫ ■ □ ► ▶ ⁃ - * (en/em dashes are left out: they open dialogue lines).
BULLETS = (r"\x{2022}\x{2023}\x{25E6}\x{2219}\x{00B7}\x{25CF}\x{25CB}\x{25AA}\x{25AB}"
           r"\x{25A0}\x{25A1}\x{25BA}\x{25B6}\x{2043}*\-")

# Mean word length assumes words separated by spaces; where each character is a word (see
# `split_words`) the rule is off unless a pipeline file sets it for the language.
_SPACELESS_DEFAULTS = {lang: {"min_mean_word_length": None, "max_mean_word_length": None}
                       for lang in SPACELESS_LANGS}


def lang_counters(docs: Docs, langs: np.ndarray, default_lang: str | None) -> None:
    """Count documents whose language was assumed (`lang_defaulted`)."""
    if default_lang is None:
        return
    lang = docs.lang
    if lang is None:
        docs.count("lang_defaulted", docs.num_rows)
    else:  # each distinct value normalised once (a batch holds a few dozen)
        docs.count("lang_defaulted", sum(c for x, c in Counter(lang).items()
                                         if normalise_lang(x) is None))


def _mean_spaced_word_length(words: Pieces) -> np.ndarray:
    """Per document: the mean length of its words written with spaces. A character of a
    script without spaces (Han, Kana, Thai ...) is a word of its own (`split_words`), so a
    few quoted Japanese names would pull an English page under Gopher's 3 characters; the
    rule is off for those languages, and their characters are left out of the mean in
    every other page (NaN, not judged, for a page of such characters only)."""
    spaceless = _starts_spaceless(words)
    return ratio(words.sum(np.where(spaceless, 0, words.lengths)), words.sum(~spaceless))


def _starts_spaceless(words: Pieces) -> np.ndarray:
    """Bool per word: it starts with a character of a script without spaces (`SPACELESS`).
    Every such character is U+0E00 or above, so its first UTF-8 byte is 0xE0 or above (tested):
    RE2 reads only the words that start so (few, outside Thai, Chinese, Japanese ... pages)."""
    out = np.zeros(len(words.values), dtype=bool)
    if not len(out):
        return out
    buf = utf8_buffer(words.values)
    starts = buf.offsets[:-1]
    nonempty = buf.offsets[1:] > starts
    lead = np.zeros(len(out), dtype=np.uint8)
    lead[nonempty] = buf.data[starts[nonempty]]
    cand = np.flatnonzero(lead >= 0xE0)
    if len(cand):
        out[cand] = Pieces(words.values.take(pa.array(cand)),
                           np.array([0, len(cand)], dtype=np.int64)).matches(f"^[{SPACELESS}]")
    return out


@register
class GopherQuality(Filter):
    """Gopher's quality rules: word count, mean word length, symbol ratios, bullet and
    ellipsis lines, alphabetic words, stop words (Rae et al. 2021, appendix A.1.1).

    Reasons ``gopher_quality.<rule>``: ``word_count``, ``mean_word_length``,
    ``hash_ratio``, ``ellipsis_ratio``, ``bullet_lines_ratio``, ``ellipsis_lines_ratio``,
    ``alpha_words_ratio``, ``stop_words`` (first violated rule, in this order).

    Words are runs of letters, marks and digits (punctuation is not a word); in scripts
    without spaces each character is a word, and mean word length is off for those languages
    (zh, ja, th, lo, km, my, bo) unless set in `overrides`. Stop words: Gopher's eight for
    ``en``, spaCy's list for other languages (distinct stop words are counted, lower-cased).
    A document whose language has no list is not judged by the stop-word rule and is counted
    as ``skipped_unsupported_lang``.

    Args:
        min_words: fewest words (Gopher: 50). None: off.
        max_words: most words (Gopher: 100,000). None: off.
        min_mean_word_length: shortest mean word length in characters (Gopher: 3).
        max_mean_word_length: longest mean word length (Gopher: 10).
        max_hash_ratio: most "#" per word (Gopher's symbol-to-word ratio: 0.1).
        max_ellipsis_ratio: most ellipses ("..." or "…") per word (Gopher: 0.1).
        max_bullet_lines_ratio: largest fraction of non-blank lines starting with a bullet
            point (Gopher: 0.9).
        max_ellipsis_lines_ratio: largest fraction of non-blank lines ending with an ellipsis
            (Gopher: 0.3).
        min_alpha_words_ratio: smallest fraction of words containing a letter (Gopher: 0.8).
        min_stop_words: fewest distinct stop words (Gopher: 2).
        stop_words: a stop-word list for every language without a per-language list in
            `overrides`; None: the built-in lists.
        default_lang: language assumed when the `lang` column is absent or null ("en", as
            Gopher; None: such documents skip the stop-word rule and are counted).
        overrides: per-language values of the parameters above, e.g.
            {de: {min_mean_word_length: 3.5}, ja: {min_words: 100, stop_words: [...]}}
            (``de`` also applies to ``de-AT``; see core/langparams.py).
        source_overrides: per-source values (by the `source` column), which win over
            `overrides`, e.g. {stackexchange: {min_alpha_words_ratio: null}}.
        lang_table: a shipped per-language table under `overrides`: ``fineweb2``
            (FineWeb-2's per-language values, resources/fineweb2/; units in
            core/langparams.py) or null.
        skip_code: measure the document without its lines of program code
            (`corpusfilter.filters.code`: fenced blocks, lines that are code by their
            syntax): code is not prose (default: false; default recipe: true).
    """

    name = "gopher_quality"
    version = 2  # 2: a number with separators is one word; skip_code

    def __init__(self, min_words: NonNegative | None = 50,
                 max_words: NonNegative | None = 100_000,
                 min_mean_word_length: NonNegative | None = 3.0,
                 max_mean_word_length: NonNegative | None = 10.0,
                 max_hash_ratio: NonNegative | None = 0.1,
                 max_ellipsis_ratio: NonNegative | None = 0.1,
                 max_bullet_lines_ratio: Fraction | None = 0.9,
                 max_ellipsis_lines_ratio: Fraction | None = 0.3,
                 min_alpha_words_ratio: Fraction | None = 0.8,
                 min_stop_words: NonNegative | None = 2,
                 stop_words: Sequence[Label] | None = None,
                 default_lang: LangCode | None = "en",
                 overrides: Mapping[str, Mapping[str, Any]] | None = None,
                 source_overrides: Mapping[str, Mapping[str, Any]] | None = None,
                 lang_table: str | None = None, skip_code: bool = False):
        self.skip_code = skip_code
        thresholds = {
            "min_words": min_words, "max_words": max_words,
            "min_mean_word_length": min_mean_word_length,
            "max_mean_word_length": max_mean_word_length,
            "max_hash_ratio": max_hash_ratio, "max_ellipsis_ratio": max_ellipsis_ratio,
            "max_bullet_lines_ratio": max_bullet_lines_ratio,
            "max_ellipsis_lines_ratio": max_ellipsis_lines_ratio,
            "min_alpha_words_ratio": min_alpha_words_ratio, "min_stop_words": min_stop_words,
        }
        self.stop_words = None if stop_words is None else tuple(stop_words)
        self.default_lang = normalise_lang(default_lang)
        self.lang_params = LangParams(self.name, {**thresholds, "stop_words": None}, overrides,
                                      builtin=_SPACELESS_DEFAULTS,
                                      source_overrides=source_overrides,
                                      default_lang=self.default_lang, table=lang_table)
        check_entries(self, self.lang_params.entries())
        self._stop_lists: Memo[str | None, frozenset[str] | None] = Memo(size=256)
        self._stop_arrays: Memo[str | None, pa.Array] = Memo(size=256)

    def _stop_list(self, lang: str | None) -> frozenset[str] | None:
        return self._stop_lists.get(lang, lambda: self._stop_words_of(lang))

    def _stop_array(self, lang: str | None) -> pa.Array:
        """`_stop_list(lang)` as the sorted Arrow array `pc.is_in` takes (built once)."""
        return self._stop_arrays.get(lang, lambda: pa.array(sorted(self._stop_list(lang) or ()),
                                                            pa.string()))

    def _stop_words_of(self, lang: str | None) -> frozenset[str] | None:
        custom = self.lang_params.get("stop_words", lang) if lang else None
        if custom is not None:
            return frozenset(w.lower() for w in custom)
        if self.stop_words is not None:
            return frozenset(w.lower() for w in self.stop_words)
        return stop_words(lang) if lang else None

    def _langs(self, docs: Docs) -> np.ndarray:
        return doc_langs(docs.lang, docs.num_rows, self.default_lang)

    def score(self, docs: Docs) -> dict[str, np.ndarray]:
        n = docs.num_rows
        text = prose_of(docs) if self.skip_code else docs.text
        langs = self._langs(docs)
        lang_counters(docs, langs, self.default_lang)
        words = doc_words(docs, text)
        n_words = words.counts
        scores: dict[str, np.ndarray] = {
            "word_count": n_words.astype(np.float64),
            "mean_word_length": _mean_spaced_word_length(words),
            "hash_ratio": ratio(count_substring(text, "#"), n_words),
            "ellipsis_ratio": ratio(count_substring(text, "...") + count_substring(text, "…"),
                                    n_words),
        }
        lines = split_lines(text)
        stripped = pc.utf8_trim_whitespace(lines.values)
        nonblank = Pieces(stripped, lines.offsets)
        nonblank = nonblank.select(nonblank.lengths > 0)
        scores["bullet_lines_ratio"] = ratio(nonblank.sum(nonblank.matches(f"^[{BULLETS}]")),
                                             nonblank.counts)
        scores["ellipsis_lines_ratio"] = ratio(nonblank.sum(nonblank.matches(r"(\.\.\.|…)$")),
                                               nonblank.counts)
        # words are runs of letters, marks and digits: one has a letter unless it is all digits
        numeric = pc.utf8_is_numeric(words.values).to_numpy(zero_copy_only=False) \
            if len(words.values) else np.zeros(0, dtype=bool)
        scores["alpha_words_ratio"] = ratio(words.sum(~numeric.astype(bool)), n_words)
        scores["stop_words"] = self._stop_word_counts(docs, words, langs, n)
        return scores

    def _stop_word_counts(self, docs: Docs, words: Pieces, langs: np.ndarray,
                          n: int) -> np.ndarray:
        out = np.full(n, np.nan)
        if not self.lang_params.is_set("min_stop_words"):
            return out
        lower = pc.utf8_lower(words.values)
        is_stop = np.zeros(len(lower), dtype=bool)
        supported = np.zeros(n, dtype=bool)
        word_doc = words.doc
        # the words of each language at once: one stable sort of the words by their
        # document's language (a mask over every word per language cost O(words x languages))
        index: dict[str | None, int] = {}
        lang_of_doc = np.fromiter((index.setdefault(x, len(index)) for x in langs.tolist()),
                                  dtype=np.int64, count=n)
        lang_of_word = lang_of_doc[word_doc]
        order = np.argsort(lang_of_word, kind="stable")
        bounds = np.searchsorted(lang_of_word[order], np.arange(len(index) + 1))
        for j, lang in enumerate(index):
            sw = self._stop_list(lang)
            if sw is None:
                continue
            supported |= lang_of_doc == j
            idx = order[bounds[j]:bounds[j + 1]]  # ascending: the sort is stable
            if len(idx):
                hit = pc.is_in(lower.take(pa.array(idx)), value_set=self._stop_array(lang))
                is_stop[idx[hit.to_numpy(zero_copy_only=False).astype(bool)]] = True
        skipped = int((~supported).sum())
        if skipped:
            docs.count("skipped_unsupported_lang", skipped)
        sel = np.flatnonzero(is_stop)
        counts = np.zeros(n, dtype=np.int64)
        if len(sel):
            codes = pc.dictionary_encode(lower.take(pa.array(sel))).indices
            first = first_in_doc(codes.to_numpy(zero_copy_only=False).astype(np.int64),
                                 word_doc[sel], n)
            counts = np.bincount(word_doc[sel][first], minlength=n)
        out[supported] = counts[supported]
        return out

    def _stop_word_counts_reference(self, docs: Docs, words: Pieces, langs: np.ndarray,
                                    n: int) -> np.ndarray:
        """`_stop_word_counts` with a mask over every word per language: the definition it
        is tested against."""
        out = np.full(n, np.nan)
        if not self.lang_params.is_set("min_stop_words"):
            return out
        lower = pc.utf8_lower(words.values)
        is_stop = np.zeros(len(lower), dtype=bool)
        supported = np.zeros(n, dtype=bool)
        for lang in set(langs.tolist()):
            in_lang = langs == lang
            sw = self._stop_list(lang)
            if sw is None:
                continue
            supported |= in_lang
            idx = np.flatnonzero(in_lang[words.doc])
            if len(idx):
                hit = pc.is_in(lower.take(pa.array(idx)), value_set=pa.array(sorted(sw)))
                is_stop[idx[hit.to_numpy(zero_copy_only=False).astype(bool)]] = True
        stop = lower.filter(pa.array(is_stop)).to_pylist()
        counts = np.bincount(words.doc[is_stop][_first_per_doc(stop, words.doc[is_stop])],
                             minlength=n)
        out[supported] = counts[supported]
        return out

    def rules(self, docs: Docs) -> list[Rule]:
        def v(name: str) -> float | np.ndarray | None:
            return self.lang_params.values(name, docs)

        return [
            Rule("word_count", "word_count", min=v("min_words"), max=v("max_words")),
            Rule("mean_word_length", "mean_word_length", min=v("min_mean_word_length"),
                 max=v("max_mean_word_length")),
            Rule("hash_ratio", "hash_ratio", max=v("max_hash_ratio")),
            Rule("ellipsis_ratio", "ellipsis_ratio", max=v("max_ellipsis_ratio")),
            Rule("bullet_lines_ratio", "bullet_lines_ratio", max=v("max_bullet_lines_ratio")),
            Rule("ellipsis_lines_ratio", "ellipsis_lines_ratio",
                 max=v("max_ellipsis_lines_ratio")),
            Rule("alpha_words_ratio", "alpha_words_ratio", min=v("min_alpha_words_ratio")),
            Rule("stop_words", "stop_words", min=v("min_stop_words")),
        ]


def _first_per_doc(values: list[str], doc: np.ndarray) -> np.ndarray:
    """True where (document, value) occurs for the first time (Python sets: a reference)."""
    seen: set[tuple[int, str]] = set()
    out = np.zeros(len(values), dtype=bool)
    for i, (d, v) in enumerate(zip(doc.tolist(), values, strict=True)):
        if (d, v) not in seen:
            seen.add((d, v))
            out[i] = True
    return out


# Thai, Lao, Khmer, Myanmar and Tibetan are split into characters (no segmenter is shipped),
# which are letters rather than words: repeated character n-grams there are ordinary
# syllables, so the n-gram rules are off for them unless a pipeline file sets them.
_LETTER_SPLIT_LANGS = tuple(sorted(SYLLABIC_LANGS))
_NGRAM_METRICS = [f"max_top_{m}gram_char_frac" for m in (2, 3, 4)] + [
    f"max_dup_{m}gram_char_frac" for m in range(5, 11)]
_LETTER_SPLIT_DEFAULTS = {lang: dict.fromkeys(_NGRAM_METRICS) for lang in _LETTER_SPLIT_LANGS}


@register
class GopherRepetition(Filter):
    """Gopher's repetition rules: duplicate lines and paragraphs, most frequent 2-4-grams,
    duplicated 5-10-grams (Rae et al. 2021, appendix A.1.1, table A1).

    Fractions of lines/paragraphs count every occurrence after the first; character
    fractions divide by the document's length in characters. `top_Ngram_char_frac`: the
    characters of the most frequent word n-gram (repeated at least twice) times its count.
    `dup_Ngram_char_frac`: characters of the words covered by any repeated occurrence of an
    n-gram (each word counted once). Lines are split on newlines, paragraphs on two or more.
    Reasons ``gopher_repetition.<metric>``, e.g. ``gopher_repetition.dup_line_frac``,
    ``gopher_repetition.top_2gram_char_frac``, ``gopher_repetition.dup_5gram_char_frac``.

    Args:
        max_dup_para_frac: duplicate paragraphs / paragraphs (Gopher: 0.30). None: off.
        max_dup_para_char_frac: characters in duplicate paragraphs / characters (0.20).
        max_dup_line_frac: duplicate lines / lines (0.30).
        max_dup_line_char_frac: characters in duplicate lines / characters (0.20).
        max_top_2gram_char_frac: most frequent 2-gram's characters / characters (0.20).
        max_top_3gram_char_frac: same for 3-grams (0.18).
        max_top_4gram_char_frac: same for 4-grams (0.16).
        max_dup_5gram_char_frac: characters in duplicated 5-grams / characters (0.15).
        max_dup_6gram_char_frac: same for 6-grams (0.14).
        max_dup_7gram_char_frac: same for 7-grams (0.13).
        max_dup_8gram_char_frac: same for 8-grams (0.12).
        max_dup_9gram_char_frac: same for 9-grams (0.11).
        max_dup_10gram_char_frac: same for 10-grams (0.10).
            The n-gram rules are off for th, lo, km, my, bo, dz (split into letters, see
            `gopher_quality`) unless set in `overrides`. In zh and ja, where each character
            is a word, an n-gram rule measures n x 2 characters (words there average about
            two characters; core/scripts.py), so it covers the same span of text.
        default_lang: language assumed for `overrides` when `lang` is absent or null.
        overrides: per-language values of the thresholds above, e.g.
            {zh: {max_top_2gram_char_frac: 0.3}}.
        source_overrides: per-source values (by the `source` column), e.g.
            {stackexchange: {max_dup_line_frac: null}}.
        lang_table: a shipped per-language table under `overrides`: ``fineweb2``
            (FineWeb-2's per-language values, resources/fineweb2/; units in
            core/langparams.py) or null.
        skip_code: measure the document without its lines of program code
            (`corpusfilter.filters.code`: fenced blocks, lines that are code by their
            syntax): code is not prose (default: false; default recipe: true).
    """

    name = "gopher_repetition"
    # 2: zh/ja n-grams measured over 2n characters (issue 16); 3: a number with separators
    # is one word, skip_code
    version = 3

    def __init__(self, max_dup_para_frac: Fraction | None = 0.30,
                 max_dup_para_char_frac: Fraction | None = 0.20,
                 max_dup_line_frac: Fraction | None = 0.30,
                 max_dup_line_char_frac: Fraction | None = 0.20,
                 max_top_2gram_char_frac: Fraction | None = 0.20,
                 max_top_3gram_char_frac: Fraction | None = 0.18,
                 max_top_4gram_char_frac: Fraction | None = 0.16,
                 max_dup_5gram_char_frac: Fraction | None = 0.15,
                 max_dup_6gram_char_frac: Fraction | None = 0.14,
                 max_dup_7gram_char_frac: Fraction | None = 0.13,
                 max_dup_8gram_char_frac: Fraction | None = 0.12,
                 max_dup_9gram_char_frac: Fraction | None = 0.11,
                 max_dup_10gram_char_frac: Fraction | None = 0.10,
                 default_lang: LangCode | None = "en",
                 overrides: Mapping[str, Mapping[str, Any]] | None = None,
                 source_overrides: Mapping[str, Mapping[str, Any]] | None = None,
                 lang_table: str | None = None, skip_code: bool = False):
        thresholds = {k: v for k, v in locals().items() if k.startswith("max_")}
        self.skip_code = skip_code
        self.default_lang = normalise_lang(default_lang)
        self.lang_params = LangParams(self.name, thresholds, overrides,
                                      builtin=_LETTER_SPLIT_DEFAULTS,
                                      source_overrides=source_overrides,
                                      default_lang=self.default_lang, table=lang_table)
        check_entries(self, self.lang_params.entries())
        self.metrics = [k[len("max_"):] for k in thresholds]

    def _on(self, metric: str) -> bool:
        return self.lang_params.is_set(f"max_{metric}")

    def score(self, docs: Docs) -> dict[str, np.ndarray]:
        n = docs.num_rows
        text = prose_of(docs) if self.skip_code else docs.text
        chars = text_chars(text) if self.skip_code else docs.text_chars
        scores: dict[str, np.ndarray] = {}
        for unit, sep in (("para", r"\n{2,}"), ("line", r"\n+")):
            pieces = split_pieces(text, sep, strip=True)
            dup = ~pieces.first
            scores[f"dup_{unit}_frac"] = ratio(pieces.sum(dup), pieces.counts)
            scores[f"dup_{unit}_char_frac"] = ratio(pieces.sum(pieces.lengths * dup), chars)
        tops = [m for m in (2, 3, 4) if self._on(f"top_{m}gram_char_frac")]
        dups = [m for m in range(5, 11) if self._on(f"dup_{m}gram_char_frac")]
        if not tops and not dups:
            return scores
        words = doc_words(docs, text)
        # In Chinese and Japanese our words are characters: an n-word n-gram is measured as
        # an n x CHARS_PER_WORD character n-gram, so the rule measures the same span of text
        # as in languages with spaces (core/scripts.py).
        ideo = np.isin(doc_langs(docs.lang, n, self.default_lang), list(IDEOGRAPHIC_LANGS))
        scales = (1, CHARS_PER_WORD) if ideo.any() else (1,)
        reps = ngram_repeats(words, max(tops + dups) * scales[-1])
        wlen = words.lengths
        cum = np.concatenate([[0], np.cumsum(wlen)])
        for m in tops + dups:
            key = f"top_{m}gram_char_frac" if m in tops else f"dup_{m}gram_char_frac"
            for scale in scales:
                k = m * scale
                value = ratio(_top_ngram_chars(reps[k], cum, k, words.doc, n) if m in tops
                              else _dup_ngram_chars(reps[k], cum, k, words), chars)
                if scale == 1:
                    scores[key] = value
                else:
                    scores[key][ideo] = value[ideo]
        return scores

    def rules(self, docs: Docs) -> list[Rule]:
        return [Rule(m, m, max=self.lang_params.values(f"max_{m}", docs))
                for m in self.metrics]


def _top_ngram_chars(rep: NgramRepeats, cum: np.ndarray, m: int, word_doc: np.ndarray,
                     n_docs: int) -> np.ndarray:
    """Per document: count x characters of its most frequent n-gram (0 if none repeats;
    among equally frequent n-grams the longest)."""
    out = np.zeros(n_docs, dtype=np.int64)
    if not len(rep.start):
        return out
    ngram_chars = cum[rep.start + m] - cum[rep.start]
    doc = word_doc[rep.start]
    offsets = np.searchsorted(doc, np.arange(n_docs + 1))
    best = seg_max(rep.count, offsets, empty=0)
    at_best = rep.count == best[doc]
    longest = seg_max(np.where(at_best, ngram_chars, 0), offsets, empty=0)
    return best * longest


def _dup_ngram_chars(rep: NgramRepeats, cum: np.ndarray, m: int, words: Pieces) -> np.ndarray:
    """Per document: characters of the words covered by a repeated occurrence of an n-gram
    (every occurrence after the first; a word is counted once however many cover it)."""
    return covered_chars(rep.start[~rep.first], m, cum, words.doc, words.num_docs)
