"""`fineweb_quality`: the line-level quality rules FineWeb added on top of Gopher and C4
(Penedo et al. 2024, "The FineWeb Datasets: Decanting the Web for the Finest Text Data at
Scale", arXiv:2406.17557, section 3.3 "custom filters"). Defaults are FineWeb's.

FineWeb-2 (Penedo et al. 2025) re-tuned these thresholds per language; the `overrides`
parameter takes the same shape (language -> threshold values).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow.compute as pc

from corpusfilter.core.docs import Docs
from corpusfilter.core.langparams import LangParams, normalise_lang
from corpusfilter.core.params import Count, Fraction, LangCode, NonNegative, check_entries
from corpusfilter.core.registry import register
from corpusfilter.core.stage import Filter, Rule
from corpusfilter.filters.c4 import (
    ANY_ELLIPSIS_END,
    QUOTED_END,
    group_last,
    wrapped_paragraphs,
)
from corpusfilter.filters.code import chars as text_chars
from corpusfilter.filters.code import prose_of
from corpusfilter.filters.text import (
    SENTENCE_TERMINALS,
    Pieces,
    count_substring,
    doc_words,
    ratio,
    split_pieces,
)


@register
class FineWebQuality(Filter):
    """FineWeb's custom quality rules: lines ending in terminal punctuation, short lines,
    duplicated line characters, newlines per word (Penedo et al. 2024, section 3.3).

    Lines are split on "\\n" and blank lines ignored. A line ends in terminal punctuation
    when its last character is a Unicode Sentence_Terminal (. ! ? 。 ！ ？ । ...), nearly
    the set FineWeb's list holds. Duplicated line characters: characters of every repeated
    occurrence of a line, over the document's characters other than newlines. Words as in
    `gopher_quality` (punctuation is not a word). Reasons ``fineweb_quality.<metric>``:
    ``empty``, ``line_punct_ratio``, ``short_line_ratio``, ``dup_line_char_ratio``,
    ``newline_word_ratio``.

    Args:
        min_line_punct_ratio: smallest fraction of lines ending in terminal punctuation
            (FineWeb: 0.12). None: off.
        line_punct_exclude_zero: do not apply the rule above to documents where no line ends
            in terminal punctuation (FineWeb: false).
        closing_quotes: a terminal mark followed by closing quotes or brackets (`.”`, `!“`,
            `?»`, `。」`) ends a line, as in `c4_quality`, unless it closes an ellipsis
            (`[...]`) (FineWeb: false, `."` does not end a line; default recipe: true).
        join_wrapped_lines: a hard-wrapped paragraph counts as one line, ending where its
            last line ends (as `c4_quality`'s `join_wrapped_lines`; FineWeb: false; default
            recipe: true).
        max_short_line_ratio: largest fraction of lines of at most `short_line_length`
            characters (FineWeb: 0.67).
        short_line_length: a line this long or shorter is short (FineWeb: 30).
        max_dup_line_char_ratio: largest fraction of characters in duplicated lines
            (FineWeb: 0.01).
        max_newline_word_ratio: most newlines per word (FineWeb: 0.3).
        skip_code: measure the document without its lines of program code
            (`corpusfilter.filters.code`: fenced blocks, lines that are code by their
            syntax): code is not prose (default: false; default recipe: true).
        default_lang: language assumed for `overrides` when `lang` is absent or null.
        overrides: per-language threshold values, e.g. {ja: {min_line_punct_ratio: 0.1}}
            (``de`` also applies to ``de-AT``; see core/langparams.py).
        source_overrides: per-source values (by the `source` column), which win over
            `overrides`.
        lang_table: a shipped per-language table under `overrides`: ``fineweb2``
            (FineWeb-2's per-language values, resources/fineweb2/; units in
            core/langparams.py) or null.
    """

    name = "fineweb_quality"
    version = 2  # 2: closing_quotes, join_wrapped_lines

    def __init__(self, min_line_punct_ratio: Fraction | None = 0.12,
                 line_punct_exclude_zero: bool = False, closing_quotes: bool = False,
                 join_wrapped_lines: bool = False, skip_code: bool = False,
                 max_short_line_ratio: Fraction | None = 0.67, short_line_length: Count = 30,
                 max_dup_line_char_ratio: Fraction | None = 0.01,
                 max_newline_word_ratio: NonNegative | None = 0.3,
                 default_lang: LangCode | None = "en",
                 overrides: Mapping[str, Mapping[str, Any]] | None = None,
                 source_overrides: Mapping[str, Mapping[str, Any]] | None = None,
                 lang_table: str | None = None):
        thresholds = {"min_line_punct_ratio": min_line_punct_ratio,
                      "max_short_line_ratio": max_short_line_ratio,
                      "max_dup_line_char_ratio": max_dup_line_char_ratio,
                      "max_newline_word_ratio": max_newline_word_ratio}
        self.closing_quotes = closing_quotes
        self.join_wrapped_lines = join_wrapped_lines
        self.skip_code = skip_code
        self.line_punct_exclude_zero = line_punct_exclude_zero
        self.short_line_length = short_line_length
        self.default_lang = normalise_lang(default_lang)
        self.lang_params = LangParams(self.name, thresholds, overrides,
                                      source_overrides=source_overrides,
                                      default_lang=self.default_lang, table=lang_table)
        check_entries(self, self.lang_params.entries())

    def score(self, docs: Docs) -> dict[str, np.ndarray]:
        text = prose_of(docs) if self.skip_code else docs.text
        lines = split_pieces(text, r"\n")
        blank = ~Pieces(pc.utf8_trim_whitespace(lines.values), lines.offsets).lengths.astype(
            bool)
        lines = lines.select(~blank)
        n_lines = lines.counts
        ended = lines.matches(f"[{SENTENCE_TERMINALS}]$")
        units = n_lines
        if (self.closing_quotes or self.join_wrapped_lines) and len(lines.values):
            trimmed = Pieces(pc.utf8_trim_whitespace(lines.values), lines.offsets)
            if self.closing_quotes:
                ended |= trimmed.matches(QUOTED_END) & ~trimmed.matches(ANY_ELLIPSIS_END)
            if self.join_wrapped_lines:
                # one unit per paragraph: count only the last line of each
                last = group_last(wrapped_paragraphs(trimmed, ended))
                is_last = last == np.arange(len(last))
                ended &= is_last
                units = lines.sum(is_last)
        punct = ratio(lines.sum(ended), units)
        if self.line_punct_exclude_zero:
            punct[punct == 0] = np.nan
        newlines = count_substring(text, "\n")
        scores = {
            "lines": n_lines.astype(np.float64),
            "line_punct_ratio": punct,
            "short_line_ratio": ratio(lines.sum(lines.lengths <= self.short_line_length),
                                      n_lines),
            "dup_line_char_ratio": ratio(lines.sum(lines.lengths * ~lines.first),
                                         (text_chars(text) if self.skip_code
                                          else docs.text_chars) - newlines),
        }
        if self.lang_params.is_set("max_newline_word_ratio"):
            words = doc_words(docs, text)
            nl = ratio(newlines, words.counts)
            nl[(words.counts == 0) & (newlines > 0)] = np.inf
            scores["newline_word_ratio"] = nl
        else:
            scores["newline_word_ratio"] = np.full(docs.num_rows, np.nan)
        return scores

    def rules(self, docs: Docs) -> list[Rule]:
        def v(name: str) -> float | np.ndarray | None:
            return self.lang_params.values(name, docs)

        return [
            Rule("empty", "lines", min=1),
            Rule("line_punct_ratio", "line_punct_ratio", min=v("min_line_punct_ratio")),
            Rule("short_line_ratio", "short_line_ratio", max=v("max_short_line_ratio")),
            Rule("dup_line_char_ratio", "dup_line_char_ratio",
                 max=v("max_dup_line_char_ratio")),
            Rule("newline_word_ratio", "newline_word_ratio", max=v("max_newline_word_ratio")),
        ]
