"""`corpusfilter dedup-audit` on real web text with planted near-duplicates: the removed pairs'
Jaccard and the missed pairs are exactly those found by brute force over all pairs with the
reference shingling (Python sets of shingle strings)."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from corpusfilter.cli import main
from corpusfilter.dedup.shingles import shingle_strings
from corpusfilter.report.data import Run, wilson
from corpusfilter.report.dedup_audit import audit, write_audit_page
from test_report import DATA, run_dir

THRESHOLD = 0.75
# a weak banding (4 bands of 28 rows) so that LSH misses some planted duplicates
PIPELINE = {"facets": ["source"], "max_removal_rate": 1.0,
            "stages": [{"stage": "minhash_dedup", "bands": 4, "rows": 28,
                        "threshold": THRESHOLD}]}


def planted() -> pa.Table:
    """The 400 pages in groups alpha/gamma, plus 40 edited copies (group beta): every k-th
    word replaced, k cycling through 200, 80, 40, 20 (Jaccard from ~0.95 down to ~0.6)."""
    t = pq.read_table(DATA, columns=["id", "text"])
    rng = np.random.default_rng(3)
    groups = np.where(rng.random(t.num_rows) < 0.5, "alpha", "gamma")
    ids, texts = t["id"].to_pylist(), t["text"].to_pylist()
    picks = rng.choice([i for i, x in enumerate(texts) if len(x.split()) > 200], 40,
                       replace=False)
    new_ids, new_texts = [], []
    for n, i in enumerate(picks):
        k = (200, 80, 40, 20)[n % 4]
        words = texts[i].split()
        new_ids.append(f"zz-copy-{n:02d}")
        new_texts.append(" ".join(f"edit{j}" if j % k == k - 1 else w
                                  for j, w in enumerate(words)))
    return pa.table({"id": ids + new_ids, "text": texts + new_texts,
                     "source": groups.tolist() + ["beta"] * len(new_ids)})


def reference_jaccard(texts: dict[str, str]) -> dict[tuple[str, str], float]:
    ids = sorted(texts)
    sets = dict(zip(ids, map(set, shingle_strings(pa.array([texts[i] for i in ids]), 5)),
                    strict=True))
    out = {}
    for a, b in combinations(ids, 2):
        inter = len(sets[a] & sets[b])
        if inter:
            out[(a, b)] = inter / len(sets[a] | sets[b])
    return out


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory):
    table = planted()
    out = run_dir(tmp_path_factory.mktemp("audit"), table, PIPELINE)
    texts = dict(zip(table["id"].to_pylist(), table["text"].to_pylist(), strict=True))
    led = pq.read_table(out / "ledger")
    removed = set(led.filter(pc.equal(led["action"], "removed"))["doc_id"].to_pylist())
    groups = dict(zip(table["id"].to_pylist(), table["source"].to_pylist(), strict=True))
    return Run.open(out), reference_jaccard(texts), removed, groups


def test_removed_pairs_have_their_exact_jaccard(audited) -> None:
    run, ref, removed, _ = audited
    res = audit(run)
    members = [m | {"kept": c["kept"]} for c in res["clusters"] for m in c["removed"]]
    assert {m["doc_id"] for m in members} == removed and removed
    for m in members:
        pair = tuple(sorted((m["doc_id"], m["kept"])))
        assert m["jaccard"] == pytest.approx(ref[pair], abs=1e-9)
        assert m["jaccard"] == pytest.approx(m["ledger_jaccard"], abs=1e-4)
    below = sum(m["jaccard"] < THRESHOLD for m in members)
    assert res["removed"]["false_positive"]["count"] == below == 0  # verify: exact
    assert sum(res["removed"]["hist"]) == len(members)


def test_missed_pairs_are_exactly_the_brute_force_ones(audited) -> None:
    run, ref, removed, groups = audited
    res = audit(run)
    dups = {p for p, j in ref.items() if j >= THRESHOLD}
    missed = {p for p in dups if p[0] not in removed and p[1] not in removed}
    found = {tuple(sorted((m["a"], m["b"]))) for m in res["sample"]["missed"]}
    assert found == missed and missed, "the weak banding must miss some planted duplicates"
    fn = res["sample"]["false_negative"]
    assert (fn["count"], fn["of"]) == (len(missed), len(dups))
    assert (fn["lo"], fn["hi"]) == wilson(len(missed), len(dups))
    beta = next(g for g in res["groups"] if g["group"] == "beta")
    beta_dups = {p for p in dups if groups[max(p)] == "beta"}
    assert beta["false_negative"]["of"] == len(beta_dups)
    assert beta["false_negative"]["count"] == len(beta_dups & missed)


def test_a_sample_finds_a_subset(audited) -> None:
    run, ref, removed, _ = audited
    res = audit(run, sample=150, seed=2)
    assert res["sample"]["docs"] == 150 and res["sample"]["of"] == 440
    missed = {tuple(sorted((m["a"], m["b"]))) for m in res["sample"]["missed"]}
    assert all(ref[p] >= THRESHOLD and not set(p) & removed for p in missed)
    assert audit(run, sample=150, seed=2) == res


def test_cli_and_page(audited, tmp_path: Path) -> None:
    run, _, _, _ = audited
    page = tmp_path / "audit.html"
    assert main(["dedup-audit", str(run.out), "--html", str(page), "--json",
                 str(tmp_path / "a.json")]) == 0
    res = audit(run)
    assert page.read_text().count("<div class='cl'") == len(res["clusters"]) > 0
    assert write_audit_page(res, tmp_path / "b.html").read_text() == page.read_text()
