"""`fineweb_quality` on real documents, against a plain Python oracle of FineWeb's rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import regex

from corpusfilter import Pipeline
from corpusfilter.core.docs import Docs
from corpusfilter.filters.fineweb import FineWebQuality
from corpusfilter.filters.text import split_words

DATA = Path(__file__).parent / "data" / "heuristics"
ENGLISH = pq.read_table(DATA / "datatrove_decisions.parquet")
MULTI = pq.read_table(DATA / "multilingual.parquet")
SENTENCE_END = regex.compile(r"\p{Sentence_Terminal}$")


def oracle(text: str) -> dict[str, float]:
    lines = [ln for ln in text.split("\n") if ln.strip()]
    if not lines:
        return {"lines": 0}
    seen: set[str] = set()
    dup_chars = 0
    for ln in lines:
        if ln in seen:
            dup_chars += len(ln)
        seen.add(ln)
    n_words = len(split_words(pa.array([text])).values)
    return {
        "lines": len(lines),
        "line_punct_ratio": sum(bool(SENTENCE_END.search(ln)) for ln in lines) / len(lines),
        "short_line_ratio": sum(len(ln) <= 30 for ln in lines) / len(lines),
        "dup_line_char_ratio": dup_chars / len(text.replace("\n", "")),
        "newline_word_ratio": text.count("\n") / n_words if n_words else np.inf,
    }


def test_scores_match_oracle_on_real_pages() -> None:
    texts = ENGLISH["text"].to_pylist()[:200] + MULTI["text"].to_pylist()
    scores = FineWebQuality().score(Docs(pa.record_batch(
        {"id": [str(i) for i in range(len(texts))], "text": texts})))
    for i, text in enumerate(texts):
        for metric, value in oracle(text).items():
            assert scores[metric][i] == pytest.approx(value, abs=1e-12), (i, metric)


def run(stage: dict[str, Any], texts: list[str], langs: list[str] | None = None
        ) -> dict[str, tuple[str, float, float]]:
    cols: dict[str, Any] = {"id": [f"d{i}" for i in range(len(texts))], "text": texts}
    if langs is not None:
        cols["lang"] = langs
    result = Pipeline({"stages": [stage]}).run(pa.table(cols))
    return {r["doc_id"]: (r["reason"], r["score"], r["threshold"])
            for r in result.ledger.to_pylist()}


def test_each_rule_fires_on_real_text() -> None:
    kept_by_datatrove = [r["text"] for r in ENGLISH.to_pylist()
                         if r["dt_fineweb_quality"] and len(r["text"]) > 2000]
    page = kept_by_datatrove[0]
    assert run({"stage": "fineweb_quality"}, [page]) == {}
    words = page.split()
    variants = {
        "empty": " \n\t\n",
        "line_punct_ratio": page.replace(".", "").replace("?", "").replace("!", ""),
        "short_line_ratio": "\n".join(" ".join(words[i:i + 3]) + "." for i in range(0, len(words), 3)),
        "dup_line_char_ratio": page + "\n" + page.split("\n")[0] * 1 + "\n"
        + "\n".join([max(page.split("\n"), key=len)] * 2),
        "newline_word_ratio": page + "\n" * len(words),
    }
    removed = run({"stage": "fineweb_quality"}, list(variants.values()))
    for i, rule in enumerate(variants):
        assert removed[f"d{i}"][0] == f"fineweb_quality.{rule}", rule
    off = {"stage": "fineweb_quality", "min_line_punct_ratio": None,
           "max_short_line_ratio": None, "max_dup_line_char_ratio": None,
           "max_newline_word_ratio": None}
    assert set(run(off, list(variants.values()))) == {"d0"}  # an empty document stays out


def test_exclude_zero_and_language_overrides() -> None:
    page = next(r["text"] for r in ENGLISH.to_pylist() if r["dt_fineweb_quality"])
    bare = page.replace(".", "").replace("?", "").replace("!", "")
    assert run({"stage": "fineweb_quality", "line_punct_exclude_zero": True}, [bare]) == {}
    ja = next(r["text"] for r in MULTI.to_pylist() if r["id"] == "langid-ja")
    assert run({"stage": "fineweb_quality"}, [ja], ["ja"]) == {}
    removed = run({"stage": "fineweb_quality",
                   "overrides": {"ja": {"max_newline_word_ratio": 0.001}}}, [ja, page],
                  ["ja", "en"])
    assert removed["d0"][0] == "fineweb_quality.newline_word_ratio" and "d1" not in removed
    assert removed["d0"][2] == 0.001


def test_bad_parameters_and_empty_batch() -> None:
    for bad in ({"min_line_punct_ratio": 2}, {"short_line_length": -1},
                {"line_punct_exclude_zero": "no"}):
        with pytest.raises(ValueError):
            FineWebQuality(**bad)
    empty = pa.record_batch({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())})
    outcome, _ = FineWebQuality().process(Docs(empty))
    assert len(outcome.keep) == 0


QUALITY = {r["id"]: r for r in pq.read_table(
    Path(__file__).parent / "data" / "quality" / "dclm_labeled.parquet").to_pylist()}


def _punct(stage: dict[str, Any], text: str) -> float:
    result = Pipeline({"stages": [{"stage": "fineweb_quality", **stage}]}).run(
        pa.table({"id": ["d"], "text": [text]}))
    rows = [r for r in result.ledger.to_pylist() if r["reason"] == "fineweb_quality.line_punct_ratio"]
    docs = Docs(pa.table({"id": ["d"], "text": [text]}))
    score = FineWebQuality(**stage).score(docs)["line_punct_ratio"][0]
    assert bool(rows) == (score < 0.12)
    return float(score)


def test_quoted_line_ends_count_as_punctuation() -> None:
    # a real page DCLM's annotators call good: blurbs that end in `.”` and `."`
    text = QUALITY["quality-8a24f54c8d7ac603"]["text"]
    assert QUALITY["quality-8a24f54c8d7ac603"]["label"] == 1
    plain = _punct({}, text)
    quoted = _punct({"closing_quotes": True}, text)
    assert plain < 0.12 <= quoted
    lines = [ln for ln in text.split("\n") if ln.strip()]
    ends = sum(ln.rstrip()[-1] in ".!?" or ln.rstrip()[-2:] in ('."', ".”", '?"', "!”")
               for ln in lines)
    assert quoted == pytest.approx(ends / len(lines))
    # an ellipsis in brackets is a teaser's end, not a sentence's
    assert _punct({"closing_quotes": True}, "and so we catch them [...]\nMore") == 0.0


def test_hard_wrapped_paragraph_is_one_line() -> None:
    text = QUALITY["quality-69ce911e1301b1eb"]["text"]  # wrapped at ~60 columns
    plain = _punct({}, text)
    joined = _punct({"join_wrapped_lines": True}, text)
    lines = [ln for ln in text.split("\n") if ln.strip()]
    ended = sum(ln.rstrip()[-1] in ".!?" for ln in lines)
    assert plain == pytest.approx(ended / len(lines))
    # the same ends over fewer units: a paragraph is one
    assert joined > 2 * plain


def test_code_lines_left_out_of_the_metrics() -> None:
    prose = ("Use a context manager so the file is closed.\n"
             "It also works when an exception is raised.\n")
    code = "f = open(path)\n    data = f.read()\n    rows = data.split(',')\n" * 3
    docs = Docs(pa.table({"id": ["d"], "text": [prose + code]}))
    plain = FineWebQuality().score(docs)
    skip = FineWebQuality(skip_code=True).score(docs)
    assert plain["line_punct_ratio"][0] < 0.5
    assert skip["line_punct_ratio"][0] == 1.0
    assert plain["dup_line_char_ratio"][0] > 0.3
    assert skip["dup_line_char_ratio"][0] == 0.0
