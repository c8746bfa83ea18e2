"""`minhash_dedup`: datasketch compatibility, near-duplicates found on real text, the keep
rule, ledger detail, determinism under shuffling/sharding/batching, the CLI, streaming mode."""

from __future__ import annotations

import json
import random
from itertools import pairwise
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import xxhash
from datasketch import MinHash
from datasketch.lsh import _optimal_param
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import TEST_DATA, run_cli, write_shards
from corpusfilter.core.errors import ConfigError
from corpusfilter.core.pipeline import Pipeline
from corpusfilter.dedup.lsh import Permutations, candidate_probability, optimal_params
from corpusfilter.dedup.minhash import (
    MinHashDedup,
    MinHasher,
    StreamingMinHashDedup,
    exact_jaccard,
    shingle_sets,
)
from corpusfilter.dedup.shingles import regex_tokens, shingle_hashes, shingle_strings, word_tokens
from corpusfilter.dedup.xxh64 import xxh64_strings
from corpusfilter.verify import verify

PAIRS = TEST_DATA / "dedup" / "sample_neardup_pairs.parquet"


@pytest.fixture(scope="module")
def docs(sample_table: pa.Table) -> pa.Table:
    return sample_table.select(["id", "text", "source"])


def _edit(text: str, rate: float, rng: random.Random) -> str:
    """Replace a share `rate` of the words by a random other word of the text."""
    words = text.split()
    for i in rng.sample(range(len(words)), int(len(words) * rate)):
        words[i] = rng.choice(["alpha", "bravo", "charlie", "delta", "echo"])
    return " ".join(words)


@pytest.fixture(scope="module")
def corpus(docs: pa.Table) -> tuple[pa.Table, dict[str, str]]:
    """60 real documents (no natural near-duplicates among them) + copies of 20 of them with
    1% of words substituted (ids `zz-copy-*`, larger than any original id)."""
    pairs = pq.read_table(PAIRS)
    in_pairs = set(pairs["id_a"].to_pylist()) | set(pairs["id_b"].to_pylist())
    rows = [r for r in docs.to_pylist() if r["id"] not in in_pairs
            and len(r["text"].split()) > 200][:60]
    rng = random.Random(5)
    copies = {}
    extra = []
    for k, r in enumerate(rows[:20]):
        cid = f"zz-copy-{k:02d}"
        copies[cid] = r["id"]
        extra.append({"id": cid, "text": _edit(r["text"], 0.01, rng), "source": "copy"})
    return pa.Table.from_pylist(rows + extra, schema=docs.schema), copies


# -- shingles and signatures ----------------------------------------------------------------


def test_normalisation_and_shingles_follow_the_documented_rules():
    text = pa.array(["The Price: $1,299 -- was 1.499!", "東京都", "", "?!", "one two"])
    got = shingle_strings(text, 3)
    # lowercase, digits folded to 0, punctuation → space, whitespace collapsed
    assert got[0] == ["the price 0", "price 0 000", "0 000 was", "000 was 0", "was 0 000"]
    assert got[1] == ["東 京 都"]  # Han: one word per character
    assert got[2] == [] and got[3] == []  # no tokens: no shingles
    assert got[4] == ["one two"]  # shorter than n: one shingle
    chars = shingle_strings(pa.array(["Ab  c!"]), 3, "char")
    assert chars == [["ab ", "b c"]]


# Characters that exercise every class of the tokenizer: ASCII, Latin with case changes that
# alter length (İ, ẞ), combining marks, digits of other scripts (fullwidth, Arabic-Indic,
# Devanagari, Thai), non-ASCII spaces and punctuation, scripts without spaces, emoji, controls.
_TOKEN_ALPHABET = ("aZ09 .,!-_'\t\n\x0b\x0c\r\x00\x7fÉéİẞßǅ\u0301\u0300ﬁ"
                   "０１９٣४๓\u00a0\u2003\u3000\u200b—“”«»…・。、"
                   "東京都ひらカタไทยລາວខ្មែរမြန်한국어Ωω😀\U00020000Ⅻⅻ²½")


@settings(max_examples=150, deadline=None)
@given(docs=st.lists(st.one_of(st.none(), st.text(alphabet=_TOKEN_ALPHABET, max_size=40)),
                     max_size=12),
       cut=st.integers(0, 3))
def test_vectorised_word_tokens_equal_the_regex_steps(docs, cut):
    arr = pa.array(docs, pa.string())
    arr = arr.slice(min(cut, len(arr)))  # an array with a non-zero offset
    assert word_tokens(arr).to_pylist() == regex_tokens(arr).to_pylist()


