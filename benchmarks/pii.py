"""Speed of the `pii` stage against Presidio's `AnalyzerEngine.analyze`, same documents, same
recognizers, in one run; and whether the findings are identical.

Documents: real web text (../shared/data/web_docs.parquet, first ~2,500 characters of each,
cut at a space) with one sentence from pii_spans.parquet (PII filled in) inserted into every
other document. The baseline is `AnalyzerEngine` with the very same Presidio recognizer objects
and, so that Presidio's context words work without a model download, a blank spaCy English
pipeline whose lemmas are the lower-cased tokens (the lemma our engine uses).

The measurements are interleaved chunk by chunk (the machine is shared; this way a load
spike hits all of them alike) and timed in CPU seconds of this process. Every configuration
is first warmed up on 100 documents of other web pages (imports, regex compilation,
`phonenumbers` metadata loading happen once per process); each chunk (250 documents by
default) is one batch for the stage. Configurations do not share caches, except what is
per process by design: compiled regexes and the per-code-point table of which characters
are decimal digits (`pii_shapes`, a property of Unicode, filled on first sight).

Run: .venv/bin/python benchmarks/pii.py [--docs 1000] [--chunks 4] [--show 40]
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from corpusfilter.core.pipeline import Pipeline
from corpusfilter.filters.pii import Pii
from corpusfilter.filters.pii_engine import DEFAULT_ENTITIES, Finding, PiiEngine, resolve_overlaps

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MIN_SCORE = 0.4


def make_docs(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    web = pq.read_table(DATA / "web_docs.parquet", columns=["text"])["text"].to_pylist()
    pii = [r["text"] for r in pq.read_table(DATA / "pii_spans.parquet").to_pylist()
           if any(s["entity_type"] in DEFAULT_ENTITIES for s in r["spans"])]
    web = [t for t in web if len(t) >= 500]
    rng.shuffle(web)
    docs = []
    for k, text in enumerate(web[:n]):
        if len(text) > 2500:
            cut = text.rfind(" ", 0, 2500)
            text = text[:cut if cut > 0 else 2500]
        if k % 2 == 0:
            at = text.find(". ", rng.randrange(len(text)))
            at = len(text) if at < 0 else at + 2
            text = text[:at] + rng.choice(pii) + " " + text[at:]
        docs.append(text)
    return docs


def presidio_engine(engine: PiiEngine) -> Any:
    """AnalyzerEngine with the same recognizer objects and a model-free spaCy pipeline."""
    import spacy
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    from spacy.language import Language

    if "lower_lemma" not in Language.factories:
        @Language.component("lower_lemma")
        def lower_lemma(doc: Any) -> Any:
            for tok in doc:
                tok.lemma_ = tok.lower_
            return doc

    class BlankSpacy(SpacyNlpEngine):
        def load(self) -> None:
            nlp = spacy.blank("en")
            nlp.add_pipe("lower_lemma")
            self.nlp = {"en": nlp}

    registry = RecognizerRegistry(recognizers=[r for _, r, _ in engine.recognizers])
    return AnalyzerEngine(registry=registry, nlp_engine=BlankSpacy(), supported_languages=["en"])


def run_presidio(analyzer: Any, docs: list[str], entities: list[str]) -> list[list[Finding]]:
    out = []
    for text in docs:
        res = analyzer.analyze(text=text, entities=entities, language="en",
                               score_threshold=MIN_SCORE)
        out.append(resolve_overlaps([Finding(r.start, r.end, r.entity_type, float(r.score))
                                     for r in res]))
    return out


def compare(docs: list[str], ours: list[list[Finding]], theirs: list[list[Finding]],
            show: int) -> int:
    diffs = 0
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        sa = {(f.start, f.end, f.entity_type) for f in a}
        sb = {(f.start, f.end, f.entity_type) for f in b}
        for tag, extra in (("only ours", sa - sb), ("only Presidio", sb - sa)):
            for s, e, et in sorted(extra):
                diffs += 1
                if diffs <= show:
                    ctx = docs[i][max(0, s - 40):e + 10].replace("\n", " ")
                    print(f"  doc {i}: {tag}: {et} {docs[i][s:e]!r} in ...{ctx!r}")
    return diffs


def measure(docs: list[str], warm: pa.Array, analyzer: Any, entities: list[str], chunks: int,
            seconds: dict[str, float], wall: dict[str, float]) -> dict[str, list[Any]]:
    """One pass: fresh engines and stages, warmed up on `warm`, then every configuration on
    each chunk in turn (interleaved, so that a load spike on the shared machine hits all
    alike), timed in CPU seconds of this process (and wall seconds)."""
    strict = PiiEngine(entities, MIN_SCORE, extended=False)
    default = PiiEngine(entities, MIN_SCORE, extended=True)
    pipe = Pipeline([Pii()])
    pipe_strict = Pipeline([Pii(extended=False)])
    for engine in (strict, default):
        engine.analyze_batch(warm)
    run_presidio(analyzer, warm.to_pylist(), entities)
    for p in (pipe, pipe_strict):
        p.setup()
        p.run(pa.table({"id": [str(i) for i in range(len(warm))], "text": warm}))
    out: dict[str, list[Any]] = {k: [] for k in ("presidio", "strict", "default", "stage",
                                                "stage_ledger", "stage_strict")}
    step = max(1, len(docs) // chunks)
    for lo in range(0, len(docs), step):
        chunk = docs[lo:lo + step]
        arr = pa.array(chunk, pa.string())
        table = pa.table({"id": [str(lo + i) for i in range(len(chunk))], "text": arr})
        got: dict[str, Any] = {}
        for key, run, arg in (("presidio", lambda c: run_presidio(analyzer, c, entities), chunk),
                              ("strict", strict.analyze_batch, arr),
                              ("default", default.analyze_batch, arr),
                              ("stage", lambda t: pipe.run(t, batch_size=1000), table),
                              ("stage_strict", lambda t: pipe_strict.run(t, batch_size=1000),
                               table)):
            c0, w0 = time.process_time(), time.perf_counter()
            got[key] = run(arg)
            seconds[key] += time.process_time() - c0
            wall[key] += time.perf_counter() - w0
        out["presidio"] += got["presidio"]
        out["strict"] += got["strict"]
        out["default"] += got["default"]
        out["stage"].append(got["stage"].kept)
        out["stage_ledger"].append(got["stage"].ledger)
        out["stage_strict"] += got["stage_strict"].kept.column("text").to_pylist()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--show", type=int, default=40)
    ap.add_argument("--chunks", type=int, default=4,
                    help="interleaving rounds; each chunk is one batch for the stage")
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3,
                    help="passes over the documents, each with new engines and stages (so "
                         "no memo carries over), times summed: evens out garbage "
                         "collection pauses")
    args = ap.parse_args()
    docs = make_docs(args.docs)
    kb = sum(len(d.encode()) for d in docs) / len(docs) / 1024
    print(f"{len(docs)} documents, mean {kb:.1f} KB, {sum(1 for i in range(len(docs)) if i % 2 == 0)}"
          f" with an inserted PII sentence; entities: {', '.join(DEFAULT_ENTITIES)}\n")
    entities = list(DEFAULT_ENTITIES)
    analyzer = presidio_engine(PiiEngine(entities, MIN_SCORE, extended=False))
    warm = pa.array(make_docs(args.docs + args.warmup)[args.docs:], pa.string())
    seconds = {"presidio": 0.0, "strict": 0.0, "default": 0.0, "stage": 0.0,
               "stage_strict": 0.0}
    wall = dict(seconds)
    outputs: dict[str, list[Any]] = {}
    for rep in range(args.repeats):
        got = measure(docs, warm, analyzer, entities, args.chunks, seconds, wall)
        if rep == 0:
            outputs = got
    theirs, ours_strict, ours_default = (outputs["presidio"], outputs["strict"],
                                         outputs["default"])
    modified = sum(t.num_rows for t in outputs["stage_ledger"])
    redacted = outputs["stage"]
    strict_redacted = outputs["stage_strict"]

    n = total = len(docs) * args.repeats
    print(f"docs/s in CPU time, {args.repeats} passes with fresh objects (ratio to Presidio; "
          f"in wall time, in brackets):")
    print(f"Presidio AnalyzerEngine.analyze:                   {n / seconds['presidio']:8.1f} "
          f"docs/s")

    def ratio(key: str) -> str:
        return (f"{seconds['presidio'] / seconds[key]:5.1f}x Presidio "
                f"[{wall['presidio'] / wall[key]:.1f}x]")

    for key, label, ours in (("strict", "pii engine, Presidio's recognizers only", ours_strict),
                             ("default", "pii engine, default (+ extended patterns)",
                              ours_default)):
        print(f"{label + ':':51s}{n / seconds[key]:8.1f} docs/s  {ratio(key)}")
        n_ours = sum(len(x) for x in ours)
        n_theirs = sum(len(x) for x in theirs)
        diffs = compare(docs, ours, theirs, args.show if key == "default" else 1000)
        print(f"    findings: ours {n_ours}, Presidio {n_theirs}; differences: {diffs}"
              + (" (identical)" if not diffs else ""))
    print(f"{'pii stage in a pipeline (redact, Arrow in/out):':51s}{n / seconds['stage']:8.1f} "
          f"docs/s  {ratio('stage')}  ({modified} documents redacted)")
    n = len(docs)
    again = Pipeline([Pii()]).run(pa.concat_tables(redacted)).ledger.num_rows
    print(f"    redaction is idempotent: a second pass over the stage's output changes "
          f"{again} documents")
    # The stage without the extended patterns must redact exactly Presidio's findings.
    expected = [Pii().redact(d, f) for d, f in zip(docs, theirs, strict=True)]
    same = sum(a == b for a, b in zip(strict_redacted, expected, strict=True))
    for i, (a, b) in enumerate(zip(strict_redacted, expected, strict=True)):
        if a != b and args.show:
            k = next(j for j in range(min(len(a), len(b))) if a[j] != b[j])
            print(f"  doc {i}: stage {a[max(0, k - 40):k + 40]!r}\n"
                  f"  {'':{len(str(i)) + 5}}Presidio {b[max(0, k - 40):k + 40]!r}")
    print(f"{'pii stage, extended: false (redact):':51s}"
          f"{total / seconds['stage_strict']:8.1f} docs/s  {ratio('stage_strict')}  "
          f"(output equal to redacting Presidio's findings: {same}/{n} documents)")

if __name__ == "__main__":
    main()
