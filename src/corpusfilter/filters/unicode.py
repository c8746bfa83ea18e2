"""`unicode_fix`: repair mojibake and broken Unicode with ftfy, conservatively.

ftfy (Speer, 2019; https://ftfy.readthedocs.io) detects text that was decoded with the wrong
encoding ("cafÃ©" → "café") and fixes it by re-encoding, plus a few cleanups. Its defaults suit
English UI text more than a multilingual corpus, so this stage changes some of them:

* ``fix_character_width`` off: ftfy folds full-width Latin and half-width katakana (NFKC-like);
  in CJK text those forms are often intended.
* ``uncurl_quotes`` off: curly quotes and „German“ «French» quotes are text, not damage.
* ``normalization`` None: no NFC/NFKC unless asked (NFKC changes the meaning of some text).
* ``fix_line_breaks`` off: CRLF and U+2028 line breaks are left to the text's owner.

Kept from ftfy's defaults: encoding repair (with its sub-fixes ``restore_byte_a0``,
``replace_lossy_sequences``, ``decode_inconsistent_utf8``, ``fix_c1_controls``), HTML entity
unescaping (``auto``: only in documents without ``<``), Latin ligature splitting (U+FB00–FB06),
surrogate repair, terminal escape and stray control character removal.

Fast path: ftfy works line by line (``fix_text`` splits at newlines), and spends most of its
time in per-line overhead. Here, first, with Arrow over the whole batch, every document that is
plain printable ASCII (plus tab/newline/CR) without ``&`` is skipped; then, in the remaining
documents, only the lines containing a character some enabled fix acts on, or that ftfy's own
mojibake detector (``ftfy.badness.is_bad``) flags, are handed to ftfy. ``is_bad`` (a Python
regex of ~40 branches tried at every character) was the stage's largest cost, so it runs only
in documents where an RE2 rewrite of the same regex that matches at least wherever it does
(`corpusfilter.regex_superset`) finds something, tested over the whole batch at once; the
same batch pass finds the documents holding a character another fix acts on. Property tests
check that the output is exactly ``ftfy.fix_text``'s with the same configuration and that
the rewrite never misses a line ``is_bad`` flags.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusfilter.core.docs import Docs
from corpusfilter.core.registry import register
from corpusfilter.core.stage import Outcome, Transform
from corpusfilter.regex_superset import code_point_class, superset_re2

# Documents matching none of this are plain ASCII text that no ftfy fix changes (\r is
# printable here only while fix_line_breaks is off; see `_needs_check_re`).
_ASCII_SAFE = "\t\n\x20-\x25\x27-\x7e"
_ENCODING_ACTIONS = ("encode", "decode", "transcode")
Normalization = Literal["NFC", "NFD", "NFKC", "NFKD"]


@register
class UnicodeFix(Transform):
    """Repair mojibake and broken Unicode with ftfy (conservative, multilingual settings).

    Modified documents get a ledger ``modified`` row with reason ``unicode_fix.mojibake``
    (an encoding repair) or ``unicode_fix.<fix>`` (the first other fix applied, e.g.
    ``unescape_html``, ``remove_control_chars``), and ``detail.fixes``: every ftfy step
    applied, as ``action:parameter`` (``encode:sloppy-windows-1252``, ``decode:utf-8``,
    ``apply:unescape_html``), plus ``lines``: how many lines changed. Nothing is removed.

    Args:
        fix_encoding: repair mojibake (text decoded in the wrong encoding).
        unescape_html: decode HTML entities (&amp;, &eacute;): "auto" does it only in
            documents without a "<" (ftfy's rule, applied per document), true/false always/never.
        fix_latin_ligatures: split Latin ligatures (ﬁ → fi), as ftfy does by default.
        fix_character_width: fold full-width/half-width forms (off: intended in CJK text).
        uncurl_quotes: replace curly quotes by straight ones (off: quotes are text).
        fix_line_breaks: turn CRLF, CR and U+2028/2029 into \\n (off).
        remove_control_chars: drop stray control characters (C0 except tab/newline/CR, BOM,
            deprecated Arabic format characters, U+FFF9-FFFC).
        remove_terminal_escapes: drop ANSI terminal escape sequences.
        normalization: Unicode normalisation after fixing: null (none), NFC, NFD, NFKC, NFKD.
        fast_path: skip documents that cannot need a fix (false: run ftfy on every document;
            same output, slower).
    """

    name = "unicode_fix"
    version = 1

    def __init__(self, fix_encoding: bool = True,
                 unescape_html: bool | Literal["auto"] = "auto",
                 fix_latin_ligatures: bool = True, fix_character_width: bool = False,
                 uncurl_quotes: bool = False, fix_line_breaks: bool = False,
                 remove_control_chars: bool = True, remove_terminal_escapes: bool = True,
                 normalization: Normalization | None = None, fast_path: bool = True):
        self.fix_encoding = fix_encoding
        self.unescape_html = unescape_html
        self.fix_latin_ligatures = fix_latin_ligatures
        self.fix_character_width = fix_character_width
        self.uncurl_quotes = uncurl_quotes
        self.fix_line_breaks = fix_line_breaks
        self.remove_control_chars = remove_control_chars
        self.remove_terminal_escapes = remove_terminal_escapes
        self.normalization = normalization
        self.fast_path = fast_path
        self._config: Any = None
        self._trigger: re.Pattern[str] | None = None
        self._trigger_re2: str | None = None
        self._bad_re2: str | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_config"] = state["_trigger"] = state["_trigger_re2"] = state["_bad_re2"] = None
        return state

    def setup(self) -> None:
        if self._config is not None:
            return
        import ftfy

        self._config = ftfy.TextFixerConfig(
            unescape_html=self.unescape_html, fix_encoding=self.fix_encoding,
            fix_latin_ligatures=self.fix_latin_ligatures,
            fix_character_width=self.fix_character_width, uncurl_quotes=self.uncurl_quotes,
            fix_line_breaks=self.fix_line_breaks,
            remove_control_chars=self.remove_control_chars,
            remove_terminal_escapes=self.remove_terminal_escapes,
            normalization=self.normalization, explain=True)
        self._trigger = self._trigger_re()
        self._bad_re2 = _badness_re2() if self.fix_encoding else None

    def _trigger_re(self) -> re.Pattern[str]:
        """Characters some enabled non-encoding fix acts on (the encoding fix is triggered
        by ftfy's own detector, `is_bad`)."""
        from ftfy import chardata

        chars: set[str] = {"\x1b", "\ufffd"}  # terminal escapes; lossy-sequence marker
        chars.update(chr(c) for c in range(0x80, 0xA0))  # C1 controls
        # unescape_html changes only what ftfy's entity regex matches (a "&" alone, as in
        # "Q&A" or a URL's query, is left as it is): ~9 in 10 lines ftfy was handed on web
        # text held such a "&" and nothing else to fix (issue 21)
        entity = chardata.HTML_ENTITY_RE.pattern if self.unescape_html else None
        if self.remove_control_chars:
            chars.update(chr(c) for c in chardata.CONTROL_CHARS)
        if self.fix_latin_ligatures:
            chars.update(chr(c) for c in chardata.LIGATURES)
        if self.fix_character_width:
            chars.update(chr(c) for c in chardata.WIDTH_MAP)
        extra = ["\ud800-\udfff"]  # surrogates
        if self.uncurl_quotes:  # ftfy's own quote classes
            extra += [chardata.SINGLE_QUOTE_RE.pattern[1:-1], chardata.DOUBLE_QUOTE_RE.pattern[1:-1]]
        if self.fix_line_breaks:
            chars.update("\r\x85\u2028\u2029")
        body = "".join(_escape_class(c) for c in sorted(chars))
        # the same class for RE2 (surrogates cannot occur in Arrow strings); none with ftfy's
        # quote classes, which are not spelled as characters
        self._trigger_re2 = None if self.uncurl_quotes else code_point_class(
            {ord(c) for c in chars})
        if entity is not None and self._trigger_re2 is not None:
            self._trigger_re2 = f"{self._trigger_re2}|{entity}"  # RE2 reads it alike
        either = f"|{entity}" if entity is not None else ""
        return re.compile(f"[{body}{''.join(extra)}]{either}")

    # -- the transform --------------------------------------------------------------------

    def candidates(self, docs: Docs) -> np.ndarray:
        """Rows that may need a fix (all rows when the fast path is off)."""
        n = docs.num_rows
        if not self.fast_path or n == 0:
            return np.ones(n, dtype=bool)
        safe = _ASCII_SAFE if self.fix_line_breaks else _ASCII_SAFE + "\r"
        maybe = pc.match_substring_regex(docs.text, f"[^{safe}]")
        return maybe.to_numpy(zero_copy_only=False).astype(bool)

    def prefilter(self, docs: Docs, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For the documents `rows`, with Arrow over the batch: (may hold a character an
        enabled fix acts on, may hold a line ftfy's mojibake detector flags). False only when
        provably so; all True when the fast path is off or normalisation is on."""
        n = len(rows)
        every = np.ones(n, dtype=bool)
        if not self.fast_path or self.normalization is not None or n == 0:
            return every, every
        text = docs.text.take(pa.array(rows, pa.int64()))

        def matches(pattern: str | None) -> np.ndarray:
            if pattern is None:
                return every
            if not pattern:
                return np.zeros(n, dtype=bool)
            return pc.match_substring_regex(text, pattern).to_numpy(
                zero_copy_only=False).astype(bool)

        trigger = matches(self._trigger_re2)
        if not self.fix_encoding:
            return trigger, np.zeros(n, dtype=bool)
        bad = matches(self._bad_re2)
        # ftfy cuts lines longer than max_decode_length, and `^` then also matches at a cut
        long = pc.utf8_length(text).to_numpy(zero_copy_only=False) > \
            self._config.max_decode_length
        return trigger, bad | long

    def line_prefilter(self, docs: Docs, rows: np.ndarray, bad: np.ndarray
                       ) -> list[np.ndarray | None]:
        """`prefilter` line by line, for the documents `rows` (`bad`: the document may hold
        mojibake): per document, a bool per segment of `segments` (False: `needs_fix` is
        provably false), or None where every segment must be checked. One Arrow pass over
        the lines of all those documents instead of a Python regex search per line, which
        was most of the stage's own time (issue 21)."""
        n = len(rows)
        if (not self.fast_path or self.normalization is not None or n == 0
                or self._trigger_re2 is None or (self.fix_encoding and self._bad_re2 is None)):
            return [None] * n
        text = docs.text.take(pa.array(rows, pa.int64()))
        lines = pc.split_pattern(text, "\n")
        if isinstance(lines, pa.ChunkedArray):
            lines = lines.combine_chunks()
        flat = lines.flatten()
        offsets = np.asarray(lines.offsets, dtype=np.int64)
        offsets -= offsets[0]
        counts = np.diff(offsets)
        last = np.zeros(len(flat), dtype=bool)
        last[offsets[1:] - 1] = True  # split_pattern gives every document at least one piece
        # the segments as ftfy sees them: every line but the last keeps its newline
        segs = pc.binary_join_element_wise(flat, pc.if_else(pa.array(last), "", "\n"), "")

        def matches(pattern: str) -> np.ndarray:
            if not pattern:
                return np.zeros(len(flat), dtype=bool)
            return pc.match_substring_regex(segs, pattern).to_numpy(
                zero_copy_only=False).astype(bool)

        maybe = matches(self._trigger_re2)
        if self.fix_encoding:
            assert self._bad_re2 is not None
            maybe |= matches(self._bad_re2) & np.repeat(bad, counts)
        long = pc.utf8_length(segs).to_numpy(zero_copy_only=False) > \
            self._config.max_decode_length
        has_long = np.add.reduceat(long, offsets[:-1]) > 0 if len(long) else np.zeros(n, bool)
        # segments() drops an empty last line
        keep = ~last | (pc.utf8_length(flat).to_numpy(zero_copy_only=False) > 0)
        out: list[np.ndarray | None] = []
        for d in range(n):
            a, b = offsets[d], offsets[d + 1]
            out.append(None if has_long[d] else maybe[a:b][keep[a:b]])
        return out

    def needs_fix(self, segment: str, may_be_bad: bool = True) -> bool:
        """Could ftfy change this segment (one line)? False only when provably not: no
        character an enabled fix acts on, and ftfy's own mojibake detector finds nothing
        (not run when `may_be_bad` is false: the batch prefilter proved it would not)."""
        if not self.fast_path or self.normalization is not None:
            return True  # normalisation may change any non-ASCII text
        from ftfy.badness import is_bad

        assert self._trigger is not None
        if self._trigger.search(segment):
            return True
        return may_be_bad and self.fix_encoding and not segment.isascii() and is_bad(segment)

    def segments(self, text: str) -> list[str]:
        """ftfy's unit of work: lines with their newline, cut at ``max_decode_length``."""
        limit = self._config.max_decode_length
        lines = text.split("\n")
        out = [line + "\n" for line in lines[:-1]]
        if lines[-1]:
            out.append(lines[-1])
        if any(len(seg) > limit for seg in out):
            out = [seg[k:k + limit] for seg in out for k in range(0, len(seg), limit)]
        return out

    def fix(self, text: str, may_be_bad: bool = True, maybe: np.ndarray | None = None
            ) -> tuple[str, list[str], int, int]:
        """Fixed text, the ftfy steps applied (``action:parameter``), lines changed and
        lines handed to ftfy. Same output as ``ftfy.fix_text`` with this stage's config
        (`may_be_bad`: false when `prefilter` proved no line looks like mojibake; `maybe`:
        per segment, false when `line_prefilter` proved it needs no fix)."""
        import ftfy

        config = self._config
        if config.unescape_html == "auto":  # decided per document (ftfy: per line, sticky)
            config = config._replace(unescape_html="<" not in text)
        out: list[str] = []
        steps: list[str] = []
        changed = calls = 0
        segments = self.segments(text)
        if maybe is not None and len(maybe) != len(segments):
            maybe = None  # a line cut at max_decode_length: check every segment
        for k, segment in enumerate(segments):
            if (maybe is not None and not maybe[k]) or not self.needs_fix(segment, may_be_bad):
                out.append(segment)
                continue
            calls += 1
            fixed, explanation = ftfy.fix_and_explain(segment, config)
            if fixed != segment:
                changed += 1
                for action, param in explanation or []:
                    step = f"{action}:{param}"
                    if step not in steps:
                        steps.append(step)
            out.append(fixed)
        return "".join(out), steps, changed, calls

    def transform(self, docs: Docs) -> Outcome:
        self.setup()
        n = docs.num_rows
        rows = np.flatnonzero(self.candidates(docs))
        trigger, bad = self.prefilter(docs, rows)
        rows, bad = rows[trigger | bad], bad[trigger | bad]
        if len(rows) == 0:
            return Outcome.keep_all(n)
        texts = docs.texts
        modified = np.zeros(n, dtype=bool)
        reason = np.full(n, None, dtype=object)
        detail: list[dict[str, Any] | None] = [None] * n
        new_text: dict[int, str] = {}
        calls = 0
        maybe = self.line_prefilter(docs, rows, bad)
        for i, may_be_bad, line_maybe in zip(rows, bad, maybe, strict=True):
            text = texts[i]
            fixed, steps, lines, n_calls = self.fix(text, bool(may_be_bad), line_maybe)
            calls += n_calls
            if fixed == text:
                continue
            modified[i] = True
            new_text[int(i)] = fixed
            reason[i] = self.reason(_primary(steps))
            detail[i] = {"fixes": steps, "lines": lines}
        docs.count("ftfy_lines", calls)
        if not new_text:
            return Outcome.keep_all(n)
        out = pa.array([new_text.get(i, t) for i, t in enumerate(texts)], pa.string())
        return Outcome(keep=np.ones(n, dtype=bool), reason=reason, detail=detail, text=out,
                       modified=modified)


def _primary(steps: list[str]) -> str:
    """The reason code: ``mojibake`` for any encoding repair, else the first fix's name."""
    for s in steps:
        action, _, param = s.partition(":")
        if action in _ENCODING_ACTIONS or param == "decode_inconsistent_utf8":
            return "mojibake"
    for s in steps:
        action, _, param = s.partition(":")
        if action == "apply":
            return param
    return "normalization" if not steps else steps[0].replace(":", "_")


def _badness_re2() -> str | None:
    """ftfy's mojibake detector as an RE2 pattern matching at least wherever it does (None:
    this ftfy's regex cannot be rewritten, and every line goes through ``is_bad``)."""
    from ftfy.badness import BADNESS_RE

    pattern = superset_re2(BADNESS_RE)
    if pattern is not None:
        try:
            pc.match_substring_regex(pa.array([""]), pattern)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
    return pattern


def _escape_class(c: str) -> str:
    return "\\" + c if c in "\\]^-[" else c