def test_vectorised_word_tokens_equal_the_regex_steps_on_real_text(docs):
    text = docs["text"].combine_chunks()
    assert word_tokens(text).equals(regex_tokens(text))
    chunked = pa.chunked_array([text.slice(0, 5), text.slice(5, 7)])
    assert word_tokens(chunked).to_pylist() == regex_tokens(text.slice(0, 12)).to_pylist()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=70), max_size=40))
def test_vectorised_xxh64_equals_xxhash(strings):
    data = np.frombuffer(b"".join(strings), np.uint8)
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in strings])]).astype(np.int64)
    expected = [xxhash.xxh64_intdigest(s) for s in strings]
    assert xxh64_strings(data, offsets).tolist() == expected


def _python_shingle_hashes(text: pa.Array, ngram: int) -> list[list[int]]:
    """The documented xxh64 shingle hash in plain Python: xxh64 per token, combined
    left to right by h*P ^ t (mod 2^64), then MurmurHash3's fmix64."""
    mask = (1 << 64) - 1

    def fmix(h: int) -> int:
        h ^= h >> 33
        h = (h * 0xFF51AFD7ED558CCD) & mask
        h ^= h >> 33
        h = (h * 0xC4CEB9FE1A85EC53) & mask
        return h ^ (h >> 33)

    out = []
    for toks in regex_tokens(text).to_pylist():
        th = [xxhash.xxh64_intdigest(t.encode("utf-8")) for t in toks or []]
        runs = [th[i:i + ngram] for i in range(max(1, len(th) - ngram + 1))] if th else []
        hashes = []
        for run in runs:
            h = run[0]
            for t in run[1:]:
                h = ((h * 0x100000001B3) & mask) ^ t
            hashes.append(fmix(h))
        out.append(hashes)
    return out


@pytest.mark.parametrize("ngram", [1, 3, 5])
def test_fast_shingle_hashes_equal_a_python_reference(docs, ngram):
    extra = ["", "a", "a b", "a b c d", "a b c d e f", "?!", None, "東京都", "x" * 50]
    text = pa.array(docs["text"].to_pylist()[:40] + extra, pa.string())
    sh = shingle_hashes(text, ngram, bits=64)
    expected = _python_shingle_hashes(text, ngram)
    assert sh.counts.tolist() == [len(e) for e in expected]
    assert sh.values.tolist() == [v for e in expected for v in e]


@pytest.mark.parametrize("scheme", ["affine32", "affine64", "legacy"])
def test_sha1_signatures_equal_datasketch(docs, scheme):
    text = docs["text"].combine_chunks().slice(0, 12)
    perms = Permutations(num_perm=64, seed=42, scheme=scheme)
    sig = perms.signatures(shingle_hashes(text, 5, "word", "sha1", perms.bits))
    for i, shingles in enumerate(shingle_strings(text, 5)):
        m = MinHash(num_perm=64, seed=42, scheme=scheme)
        if i == 0:  # datasketch's per-shingle path
            for s in shingles:
                m.update(s.encode("utf-8"))
        else:
            m.update_batch([s.encode("utf-8") for s in shingles])
        assert sig.dtype == m.hashvalues.dtype
        assert np.array_equal(sig[i], m.hashvalues), (scheme, i)


@pytest.mark.parametrize("scheme", ["affine32", "affine64"])
def test_fast_hash_signatures_equal_datasketch_on_the_same_hashes(docs, scheme):
    text = docs["text"].combine_chunks().slice(20, 8)
    perms = Permutations(num_perm=112, seed=1, scheme=scheme)
    sh = shingle_hashes(text, 5, "word", "xxh64", perms.bits)
    sig = perms.signatures(sh)
    for i, (start, count) in enumerate(zip(sh.starts, sh.counts, strict=True)):
        m = MinHash(num_perm=112, seed=1, scheme=scheme, hashfunc=int)
        m.update_batch([int(v) for v in sh.values[start:start + count]])
        assert np.array_equal(sig[i], m.hashvalues)


def test_fast_hash_does_not_depend_on_the_batch(docs):
    text = docs["text"].combine_chunks().slice(0, 30)
    perms = Permutations()
    whole = perms.signatures(shingle_hashes(text, 5, bits=32))
    alone = np.vstack([perms.signatures(shingle_hashes(text.slice(i, 1), 5, bits=32))
                       for i in range(30)])
    assert np.array_equal(whole, alone)


