"""One mechanism for per-language and per-source parameters, used by every stage.

A stage declares its per-document parameters (thresholds, switches) with their defaults; a
pipeline file may override them per language and per source:

```yaml
  - stage: gopher_quality
    overrides:                 # by the document's `lang` column
      de: {min_mean_word_length: 3.5}
    source_overrides:          # by the document's `source` column
      stackexchange: {min_alpha_words_ratio: null}
```

Precedence: ``source_overrides[source]`` > ``overrides[language]`` > the stage's built-in
language defaults > the top-level value. ``null`` switches a rule off. A document without a
language takes the stage's ``default_lang``.

Languages are compared by their primary subtag, lower-case: a document tagged ``de-AT``,
``de_CH`` or ``DE`` takes the ``de`` overrides, in every stage (an override key ``de-AT`` is
read as ``de``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any

import numpy as np


def normalise_lang(code: Any) -> str | None:
    """``en``, ``EN``, ``en-US``, ``en_Latn`` -> ``en``; empty -> None."""
    if code is None:
        return None
    code = str(code).strip().lower().replace("-", "_").split("_")[0]
    return code or None


def doc_langs(lang_column: Sequence[str | None] | None, num_rows: int,
              default_lang: str | None) -> np.ndarray:
    """The language of every document: the normalised `lang` column, or `default_lang` where
    the column is absent or the value is null (None stays None: language unknown)."""
    return _per_doc(lang_column, num_rows, normalise_lang(default_lang), normalise_lang)


def _per_doc(column: Sequence[Any] | None, n: int, default: str | None,
             norm: Any) -> np.ndarray:
    if column is None:
        return np.full(n, default, dtype=object)
    out = np.empty(n, dtype=object)
    cache: dict[Any, str | None] = {}
    for i, code in enumerate(column):
        if code not in cache:
            value = norm(code)
            cache[code] = default if value is None else value
        out[i] = cache[code]
    return out


class LangParams:
    """The per-document parameters of one stage (see the module docstring).

    `defaults`: parameter -> value for every document (None: rule off). `builtin`: language ->
    {parameter: value} shipped with the stage (e.g. mean word length off for Chinese).
    `overrides`: language -> {parameter: value} from the pipeline file; `source_overrides`:
    source -> {parameter: value}; `table`: a shipped per-language table (``fineweb2``) under
    the built-in defaults. Unknown parameters and malformed entries are errors that name
    the stage and the valid parameters.
    """

    def __init__(self, stage: str, defaults: Mapping[str, Any],
                 overrides: Mapping[str, Mapping[str, Any]] | None,
                 builtin: Mapping[str, Mapping[str, Any]] | None = None,
                 source_overrides: Mapping[str, Mapping[str, Any]] | None = None,
                 default_lang: str | None = None, source_column: str = "source",
                 table: str | None = None):
        self.stage = stage
        self.defaults = dict(defaults)
        self.default_lang = default_lang
        self.source_column = source_column
        self.table: dict[str, dict[str, Any]] = {}
        # a shipped table holds every parameter of the stage; keep those this one declares
        shipped = {lang: {k: v for k, v in entry.items() if k in self.defaults}
                   for lang, entry in lang_table(stage, table).items()}
        for where, source in (("lang_table", shipped), ("overrides", builtin or {}),
                              ("overrides", overrides or {})):
            for code, params in self._entries(where, source, normalise_lang):
                self.table.setdefault(code, {}).update(params)
        self.sources: dict[str, dict[str, Any]] = {}
        for name, params in self._entries("source_overrides", source_overrides or {},
                                          lambda s: str(s) if str(s) else None):
            self.sources.setdefault(name, {}).update(params)

    def _entries(self, where: str, source: Any, norm: Any
                 ) -> Iterator[tuple[str, Mapping[str, Any]]]:
        if not isinstance(source, Mapping):
            raise ValueError(f"{self.stage}: {where} must map a "
                             f"{'source' if where.startswith('source') else 'language code'} "
                             f"to {{parameter: value}}, got {source!r}")
        for key, params in source.items():
            if not isinstance(key, str):
                raise ValueError(f"{self.stage}: {where} key {key!r} is not a "
                                 f"{'source' if where.startswith('source') else 'language code'}"
                                 f"; quote it in YAML (e.g. 'no': YAML reads no/on/off as "
                                 f"booleans)")
            code = norm(key)
            if code is None or not isinstance(params, Mapping):
                raise ValueError(f"{self.stage}: {where}[{key!r}] must be a mapping of "
                                 f"parameter to value, got {params!r}")
            for name in params:
                if name not in self.defaults:
                    raise ValueError(
                        f"{self.stage}: {where}[{key!r}] has unknown parameter {name!r}; "
                        f"per-language parameters: {', '.join(sorted(self.defaults))}")
            yield code, params

    def entries(self) -> Iterator[tuple[str, str, Any]]:
        """(where, parameter, value) of every override, for a stage's value checks."""
        for where, table in (("overrides", self.table), ("source_overrides", self.sources)):
            for key, params in table.items():
                for name, value in params.items():
                    yield f"{where}[{key!r}].{name}", name, value

    def get(self, name: str, lang: str | None = None, source: str | None = None) -> Any:
        """The value for one document of language `lang` and source `source`."""
        if source is not None and name in self.sources.get(source, {}):
            return self.sources[source][name]
        code = normalise_lang(lang)
        if code is not None and name in self.table.get(code, {}):
            return self.table[code][name]
        return self.defaults[name]

    def is_set(self, name: str) -> bool:
        """The parameter is neither None nor false for some document (its rule may apply)."""
        values = [self.defaults[name], *(t[name] for t in (*self.table.values(),
                                                            *self.sources.values())
                                         if name in t)]
        return any(v is not None and v is not False for v in values)

    def varies(self, name: str) -> bool:
        return any(name in t for t in (*self.table.values(), *self.sources.values()))

    def _keys(self, docs: Any) -> list[tuple[str | None, str | None]]:
        """(language, source with overrides or None) of every document. `docs` is a `Docs`
        or an array of languages (then no source)."""
        if isinstance(docs, (np.ndarray, list)):
            return [(lang, None) for lang in docs]
        langs = doc_langs(docs.lang, docs.num_rows, self.default_lang)
        col = docs.column(self.source_column) if self.sources else None
        if col is None:
            return [(lang, None) for lang in langs]
        return [(lang, s if s in self.sources else None)
                for lang, s in zip(langs, col.to_pylist(), strict=True)]

    def values(self, name: str, docs: Any) -> float | np.ndarray | None:
        """The parameter per document of `docs` (a `Docs`, or an array of languages): a
        scalar when every document shares it (None: rule off), else a float array (NaN: rule
        off for that document)."""
        default = self.defaults[name]
        if not self.varies(name) or len(docs) == 0:
            return None if default is None else float(default)
        cache: dict[tuple[str | None, str | None], float] = {}
        keys = self._keys(docs)
        out = np.empty(len(keys))
        for i, key in enumerate(keys):
            if key not in cache:
                value = self.get(name, *key)
                cache[key] = np.nan if value is None else float(value)
            out[i] = cache[key]
        return out

    def lookup(self, name: str, docs: Any) -> list[Any]:
        """The parameter per document as Python values (for non-numeric parameters)."""
        return [self.get(name, *key) for key in self._keys(docs)]


