"""Precision/recall of the `toxicity` stage's thresholds, and its removal rates on web text.

Reads ``../shared/data`` in place (not shipped):

* ``toxic_tweets.parquet`` (Davidson et al. 2017): positives = tweets labelled hate speech or
  offensive, negatives = "neither". For each rule and threshold: precision, recall, share of
  tweets removed.
* ``web_docs.parquet``: removal rate of the default configuration by ``source`` and by declared
  ``lang`` (the Dodge et al. 2021 question: whom does a block list hit?).
* ``langid.parquet``: share of ordinary zh/ja/th sentences that each substring term hits (the
  reason for allowlists), and the stage's removal rate per language on ordinary sentences.
* throughput of the stage against a baseline measured in the same run (a bare ``str.lower`` +
  ``re.findall`` tokenisation pass over the same texts).

Run: ``.venv/bin/python benchmarks/toxicity_thresholds.py``
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from corpusfilter import Pipeline
from corpusfilter.core.docs import Docs
from corpusfilter.filters.toxicity import SUBSTRING_LANGS, Toxicity, token_re

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def scores_of(stage: Toxicity, table: pa.Table) -> dict[str, np.ndarray]:
    out: dict[str, list[np.ndarray]] = {}
    for b in table.to_batches(max_chunksize=2000):
        for k, v in stage.score(Docs(b)).items():
            out.setdefault(k, []).append(v)
    return {k: np.concatenate(v) for k, v in out.items()}


def pr(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    tp = int((pred & truth).sum())
    p = tp / max(int(pred.sum()), 1)
    r = tp / max(int(truth.sum()), 1)
    return p, r, float(pred.mean())


def tweets() -> None:
    t = pq.read_table(DATA / "toxic_tweets.parquet", columns=["id", "text", "label"])
    t = t.append_column("lang", pa.array(["en"] * t.num_rows))
    truth = np.asarray(t["label"].to_numpy()) != 2
    print(f"## toxic_tweets: {t.num_rows:,} tweets, {truth.mean():.1%} hate/offensive")
    stage = Toxicity()
    s = scores_of(stage, t)
    print("| rule | threshold (remove when >) | precision | recall | removed |")
    print("|---|---|---|---|---|")
    for metric, label, thresholds in (
        ("matches", "matches (any list)", [0, 1, 2]),
        ("severe_matches", "severe matches (Surge)", [0, 1]),
        ("flagged_fraction", "flagged fraction", [0.0, 0.02, 0.05, 0.1, 0.2]),
    ):
        for th in thresholds:
            p, r, rem = pr(np.nan_to_num(s[metric]) > th, truth)
            print(f"| {label} | {th:g} | {p:.3f} | {r:.3f} | {rem:.1%} |")
    d = Toxicity()
    res = Pipeline([d], max_removal_rate=None).run(t, batch_size=2000)
    pred = ~np.isin(t["id"].to_numpy(zero_copy_only=False),
                    res.kept["id"].to_numpy(zero_copy_only=False))
    p, r, rem = pr(pred, truth)
    print(f"| **default** (max_severe 1, max_fraction 0.02) | | {p:.3f} | {r:.3f} | {rem:.1%} |")
    for only in (("ldnoobw",), ("surge",)):
        st = Toxicity(lists=list(only), max_severe=None, max_fraction=None, max_matches=0)
        m = scores_of(st, t)["matches"] > 0
        p, r, rem = pr(m, truth)
        print(f"| any match, {only[0]} only (C4 rule) | 0 | {p:.3f} | {r:.3f} | {rem:.1%} |")
    print()


def web() -> None:
    t = pq.read_table(DATA / "web_docs.parquet", columns=["id", "text", "source", "lang"])
    res = Pipeline([Toxicity()], max_removal_rate=None).run(t, batch_size=500)
    removed = Counter()
    for row in res.ledger.select(["source", "lang"]).to_pylist():
        removed[("source", row["source"])] += 1
        removed[("lang", row["lang"] or "(none)")] += 1
    total = Counter(("source", s) for s in t["source"].to_pylist())
    total.update(("lang", x or "(none)") for x in t["lang"].to_pylist())
    print(f"## web_docs: default toxicity removes {res.ledger.num_rows} of {t.num_rows:,} "
          f"({res.ledger.num_rows / t.num_rows:.1%}); reasons "
          f"{dict(res.stats.data['stages']['toxicity']['reasons'])}")
    c4 = Pipeline([Toxicity(max_severe=None, max_fraction=None, max_matches=0)],
                  max_removal_rate=None).run(t, batch_size=500)
    c4_removed = Counter()
    for row in c4.ledger.select(["source", "lang"]).to_pylist():
        c4_removed[("source", row["source"])] += 1
        c4_removed[("lang", row["lang"] or "(none)")] += 1
    print(f"C4 rule (any match) removes {c4.ledger.num_rows} ({c4.ledger.num_rows / t.num_rows:.1%})")
    print("| facet | value | docs | removed (default) | rate | removed (C4 rule) | rate |")
    print("|---|---|---|---|---|---|---|")
    for (facet, value), n in sorted(total.items(), key=lambda kv: (kv[0][0], -kv[1])):
        if n < 5:
            continue
        a, b = removed[(facet, value)], c4_removed[(facet, value)]
        print(f"| {facet} | {value} | {n} | {a} | {a / n:.1%} | {b} | {b / n:.1%} |")
    print()


def ordinary_sentences() -> None:
    t = pq.read_table(DATA / "langid.parquet", columns=["text", "lang", "kind"])
    mask = np.asarray(t["kind"].to_numpy(zero_copy_only=False) == "sentence")
    t = t.filter(pa.array(mask))
    t = t.append_column("id", pa.array([f"s{i}" for i in range(t.num_rows)]))
    print("## ordinary sentences (langid.parquet, Leipzig corpora): share hit by a term")
    for lang in sorted(SUBSTRING_LANGS):
        sub = t.filter(pa.array(np.asarray(t["lang"].to_numpy(zero_copy_only=False)) == lang))
        for allow in (False, True):
            st = Toxicity(use_default_allowlist=allow)
            lex = st.lexicon(lang)
            hits: Counter[str] = Counter()
            docs_hit = 0
            for text in sub["text"].to_pylist():
                counts, _, _ = lex.match(text.lower())
                nz = np.flatnonzero(counts)
                docs_hit += bool(len(nz))
                hits.update(lex.terms[i].text for i in nz)
            top = ", ".join(f"{k} {v / sub.num_rows:.1%}" for k, v in hits.most_common(5))
            print(f"- {lang} ({sub.num_rows} sentences), allowlist {'on' if allow else 'off'}: "
                  f"{docs_hit / sub.num_rows:.1%} contain a term; top terms: {top}")
    res = Pipeline([Toxicity()], max_removal_rate=None).run(t, batch_size=2000)
    by = res.stats.data["stages"]["toxicity"]["by"]["lang"]
    rates = sorted(((v["removed"] / v["in"], k, v["removed"], v["in"]) for k, v in by.items()),
                   reverse=True)
    print("- default stage, removal rate per language on ordinary sentences (top 10): "
          + ", ".join(f"{k} {r:.1%} ({n}/{m})" for r, k, n, m in rates[:10]))
    print()


def speed() -> None:
    t = pq.read_table(DATA / "web_docs.parquet", columns=["id", "text", "lang"])
    texts = t["text"].to_pylist()
    tok = token_re()
    t0 = time.perf_counter()
    for x in texts:
        tok.findall(x.lower())
    base = time.perf_counter() - t0
    stage = Toxicity()
    stage.setup()
    scores_of(stage, t.slice(0, 50))  # build the lexicons
    t0 = time.perf_counter()
    scores_of(stage, t)
    took = time.perf_counter() - t0
    mb = sum(len(x.encode()) for x in texts) / 1e6
    print(f"## speed: {mb:.1f} MB of web_docs: toxicity {took:.2f} s ({mb / took:.1f} MB/s); "
          f"baseline lower+tokenise {base:.2f} s; ratio {took / base:.2f}x the baseline")


if __name__ == "__main__":
    tweets()
    web()
    ordinary_sentences()
    speed()
