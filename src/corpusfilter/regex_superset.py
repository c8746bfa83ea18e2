"""A Python regex rewritten for RE2 (Arrow's regex engine) so that it matches at least
wherever the original does: a batch-wide prefilter that proves, for most documents, that a
slow per-line Python regex search would find nothing.

Python's ``re`` tries every branch of a large alternation at every position; RE2 runs a DFA
in one pass. ``unicode_fix`` uses this for ftfy's mojibake detector (``ftfy.badness``), whose
per-line search was its largest cost.

Rules of the rewrite (each widens or keeps what matches, never narrows):

* literals and ranges are written as code points;
* ``\\d``, ``\\w`` and ``\\s`` become RE2 classes that hold every character Python's do
  (``\\p{Nd}``, ``[\\p{L}\\p{N}_]``, Unicode spaces; checked over every code point by
  tests/test_regex_superset.py); their negations, and negated classes holding one, become
  "any character" (the Unicode tables of the two engines differ: widen, never narrow);
* ``.`` becomes any character (newline included);
* ``^`` becomes RE2's multi-line ``^`` (it matches wherever a line starts, so a line's match
  is also found in the whole text); other anchors (``$``, ``\\b``) and look-arounds are
  dropped, a back-reference becomes its group's rewrite;
* anything else (conditional groups, flags other than ``re.VERBOSE``/``re.UNICODE``): no
  rewrite (``None``), and the caller keeps its slow path.

A match of the original inside one line (a substring of the document, newline included) is
then also a match of the rewrite in the document. The parser used is CPython's internal
``re._parser`` (3.11+; ``sre_parse`` before): this module is the only user, and any parser
it does not know makes ``superset_re2`` return ``None`` rather than guess.
"""

from __future__ import annotations

import re
from typing import Any

try:  # CPython >= 3.11
    import re._constants as _c  # type: ignore[import-not-found]
    import re._parser as _p  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - CPython 3.10
    try:
        import sre_constants as _c  # type: ignore[no-redef]
        import sre_parse as _p  # type: ignore[no-redef]
    except ImportError:
        _c = _p = None  # type: ignore[assignment]

ANY_CHAR = r"[\x{0}-\x{10ffff}]"
# Python's category -> an RE2 class body holding at least its characters (None: widen)
_CATEGORIES = {
    "CATEGORY_DIGIT": r"\p{Nd}",
    "CATEGORY_WORD": r"\p{L}\p{N}_",
    "CATEGORY_SPACE": r"\s\p{Z}\x{85}\x{1c}-\x{1f}\x{0b}",
}
_ALLOWED_FLAGS = re.VERBOSE | re.UNICODE


class _Unsupported(Exception):
    pass


def superset_re2(pattern: re.Pattern[str]) -> str | None:
    """An RE2 pattern matching (with ``search`` semantics) every string `pattern` matches in
    any one of its lines, applied to the whole text; None when it cannot be rewritten."""
    if _p is None or pattern.flags & ~_ALLOWED_FLAGS:
        return None
    try:
        return _emit(list(_p.parse(pattern.pattern, pattern.flags)), {})
    except (_Unsupported, AttributeError, TypeError, ValueError, re.error):
        return None


def code_point_class(chars: set[int]) -> str:
    """An RE2 class of these code points (surrogates dropped: valid UTF-8 has none)."""
    cps = sorted(c for c in chars if not 0xD800 <= c <= 0xDFFF)
    parts = []
    i = 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        parts.append(_cp(cps[i]) if i == j else f"{_cp(cps[i])}-{_cp(cps[j])}")
        i = j + 1
    return f"[{''.join(parts)}]" if parts else ""


def _cp(c: int) -> str:
    return f"\\x{{{c:x}}}"


def _emit(seq: list[Any], groups: dict[int, str]) -> str:
    """RE2 text for a parsed sequence; `groups`: the rewrite of each capturing group seen so
    far (a back-reference matches what its group matched, so the group's rewrite holds it)."""
    out = []
    for op, av in seq:
        if op is _c.LITERAL:
            out.append(_cp(av))
        elif op is _c.ANY:
            out.append(ANY_CHAR)
        elif op is _c.IN:
            out.append(_emit_class(av))
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT):
            lo, hi, sub = av
            if lo > 1000 or (hi is not _c.MAXREPEAT and hi > 1000):
                raise _Unsupported("RE2 repeats at most 1000 times")
            top = "" if hi is _c.MAXREPEAT else str(hi)
            out.append(f"(?:{_emit(list(sub), groups)}){{{lo},{top}}}")
        elif op is _c.BRANCH:
            out.append("(?:" + "|".join(_emit(list(alt), groups) for alt in av[1]) + ")")
        elif op is _c.SUBPATTERN:
            _group, add_flags, del_flags, sub = av
            if add_flags & ~_ALLOWED_FLAGS or del_flags:
                raise _Unsupported("inline flags")
            body = "(?:" + _emit(list(sub), groups) + ")"
            if _group is not None:
                groups[_group] = body
            out.append(body)
        elif op is _c.AT and av is _c.AT_BEGINNING:
            out.append("(?m:^)")
        elif op in (_c.AT, _c.ASSERT, _c.ASSERT_NOT):
            continue  # a condition on the surroundings: dropping it only widens
        elif op is _c.GROUPREF:
            out.append(groups.get(av, ANY_CHAR + "*"))
        else:
            raise _Unsupported(str(op))
    return "".join(out)


def _emit_class(items: list[Any]) -> str:
    negate = False
    body = []
    for op, av in items:
        if op is _c.NEGATE:
            negate = True
        elif op is _c.LITERAL:
            body.append(_cp(av))
        elif op is _c.RANGE:
            body.append(f"{_cp(av[0])}-{_cp(av[1])}")
        elif op is _c.CATEGORY:
            body.append(_CATEGORIES.get(str(av), ""))
            if negate or not body[-1]:
                return ANY_CHAR  # a negated or unknown category: widen
        else:
            raise _Unsupported(str(op))
    if not body:
        return ANY_CHAR if negate else "[^\\x{0}-\\x{10ffff}]"
    return f"[{'^' if negate else ''}{''.join(body)}]"
