"""Redaction: overlapping findings merged, placeholders written, and a second pass that
changes nothing.

Removing an entity can change what is found next to it: a placeholder's own word can be a
cue (``<PHONE_NUMBER>`` holds "PHONE"), and a number glued to an e-mail's local part stands
alone once the e-mail is gone. `settle` therefore analyses the redacted text again and
merges what it finds (mapped back to original offsets) until nothing new turns up, at most
`MAX_ROUNDS` times, so that running the stage on its own output changes nothing. Only
documents that had findings are analysed again.
"""

from __future__ import annotations

import bisect
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
    """The redacted text and its spans (original offsets), analysed again until a pass finds
    nothing new (module docstring)."""
    spans = resolve_overlaps(spans)
    red, segments = redact(text, spans, placeholder)
    for _ in range(MAX_ROUNDS):
        starts = [s[0] for s in segments]
        more = [to_original(f, segments, starts) for f in analyze(red)]
        if not more:
            break
        spans = resolve_overlaps(spans + more)
        red, segments = redact(text, spans, placeholder)
    return red, spans
