"""Redaction: overlapping findings merged, placeholders written, and a second pass that
changes nothing.

Removing an entity can change what is found next to it: a placeholder's own word can be a
cue (``<PHONE_NUMBER>`` holds "PHONE"), and a number glued to an e-mail's local part stands
alone once the e-mail is gone. `settle` therefore analyses the redacted text again on the lines
near placeholders (`analyze_near_placeholders`) and merges what it finds (mapped back to
original offsets) until nothing new turns up, at most `MAX_ROUNDS` times, so that running the
stage on its own output changes nothing. Only documents that had findings are analysed again.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable

from corpusfilter.filters.pii.detection import Finding

MAX_ROUNDS = 3

# (start in redacted text, original start, original end, is a placeholder)
Segment = tuple[int, int, int, bool]


def resolve_overlaps(findings: list[Finding]) -> list[Finding]:
    """Non-overlapping findings for redaction: overlapping findings become one span covering
    all of them, typed (and scored) by the highest-scoring one, ties to the longer. No piece
    of a lower-scored overlapping finding is left in the text."""
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


def redact(text: str, spans: list[Finding], placeholder: str) -> tuple[str, list[Segment]]:
    """`text` with each (sorted, non-overlapping) span replaced by its placeholder, and the
    segments that map the redacted text back to the original."""
    parts: list[str] = []
    segments: list[Segment] = []
    pos = out = 0
    for f in spans:
        if f.start > pos:
            segments.append((out, pos, f.start, False))
            parts.append(text[pos:f.start])
            out += f.start - pos
        token = placeholder.format(entity=f.entity_type)
        segments.append((out, f.start, f.end, True))
        parts.append(token)
        out += len(token)
        pos = f.end
    segments.append((out, pos, len(text), False))
    parts.append(text[pos:])
    return "".join(parts), segments


def to_original(f: Finding, segments: list[Segment],
                starts: list[int] | None = None) -> Finding:
    """A finding in redacted text mapped to original offsets (a placeholder it touches is
    taken whole). `starts`: the segments' redacted starts, when mapping many findings."""
    if starts is None:
        starts = [s[0] for s in segments]

    def where(pos: int, is_end: bool) -> int:
        k = max(0, bisect.bisect_right(starts, pos - (1 if is_end else 0)) - 1)
        red_start, orig_start, orig_end, placeholder = segments[k]
        if placeholder:
            return orig_end if is_end else orig_start
        return min(orig_end, orig_start + pos - red_start)

    return Finding(where(f.start, False), where(f.end, True), f.entity_type, f.score)


def settle(text: str, spans: list[Finding], placeholder: str,
           analyze: Callable[[str], list[Finding]]) -> tuple[str, list[Finding]]:
    """The redacted text and its spans (original offsets), analysed again near the
    placeholders until a pass finds nothing new (module docstring)."""
    spans = resolve_overlaps(spans)
    red, segments = redact(text, spans, placeholder)
    for _ in range(MAX_ROUNDS):
        starts = [s[0] for s in segments]
        more = [to_original(f, segments, starts)
                for f in analyze_near_placeholders(red, segments, analyze)]
        if not more:
            break
        spans = resolve_overlaps(spans + more)
        red, segments = redact(text, spans, placeholder)
    return red, spans


def analyze_near_placeholders(red: str, segments: list[Segment],
                              analyze: Callable[[str], list[Finding]]) -> list[Finding]:
    """Findings in redacted text `red` on the lines a placeholder can affect, with the
    context every rule reads.

    A finding depends only on its own line and the line before it: no pattern spans a line
    break, and cue words are read on the current line and, for a number at the start of a
    line, the one before (`context.nearest_cue`). So a placeholder on line L can change
    findings on lines L and L+1 only; those are analysed with line L-1 (and L-2 for the
    cues of L-1's findings) as context, and findings starting before line L-1 are dropped.
    Lines are found by bisecting one list of line breaks, so many placeholders on one long
    line cost no more than the line."""
    breaks = [m.start() for m in _NEWLINE.finditer(red)]
    n = len(red)

    def line_start(pos: int) -> int:  # start of the line holding `pos`
        k = bisect.bisect_left(breaks, pos)
        return breaks[k - 1] + 1 if k > 0 else 0

    def line_end(pos: int) -> int:  # end of the line holding `pos` (its break or n)
        k = bisect.bisect_left(breaks, pos)
        return breaks[k] if k < len(breaks) else n

    windows: list[list[int]] = []  # [lo, keep_from, hi]
    for start, _, _, is_placeholder in segments:
        if not is_placeholder:
            continue
        line = line_start(start)
        keep_from = line_start(line - 1) if line > 0 else 0
        lo = line_start(keep_from - 1) if keep_from > 0 else 0
        end = line_end(start)
        hi = line_end(end + 1) if end < n else n
        if windows and lo <= windows[-1][2]:
            windows[-1][2] = max(windows[-1][2], hi)
        else:
            windows.append([lo, keep_from, hi])
    out = []
    for lo, keep_from, hi in windows:
        out.extend(Finding(f.start + lo, f.end + lo, f.entity_type, f.score)
                   for f in analyze(red[lo:hi]) if f.start + lo >= keep_from)
    return out


_NEWLINE = re.compile("\n")
