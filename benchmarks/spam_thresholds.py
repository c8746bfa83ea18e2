"""Precision, recall and removal rates of the `spam` stage on real data; prints Markdown.

Run: `.venv/bin/python benchmarks/spam_thresholds.py` (reads ../shared/data in place; ~10 s).
Its output is what docs/spam.md reports.

Evaluation sets (all real text, nothing generated):
* good: `main_text` of web_docs (curated article bodies of real pages), DCLM human-labelled
  documents with label 1 (quality_labeled), and the already-clean corpora in web_docs (c4,
  stackexchange, arxiv, nih_exporter, uspto, redpajama-cc).
* boilerplate: for every web_docs page with a curated `main_text`, the page's own lines that are
  not in the main text, joined (navigation, footers, share bars, related links: a real
  boilerplate-only document of that site), kept when it has at least 5 lines.
* sms: SMS Spam Collection spam vs ham (short messages: a secondary signal only).
* lines: every line of web_docs' annotated `boilerplate_snippets` / `content_snippets`, to
  measure the boilerplate-line detector itself.
* raw: every web_docs page as crawled (boilerplate kept) for removal rates by source,
  subset and declared language; quality_labeled label 0 vs 1.
"""

from __future__ import annotations

import re
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from corpusfilter.core.docs import Docs
from corpusfilter.filters import spam as spam_mod
from corpusfilter.filters.length import DocLength
from corpusfilter.filters.spam import Spam

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RULES = {  # metric -> (parameter, sweep)
    "url_density": ("max_url_density", [0.1, 0.15, 0.2, 0.3, 0.4, 0.5]),
    "boilerplate_density": ("max_boilerplate_density", [0.1, 0.15, 0.2, 0.25, 0.3, 0.4]),
    "top_token_share": ("max_top_token_share", [0.1, 0.15, 0.2, 0.25, 0.3]),
    "title_repetition": ("max_title_repetition", [0.05, 0.1, 0.15, 0.2, 0.3]),
    "caps_ratio": ("max_caps_ratio", [0.2, 0.3, 0.4, 0.5, 0.6, 0.7]),
    "digit_symbol_ratio": ("max_digit_symbol_ratio", [0.1, 0.15, 0.2, 0.3, 0.4, 0.5]),
}


def batch(texts: list[str], lang: list[str | None] | None = None) -> Docs:
    cols = {"id": pa.array([str(i) for i in range(len(texts))]),
            "text": pa.array(texts, pa.string())}
    if lang is not None:
        cols["lang"] = pa.array(lang, pa.string())
    return Docs(pa.record_batch(cols))


_SCORES: dict[tuple[int, int], tuple[object, Docs, dict[str, np.ndarray]]] = {}


def scored(texts: list[str], lang: list[str | None] | None = None
           ) -> tuple[Docs, dict[str, np.ndarray]]:
    """Docs and all metrics of a set, computed once per set (thresholds are re-applied to
    the kept scores, as the ledger allows)."""
    key = (id(texts), id(lang))
    if key not in _SCORES:
        docs = batch(texts, lang)
        # texts and lang kept alive, so their ids stay unique
        _SCORES[key] = ((texts, lang), docs, Spam().score(docs))
    return _SCORES[key][1], _SCORES[key][2]


