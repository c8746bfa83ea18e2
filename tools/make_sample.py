"""Build the bundled sample corpus from ../shared/data/web_docs.parquet (run from the repo).

Deterministic: rows are chosen by a hash of their id within each subset. Only subsets whose
upstream repositories are Apache-2.0 or MIT licensed are used (see the sample's README.md).
A few exact re-captures (same text, changed case/whitespace, new id) are added so the demo's
`exact_dedup` has something to find; they are marked in the `subset` column.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT.parent / "shared" / "data" / "web_docs.parquet"
OUT = ROOT / "src" / "corpusfilter" / "resources" / "sample" / "web_sample.parquet"

# subset -> how many documents (all Apache-2.0 / MIT upstream repositories)
TAKE = {
    "extraction-benchmark-multilingual": 110,
    "extraction-benchmark-news-articles": 35,
    "date-extraction-news-multilingual": 40,
    "date-extraction-multilingual": 20,
    "readability-test-pages": 15,
    "news-site-fixtures": 25,
    "article-extractor-fixtures": 8,
    "cc-main-2019-30-cc-licensed": 70,
    "clueweb-warc-sample": 29,
    "cc-warc-sample": 8,
    "warc-crawl-2024-sample": 12,
    "ccnet-head-2020-16": 10,
    "dolma-test-documents": 5,
    "redpajama-stackexchange": 20,
}
MAX_CHARS = 40_000
N_DUPLICATES = 8


def key(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


def main() -> int:
    t = pq.read_table(SRC, columns=["id", "text", "source", "subset", "url", "lang"])
    t = t.filter(pc.less_equal(pc.utf8_length(t["text"]), MAX_CHARS))
    rows = t.to_pylist()
    picked = []
    for subset, n in TAKE.items():
        sub = sorted((r for r in rows if r["subset"] == subset), key=lambda r: key(r["id"]))
        picked.extend(sub[:n])
    dup_src = sorted(picked, key=lambda r: key("dup" + r["id"]))[:N_DUPLICATES]
    for i, r in enumerate(dup_src):
        text = r["text"]
        text = text.upper() if i % 2 else "  " + text.replace("\n", "\n\n") + "\n"
        picked.append({**r, "id": f"recapture-{key(r['id'])[:12]}", "text": text,
                       "subset": r["subset"] + "+recapture"})
    picked.sort(key=lambda r: r["id"])
    table = pa.Table.from_pylist(picked, schema=t.schema)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, OUT, compression="zstd", compression_level=19)
    print(f"{table.num_rows} documents, {OUT.stat().st_size / 1e6:.2f} MB → {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