# -- FineWeb-2's per-language table ---------------------------------------------------------

LANG_TABLES = ("fineweb2",)


@cache
def _fineweb2() -> dict[str, dict[str, Any]]:
    path = resources.files("corpusfilter.resources") / "fineweb2" / "thresholds.json"
    return json.loads(path.read_text(encoding="utf-8"))


def fineweb2_overrides(stage: str) -> dict[str, dict[str, Any]]:
    """FineWeb-2's per-language values (Penedo et al. 2025; resources/fineweb2/, Apache-2.0)
    as built-in overrides of `stage`, in our parameter names.

    Units: FineWeb-2 counts words of each language's own tokenizer. Our words match those in
    languages written with spaces; in Chinese and Japanese our words are characters and
    `gopher_repetition` measures an n-word rule over 2n characters (core/scripts.py), about
    the same span; so n-gram values are taken for both. Mean word length is not taken where
    our words are characters, nor any n-gram or word value for Thai, Lao, Khmer, Myanmar and
    Tibetan (our words there are letters: no matching unit).
    """
    from corpusfilter.core.scripts import SPACELESS_LANGS, SYLLABIC_LANGS

    out: dict[str, dict[str, Any]] = {}
    for lang, c in _fineweb2().items():
        entry: dict[str, Any] = {}
        if stage == "gopher_repetition" and lang not in SYLLABIC_LANGS:
            entry["max_dup_line_frac"] = c["dup_line_frac"]
            entry.update({f"max_top_{n}gram_char_frac": v for n, v in c["top_n_grams"]})
            entry.update({f"max_dup_{n}gram_char_frac": v for n, v in c["dup_n_grams"]})
        elif stage == "fineweb_quality":
            entry["min_line_punct_ratio"] = c["line_punct_thr"]
            if lang not in SYLLABIC_LANGS:
                entry["max_newline_word_ratio"] = c["new_line_ratio"]
        elif stage == "gopher_quality":
            entry["min_alpha_words_ratio"] = c["max_non_alpha_words_ratio"]
            if lang not in SPACELESS_LANGS:
                entry["min_mean_word_length"] = c["min_avg_word_length"]
                entry["max_mean_word_length"] = c["max_avg_word_length"]
                entry["stop_words"] = list(c["stopwords"]) or None
        if entry:
            # FineWeb-2 switches a rule off for a few small languages with a value that can
            # never be met (a fraction above 1, a negative threshold): off here too
            out[lang] = {k: None if isinstance(v, (int, float)) and not isinstance(v, bool)
                         and (v < 0 or (k.endswith(("frac", "ratio")) and v > 1)) else v
                         for k, v in entry.items()}
    return out


def lang_table(stage: str, name: str | None) -> dict[str, dict[str, Any]]:
    """The built-in per-language table `name` for `stage` (None: none)."""
    if name is None:
        return {}
    if name not in LANG_TABLES:
        raise ValueError(f"{stage}: lang_table must be one of {', '.join(LANG_TABLES)} or "
                         f"null, got {name!r}")
    return fineweb2_overrides(stage)
