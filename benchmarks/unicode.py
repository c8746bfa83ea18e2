"""Benchmark of the `unicode_fix` stage against calling ftfy on every document.

Run: .venv/bin/python benchmarks/unicode.py [--repeat N]

On the real web corpus (web_docs.parquet, 1,425 documents), in the same run:
* baseline: ``ftfy.fix_text(text, config)`` on every document, with the stage's own
  conservative configuration (same output as the stage: checked and printed);
* ``ftfy.fix_text(text)`` with ftfy's defaults, for reference;
* the stage (fast path on), and the stage with ``fast_path: false``.
Also prints how many documents each fix touched, and whether running `unicode_fix` before
`language` changes any language label (it decides the recommended order of the two stages).
Reads ../shared/data in place.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

import ftfy
import pyarrow as pa
import pyarrow.parquet as pq

from corpusfilter.core.docs import Docs
from corpusfilter.filters.unicode import UnicodeFix

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def best_of(fn, repeat: int) -> tuple[float, object]:
    best = float("inf")
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    for name in ("web_docs", "toxic_tweets"):
        table = pq.read_table(DATA / f"{name}.parquet", columns=["id", "text"])
        texts = table["text"].to_pylist()
        batch = pa.record_batch({"id": table["id"].to_pylist(), "text": texts})
        stage = UnicodeFix()
        stage.setup()
        slow_stage = UnicodeFix(fast_path=False)
        slow_stage.setup()
        config = stage._config._replace(explain=False)

        def baseline(texts=texts, config=config) -> list[str]:
            return [ftfy.fix_text(t, config._replace(unescape_html="<" not in t))
                    for t in texts]

        def defaults(texts=texts) -> list[str]:
            return [ftfy.fix_text(t) for t in texts]

        def ours(stage=stage, batch=batch):
            return stage.transform(Docs(batch))

        def ours_slow(stage=slow_stage, batch=batch):
            return stage.transform(Docs(batch))

        t_base, ref = best_of(baseline, args.repeat)
        t_def, _ = best_of(defaults, args.repeat)
        t_ours, out = best_of(ours, args.repeat)
        t_slow, _ = best_of(ours_slow, args.repeat)
        got = out.text.to_pylist() if out.text is not None else texts
        n = len(texts)
        chars = sum(len(t) for t in texts)
        print(f"{name}: {n} docs, {chars / n:,.0f} chars/doc on average")
        print(f"  ftfy.fix_text, stage config, every doc : {n / t_base:8.0f} docs/s (baseline)")
        print(f"  ftfy.fix_text, ftfy defaults          : {n / t_def:8.0f} docs/s "
              f"(ratio {t_base / t_def:.2f}x)")
        print(f"  unicode_fix (fast path)               : {n / t_ours:8.0f} docs/s "
              f"(ratio {t_base / t_ours:.2f}x)")
        print(f"  unicode_fix (fast_path: false)        : {n / t_slow:8.0f} docs/s "
              f"(ratio {t_base / t_slow:.2f}x)")
        same = sum(a == b for a, b in zip(got, ref, strict=True))
        print(f"  output identical to the baseline: {same}/{n}")
        modified = 0 if out.modified is None else int(out.modified.sum())
        reasons = Counter(r for r in out.reason if r is not None)
        print(f"  modified: {modified} docs; by reason: {dict(reasons.most_common())}")
        docs = Docs(batch)
        cand = stage.candidates(docs)
        lines = sum(len(stage.segments(t)) for t in texts)
        calls = sum(stage.fix(texts[i])[3] for i in range(n) if cand[i])
        print(f"  fast path: {n - int(cand.sum())} docs skipped by the Arrow ASCII check; "
              f"ftfy ran on {calls} of {lines} lines")
    order_effect()


def order_effect() -> None:
    from corpusfilter.core.pipeline import Pipeline

    table = pq.read_table(DATA / "web_docs.parquet", columns=["id", "text"])
    lang_only = Pipeline({"stages": [{"stage": "language", "label_only": True}]}).run(table)
    fixed_first = Pipeline({"stages": [{"stage": "unicode_fix"},
                                       {"stage": "language", "label_only": True}]}).run(table)
    a = lang_only.kept.sort_by("id")
    b = fixed_first.kept.sort_by("id")
    changed = sum(x != y for x, y in zip(a["lang"].to_pylist(), b["lang"].to_pylist(),
                                         strict=True))
    deltas = [abs(x - y) for x, y in zip(a["lang_score"].to_pylist(),
                                         b["lang_score"].to_pylist(), strict=True)
              if x is not None and y is not None]
    print(f"web_docs, unicode_fix before language: {changed} of {a.num_rows} labels change; "
          f"largest lang_score change {max(deltas):.4f} "
          f"({fixed_first.ledger.num_rows} documents repaired)")


if __name__ == "__main__":
    main()