def test_estimated_jaccard_tracks_true_jaccard(docs):
    rng = random.Random(1)
    base = [t for t in docs["text"].to_pylist() if len(t.split()) > 400][:10]
    edited = [_edit(t, 0.1, rng) for t in base]
    perms = Permutations(num_perm=256)
    a = perms.signatures(shingle_hashes(pa.array(base), 5, bits=32))
    b = perms.signatures(shingle_hashes(pa.array(edited), 5, bits=32))
    for i in range(len(base)):
        sa, sb = (set(x) for x in shingle_strings(pa.array([base[i], edited[i]]), 5))
        true = len(sa & sb) / len(sa | sb)
        assert abs((a[i] == b[i]).mean() - true) < 0.1  # 256 perms: sd <= 0.031


def test_lsh_parameters_from_threshold_match_datasketch():
    for threshold, num_perm in ((0.5, 128), (0.8, 112), (0.9, 64)):
        assert optimal_params(threshold, num_perm) == _optimal_param(threshold, num_perm,
                                                                     0.5, 0.5)
    assert optimal_params(0.7, 112, (0.2, 0.8)) == _optimal_param(0.7, 112, 0.2, 0.8)
    stage = MinHashDedup(bands=None, rows=None, threshold=0.8, num_perm=128)
    assert (stage.bands, stage.rows) == _optimal_param(0.8, 128, 0.5, 0.5)


def test_s_curve_of_the_defaults():
    p = candidate_probability(np.array([0.5, 0.75, 0.85, 0.95]), 14, 8)
    assert p[0] < 0.06 and 0.7 < p[1] < 0.85 and p[2] > 0.98 and p[3] > 0.9999


# -- the stage ------------------------------------------------------------------------------


def test_edited_copies_are_removed_and_originals_kept(corpus):
    table, copies = corpus
    res = Pipeline([MinHashDedup()]).run(table, batch_size=25)
    kept = set(res.kept["id"].to_pylist())
    assert res.removed_ids == set(copies)
    assert set(copies.values()) <= kept
    for row in res.ledger.to_pylist():
        d = json.loads(row["detail"])
        assert row["reason"] == "minhash_dedup.near_duplicate"
        assert d["duplicate_of"] == copies[row["doc_id"]] == d["cluster_id"]
        assert d["cluster_size"] == 2
        assert row["score"] == pytest.approx(d["jaccard"], abs=1e-4)
        assert d["jaccard"] > 0.75


def test_natural_near_duplicates_of_the_sample_are_caught(docs):
    pairs = pq.read_table(PAIRS).to_pylist()
    res = Pipeline([MinHashDedup(annotate=True)]).run(docs, batch_size=100)
    cluster: dict[str, str] = {i: i for i in res.kept["id"].to_pylist()}
    for row in res.ledger.to_pylist():
        cluster[row["doc_id"]] = json.loads(row["detail"])["duplicate_of"]
    # The file's Jaccard is of `\w+` 5-grams; the stage verifies its own shingles (digits
    # folded, Japanese one word per character): pairs clearly above the threshold by those
    # (LSH catches >= 0.85 with probability 0.99) must share a cluster.
    text = dict(zip(docs["id"].to_pylist(), docs["text"].to_pylist(), strict=True))
    high = []
    for p in pairs:
        sa, sb = (set(x) for x in shingle_strings(pa.array([text[p["id_a"]],
                                                              text[p["id_b"]]]), 5))
        if len(sa & sb) / len(sa | sb) >= 0.85:
            high.append(p)
    assert len(high) >= 5
    assert all(cluster[p["id_a"]] == cluster[p["id_b"]] for p in high)
    # The sample's exact re-captures (upper-cased or re-spaced copies) are near-duplicates too.
    recaptures = {i for i in docs["id"].to_pylist() if i.startswith("recapture-")}
    sizes = dict(zip(res.kept["id"].to_pylist(), res.kept["cluster_size"].to_pylist(),
                     strict=True))
    assert len(recaptures) == 8
    assert all(i in res.removed_ids or sizes[i] >= 2 for i in recaptures)
    # Nothing outside the known near-duplicate pairs (Jaccard >= 0.5) is removed.
    in_pairs = {p[k] for p in pairs for k in ("id_a", "id_b")}
    originals = {cluster[i] for i in recaptures} | {i for i in res.removed_ids
                                                     if cluster[i] in recaptures}
    assert res.removed_ids - recaptures - originals <= in_pairs


