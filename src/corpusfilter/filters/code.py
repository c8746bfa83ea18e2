"""Lines of program code in text, so that prose rules can leave them alone (issue 16).

Prose rules (a line must end like a sentence, have three words; a page must hold enough
sentences, letters, stop words and no repeated n-grams) misjudge code: an answer on a Q&A
site, a tutorial or a README keeps its code in lines that end in ``;``, ``{`` or ``)`` and
repeat names. `code_lines` marks, per line of every document of a batch:

* **fenced blocks**: the lines between two Markdown fences (```` ``` ```` or ``~~~``), the
  fences included (CommonMark, section 4.5);
* **lines that are code by their syntax**: statements of common languages (``import``,
  ``def``, ``return``, ``#include``, ``var``/``let``/``const``, ...), assignments and calls
  (``name = value``, ``obj.method(arg)``), lines ending in ``;``, ``{`` or ``}``, lines that
  are only brackets, shell and REPL prompts (``$ ``, ``>>> ``), comments (``//``, ``/*``,
  ``# `` before code) and markup tags on a line of their own.

Indentation alone is not used: in raw page text (WET-like) navigation menus are indented
too. The patterns are deliberately narrow (no prose sentence starts with ``def`` and ends in
``:``); `benchmarks/defaults.py` measures their effect on curated articles, boilerplate and
DCLM's human labels.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusfilter.core.docs import Docs
from corpusfilter.filters.text import Pieces, as_text, split_lines

_FENCE = r"^\s*(```|~~~)"
_KEYWORDS = (
    r"import|from\s+[\w.]+\s+import|def|class|return|yield|raise|elif|except|lambda|"
    r"var|let|const|function|async|await|public|private|protected|static|void|int|"
    r"char|float|double|bool|boolean|struct|enum|typedef|namespace|using|"
    r"package|fn|impl|pub|func|#include|#define|#ifdef|#endif|#!|echo|printf|"
    r"console\.log|System\.out|std::|SELECT|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|"
    r"CREATE\s+TABLE|ALTER\s+TABLE|sudo|pip|npm|git|apt-get|cd|mkdir|ls|cat|grep"
)
_CODE_LINE = "|".join((
    # a statement keyword followed by code punctuation somewhere on the line
    rf"^\s*({_KEYWORDS})\b.*[(){{}}\[\];:=<>$\"'.]",
    # ends like a statement (with code punctuation before) or opens a block
    r"([=\[\]{}]|\w\().*;\s*$",
    r"[{]\s*$",
    r"^\s*[})\]][)}\];,]*\s*$",
    r"^\s*[)}\]]*\s*(else|catch|finally)\b.*[{:]\s*$",
    # an assignment or a call: name = ..., obj.attr(...), $obj->attr, name(...)
    r"^\s*[$@]?[A-Za-z_][\w.$\[\]'\"]*\s*(=|\+=|-=|\*=|/=|:=|=>|==|!=|<-)\s*\S",
    r"^\s*[$@]?[A-Za-z_][\w$]*(\.[A-Za-z_][\w$]*)+\([^()]*\)?",
    r"^\s*\$\w+->\w",
    r"^\s*[a-z_]\w*\([^()]*\)\s*[;{]?\s*$",
    # prompts and comments
    r"^\s*(\$|>>>) +\S",
    r"^\s*(//|/\*|\*/|<!--|-->)",
    # a JSON or dict member: "key": value
    r"^\s*\"[^\"\s]+\"\s*:\s*\S",
    # a markup tag on a line of its own
    r"^\s*</?[A-Za-z][\w:-]*(\s+[\w:-]+(=\"[^\"]*\"|='[^']*')?)*\s*/?>\s*$",
))


def code_lines(lines: Pieces) -> np.ndarray:
    """Per line (of every document, flattened as `lines`): the line is program code."""
    n = len(lines.values)
    if n == 0:
        return np.zeros(0, dtype=bool)
    fence = lines.matches(_FENCE)
    syntax = lines.matches(_CODE_LINE)
    if not fence.any():
        return syntax
    # inside a fenced block: an odd number of fences earlier in the same document
    before = np.cumsum(fence) - fence
    at_doc_start = before[lines.offsets[:-1][lines.counts > 0]]
    base = np.zeros(lines.num_docs, dtype=np.int64)
    base[lines.counts > 0] = at_doc_start
    inside = ((before - base[lines.doc]) % 2 == 1) | fence
    return syntax | inside


def prose_text(text: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Every document without its code lines (`code_lines`), the other lines joined by
    newlines: what prose metrics should measure. Documents without code are unchanged."""
    text = as_text(text)
    if len(text) == 0:
        return text
    lines = split_lines(text)
    code = code_lines(Pieces(pc.utf8_trim_whitespace(lines.values), lines.offsets))
    if not code.any():
        return text
    has_code = lines.sum(code) > 0
    joined = lines.select(~code).join("\n")
    return pc.if_else(pa.array(has_code), joined, text.cast(pa.string()))


def prose_of(docs: Docs) -> pa.Array:
    """`prose_text` of the documents, once per batch: the pipeline carries it to the next
    stages that ask (gopher_repetition, gopher_quality and fineweb_quality all measure
    prose) until a stage rewrites the text."""
    return docs.derived.get("prose_text", docs.text, lambda: prose_text(docs.text))


def chars(text: pa.Array) -> np.ndarray:
    """Characters per document."""
    return pc.utf8_length(text).to_numpy(zero_copy_only=False).astype(np.int64)
