"""Confounder-adjusted disparity: is a group removed more *because of who it is*, or because
its documents differ in something the filter legitimately looks at, such as length?

"Quality" filters act partly as length filters (Lucy et al., ACL 2024; Gururangan et al.,
EMNLP 2022), so a group of short documents is removed more by any of them. Beside a flag's raw
comparison, this module computes the Mantel–Haenszel rate ratio of the group against the rest
of the documents that reached the stage, stratified by document length (quantile bins) and
optionally by other facets (source, script), with the length bins at quantiles of the group's
own lengths so that each stratum holds a share of the group: the ratio that remains when the group is only
compared with documents of similar length. Its confidence interval uses the Greenland–Robins
variance of log RR_MH (Greenland & Robins 1985, Biometrics 41(1)), at the same family-wise z
as the flags. A flag *rests on* the adjusted ratio when that interval lies above 1; otherwise
the disparity is explained by the stratifying variables.

Document length is read from the run directory only: the ledger's ``text_chars`` for removed
documents (the length when removed), the output text's length for kept ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from statistics import NormalDist
from typing import Any

import numpy as np
import pyarrow.compute as pc

from corpusfilter.report.data import Run

LENGTH_BINS = 5  # quintiles: enough to separate short from long, each bin well populated


def doc_lengths(run: Run, ids: Sequence[str]) -> np.ndarray:
    """Characters per document (aligned with `ids`; NaN when unknown)."""
    cfg = run.config
    id_col, text_col = cfg.get("id_column", "id"), cfg.get("text_column", "text")
    known: dict[str, int] = {}
    led = run.ledger
    if led.num_rows:
        rem = led.filter(pc.equal(led["action"], "removed"))
        known.update(zip(rem["doc_id"].to_pylist(), rem["text_chars"].to_pylist(), strict=True))
    for t in run.data_tables([id_col, text_col]):
        if id_col not in t.column_names or text_col not in t.column_names:
            continue
        known.update(zip(t[id_col].cast("string").to_pylist(),
                         pc.utf8_length(t[text_col]).to_pylist(), strict=True))
    return np.array([np.nan if known.get(i) is None else known[i] for i in ids], dtype=float)


def length_strata(lengths: np.ndarray, bins: int = LENGTH_BINS,
                  reference: np.ndarray | None = None) -> np.ndarray:
    """Quantile bin of every length (equal lengths share a bin; NaN gets bin -1). The bin
    edges are quantiles of `reference` (default: `lengths` themselves)."""
    ok = ~np.isnan(lengths)
    out = np.full(len(lengths), -1, dtype=np.int64)
    ref = lengths if reference is None else reference
    ref = ref[~np.isnan(ref)]
    if not ok.any() or not len(ref):
        return out
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    out[ok] = np.searchsorted(edges, lengths[ok], side="right")
    return out


def mantel_haenszel(removed: np.ndarray, in_group: np.ndarray, strata: np.ndarray,
                    z: float = 1.959963984540054) -> dict[str, Any]:
    """Mantel–Haenszel rate ratio (group vs rest) over strata, with its interval.

    removed, in_group: bool per document; strata: int label per document.
    """
    num = den = var_num = 0.0
    used = 0
    for s in np.unique(strata):
        m = strata == s
        g, r = m & in_group, m & ~in_group
        n1, n0 = int(g.sum()), int(r.sum())
        if not n1 or not n0:
            continue  # a stratum without both sides carries no comparison
        a, c = int((removed & g).sum()), int((removed & r).sum())
        big_n = n1 + n0
        num += a * n0 / big_n
        den += c * n1 / big_n
        var_num += (n1 * n0 * (a + c) - a * c * big_n) / big_n ** 2
        used += 1
    n1_all, n0_all = int(in_group.sum()), int((~in_group).sum())
    x1, x0 = int((removed & in_group).sum()), int((removed & ~in_group).sum())
    crude = (x1 / n1_all) / (x0 / n0_all) if n1_all and n0_all and x0 else None
    out: dict[str, Any] = {"crude_ratio": crude, "strata": used, "ratio": None, "lo": None,
                           "hi": None}
    if num > 0 and den > 0:
        rr = num / den
        se = math.sqrt(max(var_num, 0.0) / (num * den))
        out.update(ratio=rr, lo=rr * math.exp(-z * se), hi=rr * math.exp(z * se))
    elif num > 0:  # only the group is removed in the comparable strata
        out.update(ratio=math.inf, lo=None, hi=math.inf)
    return out


def adjust_flags(run: Run, flags: list[dict[str, Any]], table: Any,
                 by: Sequence[str] = (), bins: int = LENGTH_BINS,
                 alpha: float = 0.05) -> None:
    """Add to every flag the length-adjusted (and `by`-adjusted) ratio and what it rests on.

    `table` is the report's per-document view (analysis.DocTable)."""
    if not flags:
        return
    ids = table.ids.to_pylist()
    lengths = doc_lengths(run, ids)
    for f in flags:
        i = table.stages.index(f["stage"])
        reached = ((table.removed_at == -1) | (table.removed_at >= i)) & ~np.isnan(lengths)
        removed = table.removed_at[reached] == i
        group = table.facets[f["facet"]][reached] == f["value"]
        # bins at the group's own length quantiles: each stratum holds a share of the group,
        # compared with the rest of the documents of the same length range
        strata = length_strata(lengths[reached], bins, lengths[reached][group]).astype(object)
        for other in by:
            if other != f["facet"] and other in table.facets:
                strata = strata.astype(str) + "|" + table.facets[other][reached].astype(str)
        _, codes = np.unique(strata.astype(str), return_inverse=True)
        # the flags' own family-wise level: Bonferroni over the pairs they judged
        z = NormalDist().inv_cdf(1 - alpha / (2 * max(f.get("comparisons", 1), 1)))
        mh = mantel_haenszel(removed, group, codes, z)
        mh["by"] = ["length", *[b for b in by if b != f["facet"] and b in table.facets]]
        mh["length_bins"] = bins
        holds = mh["lo"] is not None and mh["lo"] > 1
        if mh["ratio"] == math.inf:
            holds = True
        mh["holds"] = holds
        f["adjusted"] = mh
        f["rests_on"] = ("raw and " + "+".join(mh["by"]) + "-adjusted ratio" if holds else
                         "raw ratio only: explained by " + " and ".join(mh["by"]))


def describe(adjusted: Mapping[str, Any]) -> str:
    """One line for the terminal and the HTML page."""
    by = " and ".join(adjusted["by"])
    r = adjusted["ratio"]
    if r is None:
        return f"adjusted for {by}: no comparable removals in the same strata"
    ci = "" if adjusted["lo"] is None or r == math.inf else \
        f" [{adjusted['lo']:.2f}, {adjusted['hi']:.2f}]"
    crude = adjusted["crude_ratio"]
    verdict = "holds" if adjusted["holds"] else "explained"
    return (f"vs the rest: raw {crude:.2f}×, adjusted for {by} ({adjusted['strata']} strata) "
            f"{r:.2f}×{ci}: {verdict}" if crude is not None else
            f"adjusted for {by}: {r:.2f}×{ci}: {verdict}")
