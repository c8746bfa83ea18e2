"""Speed of the `pii` stage against the baseline a user who wants speed would run.

Baseline: Presidio's `AnalyzerEngine` with `NoOpNlpEngine` (no spaCy model, no tokens) and the
same seven recognizers as the stage's default entity types (Presidio's own classes; the e-mail
one on tldextract's bundled suffix list so that nothing downloads), `analyze` per document.
Ours: the `pii` stage in redact mode through `Pipeline.run` (Arrow in and out, ledger rows,
placeholders, re-analysis), fast path; and its detection alone (`Pii.analyze` per document).

Documents: full-length real pages from ../shared/data/web_docs.parquet (pages of at least
500 characters, up to 100,000), each with 0, 1, 2, 4 or 8 PII sentences from
pii_spans.parquet inserted at sentence ends: the density curve. Time is CPU time of this
process; configurations run interleaved in rounds over the same documents (round order
rotates), and min / median / max over rounds are printed with the ratio of medians.

Run: .venv/bin/python benchmarks/pii.py [--pages N] [--rounds R]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from corpusfilter.core.pipeline import Pipeline
from corpusfilter.filters.pii import DEFAULT_ENTITIES, Pii
from corpusfilter.filters.pii.presidio_path import presidio_recognizer

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DENSITIES = (0, 1, 2, 4, 8)


def make_docs(n: int, density: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    web = pq.read_table(DATA / "web_docs.parquet", columns=["text"])["text"].to_pylist()
    pii = [r["text"] for r in pq.read_table(DATA / "pii_spans.parquet").to_pylist()
           if any(s["entity_type"] in DEFAULT_ENTITIES for s in r["spans"])]
    web = [t for t in web if 500 <= len(t) <= 100_000]
    random.Random(seed).shuffle(web)
    docs = []
    for text in web[:n]:
        for _ in range(density):
            at = text.find(". ", rng.randrange(len(text)))
            at = len(text) if at < 0 else at + 2
            text = text[:at] + rng.choice(pii) + " " + text[at:]
        docs.append(text)
    return docs


def presidio_analyzer() -> Any:
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NoOpNlpEngine

    registry = RecognizerRegistry(
        recognizers=[presidio_recognizer(e) for e in DEFAULT_ENTITIES])
    nlp = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
    return AnalyzerEngine(registry=registry, nlp_engine=nlp,
                          supported_languages=["en"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=150)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    analyzer = presidio_analyzer()
    stage = Pii()
    pipe = Pipeline([Pii()])
    pipe.setup()
    entities = list(DEFAULT_ENTITIES)

    def run_presidio(docs: list[str]) -> int:
        return sum(len(analyzer.analyze(text=t, entities=entities, language="en",
                                        score_threshold=0.4)) for t in docs)

    def run_detect(docs: list[str]) -> int:
        return sum(len(stage.analyze(t)) for t in docs)

    def run_stage(docs: list[str]) -> int:
        res = pipe.run(pa.table({"id": [str(i) for i in range(len(docs))], "text": docs}))
        return res.ledger.num_rows

    configs = {"presidio": run_presidio, "detect": run_detect, "stage": run_stage}
    warm = make_docs(20, 1, seed=99)
    for fn in configs.values():
        fn(warm)
    print("baseline: presidio_analyzer AnalyzerEngine(nlp_engine=NoOpNlpEngine(models=[en]), registry="
          "[EmailRecognizer (offline suffix list), PhoneRecognizer (regions US GB DE FR IL IN "
          "CA BR, leniency VALID), CreditCardRecognizer, IbanRecognizer, IpRecognizer, "
          "UsSsnRecognizer, CryptoRecognizer]).analyze(text, entities=7 types, "
          "score_threshold=0.4) per document")
    print("ours: detect = Pii().analyze per document (fast path); stage = Pipeline([Pii()])"
          ".run on an Arrow table (redact, ledger, re-analysis)")
    print(f"{args.pages} full-length pages of web_docs.parquet (500-100,000 chars), "
          f"{args.rounds} interleaved rounds, CPU seconds min/median/max\n")
    print("| PII sentences per page | MB | Presidio s | detect s | stage s | "
          "detect × Presidio | stage × Presidio |")
    print("|---:|---:|---|---|---|---:|---:|")
    for density in DENSITIES:
        docs = make_docs(args.pages, density)
        mb = sum(len(t.encode()) for t in docs) / 1e6
        times: dict[str, list[float]] = {k: [] for k in configs}
        names = list(configs)
        for r in range(args.rounds):
            for name in names[r % 3:] + names[:r % 3]:
                t0 = time.process_time()
                configs[name](docs)
                times[name].append(time.process_time() - t0)

        def cell(xs: list[float]) -> str:
            return f"{min(xs):.2f} / {statistics.median(xs):.2f} / {max(xs):.2f}"

        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"| {density} | {mb:.2f} | {cell(times['presidio'])} | {cell(times['detect'])} "
              f"| {cell(times['stage'])} | {med['presidio'] / med['detect']:.1f}× | "
              f"{med['presidio'] / med['stage']:.1f}× |")


if __name__ == "__main__":
    main()