def test_keep_rule_longest_and_annotations(corpus):
    table, copies = corpus
    # every copy becomes its original plus a few words: longer than the original
    rows = table.to_pylist()
    text_of = {r["id"]: r["text"] for r in rows}
    for r in rows:
        if r["id"] in copies:
            r["text"] = text_of[copies[r["id"]]] + " and a few appended closing words"
    table = pa.Table.from_pylist(rows, schema=table.schema)
    res = Pipeline([MinHashDedup(keep="longest", annotate=True)]).run(table, batch_size=40)
    assert res.removed_ids == set(copies.values())
    kept = res.kept.to_pylist()
    heads = {r["id"]: r for r in kept if r["cluster_id"] is not None}
    assert set(heads) == set(copies)
    assert all(r["cluster_size"] == 2 and r["cluster_id"] == r["id"] for r in heads.values())
    assert all(r["cluster_size"] == 1 for r in kept if r["cluster_id"] is None)


def test_verify_drops_candidates_below_threshold(docs):
    """Short boilerplate-sharing pages collide in a band; verification at a high threshold
    keeps pairs the estimate puts below it."""
    plain = Pipeline([MinHashDedup()]).run(docs)
    strict = Pipeline([MinHashDedup(verify=True, threshold=0.95)]).run(docs)
    assert strict.removed_ids < plain.removed_ids
    for row in strict.ledger.to_pylist():
        assert json.loads(row["detail"])["cluster_size"] >= 2
    # star clusters: every removed document is at >= 0.95 to the kept document it names
    assert len(strict.removed_ids) > 0
    _check_stars(strict, 0.95)


def _true_jaccard(a: str, b: str) -> float:
    sa, sb = (set(x) for x in shingle_strings(pa.array([a, b]), 5))
    return len(sa & sb) / len(sa | sb)


def test_exact_jaccard_equals_python_sets_on_real_text(docs):
    rng = random.Random(3)
    base = [t for t in docs["text"].to_pylist() if len(t.split()) > 100][:12]
    texts = base + [_edit(t, rng.choice([0.01, 0.05, 0.2]), rng) for t in base]
    v, counts = shingle_sets(MinHasher().shingles(pa.array(texts)))
    offsets = np.concatenate([[0], np.cumsum(counts)])
    a = np.arange(12)
    b = np.array([12 + i if i % 3 else (i + 1) % 12 for i in range(12)])
    want = [_true_jaccard(texts[i], texts[j]) for i, j in zip(a, b, strict=True)]
    for budget in (1, 500, 1 << 22):  # one pair per chunk, a few, all at once
        got = exact_jaccard(v, offsets, a, b, budget=budget)
        # 32-bit hashes of distinct shingles may collide: a tolerance of one shingle
        assert np.allclose(got, want, atol=2e-3), budget
    assert any(w < 0.3 for w in want) and any(w > 0.9 for w in want)


def _pair_the_estimate_passes(docs) -> tuple[str, str, float]:
    """An edited copy of a real page whose true shingle Jaccard is below 0.75 but whose
    MinHash estimate reaches it, and which shares an LSH band with it."""
    base = [t for t in docs["text"].to_pylist() if len(t.split()) > 300][:8]
    hasher = MinHasher()
    for k in range(600):
        a = base[k % len(base)]
        b = _edit(a, 0.03 + 0.015 * (k % 3) / 2, random.Random(k))
        sig, _ = hasher.signatures(pa.array([a, b]))
        keys = hasher.keys(sig)
        est = (sig[0] == sig[1]).mean()
        if est >= 0.75 and (keys[0] == keys[1]).any() and _true_jaccard(a, b) < 0.75:
            return a, b, float(est)
    raise AssertionError("no such pair in the sample")


def test_exact_verification_rejects_a_pair_the_estimate_passes(docs):
    """Such a pair: the estimate removes the copy, exact verification keeps both."""
    a, b, est = _pair_the_estimate_passes(docs)
    table = pa.table({"id": ["a", "b"], "text": [a, b]})
    by_estimate = Pipeline([MinHashDedup(verify="estimate")]).run(table)
    assert by_estimate.removed_ids == {"b"}
    assert by_estimate.ledger["score"][0].as_py() == pytest.approx(est)
    assert Pipeline([MinHashDedup(verify=False)]).run(table).removed_ids == {"b"}
    for mode in ("exact", True):  # true is the default, exact
        assert Pipeline([MinHashDedup(verify=mode)]).run(table).removed_ids == set()
    # and a copy that is truly similar is still removed, with its exact Jaccard as score
    c = _edit(a, 0.01, random.Random(1))
    res = Pipeline([MinHashDedup()]).run(pa.table({"id": ["a", "c"], "text": [a, c]}))
    assert res.removed_ids == {"c"}
    assert res.ledger["score"][0].as_py() == pytest.approx(_true_jaccard(a, c), abs=2e-3)


def _normal(res) -> tuple[list[str], list[tuple]]:
    led = res.ledger.drop_columns(["shard"]).sort_by("doc_id").to_pylist()
    return sorted(res.kept["id"].to_pylist()), [tuple(sorted(r.items())) for r in led]


