"""How often the default recipe's second language pass (``language_content``) would ask the
backend about exactly the input the first pass (``language``) already labelled (issue 21).

Run: ``.venv/bin/python benchmarks/language_reuse.py [--docs 5000]``

The ensemble's answer is a function of the sample it is given (the first ``sample_chars``
characters, newlines as spaces; empty for documents with too few letters), so wherever
``language_content`` sees, for a document, the very sample ``language`` saw, the first
label could be reused instead of calling CLD2 (and lid.176) again. This runs the default
recipe in process on ``web_docs.parquet`` (whole pages) and on the first ``--docs`` 2 KB
chunks of ``benchmarks/pipeline.py``, records both passes' samples per document id, and
prints the share of ``language_content``'s documents whose sample is byte-equal to the first
pass's (Wilson 95% interval). unicode_fix, boilerplate_lines and c4_quality run in between,
and almost every page loses or changes a line within its first 1,000 characters, so the
share is small (measured 2.2% and 1.2%): the reuse is not worth a memo that would have to
cross the phase boundary that boilerplate_lines' plan puts between the two passes.

Reads ../shared/data in place.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
DATA = HERE.parent.parent / "shared" / "data"


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return math.nan, math.nan
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return c - h, c + h


def samples_by_pass(table: pa.Table) -> dict[str, dict[str, str]]:
    """Per pass label, per document id: the sample the backend was given ("" = none)."""
    from corpusfilter import Pipeline
    from corpusfilter.filters.language import Language

    seen: dict[str, dict[str, str]] = {}
    original = Language.predictions

    def recording(self: Language, docs: Any) -> Any:
        out = original(self, docs)
        samples, letters, _ = self._sample(docs, self._backend.scripts)
        mine = seen.setdefault(self.label, {})
        for doc_id, sample, n in zip(docs.ids.to_pylist(), samples, letters, strict=True):
            mine[doc_id] = sample if n >= self.min_letters else ""
        return out

    Language.predictions = recording  # type: ignore[method-assign]
    try:
        Pipeline.load("default", max_removal_rate=1.0).run(table, batch_size=1000)
    finally:
        Language.predictions = original  # type: ignore[method-assign]
    return seen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=5000)
    args = ap.parse_args()
    import pipeline as bp

    web = pq.read_table(DATA / "web_docs.parquet", columns=["id", "text", "source"])
    texts = bp.chunks()[:args.docs]
    chunks = pa.table({"id": [str(i) for i in range(len(texts))], "text": texts})
    print(f"{'corpus':16s} {'2nd-pass docs':>13s} {'same sample':>11s} {'share':>7s}  95% CI")
    for name, table in (("web_docs", web), (f"2 KB chunks {len(texts)}", chunks)):
        seen = samples_by_pass(table)
        first, second = seen["language"], seen["language_content"]
        same = sum(1 for k, s in second.items() if first.get(k) == s)
        lo, hi = wilson(same, len(second))
        print(f"{name:16s} {len(second):>13,} {same:>11,} {same / len(second):>7.1%}  "
              f"[{lo:.1%}, {hi:.1%}]", flush=True)


if __name__ == "__main__":
    main()
