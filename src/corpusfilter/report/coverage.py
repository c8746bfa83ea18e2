"""Language coverage in the report: documents labelled ``und`` (the language model cannot
label their script or language, e.g. isiZulu, Sesotho or Māori for lid.176, which has no
label for them) as a group of their own, with their fate in every stage, and the run
summary's warning when they exceed a share of the corpus.

``und`` is the ISO 639-2 / BCP 47 code for "undetermined". Documents get it from the
`language` stage (filters/language.py) or from the input's own ``lang`` column.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow.compute as pc

from corpusfilter.report.data import Run

UND = "und"
# Warn when more than this share of the input is `und`: a twentieth of a corpus that no
# language filter or per-language threshold can treat as what it is deserves a look.
UND_WARN_SHARE = 0.05


def und_count(run: Run) -> int:
    """Documents of the run whose language column is ``und`` (ledger removals + output)."""
    col = run.config.get("lang_column", "lang")
    ids: set[str] = set()
    led = run.ledger
    if col in led.column_names and led.num_rows:
        rem = led.filter(pc.and_(pc.equal(led["action"], "removed"),
                                 pc.equal(led[col].cast("string"), UND)))
        ids.update(rem["doc_id"].to_pylist())
    id_col = run.config.get("id_column", "id")
    for t in run.data_tables([id_col, col]):  # any output format, local or at a URL
        if col in t.column_names and id_col in t.column_names:
            t = t.filter(pc.equal(t[col].cast("string"), UND))
            ids.update(t[id_col].cast("string").to_pylist())
    return len(ids)


def und_warning(run: Run, share: float = UND_WARN_SHARE) -> str | None:
    """The summary's warning, or None when `und` documents are at most `share` of the input."""
    total = run.stats.get("input", {}).get("docs", 0)
    n = und_count(run)
    if not total or n / total <= share:
        return None
    return (f"{n:,} of {total:,} documents ({n / total:.1%}) are `und`: the language model "
            f"cannot label their script or language (more than {share:.0%}); see their fate "
            f"with `corpusfilter report` (group lang={UND})")


def und_fate(table: Any, facet: str = "lang") -> dict[str, Any] | None:
    """The fate of the ``und`` documents in every stage: how many reached it, how many it
    removed, at what rate against the stage's overall rate, and how many were kept.

    `table` is the report's per-document view (analysis.DocTable)."""
    if facet not in table.facets:
        return None
    und = table.facets[facet] == UND
    n = int(und.sum())
    if not n:
        return None
    stages = []
    for i, stage in enumerate(table.stages):
        reached = (table.removed_at == -1) | (table.removed_at >= i)
        removed = table.removed_at == i
        n_in, x = int((reached & und).sum()), int((removed & und).sum())
        all_in = int(reached.sum())
        stages.append({"stage": stage, "in": n_in, "removed": x,
                       "rate": x / n_in if n_in else 0.0,
                       "overall": int(removed.sum()) / all_in if all_in else 0.0,
                       "reasons": _reasons(table.reason[removed & und])})
    return {"facet": facet, "docs": n, "share": n / len(table),
            "kept": int((und & (table.removed_at == -1)).sum()), "stages": stages}


def _reasons(values: np.ndarray) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in values.tolist():
        out[str(r)] = out.get(str(r), 0) + 1
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))