@pytest.fixture(scope="module")
def small_corpus(docs) -> pa.Table:
    """Clusters of natural near-duplicates (the Japanese shop site) + edited copies."""
    rng = random.Random(9)
    rows = docs.to_pylist()
    jp = [r for r in rows if r["id"].startswith("clueweb")][:12]
    others = [r for r in rows if not r["id"].startswith("clueweb")][:30]
    extra = [{"id": f"c{k}", "text": _edit(r["text"], 0.02, rng), "source": "copy"}
             for k, r in enumerate(others[:10])]
    extra += [{"id": "e1", "text": "", "source": "x"}, {"id": "e2", "text": "!!", "source": "x"}]
    return pa.Table.from_pylist(jp + others + extra, schema=docs.schema)


@pytest.mark.parametrize("verify", [False, "estimate", True])
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10**6), batch=st.integers(1, 60), shards=st.integers(1, 5))
def test_shuffling_sharding_and_batching_do_not_change_the_result(small_corpus, verify, seed,
                                                                  batch, shards):
    ref = Pipeline([MinHashDedup(verify=verify, annotate=True)]).run(small_corpus,
                                                                       batch_size=1000)
    assert len(ref.removed_ids) >= 10
    order = list(range(small_corpus.num_rows))
    random.Random(seed).shuffle(order)
    t = small_corpus.take(pa.array(order))
    step = -(-t.num_rows // shards)
    parts = [t.slice(i * step, step) for i in range(shards)]
    res = Pipeline([MinHashDedup(verify=verify, annotate=True)]).run(
        [b for p in parts for b in p.to_batches(max_chunksize=batch)], batch_size=batch)
    assert _normal(res) == _normal(ref)
    ann = {r["id"]: (r["cluster_id"], r["cluster_size"]) for r in res.kept.to_pylist()}
    ann_ref = {r["id"]: (r["cluster_id"], r["cluster_size"]) for r in ref.kept.to_pylist()}
    assert ann == ann_ref


def test_documents_without_shingles_are_never_removed(small_corpus):
    res = Pipeline([MinHashDedup()]).run(small_corpus)
    assert {"e1", "e2"} <= set(res.kept["id"].to_pylist())
    empty = Pipeline([MinHashDedup()]).run(small_corpus.slice(0, 0))
    assert empty.kept.num_rows == 0


def test_char_shingles_find_copies_in_text_without_spaces():
    base = ("東京都の今日の天気は晴れです。明日は朝から雨が降るでしょう。週末は曇りの予報で、"
            "気温は平年並みになる見込みです。来週の前半は北風が強く、空気が乾燥します。"
            "火の取り扱いに十分注意してください。桜の開花は例年より早くなりそうです。")
    other = ("大阪府では午後から強い風が吹く見込みです。海沿いでは高波に注意してください。"
             "夜には雨が止み、明日の朝は冷え込むでしょう。")
    table = pa.table({"id": ["a", "b", "c"],
                      "text": [base, base.replace("注意して", "気をつけて"), other]})
    for stage in (MinHashDedup(), MinHashDedup(shingle="char", ngram=5)):
        res = Pipeline([stage]).run(table)
        assert res.removed_ids == {"b"}


def test_invalid_parameters_are_clear_errors():
    for params, word in (({"keep": "first"}, "keep"), ({"bands": 20, "rows": 8}, "bands"),
                         ({"bands": 14, "rows": None}, "bands"), ({"scheme": "x"}, "scheme"),
                         ({"threshold": 1.5}, "threshold"), ({"hash": "md5"}, "hash"),
                         ({"shingle": "sentence"}, "shingle"), ({"verify": "maybe"}, "verify")):
        with pytest.raises(ConfigError, match=word):
            Pipeline({"stages": [{"stage": "minhash_dedup", **params}]})


def test_cli_run_over_shards_verifies(small_corpus, tmp_path: Path):
    write_shards(small_corpus, tmp_path / "in", 3)
    recipe = tmp_path / "p.yaml"
    recipe.write_text("stages:\n  - stage: minhash_dedup\n    annotate: true\n")
    out = tmp_path / "out"
    run_cli("run", str(recipe), str(tmp_path / "in"), "-o", str(out),
            "--batch-size", "7", "--no-progress", "-q")
    report = verify(out)
    assert report.ok, report.problems
    ref = Pipeline([MinHashDedup(annotate=True)]).run(small_corpus)
    ledger = pq.read_table(out / "ledger")
    assert set(ledger["doc_id"].to_pylist()) == ref.removed_ids
    kept = pq.read_table(out / "data")
    assert "cluster_size" in kept.schema.names
    assert pc.sum(kept["cluster_size"]).as_py() == small_corpus.num_rows


def test_streaming_mode_is_first_seen_wins(corpus):
    table, copies = corpus
    texts, ids = table["text"].to_pylist(), table["id"].to_pylist()
    d = StreamingMinHashDedup()
    keep, dup_of = d.add(texts, ids)
    removed = {i for i, k in zip(ids, keep, strict=True) if not k}
    assert removed == set(copies)
    assert all(dup_of[ids.index(c)] == o for c, o in copies.items())
    # reversed order: the copies come first and win (documented order dependence)
    d2 = StreamingMinHashDedup()
    keep2, _ = d2.add(texts[::-1], ids[::-1])
    assert {i for i, k in zip(ids[::-1], keep2, strict=True) if not k} == set(copies.values())
    assert len(list(StreamingMinHashDedup().filter(texts))) == len(texts) - len(copies)


def test_streaming_mode_verifies_candidates_like_the_stage(docs):
    a, b, _ = _pair_the_estimate_passes(docs)
    c = _edit(a, 0.01, random.Random(1))  # truly similar
    texts, ids = [a, b, c], ["a", "b", "c"]
    assert StreamingMinHashDedup().add(texts, ids)[1] == [None, None, "a"]  # exact (default)
    assert StreamingMinHashDedup(verify="estimate").add(texts, ids)[1] == [None, "a", "a"]
    assert StreamingMinHashDedup(verify=False).add(texts, ids)[1] == [None, "a", "a"]
    # a candidate that fails verification does not hide a later kept document it resembles
    d = StreamingMinHashDedup()
    d.add([a, b], ["a", "b"])
    assert d.add([_edit(b, 0.01, random.Random(2))], ["b2"])[1] == ["b"]
    with pytest.raises(ValueError, match="threshold"):
        StreamingMinHashDedup(threshold=1.5)


def test_streaming_example_in_the_docs_runs():
    import re

    text = (Path(__file__).resolve().parents[1] / "docs" / "dedup.md").read_text()
    block = re.findall(r"```python\n(.*?)```", text, flags=re.S)[0]
    ns: dict = {}
    exec(block, ns)
    assert ns["keep"].tolist() == [True, False, True]
    assert ns["duplicate_of"] == [None, "a", None]
    assert ns["unique"] == [ns["texts"][0], ns["texts"][2]]


@pytest.mark.parametrize("on_disk", [True, False])
def test_exact_verification_in_several_passes_gives_the_same_plan(corpus, tmp_path, on_disk,
                                                                   monkeypatch):
    """Memory-bounded plan: the shingle hashes are read in several passes (one slice of the
    hash range each) and in small batches across shard boundaries; the plan is unchanged."""
    import corpusfilter.dedup.records as records
    from corpusfilter.core.docs import Docs
    from corpusfilter.core.stage import Collected

    table, copies = corpus
    stage = MinHashDedup()
    parts = [stage.collect(Docs(b)) for b in table.to_batches(max_chunksize=23)]
    paths = []
    for i, t in enumerate(parts):
        paths.append(str(tmp_path / f"c{i}.parquet"))
        pq.write_table(t, paths[-1], row_group_size=9)

    def collected() -> Collected:
        return Collected(paths=paths) if on_disk else Collected(tables=parts)

    one = MinHashDedup().plan(collected())
    assert set(one.removed["doc_id"].to_pylist()) == set(copies)
    monkeypatch.setattr(records, "SETS_BYTES_PER_DOC", 0)
    monkeypatch.setattr(records, "SETS_MIN_BYTES", 4000)
    monkeypatch.setattr(records, "READ_BATCH_ROWS", 7)
    many_stage = MinHashDedup()
    many = many_stage.plan(collected())
    assert many_stage.verify_passes > 3
    assert many.removed.equals(one.removed) and many.heads.equals(one.heads)


# -- star verification ----------------------------------------------------------------------


def _words(rng: random.Random, n: int) -> list[str]:
    return [f"w{rng.randrange(400)}" for _ in range(n)]


def _ledger(res) -> dict[str, tuple[str, int, float]]:
    """removed id → (duplicate_of, cluster_size, jaccard) from the ledger."""
    out = {}
    for row in res.ledger.to_pylist():
        d = json.loads(row["detail"])
        assert d["cluster_id"] == d["duplicate_of"]
        assert d["jaccard"] == pytest.approx(row["score"], abs=1e-4)
        out[row["doc_id"]] = (d["duplicate_of"], d["cluster_size"], row["score"])
    return out


def _check_stars(res, threshold: float) -> None:
    """Every removed document names a kept document it is similar to, and cluster_size is
    the kept document plus the documents removed as its duplicates."""
    led = _ledger(res)
    kept = set(res.kept["id"].to_pylist())
    per_head: dict[str, int] = {}
    for dup_of, _, jac in led.values():
        assert dup_of in kept
        assert jac >= threshold
        per_head[dup_of] = per_head.get(dup_of, 0) + 1
    for dup_of, size, _ in led.values():
        assert size == per_head[dup_of] + 1


def _reference(table: pa.Table, threshold: float, keep: str, mode: str, bands: int,
               rows: int) -> dict[str, tuple[str, int, float]]:
    """Brute force, one pair at a time: candidate pairs share a band key; verified pairs are
    candidates at >= threshold; in each connected component of verified pairs its first
    document (keep rule) is also compared with every other member; then the documents are
    taken in keep order, and one not yet removed is kept and removes its neighbours. (All
    buckets must be small enough for the stage to compare every pair of them.)"""
    ids, texts = table["id"].to_pylist(), table["text"].to_pylist()
    hasher = MinHasher(bands=bands, rows=rows)
    sig, has = hasher.signatures(pa.array(texts, pa.string()))
    keys = hasher.keys(sig)
    sets = [set(s) for s in shingle_strings(pa.array(texts, pa.string()), 5)]

    def sim(i: int, j: int) -> float:
        if mode == "estimate":
            return float((sig[i] == sig[j]).mean())
        return len(sets[i] & sets[j]) / len(sets[i] | sets[j])

    docs = [i for i in range(len(ids)) if has[i]]
    order = sorted(docs, key=lambda i: (-len(texts[i]) if keep == "longest" else 0, ids[i]))
    rank = {i: r for r, i in enumerate(order)}
    adj: dict[int, dict[int, float]] = {i: {} for i in docs}
    for i in docs:
        for j in docs:
            if i < j and (keys[i] == keys[j]).any() and sim(i, j) >= threshold:
                adj[i][j] = adj[j][i] = sim(i, j)
    seen: set[int] = set()
    for i in order:  # components, each found from its first document
        if i in seen:
            continue
        comp, todo = {i}, [i]
        while todo:
            for j in adj[todo.pop()]:
                if j not in comp:
                    comp.add(j)
                    todo.append(j)
        seen |= comp
        for j in comp - {i}:
            if j not in adj[i] and sim(i, j) >= threshold:
                adj[i][j] = adj[j][i] = sim(i, j)
    dup: dict[int, int] = {}
    for i in order:
        if i in dup:
            continue
        for j in adj[i]:
            if j not in dup and rank[j] > rank[i]:
                dup[j] = i
    size = {h: 1 + sum(1 for x in dup.values() if x == h) for h in dup.values()}
    return {ids[j]: (ids[h], size[h], adj[j][h]) for j, h in dup.items()}


def _chain_corpus(rng: random.Random, families: list[tuple[int, int]]) -> pa.Table:
    """Per family a random base text and successive edits: each new text is an earlier text
    of its family with a few words substituted (and sometimes one appended), so that
    neighbours are similar and the ends of a chain are not. Random ids: their order has
    nothing to do with the chain."""
    texts = []
    for length, subs in families:
        fam = [_words(rng, rng.randrange(40, 90))]
        for _ in range(length - 1):
            w = list(fam[max(0, len(fam) - 1 - rng.randrange(2))])
            for p in rng.sample(range(len(w)), subs):
                w[p] = f"w{rng.randrange(400)}"
            if rng.random() < 0.3:
                w.append("extra")
            fam.append(w)
        texts += [" ".join(w) for w in fam]
    ids = [f"{rng.randrange(10**6):06d}-{k}" for k in range(len(texts))]
    rows = list(zip(ids, texts, strict=True))
    rng.shuffle(rows)
    return pa.table({"id": [r[0] for r in rows], "text": [r[1] for r in rows]})


def test_a_chain_is_not_one_cluster_with_verification(docs):
    """A ~ B and B ~ C but not A ~ C: with verification B is removed as a duplicate of A and
    C is kept (it is no near-duplicate of a kept document); without it, FineWeb's connected
    components remove both, C with a Jaccard below the threshold."""
    base = next(t for t in docs["text"].to_pylist() if len(t.split()) > 80).split()[:70]
    b = list(base)
    b[20] = "substituted"
    c = list(b)
    c[45] = "replaced"
    texts = [" ".join(base), " ".join(b), " ".join(c)]
    assert _true_jaccard(texts[0], texts[1]) >= 0.75
    assert _true_jaccard(texts[1], texts[2]) >= 0.75
    assert _true_jaccard(texts[0], texts[2]) < 0.75
    table = pa.table({"id": ["a", "b", "c"], "text": texts})
    for mode in ("exact", "estimate"):
        res = Pipeline([MinHashDedup(verify=mode, annotate=True)]).run(table)
        assert res.removed_ids == {"b"}, mode
        assert _ledger(res)["b"][:2] == ("a", 2)
        _check_stars(res, 0.75)
        ann = {r["id"]: (r["cluster_id"], r["cluster_size"]) for r in res.kept.to_pylist()}
        assert ann == {"a": ("a", 2), "c": (None, 1)}
    off = Pipeline([MinHashDedup(verify=False)]).run(table)
    led = _ledger(off)
    assert set(led) == {"b", "c"} and {v[:2] for v in led.values()} == {("a", 3)}
    assert led["c"][2] < 0.75
    # keep: longest (c is longest, then b): c is kept, b removed as its duplicate, a kept
    table2 = pa.table({"id": ["a", "b", "c"],
                       "text": [texts[0], texts[1] + " x", texts[2] + " x y"]})
    res = Pipeline([MinHashDedup(keep="longest")]).run(table2)
    assert res.removed_ids == {"b"} and _ledger(res)["b"][:2] == ("c", 2)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1),
       families=st.lists(st.tuples(st.integers(1, 8), st.integers(1, 3)), min_size=1,
                         max_size=3),
       keep=st.sampled_from(["smallest_id", "longest"]),
       mode=st.sampled_from(["exact", "estimate"]),
       threshold=st.sampled_from([0.7, 0.75, 0.85]),
       layout=st.sampled_from([(14, 8), (20, 5)]), batch=st.integers(1, 8))
