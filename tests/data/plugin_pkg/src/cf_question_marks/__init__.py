"""The `question_marks` filter: remove documents whose lines are mostly questions.

An example plugin stage (docs/writing-a-stage.md), not a published rule.
"""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc

from corpusfilter import Filter, Rule, register
from corpusfilter.core.docs import Docs


@register
class QuestionMarks(Filter):
    """Remove documents where most non-empty lines end in a question mark.

    Args:
        max_ratio: remove documents where more than this fraction of lines end in "?".
    """

    name = "question_marks"
    version = 1

    def __init__(self, max_ratio: float | None = 0.5):
        if max_ratio is not None and not 0 <= max_ratio <= 1:
            raise ValueError("max_ratio must be in [0, 1]")
        self.max_ratio = max_ratio

    def score(self, docs: Docs) -> dict[str, np.ndarray]:
        lines = pc.split_pattern(docs.text, "\n")
        n_lines = pc.list_value_length(lines).to_numpy(zero_copy_only=False)
        flat = pc.list_flatten(lines)
        q = pc.ends_with(pc.utf8_rtrim_whitespace(flat), "?").to_numpy(zero_copy_only=False)
        starts = np.r_[0, np.cumsum(n_lines)[:-1]]
        per_doc = np.add.reduceat(q.astype(np.int64), starts) if len(q) else np.zeros(
            len(n_lines))
        per_doc = np.where(n_lines > 0, per_doc, 0)
        return {"question_ratio": per_doc / np.maximum(n_lines, 1)}

    def rules(self, docs: Docs) -> list[Rule]:
        return [Rule("question_ratio", "question_ratio", max=self.max_ratio)]
