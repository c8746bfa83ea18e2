"""Rates of the removal report: the funnel, removal rates by group with Wilson intervals, and
the disparity flags (Bonferroni-corrected) with each flagged group's top reasons."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from corpusfilter.core.errors import CorpusFilterError
from corpusfilter.report.data import Run, wilson
from corpusfilter.report.doctable import DocTable, value_counts

INPUT_STAGE = "input"


@dataclass(frozen=True)
class Options:
    """Thresholds of the disparity flags.

    k: flag a group removed at >= k times the stage's overall rate...
    margin: ...or whose 95% interval lies entirely above the overall rate by this much
        (absolute, as a fraction: 0.05 = 5 percentage points).
    min_support: groups that fewer documents reached are "too few to judge", never flagged.

    alpha: family-wise error level: either way a flag also needs the group's Wilson interval,
        widened for the number of stage × group pairs judged (Bonferroni), to lie above the
        overall rate: a ratio that chance alone explains is not evidence.
    """

    k: float = 2.0
    margin: float = 0.05
    min_support: int = 30
    alpha: float = 0.05
    # confounders (report/confounders.py): flags also get a ratio adjusted for length
    adjust_by: tuple[str, ...] = ()  # ...and for these facets
    length_bins: int = 5

    def __post_init__(self) -> None:
        if not self.k > 1:
            raise CorpusFilterError(f"--k must be greater than 1, got {self.k}")
        if not 0 <= self.margin < 1:
            raise CorpusFilterError(f"--margin must be in [0, 1), got {self.margin}")
        if not 0 < self.alpha < 1:
            raise CorpusFilterError(f"--alpha must be in (0, 1), got {self.alpha}")
        if self.min_support < 1:
            raise CorpusFilterError(f"--min-support must be at least 1, got {self.min_support}")
        if self.length_bins < 1:
            raise CorpusFilterError(f"--length-bins must be at least 1, got {self.length_bins}")


def funnel(stats: Mapping[str, Any], order: Sequence[str],
           kinds: Mapping[str, str]) -> dict[str, Any]:
    stages = []
    for label in order:
        s = stats["stages"].get(label)
        if s is None:
            continue
        n = s["in"]
        reasons = sorted(s.get("reasons", {}).items(), key=lambda kv: (-kv[1], kv[0]))
        stages.append({
            "stage": label, "kind": kinds.get(label, "input" if label == INPUT_STAGE else ""),
            "in": n, "removed": s["removed"], "modified": s.get("modified", 0),
            "out": n - s["removed"], "rate": s["removed"] / n if n else 0.0,
            "chars_in": s.get("chars_in"), "chars_removed": s.get("chars_removed"),
            "chars_modified": s.get("chars_modified", 0), "chars_out": s.get("chars_out"),
            "reasons": [{"reason": r, "count": c} for r, c in reasons],
        })
    return {"input": dict(stats.get("input", {})), "stages": stages,
            "output": dict(stats.get("output", {}))}


def group_rates(stats: Mapping[str, Any], order: Sequence[str],
                facets: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for label in order:
        s = stats["stages"].get(label)
        if s is None or not s["in"]:
            continue
        overall = s["removed"] / s["in"]
        for f in facets:
            for value, c in sorted(s.get("by", {}).get(f, {}).items()):
                n, x = c["in"], c["removed"]
                if n == 0:
                    continue
                lo, hi = wilson(x, n)
                rate = x / n
                rows.append({
                    "stage": label, "facet": f, "value": value, "in": n, "removed": x,
                    "modified": c.get("modified", 0),
                    "chars_modified": c.get("chars_modified", 0), "rate": rate, "lo": lo, "hi": hi,
                    "overall": overall,
                    "ratio": rate / overall if overall > 0 else None,
                })
    return rows


def disparity(rates: Sequence[Mapping[str, Any]], opts: Options,
              reasons_of: Any = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(flags, too_few): flags ranked by how far the interval lies above the overall rate.

    A report compares many stage × group pairs, so the evidence bar is corrected for their
    number (Bonferroni): a group is only flagged when its Wilson interval at the family-wise
    level `opts.alpha` (two-sided alpha / (2 m) per tail for m judged pairs) lies above the
    stage's overall rate. On a corpus without disparity, a report then flags nothing with
    probability >= 1 - alpha, however many groups and stages it has.
    """
    judged = [r for r in rates
              if r["overall"] > 0 and r["removed"] > 0 and r["in"] >= opts.min_support]
    z = NormalDist().inv_cdf(1 - opts.alpha / (2 * max(len(judged), 1)))
    flags, too_few = [], []
    for r in rates:
        overall = r["overall"]
        if overall <= 0 or r["removed"] == 0:
            continue
        by_ratio = r["rate"] >= opts.k * overall
        by_interval = r["lo"] >= overall + opts.margin
        if r["in"] < opts.min_support:
            if by_ratio or by_interval:
                too_few.append({**r, "would_flag": True})
            continue
        lo_adj, _ = wilson(r["removed"], r["in"], z)
        if not (lo_adj > overall and (by_ratio or by_interval)):
            continue
        rule = "+".join(n for n, hit in (("ratio", by_ratio), ("interval", by_interval)) if hit)
        excess = r["removed"] - r["in"] * overall
        flag = {**r, "rule": rule, "lo_adjusted": lo_adj, "comparisons": len(judged),
                "lo_ratio": lo_adj / overall, "excess": excess}
        if reasons_of is not None:
            flag["top_reasons"] = reasons_of(r["stage"], r["facet"], r["value"])
        flag["evidence"] = (
            f"{r['stage']} removed {r['removed']:,} of {r['in']:,} {r['facet']}={r['value']} "
            f"documents ({r['rate']:.1%}, 95% CI {r['lo']:.1%}–{r['hi']:.1%}) vs "
            f"{overall:.1%} overall: {r['rate'] / overall:.1f}×, ~{excess:,.0f} more than the "
            f"overall rate predicts")
        flags.append(flag)
    flags.sort(key=lambda f: (-f["lo_ratio"], -f["excess"], f["stage"], f["facet"], f["value"]))
    too_few.sort(key=lambda f: (f["stage"], f["facet"], f["value"]))
    return flags, too_few


def reasons_from_docs(table: DocTable, removed_at: np.ndarray, reasons: np.ndarray) -> Any:
    def reasons_of(stage: str, facet: str, value: str) -> list[dict[str, Any]]:
        i = table.stages.index(stage)
        m = (removed_at == i) & (table.facets[facet] == value)
        return [{"reason": r, "count": c}
                for r, c in sorted(value_counts(reasons[m]).items(), key=lambda kv: -kv[1])[:3]]
    return reasons_of




def stage_kinds(run: Run) -> dict[str, str]:
    return {d["label"]: d.get("kind", "") for d in run.stage_entries}


