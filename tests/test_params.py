"""Stage parameters are checked from their annotations (`core.params`): in Python and from a
pipeline file, for top-level values and for per-language/per-source overrides."""

from __future__ import annotations

import inspect
import math
from typing import Annotated, Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corpusfilter.core import registry
from corpusfilter.core.errors import ConfigError
from corpusfilter.core.params import (
    Count,
    Fraction,
    LangCode,
    Range,
    annotations_of,
    check,
    describe,
)
from corpusfilter.core.pipeline import Pipeline
from corpusfilter.filters.c4 import C4Quality
from corpusfilter.filters.gopher import GopherQuality
from corpusfilter.filters.length import DocLength

NUMBERS = st.one_of(st.integers(-10, 10), st.floats(allow_nan=True, allow_infinity=True),
                    st.booleans(), st.none(), st.text(max_size=3))


def _is_real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


@given(NUMBERS)
def test_fraction_accepts_exactly_the_real_numbers_in_0_1(v: Any) -> None:
    ok = _is_real(v) and not math.isnan(v) and 0 <= v <= 1
    if ok:
        check(v, Fraction, "p")
    else:
        with pytest.raises(ValueError, match=r"^p must be a number in \[0, 1\], got "):
            check(v, Fraction, "p")


@given(NUMBERS)
def test_nullable_count_accepts_null_and_whole_numbers_from_0(v: Any) -> None:
    ok = v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0)
    if ok:
        check(v, Count | None, "n")
    else:
        with pytest.raises(ValueError, match="n must be an integer ≥ 0 or null"):
            check(v, Count | None, "n")


@given(st.one_of(st.booleans(), st.integers(0, 1), st.sampled_from(["yes", "no", "auto"])))
def test_switch_with_a_literal(v: Any) -> None:
    ann = bool | Literal["auto"]
    if isinstance(v, bool) or v == "auto":
        check(v, ann, "x")
    else:
        with pytest.raises(ValueError, match="true, false or auto"):
            check(v, ann, "x")


def test_messages_name_the_item_of_a_list_or_mapping() -> None:
    with pytest.raises(ValueError, match=r"t\['de'\] must be a number in \[0, 1\] or null"):
        check({"en": 0.5, "de": 3}, dict[str, Fraction | None] | None, "t")
    with pytest.raises(ValueError, match=r"w\[1\] must be a language code"):
        check(["en", "?"], list[LangCode], "w")
    check(["en", "de-AT", "zh_Hans"], list[LangCode], "w")
    with pytest.raises(ValueError, match="must be a list"):
        check("en", list[LangCode], "w")  # a lone string is not a list


def test_open_and_finite_ranges() -> None:
    assert describe(Annotated[float, Range(0, 1, lo_open=True)]) == "a number in (0, 1]"
    with pytest.raises(ValueError):
        check(0.0, Annotated[float, Range(0, 1, lo_open=True)], "k")
    check(math.inf, Annotated[float, Range(0)], "k")
    with pytest.raises(ValueError, match="a finite number ≥ 0"):
        check(math.inf, Annotated[float, Range(0, finite=True)], "k")


def test_every_registered_stage_resolves_all_its_annotations() -> None:
    """An annotation that cannot be resolved would silently go unchecked."""
    for name in registry.names():
        cls = registry.get(name)
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None or klass is object:
                continue
            sig = inspect.signature(inspect.unwrap(init))
            annotated = {n for n, p in sig.parameters.items()
                         if n != "self" and p.annotation is not inspect.Parameter.empty}
            assert set(annotations_of(init)) == annotated, (name, klass)


def test_checked_in_python_with_stage_and_parameter_named() -> None:
    with pytest.raises(ValueError, match=r"^doc_length: min_words must be an integer ≥ 0 or "
                                         r"null, got -1$"):
        DocLength(min_words=-1)
    with pytest.raises(ValueError, match="c4_quality: keep_headings must be true or false, "
                                         "got 1"):
        C4Quality(keep_headings=1)
    with pytest.raises(ValueError, match="gopher_quality: default_lang must be a language "
                                         "code"):
        GopherQuality(default_lang="")


@pytest.mark.parametrize("entry, message", [
    ({"stage": "gopher_quality", "overrides": {"de": {"max_bullet_lines_ratio": 2}}},
     r"overrides\['de'\]\.max_bullet_lines_ratio|overrides.*max_bullet_lines_ratio"),
    ({"stage": "c4_quality", "source_overrides": {"code": {"filter_curly_bracket": None}}},
     "filter_curly_bracket must be true or false"),
    ({"stage": "spam", "overrides": {"ja": {"max_caps_ratio": "high"}}}, "max_caps_ratio"),
    ({"stage": "language", "backend": "fasttxt"}, "backend must be one of fasttext, cld2, "
                                                  "ensemble"),
    ({"stage": "boilerplate_lines", "min_docs": 1}, "min_docs must be an integer ≥ 2 or null"),
])
def test_pipeline_file_errors_are_one_line_and_name_the_entry(entry: dict[str, Any],
                                                              message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        Pipeline({"stages": [{"stage": "doc_length"}, entry]})
    text = str(err.value)
    assert text.startswith(f"stages[1] ({entry['stage']}): ") and "\n" not in text


def test_overrides_may_switch_a_rule_off_with_null() -> None:
    GopherQuality(overrides={"de": {"max_bullet_lines_ratio": None}},
                  source_overrides={"code": {"min_stop_words": None}})


def test_a_lone_string_where_a_stage_takes_one_or_a_list() -> None:
    """`keep: en`, `lists: surge`, `domains: example.com`: the constructors read a lone
    string as a one-item list, and the annotations say so."""
    from corpusfilter.filters.language import Language
    from corpusfilter.filters.toxicity import Toxicity
    from corpusfilter.filters.url_blocklist import UrlBlocklist

    assert Language(keep="en").keep == ["en"]
    assert list(Toxicity(lists="surge").lists) == ["surge"]
    assert UrlBlocklist(domains="example.com").blocked == frozenset({"example.com"})


def test_stages_listing_shows_what_each_parameter_takes() -> None:
    params = {p.name: p for p in registry.params_of(registry.get("gopher_quality"))}
    assert params["max_bullet_lines_ratio"].expects == "a number in [0, 1] or null"
    assert params["default_lang"].expects == "a language code such as 'en' or null"
    assert params["stop_words"].expects == "a list of a non-empty string or null"
    assert params["lang_table"].expects is None  # a plain string: the constructor checks it
