"""Agreement of our heuristic stages with datatrove's filters, stage by stage.

Runs datatrove's GopherQualityFilter, GopherRepetitionFilter, C4QualityFilter,
FineWebQualityFilter and C4ParagraphFilter (benchmark-only dependency: ``pip install
datatrove``; it tokenizes English with a blank spaCy pipeline and splits sentences with
spaCy's sentencizer, both offline) on real English documents from ``../shared/data``, and

* writes their keep/drop decisions with the document texts to
  ``tests/data/heuristics/datatrove_decisions.parquet`` (read by
  ``tests/test_heuristics_agreement.py``; this command regenerates it);
* prints, per stage, the agreement of our stage with datatrove's filter and every class of
  disagreement (datatrove's reason vs ours) with its count and one example id.

Documents: ``web_docs.parquet`` rows declared ``lang: en`` from subsets whose upstream
repositories are Apache-2.0 or MIT (the data-juicer / RedPajama / Pile samples are left out),
and ``quality_labeled.parquet`` (DCLM, MIT). Each filter sees every document (not chained).

    .venv/bin/python benchmarks/heuristics_agreement.py [--no-write]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
OUT = REPO / "tests" / "data" / "heuristics" / "datatrove_decisions.parquet"
EXCLUDED_SUBSETS = {"redpajama-cc-2023-06", "mixed-web-snippets", "redpajama-c4",
                    "redpajama-stackexchange", "redpajama-arxiv", "pile-nih-exporter",
                    "pile-uspto"}
STAGES = ("gopher_quality", "gopher_repetition", "c4_quality", "fineweb_quality",
          "c4_paragraph")


def load_documents() -> pa.Table:
    web = pq.read_table(SHARED / "web_docs.parquet",
                        columns=["id", "text", "subset", "lang"]).to_pylist()
    rows = [{"id": r["id"], "text": r["text"], "origin": f"web_docs/{r['subset']}"}
            for r in web if r["lang"] == "en" and r["subset"] not in EXCLUDED_SUBSETS]
    qual = pq.read_table(SHARED / "quality_labeled.parquet", columns=["id", "text"])
    rows += [{"id": r["id"], "text": r["text"], "origin": "quality_labeled"}
             for r in qual.to_pylist()]
    rows.sort(key=lambda r: r["id"])
    return pa.Table.from_pylist(rows)


MULTILINGUAL = REPO / "tests" / "data" / "heuristics" / "multilingual.parquet"
MULTI_LANGS = ("de", "fr", "es", "ru", "ja", "zh", "ko", "ar")


def multilingual_documents() -> pa.Table:
    """Real non-English documents for the tests: up to three pages per language from
    ``web_docs.parquet`` (declared `lang`, Apache/MIT subsets, 1-30 KB), and for Chinese,
    Japanese and Thai one document of 40 Leipzig sentences each from ``langid.parquet``."""
    web = pq.read_table(SHARED / "web_docs.parquet",
                        columns=["id", "text", "subset", "lang"]).to_pylist()
    rows = []
    for lang in MULTI_LANGS:
        pages = sorted((r for r in web if r["lang"] == lang
                        and r["subset"] not in EXCLUDED_SUBSETS
                        and 1000 <= len(r["text"]) <= 30000), key=lambda r: r["id"])
        rows += [{"id": r["id"], "text": r["text"], "lang": lang,
                  "origin": f"web_docs/{r['subset']}"} for r in pages[:3]]
    lid = pq.read_table(SHARED / "langid.parquet").to_pylist()
    for lang in ("zh", "ja", "th"):
        sents = sorted(r["text"] for r in lid if r["lang"] == lang and r["kind"] == "sentence"
                       and not r["ambiguous"])[:40]
        sep = "" if lang in ("zh", "ja") else " "
        text = "\n".join(sep.join(sents[i:i + 4]) for i in range(0, len(sents), 4))
        rows.append({"id": f"langid-{lang}", "text": text, "lang": lang,
                     "origin": "langid/leipzig-sentences"})
    return pa.Table.from_pylist(rows)


def datatrove_decisions(table: pa.Table) -> pa.Table:
    from datatrove.data import Document
    from datatrove.pipeline.filters import (
        C4ParagraphFilter,
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    filters = {"gopher_quality": GopherQualityFilter(),
               "gopher_repetition": GopherRepetitionFilter(),
               "c4_quality": C4QualityFilter(),
               "fineweb_quality": FineWebQualityFilter(),
               "c4_paragraph": C4ParagraphFilter()}
    cols: dict[str, list] = {f"dt_{s}": [] for s in STAGES}
    cols.update({f"dt_{s}_reason": [] for s in STAGES})
    cols["dt_c4_text"] = []
    for i, text in enumerate(table["text"].to_pylist()):
        for stage, f in filters.items():
            doc = Document(text=text, id=str(i))
            result = f.filter(doc)
            keep, reason = (result, None) if isinstance(result, bool) else result
            cols[f"dt_{stage}"].append(bool(keep))
            cols[f"dt_{stage}_reason"].append(None if keep else reason)
            if stage == "c4_quality":
                cols["dt_c4_text"].append(doc.text if keep else None)
    out = table
    for name, values in cols.items():
        out = out.append_column(name, pa.array(values))
    return out


def our_decisions(table: pa.Table) -> dict[str, tuple[list[bool], list[str | None]]]:
    from corpusfilter import Pipeline

    out = {}
    base = table.select(["id", "text"])
    for stage in STAGES:
        result = Pipeline({"stages": [{"stage": stage}]}).run(base)
        removed = {}
        led = result.ledger.to_pylist()
        for row in led:
            if row["action"] == "removed":
                removed[row["doc_id"]] = row["reason"].split(".", 1)[1]
        ids = base["id"].to_pylist()
        out[stage] = ([i not in removed for i in ids], [removed.get(i) for i in ids])
    return out


def report(table: pa.Table) -> dict[str, float]:
    ours = our_decisions(table)
    ids = table["id"].to_pylist()
    rates = {}
    for stage in STAGES:
        dt_keep = table[f"dt_{stage}"].to_pylist()
        dt_reason = table[f"dt_{stage}_reason"].to_pylist()
        keep, reason = ours[stage]
        agree = sum(a == b for a, b in zip(dt_keep, keep, strict=True))
        rates[stage] = agree / len(ids)
        print(f"\n{stage}: agreement {agree}/{len(ids)} = {rates[stage]:.1%} "
              f"(datatrove removes {dt_keep.count(False)}, we remove {keep.count(False)})")
        classes: Counter[tuple[str, str]] = Counter()
        example: dict[tuple[str, str], str] = {}
        for i, a, b, ra, rb in zip(ids, dt_keep, keep, dt_reason, reason, strict=True):
            if a != b:
                k = (ra or "kept", rb or "kept")
                classes[k] += 1
                example.setdefault(k, i)
        for (ra, rb), c in classes.most_common():
            print(f"  datatrove {ra:28s} ours {rb:28s} {c:4d}  e.g. {example[(ra, rb)]}")
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-write", action="store_true",
                        help="do not rewrite tests/data/heuristics/datatrove_decisions.parquet")
    args = parser.parse_args()
    table = load_documents()
    print(f"{table.num_rows} documents; running datatrove's filters ...", flush=True)
    table = datatrove_decisions(table)
    if not args.no_write:
        OUT.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(multilingual_documents(), MULTILINGUAL, compression="zstd",
                       compression_level=19)
        pq.write_table(table, OUT, compression="zstd", compression_level=19)
        print(f"wrote {OUT.relative_to(REPO)} ({OUT.stat().st_size / 1e6:.1f} MB)")
    report(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
