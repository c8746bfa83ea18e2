"""A run's recorded configuration rebuilds the same run.

Every registered stage is built in Python with parameters that differ from its defaults, run
on the bundled sample, and rebuilt from `RunResult.config` (what `run.json` stores): the
recorded parameters are the ones given, and the rebuilt pipeline keeps, removes and rewrites
exactly the same documents with the same ledger.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from corpusfilter import Pipeline
from corpusfilter.core import registry
from corpusfilter.filters.language import shipped_model_path

# lid.176 read as a fastText classifier whose "good" label is English: a real model file
# for the quality stages without training one here.
LID = str(shipped_model_path())

# One entry per registered stage: parameters that change what the stage decides on the
# sample wherever the stage allows it (a test below checks that every stage is covered).
NON_DEFAULT: dict[str, dict[str, Any]] = {
    "balance": {"alpha": 0.5, "seed": 3},
    "boilerplate_lines": {"min_docs": 3, "min_site_docs": None},
    "c4_paragraph": {"min_paragraphs": 2, "min_paragraph_chars": 150},
    "c4_quality": {"min_sentences": 3, "filter_curly_bracket": False},
    "doc_length": {"min_chars": 2000, "max_chars": 40_000},
    "exact_dedup": {"lowercase": False, "keep": "longest"},
    "fineweb_quality": {"max_short_line_ratio": 0.8,
                        "overrides": {"de": {"max_newline_word_ratio": 0.4}}},
    "gopher_quality": {"min_words": 400},
    "gopher_repetition": {"max_dup_line_frac": 0.2, "max_top_2gram_char_frac": 0.15},
    "language": {"keep": ["en", "de"], "min_score": 0.5},
    "minhash_dedup": {"threshold": 0.6, "verify": "estimate"},
    "quality_classifier": {"model_path": LID, "good_label": "en", "min_score": 0.5},
    "quality_classifier_percentile": {"model_path": LID, "good_label": "en",
                                      "keep_fraction": 0.5, "by_lang": True},
    "pii": {"mode": "label_only", "entities": ["EMAIL_ADDRESS", "PHONE_NUMBER"]},
    "spam": {"max_caps_ratio": 0.5, "min_words": 80},
    "toxicity": {"max_fraction": 0.01, "max_severe": 2},
    "unicode_fix": {"uncurl_quotes": True, "fix_character_width": True},
    "url_blocklist": {"domains": ["wikipedia.org", "github.com"]},
}


def test_every_registered_stage_is_covered() -> None:
    # Built-in stages only: a plugin another test registered (docs examples, test_plugins)
    # is that test's to check.
    builtin = {n for n in registry.names() if registry.origin_of(registry.get(n)) is None}
    missing = sorted(builtin - set(NON_DEFAULT))
    assert not missing, f"add non-default parameters for {missing} to NON_DEFAULT"


@pytest.mark.parametrize("name", sorted(NON_DEFAULT))
def test_recorded_config_rebuilds_the_same_run(name: str, sample_table: pa.Table) -> None:
    if name not in registry.names():
        pytest.skip(f"{name} is not registered in this build")
    given = NON_DEFAULT[name]
    stage = registry.get(name)(**given)
    first = Pipeline([stage]).run(sample_table)

    (entry,) = first.config["stages"]
    for key, value in given.items():
        assert entry[key] == value, f"{name}.{key} recorded as {entry[key]!r}, given {value!r}"
    defaults = {p.name: p.default for p in registry.params_of(type(stage))}
    assert set(entry) - {"stage"} == set(defaults)

    again = Pipeline(first.config).run(sample_table)
    assert again.kept.equals(first.kept)
    assert again.ledger.equals(first.ledger)
    assert _counts(again.stats.data["stages"]) == _counts(first.stats.data["stages"])


def _counts(stages: dict[str, Any]) -> dict[str, Any]:
    """Per-stage counters without wall-clock times."""
    return {label: {k: v for k, v in s.items() if not k.endswith("seconds")} for label, s in stages.items()}


def test_the_recorded_value_is_the_given_one_not_the_default(sample_table: pa.Table) -> None:
    """The reported bug: GopherQuality(min_words=400) was recorded as min_words=50, and the
    rebuilt run removed fewer documents than the original."""
    from corpusfilter.filters.gopher import GopherQuality

    first = Pipeline([GopherQuality(min_words=400)]).run(sample_table)
    assert first.config["stages"][0]["min_words"] == 400
    again = Pipeline(first.config).run(sample_table)
    assert len(again.removed_ids) == len(first.removed_ids) > 0
