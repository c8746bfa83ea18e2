"""`doc_length`: bounds on a document's length in characters and words.

Not from one paper: every pipeline has such a guard (C4 and Gopher both bound length, see
`gopher_quality` for the word-count rule with the Gopher defaults). Words here are
whitespace-separated tokens; use `gopher_quality` for script-aware word counts.
"""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc

from corpusfilter.core.docs import Docs
from corpusfilter.core.params import Count
from corpusfilter.core.registry import register
from corpusfilter.core.stage import Filter, Rule

_WORD_RE = r"[^\s\v\p{Z}\x{1c}-\x{1f}\x{85}]+"


@register
class DocLength(Filter):
    """Remove documents that are too short or too long.

    Default: remove only empty documents (`min_chars` 1); set the other bounds as needed.
    Reasons: ``doc_length.min_chars``, ``.max_chars``, ``.min_words``, ``.max_words``.

    Args:
        min_chars: remove documents with fewer characters (None: off).
        max_chars: remove documents with more characters (None: off).
        min_words: remove documents with fewer whitespace-separated words (None: off).
        max_words: remove documents with more whitespace-separated words (None: off).
    """

    name = "doc_length"
    version = 1

    def __init__(self, min_chars: Count | None = 1, max_chars: Count | None = None,
                 min_words: Count | None = None, max_words: Count | None = None):
        self.min_chars, self.max_chars = min_chars, max_chars
        self.min_words, self.max_words = min_words, max_words

    def score(self, docs: Docs) -> dict[str, np.ndarray]:
        scores = {"chars": docs.text_chars.astype(np.float64)}
        if self.min_words is not None or self.max_words is not None:
            # a regex count, not utf8_split_whitespace (which yields empty "words" for leading
            # and trailing whitespace); whitespace as Python's str.split() defines it
            words = pc.count_substring_regex(docs.text, _WORD_RE)
            scores["words"] = words.to_numpy(zero_copy_only=False).astype(np.float64)
        return scores

    def rules(self, docs: Docs) -> list[Rule]:
        return [
            Rule("min_chars", "chars", min=self.min_chars),
            Rule("max_chars", "chars", max=self.max_chars),
            Rule("min_words", "words", min=self.min_words),
            Rule("max_words", "words", max=self.max_words),
        ]
