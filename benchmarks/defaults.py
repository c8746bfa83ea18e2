"""Does the default recipe do harm? Every figure of issue 16's table, on ``../shared/data``.

Inputs (the dev half in ``../shared/data``; the held-out half has the same shape):

* ``web_docs.parquet``: 1,425 raw page texts with their boilerplate (menus, share links,
  footers), as in Common Crawl WET files. The 640 **curated articles** are the pages with a
  human-made ``main_text`` or ``content_snippets``; they are grouped by the language the page
  declares (``lang`` as shipped). Japanese and Chinese pages are counted over all pages, by the
  language our ``language`` stage predicts (most of them declare none).
* ``quality_labeled.parquet``: 250 English pages with DCLM's human labels (1 good, 0 bad).

Figures (each with a 95% interval: Wilson for shares of documents, a bootstrap over
documents, 2,000 resamples, for shares of characters):

* articles kept, per declared language with at least 15 articles, and in all;
* content kept: characters of the annotated content snippets (those found verbatim in the page
  after whitespace is collapsed) still present in the kept text of kept articles;
* boilerplate removed: characters of the annotated boilerplate snippets (found in the page) no
  longer present in the kept text of kept articles;
* kept pages per source (``stackexchange`` is the Q&A row, ``arxiv`` the LaTeX row);
* DCLM good / bad pages kept;
* Japanese and Chinese pages kept;
* which stage and reason removed the articles that were lost.

The pipeline is a recipe name or file (``--recipe``, default ``default``); ``--peers`` also
runs datatrove's ``C4QualityFilter`` alone and datatrove's FineWeb chain (Gopher repetition,
Gopher quality, C4 without the terminal-punctuation rule, FineWeb quality; datatrove's
defaults) on the same pages, with the same measures.

``--where`` also charges the content characters lost inside kept articles to the stage that
dropped them (``boilerplate_lines``, ``c4_quality``, ...).

    .venv/bin/python benchmarks/defaults.py [--recipe default] [--peers] [--where]
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
MIN_ARTICLES = 15
_WS = re.compile(r"\s+")


def norm(text: str) -> str:
    return _WS.sub(" ", text).strip()


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, mid - half), min(1.0, mid + half))


def share(k: int, n: int) -> str:
    if n == 0:
        return "   -   (0 documents)"
    lo, hi = wilson(k, n)
    return f"{k / n:5.3f} [{lo:.2f}, {hi:.2f}]  ({k} of {n})"


def char_share(num: np.ndarray, den: np.ndarray, seed: int = 0) -> str:
    """sum(num) / sum(den) with a bootstrap interval over documents."""
    if den.sum() == 0:
        return "   -   (no characters)"
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(den), size=(2000, len(den)))
    boots = num[idx].sum(1) / np.maximum(den[idx].sum(1), 1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return (f"{num.sum() / den.sum():5.3f} [{lo:.2f}, {hi:.2f}]  "
            f"({int(den.sum()):,} characters, {len(den)} documents)")


@dataclass
class Outcome:
    """What a pipeline kept: id -> kept text; id -> "stage.reason" for removed pages."""

    kept: dict[str, str]
    removed_by: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def run_recipe(recipe: str, table: pa.Table) -> Outcome:
    from corpusfilter import Pipeline

    t0 = time.perf_counter()
    result = Pipeline(recipe).run(table)
    seconds = time.perf_counter() - t0
    kept = dict(zip(result.kept["id"].to_pylist(), result.kept["text"].to_pylist(),
                    strict=True))
    led = result.ledger.filter(pc.equal(result.ledger["action"], "removed"))
    removed = dict(zip(led["doc_id"].to_pylist(), led["reason"].to_pylist(), strict=True))
    return Outcome(kept, removed, seconds)


def predicted_langs(table: pa.Table) -> dict[str, str | None]:
    from corpusfilter import Pipeline

    result = Pipeline({"stages": [{"stage": "language", "label_only": True}]}).run(
        table.select(["id", "text"]))
    return dict(zip(result.kept["id"].to_pylist(), result.kept["lang"].to_pylist(),
                    strict=True))


def datatrove_chain(make: Callable[[], list]) -> Callable[[str, pa.Table], Outcome]:
    """A peer: datatrove filters applied in order to each page (C4's filter edits text)."""

    def run(_: str, table: pa.Table) -> Outcome:
        from datatrove.data import Document

        filters = make()
        out = Outcome({})
        t0 = time.perf_counter()
        for doc_id, text in zip(table["id"].to_pylist(), table["text"].to_pylist(),
                                strict=True):
            doc = Document(text=text, id=doc_id)
            for f in filters:
                verdict = f.filter(doc)
                ok, why = (verdict, "") if isinstance(verdict, bool) else verdict
                if not ok:
                    out.removed_by[doc_id] = f"{type(f).__name__}.{why}"
                    break
            else:
                out.kept[doc_id] = doc.text
        out.seconds = time.perf_counter() - t0
        return out

    return run


def c4_alone() -> list:
    from datatrove.pipeline.filters import C4QualityFilter

    return [C4QualityFilter()]


def fineweb_chain() -> list:
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    return [GopherRepetitionFilter(), GopherQualityFilter(),
            C4QualityFilter(filter_no_terminal_punct=False), FineWebQualityFilter()]


def snippet_chars(pages: Sequence[str], snippets: Sequence[Sequence[str] | None],
                  kept: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """Per page: characters of its snippets found in the page, and of those still in `kept`."""
    present = np.zeros(len(pages))
    still = np.zeros(len(pages))
    for i, (page, snips, out) in enumerate(zip(pages, snippets, kept, strict=True)):
        page_n = norm(page)
        out_n = norm(out or "")
        for s in snips or ():
            s = norm(s)
            if s and s in page_n:
                present[i] += len(s)
                if s in out_n:
                    still[i] += len(s)
    return present, still


def report(name: str, web: pa.Table, dclm: pa.Table, langs: dict[str, str | None],
           web_out: Outcome, dclm_out: Outcome) -> None:
    ids = web["id"].to_pylist()
    kept = [i in web_out.kept for i in ids]
    kept_text = [web_out.kept.get(i) for i in ids]
    curated = [m is not None or s is not None for m, s in zip(
        web["main_text"].to_pylist(), web["content_snippets"].to_pylist(), strict=True)]
    declared = [(lang or "?").lower().split("-")[0] for lang in web["lang"].to_pylist()]
    print(f"\n=== {name} ({web_out.seconds + dclm_out.seconds:.0f} s) ===")

    print("curated articles kept, by declared language ('?': none declared; Wilson 95%):")
    by_lang: Counter[str] = Counter(d for d, c in zip(declared, curated, strict=True) if c)
    worst = None
    for lang, n in by_lang.most_common():
        if n < MIN_ARTICLES:
            continue
        k = sum(1 for d, c, kp in zip(declared, curated, kept, strict=True)
                if c and kp and d == lang)
        if lang != "?" and (worst is None or k / n < worst[1]):
            worst = (lang, k / n)
        print(f"  {lang:4s} {share(k, n)}")
    n_cur = sum(curated)
    print(f"  all  {share(sum(c and kp for c, kp in zip(curated, kept, strict=True)), n_cur)}")
    if worst:
        print(f"  worst language with >= {MIN_ARTICLES} articles: {worst[0]} {worst[1]:.3f}")

    sel = [i for i, (c, kp) in enumerate(zip(curated, kept, strict=True)) if c and kp]
    pages = [web["text"][i].as_py() for i in sel]
    outs = [kept_text[i] for i in sel]
    content, content_kept = snippet_chars(
        pages, [web["content_snippets"][i].as_py() for i in sel], outs)
    boiler, boiler_kept = snippet_chars(
        pages, [web["boilerplate_snippets"][i].as_py() for i in sel], outs)
    has_c = content > 0
    has_b = boiler > 0
    print("content snippets' characters still present in kept articles (bootstrap 95%):")
    print(f"  {char_share(content_kept[has_c], content[has_c])}")
    print("boilerplate snippets' characters removed from kept articles (bootstrap 95%):")
    print(f"  {char_share(boiler[has_b] - boiler_kept[has_b], boiler[has_b])}")
    mains = [(web["text"][i].as_py(), web["main_text"][i].as_py(), kept_text[i])
             for i in sel if web["main_text"][i].as_py()]
    if mains:
        lines_present, lines_kept = snippet_chars(
            [m[0] for m in mains], [[ln for ln in m[1].splitlines() if len(ln.strip()) >= 20]
                                    for m in mains], [m[2] for m in mains])
        ok = lines_present > 0
        print("  (secondary) main_text lines of >= 20 characters still present: "
              f"{char_share(lines_kept[ok], lines_present[ok])}")

    print("pages kept by source (Wilson 95%):")
    for source in sorted(set(web["source"].to_pylist())):
        rows = [kp for s, kp in zip(web["source"].to_pylist(), kept, strict=True)
                if s == source]
        print(f"  {source:13s} {share(sum(rows), len(rows))}")

    print("pages kept by predicted language, all pages (Wilson 95%):")
    for lang in ("ja", "zh", "ko", "ru", "de", "en"):
        rows = [kp for i, kp in zip(ids, kept, strict=True) if langs.get(i) == lang]
        print(f"  {lang:4s} {share(sum(rows), len(rows))}")

    labels = dclm["label"].to_pylist()
    d_kept = [i in dclm_out.kept for i in dclm["id"].to_pylist()]
    print("DCLM human-labelled pages kept (Wilson 95%):")
    for label, what in ((1, "good (label 1)"), (0, "bad (label 0)")):
        rows = [kp for lb, kp in zip(labels, d_kept, strict=True) if lb == label]
        print(f"  {what:15s} {share(sum(rows), len(rows))}")

    lost = Counter(web_out.removed_by.get(i, "?") for i, c, kp in zip(
        ids, curated, kept, strict=True) if c and not kp)
    print(f"curated articles lost, by reason ({sum(lost.values())}):")
    for why, count in lost.most_common(8):
        print(f"  {count:4d}  {why}")
    lost_good = Counter(dclm_out.removed_by.get(i, "?") for i, lb, kp in zip(
        dclm["id"].to_pylist(), labels, d_kept, strict=True) if lb == 1 and not kp)
    print(f"DCLM good pages lost, by reason ({sum(lost_good.values())}):")
    for why, count in lost_good.most_common(5):
        print(f"  {count:4d}  {why}")


def where_content_is_lost(recipe: str, web: pa.Table, out: Outcome) -> None:
    """Characters of content snippets missing from kept articles, by the text-editing stage
    that dropped them: the recipe is re-run up to each such stage (on all pages, as global
    stages count lines across the corpus) and a snippet is charged to the first stage
    whose output lacks it."""
    from corpusfilter import Pipeline

    stages = Pipeline(recipe).config.stages
    editing = [i for i, st in enumerate(stages)
               if st["stage"] in ("unicode_fix", "boilerplate_lines", "c4_quality", "pii")]
    prefixes = []
    for i in editing:
        res = Pipeline({"stages": stages[:i + 1]}).run(web)
        prefixes.append((stages[i].get("name", stages[i]["stage"]),
                         dict(zip(res.kept["id"].to_pylist(),
                                  [norm(t) for t in res.kept["text"].to_pylist()],
                                  strict=True))))
    lost: Counter[str] = Counter()
    total = 0
    for row in web.select(["id", "text", "content_snippets"]).to_pylist():
        kept = out.kept.get(row["id"])
        if kept is None or not row["content_snippets"]:
            continue
        page, kept_n = norm(row["text"]), norm(kept)
        for snip in map(norm, row["content_snippets"]):
            if not snip or snip not in page:
                continue
            total += len(snip)
            if snip in kept_n:
                continue
            stage = next((name for name, texts in prefixes
                          if snip not in texts.get(row["id"], "")), "a later stage")
            lost[stage] += len(snip)
    print(f"content snippets' characters lost inside kept articles, by stage "
          f"({sum(lost.values()):,} of {total:,}):")
    for stage, chars in lost.most_common():
        print(f"  {chars:7,d}  {stage}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default="default",
                        help="recipe name or pipeline file (default: default)")
    parser.add_argument("--peers", action="store_true",
                        help="also run datatrove's C4QualityFilter and FineWeb chain")
    parser.add_argument("--data", default=str(SHARED), help="folder of the evaluation tables")
    parser.add_argument("--where", action="store_true",
                        help="also charge the content lost inside kept articles to the "
                             "text-editing stage that dropped it")
    args = parser.parse_args()
    data = Path(args.data)
    web = pq.read_table(data / "web_docs.parquet")
    dclm = pq.read_table(data / "quality_labeled.parquet")
    langs = predicted_langs(web)
    runs: list[tuple[str, Callable[[str, pa.Table], Outcome]]] = [
        (f"corpusfilter recipe {args.recipe!r}", run_recipe)]
    if args.peers:
        runs += [("datatrove C4QualityFilter (defaults)", datatrove_chain(c4_alone)),
                 ("datatrove FineWeb chain: GopherRepetition, GopherQuality, "
                  "C4Quality(filter_no_terminal_punct=False), FineWebQuality (defaults)",
                  datatrove_chain(fineweb_chain))]
    print(f"{web.num_rows} web pages, {dclm.num_rows} DCLM-labelled pages from {data}")
    for k, (name, run) in enumerate(runs):
        web_out = run(args.recipe, web)
        report(name, web, dclm, langs, web_out, run(args.recipe, dclm))
        if k == 0 and args.where:
            where_content_is_lost(args.recipe, web, web_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