def test_star_clusters_equal_a_brute_force_reference(seed, families, keep, mode, threshold,
                                                    layout, batch):
    table = _chain_corpus(random.Random(seed), families)
    stage = MinHashDedup(keep=keep, verify=mode, threshold=threshold, bands=layout[0],
                         rows=layout[1])
    res = Pipeline([stage]).run(table, batch_size=batch)
    _check_stars(res, threshold)
    got = _ledger(res)
    want = _reference(table, threshold, keep, mode, *layout)
    assert {k: v[:2] for k, v in got.items()} == {k: v[:2] for k, v in want.items()}
    for k, v in want.items():
        assert got[k][2] == pytest.approx(v[2], abs=1e-9)


def _pivot_reference(rank: np.ndarray, edges: list[tuple[int, int]]) -> list[int]:
    adj: dict[int, set[int]] = {i: set() for i in range(len(rank))}
    for u, v in edges:
        adj[u].add(v)
        adj[v].add(u)
    final: dict[int, int] = {}
    for i in np.argsort(rank).tolist():
        if i not in final:
            final[i] = i
            for j in adj[i]:
                final.setdefault(j, i)
    return [final[i] for i in range(len(rank))]


@pytest.mark.parametrize("min_settled", [0.0, 0.1, 1.0])  # rounds only, default, loop
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_star_rounds_and_loop_equal_the_sequential_rule(min_settled, data):
    import corpusfilter.dedup.clusters as mh

    m = data.draw(st.integers(1, 40))
    rank = np.array(data.draw(st.permutations(range(m))), dtype=np.int64)
    edges = data.draw(st.lists(st.tuples(st.integers(0, m - 1), st.integers(0, m - 1))
                               .filter(lambda e: e[0] != e[1]), max_size=3 * m,
                               unique_by=lambda e: (min(e), max(e))))
    # a long chain as well: the rounds settle few of its edges at a time
    if data.draw(st.booleans()):
        chain = sorted(range(m), key=lambda i: rank[i])
        edges = list({(min(e), max(e)) for e in edges} | {
            (min(a, b), max(a, b)) for a, b in pairwise(chain)})
    u = np.array([e[0] for e in edges], dtype=np.int64)
    v = np.array([e[1] for e in edges], dtype=np.int64)
    s = np.arange(len(edges), dtype=np.float64)
    saved, mh.PIVOT_MIN_SETTLED = mh.PIVOT_MIN_SETTLED, min_settled
    try:
        final, sim = mh.pivot(rank, u, v, s)
    finally:
        mh.PIVOT_MIN_SETTLED = saved
    assert final.tolist() == _pivot_reference(rank, edges)
    code = {(min(a, b), max(a, b)): k for k, (a, b) in enumerate(edges)}
    for i in range(m):
        if final[i] == i:
            assert np.isnan(sim[i])
        else:
            assert sim[i] == code[(min(i, final[i]), max(i, final[i]))]
