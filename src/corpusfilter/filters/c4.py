"""`c4_quality` and `c4_paragraph`: the C4 cleaning rules (Raffel et al. 2020, "Exploring the
Limits of Transfer Learning with a Unified Text-to-Text Transformer", JMLR 21, section 2.2)
as implemented in the code that built C4 (TensorFlow Datasets `c4_utils.clean_page`), and
mC4's paragraph filter (Xue et al. 2021, "mT5", section 2; `c4_utils.paragraph_filter`).

`c4_quality` is a transform: it removes lines and may remove the whole document. Every rule
can be switched off (FineWeb, for one, ran it without the terminal-punctuation line rule:
``filter_no_terminal_punct: false``). All per-line work runs over the flattened lines of the
whole batch with Arrow kernels.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusfilter.core.docs import Docs
from corpusfilter.core.langparams import LangParams, normalise_lang
from corpusfilter.core.params import Count, LangCode, check_entries
from corpusfilter.core.registry import register
from corpusfilter.core.stage import Filter, Outcome, Rule, Transform
from corpusfilter.filters.code import code_lines
from corpusfilter.filters.text import (
    SENTENCE_TERMINALS,
    Pieces,
    seg_max,
    split_lines,
    split_pieces,
    whitespace_word_counts,
)
from corpusfilter.utf8 import CodePointTable, utf8_buffer

# Wikipedia-style citation markers C4 strips: [1], [], [edit], [citation needed].
CITATION = r"\[\d*\]|\[edit\]|\[citation needed\]"
# C4's line ends (. ? ! " ') plus every Unicode Sentence_Terminal, so that 。！？ । etc. end
# a line in the languages that use them.
_LINE_END = f"([.?!\"']|[{SENTENCE_TERMINALS}])$"
_ELLIPSIS_END = r"\.\.\.$"
# A teaser the site shortened ("... weiter...", "Gemeinsa…"): never revived as unended prose.
ANY_ELLIPSIS_END = r"(\.\.\.|…)[\"'”’»)\]]*$"
# Hard-wrapped text (mail archives, plain-text pages) breaks a paragraph into lines of about
# 60-80 columns: a line at least this long, without a terminal mark, continues on the next
# line when that one starts with a lower-case letter.
_WRAP_CHARS = 40
# Quotation marks and brackets that close a sentence in some script: after a terminal mark
# they still end the line (`.”` as `."`, `!“` in German, `?»` in French, `。」` in Japanese).
QUOTES = "\"'”“’‘»«›‹」』"
CLOSERS = QUOTES + "）)\\]】〕〉》"
# With `closing_quotes`: a terminal mark, then closers, then optionally a trailing
# parenthetical such as a photo credit ("... ist gut. (Foto: dpa)").
_TYPOGRAPHIC_END = (f"[{SENTENCE_TERMINALS}][{CLOSERS}]*(\\s*\\([^()]*\\))?$")
# A terminal mark followed by closing quotation marks (`.”`, `?»`, `。」`).
QUOTED_END = f"[{SENTENCE_TERMINALS}][{QUOTES}]+$"
# A line of prose that a heading (or a line ending in ":") may introduce: ends like a
# sentence and has at least this many words.
_PROSE_WORDS = 10
# Complete sentences that make a line without a terminal mark at its end prose.
_UNENDED_SENTENCES = 2
# With `cut_unended_lines`: a line's text up to its last sentence end, where that end is
# followed by more text (not an ellipsis: "bestätigt di... weiter..." ends no sentence);
# nor a number ("am 30. April" is a date in German); in Chinese and Japanese no space follows
# a sentence end.
_CUT_TAIL = (f"^(.*[^.…\\s\\d][{SENTENCE_TERMINALS}][{CLOSERS}]*)\\s+\\S.*$")
_CUT_TAIL_CJK = "^(.*[。！？][」』）)]*)[^」』）)\\s].*$"
# A sentence ends at terminal punctuation (optionally followed by closing quotes/brackets)
# that is followed by whitespace or the end of the line; in Chinese and Japanese no space
# follows a sentence, so there the full-width marks end one wherever they are.
_SENTENCE_END = (f"[{SENTENCE_TERMINALS}]+[\"'”’»)\\]]*(\\s|$)"
                 "|[。！？｡]+[」』）)]*")
_SENTENCE_END_AT_EOL = f"[{SENTENCE_TERMINALS}]+[\"'”’»)\\]]*$"
# C4's policy phrases (lines mentioning them are removed).
POLICY_PHRASES = ("terms of use", "privacy policy", "cookie policy", "uses cookies",
                  "use of cookies", "use cookies")
# A list item: a line indented in the page text (HTML-to-text extractors such as Resiliparse
# indent <li> items) or starting with a bullet or an item number ("- ", "• ", "1. ", "a) ").
LIST_ITEM = r"^(\s+\S|[-–—•‣◦∙·●○▪▫■□►▶⁃*]\s+\S|(\d{1,2}|[a-z])[.)]\s+\S)"
# A hard-wrapped paragraph continues on a line starting with a lower-case letter.
_LOWER_START = r"^\p{Ll}"
_LINE_RULES = ("too_long_word", "no_terminal_punct", "too_few_words", "javascript", "policy",
               "curly_bracket")


@register
class C4Quality(Transform):
    """C4's line and page rules (Raffel et al. 2020, section 2.2, and C4's `clean_page`).

    Per line (stripped), the first rule that applies removes it: a word longer than
    `max_word_length`; no terminal punctuation (. ? ! " ' or a Unicode sentence terminal) or
    ending in "..."; fewer than `min_words_per_line` words; mentions "javascript"; mentions a
    policy phrase (terms of use, privacy policy, cookie policy, uses cookies, use of cookies,
    use cookies). Citation markers ([1], [edit], [citation needed]) are stripped from kept
    lines. The page is removed when a line that passed the first three rules contains
    "lorem ipsum" (``c4_quality.lorem_ipsum``) or a "{" (``c4_quality.curly_bracket``), as
    C4's code checks it, or when the kept lines hold fewer than `min_sentences` sentences
    (``c4_quality.min_sentences``), or nothing is left (``c4_quality.empty``). Documents
    that only lost lines are ``modified`` with reason ``c4_quality.lines_removed`` and the
    count per rule in the ledger detail. A line's words are its whitespace-separated tokens
    that hold a letter or digit (C4 splits on whitespace; a lone "|" or "&" is not a word),
    and each character of a script written without spaces (Chinese, Japanese, Thai ...)
    counts as a word, so the line rules are defined for those languages too.

    Args:
        remove_citations: strip Wikipedia-style citation markers (C4: true).
        filter_no_terminal_punct: remove lines not ending in terminal punctuation (C4: true;
            FineWeb: false).
        closing_quotes: a terminal mark followed by closing quotes or brackets (`.”`, `!“`,
            `?»`, `。」`), or by a trailing parenthetical (`... gut. (Foto: dpa)`), ends a
            line (C4: false, it keeps `."` but drops `.”`; default recipe: true).
        keep_unended_prose: keep a line without terminal punctuation at its end when it
            holds at least two complete sentences (a paragraph cut off mid-sentence, as
            crawls and dumps truncate them), unless it ends in an ellipsis: a teaser the site
            shortened stays removed, as in C4 (C4: false; default recipe: false since issue
            16's third round, which uses `cut_unended_lines` instead).
        keep_headings: keep a line without terminal punctuation (a heading, or a line ending
            in ":") when the next non-blank line is prose: it ends like a sentence and has
            at least 10 words (C4: false; default recipe: true). Such a heading may have
            fewer than `min_words_per_line` words ("Fazit"; it then does not count as a
            sentence); the other line rules still apply to it. A line ending in an ellipsis
            is a teaser, never a heading.
        keep_code_lines: lines of program code (`corpusfilter.filters.code`: fenced
            blocks, lines that are code by their syntax) are not judged by the prose line
            rules (terminal punctuation, words per line, "{") (C4: false; default recipe:
            true).
        colon_line_words: a line ending in ":" with at least this many words is kept: it
            introduces a quotation, a list or code ("Das Konzeptpapier finden Sie hier:");
            labels such as "Share:" or "Follow us:" are shorter. It is not counted as a
            sentence (C4: None, off).
        keep_list_items: the items of a list that such a line (`colon_line_words`)
            introduces are kept without terminal punctuation: a run of consecutive lines
            that are indented in the page text (HTML-to-text extractors indent <li>) or start
            with a bullet or an item number. The other line rules still apply to them
            (fewer than `min_words_per_line` words: removed); they are not counted as
            sentences (C4: false; default recipe: true).
        cut_unended_lines: a line without terminal punctuation at its end (a teaser cut off
            with "... weiter...", a paragraph the crawl truncated) keeps its complete
            sentences when they hold at least 10 words: the unfinished tail after its last
            sentence end is cut, instead of removing the line. A sentence end here is a
            terminal mark after a letter (not "...", not "30." in a German date) followed
            by a space; in Chinese and Japanese, by any character. Lines of a hard-wrapped
            paragraph are not cut. A cut line's sentences count for `min_sentences` when
            there are at least two (a single one does not). With it the default recipe
            switches `keep_unended_prose` off: a truncated paragraph keeps its sentences
            without the fragment (C4: false; default recipe: true).
        join_wrapped_lines: a hard-wrapped paragraph (a line of at least 40 characters
            without a terminal mark, followed by a line starting with a lower-case letter) is
            judged as one line by the terminal-punctuation and word-count rules and kept or
            removed whole (C4: false, every physical line is judged; default recipe: true).
        curly_bracket_lines: a line holding "{" is removed as a line instead of removing the
            page (C4: false). In raw page text a "{" is mostly a leftover line of script or
            style around the article, the line-level analogue of C4's javascript rule
            (default recipe: true).
        min_words_per_line: remove lines with fewer words (C4: 3). None: off.
        max_word_length: remove lines with a longer whitespace-separated token (C4: 1000).
            None: off.
        filter_javascript: remove lines mentioning "javascript" (C4: true).
        filter_policy: remove lines with a policy phrase (C4: true).
        filter_lorem_ipsum: remove pages containing "lorem ipsum" (C4: true).
        filter_curly_bracket: remove pages containing "{" (C4: true).
        min_sentences: remove pages with fewer sentences after line removal (C4: 5). None:
            off.
        default_lang: language assumed for `overrides` when `lang` is absent or null.
        overrides: per-language values of remove_citations, filter_no_terminal_punct,
            min_words_per_line,
            filter_javascript, filter_curly_bracket and min_sentences, e.g. {zh: {min_words_per_line: 10}}
            (``de`` also applies to ``de-AT``; see core/langparams.py).
        source_overrides: the same per source (by the `source` column), which win over
            `overrides`, e.g. {stackexchange: {filter_curly_bracket: false}}.
    """

    name = "c4_quality"
    # 2 (issue 16): keep_unended_prose never revives a line ending in an ellipsis, short
    # headings, join_wrapped_lines, keep_code_lines, colon_line_words
    # 3: keep_list_items, cut_unended_lines
    version = 3
    # True: every per-line pattern runs over every line, as the rules define them (the fast
    # path runs them only where they can change a line's fate; tests/test_c4_fast.py)
    _reference = False

    def __init__(self, remove_citations: bool = True, filter_no_terminal_punct: bool = True,
                 closing_quotes: bool = False, keep_unended_prose: bool = False,
                 keep_headings: bool = False, curly_bracket_lines: bool = False,
                 join_wrapped_lines: bool = False, keep_code_lines: bool = False,
                 colon_line_words: Count | None = None, keep_list_items: bool = False,
                 cut_unended_lines: bool = False,
                 min_words_per_line: Count | None = 3, max_word_length: Count | None = 1000,
                 filter_javascript: bool = True, filter_policy: bool = True,
                 filter_lorem_ipsum: bool = True, filter_curly_bracket: bool = True,
                 min_sentences: Count | None = 5, default_lang: LangCode | None = "en",
                 overrides: Mapping[str, Mapping[str, Any]] | None = None,
                 source_overrides: Mapping[str, Mapping[str, Any]] | None = None):
        self.closing_quotes = closing_quotes
        self.keep_unended_prose = keep_unended_prose
        self.keep_headings = keep_headings
        self.curly_bracket_lines = curly_bracket_lines
        self.join_wrapped_lines = join_wrapped_lines
        self.keep_code_lines = keep_code_lines
        self.colon_line_words = colon_line_words
        self.keep_list_items = keep_list_items
        self.cut_unended_lines = cut_unended_lines
        self.max_word_length = max_word_length
        self.filter_policy = filter_policy
        self.filter_lorem_ipsum = filter_lorem_ipsum
        self.default_lang = normalise_lang(default_lang)
        self.lang_params = LangParams(
            self.name, {"remove_citations": remove_citations,
                        "filter_no_terminal_punct": filter_no_terminal_punct,
                        "min_words_per_line": min_words_per_line,
                        "filter_curly_bracket": filter_curly_bracket,
                        "filter_javascript": filter_javascript,
                        "min_sentences": min_sentences}, overrides,
            source_overrides=source_overrides, default_lang=self.default_lang)
        check_entries(self, self.lang_params.entries())

    def transform(self, docs: Docs) -> Outcome:
        n = docs.num_rows
        if n == 0:
            return Outcome.keep_all(0)

        switches: dict[str, np.ndarray] = {}

        def per_line(name: str) -> np.ndarray:
            """A switch of this stage per line (by its document's language and source)."""
            if name not in switches:
                value = self.lang_params.values(name, docs)
                on = np.broadcast_to(np.asarray(value if value is not None else 0.0),
                                     (n,)) == 1
                switches[name] = on[line_doc]
            return switches[name]

        def only(mask: np.ndarray) -> np.ndarray:
            """The lines a costly test must run on: those where its result can still
            change something (`_reference`: every line)."""
            return np.ones(len(mask), dtype=bool) if self._reference else mask

        raw = split_lines(docs.text)
        lines = Pieces(pc.utf8_trim_whitespace(raw.values), raw.offsets)
        line_doc = lines.doc
        n_lines = len(lines.values)
        drop = np.zeros(n_lines, dtype=bool)
        why = np.full(n_lines, -1, dtype=np.int8)  # index into _LINE_RULES

        def apply(rule: str, hit: np.ndarray) -> None:
            new = hit & ~drop
            why[new] = _LINE_RULES.index(rule)
            drop[new] = True

        if self.max_word_length is not None:
            apply("too_long_word", self._too_long(lines))
        text = lines.values
        if self.lang_params.is_set("remove_citations") and n_lines:
            # only lines holding a "[" can hold a citation marker
            text = _replace_where(text, per_line("remove_citations")
                                  & only(_has_byte(text, b"[")), CITATION, "")
        cleaned = Pieces(text, lines.offsets)
        code = code_lines(lines) if self.keep_code_lines else np.zeros(n_lines, dtype=bool)
        edges = _Edges(cleaned.values, self._reference)
        ends = edges.ends(self.closing_quotes)
        # a hard-wrapped paragraph is judged as one line: its last line's end, all its words
        group = wrapped_paragraphs(cleaned, ends, edges.lower_start()) \
            if self.join_wrapped_lines else np.arange(n_lines, dtype=np.int64)
        last = group_last(group)  # per line: the last line of its paragraph
        single = np.bincount(group)[group] == 1 if n_lines else np.zeros(0, dtype=bool)
        # words (of a wrapped paragraph: of all its lines) only where a rule looks at them:
        # in a paragraph, a line ending like a sentence or in ":", and (below) a line the
        # terminal-punctuation rule kept
        words = _LineWords(lines.values, group, only(~single | ends | edges.colon()))
        ends = ends[last]
        colon = np.zeros(n_lines, dtype=bool)
        if self.colon_line_words is not None:
            # a sentence ending in ":" introduces a quotation, a list or code
            colon = (edges.colon() & (words.counts >= self.colon_line_words))[last]
            ends |= colon
        heading = np.zeros(n_lines, dtype=bool)
        items = np.zeros(n_lines, dtype=bool)
        cut = np.zeros(n_lines, dtype=bool)
        if self.lang_params.is_set("filter_no_terminal_punct"):
            if self.keep_unended_prose and n_lines:
                sentences = pc.count_substring_regex(cleaned.values, _SENTENCE_END).to_numpy(
                    zero_copy_only=False).astype(np.float64)
                prose = np.bincount(group, weights=sentences)[group] >= _UNENDED_SENTENCES
                ends |= prose & ~cleaned.matches(ANY_ELLIPSIS_END)[last]
                words.need(ends)
            unended = ~ends
            if self.keep_headings:
                # a line cut off with an ellipsis is a teaser, not a heading
                heading = _introduces_prose(lines, ends & ~colon
                                            & (words.counts >= _PROSE_WORDS))
                heading &= ~_matches_where(cleaned.values, only(heading), ANY_ELLIPSIS_END,
                                           last)
                unended &= ~heading
            if self.keep_list_items:
                items = _introduced_list(raw, lines, colon, self._reference)
                unended &= ~items
            if self.cut_unended_lines and n_lines:
                # only a single line without a terminal mark can be cut, and only where a
                # sentence ends before its tail
                may_cut = unended & ~code & per_line("filter_no_terminal_punct") & single
                cut_rows = only(may_cut & _may_have_head(cleaned.values, may_cut))
                cut, heads = _sentence_heads(cleaned, group, cut_rows)
                cut &= may_cut
                unended &= ~cut
            apply("no_terminal_punct", unended & ~code & per_line("filter_no_terminal_punct"))
        min_words = self.lang_params.values("min_words_per_line", docs)
        few = np.zeros(n_lines, dtype=bool)
        if min_words is not None:
            words.need(~drop)
            counts = words.counts
            limit = np.broadcast_to(np.asarray(min_words, dtype=np.float64), (n,))[line_doc]
            with np.errstate(invalid="ignore"):
                few = counts < limit
            # a heading of one or two words ("Fazit") is a heading all the same
            apply("too_few_words", few & ~code & ~(heading & (counts > 0)))
        # the page and phrase rules below only concern lines no rule has removed yet
        alive = ~drop
        phrases = _Phrases(text, only(alive),
                           ["lorem ipsum", "javascript", "|".join(POLICY_PHRASES)], [r"\{"],
                           self._reference)
        lorem = (alive & phrases.matches("lorem ipsum")) if self.filter_lorem_ipsum \
            else np.zeros(n_lines, dtype=bool)
        if self.lang_params.is_set("filter_javascript"):
            apply("javascript", phrases.matches("javascript") & per_line("filter_javascript"))
        curly = (~drop & ~code & phrases.matches_text(r"\{")
                 & per_line("filter_curly_bracket")) \
            if self.lang_params.is_set("filter_curly_bracket") else np.zeros(n_lines, dtype=bool)
        if self.curly_bracket_lines:
            apply("curly_bracket", curly)
            curly = np.zeros(n_lines, dtype=bool)
        if self.filter_policy:
            apply("policy", phrases.matches("|".join(POLICY_PHRASES)))
        kept = ~drop & ~curly & ~lorem
        cut &= kept
        out_text = pc.replace_with_mask(text, pa.array(cut), heads.filter(pa.array(cut[cut_rows]))
                                        ) if cut.any() else text
        kept_lines = Pieces(out_text, lines.offsets).select(kept)

        # sentences in the kept lines
        if len(kept_lines.values):
            ends = pc.count_substring_regex(kept_lines.values, _SENTENCE_END).to_numpy(
                zero_copy_only=False).astype(np.int64)
            # a line without an end is one more sentence, unless it wraps onto the next
            # (lines kept by colon_line_words and short headings are not sentences: those
            # rules change no page's fate under min_sentences)
            open_end = ~kept_lines.matches(_SENTENCE_END_AT_EOL) & \
                ((last == np.arange(n_lines)) & ~colon & ~(heading & few) & ~items)[kept]
            per_line = ends + open_end
            # a cut line's complete sentences count when there are at least two, as
            # keep_unended_prose counts such a line; a single one does not, so that the rule
            # keeps text without saving a page from min_sentences (counting it kept one more
            # bad DCLM page)
            per_line = np.where(cut[kept] & (ends < _UNENDED_SENTENCES), 0, per_line)
        else:
            per_line = np.zeros(0, dtype=np.int64)
        sentences = kept_lines.sum(per_line)

        keep = np.ones(n, dtype=bool)
        reason = np.full(n, None, dtype=object)
        score = np.full(n, np.nan)
        threshold = np.full(n, np.nan)
        idx = np.arange(n_lines, dtype=np.int64)
        big = np.int64(n_lines + 1)
        first_lorem = -seg_max(np.where(lorem, -idx, -big), lines.offsets, empty=-big)
        first_curly = -seg_max(np.where(curly, -idx, -big), lines.offsets, empty=-big)
        for name, first, other in (("lorem_ipsum", first_lorem, first_curly),
                                   ("curly_bracket", first_curly, first_lorem)):
            hit = keep & (first < big) & (first < other) if name == "curly_bracket" \
                else keep & (first < big) & (first <= other)
            keep[hit] = False
            reason[hit] = self.reason(name)
        min_sent = self.lang_params.values("min_sentences", docs)
        if min_sent is not None:
            limit = np.broadcast_to(np.asarray(min_sent, dtype=np.float64), (n,))
            with np.errstate(invalid="ignore"):
                few = keep & (sentences < limit)
            keep[few] = False
            reason[few] = self.reason("min_sentences")
            score[few] = sentences[few]
            threshold[few] = limit[few]
        new_text = pc.utf8_trim_whitespace(kept_lines.join("\n"))
        empty = keep & (kept_lines.counts == 0)
        keep[empty] = False
        reason[empty] = self.reason("empty")

        original = docs.text
        if isinstance(original, pa.ChunkedArray):
            original = original.combine_chunks()
        modified = ~pc.equal(new_text, original.cast(pa.string())).to_numpy(
            zero_copy_only=False).astype(bool)
        removed_lines = lines.counts - kept_lines.counts
        detail: list[dict[str, Any] | None] = [None] * n
        changed = keep & modified
        if changed.any():
            per_rule = {r: lines.sum(why == i) for i, r in enumerate(_LINE_RULES)}
            per_rule["lines_cut"] = lines.sum(cut)
            # the counts of all changed documents as Python ints in one call
            rows = np.flatnonzero(changed)
            table = np.column_stack([c[rows] for c in per_rule.values()]).tolist()
            removed = removed_lines[rows].tolist()
            names = list(per_rule)
            for i, r, counts_i in zip(rows.tolist(), removed, table, strict=True):
                detail[i] = {"lines_removed": r,
                             **{k: c for k, c in zip(names, counts_i, strict=True) if c}}
            reason[changed] = self.reason("lines_removed")
            score[changed] = removed_lines[changed]
        docs.count("lines_removed", int(removed_lines[keep].sum()))
        return Outcome(keep=keep, reason=reason, score=score, threshold=threshold,
                       detail=detail, text=new_text, modified=modified & keep)

    def _too_long(self, lines: Pieces) -> np.ndarray:
        """Lines with a whitespace-separated token longer than `max_word_length`."""
        assert self.max_word_length is not None
        limit = self.max_word_length
        out = np.zeros(len(lines.values), dtype=bool)
        long_ = np.flatnonzero(lines.lengths > limit)
        if self._reference or not len(long_):
            look = long_
        else:
            # a token of more than `limit` characters lies in a run of more than `limit`
            # bytes without an ASCII space (every one of them splits for str.split())
            look = long_[_longest_unspaced(lines.values.take(pa.array(long_))) > limit]
        if len(look):
            texts = lines.values.take(pa.array(look)).to_pylist()
            out[look] = [max(map(len, t.split()), default=0) > limit for t in texts]
        return out


def wrapped_paragraphs(lines: Pieces, ends: np.ndarray, lower_start: np.ndarray | None = None
                       ) -> np.ndarray:
    """A group number per line (trimmed lines, `ends`: the line ends like a sentence): the
    lines of one hard-wrapped paragraph share it. A line without a terminal mark, followed in
    the same document by a line starting with a lower-case letter (`lower_start`, if the
    caller has it already), continues on that line when it is at least `_WRAP_CHARS`
    characters long or itself continues a line (the last lines of a wrapped paragraph may be
    short)."""
    n_lines = len(ends)
    if n_lines == 0:
        return np.zeros(0, dtype=np.int64)
    if lower_start is None:
        lower_start = lines.matches(_LOWER_START)
    doc = lines.doc
    may = np.zeros(n_lines, dtype=bool)
    may[:-1] = ~ends[:-1] & lower_start[1:] & (doc[:-1] == doc[1:])
    # within a run of lines that may continue, the wrap starts at its first long line
    long_ = may & (lines.lengths >= _WRAP_CHARS)
    run = np.cumsum(~may)
    seen = np.cumsum(long_)
    first_in_run = np.ones(n_lines, dtype=bool)
    first_in_run[1:] = run[1:] != run[:-1]
    base = np.maximum.accumulate(np.where(first_in_run, seen - long_, 0))
    cont = may & (seen - base > 0)
    start = np.ones(n_lines, dtype=bool)
    start[1:] = ~cont[:-1]
    return np.cumsum(start) - 1


def group_last(group: np.ndarray) -> np.ndarray:
    """Per line: the index of the last line of its group (groups are runs of lines)."""
    if not len(group):
        return np.zeros(0, dtype=np.int64)
    is_last = np.ones(len(group), dtype=bool)
    is_last[:-1] = group[:-1] != group[1:]
    return np.flatnonzero(is_last)[group]


def _sentence_heads(lines: Pieces, group: np.ndarray, rows: np.ndarray
                    ) -> tuple[np.ndarray, pa.Array]:
    """Per line: whether it holds complete sentences of at least `_PROSE_WORDS` words before
    an unfinished tail; and for the lines where `rows` is True (the only ones looked at), in
    order, the line's text up to its last sentence end. Lines of a hard-wrapped paragraph
    (`group` of more than one line) are left whole."""
    text = lines.values.filter(pa.array(rows, pa.bool_()))
    head = pc.replace_substring_regex(text, _CUT_TAIL, r"\1")
    same = pc.equal(head, text)
    if pc.any(same).as_py():  # the Chinese/Japanese sentence end, where no other was found
        head = pc.replace_with_mask(head, same, pc.replace_substring_regex(
            text.filter(same), _CUT_TAIL_CJK, r"\1"))
    has_head = ~pc.equal(head, text).to_numpy(zero_copy_only=False).astype(bool)
    single = np.bincount(group)[group] == 1
    out = np.zeros(len(rows), dtype=bool)
    idx = np.flatnonzero(rows)[has_head]
    # words of the head only where there is one
    out[idx] = whitespace_word_counts(head.filter(pa.array(has_head))) >= _PROSE_WORDS
    return out & single, head


def _introduced_list(raw: Pieces, lines: Pieces, colon: np.ndarray, reference: bool = False
                     ) -> np.ndarray:
    """Per line: an item of a list that the text introduces. A list is a run of consecutive
    non-blank list-item lines (`LIST_ITEM` on the untrimmed line) of one document; it is
    introduced when the non-blank line just before it is a sentence ending in ":"
    (`colon`). (Lists between two prose lines were tried too: they are mostly related-article
    lists and menus after the article; boilerplate removed 0.53 -> 0.52.)"""
    out = np.zeros(len(colon), dtype=bool)
    nonblank = np.flatnonzero(lines.lengths > 0)
    if not len(nonblank):
        return out
    doc = lines.doc[nonblank]
    same_prev = np.zeros(len(nonblank), dtype=bool)
    same_prev[1:] = doc[1:] == doc[:-1]
    intro = np.zeros(len(nonblank), dtype=bool)
    intro[1:] = colon[nonblank[:-1]]
    # a list a line introduces starts after that line: `LIST_ITEM` only matters from the
    # line before a document's first introduced line on (`reference`: everywhere)
    first = np.full(lines.num_docs + 1, len(nonblank))
    np.minimum.at(first, doc[intro & same_prev], np.flatnonzero(intro & same_prev))
    look = np.ones(len(nonblank), dtype=bool) if reference \
        else np.arange(len(nonblank)) >= first[doc] - 1
    item = _matches_where(raw.values, look, LIST_ITEM, nonblank)
    prev_item = np.zeros(len(nonblank), dtype=bool)
    prev_item[1:] = item[:-1]
    start = item & ~(same_prev & prev_item)
    run = np.cumsum(start)  # run number of each item line (0: lines before the first run)
    ok = np.zeros(int(run[-1]) + 1, dtype=bool)
    ok[run[start & same_prev & intro]] = True
    out[nonblank] = item & ok[run]
    return out


def _introduces_prose(lines: Pieces, prose: np.ndarray) -> np.ndarray:
    """Per line: the next non-blank line of the same document is prose."""
    n_lines = len(prose)
    out = np.zeros(n_lines, dtype=bool)
    nonblank = np.flatnonzero(lines.lengths > 0)
    if not len(nonblank):
        return out
    # position in `nonblank` of the first non-blank line after each line
    nxt = np.searchsorted(nonblank, np.arange(n_lines), side="right")
    has_next = nxt < len(nonblank)
    j = nonblank[np.minimum(nxt, len(nonblank) - 1)]
    same_doc = lines.doc[j] == lines.doc
    out[has_next & same_doc] = prose[j[has_next & same_doc]]
    return out


# -- cheap per-line tests (issue #21) -------------------------------------------------------
# Most lines of a web page are short menu entries, buttons and headings that end without a
# terminal mark. The rules on a line's end or start need only its last or first character,
# classified once per code point by RE2 with the patterns' own classes; a costly pattern (the
# cut of an unfinished tail, lower-casing for the phrase rules) runs only on the lines whose
# fate it can still change. Each equals its pattern over all lines (tests/test_c4_fast.py).

_END, _CLOSER, _LOWER = 1, 2, 4


def _classify_chars(cps: np.ndarray) -> np.ndarray:
    """Per code point: _END (`_LINE_END` matches a line ending in it), _CLOSER (a closer or
    ")" may follow a terminal mark under `_TYPOGRAPHIC_END`), _LOWER (`_LOWER_START`)."""
    chars = pa.array([chr(c) for c in cps.tolist()], pa.string())
    out = np.zeros(len(cps), dtype=np.uint8)
    for bit, pattern in ((_END, "^" + _LINE_END), (_CLOSER, f"^[{CLOSERS})]$"),
                         (_LOWER, _LOWER_START)):
        hit = pc.match_substring_regex(chars, pattern).to_numpy(zero_copy_only=False)
        out |= np.where(hit.astype(bool), np.uint8(bit), np.uint8(0))
    return out


_CHAR_CLASS = CodePointTable(_classify_chars)


def _code_points(data: np.ndarray, lead: np.ndarray) -> np.ndarray:
    """The code points of the characters whose first byte is at `lead` (valid UTF-8)."""
    out = data[lead].astype(np.uint32)
    multi = np.flatnonzero(out >= 0x80)  # most are ASCII
    if len(multi):
        at, last = lead[multi], len(data) - 1
        b0 = out[multi]
        b1, b2, b3 = (data[np.minimum(at + k, last)].astype(np.uint32) & 0x3F
                      for k in (1, 2, 3))
        out[multi] = np.where(b0 < 0xE0, ((b0 & 0x1F) << 6) | b1,
                              np.where(b0 < 0xF0, ((b0 & 0x0F) << 12) | (b1 << 6) | b2,
                                       ((b0 & 0x07) << 18) | (b1 << 12) | (b2 << 6) | b3))
    return out


class _Edges:
    """The first and last character of every line (trimmed lines, UTF-8 bytes), for the
    rules that look only there: `_LINE_END`, `_TYPOGRAPHIC_END`, `_ELLIPSIS_END`, ":$" and
    `_LOWER_START`. With `reference`, each is its pattern over every line."""

    def __init__(self, values: pa.Array, reference: bool = False):
        self.values = values
        self.reference = reference
        buf = utf8_buffer(values)
        data, start, end = buf.data, buf.offsets[:-1], buf.offsets[1:]
        self.data, self.end = data, end
        self.size = end - start
        full = np.flatnonzero(self.size > 0)
        # the last character's first byte: back over at most three continuation bytes
        lead = end[full] - 1
        for _ in range(3):
            lead -= (data[lead] & 0xC0) == 0x80
        self.first_class = np.zeros(len(values), dtype=np.uint8)
        self.last_class = np.zeros(len(values), dtype=np.uint8)
        if len(full):
            self.first_class[full] = _CHAR_CLASS(_code_points(data, start[full]))
            self.last_class[full] = _CHAR_CLASS(_code_points(data, lead))

    def _matches(self, pattern: str) -> np.ndarray:
        return pc.match_substring_regex(self.values, pattern).to_numpy(
            zero_copy_only=False).astype(bool)

    def _last_bytes(self, tail: bytes) -> np.ndarray:
        """Per line: its bytes end with the ASCII `tail` (never inside another character)."""
        out = np.zeros(len(self.size), dtype=bool)
        at = np.flatnonzero(self.size >= len(tail))
        hit = np.ones(len(at), dtype=bool)
        for k, byte in enumerate(reversed(tail)):
            hit &= self.data[self.end[at] - 1 - k] == byte
        out[at[hit]] = True
        return out

    def ends(self, closing_quotes: bool) -> np.ndarray:
        """Per line: it ends like a sentence (`_LINE_END`, with `closing_quotes` also
        `_TYPOGRAPHIC_END`), and not in "..." (`_ELLIPSIS_END`)."""
        if self.reference:
            ends = self._matches(_LINE_END)
            if closing_quotes:
                ends |= self._matches(_TYPOGRAPHIC_END)
            return ends & ~self._matches(_ELLIPSIS_END)
        ends = (self.last_class & _END) != 0
        if closing_quotes:
            # a line `_TYPOGRAPHIC_END` matches and `_LINE_END` does not ends in a closer
            # or in the ")" of a parenthetical
            ends |= _matches_where(self.values, ~ends & ((self.last_class & _CLOSER) != 0),
                                   _TYPOGRAPHIC_END)
        return ends & ~self._last_bytes(b"...")

    def colon(self) -> np.ndarray:
        """Per line: it ends in ":"."""
        return self._matches(r":$") if self.reference else self._last_bytes(b":")

    def lower_start(self) -> np.ndarray:
        """Per line: it starts with a lower-case letter (`_LOWER_START`)."""
        if self.reference:
            return self._matches(_LOWER_START)
        return (self.first_class & _LOWER) != 0


class _LineWords:
    """Words per line (`whitespace_word_counts`), counted only for the lines asked for, and
    per paragraph of `group` (a wrapped paragraph's lines all hold its words; the lines of
    a paragraph are asked for together). `counts` is 0 where not asked for."""

    def __init__(self, values: pa.Array, group: np.ndarray, rows: np.ndarray):
        self.values = values
        self.group = group
        self.have = np.zeros(len(values), dtype=bool)
        self.raw = np.zeros(len(values), dtype=np.float64)
        self.counts = self.raw
        self.need(rows)

    def need(self, rows: np.ndarray) -> None:
        """Count the words of the lines where `rows` is True."""
        new = rows & ~self.have
        if not new.any():
            return
        self.raw[new] = whitespace_word_counts(self.values.filter(pa.array(new)))
        self.have |= new
        self.counts = np.bincount(self.group, weights=self.raw)[self.group]


_ASCII_SPACES = np.zeros(256, dtype=bool)
_ASCII_SPACES[[0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20]] = True


def _longest_unspaced(values: pa.Array) -> np.ndarray:
    """Per string: its longest run of bytes without an ASCII whitespace byte."""
    buf = utf8_buffer(values)
    n = len(values)
    space = np.flatnonzero(_ASCII_SPACES[buf.data])
    # each string's bounds (one before its first byte, its end) and its spaces, in order
    at = np.concatenate([buf.offsets[:-1] - 1, space, buf.offsets[1:]])
    key = np.concatenate([np.arange(n), np.searchsorted(buf.offsets, space, side="right") - 1,
                          np.arange(n)])
    order = np.lexsort((at, key))
    at, key = at[order], key[order]
    gap = np.diff(at) - 1
    gap[key[1:] != key[:-1]] = 0
    out = np.zeros(n, dtype=np.int64)
    np.maximum.at(out, key[:-1], gap)
    return out


def _matches_where(values: pa.Array, rows: np.ndarray, pattern: str,
                   at: np.ndarray | None = None) -> np.ndarray:
    """Per line i where `rows` is True: line `at[i]` (default: i) holds a match of the RE2
    `pattern`; False elsewhere. Only those lines are searched."""
    out = np.zeros(len(rows), dtype=bool)
    if not rows.any():
        return out
    which = np.flatnonzero(rows)
    look = which if at is None else at[which]
    hit = pc.match_substring_regex(values.take(pa.array(look)), pattern).to_numpy(
        zero_copy_only=False).astype(bool)
    out[which] = hit
    return out


def _has_byte(values: pa.Array, byte: bytes) -> np.ndarray:
    """Per line: its text holds the ASCII character `byte`."""
    buf = utf8_buffer(values)
    hits = np.flatnonzero(buf.data == byte[0])
    return np.diff(np.searchsorted(hits, buf.offsets)) > 0


def _replace_where(values: pa.Array, rows: np.ndarray, pattern: str, repl: str) -> pa.Array:
    """`values` with the RE2 `pattern` replaced by `repl` in the lines where `rows` is True."""
    if not rows.any():
        return values
    mask = pa.array(rows, pa.bool_())
    return pc.replace_with_mask(values, mask, pc.replace_substring_regex(
        values.filter(mask), pattern, repl))


# Where `_CUT_TAIL` or `_CUT_TAIL_CJK` match (the same conditions, without the capture
# around the greedy head, which makes RE2 slow)
_HEAD_END = (f"[^.…\\s\\d][{SENTENCE_TERMINALS}][{CLOSERS}]*\\s+\\S"
             "|[。！？][」』）)]*[^」』）)\\s]")


def _may_have_head(values: pa.Array, rows: np.ndarray) -> np.ndarray:
    """Per line where `rows` is True: it has a head `_sentence_heads` would cut."""
    return _matches_where(values, rows, _HEAD_END)


# Characters other than A-Z whose lower case (Arrow's `utf8_lower`, one code point for one)
# is an ASCII letter (tests/test_c4_fast.py checks every code point).
_LOWERS_TO = {"i": "\u0130", "k": "\u212a"}


def caseless(phrases: str) -> str:
    """An RE2 pattern that matches a text where the lower-cased text holds one of the
    `|`-separated `phrases` (lower-case ASCII letters and spaces): each letter as a class of
    every character that lower-cases to it, so no lower-cased copy is needed."""
    out = []
    for c in phrases:
        assert c in "| " or "a" <= c <= "z", phrases
        out.append(f"[{c}{c.upper()}{_LOWERS_TO.get(c, '')}]" if c.isalpha() else c)
    return "".join(out)


class _Phrases:
    """The page and phrase rules' tests (lorem ipsum, javascript, policy phrases: in the
    lower-cased text; "{": in the text) on the lines where `rows` is True. One RE2 pass of
    all of them together (`caseless` phrases) finds the few lines any can match; each test
    then runs on those only. `reference`: each test on the lower-cased lines, as defined."""

    def __init__(self, text: pa.Array, rows: np.ndarray, phrases: list[str],
                 patterns: list[str], reference: bool = False):
        self.rows = rows
        self.reference = reference
        self._text = text
        if reference:
            self.which = np.flatnonzero(rows)
            return
        union = "|".join([caseless(p) for p in phrases] + patterns)
        self.which = np.flatnonzero(_matches_where(text, rows, union))

    def _result(self, values: pa.Array, pattern: str) -> np.ndarray:
        out = np.zeros(len(self.rows), dtype=bool)
        if len(self.which):
            out[self.which] = pc.match_substring_regex(values, pattern).to_numpy(
                zero_copy_only=False).astype(bool)
        return out

    @cached_property
    def text(self) -> pa.Array:
        return self._text.take(pa.array(self.which))

    def matches(self, phrases: str) -> np.ndarray:
        """Per line: its lower-cased text holds one of the `|`-separated `phrases` (only
        `rows`)."""
        if self.reference:
            return self._result(pc.utf8_lower(self.text), phrases)
        return self._result(self.text, caseless(phrases))

    def matches_text(self, pattern: str) -> np.ndarray:
        """Per line: its text holds a match of `pattern` (only `rows`)."""
        return self._result(self.text, pattern)


@register
class C4Paragraph(Filter):
    """mC4's paragraph filter: keep pages with at least `min_paragraphs` lines of at least
    `min_paragraph_chars` characters (Xue et al. 2021, mT5 section 2; C4's
    `paragraph_filter`). Reason ``c4_paragraph.long_lines``.

    Args:
        min_paragraphs: fewest long lines (mC4: 3).
        min_paragraph_chars: characters for a line to count as a paragraph (mC4: 200).
    """

    name = "c4_paragraph"
    version = 1

    def __init__(self, min_paragraphs: Count = 3, min_paragraph_chars: Count = 200):
        self.min_paragraphs = min_paragraphs
        self.min_paragraph_chars = min_paragraph_chars

    def score(self, docs: Docs) -> dict[str, np.ndarray]:
        lines = split_pieces(docs.text, r"\n")
        long_lines = lines.sum(lines.lengths >= self.min_paragraph_chars)
        return {"long_lines": long_lines.astype(np.float64)}

    def rules(self, docs: Docs) -> list[Rule]:
        return [Rule("long_lines", "long_lines", min=self.min_paragraphs)]