def removed(stage: Spam, texts: list[str], lang: list[str | None] | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    docs, scores = scored(texts, lang)
    out = stage.decide(docs, scores)
    return ~out.keep, out.reason


def only(metric: str, value: float | None = None) -> Spam:
    """The stage with one rule on (at `value`, default: its default) and the others off."""
    defaults = Spam()
    kwargs: dict[str, float | None] = {p: None for p, _ in RULES.values()}
    param = RULES[metric][0]
    kwargs[param] = defaults.limits[param] if value is None else value
    return Spam(**kwargs)  # type: ignore[arg-type]


def boilerplate_remainder(row: dict) -> str:
    main = {ln.strip() for ln in row["main_text"].split("\n") if ln.strip()}
    return "\n".join(ln for ln in row["text"].split("\n") if ln.strip() and ln.strip() not in main)


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def main() -> int:
    if not DATA.exists():
        print(f"no evaluation data at {DATA}", file=sys.stderr)
        return 1
    web = pq.read_table(DATA / "web_docs.parquet").to_pylist()
    qual = pq.read_table(DATA / "quality_labeled.parquet").to_pylist()
    sms = pq.read_table(DATA / "sms_spam.parquet").to_pylist()
    clean = {"c4", "stackexchange", "arxiv", "nih_exporter", "uspto"}
    good = {
        "web main_text": [r["main_text"] for r in web if r["main_text"]],
        "DCLM label 1": [r["text"] for r in qual if r["label"] == 1],
        "clean corpora": [r["text"] for r in web if r["source"] in clean
                          or r["subset"] == "redpajama-cc-2023-06"],
    }
    rest = [boilerplate_remainder(r) for r in web if r["main_text"]]
    bad = {"boilerplate-only pages": [t for t in rest if t.count("\n") >= 4],
           "SMS spam": [r["text"] for r in sms if r["label"] == "spam"]}
    ham = [r["text"] for r in sms if r["label"] == "ham"]
    good_all = [t for v in good.values() for t in v]
    print("# spam stage: measured on ../shared/data\n")
    print("Sets: " + ", ".join(f"{k} {len(v)}" for k, v in {**good, **bad}.items())
          + f", SMS ham {len(ham)}.\n")

    # 1. each rule alone at its default, then all together
    print("## Each rule alone at its default threshold, and the stage as a whole\n")
    head = ["rule", "threshold"] + [f"removed: {k}" for k in good] + \
        [f"recall: {k}" for k in bad] + ["precision (boilerplate vs main_text)",
                                         "precision (SMS spam vs ham)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    stages = [(m, only(m)) for m in RULES] + [("all rules (default)", Spam())]
    for label, stage in stages:
        thr = "defaults" if label.startswith("all") else str(stage.limits[RULES[label][0]])
        row = [label, thr]
        for texts in good.values():
            row.append(pct(removed(stage, texts)[0].mean()))
        recalls = {k: removed(stage, v)[0] for k, v in bad.items()}
        row += [pct(v.mean()) for v in recalls.values()]
        fp_main = removed(stage, good["web main_text"])[0].sum()
        tp_bp = recalls["boilerplate-only pages"].sum()
        row.append(pct(tp_bp / (tp_bp + fp_main)) if tp_bp + fp_main else "n/a")
        fp_ham = removed(stage, ham)[0].sum()
        tp_sms = recalls["SMS spam"].sum()
        row.append(pct(tp_sms / (tp_sms + fp_ham)) + f" ({tp_sms}/{tp_sms + fp_ham})"
                   if tp_sms + fp_ham else "n/a")
        print("| " + " | ".join(row) + " |")

    print("\nHighest score per metric (where the rule applies):\n")
    raw_texts = [r["text"] for r in web]
    print("| metric | good documents | raw web_docs pages |\n|---|---|---|")
    for metric in RULES:
        tops = [np.nanmax(v) if not np.isnan(v).all() else float("nan")
                for v in (scored(good_all)[1][metric], scored(raw_texts)[1][metric])]
        print(f"| {metric} | {tops[0]:.3f} | {tops[1]:.3f} |")

    print("\nMean metric on SMS spam vs ham (messages the metric applies to):\n")
    print("| metric | spam | ham | ratio |\n|---|---|---|---|")
    spam_scores, ham_scores = scored(bad["SMS spam"])[1], scored(ham)[1]
    for metric in RULES:
        sa, sb = spam_scores[metric], ham_scores[metric]
        if np.isnan(sa).all() or np.isnan(sb).all():
            continue
        a, b = np.nanmean(sa), np.nanmean(sb)
        if b > 0:
            print(f"| {metric} | {a:.3f} | {b:.3f} | {a / b:.1f}× |")

    # 2. sweeps
    print("\n## Threshold sweeps (one rule on at a time)\n")
    print("Removed share of all good documents (web main_text + DCLM label 1 + clean corpora, "
          f"{len(good_all)} docs) vs recall on the positive sets.\n")
    print("| rule | threshold | removed good | recall boilerplate-only | recall SMS spam | "
          "removed SMS ham |")
    print("|---|---|---|---|---|---|")
    for metric, (_, sweep) in RULES.items():
        for value in sweep:
            stage = only(metric, value)
            r_good = removed(stage, good_all)[0].mean()
            r_bp = removed(stage, bad["boilerplate-only pages"])[0].mean()
            r_sms = removed(stage, bad["SMS spam"])[0].mean()
            r_ham = removed(stage, ham)[0].mean()
            print(f"| {metric} | {value} | {pct(r_good)} | {pct(r_bp)} | {pct(r_sms)} | "
                  f"{pct(r_ham)} |")

    # 3. the boilerplate-line detector on annotated lines
    print("\n## Boilerplate-line detector on annotated snippet lines\n")
    docs_lines: dict[str, list[str]] = {"boilerplate": [], "content": []}
    for r in web:
        for key, col in (("boilerplate", "boilerplate_snippets"), ("content", "content_snippets")):
            for snip in r[col] or []:
                docs_lines[key] += [ln.strip() for ln in snip.split("\n") if ln.strip()]
    limit = Spam().max_boilerplate_line_chars
    hits = {}
    for key, lines in docs_lines.items():
        bp, _ = spam_mod.boilerplate_lines(pa.array(lines, pa.string()), limit)
        hits[key] = bp
    tp, fp = hits["boilerplate"].sum(), hits["content"].sum()
    print(f"Lines annotated boilerplate: {len(docs_lines['boilerplate'])}, detected "
          f"{int(tp)} (recall {pct(tp / len(docs_lines['boilerplate']))}); lines annotated "
          f"content: {len(docs_lines['content'])}, detected {int(fp)} "
          f"(precision {pct(tp / (tp + fp))}).\n")

    # 4. removal on raw pages by facet
    print("## The stage at its defaults on raw pages, by facet\n")
    stage = Spam()
    mask, reasons = removed(stage, raw_texts, [r["lang"] for r in web])
    print(f"All web_docs pages: {int(mask.sum())}/{len(web)} removed ({pct(mask.mean())}).\n")
    by_reason: dict[str, int] = defaultdict(int)
    for r in reasons[mask]:
        by_reason[r] += 1
    print("| reason | removed |\n|---|---|")
    for k, v in sorted(by_reason.items(), key=lambda kv: -kv[1]):
        print(f"| {k} | {v} |")
    for facet in ("source", "subset", "lang"):
        groups: dict[str, list[int]] = defaultdict(list)
        for i, r in enumerate(web):
            groups[str(r[facet])].append(i)
        print(f"\n| {facet} | docs | removed | rate |\n|---|---|---|---|")
        for k, idx in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            n_rm = int(mask[idx].sum())
            if len(idx) >= 5 or n_rm:
                print(f"| {k} | {len(idx)} | {n_rm} | {pct(n_rm / len(idx))} |")
    print("\n| quality_labeled | docs | removed | rate |\n|---|---|---|---|")
    for label in (1, 0):
        texts = [r["text"] for r in qual if r["label"] == label]
        m = removed(stage, texts)[0]
        print(f"| label {label} | {len(texts)} | {int(m.sum())} | {pct(m.mean())} |")
    print("\nRemoved pages (first 160 characters):\n")
    for i in np.flatnonzero(mask):
        snippet = re.sub(r"\s+", " ", web[i]["text"][:160])
        print(f"- `{reasons[i]}` ({web[i]['subset']}, lang {web[i]['lang']}): {snippet!r}")

    # 5. speed against a baseline measured in the same run
    print("\n## Speed\n")
    texts = [r["text"] for r in web]
    big = batch(texts * 4)
    timings = {}
    for label, st in (("doc_length (baseline, one Arrow kernel)", DocLength(min_words=1)),
                      ("spam (all rules)", Spam())):
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            st.decide(big, st.score(big))
            best = min(best, time.perf_counter() - t0)
        timings[label] = best
    base = timings["doc_length (baseline, one Arrow kernel)"]
    mb = sum(len(t.encode()) for t in texts) * 4 / 1e6
    print("| stage | docs/s | MB/s | time vs baseline |\n|---|---|---|---|")
    for label, sec in timings.items():
        print(f"| {label} | {big.num_rows / sec:,.0f} | {mb / sec:.1f} | {sec / base:.1f}× |")
    print(f"\n({big.num_rows} web_docs pages, mean {mb * 1e6 / big.num_rows / 1e3:.1f} kB, one "
          "process, best of 3.)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
